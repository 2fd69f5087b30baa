//! How the harness starts the simulator and writes the broker's config: the parts of a
//! test environment that differ by profile (tif or 国密) and store. The config is built
//! with the broker's own types ([`yibao_broker::Config`]) rather than formatted as text.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use yibao_broker::config::{
    ApikeyConfig, CsbConfig, PlatformSection, ProfileConfig, SqliteSection, StoreSection, TifConfig,
};
use yibao_broker::Config;
use yibao_core::sm::SmConfig;
use yibao_core::EnvelopeDefaults;
use yibao_store::MssqlOptions;

use crate::{bin, Gateway, KeyIs, Options, SmKeys, FIXMEDINS, TIF_PAASID, TIF_TOKEN};

const SM_APP_ID: &str = "E2EAPPID00000000SM";
const SM_APP_SECRET: &str = "e2e-app-secret-not-a-secret";
/// The CSB gateway's access key and secret, and the apikey front-end processor's header and
/// key, as the simulator knows them.
pub const CSB_ACCESS_KEY: &str = "e2e-csb-ak";
pub const CSB_SECRET_KEY: &str = "e2e-csb-secret-not-a-secret";
pub const APIKEY_HEADER: &str = "X-Api-Key";
pub const APIKEY: &str = "e2e-apikey-not-a-secret";

/// The simulator's arguments for a province gateway profile.
fn gateway_args(gateway: Gateway) -> Vec<String> {
    let args: [&str; 4] = match gateway {
        Gateway::Csb => [
            "--csb-access-key",
            CSB_ACCESS_KEY,
            "--csb-secret-key",
            CSB_SECRET_KEY,
        ],
        Gateway::Apikey => ["--apikey-header", APIKEY_HEADER, "--apikey", APIKEY],
    };
    args.iter().map(|a| a.to_string()).collect()
}

/// The broker's side of a province gateway profile, with the right or a wrong secret.
fn gateway_profile(gateway: Gateway, key: KeyIs) -> ProfileConfig {
    let wrong = |right: &str| match key {
        KeyIs::Right => right.to_string(),
        KeyIs::Wrong => format!("{right}-but-wrong"),
    };
    match gateway {
        Gateway::Csb => ProfileConfig::Csb(CsbConfig {
            api_name: "hssServives".into(),
            api_version: "1.0.0".into(),
            access_key: CSB_ACCESS_KEY.into(),
            secret_key: wrong(CSB_SECRET_KEY).into(),
            nonce: true,
        }),
        Gateway::Apikey => ProfileConfig::Apikey(ApikeyConfig {
            header: APIKEY_HEADER.into(),
            key: wrong(APIKEY).into(),
        }),
    }
}

/// The simulator's arguments: its profile's, then how it reads a settlement's cainfo.
pub(crate) fn mock_args(dir: &Path, o: &Options) -> Vec<String> {
    let mut args = profile_args(dir, o);
    if let Some((mode, key)) = &o.mock_cainfo {
        args.extend(["--cainfo-mode", mode.as_str(), "--cainfo-key", key].map(String::from));
    }
    args
}

