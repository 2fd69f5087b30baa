//! The config file: the documented example, errors an operator can act on (line, caret,
//! valid keys), secrets that never print, and configs built in code that read back the same.

use super::*;

const EXAMPLE: &str = include_str!("../../../../examples/yibao.toml");

#[test]
fn the_platform_address_is_read_from_the_url() {
    let with = |url: &str| {
        let text = include_str!("../../../../examples/yibao.toml").replace(
            "url = \"http://127.0.0.1:18080/fsi/api/rsfComIfsService/callService\"",
            &format!("url = \"{url}\""),
        );
        Config::parse(&text).unwrap().platform_address()
    };
    assert_eq!(
        with("http://10.1.2.3:8080/fsi/api").as_deref(),
        Some("10.1.2.3:8080")
    );
    assert_eq!(
        with("https://fsi.example.gov.cn/api").as_deref(),
        Some("fsi.example.gov.cn:443")
    );
    assert_eq!(with("http://front").as_deref(), Some("front:80"));
    assert_eq!(with("http://[::1]:9000/x").as_deref(), Some("[::1]:9000"));
}

#[test]
fn the_documented_example_parses() {
    let cfg = Config::parse(EXAMPLE).unwrap();
    assert_eq!(cfg.broker.poll_interval_ms, 20);
    assert_eq!(cfg.broker.poll_min_ms, 5);
    assert_eq!(cfg.institution.fixmedins_code.len(), 12);
}

#[test]
fn mistakes_are_named() {
    let typo = EXAMPLE.replace("poll_interval_ms", "poll_intervall_ms");
    let err = Config::parse(&typo).unwrap_err().to_string();
    assert!(err.contains("poll_intervall_ms"), "{err}");
    let bad = EXAMPLE.replace("workers = 16", "workers = 0");
    let err = Config::parse(&bad).unwrap_err().to_string();
    assert!(err.contains("broker.workers"), "{err}");
}

/// The example with `profile = "plain"` replaced by `profile`'s lines.
fn example_with_profile(profile: &str) -> String {
    assert!(EXAMPLE.contains("profile = \"plain\"\n"));
    EXAMPLE.replace("profile = \"plain\"\n", profile)
}

/// The error names `key`'s line (with the line's text and a caret under it) and, after
/// "expected one of", lists `valid`.
fn assert_located(err: &str, text: &str, key_line: &str, valid: &[&str]) {
    let line = text
        .lines()
        .position(|l| l == key_line)
        .unwrap_or_else(|| panic!("{key_line:?} is in the text"))
        + 1;
    assert!(err.contains(&format!("line {line}")), "line {line}: {err}");
    assert!(err.contains(&format!("{line} | {key_line}")), "{err}");
    assert!(err.contains('^'), "caret: {err}");
    for key in valid {
        assert!(err.contains(&format!("`{key}`")), "lists {key}: {err}");
    }
}

const TIF: &str =
    "profile = \"tif\"\ntif_paasid = \"paasid\"\ntif_token = \"tif-literal-token-xyz\"\n";
const SM_TABLE: &str = "[platform.sm]\napp_id = \"APPID0000000000001\"\n\
    app_secret = \"sm-literal-app-secret-xyz\"\nprivate_key = \"sm-inline-private-key-xyz\"\n\
    platform_public_key = \"file:keys/platform.pub.pem\"\nsm4_key = \"sm-literal-sm4-key-xyz\"\n\n";

/// The example with `profile = "sm"` and `table` as its `[platform.sm]`.
fn example_sm(table: &str) -> String {
    example_with_profile("profile = \"sm\"\n")
        .replace("[institution]", &format!("{table}[institution]"))
}

