use super::*;
use crate::sm::keys::{parse_private_key, parse_public_key};
use proptest::prelude::*;
use serde_json::json;

const APP_ID: &str = "T98HPCGN5ZVVQBS8LZQNOAEXVI9GYHKQ";
const SECRET: &str = "NMVFVILMKT13GEMD3BKPKCTBOQBPZR2P";

struct Pair {
    institution: SmCodec,
    platform: SmCodec,
    inst_sk: sm2::SecretKey,
    plat_pk: sm2::PublicKey,
}

fn keypair() -> (sm2::SecretKey, sm2::PublicKey) {
    crate::sm::keys::generate().unwrap()
}

fn pair_with(cfg: &SmConfig) -> Pair {
    let (inst_sk, inst_pk) = keypair();
    let (plat_sk, plat_pk) = keypair();
    Pair {
        institution: SmCodec::new(cfg, &inst_sk, &plat_pk).unwrap(),
        platform: SmCodec::new(cfg, &plat_sk, &inst_pk).unwrap(),
        inst_sk,
        plat_pk,
    }
}

fn cfg() -> SmConfig {
    SmConfig::new(APP_ID, SECRET, "unused", "unused")
}

fn envelope() -> Value {
    json!({"infno": "1101", "msgid": "H00000000001202611241030000001", "sign_no": "",
           "input": {"data": {"psn_name": "张三", "mdtrt_cert_no": "110101199003074518", "n": 1}}})
}

#[test]
fn request_and_reply_round_trip_between_the_two_sides() {
    let p = pair_with(&cfg());
    let body = p.institution.seal(&envelope(), Map::new()).unwrap();
    let text = String::from_utf8(body.clone()).unwrap();
    assert!(
        !text.contains("张三") && !text.contains("110101199003074518"),
        "{text}"
    );
    let (data, rest) = p.platform.open(&body).unwrap();
    assert_eq!(data, envelope());
    assert_eq!(rest["encType"], "SM4");
    assert_eq!(rest["appId"], APP_ID);

    let mut extra = Map::new();
    extra.insert("code".into(), json!(0));
    extra.insert("message".into(), json!("成功"));
    let reply = p
        .platform
        .seal(&json!({"infcode": 0, "output": {"x": "值"}}), extra)
        .unwrap();
    let (data, rest) = p.institution.open(&reply).unwrap();
    assert_eq!(data["output"]["x"], "值");
    assert_eq!(rest["message"], "成功");
}

#[test]
fn every_shape_option_round_trips() {
    for layout in [SignatureLayout::Raw, SignatureLayout::Der] {
        for sig_enc in [TextEncoding::Base64, TextEncoding::Hex] {
            for (encryption, order) in [
                (Encryption::Sm4, CipherOrder::C1C3C2),
                (Encryption::Sm2, CipherOrder::C1C3C2),
                (Encryption::Sm2, CipherOrder::C1C2C3),
            ] {
                for cbc in [false, true] {
                    let mut c = cfg();
                    c.signature_layout = layout;
                    c.signature_encoding = sig_enc;
                    c.encryption = encryption;
                    c.sm2_cipher_order = order;
                    c.data_encoding = TextEncoding::Base64;
                    c.escape_non_ascii = !cbc;
                    c.sign_with_app_secret = cbc;
                    if cbc {
                        c.sm4_mode = Sm4Mode::Cbc;
                        c.sm4_iv = Some("00112233445566778899aabbccddeeff".into());
                        c.sm4_key = Some("0123456789abcdef0123456789abcdef".into());
                    }
                    c.fields.enc_data = "cipherText".into();
                    let p = pair_with(&c);
                    let body = p.institution.seal(&envelope(), Map::new()).unwrap();
                    assert!(String::from_utf8_lossy(&body).contains("cipherText"));
                    let (data, _) = p.platform.open(&body).unwrap();
                    assert_eq!(data, envelope(), "{c:?}");
                }
            }
        }
    }
}

