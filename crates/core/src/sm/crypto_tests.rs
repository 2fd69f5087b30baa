//! Known-answer tests from the published standards, and interoperability with an independent
//! implementation (`sm-crypto`, a dev-dependency used only here as an oracle).

use super::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// GB/T 32918.5-2017 (GM/T 0003.5-2012) Annex A: the recommended curve's example key.
const D: &str = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8";
const PUB: &str = "0409F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020\
                   CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13";
/// Signature of "message digest" with ID 1234567812345678 (k = 59276E27…).
const SIG_RS: &str = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3\
                      B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA";
/// Encryption of "encryption standard" with the same k, C1C3C2; C1 = 04‖x‖y where x itself
/// begins with 0x04.
const CT_C1: &str = "0404EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73\
                     E858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0";
const CT_C3: &str = "59983C18F809E262923C53AEC295D30383B54E39D609D160AFCB1908D0BD8766";
const CT_C2: &str = "21886CA989CA9C7D58087307CA93092D651EFA";

fn example_signer() -> Sm2Signer {
    let secret = sm2::SecretKey::from_slice(&h(D)).unwrap();
    Sm2Signer::new(&secret, DEFAULT_USER_ID).unwrap()
}

#[test]
fn sm3_known_answers_gbt_32905() {
    assert_eq!(
        hex::encode(sm3(b"abc")),
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    );
    assert_eq!(
        hex::encode(sm3(&b"abcd".repeat(16))),
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    );
}

#[test]
fn sm4_known_answers_gbt_32907() {
    let key = h("0123456789abcdeffedcba9876543210");
    let cipher = sm4::Sm4::new(key.as_slice().try_into().unwrap());
    use sm4::cipher::{BlockCipherDecrypt, BlockCipherEncrypt};
    let mut block = sm4::cipher::Block::<sm4::Sm4>::try_from(key.as_slice()).unwrap();
    cipher.encrypt_block(&mut block);
    assert_eq!(hex::encode(block), "681edf34d206965e86b3e94f536e4246");
    // Example 2: the same block encrypted 1,000,000 times.
    let mut block = sm4::cipher::Block::<sm4::Sm4>::try_from(key.as_slice()).unwrap();
    for _ in 0..1_000_000 {
        cipher.encrypt_block(&mut block);
    }
    assert_eq!(hex::encode(block), "595298c7c6fd271f0402f804c33d3f66");
    for _ in 0..1_000_000 {
        cipher.decrypt_block(&mut block);
    }
    assert_eq!(block.as_slice(), key.as_slice());

    // Through our wrapper: the padded first block is the same KAT.
    let ecb = Sm4Cipher::new(&key, Sm4Mode::Ecb, None).unwrap();
    let ct = ecb.encrypt(&key);
    assert_eq!(ct.len(), 32);
    assert_eq!(hex::encode(&ct[..16]), "681edf34d206965e86b3e94f536e4246");
    assert_eq!(ecb.decrypt(&ct).unwrap(), key);
}

#[test]
fn sm2_known_answers_gbt_32918() {
    let signer = example_signer();
    let verifier = signer.verifier();
    assert_eq!(verifier.public_key_bytes(), h(PUB));

    // The published signature verifies, raw and as DER; a changed message does not.
    let sig = h(SIG_RS);
    verifier
        .verify(b"message digest", &sig, SignatureLayout::Raw)
        .unwrap();
    let der = sm2::dsa::Signature::from_slice(&sig).unwrap().to_der();
    verifier
        .verify(b"message digest", der.as_bytes(), SignatureLayout::Der)
        .unwrap();
    assert_eq!(
        verifier.verify(b"message digesT", &sig, SignatureLayout::Raw),
        Err(CryptoError::BadSignature)
    );

    // The published ciphertext decrypts, in both orders and with or without C1's 04 —
    // this C1's x starts with 0x04 too, which is what makes the prefix ambiguous.
    let c1c3c2 = h(&format!("{CT_C1}{CT_C3}{CT_C2}"));
    let c1c2c3 = h(&format!("{CT_C1}{CT_C2}{CT_C3}"));
    let plain = b"encryption standard".to_vec();
    assert_eq!(signer.decrypt(&c1c3c2, CipherOrder::C1C3C2).unwrap(), plain);
    assert_eq!(
        signer.decrypt(&c1c3c2[1..], CipherOrder::C1C3C2).unwrap(),
        plain
    );
    assert_eq!(signer.decrypt(&c1c2c3, CipherOrder::C1C2C3).unwrap(), plain);
    assert_eq!(
        signer.decrypt(&c1c3c2, CipherOrder::C1C2C3),
        Err(CryptoError::Sm2Decrypt)
    );
}

