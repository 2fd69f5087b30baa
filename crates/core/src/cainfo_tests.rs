use serde_json::json;

use super::*;
use crate::platform::{ClientSettings, Platform};
use crate::sm::crypto::CryptoError;

/// The SM4 key of the known answers (the GB/T 32907 sample key).
const SM4_KEY: &str = "0123456789abcdeffedcba9876543210";

/// A fixed SM2 key pair (hex): the platform's private key and its public point x‖y.
const SM2_PRIVATE: &str = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8";
const SM2_PUBLIC: &str = "09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13";

fn sm4() -> Cainfo {
    Cainfo::from_config(&CainfoConfig::new(CainfoMode::Sm4, Some(SM4_KEY.into()))).unwrap()
}

fn sm2() -> Cainfo {
    Cainfo::from_config(&CainfoConfig::new(CainfoMode::Sm2, Some(SM2_PUBLIC.into()))).unwrap()
}

fn settle() -> Value {
    json!({"data": {"psn_no": "43000000000000000001"}, "cainfo": "123456"})
}

/// Known answers computed independently with Python's `gmssl` (pure-Python SM4):
///
/// ```text
/// pip install gmssl==3.2.2
/// python3 -c 'import base64; from gmssl.sm4 import CryptSM4, SM4_ENCRYPT
/// c = CryptSM4(); c.set_key(bytes.fromhex("0123456789abcdeffedcba9876543210"), SM4_ENCRYPT)
/// for p in ["123456", "0123456789abcdef", "电子凭证密码"]:
///     ct = c.crypt_ecb(p.encode()); print(base64.b64encode(ct).decode(), ct.hex())'
/// ```
/// (`crypt_ecb` pads with PKCS#7, a full block for a 16-byte plaintext.)
#[test]
fn sm4_matches_known_answers_in_both_encodings() {
    let answers = [
        (
            "123456",
            "E8cRBqWq1u/d0kdvRFZfNw==",
            "13c71106a5aad6efddd2476f44565f37",
        ),
        (
            "0123456789abcdef",
            "5oh7d9urtXL/oH/tdUixkgAqik76hjzK0CSsAwC7QNI=",
            "e6887b77dbabb572ffa07fed7548b192002a8a4efa863ccad024ac0300bb40d2",
        ),
        (
            "电子凭证密码",
            "Xz9Bm0LGe4eBrdOfHkzm0SGgRHQ9o+z/aLcjbOUQtE0=",
            "5f3f419b42c67b8781add39f1e4ce6d121a044743da3ecff68b7236ce510b44d",
        ),
    ];
    let mut hex_config = CainfoConfig::new(CainfoMode::Sm4, Some(SM4_KEY.into()));
    hex_config.encoding = TextEncoding::Hex;
    let hex_cainfo = Cainfo::from_config(&hex_config).unwrap();
    let opener = CainfoOpener::new(CainfoMode::Sm4, Some(&SM4_KEY.into())).unwrap();
    for (plain, b64, hex) in answers {
        assert_eq!(sm4().seal(plain).unwrap(), b64, "{plain}");
        assert_eq!(hex_cainfo.seal(plain).unwrap(), hex, "{plain}");
        assert_eq!(opener.open(b64).unwrap(), plain);
        assert_eq!(opener.open(hex).unwrap(), plain);
    }
}