#[test]
fn a_wrong_profile_name_lists_the_valid_ones_at_its_line() {
    let text = example_with_profile("profile = \"tiff\"\n");
    let err = Config::parse(&text).unwrap_err().to_string();
    assert_located(&err, &text, "profile = \"tiff\"", &[]);
    assert!(err.contains("platform.profile"), "{err}");
    for name in ["\"plain\"", "\"tif\"", "\"sm\""] {
        assert!(err.contains(name), "{err}");
    }
    // Case as before: exact.
    assert!(Config::parse(&example_with_profile("profile = \"TIF\"\n")).is_err());
}

#[test]
fn an_unknown_key_under_each_profile_is_located_and_the_valid_keys_listed() {
    let platform_keys = ["url", "profile", "sm", "tif_token", "connect_timeout_ms"];
    for profile in ["profile = \"plain\"\n", TIF, "profile = \"sm\"\n"] {
        // In [platform] itself, right after the profile line.
        let text = example_with_profile(&profile.replacen('\n', "\ntif_tokn = \"x\"\n", 1))
            .replace("[institution]", &format!("{SM_TABLE}[institution]"));
        let err = Config::parse(&text).unwrap_err().to_string();
        assert_located(&err, &text, "tif_tokn = \"x\"", &platform_keys);
        assert!(err.contains("tif_tokn"), "{err}");
    }
    // In [platform.sm].
    let text = example_sm(&SM_TABLE.replace("app_id =", "app_idd = \"x\"\napp_id ="));
    let err = Config::parse(&text).unwrap_err().to_string();
    assert_located(
        &err,
        &text,
        "app_idd = \"x\"",
        &["app_id", "app_secret", "private_key", "sm4_mode"],
    );
}

#[test]
fn an_unknown_key_under_each_store_kind_is_located_and_the_valid_keys_listed() {
    let store_keys = ["kind", "path", "synchronous", "busy_timeout_ms", "mssql"];
    let text = EXAMPLE.replace(
        "synchronous = \"FULL\"\n",
        "synchronous = \"FULL\"\npaht = \"x\"\n",
    );
    let err = Config::parse(&text).unwrap_err().to_string();
    assert_located(&err, &text, "paht = \"x\"", &store_keys);

    let mssql = "kind = \"mssql\"\n\n[store.mssql]\ndatabase = \"his\"\nauth = \"windows\"\n";
    let start = EXAMPLE.find("kind = \"sqlite\"").unwrap();
    let end = EXAMPLE.find("[platform]").unwrap();
    let with_mssql = |table: &str| format!("{}{table}\n{}", &EXAMPLE[..start], &EXAMPLE[end..]);
    assert!(Config::parse(&with_mssql(mssql)).is_ok());
    let text = with_mssql(&format!("{mssql}pasword = \"x\"\n"));
    let err = Config::parse(&text).unwrap_err().to_string();
    assert_located(
        &err,
        &text,
        "pasword = \"x\"",
        &[
            "connection_string",
            "host",
            "password",
            "encryption",
            "command_timeout_ms",
        ],
    );
    let text = with_mssql("kind = \"mssql\"\ntypo = 1\n\n[store.mssql]\ndatabase = \"his\"\n");
    let err = Config::parse(&text).unwrap_err().to_string();
    assert_located(&err, &text, "typo = 1", &store_keys);
}

