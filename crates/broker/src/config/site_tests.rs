//! Site packs: the hospital's file laid over the pack's `site.toml` key by key, every error
//! shown in the file (and line) at fault, what a pack may not hold, the pack's catalog before
//! the hospital's own, and the shipped example.

use std::path::Path;

use super::super::{Config, ConfigError, ProfileConfig, ValidationMode};
use super::*;

const PACK: &str = r#"# 示例省 / a test province
[platform]
url = "https://fsi.example-province.invalid/fsi/api"
profile = "tif"
tif_paasid = "province-paasid"

[institution]
mdtrtarea_admvs = "990100"
recer_sys_code = "EXSYS"
infver = "V2.0"

[catalog]
validation = "warn"
"#;

const HOSPITAL: &str = r#"[site]
dir = "pack"

[store]
path = "q.db"

[platform]
tif_token = "env:YIBAO_TEST_TIF_TOKEN"

[institution]
fixmedins_code = "H99010000001"
fixmedins_name = "示例医院"
opter = "001"
opter_name = "收费员"
mac = "00-11-22-33-44-55"
ip = "127.0.0.1"
infver = "V1.0"
"#;

/// A folder holding the hospital's `yibao.toml` and `pack/site.toml` (and `pack/catalog.toml`
/// when given); returns it with the config's path.
fn setup(hospital: &str, pack: &str, catalog: Option<&str>) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("pack")).unwrap();
    std::fs::write(dir.path().join("pack").join(FRAGMENT), pack).unwrap();
    if let Some(c) = catalog {
        std::fs::write(dir.path().join("pack").join(CATALOG), c).unwrap();
    }
    let config = dir.path().join("yibao.toml");
    std::fs::write(&config, hospital).unwrap();
    (dir, config)
}

fn load_err(hospital: &str, pack: &str) -> String {
    let (_dir, config) = setup(hospital, pack, None);
    Config::load(&config).unwrap_err().to_string()
}

/// The error shows `line` (1-based) of a file, with its text, a caret and `path`'s name.
fn assert_at(err: &str, file: &str, text: &str, line_text: &str) {
    let line = text
        .lines()
        .position(|l| l == line_text)
        .unwrap_or_else(|| panic!("{line_text:?} in the text"))
        + 1;
    assert!(err.contains(file), "names {file}: {err}");
    assert!(err.contains(&format!("line {line}")), "line {line}: {err}");
    assert!(err.contains(&format!("{line} | {line_text}")), "{err}");
    assert!(err.contains('^'), "caret: {err}");
}

#[test]
fn the_hospital_file_is_laid_over_the_pack_key_by_key() {
    let (dir, config) = setup(HOSPITAL, PACK, None);
    let cfg = Config::load(&config).unwrap();
    assert_eq!(
        cfg.platform.url,
        "https://fsi.example-province.invalid/fsi/api"
    );
    let ProfileConfig::Tif(tif) = &cfg.platform.profile else {
        panic!("the pack's profile: {:?}", cfg.platform.profile);
    };
    assert_eq!(tif.paasid, "province-paasid", "the pack's key");
    assert_eq!(
        tif.token.to_string(),
        "env:YIBAO_TEST_TIF_TOKEN",
        "the hospital's key"
    );
    let i = &cfg.institution;
    assert_eq!(i.mdtrtarea_admvs, "990100");
    assert_eq!(i.recer_sys_code, "EXSYS");
    assert_eq!(i.infver, "V1.0", "the hospital wins a key both set");
    assert_eq!(i.fixmedins_code, "H99010000001");
    assert_eq!(cfg.catalog.validation, ValidationMode::Warn);
    let site = cfg.site.as_ref().expect("[site]");
    assert_eq!(
        site.dir,
        dir.path().join("pack"),
        "relative to the config file"
    );
    assert_eq!(site.name(), "pack");
    assert!(site.catalog().is_none());

    // A config written back (as the harness and the demo do) reads the same.
    let written = toml::to_string(&cfg).unwrap();
    assert_eq!(Config::parse(&written).unwrap(), cfg, "{written}");
}