/// SM2 is randomized, so the known answer goes the other way: a ciphertext made by Python's
/// `gmssl` (C1C3C2, C1 without its 04 prefix, as that library writes it) must open here,
/// and ours must have the fixed shape and open too.
///
/// ```text
/// python3 -c 'from gmssl import sm2
/// s = sm2.CryptSM2(private_key="3945…c5b8", public_key="09f9…ad13", mode=1)
/// print(s.encrypt(b"123456").hex())'
/// ```
/// Ours was checked the same way once: `s.decrypt(bytes.fromhex(ct)[1:])` gives the
/// plaintext back (gmssl expects C1 without 04).
#[test]
fn sm2_opens_an_independent_ciphertext_and_ours_has_the_c1c3c2_shape() {
    let opener = CainfoOpener::new(CainfoMode::Sm2, Some(&SM2_PRIVATE.into())).unwrap();
    let theirs = "ef52fea0468154006429f6e99e89b976dc87a65c7533b856fabfb40c4e1f0766e64dfb0fe9917e52f6e2bcdecd81216d374067ef0071b2b9b17a51974e046531e766bdc9bcbef3f96e85677439e6c5e68e65c278465f8c7db5c7415b2d7476ccf31b94421f14";
    assert_eq!(opener.open(theirs).unwrap(), "123456");

    let c = sm2();
    let first = c.seal("123456").unwrap();
    let second = c.seal("123456").unwrap();
    assert_ne!(first, second, "SM2 encryption is randomized");
    for text in [&first, &second] {
        let bytes = TextEncoding::Base64.decode(text).unwrap();
        assert_eq!(bytes.len(), 65 + 32 + 6, "04‖C1 (64) ‖ C3 (32) ‖ C2 (6)");
        assert_eq!(bytes[0], 0x04);
        assert_eq!(opener.open(text).unwrap(), "123456");
    }
    // The platform's public key in PEM (what `keys generate` writes) works as well.
    let (private_pem, public_pem) = keys::generate_pem().unwrap();
    let c = Cainfo::from_config(&CainfoConfig::new(
        CainfoMode::Sm2,
        Some(public_pem.as_str().into()),
    ))
    .unwrap();
    let opener = CainfoOpener::new(CainfoMode::Sm2, Some(&private_pem.as_str().into())).unwrap();
    assert_eq!(opener.open(&c.seal("密码 1").unwrap()).unwrap(), "密码 1");
}

#[test]
fn the_wrong_key_does_not_open() {
    let ct = sm4().seal("123456").unwrap();
    let wrong = CainfoOpener::new(
        CainfoMode::Sm4,
        Some(&"fedcba98765432100123456789abcdef".into()),
    )
    .unwrap();
    let e = wrong.open(&ct).unwrap_err();
    assert!(matches!(e, CainfoError::Decrypt(_)), "{e}");
    assert!(!e.to_string().contains("123456") && !e.to_string().contains(&ct));
    let stranger = keys::generate().unwrap().0;
    let hex = hex::encode(stranger.to_bytes());
    let wrong = CainfoOpener::new(CainfoMode::Sm2, Some(&hex.as_str().into())).unwrap();
    let e = wrong.open(&sm2().seal("123456").unwrap()).unwrap_err();
    assert_eq!(
        e,
        CainfoError::Decrypt(CryptoError::Sm2Decrypt.to_string()),
        "{e}"
    );
    assert!(wrong.open("not base64 !").is_err());
}

#[test]
fn a_configured_interface_takes_the_value_out_of_the_input() {
    let c = sm4();
    let mut input = settle();
    let value = c.take("2207", &mut input).unwrap();
    assert_eq!(value.as_deref(), Some("E8cRBqWq1u/d0kdvRFZfNw=="));
    assert_eq!(input, json!({"data": {"psn_no": "43000000000000000001"}}));

    // Another interface: left alone, key and all.
    let mut input = settle();
    assert_eq!(c.take("1101", &mut input).unwrap(), None);
    assert_eq!(input, settle());
    assert!(c.check_input("1101", &json!({"cainfo": 1})).is_ok());

    // No value, or a blank one: none for the envelope (the configured constant stays), and
    // the key never reaches the platform's input.
    for blank in [json!(""), json!("  "), Value::Null] {
        let mut input = json!({"data": {}, "cainfo": blank});
        assert_eq!(c.take("2304", &mut input).unwrap(), None);
        assert_eq!(input, json!({"data": {}}));
    }
    let mut input = json!({"data": {}});
    assert_eq!(c.take("2207", &mut input).unwrap(), None);

    // Not text: refused before sending, and the message does not repeat the value.
    for odd in [json!(123456), json!({"pwd": "123456"}), json!(["123456"])] {
        let input = json!({"data": {}, "cainfo": odd});
        let e = c.check_input("2207", &input).unwrap_err();
        assert_eq!(e, CainfoError::NotText);
        assert!(!e.to_string().contains("123456"));
        assert!(crate::wording::defect(&e.to_string()).is_none(), "{e}");
        assert_eq!(
            c.take("2207", &mut input.clone()),
            Err(CainfoError::NotText)
        );
    }

    // as_given: the value as written.
    let given = Cainfo::from_config(&CainfoConfig::new(CainfoMode::AsGiven, None)).unwrap();
    let mut input = settle();
    assert_eq!(
        given.take("2207", &mut input).unwrap().as_deref(),
        Some("123456")
    );
}

