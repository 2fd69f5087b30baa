//! The simulator reads a settlement's `cainfo` back as the platform would: the HIS's value
//! arrives through the core's envelope building, and a cainfo sealed with the wrong key is
//! refused with nothing applied.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use yibao_core::cainfo::{Cainfo, CainfoConfig, CainfoMode, CainfoOpener, HINT};
use yibao_core::platform::{session, ClientSettings};
use yibao_core::profile::PlainProfile;
use yibao_core::{EnvelopeDefaults, Message, MsgIdGenerator, Outcome, Platform};
use yibao_mock::{MockConfig, MockServer};
use yibao_proto::Overrides;

const KEY: &str = "0123456789abcdeffedcba9876543210";
const OTHER_KEY: &str = "fedcba98765432100123456789abcdef";

fn defaults() -> EnvelopeDefaults {
    serde_json::from_value(json!({
        "fixmedins_code": "H43010000001", "fixmedins_name": "示例医院",
        "mdtrtarea_admvs": "430100", "opter": "001", "opter_name": "张医生",
        "mac": "00-11-22-33-44-55", "ip": "127.0.0.1"
    }))
    .unwrap()
}

async fn mock(mode: CainfoMode, key: Option<&str>) -> MockServer {
    let opener = CainfoOpener::new(mode, key.map(Into::into).as_ref()).unwrap();
    let config = MockConfig {
        cainfo: Some(Arc::new(opener)),
        ..Default::default()
    };
    MockServer::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap()
}

struct His {
    platform: Platform,
    ids: MsgIdGenerator,
    sign_no: String,
}

impl His {
    async fn new(m: &MockServer, cainfo: CainfoConfig) -> Self {
        let settings = ClientSettings {
            url: m.url(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            pool_idle_timeout: Duration::from_secs(30),
            pool_max_idle_per_host: 4,
        };
        let platform = Platform::new(&settings, Arc::new(PlainProfile), defaults())
            .unwrap()
            .with_cainfo(Some(Cainfo::from_config(&cainfo).unwrap()));
        let mut his = Self {
            platform,
            ids: MsgIdGenerator::new("H43010000001", None),
            sign_no: String::new(),
        };
        let r = his
            .call("9001", session::sign_in_input(&defaults(), "001"))
            .await;
        his.sign_no = r["output"]["signinoutb"]["sign_no"]
            .as_str()
            .unwrap()
            .to_string();
        his
    }

    async fn outcome(&self, infno: &str, input: Value) -> Outcome {
        self.platform
            .exchange(Message {
                infno,
                msgid: &self.ids.next_id(),
                sign_no: &self.sign_no,
                overrides: &Overrides::default(),
                input: &input,
                download: None,
            })
            .await
    }

    async fn call(&self, infno: &str, input: Value) -> Value {
        match self.outcome(infno, input).await {
            Outcome::Success(r) | Outcome::Refused(r) => serde_json::from_str(&r.body).unwrap(),
            other => panic!("no reply: {other:?}"),
        }
    }
}

fn settle(n: u32, cainfo: &str) -> Value {
    json!({"data": {"psn_no": "43000000000000000001", "mdtrt_cert_type": "02",
        "mdtrt_cert_no": "430102199003071234", "med_type": "11", "medfee_sumamt": "100.00",
        "psn_setlway": "01", "mdtrt_id": format!("M{n}"), "chrg_bchno": format!("C{n}"),
        "insutype": "310", "acct_used_flag": "1"}, "cainfo": cainfo})
}

#[tokio::test]
async fn the_his_value_arrives_under_each_mode() {
    let (private_pem, public_pem) = yibao_core::sm::keys::generate_pem().unwrap();
    for (mode, broker_key, mock_key) in [
        (CainfoMode::Sm4, Some(KEY), Some(KEY)),
        (
            CainfoMode::Sm2,
            Some(public_pem.as_str()),
            Some(private_pem.as_str()),
        ),
        (CainfoMode::AsGiven, None, None),
    ] {
        let m = mock(mode, mock_key).await;
        let his = His::new(&m, CainfoConfig::new(mode, broker_key.map(Into::into))).await;
        let r = his.call("2207", settle(1, "电子凭证 123456")).await;
        assert_eq!(r["infcode"], 0, "{mode:?}: {r}");
        let applied = m.applied();
        let a = applied.iter().find(|a| a.infno == "2207").unwrap();
        assert_eq!(a.cainfo.as_deref(), Some("电子凭证 123456"), "{mode:?}");
        assert!(
            !a.input.contains("cainfo"),
            "taken out of input: {}",
            a.input
        );
    }
}

#[tokio::test]
async fn a_cainfo_sealed_with_another_key_is_refused_and_nothing_applied() {
    let m = mock(CainfoMode::Sm4, Some(KEY)).await;
    let his = His::new(
        &m,
        CainfoConfig::new(CainfoMode::Sm4, Some(OTHER_KEY.into())),
    )
    .await;
    let Outcome::Refused(reply) = his.outcome("2207", settle(2, "123456")).await else {
        panic!("refused")
    };
    let msg = reply.envelope.err_msg.unwrap();
    assert!(
        msg.starts_with("cainfo 解密失败") && msg.ends_with(HINT),
        "{msg}"
    );
    assert!(yibao_core::wording::defect(&msg).is_none(), "{msg}");
    assert!(!msg.contains("123456"));
    assert!(m.applied().iter().all(|a| a.infno != "2207"));
    // Other interfaces are not the cainfo's: 1101 with the key in its input is answered.
    let person = json!({"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "430102199003071234",
        "certno": "430102199003071234", "psn_cert_type": "01"}, "cainfo": "x"});
    assert_eq!(his.call("1101", person).await["infcode"], 0);
}
