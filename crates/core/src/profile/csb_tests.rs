use super::*;

fn settings() -> CsbSettings {
    CsbSettings {
        api_name: "hssServives".into(),
        api_version: "1.0.0".into(),
        access_key: "ak-e2e".into(),
        secret_key: "sk-secret".into(),
        nonce: true,
    }
}

/// Known answer computed independently with Python's standard library:
/// `base64.b64encode(hmac.new(b'sk-secret', TEXT.encode(), hashlib.sha1).digest())`.
#[test]
fn the_signature_matches_pythons_hmac() {
    let headers = signed_headers(&settings(), 1_700_000_000_000, Some("42"), &[]);
    let text = string_to_sign(&headers);
    assert_eq!(
        text,
        "_api_access_key=ak-e2e&_api_name=hssServives&_api_nonce=42&\
         _api_timestamp=1700000000000&_api_version=1.0.0"
    );
    let sig = &headers.last().unwrap();
    assert_eq!(sig.0, HDR_SIGNATURE);
    assert_eq!(sig.1, "p+ASry4VB23GdBqTERwuO8707q4=");
}

/// Sorting by name then value, query parameters included, UTF-8 key and text (same Python
/// computation with key '密钥').
#[test]
fn query_parameters_sort_by_name_then_value() {
    let params: Vec<(String, String)> = [
        ("z", "x y"),
        ("a", "2"),
        ("_api_version", "1.0.0"),
        ("a", "1"),
        ("_api_timestamp", "1"),
        ("_api_name", "医保"),
        ("_api_access_key", "ak"),
        ("_api_signature", "never signed"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let text = string_to_sign(&params);
    assert_eq!(
        text,
        "_api_access_key=ak&_api_name=医保&_api_timestamp=1&_api_version=1.0.0&a=1&a=2&z=x y"
    );
    assert_eq!(signature(&text, "密钥"), "Dsl0dQFUkqMsAVLO54lEx62x6Z0=");
}

/// The same check against Python at test time, on a fresh timestamp and nonce, when a
/// python3 is on the PATH (CI has one); skipped with a notice otherwise.
#[test]
fn a_fresh_signature_matches_python_at_test_time() {
    let p = CsbProfile::new(settings(), "http://gw.example/csb?b=2&a=1");
    let envelope = crate::platform::envelope::sample_defaults().build(
        "1101",
        "m1".into(),
        "",
        &Default::default(),
        serde_json::json!({}),
    );
    let out = p.seal(&envelope).unwrap();
    let mut params = out.headers.clone();
    params.extend([("b".into(), "2".into()), ("a".into(), "1".into())]);
    let text = string_to_sign(&params);
    assert!(text.starts_with("_api_access_key=ak-e2e&") && text.ends_with("&a=1&b=2"));
    let script = "import sys,hmac,hashlib,base64;\
                  print(base64.b64encode(hmac.new(sys.argv[1].encode(),sys.argv[2].encode(),\
                  hashlib.sha1).digest()).decode())";
    let py = std::process::Command::new("python3")
        .args(["-c", script, "sk-secret", &text])
        .output();
    let Ok(py) = py else {
        eprintln!("python3 not found: the fresh-signature check is skipped");
        return;
    };
    let sent = out
        .headers
        .iter()
        .find(|(k, _)| k == HDR_SIGNATURE)
        .map(|(_, v)| v.clone())
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&py.stdout).trim(), sent);
}

#[test]
fn the_secret_is_neither_sent_nor_shown() {
    let p = CsbProfile::new(settings(), "http://gw.example/csb");
    let envelope = crate::platform::envelope::sample_defaults().build(
        "1101",
        "m1".into(),
        "",
        &Default::default(),
        serde_json::json!({}),
    );
    let out = p.seal(&envelope).unwrap();
    for (k, v) in &out.headers {
        assert_ne!(k, HDR_SECRET_KEY);
        assert!(!v.contains("sk-secret"), "{k}");
    }
    assert!(!format!("{p:?}").contains("sk-secret"));
    let names: Vec<&str> = out.headers.iter().map(|(k, _)| k.as_str()).collect();
    for h in [
        HDR_API_NAME,
        HDR_API_VERSION,
        HDR_ACCESS_KEY,
        HDR_TIMESTAMP,
        HDR_NONCE,
        HDR_SIGNATURE,
    ] {
        assert!(names.contains(&h), "{h} missing from {names:?}");
    }
}

/// The SDK puts the URL's parameters in its map first and then the `_api_*` values
/// (`newParamsMap`: `put` replaces), so a query parameter named like one of them is signed
/// with the header's value, once — the broker and the simulator's gateway alike.
#[test]
fn a_query_parameter_named_like_a_header_is_signed_with_the_headers_value() {
    let query = query_params("_api_version=9.9&a=1");
    let headers = signed_headers(&settings(), 1_700_000_000_000, Some("42"), &query);
    let text = string_to_sign(&signed_params(&headers, &query));
    assert_eq!(
        text,
        "_api_access_key=ak-e2e&_api_name=hssServives&_api_nonce=42&\
         _api_timestamp=1700000000000&_api_version=1.0.0&a=1"
    );
    let sig = &headers.last().unwrap().1;
    assert_eq!(sig, &signature(&text, "sk-secret"));
}