#[test]
fn the_envelope_of_each_attempt_carries_the_sealed_value() {
    let settings = ClientSettings {
        url: "http://127.0.0.1:9/".into(),
        connect_timeout: std::time::Duration::from_secs(1),
        request_timeout: std::time::Duration::from_secs(1),
        pool_idle_timeout: std::time::Duration::from_secs(1),
        pool_max_idle_per_host: 1,
    };
    let mut defaults = crate::platform::envelope::sample_defaults();
    defaults.cainfo = "CONSTANT".into();
    let platform = Platform::new(
        &settings,
        std::sync::Arc::new(crate::profile::PlainProfile),
        defaults,
    )
    .unwrap()
    .with_cainfo(Some(sm2()));
    let overrides = yibao_proto::Overrides::default();
    let input = settle();
    let message = |infno| crate::Message {
        infno,
        msgid: "H43010000001202611241030000001",
        sign_no: "S",
        overrides: &overrides,
        input: &input,
        download: None,
    };
    let (first, carried) = platform.envelope(&message("2207")).unwrap();
    let (second, _) = platform.envelope(&message("2207")).unwrap();
    assert!(carried);
    assert_ne!(first.cainfo, second.cainfo, "fresh per attempt");
    assert!(first.input.get("cainfo").is_none());
    let opener = CainfoOpener::new(CainfoMode::Sm2, Some(&SM2_PRIVATE.into())).unwrap();
    assert_eq!(opener.open(&first.cainfo).unwrap(), "123456");

    let (other, carried) = platform.envelope(&message("1101")).unwrap();
    assert!(!carried);
    assert_eq!(other.cainfo, "CONSTANT");
    assert_eq!(other.input, settle());
    assert!(platform.check_cainfo("2207", &settle()).is_ok());
    let bad = json!({"cainfo": 1});
    assert!(platform.check_cainfo("2207", &bad).is_err());
}