#[test]
fn an_unknown_key_in_the_pack_is_shown_in_the_packs_file() {
    let pack = PACK.replace("tif_paasid =", "tif_pasid = \"x\"\ntif_paasid =");
    let err = load_err(HOSPITAL, &pack);
    assert_at(&err, "site.toml", &pack, "tif_pasid = \"x\"");
    assert!(!err.contains("yibao.toml"), "{err}");
    for key in ["`url`", "`profile`", "`tif_paasid`", "`sm`"] {
        assert!(err.contains(key), "lists {key}: {err}");
    }
    // A wrong value too, and under [institution].
    let pack = PACK.replace("profile = \"tif\"", "profile = \"tiff\"");
    let err = load_err(HOSPITAL, &pack);
    assert_at(&err, "site.toml", &pack, "profile = \"tiff\"");
    assert!(err.contains("\"plain\""), "{err}");
    let pack = PACK.replace("infver", "infvr");
    let err = load_err(HOSPITAL, &pack);
    assert_at(&err, "site.toml", &pack, "infvr = \"V2.0\"");
}

#[test]
fn an_unknown_key_in_the_hospitals_file_is_shown_there_naming_the_pack() {
    let hospital = HOSPITAL.replace("infver =", "infvr = \"x\"\ninfver =");
    let err = load_err(&hospital, PACK);
    assert_at(&err, "yibao.toml", &hospital, "infvr = \"x\"");
    assert!(err.contains("site.toml"), "names the pack merged: {err}");
    // A key neither file sets is asked for at the hospital's table.
    let hospital = HOSPITAL.replace("tif_token = \"env:YIBAO_TEST_TIF_TOKEN\"\n", "");
    let err = load_err(&hospital, PACK);
    assert!(
        err.contains("tif_token") && err.contains("yibao.toml"),
        "{err}"
    );
    // Without [platform] at all, the pack's table lacks the token: the hospital's file is
    // named, and told where to add it.
    let hospital = HOSPITAL.replace("[platform]\ntif_token = \"env:YIBAO_TEST_TIF_TOKEN\"\n", "");
    let (_dir, config) = setup(&hospital, PACK, None);
    let err = Config::load(&config).unwrap_err();
    let ConfigError::Parse { path, message } = &err else {
        panic!("{err}");
    };
    assert!(path.ends_with("yibao.toml"), "{err}");
    assert!(
        message.contains("tif_token") && message.contains("[platform]"),
        "{err}"
    );
    // And a refused value of the merged config names the pack (it may be the pack's).
    let pack = PACK.replace("\"990100\"", "\"99\"");
    let err = load_err(HOSPITAL, &pack);
    assert!(
        err.contains("mdtrtarea_admvs") && err.contains("site.toml"),
        "{err}"
    );
}