#[test]
fn own_signatures_and_ciphertexts_round_trip() {
    let signer = example_signer();
    let verifier = signer.verifier();
    for layout in [SignatureLayout::Raw, SignatureLayout::Der] {
        let sig = signer.sign(b"hello", layout).unwrap();
        verifier.verify(b"hello", &sig, layout).unwrap();
        assert!(verifier.verify(b"hellp", &sig, layout).is_err());
    }
    for order in [CipherOrder::C1C3C2, CipherOrder::C1C2C3] {
        let ct = verifier.encrypt("医保 data".as_bytes(), order).unwrap();
        assert_eq!(ct[0], 0x04);
        assert_eq!(signer.decrypt(&ct, order).unwrap(), "医保 data".as_bytes());
    }
}

// ---- interoperability with sm-crypto (independent implementation) ----

fn oracle_keys() -> (String, String) {
    // sm-crypto: private key as 64 hex digits, public key as 128 hex digits without 04.
    sm_crypto::sm2::gen_keypair()
}

fn ours(sk_hex: &str) -> Sm2Signer {
    let secret = sm2::SecretKey::from_slice(&h(sk_hex)).unwrap();
    Sm2Signer::new(&secret, DEFAULT_USER_ID).unwrap()
}

#[test]
fn sm2_signatures_interoperate_with_sm_crypto() {
    let msg = "appId=X&data={\"a\":\"甲\"}&key=S".as_bytes();
    for _ in 0..8 {
        let (sk, pk) = oracle_keys();
        let signer = ours(&sk);
        assert_eq!(
            hex::encode(&signer.verifier().public_key_bytes()[1..]),
            pk.to_lowercase()
        );
        // ours → oracle (DER is the oracle's byte form)
        let der = signer.sign(msg, SignatureLayout::Der).unwrap();
        assert!(sm_crypto::sm2::Verify::new(&pk).verify_der(msg, &der, true));
        // oracle → ours, raw and DER
        let (r, s) = sm_crypto::sm2::Sign::new(&sk).sign(msg, true);
        let mut raw = vec![0u8; 64];
        let (rb, sb) = (r.to_bytes_be(), s.to_bytes_be());
        raw[32 - rb.len()..32].copy_from_slice(&rb);
        raw[64 - sb.len()..].copy_from_slice(&sb);
        signer
            .verifier()
            .verify(msg, &raw, SignatureLayout::Raw)
            .unwrap();
        let der = sm_crypto::sm2::Sign::new(&sk).sign_der(msg, true);
        signer
            .verifier()
            .verify(msg, &der, SignatureLayout::Der)
            .unwrap();
    }
}

#[test]
fn sm2_encryption_interoperates_with_sm_crypto() {
    // The oracle drops leading zero bytes of the plaintext (a known sm-crypto bug), so the
    // plaintext starts with a printable character, as JSON does.
    let plain = "{\"infno\":\"1101\",\"psn_name\":\"张三\"}".as_bytes();
    for _ in 0..4 {
        let (sk, pk) = oracle_keys();
        let signer = ours(&sk);
        // ours → oracle: the oracle wants C1 without 04.
        let ct = signer
            .verifier()
            .encrypt(plain, CipherOrder::C1C3C2)
            .unwrap();
        assert_eq!(sm_crypto::sm2::Decrypt::new(&sk).decrypt(&ct[1..]), plain);
        let ct = signer
            .verifier()
            .encrypt(plain, CipherOrder::C1C2C3)
            .unwrap();
        assert_eq!(
            sm_crypto::sm2::Decrypt::new(&sk).decrypt_c1c2c3(&ct[1..]),
            plain
        );
        // oracle → ours (no 04 prefix on C1)
        let ct = sm_crypto::sm2::Encrypt::new(&pk).encrypt(plain);
        assert_eq!(signer.decrypt(&ct, CipherOrder::C1C3C2).unwrap(), plain);
        let ct = sm_crypto::sm2::Encrypt::new(&pk).encrypt_c1c2c3(plain);
        assert_eq!(signer.decrypt(&ct, CipherOrder::C1C2C3).unwrap(), plain);
    }
}

