//! How the harness starts the simulator and writes the broker's config: the parts of a
//! test environment that differ by profile (tif or 国密) and store.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::{bin, Options, SmKeys, FIXMEDINS, TIF_PAASID, TIF_TOKEN};

const SM_APP_ID: &str = "E2EAPPID00000000SM";
const SM_APP_SECRET: &str = "e2e-app-secret-not-a-secret";

/// The simulator's arguments: tif headers, or under `sm` the platform's key pair made with
/// the real `yibao-broker keys generate` (one pair for the institution, one for the
/// platform, and a stranger's for the wrong-key case).
pub(crate) fn mock_args(dir: &Path, o: &Options) -> Vec<String> {
    if o.sm.is_none() {
        return vec!["--tif-paasid".into(), TIF_PAASID.into()];
    }
    let keys = dir.join("keys");
    for name in ["institution", "platform", "stranger"] {
        let out = Command::new(bin("yibao-broker"))
            .args(["keys", "generate", "--name", name, "--out"])
            .arg(&keys)
            .output()
            .expect("run yibao-broker keys generate");
        assert!(out.status.success(), "keys generate: {out:?}");
    }
    vec![
        "--sm-app-id".into(),
        SM_APP_ID.into(),
        "--sm-app-secret".into(),
        SM_APP_SECRET.into(),
        "--sm-private-key".into(),
        format!("file:{}", keys.join("platform.key.pem").display()),
        "--sm-institution-public-key".into(),
        format!("file:{}", keys.join("institution.pub.pem").display()),
    ]
}

/// The broker's `[platform]` profile lines.
fn profile_toml(dir: &Path, o: &Options) -> String {
    let keys = dir.join("keys");
    match o.sm {
        None => format!(
            "profile = \"tif\"\ntif_paasid = \"{TIF_PAASID}\"\ntif_token = \"env:YIBAO_E2E_TIF_TOKEN\"\n"
        ),
        Some(which) => {
            let platform = match which {
                SmKeys::Right => "platform.pub.pem",
                SmKeys::WrongPlatformKey => "stranger.pub.pem",
            };
            format!(
                "profile = \"sm\"\n[platform.sm]\napp_id = \"{SM_APP_ID}\"\napp_secret = \"{SM_APP_SECRET}\"\n\
                 private_key = 'file:{}'\nplatform_public_key = 'file:{}'\n",
                keys.join("institution.key.pem").display(),
                keys.join(platform).display()
            )
        }
    }
}

/// Starts the real simulator on `listen`; returns it with its URL.
/// With `log`, the simulator logs at info level (every injected fault) to that file.
pub(crate) fn start_mock(listen: &str, extra: &[String], log: Option<&Path>) -> (Child, String) {
    let mut cmd = Command::new(bin("yibao-mock"));
    cmd.args(["--listen", listen, "--fixmedins-code", FIXMEDINS])
        .args(extra)
        .env("YIBAO_MOCK_TIF_TOKEN", TIF_TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(path) = log {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("mock log file");
        cmd.env("RUST_LOG", "info").stderr(Stdio::from(file));
    }
    let mut mock = cmd.spawn().expect("start yibao-mock");
    let mut first = String::new();
    let stdout = mock.stdout.take().expect("mock stdout");
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("mock banner");
    let url = first
        .trim()
        .strip_prefix("yibao-mock listening on ")
        .unwrap_or_else(|| panic!("unexpected mock banner {first:?}"))
        .to_string();
    (mock, url)
}

pub(crate) fn config_text(pipe: &str, db: &Path, url: &str, o: &Options) -> String {
    format!(
        r#"
[broker]
pipe = '{pipe}'
workers = {workers}
max_frame_bytes = {max_frame}
poll_interval_ms = {poll}
shutdown_grace_ms = 10000
retry_max_attempts = {retry_max}
retry_base_delay_ms = {retry_base}
retry_max_delay_ms = {retry_cap}
lease_ms = {lease}
recover_interval_ms = {recover}
sign_out_on_shutdown = {sign_out}

{store}

[platform]
url = '{url}'
request_timeout_ms = {timeout}
{profile}

[institution]
fixmedins_code = "{FIXMEDINS}"
fixmedins_name = "测试医院"
mdtrtarea_admvs = "430100"
insuplc_admdvs = "430100"
opter = "001"
opter_name = "测试收费员"
mac = "00-11-22-33-44-55"
ip = "127.0.0.1"

{interfaces}
{log}
"#,
        workers = o.workers,
        profile = profile_toml(db.parent().expect("db dir"), o),
        store = match &o.mssql {
            None => format!(
                "[store]\npath = '{}'\nbusy_timeout_ms = {}\n",
                db.display(),
                o.busy_timeout_ms
            ),
            Some(_) => "[store]\nkind = \"mssql\"\n[store.mssql]\nconnection_string = \"env:YIBAO_E2E_MSSQL\"\n".to_string(),
        },
        max_frame = o.max_frame_bytes,
        poll = o.poll_interval_ms,
        retry_max = o.retry_max_attempts,
        retry_base = o.retry_base_delay_ms,
        retry_cap = o.retry_max_delay_ms,
        timeout = o.request_timeout_ms,
        lease = o.lease_ms,
        recover = o.recover_interval_ms,
        sign_out = o.sign_out_on_shutdown,
        interfaces = o.interfaces_toml,
        log = o.extra_toml,
    )
}