#[test]
fn what_belongs_to_the_hospital_is_refused_in_a_pack_at_its_line() {
    let cases = [
        ("[site]\ndir = \"other\"\n", "[site]", "another pack"),
        ("[store]\npath = \"x.db\"\n", "[store]", "[store]"),
        ("[broker]\nworkers = 2\n", "[broker]", "[broker]"),
        ("[[schedule]]\nname = \"x\"\n", "[[schedule]]", "[schedule]"),
        (
            "[interfaces.2207]\nclass = \"read-only\"\n",
            "[interfaces.2207]",
            "catalog.toml",
        ),
    ];
    for (table, line, said) in cases {
        let pack = format!("{PACK}\n{table}");
        let err = load_err(HOSPITAL, &pack);
        assert_at(&err, "site.toml", &pack, line);
        assert!(err.contains(said), "{err}");
    }
    let pack = PACK.replace("validation =", "file = \"x.toml\"\nvalidation =");
    let err = load_err(HOSPITAL, &pack);
    assert_at(&err, "site.toml", &pack, "file = \"x.toml\"");
    let pack = PACK.replace("tif_paasid =", "tif_token = \"t\"\ntif_paasid =");
    let err = load_err(HOSPITAL, &pack);
    assert_at(&err, "site.toml", &pack, "tif_token = \"t\"");
    assert!(
        err.contains("platform.tif_token") && err.contains("密钥"),
        "{err}"
    );
    let pack = PACK.replace("tif_paasid =", "csb_access_key = \"ak\"\ntif_paasid =");
    let err = load_err(HOSPITAL, &pack);
    assert_at(&err, "site.toml", &pack, "csb_access_key = \"ak\"");
    let pack = format!("{PACK}\n[platform.headers]\nX-Key = \"k\"\n");
    let err = load_err(HOSPITAL, &pack);
    assert_at(&err, "site.toml", &pack, "[platform.headers]");
    let pack = format!("{PACK}\n[platform.sm]\napp_id = \"a\"\napp_secret = \"s\"\n");
    let err = load_err(HOSPITAL, &pack);
    assert_at(&err, "site.toml", &pack, "app_secret = \"s\"");
}

#[test]
fn a_missing_folder_or_fragment_is_named() {
    let err = load_err(&HOSPITAL.replace("\"pack\"", "\"no-such-pack\""), PACK);
    assert!(
        err.contains("no-such-pack") && err.contains("站点包"),
        "{err}"
    );
    let (dir, config) = setup(HOSPITAL, PACK, None);
    std::fs::remove_file(dir.path().join("pack").join(FRAGMENT)).unwrap();
    let err = Config::load(&config).unwrap_err();
    assert!(matches!(err, ConfigError::Site { .. }), "{err}");
    assert!(err.to_string().contains("site.toml"), "{err}");
    let (dir, config) = setup(HOSPITAL, "[platform\n", None);
    let err = Config::load(&config).unwrap_err().to_string();
    assert!(
        err.contains(&dir.path().join("pack").join(FRAGMENT).display().to_string()),
        "{err}"
    );
}

#[test]
fn the_packs_catalog_comes_before_the_hospitals_file() {
    let pack_catalog = "catalog_version = \"2026.1\"\n[interfaces.2207.fields]\n\
        \"data.pub_hosp_rfom_flag\" = { required = true, enum = [\"0\", \"1\"] }\n\
        \"data.invono\" = { required = true }\n";
    let hospital = HOSPITAL.replace(
        "[institution]",
        "[catalog]\nfile = \"own.toml\"\n\n[institution]",
    );
    let (dir, config) = setup(&hospital, PACK, Some(pack_catalog));
    std::fs::write(
        dir.path().join("own.toml"),
        "[interfaces.2207.fields]\n\"data.invono\" = { max_len = 20 }\n",
    )
    .unwrap();
    let cfg = Config::load(&config).unwrap();
    let catalog = cfg.catalog().unwrap();
    assert_eq!(catalog.version(), "2026.11.1+site:pack@2026.1+site");
    assert_eq!(catalog.overlaid()[0].entries, 1);
    let input = serde_json::json!({"data": {"psn_no": "1"}});
    let paths: Vec<String> = catalog
        .validate("2207", &input)
        .0
        .into_iter()
        .map(|v| v.path)
        .collect();
    assert!(
        paths.iter().any(|p| p == "data.pub_hosp_rfom_flag"),
        "{paths:?}"
    );
    assert!(
        !paths.iter().any(|p| p == "data.invono"),
        "the hospital relaxed it: {paths:?}"
    );
    // A broken pack catalog is named with its path.
    std::fs::write(
        dir.path().join("pack").join(CATALOG),
        "[interfaces.2207]\nclas = 1\n",
    )
    .unwrap();
    let err = Config::load(&config).unwrap_err().to_string();
    assert!(
        err.contains("catalog.toml") && err.contains("clas"),
        "{err}"
    );
}

