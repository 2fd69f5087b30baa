//! The province gateway profiles end to end: the real broker signs with `csb` (the `_api_*`
//! headers, HMAC-SHA1) or sends an `apikey` header, and the real simulator checks them like
//! the gateway would, refusing a wrong signature or key with HTTP 401 before anything is
//! applied. A refusal tells the hospital which profile signed and which keys to check.

use yibao::{
    person_input, settle_input, stdout, Env, Gateway, KeyIs, Options, APIKEY, APIKEY_HEADER,
};

fn env_with(gateway: Gateway, key: KeyIs, extra_toml: &str) -> Env {
    Env::start_with(Options {
        gateway: Some((gateway, key)),
        retry_max_attempts: 2,
        extra_toml: extra_toml.into(),
        ..Options::default()
    })
}

/// A 1101 and a 2207 complete; the simulator refused nothing and applied the settlement once.
fn calls_succeed(env: &Env) {
    let id = env.insert("1101", &person_input(1));
    let out = env.shim(&["run", &id.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(env.view(id).response_data.unwrap().contains("baseinfo"));
    let id = env.insert("2207", &settle_input(1));
    let out = env.shim(&["run", &id.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(env.view(id).status, "COMPLETED");
    let stats = env.mock_stats();
    assert_eq!(stats["rejected"], 0, "{stats}");
    let applied = env
        .mock_applied()
        .iter()
        .filter(|a| a["infno"] == "2207")
        .count();
    assert_eq!(applied, 1);
}

/// With a wrong secret every request is refused by the gateway: the request ends with an
/// error naming the profile and the keys to check, the secret is not shown, nothing past
/// the sign-in reached the platform, and the broker keeps serving.
fn wrong_key_is_named(env: &Env, profile: &str, keys: &[&str], secret: &str) {
    let id = env.insert("1101", &person_input(2));
    let out = env.shim(&["run", &id.to_string(), "--wait", "20"]);
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    let row = env.view(id);
    assert_eq!(row.status, "ERROR", "{row:?}");
    let msg = row.err_msg.unwrap_or_default();
    assert!(
        msg.contains(&format!("profile = \"{profile}\"")),
        "names the profile: {msg}"
    );
    for key in keys {
        assert!(msg.contains(key), "names {key}: {msg}");
    }
    assert!(msg.contains("HTTP 401"), "{msg}");
    assert!(!msg.contains(secret), "{msg}");
    assert!(!env.broker_log().contains(secret));
    assert_eq!(env.mock_count("1101"), 0);
    assert!(env.mock_stats()["rejected"].as_u64().unwrap() >= 1);
    assert_eq!(env.shim(&["ping"]).status.code(), Some(0));
}

#[test]
fn calls_through_the_csb_gateway_succeed() {
    let env = env_with(Gateway::Csb, KeyIs::Right, "");
    calls_succeed(&env);
}

#[test]
fn a_wrong_csb_secret_is_refused_and_named() {
    let env = env_with(Gateway::Csb, KeyIs::Wrong, "");
    wrong_key_is_named(
        &env,
        "csb",
        &["csb_access_key", "csb_secret_key"],
        yibao::CSB_SECRET_KEY,
    );
}

#[test]
fn calls_through_an_apikey_front_end_processor_succeed() {
    let env = env_with(Gateway::Apikey, KeyIs::Right, "");
    calls_succeed(&env);
}

#[test]
fn a_wrong_apikey_is_refused_and_named() {
    let env = env_with(Gateway::Apikey, KeyIs::Wrong, "");
    wrong_key_is_named(&env, "apikey", &["apikey_header", "apikey"], APIKEY);
}

/// `[platform.headers]` composes with any profile: `plain` plus the key header the
/// front-end processor checks is what the `apikey` profile sends.
#[test]
fn platform_headers_compose_with_plain() {
    let extra = format!(
        "[platform]\nprofile = \"plain\"\n[platform.headers]\n\"{APIKEY_HEADER}\" = \"{APIKEY}\"\n"
    );
    let env = env_with(Gateway::Apikey, KeyIs::Wrong, &extra);
    calls_succeed(&env);
    let (ok, text) = env.check_config();
    assert!(ok, "{text}");
    assert!(!text.contains(APIKEY), "{text}");
}