#[test]
fn sm4_interoperates_with_sm_crypto() {
    let key = b"0123456789ABCDEF";
    let iv = b"fedcba9876543210";
    for len in [0usize, 1, 15, 16, 17, 2048] {
        let plain: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        let ecb = Sm4Cipher::new(key, Sm4Mode::Ecb, None).unwrap();
        let oracle = sm_crypto::sm4::CryptSM4ECB::new(key);
        assert_eq!(ecb.encrypt(&plain), oracle.encrypt_ecb(&plain), "ecb {len}");
        assert_eq!(ecb.decrypt(&oracle.encrypt_ecb(&plain)).unwrap(), plain);
        let cbc = Sm4Cipher::new(key, Sm4Mode::Cbc, Some(iv)).unwrap();
        let oracle = sm_crypto::sm4::CryptSM4CBC::new(key, iv);
        assert_eq!(cbc.encrypt(&plain), oracle.encrypt_cbc(&plain), "cbc {len}");
        assert_eq!(cbc.decrypt(&oracle.encrypt_cbc(&plain)).unwrap(), plain);
    }
}

#[test]
fn sm3_interoperates_with_sm_crypto() {
    for msg in [&b""[..], b"abc", "医保".as_bytes(), &[0u8; 1000][..]] {
        assert_eq!(hex::encode(sm3(msg)), sm_crypto::sm3::sm3_hash(msg));
    }
}

#[test]
fn key_derivation_matches_the_vendor_recipe_computed_by_the_oracle() {
    let (app_id, secret) = (
        "T98HPCGN5ZVVQBS8LZQNOAEXVI9GYHKQ",
        "NMVFVILMKT13GEMD3BKPKCTBOQBPZR2P",
    );
    let oracle = sm_crypto::sm4::CryptSM4ECB::new(&app_id.as_bytes()[..16]);
    let expected = hex::encode_upper(oracle.encrypt_ecb(secret.as_bytes()));
    let key = derive_sm4_key(app_id, secret).unwrap();
    assert_eq!(&key[..], &expected.as_bytes()[..16]);
    assert!(derive_sm4_key("short", secret).is_err());
}

#[test]
fn malformed_inputs_are_errors() {
    let signer = example_signer();
    let verifier = signer.verifier();
    assert!(matches!(
        verifier.verify(b"m", &[1u8; 63], SignatureLayout::Raw),
        Err(CryptoError::SignatureFormat(_))
    ));
    assert!(verifier
        .verify(b"m", &[0u8; 64], SignatureLayout::Raw)
        .is_err());
    assert!(verifier
        .verify(b"m", &[0xffu8; 64], SignatureLayout::Raw)
        .is_err());
    assert!(verifier
        .verify(b"m", b"\x30\x02\x02\x00", SignatureLayout::Der)
        .is_err());
    for len in [0usize, 1, 64, 96, 97] {
        assert!(
            signer
                .decrypt(&vec![4u8; len], CipherOrder::C1C3C2)
                .is_err(),
            "{len}"
        );
    }
    let ecb = Sm4Cipher::new(b"0123456789abcdef", Sm4Mode::Ecb, None).unwrap();
    assert_eq!(ecb.decrypt(&[]), Err(CryptoError::Sm4Decrypt));
    assert_eq!(ecb.decrypt(&[1u8; 15]), Err(CryptoError::Sm4Decrypt));
    // Bad padding: a block whose plaintext ends in 0x00 is not PKCS#7.
    use sm4::cipher::{BlockCipherEncrypt, KeyInit};
    let raw = sm4::Sm4::new(b"0123456789abcdef".into());
    let mut block = sm4::cipher::Block::<sm4::Sm4>::default();
    raw.encrypt_block(&mut block);
    assert_eq!(ecb.decrypt(&block), Err(CryptoError::Sm4Decrypt));
    // SM2: a ciphertext for someone else's key fails its C3 check.
    let stranger = sm2::SecretKey::from_slice(&[7u8; 32]).unwrap();
    let stranger = Sm2Signer::new(&stranger, DEFAULT_USER_ID).unwrap();
    let ct = stranger
        .verifier()
        .encrypt(b"secret", CipherOrder::C1C3C2)
        .unwrap();
    assert_eq!(
        signer.decrypt(&ct, CipherOrder::C1C3C2),
        Err(CryptoError::Sm2Decrypt)
    );
    // A signature by another key.
    let sig = stranger.sign(b"m", SignatureLayout::Raw).unwrap();
    assert_eq!(
        verifier.verify(b"m", &sig, SignatureLayout::Raw),
        Err(CryptoError::BadSignature)
    );
    assert_eq!(
        Sm4Cipher::new(b"short", Sm4Mode::Ecb, None).unwrap_err(),
        CryptoError::Sm4KeyLength(5)
    );
    assert_eq!(
        Sm4Cipher::new(b"0123456789abcdef", Sm4Mode::Cbc, Some(b"x")).unwrap_err(),
        CryptoError::Sm4IvLength(1)
    );
}
