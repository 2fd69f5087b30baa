//! The simulator's checks are what make the e2e tests meaningful: prove they bite.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use yibao_core::platform::{session, ClientSettings};
use yibao_core::profile::{PlainProfile, TifProfile};
use yibao_core::{EnvelopeDefaults, Message, MsgIdGenerator, Outcome, Platform, Profile};
use yibao_mock::{MockConfig, MockServer, TifCredentials};
use yibao_proto::Overrides;

fn defaults() -> EnvelopeDefaults {
    toml_like()
}

fn toml_like() -> EnvelopeDefaults {
    serde_json::from_value(json!({
        "fixmedins_code": "H43010000001", "fixmedins_name": "示例医院",
        "mdtrtarea_admvs": "430100", "opter": "001", "opter_name": "张医生",
        "mac": "00-11-22-33-44-55", "ip": "127.0.0.1"
    }))
    .unwrap()
}

struct Caller {
    platform: Platform,
    ids: MsgIdGenerator,
    d: EnvelopeDefaults,
}

impl Caller {
    fn new(url: String, profile: Arc<dyn Profile>) -> Self {
        let settings = ClientSettings {
            url,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            pool_idle_timeout: Duration::from_secs(30),
            pool_max_idle_per_host: 4,
        };
        Self {
            platform: Platform::new(&settings, profile, defaults()).unwrap(),
            ids: MsgIdGenerator::new("H43010000001", None),
            d: defaults(),
        }
    }

    async fn exchange(&self, infno: &str, msgid: &str, sign_no: &str, input: &Value) -> Outcome {
        self.platform
            .exchange(Message {
                infno,
                msgid,
                sign_no,
                overrides: &Overrides::default(),
                input,
                download: None,
            })
            .await
    }

    /// The transport error of an exchange that must fail.
    async fn refused_at_the_gate(&self, input: Value) -> yibao_core::TransportError {
        match self.exchange("9001", &self.ids.next_id(), "", &input).await {
            Outcome::Transport(e) => e,
            other => panic!("expected a transport error: {other:?}"),
        }
    }

    async fn call_with_msgid(
        &self,
        infno: &str,
        msgid: String,
        sign_no: &str,
        input: Value,
    ) -> Value {
        match self.exchange(infno, &msgid, sign_no, &input).await {
            Outcome::Success(r) | Outcome::Refused(r) => serde_json::from_str(&r.body).unwrap(),
            other => panic!("no reply: {other:?}"),
        }
    }

    async fn call(&self, infno: &str, sign_no: &str, input: Value) -> Value {
        self.call_with_msgid(infno, self.ids.next_id(), sign_no, input)
            .await
    }