#[test]
fn the_config_is_read_and_checked_without_printing_a_key() {
    let c: CainfoConfig = toml::from_str("mode = \"sm4\"\nkey = \"env:X\"").unwrap();
    assert_eq!(c, CainfoConfig::new(CainfoMode::Sm4, Some("env:X".into())));
    let c: CainfoConfig =
        toml::from_str("mode = \"as_given\"\nencoding = \"hex\"\ninterfaces = [\"2207\"]").unwrap();
    assert_eq!(c.encoding, TextEncoding::Hex);
    assert!(c.check().is_ok());
    for bad in [
        "mode = \"sm3\"",
        "mode = \"sm4\"\nkye = \"x\"",
        "key = \"x\"",
    ] {
        assert!(toml::from_str::<CainfoConfig>(bad).is_err(), "{bad}");
    }

    let e = CainfoConfig::new(CainfoMode::Sm4, None)
        .check()
        .unwrap_err();
    assert_eq!(e.config_key(), "platform.cainfo.key");
    assert!(e.to_string().contains("needs a key"), "{e}");
    let e = CainfoConfig::new(CainfoMode::Sm2, Some("env:".into()))
        .check()
        .unwrap_err();
    assert!(e.to_string().contains("sm2"), "{e}");
    let mut c = CainfoConfig::new(CainfoMode::AsGiven, None);
    c.interfaces = vec!["22 07".into()];
    assert_eq!(
        c.check().unwrap_err().config_key(),
        "platform.cainfo.interfaces"
    );

    let secret_ish = "0123456789abcdeffedcba98765432zz";
    for key in [secret_ish, "0123456789abcdef"] {
        let e = Cainfo::from_config(&CainfoConfig::new(CainfoMode::Sm4, Some(key.into())))
            .unwrap_err()
            .to_string();
        assert!(e.contains("32 hex digits") && !e.contains(key), "{e}");
        assert!(crate::wording::defect(&e).is_none(), "{e}");
    }
    let e = Cainfo::from_config(&CainfoConfig::new(CainfoMode::Sm2, Some("abcd".into())))
        .unwrap_err()
        .to_string();
    assert!(e.contains("SM2") && e.contains("public key"), "{e}");
    assert!(crate::wording::defect(&e).is_none(), "{e}");
    let e = Cainfo::from_config(&CainfoConfig::new(
        CainfoMode::Sm4,
        Some("env:YIBAO_TEST_CAINFO_UNSET".into()),
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("YIBAO_TEST_CAINFO_UNSET"), "{e}");
    assert!(!format!("{:?}", sm4()).contains(SM4_KEY));
}

#[test]
fn a_refusal_about_the_cainfo_names_the_config_to_check() {
    let refused = |msg: &str| {
        Outcome::from_opened(crate::Opened::Json(
            json!({"infcode": -1, "err_msg": msg, "output": {}}),
        ))
    };
    let o = explain_refusal(refused(
        "cainfo 解密失败 / cainfo could not be decrypted: x",
    ));
    let msg = o.reply().unwrap().envelope.err_msg.clone().unwrap();
    assert!(
        msg.ends_with(HINT) && msg.contains("platform.cainfo"),
        "{msg}"
    );
    assert!(crate::wording::defect(&msg).is_none(), "{msg}");
    let o = explain_refusal(refused("电子凭证密码错误"));
    assert!(o
        .reply()
        .unwrap()
        .envelope
        .err_msg
        .as_ref()
        .unwrap()
        .ends_with(HINT));
    // Another refusal is left as the platform worded it; the body is never touched.
    let o = explain_refusal(refused("余额不足"));
    assert_eq!(
        o.reply().unwrap().envelope.err_msg.as_deref(),
        Some("余额不足")
    );
    assert!(!o.reply().unwrap().body.contains("platform.cainfo"));
    assert_eq!("sm2".parse::<CainfoMode>(), Ok(CainfoMode::Sm2));
    assert!("SM4".parse::<CainfoMode>().is_err());
}

/// The HIS's key sits beside the input nodes: the catalog's checks (the broker's before
/// sending, the simulator's) accept it for every interface, taken out or not.
#[test]
fn catalog_validation_does_not_trip_on_the_key() {
    let catalog = crate::Catalog::load(&[]).unwrap();
    let settle = json!({"data": {"psn_no": "43000000000000000001", "mdtrt_cert_type": "02",
        "mdtrt_cert_no": "430102199003071234", "med_type": "11", "medfee_sumamt": "100.00",
        "psn_setlway": "01", "mdtrt_id": "M1", "chrg_bchno": "C1", "insutype": "310",
        "acct_used_flag": "1"}, "cainfo": "123456"});
    assert!(catalog.validate("2207", &settle).is_empty());
    let person = json!({"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "430102199003071234",
        "psn_cert_type": "01", "certno": "430102199003071234"}, "cainfo": "x"});
    assert!(catalog.validate("1101", &person).is_empty());
}