fn tamper(body: &[u8], field: &str, f: impl Fn(&mut Value)) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(body).unwrap();
    f(&mut v[field]);
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn tampering_and_wrong_keys_are_rejected() {
    let p = pair_with(&cfg());
    let body = p.platform.seal(&json!({"infcode": 0}), Map::new()).unwrap();
    p.institution.open(&body).unwrap();

    // A flipped signature byte (still valid base64 of 64 bytes).
    let forged = tamper(&body, "signData", |v| {
        let mut raw = TextEncoding::Base64.decode(v.as_str().unwrap()).unwrap();
        raw[40] ^= 1;
        *v = TextEncoding::Base64.encode(&raw).into();
    });
    let e = p.institution.open(&forged).unwrap_err();
    assert!(
        matches!(e, SmError::Crypto(CryptoError::BadSignature)),
        "{e}"
    );
    // A signed field changed after signing.
    let moved = tamper(&body, "timestamp", |v| *v = json!(1));
    assert!(matches!(
        p.institution.open(&moved),
        Err(SmError::Crypto(CryptoError::BadSignature))
    ));
    // The ciphertext swapped for another valid one: decrypts, but the signature is over the old data.
    let other = p
        .platform
        .seal(&json!({"infcode": -1}), Map::new())
        .unwrap();
    let other: Value = serde_json::from_slice(&other).unwrap();
    let swapped = tamper(&body, "encData", |v| *v = other["encData"].clone());
    assert!(p.institution.open(&swapped).is_err());
    // Garbled ciphertext, bad hex, bad base64, missing signature.
    let garbled = tamper(&body, "encData", |v| *v = "00".repeat(32).into());
    assert!(p.institution.open(&garbled).is_err());
    let bad_hex = tamper(&body, "encData", |v| *v = "XYZ".into());
    assert!(matches!(
        p.institution.open(&bad_hex),
        Err(SmError::Text { .. })
    ));
    let bad_b64 = tamper(&body, "signData", |v| *v = "%%%".into());
    assert!(matches!(
        p.institution.open(&bad_b64),
        Err(SmError::Text { .. })
    ));
    let unsigned = tamper(&body, "signData", |v| *v = Value::Null);
    assert!(matches!(
        p.institution.open(&unsigned),
        Err(SmError::Body(_))
    ));

    // The reply verified against the wrong platform key: loud, not a success.
    let (_, stranger) = keypair();
    let wrong = SmCodec::new(&cfg(), &p.inst_sk, &stranger).unwrap();
    let e = wrong.open(&body).unwrap_err().to_string();
    assert!(
        e.contains("验签失败") && e.contains("does not verify"),
        "{e}"
    );
    // A different appSecret: a different SM4 key, so decryption fails.
    let mut c = cfg();
    c.app_secret = "ANOTHERSECRET".into();
    let wrong = SmCodec::new(&c, &p.inst_sk, &p.plat_pk).unwrap();
    assert!(wrong.open(&body).is_err());

    // A gateway error without encrypted data names the gateway's own message.
    let e = p
        .institution
        .open(br#"{"code":401,"message":"signature check failed"}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("signature check failed"), "{e}");
    assert!(matches!(
        p.institution.open(b"<html>"),
        Err(SmError::Body(_))
    ));
    assert!(matches!(p.institution.open(b"[1]"), Err(SmError::Body(_))));
}

/// The whole message checked with the independent implementation: the SM4 payload decrypts
/// with the oracle's SM4 under the derived key, and the signature verifies with the oracle's
/// SM2 over a string to sign written out by hand from the rules in design.md §9.
#[test]
fn a_sealed_message_verifies_with_sm_crypto() {
    let p = pair_with(&cfg());
    let data =
        json!({"infno": "1101", "input": {"data": {"psn_name": "张三"}}, "sign_no": "", "n": 5});
    let body = p.institution.seal(&data, Map::new()).unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();

    let key = crate::sm::crypto::derive_sm4_key(APP_ID, SECRET).unwrap();
    let plain = sm_crypto::sm4::CryptSM4ECB::new(&key)
        .decrypt_ecb(&hex::decode(v["encData"].as_str().unwrap()).unwrap());
    let plain = String::from_utf8(plain).unwrap();
    assert!(
        plain.contains("\\u5f20\\u4e09"),
        "non-ASCII is escaped: {plain}"
    );
    assert_eq!(serde_json::from_str::<Value>(&plain).unwrap(), data);

    let ts = v["timestamp"].as_i64().unwrap();
    let expected = format!(
        "appId={APP_ID}&data={{\"infno\":\"1101\",\"input\":{{\"data\":{{\"psn_name\":\"张三\"}}}},\"n\":\"5\"}}\
         &encType=SM4&signType=SM2&timestamp={ts}&version=1.0.0&key={SECRET}"
    );
    let sig = TextEncoding::Base64
        .decode(v["signData"].as_str().unwrap())
        .unwrap();
    let pk = hex::encode(&p.institution.own_public_key()[1..]);
    let (r, s) = (num_from(&sig[..32]), num_from(&sig[32..]));
    let der = der_sig(&r, &s);
    assert!(sm_crypto::sm2::Verify::new(&pk).verify_der(expected.as_bytes(), &der, true));
}

/// The other direction: a reply built only with the oracle opens with our codec.
#[test]
fn a_message_built_with_sm_crypto_opens() {
    let (sk_hex, pk_hex) = sm_crypto::sm2::gen_keypair();
    let plat_sk = sm2::SecretKey::from_slice(&hex::decode(&sk_hex).unwrap()).unwrap();
    let plat_pk = plat_sk.public_key();
    let (inst_sk, _) = keypair();
    assert_eq!(
        hex::encode(&plat_pk.to_sec1_bytes()[1..]),
        pk_hex.to_lowercase()
    );
    let ours = SmCodec::new(&cfg(), &inst_sk, &plat_pk).unwrap();

    let data_json = r#"{"infcode":0,"output":{"baseinfo":{"psn_name":"\u674e\u56db"}}}"#;
    let key = crate::sm::crypto::derive_sm4_key(APP_ID, SECRET).unwrap();
    let enc =
        hex::encode_upper(sm_crypto::sm4::CryptSM4ECB::new(&key).encrypt_ecb(data_json.as_bytes()));
    let to_sign = format!(
        "appId={APP_ID}&code=0&data={{\"infcode\":\"0\",\"output\":{{\"baseinfo\":{{\"psn_name\":\"李四\"}}}}}}\
         &encType=SM4&message=成功&signType=SM2&timestamp=1739624111&version=1.0.0&key={SECRET}"
    );
    let der = sm_crypto::sm2::Sign::new(&sk_hex).sign_der(to_sign.as_bytes(), true);
    let sig = sm2::dsa::Signature::from_der(&der).unwrap().to_bytes();
    let body = json!({"appId": APP_ID, "code": 0, "message": "成功", "encType": "SM4", "signType": "SM2",
        "timestamp": 1739624111, "version": "1.0.0", "encData": enc,
        "signData": TextEncoding::Base64.encode(&sig)});
    let (data, _) = ours.open(&serde_json::to_vec(&body).unwrap()).unwrap();
    assert_eq!(data["output"]["baseinfo"]["psn_name"], "李四");
}

fn num_from(b: &[u8]) -> Vec<u8> {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len() - 1);
    b[first..].to_vec()
}