    async fn sign_in(&self) -> String {
        let r = self
            .call("9001", "", session::sign_in_input(&self.d, "001"))
            .await;
        assert_eq!(r["infcode"], 0, "{r}");
        r["output"]["signinoutb"]["sign_no"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

async fn mock(config: MockConfig) -> MockServer {
    MockServer::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap()
}

#[tokio::test]
async fn sign_in_then_settle_is_deterministic() {
    let m = mock(MockConfig::default()).await;
    let c = Caller::new(m.url(), Arc::new(PlainProfile));
    let sign_no = c.sign_in().await;
    let person = json!({"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "430102199003071234", "certno": "430102199003071234", "psn_cert_type": "01"}});
    let a = c.call("1101", &sign_no, person.clone()).await;
    let b = c.call("1101", &sign_no, person).await;
    assert_eq!(a["infcode"], 0, "{a}");
    assert_eq!(
        a["output"]["baseinfo"]["psn_no"],
        b["output"]["baseinfo"]["psn_no"]
    );
    assert_eq!(a["output"]["baseinfo"]["brdy"], "1990-03-07");
    let settle = json!({"data": {"psn_no": "1", "mdtrt_cert_type": "02",
        "mdtrt_cert_no": "430102199003071234", "med_type": "11", "medfee_sumamt": "100.00",
        "psn_setlway": "01", "mdtrt_id": "M1", "chrg_bchno": "C1", "insutype": "310",
        "acct_used_flag": "1"}});
    let s = c.call("2207", &sign_no, settle).await;
    assert_eq!(s["infcode"], 0, "{s}");
    let info = &s["output"]["setlinfo"];
    assert_eq!(info["fund_pay_sumamt"], 70.0);
    assert!(info["setl_id"].as_str().unwrap().len() == 20);
    assert_eq!(m.stats().by_infno.get("2207"), Some(&1));
}

fn query_5201() -> Value {
    json!({"data": {"psn_no": "1", "begntime": "2026-01-01 00:00:00",
        "endtime": "2026-12-31 23:59:59"}})
}

#[tokio::test]
async fn rejects_what_the_platform_rejects() {
    let m = mock(MockConfig::default()).await;
    let c = Caller::new(m.url(), Arc::new(PlainProfile));
    // No sign-in.
    let r = c
        .call(
            "1101",
            "bogus",
            json!({"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "x"}}),
        )
        .await;
    assert_eq!(r["infcode"], -1);
    assert!(r["err_msg"].as_str().unwrap().contains("签到"));
    let sign_no = c.sign_in().await;
    // Missing and malformed fields are named, every one (the catalog's rules).
    let r = c
        .call(
            "2201",
            &sign_no,
            json!({"data": {"psn_no": "1", "begntime": "2026-11-24"}}),
        )
        .await;
    assert_eq!(r["infcode"], -1);
    let msg = r["err_msg"].as_str().unwrap();
    for field in ["data.ipt_otp_no", "data.dept_code", "data.begntime"] {
        assert!(msg.contains(field), "{field} not named: {r}");
    }
    assert_eq!(m.applied().len(), 1, "only the 9001 was applied");
    // A msgid is used once only.
    let id = c.ids.next_id();
    let ok = c
        .call_with_msgid("5201", id.clone(), &sign_no, query_5201())
        .await;
    assert_eq!(ok["infcode"], 0);
    let dup = c.call_with_msgid("5201", id, &sign_no, query_5201()).await;
    assert!(dup["err_msg"].as_str().unwrap().contains("重复"));
    assert_eq!(m.stats().duplicate_msgids, 1);
    // A malformed msgid is refused.
    let bad = c
        .call_with_msgid(
            "5201",
            "H4301000000120240101".into(),
            &sign_no,
            json!({"data": {}}),
        )
        .await;
    assert!(bad["err_msg"].as_str().unwrap().contains("msgid"));
    // Unknown interface.
    let r = c.call("8888", &sign_no, json!({"data": {}})).await;
    assert!(r["err_msg"].as_str().unwrap().contains("8888"));
}

#[tokio::test]
async fn tif_headers_are_verified() {
    let m = mock(MockConfig {
        tif: Some(TifCredentials {
            paasid: "p1".into(),
            token: "t0ken".into(),
        }),
        ..Default::default()
    })
    .await;
    let good = Caller::new(
        m.url(),
        Arc::new(TifProfile::new("p1".into(), "t0ken".into(), None)),
    );
    good.sign_in().await;
    let wrong = Caller::new(
        m.url(),
        Arc::new(TifProfile::new("p1".into(), "other".into(), None)),
    );
    let err = wrong.refused_at_the_gate(json!({})).await;
    assert!(err.message.contains("401"), "{}", err.message);
    let plain = Caller::new(m.url(), Arc::new(PlainProfile));
    plain.refused_at_the_gate(json!({})).await;
    assert_eq!(m.stats().rejected, 2);
}

#[tokio::test]
async fn garbage_bodies_get_the_error_shape() {
    let m = mock(MockConfig::default()).await;
    yibao_core::platform::transport::ensure_tls_provider();
    let http = reqwest::Client::new();
    for body in ["not json", "{}", "[1]", r#"{"infno":"1101"}"#] {
        let bytes = http
            .post(m.url())
            .body(body)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let r: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(r["infcode"], -1, "{body}");
        assert!(!r["err_msg"].as_str().unwrap().is_empty());
    }
}

/// Under `sm` the simulator verifies the institution's signature before anything else: a
/// request signed with another key is refused and applies nothing; a genuine one is answered
/// with a reply the institution can verify.
#[tokio::test]
async fn sm_requests_are_verified_and_replies_sealed() {
    use yibao_core::sm::keys::generate;
    use yibao_core::sm::{SmCodec, SmConfig, SmProfile};
    let pair = || generate().unwrap();
    let (inst_sk, inst_pk) = pair();
    let (plat_sk, plat_pk) = pair();
    let (stranger_sk, _) = pair();
    let cfg = SmConfig::new("SIMULATORAPPID0001", "s3cret", "", "");
    let m = mock(MockConfig {
        sm: Some(Arc::new(SmCodec::new(&cfg, &plat_sk, &inst_pk).unwrap())),
        ..Default::default()
    })
    .await;
    let good = Caller::new(
        m.url(),
        Arc::new(SmProfile::new(
            SmCodec::new(&cfg, &inst_sk, &plat_pk).unwrap(),
        )),
    );
    good.sign_in().await;

    let forger = Caller::new(
        m.url(),
        Arc::new(SmProfile::new(
            SmCodec::new(&cfg, &stranger_sk, &plat_pk).unwrap(),
        )),
    );
    let err = forger
        .refused_at_the_gate(session::sign_in_input(&forger.d, "001"))
        .await;
    assert!(err.message.contains("code=401"), "{}", err.message);
    let stats = m.stats();
    assert_eq!(stats.rejected, 1);
    assert_eq!(stats.by_infno.get("9001"), Some(&1));
}