#[test]
fn a_profile_without_its_keys_is_reported_at_its_table() {
    let text = example_with_profile("profile = \"tif\"\ntif_paasid = \"p\"\n");
    let err = Config::parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("tif_token") && err.contains("[platform]"),
        "{err}"
    );
    let err = Config::parse(&example_with_profile("profile = \"sm\"\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("[platform.sm]"), "{err}");
    let text =
        example_with_profile("profile = \"csb\"\ncsb_api_name = \"n\"\ncsb_access_key = \"ak\"\n");
    let err = Config::parse(&text).unwrap_err().to_string();
    assert!(err.contains("csb_secret_key"), "{err}");
    let err = Config::parse(&example_with_profile("profile = \"apikey\"\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("platform.apikey"), "{err}");
}

/// The csb values travel as header values, whose surrounding spaces HTTP drops on arrival:
/// signed with them, a key pasted with a trailing space would be refused as a bad
/// signature. They are read trimmed, like every secret.
#[test]
fn csb_values_are_read_without_surrounding_spaces() {
    let cfg = Config::parse(&example_with_profile(
        "profile = \"csb\"\ncsb_api_name = \" svc \"\ncsb_api_version = \"1.0.0 \"\n\
         csb_access_key = \"ak \"\ncsb_secret_key = \"sk\"\n",
    ))
    .unwrap();
    let ProfileConfig::Csb(c) = &cfg.platform.profile else {
        panic!("{:?}", cfg.platform.profile)
    };
    assert_eq!(
        (
            c.api_name.as_str(),
            c.api_version.as_str(),
            c.access_key.as_str()
        ),
        ("svc", "1.0.0", "ak")
    );
}

/// A header a gateway could never accept is refused when the profile is built (start-up
/// and `check-config`), named by its key and without its value.
#[test]
fn a_bad_header_is_refused_before_anything_is_sent() {
    let text = example_with_profile(
        "profile = \"apikey\"\napikey_header = \"X Key\"\napikey = \"k-9876\"\n",
    );
    let err = Config::parse(&text)
        .unwrap()
        .profile()
        .unwrap_err()
        .to_string();
    assert!(err.contains("platform.apikey_header"), "{err}");
    // The apikey profile's own header is not [platform.headers]: one key named, the right one.
    assert!(!err.contains("platform.headers"), "{err}");
    assert!(!err.contains("k-9876"), "{err}");
    let text = example_with_profile("profile = \"plain\"\nheaders = { Host = \"x\" }\n");
    let err = Config::parse(&text)
        .unwrap()
        .profile()
        .unwrap_err()
        .to_string();
    assert!(err.contains("platform.headers"), "{err}");
    let ok = example_with_profile("profile = \"plain\"\nheaders = { X-Tenant = \"h1\" }\n");
    assert_eq!(
        Config::parse(&ok).unwrap().profile().unwrap().name(),
        "plain"
    );
}

#[test]
fn values_keep_their_case_rules() {
    let text = EXAMPLE.replace("synchronous = \"FULL\"", "synchronous = \"normal\"");
    let cfg = Config::parse(&text).unwrap();
    let StoreSection::Sqlite(sqlite) = &cfg.store else {
        panic!("sqlite: {:?}", cfg.store);
    };
    assert_eq!(sqlite.synchronous, Synchronous::Normal);
    assert!(toml::to_string(&cfg)
        .unwrap()
        .contains("synchronous = \"NORMAL\""));
    let text = EXAMPLE.replace("synchronous = \"FULL\"", "synchronous = \"OFF\"");
    let err = Config::parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("store.synchronous") && err.contains("\"NORMAL\""),
        "{err}"
    );
    let text = EXAMPLE.replace("kind = \"sqlite\"", "kind = \"SQLite\"");
    let err = Config::parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("store.kind") && err.contains("\"mssql\""),
        "{err}"
    );
}

#[test]
fn secrets_never_show_in_debug_or_in_what_check_config_prints() {
    std::env::set_var("YIBAO_TEST_CONFIG_STATUS_TOKEN", "status-env-token-xyz");
    let mut text = example_with_profile(TIF)
        .replace(
            "# token = \"env:YIBAO_STATUS_TOKEN\"",
            "token = \"status-literal-token-xyz\"",
        )
        .replace("enabled = false", "enabled = true");
    let cfg = Config::parse(&text).unwrap();
    text = example_sm(SM_TABLE);
    let sm = Config::parse(&text).unwrap();
    let mut mssql = cfg.clone();
    let mut o = yibao_store::MssqlOptions::new("his", yibao_store::MssqlAuth::Sql);
    o.user = Some("yibao".into());
    o.password = Some("mssql-literal-password-xyz".into());
    o.connection_string = Some("server=db;password=mssql-cs-password-xyz".into());
    mssql.store = StoreSection::mssql(o);
    let csb = Config::parse(&example_with_profile(
        "profile = \"csb\"\ncsb_api_name = \"n\"\ncsb_access_key = \"ak\"\n\
         csb_secret_key = \"csb-literal-secret-xyz\"\n\
         headers = { X-Auth = \"header-literal-value-xyz\" }\n",
    ))
    .unwrap();
    let apikey = Config::parse(&example_with_profile(
        "profile = \"apikey\"\napikey = \"apikey-literal-key-xyz\"\n",
    ))
    .unwrap();
    for c in [&cfg, &sm, &mssql, &csb, &apikey] {
        let shown = format!(
            "{c:?}\n{c:#?}\n{} {} {}",
            c.platform.profile,
            c.store.describe(),
            c.platform.url
        );
        for secret in [
            "tif-literal-token-xyz",
            "status-literal-token-xyz",
            "sm-literal-app-secret-xyz",
            "sm-inline-private-key-xyz",
            "sm-literal-sm4-key-xyz",
            "mssql-literal-password-xyz",
            "mssql-cs-password-xyz",
            "csb-literal-secret-xyz",
            "header-literal-value-xyz",
            "apikey-literal-key-xyz",
        ] {
            assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
            // The sm example's keys are placeholders that do not load; the built profiles
            // of the others must not show their secrets either.
            if let Ok(profile) = c.profile() {
                let profile = format!("{profile:?}");
                assert!(!profile.contains(secret), "{secret} shown:\n{profile}");
            }
        }
    }
    assert_eq!(cfg.platform.profile.to_string(), "tif");
    assert_eq!(sm.platform.profile.to_string(), "sm");
    assert!(csb.profile().is_ok() && apikey.profile().is_ok());
}

/// What the demo and the harness build: the platform and its profile, a store, the
/// institution; written with `toml::to_string` and read back, it is the same config.
#[test]
fn a_config_built_in_code_reads_back_the_same() {
    let mut institution =
        EnvelopeDefaults::new("H43010000001", "测试医院", "430100", "001", "收费员");
    institution.mac = "00-11-22-33-44-55".into();
    institution.ip = "127.0.0.1".into();
    let tif = ProfileConfig::Tif(TifConfig {
        paasid: "paasid".into(),
        token: "env:YIBAO_TIF_TOKEN".into(),
        service_id: None,
    });
    let mut sm = yibao_core::sm::SmConfig::new("APPID", "env:SECRET", "file:k.pem", "file:p.pem");
    sm.sm4_mode = yibao_core::sm::Sm4Mode::Cbc;
    sm.sm4_iv = Some("00".repeat(16));
    let mut o = yibao_store::MssqlOptions::new("his", yibao_store::MssqlAuth::Windows);
    o.instance = Some("SQLEXPRESS".into());
    o.command_timeout = Duration::from_millis(60_000);
    let stores = [
        StoreSection::sqlite("/var/yibao/q.db"),
        StoreSection::mssql(o),
    ];
    let csb = ProfileConfig::Csb(CsbConfig {
        api_name: "hssServives".into(),
        api_version: "1.0.0".into(),
        access_key: "ak".into(),
        secret_key: "env:YIBAO_CSB_SECRET".into(),
        nonce: false,
    });
    let apikey = ProfileConfig::Apikey(ApikeyConfig {
        header: "X-Api-Key".into(),
        key: "file:key.txt".into(),
    });
    let profiles = [
        ProfileConfig::Plain,
        tif,
        ProfileConfig::Sm(Box::new(sm)),
        csb,
        apikey,
    ];
    for store in &stores {
        for (i, profile) in profiles.iter().enumerate() {
            let mut cfg = Config::new(
                PlatformSection::new("http://127.0.0.1:18080/fsi/api", profile.clone()),
                store.clone(),
                institution.clone(),
            );
            if i % 2 == 0 {
                cfg.platform
                    .headers
                    .insert("X-Tenant".into(), "env:TENANT".into());
            }
            cfg.broker.pipe = "yibao-test".into();
            cfg.broker.workers = 4;
            cfg.platform.request_timeout_ms = 10_000;
            cfg.interfaces.insert(
                "2207".into(),
                InterfaceOverride {
                    on_uncertain: Some(yibao_core::UncertainPolicy::Reverse),
                    ..Default::default()
                },
            );
            cfg.catalog.validation = ValidationMode::Warn;
            cfg.check().unwrap();
            let text = toml::to_string(&cfg).unwrap();
            assert_eq!(Config::parse(&text).unwrap(), cfg, "{text}");
        }
    }
}

#[test]
fn the_documented_example_reads_back_the_same() {
    for text in [
        EXAMPLE.to_string(),
        example_with_profile(TIF),
        example_sm(SM_TABLE),
    ] {
        let cfg = Config::parse(&text).unwrap();
        let written = toml::to_string(&cfg).unwrap();
        assert_eq!(Config::parse(&written).unwrap(), cfg, "{written}");
    }
}

#[test]
fn every_name_reads_back() {
    use names::Named;
    fn all<T: Named + std::fmt::Debug>() {
        for (name, value) in T::NAMES {
            assert_eq!(value.as_str(), *name);
            assert_eq!(T::from_name(name), Ok(*value));
        }
    }
    all::<platform::ProfileName>();
    all::<Synchronous>();
}

/// The config examples in the docs read as configs, and read back the same when written.
#[test]
fn the_examples_in_the_docs_parse_and_read_back_the_same() {
    let required = [
        ("[store]", "[store]\npath = \"q.db\"\n"),
        (
            "[platform]",
            "[platform]\nurl = \"http://127.0.0.1:18080/\"\n",
        ),
        (
            "[institution]",
            "[institution]\nfixmedins_code = \"H43010000001\"\nfixmedins_name = \"x\"\n\
             mdtrtarea_admvs = \"430100\"\nopter = \"001\"\nopter_name = \"x\"\n\
             mac = \"00-11-22-33-44-55\"\nip = \"127.0.0.1\"\n",
        ),
    ];
    let sections = ["[broker]", "[store]", "[platform]", "[catalog]", "[log]"];
    let docs = [
        include_str!("../../../../docs/config.md"),
        include_str!("../../../../docs/catalog.md"),
    ];
    let mut checked = 0;
    for doc in docs {
        for block in doc
            .split("```toml\n")
            .skip(1)
            .filter_map(|b| b.split("```").next())
        {
            if !sections.iter().any(|s| block.starts_with(s)) {
                continue; // a catalog file, not a config
            }
            let mut text = block.to_string();
            for (header, minimal) in required {
                if !block.contains(header) {
                    text = format!("{minimal}\n{text}");
                }
            }
            let cfg: Config = toml::from_str(&text).unwrap_or_else(|e| panic!("{text}\n{e}"));
            let written = toml::to_string(&cfg).unwrap();
            assert_eq!(
                toml::from_str::<Config>(&written).unwrap(),
                cfg,
                "{written}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 2, "the sm and the catalog examples");
}

/// The default worker_id names this machine as the OS does, even without `HOSTNAME` in the
/// environment (a systemd service has none).
#[cfg(unix)]
#[test]
fn the_default_worker_id_is_the_os_host_name() {
    let os = std::process::Command::new("uname")
        .arg("-n")
        .output()
        .unwrap();
    let os = String::from_utf8_lossy(&os.stdout).trim().to_string();
    let cfg = Config::parse(EXAMPLE).unwrap();
    let mut cfg = cfg;
    cfg.broker.worker_id = None;
    let id = cfg.worker_id();
    assert_eq!(id, format!("{os}-{}", std::process::id()));
}

/// Every refusal of the config check is worded 中文 first, then English: a hospital's IT
/// staff read these first. Each mutation below breaks one rule of `Config::check`.
#[test]
fn every_check_message_is_chinese_first_then_english() {
    type Break = fn(&mut Config);
    let breaks: [(&str, Break); 16] = [
        ("workers", |c| c.broker.workers = 0),
        ("max_connections", |c| c.broker.max_connections = 0),
        ("max_frame_bytes", |c| c.broker.max_frame_bytes = 10),
        ("handshake", |c| c.broker.handshake_timeout_ms = 1),
        ("buffered", |c| c.broker.max_buffered_bytes = 1),
        ("poll_interval", |c| c.broker.poll_interval_ms = 0),
        ("poll_min", |c| c.broker.poll_min_ms = 0),
        ("lease", |c| c.broker.lease_ms = 1),
        ("retry_max", |c| c.broker.retry_max_attempts = 0),
        ("retry_delay", |c| c.broker.retry_base_delay_ms = 0),
        ("recover", |c| c.broker.recover_interval_ms = 0),
        ("msgid_node", |c| c.broker.msgid_node = Some(12)),
        ("pipe_sddl", |c| c.broker.pipe_sddl = Some("x".into())),
        ("log.format", |c| c.log.format = "xml".into()),
        ("fixmedins", |c| c.institution.fixmedins_code = "H-1".into()),
        ("url", |c| c.platform.url = "ftp://x".into()),
    ];
    for (what, break_it) in breaks {
        let mut cfg = Config::parse(EXAMPLE).unwrap();
        break_it(&mut cfg);
        let err = cfg.check().expect_err(what).to_string();
        let (zh, en) = err
            .split_once(" / ")
            .unwrap_or_else(|| panic!("{what}: no 中文 / English pair: {err}"));
        assert!(
            zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{what}: no 中文 first: {err}"
        );
        let detail = err.rsplit(": ").next().unwrap_or_default();
        assert!(
            detail
                .chars()
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{what}: the reason itself is English only: {err}"
        );
        assert!(!en.trim().is_empty(), "{what}: {err}");
    }
}

/// A file missing three of `[institution]`'s required keys gets one error naming all three
/// (before, serde stopped at the first, one edit-and-retry per key).
#[test]
fn every_missing_institution_key_is_named_at_once() {
    let text = EXAMPLE
        .replace("mdtrtarea_admvs = \"430100\"\n", "")
        .replace("opter_name = \"收费员\"\n", "")
        .replace("ip = \"127.0.0.1\"\n", "");
    assert_ne!(text, EXAMPLE);
    let err = Config::parse(&text)
        .expect_err("three keys missing")
        .to_string();
    for key in [
        "institution.mdtrtarea_admvs",
        "institution.opter_name",
        "institution.ip",
    ] {
        assert!(err.contains(key), "{key} not named: {err}");
    }
    assert!(err.contains("3 项") && err.contains("3 required"), "{err}");
    assert!(
        !err.contains("institution.opter："),
        "opter is there: {err}"
    );
}

/// A config saved as GBK (Notepad's "ANSI" on a Chinese Windows) is refused with the
/// advice to save it as UTF-8; one saved as UTF-8 with a BOM (Notepad's "UTF-8") reads.
#[test]
fn a_gbk_config_gets_save_as_utf8_advice_and_a_bom_is_fine() {
    let dir = tempfile::tempdir().unwrap();
    let gbk = dir.path().join("gbk.toml");
    // "[institution]\nfixmedins_name = \"医保\"" with 医保 in GBK (D2 BD B1 A3).
    let mut bytes = b"[institution]\nfixmedins_name = \"".to_vec();
    bytes.extend_from_slice(&[0xD2, 0xBD, 0xB1, 0xA3]);
    bytes.extend_from_slice(b"\"\n");
    std::fs::write(&gbk, bytes).unwrap();
    let err = Config::load(&gbk).unwrap_err().to_string();
    assert!(err.contains("UTF-8") && err.contains("另存为"), "{err}");
    let bom = dir.path().join("bom.toml");
    std::fs::write(&bom, format!("\u{feff}{EXAMPLE}")).unwrap();
    Config::load(&bom).unwrap();
}