/// Every secret (and credential) a config can hold under `[platform]` is one a pack is
/// refused: each profile's keys and a header, all set to one marker, found in the written
/// table.
#[test]
fn every_platform_secret_is_refused_in_a_pack() {
    use super::super::{ApikeyConfig, CsbConfig, PlatformSection, TifConfig};
    let marker = "SECRET-marker";
    let mut sm = yibao_core::sm::SmConfig::new("APP", marker, marker, "file:p.pem");
    sm.sm4_key = Some(marker.into());
    let profiles = [
        ProfileConfig::Tif(TifConfig {
            paasid: "p".into(),
            token: marker.into(),
            service_id: None,
        }),
        ProfileConfig::Sm(Box::new(sm)),
        ProfileConfig::Csb(CsbConfig {
            api_name: "api".into(),
            api_version: "1.0.0".into(),
            access_key: marker.into(),
            secret_key: marker.into(),
            nonce: true,
        }),
        ProfileConfig::Apikey(ApikeyConfig {
            header: "X-Key".into(),
            key: marker.into(),
        }),
    ];
    let mut found = Vec::new();
    for profile in profiles {
        let mut platform = PlatformSection::new("http://x/", profile);
        platform.headers.insert("X-Extra".into(), marker.into());
        platform.cainfo = Some(yibao_core::cainfo::CainfoConfig::new(
            yibao_core::cainfo::CainfoMode::Sm4,
            Some(marker.into()),
        ));
        let table = toml::Table::try_from(&platform).unwrap();
        collect(
            &table,
            &mut vec!["platform".to_string()],
            marker,
            &mut found,
        );
    }
    assert!(found.len() >= 12, "{found:?}");
    for path in found {
        assert!(
            SECRET_KEYS.iter().any(|k| {
                let k = k.join(".");
                path == k || path.starts_with(&format!("{k}."))
            }),
            "{path} missing from SECRET_KEYS"
        );
    }
}

fn collect(table: &toml::Table, at: &mut Vec<String>, marker: &str, out: &mut Vec<String>) {
    for (key, value) in table {
        at.push(key.clone());
        match value {
            toml::Value::Table(t) => collect(t, at, marker, out),
            toml::Value::String(s) if s == marker => out.push(at.join(".")),
            _ => {}
        }
        at.pop();
    }
}

/// The example pack shipped in `sites/` loads under the hospital file its README shows: what
/// the README says the hospital must set is all it needs.
#[test]
fn the_shipped_example_pack_loads_under_its_readmes_hospital_file() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sites/example-province");
    let readme = std::fs::read_to_string(shipped.join("README.md")).unwrap();
    let block = readme
        .split("```toml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the README shows the hospital's file");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("yibao.toml");
    let hospital = block.replace(
        "dir = \"sites/example-province\"",
        &format!("dir = '{}'", shipped.display()),
    );
    assert_ne!(hospital, block);
    std::fs::write(&config, &hospital).unwrap();
    let cfg = Config::load(&config).unwrap();
    assert_eq!(cfg.site.as_ref().unwrap().name(), "example-province");
    assert_eq!(cfg.institution.mdtrtarea_admvs, "990000");
    let ProfileConfig::Csb(csb) = &cfg.platform.profile else {
        panic!("the pack's csb: {:?}", cfg.platform.profile);
    };
    assert_eq!(
        (csb.api_name.as_str(), csb.api_version.as_str()),
        ("hssServives", "2.0.0")
    );
    assert_eq!(csb.access_key, "AK…", "the hospital's own");
    let catalog = cfg.catalog().unwrap();
    assert_eq!(catalog.version(), "2026.11.1+site:example-province@2026.1");
    assert_eq!(catalog.overlaid()[0].entries, 1);
}
