//! A HIS talking to the simulator by hand over HTTP, shared by the simulator's HTTP tests.

// Each test binary uses a different part of the helper.
#![allow(dead_code)]

use std::sync::Arc;

use serde_json::{json, Value};
use yibao_core::platform::session;
use yibao_core::{EnvelopeDefaults, MsgIdGenerator, Opened, Profile};
use yibao_mock::{MockConfig, MockServer};
use yibao_proto::Overrides;

pub const FIXMEDINS: &str = "H43010000001";

pub fn defaults() -> EnvelopeDefaults {
    serde_json::from_value(json!({
        "fixmedins_code": FIXMEDINS, "fixmedins_name": "示例医院",
        "mdtrtarea_admvs": "430100", "opter": "001", "opter_name": "张医生",
        "mac": "00-11-22-33-44-55", "ip": "127.0.0.1"
    }))
    .unwrap()
}

/// A HIS talking to the simulator by hand: envelopes built and sealed as the broker does,
/// replies read raw, because 9102's reply is not an envelope.
pub struct His {
    pub http: reqwest::Client,
    pub base: String,
    url: String,
    profile: Arc<dyn Profile>,
    ids: MsgIdGenerator,
    pub d: EnvelopeDefaults,
    sign_no: String,
}

impl His {
    pub async fn new(m: &MockServer, profile: Arc<dyn Profile>) -> Self {
        yibao_core::platform::transport::ensure_tls_provider();
        let mut his = Self {
            http: reqwest::Client::new(),
            base: format!("http://{}", m.addr()),
            url: m.url(),
            profile,
            ids: MsgIdGenerator::new(FIXMEDINS, None),
            d: defaults(),
            sign_no: String::new(),
        };
        let r = his
            .call("9001", session::sign_in_input(&his.d, "001"))
            .await;
        assert_eq!(r["infcode"], 0, "{r}");
        his.sign_no = r["output"]["signinoutb"]["sign_no"]
            .as_str()
            .unwrap()
            .to_string();
        his
    }

    pub async fn post(&self, infno: &str, input: Value) -> reqwest::Response {
        let envelope = self.d.build(
            infno,
            self.ids.next_id(),
            &self.sign_no,
            &Overrides::default(),
            input,
        );
        let sealed = self.profile.seal(&envelope).unwrap();
        let mut req = self.http.post(&self.url).body(sealed.body);
        for (k, v) in sealed.headers {
            req = req.header(k, v);
        }
        req.send().await.unwrap()
    }

    /// The response envelope of a call that answers JSON.
    pub async fn call(&self, infno: &str, input: Value) -> Value {
        let body = self.post(infno, input).await.bytes().await.unwrap();
        self.open(body.to_vec())
    }

    pub fn open(&self, body: Vec<u8>) -> Value {
        match self.profile.open(body).unwrap() {
            Opened::Bytes(b) => serde_json::from_slice(&b).unwrap(),
            Opened::Json(v) => v,
        }
    }

    /// 9102 for `file_qury_no`: the whole response, to be inspected.
    pub async fn fetch(&self, file_qury_no: &str) -> reqwest::Response {
        self.post(
            "9102",
            json!({"fsDownloadIn": {"file_qury_no": file_qury_no, "filename": "plc",
                "fixmedins_code": FIXMEDINS}}),
        )
        .await
    }

    /// 9102 that must succeed: the file's bytes.
    pub async fn download(&self, file_qury_no: &str) -> Vec<u8> {
        let r = self.fetch(file_qury_no).await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["content-type"],
            "application/octet-stream",
            "{file_qury_no}"
        );
        r.bytes().await.unwrap().to_vec()
    }

    pub async fn control(&self, path: &str) -> Vec<u8> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.bytes().await.unwrap().to_vec()
    }

    pub async fn control_post(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }
}

pub async fn mock(config: MockConfig) -> MockServer {
    MockServer::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap()
}