/// Tif headers, or under `sm` the platform's key pair made with the real `yibao-broker keys
/// generate` (one pair for the institution, one for the platform, and a stranger's for the
/// wrong-key case).
fn profile_args(dir: &Path, o: &Options) -> Vec<String> {
    if o.sm.is_none() {
        return match o.gateway {
            Some((gateway, _)) => gateway_args(gateway),
            None => vec!["--tif-paasid".into(), TIF_PAASID.into()],
        };
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

/// The broker's signing profile: tif with the token from the environment, or 国密 with the
/// keys `mock_args` made.
fn signing(dir: &Path, o: &Options) -> ProfileConfig {
    let keys = dir.join("keys");
    match (o.sm, o.gateway) {
        (None, Some((gateway, key))) => gateway_profile(gateway, key),
        (None, None) => ProfileConfig::Tif(TifConfig {
            paasid: TIF_PAASID.into(),
            token: "env:YIBAO_E2E_TIF_TOKEN".into(),
            service_id: None,
        }),
        (Some(which), _) => {
            let platform = match which {
                SmKeys::Right => "platform.pub.pem",
                SmKeys::WrongPlatformKey => "stranger.pub.pem",
            };
            ProfileConfig::Sm(Box::new(SmConfig::new(
                SM_APP_ID,
                SM_APP_SECRET,
                &format!("file:{}", keys.join("institution.key.pem").display()),
                &format!("file:{}", keys.join(platform).display()),
            )))
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

/// The broker's config file for this environment: built in code, written by the same
/// serializer the broker reads with, then the test's own TOML (`interfaces_toml`,
/// `extra_toml`) laid over it.
pub(crate) fn config_text(pipe: &str, db: &Path, url: &str, o: &Options) -> String {
    let mut platform = PlatformSection::new(url, signing(db.parent().expect("db dir"), o));
    platform.request_timeout_ms = o.request_timeout_ms;
    platform.cainfo = o.cainfo.clone();
    let store = match &o.mssql {
        None => StoreSection::Sqlite(SqliteSection {
            busy_timeout_ms: o.busy_timeout_ms,
            ..SqliteSection::new(db)
        }),
        Some(_) => StoreSection::mssql(MssqlOptions {
            connection_string: Some("env:YIBAO_E2E_MSSQL".into()),
            ..MssqlOptions::default()
        }),
    };
    let mut institution =
        EnvelopeDefaults::new(FIXMEDINS, "测试医院", "430100", "001", "测试收费员");
    institution.insuplc_admdvs = "430100".into();
    institution.mac = "00-11-22-33-44-55".into();
    institution.ip = "127.0.0.1".into();
    let mut config = Config::new(platform, store, institution);
    let b = &mut config.broker;
    b.pipe = pipe.into();
    b.workers = o.workers as usize;
    b.max_frame_bytes = o.max_frame_bytes;
    b.poll_interval_ms = o.poll_interval_ms;
    b.poll_min_ms = o.poll_min_ms.min(o.poll_interval_ms);
    b.shutdown_grace_ms = 10_000;
    b.retry_max_attempts = o.retry_max_attempts;
    b.retry_base_delay_ms = o.retry_base_delay_ms;
    b.retry_max_delay_ms = o.retry_max_delay_ms;
    b.lease_ms = o.lease_ms;
    b.recover_interval_ms = o.recover_interval_ms;
    b.sign_out_on_shutdown = o.sign_out_on_shutdown;
    let mut table = toml::Table::try_from(&config).expect("the config as TOML");
    if let Some(dir) = &o.site {
        let fragment =
            std::fs::read_to_string(dir.join("site.toml")).expect("the pack's site.toml");
        leave_to_pack(
            &mut table,
            &toml::from_str(&fragment).expect("site.toml parses"),
        );
        let mut site = toml::Table::new();
        site.insert("dir".into(), dir.display().to_string().into());
        table.insert("site".into(), site.into());
    }
    for extra in [&o.interfaces_toml, &o.extra_toml] {
        overlay(
            &mut table,
            toml::from_str(extra).expect("the test's TOML parses"),
        );
    }
    toml::to_string(&table).expect("write the config")
}

/// Lays `extra` over `base`: tables merge key by key, any other value replaces.
fn overlay(base: &mut toml::Table, extra: toml::Table) {
    for (key, value) in extra {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(more)) => overlay(inner, more),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Removes from `config` every key `pack` sets, so the pack's value is the one read; the
/// platform's `url` stays (the simulator's address wins over the pack's).
fn leave_to_pack(config: &mut toml::Table, pack: &toml::Table) {
    for (name, section) in pack {
        let (Some(toml::Value::Table(ours)), toml::Value::Table(theirs)) =
            (config.get_mut(name), section)
        else {
            continue;
        };
        for key in theirs.keys() {
            if !(name == "platform" && key == "url") {
                ours.remove(key);
            }
        }
    }
}