/// Minimal DER of SEQUENCE { INTEGER r, INTEGER s } written by hand (not by our code).
fn der_sig(r: &[u8], s: &[u8]) -> Vec<u8> {
    let int = |x: &[u8]| {
        let mut v = x.to_vec();
        if v[0] & 0x80 != 0 {
            v.insert(0, 0);
        }
        let mut out = vec![0x02, v.len() as u8];
        out.extend(v);
        out
    };
    let body = [int(r), int(s)].concat();
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

#[test]
fn config_errors_are_clear() {
    let (sk, pk) = keypair();
    let mut c = cfg();
    c.sm4_mode = Sm4Mode::Cbc;
    assert!(SmCodec::new(&c, &sk, &pk)
        .unwrap_err()
        .to_string()
        .contains("sm4_iv"));
    let mut c = cfg();
    c.sm4_key = Some("abc".into());
    assert!(SmCodec::new(&c, &sk, &pk)
        .unwrap_err()
        .to_string()
        .contains("sm4_key"));
    let mut c = cfg();
    c.app_id = "short".into();
    assert!(SmCodec::new(&c, &sk, &pk)
        .unwrap_err()
        .to_string()
        .contains("appId"));
    let mut c = cfg();
    c.app_secret = "env:YIBAO_TEST_NO_SUCH_SECRET".into();
    assert!(SmCodec::new(&c, &sk, &pk)
        .unwrap_err()
        .to_string()
        .contains("YIBAO_TEST_NO_SUCH_SECRET"));
    let c: SmConfig = toml_like(
        r#"{"app_id":"a","app_secret":"s","private_key":"k","platform_public_key":"p","sm4_mode":"cbc","signature_layout":"der","signature_encoding":"hex_upper","encryption":"sm2","sm2_cipher_order":"C1C2C3"}"#,
    );
    assert_eq!(c.sm4_mode, Sm4Mode::Cbc);
    assert_eq!(c.sm2_cipher_order, CipherOrder::C1C2C3);
    assert!(serde_json::from_str::<SmConfig>(
        r#"{"app_id":"a","app_secret":"s","private_key":"k","platform_public_key":"p","typo":1}"#
    )
    .is_err());
}

fn toml_like(s: &str) -> SmConfig {
    serde_json::from_str(s).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    /// Whatever arrives as a reply body, opening it returns (never panics), and only the
    /// genuine body opens to data.
    #[test]
    fn open_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let p = shared_pair();
        prop_assert!(p.institution.open(&bytes).is_err());
    }

    /// Any single-byte change to a genuine body is rejected or leaves the meaning unchanged
    /// (e.g. whitespace or an escape that decodes to the same string) — never other data.
    #[test]
    fn a_mutated_body_never_opens_to_different_data(pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let p = shared_pair();
        let data = json!({"infcode": 0, "output": {"setl_id": "S1", "amt": "12.30"}});
        let body = p.platform.seal(&data, Map::new()).unwrap();
        let mut mutated = body.clone();
        let i = pos.index(mutated.len());
        mutated[i] = byte;
        if let Ok((opened, _)) = p.institution.open(&mutated) {
            prop_assert_eq!(opened, data);
        }
    }

    #[test]
    fn decoders_and_key_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), text in ".{0,200}") {
        let _ = TextEncoding::Base64.decode(&text);
        let _ = TextEncoding::Hex.decode(&text);
        let _ = crate::sm::text::decode_hex_or_base64(&text);
        let _ = parse_private_key(&bytes);
        let _ = parse_public_key(&bytes);
        let _ = parse_private_key(text.as_bytes());
        let _ = parse_public_key(text.as_bytes());
        let p = shared_pair();
        let v = p.institution.peer_for_tests();
        prop_assert!(v.verify(b"m", &bytes, SignatureLayout::Raw).is_err());
        prop_assert!(v.verify(b"m", &bytes, SignatureLayout::Der).is_err());
        let s = p.institution.signer_for_tests();
        let _ = s.decrypt(&bytes, CipherOrder::C1C3C2);
        let _ = s.decrypt(&bytes, CipherOrder::C1C2C3);
        let sm4 = crate::sm::crypto::Sm4Cipher::new(b"0123456789abcdef", Sm4Mode::Cbc, Some(b"0123456789abcdef")).unwrap();
        let _ = sm4.decrypt(&bytes);
    }
}

fn shared_pair() -> &'static Pair {
    static PAIR: std::sync::OnceLock<Pair> = std::sync::OnceLock::new();
    PAIR.get_or_init(|| pair_with(&cfg()))
}
