//! A site pack end to end: a copy of the shipped example pack (示例省, a fictional province
//! behind a CSB gateway) under a config that sets only what the pack's README asks of the
//! hospital. The real broker signs with the pack's `csb` profile against the simulator
//! checking csb, the pack's 2207 rule stops a settlement without the province's field, the
//! envelope carries the pack's division, and `check-config` names the pack — or, when a pack
//! file is bad, that file and the line at fault.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use yibao::{person_input, settle_input, stdout, Env, Gateway, KeyIs, Options};

/// A copy of `sites/example-province` in `to` (tests may break the copy, never the original).
fn copy_example_pack(to: &Path) -> PathBuf {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("sites/example-province");
    let pack = to.join("example-province");
    std::fs::create_dir_all(&pack).unwrap();
    for entry in std::fs::read_dir(&shipped).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), pack.join(entry.file_name())).unwrap();
    }
    pack
}

/// The simulator checks csb with the hospital's keys; the broker's config names `pack`.
fn env_with_pack(pack: &Path) -> Env {
    Env::start_with(Options {
        gateway: Some((Gateway::Csb, KeyIs::Right)),
        site: Some(pack.to_path_buf()),
        ..Options::default()
    })
}

#[test]
fn the_example_pack_runs_calls_through_its_csb_gateway() {
    let packs = tempfile::tempdir().unwrap();
    let env = env_with_pack(&copy_example_pack(packs.path()));
    let config = std::fs::read_to_string(&env.config_path).unwrap();
    for left_to_the_pack in ["profile", "csb_api_name", "mdtrtarea_admvs"] {
        assert!(!config.contains(left_to_the_pack), "{config}");
    }

    let id = env.insert("1101", &person_input(1));
    let out = env.shim(&["run", &id.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    // The province's field, required by the pack's catalog.toml: stopped before sending.
    let id = env.insert("2207", &settle_input(1));
    env.shim(&["run", &id.to_string()]);
    let row = env.view(id);
    assert_eq!(row.status, "ERROR");
    let msg = row.err_msg.unwrap_or_default();
    assert!(
        msg.contains("data.pub_hosp_rfom_flag") && msg.contains("公立医院改革标志"),
        "{msg}"
    );
    assert_eq!(env.mock_count("2207"), 0);

    // With it the settlement completes, and the envelope carried the pack's division (the
    // simulator answers it as the clearing institution).
    let mut input: Value = serde_json::from_str(&settle_input(2)).unwrap();
    input["data"]["pub_hosp_rfom_flag"] = json!("1");
    let id = env.insert("2207", &input.to_string());
    let out = env.shim(&["run", &id.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let clr_optins: String = env
        .db()
        .query_row(
            "SELECT value FROM medical_insurance_response_fields \
             WHERE request_id = ?1 AND path = 'setlinfo.clr_optins'",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(clr_optins, "990000");
    assert_eq!(
        env.mock_stats()["rejected"],
        0,
        "every call passed the gateway"
    );

    let (ok, text) = env.check_config();
    assert!(ok, "{text}");
    for said in [
        "site pack: example-province",
        "profile = csb",
        "changes 1 interface",
        "+site:example-province@2026.1",
    ] {
        assert!(text.contains(said), "{said}: {text}");
    }
    assert!(!text.contains(yibao::CSB_SECRET_KEY), "{text}");
}

#[test]
fn check_config_names_a_bad_pack_file_and_its_line() {
    let packs = tempfile::tempdir().unwrap();
    let pack = copy_example_pack(packs.path());
    let env = env_with_pack(&pack);
    let fragment = pack.join("site.toml");
    let good = std::fs::read_to_string(&fragment).unwrap();

    let bad = good.replace(
        "csb_api_version =",
        "csb_api_versoin = \"2.0.0\"\ncsb_api_version =",
    );
    std::fs::write(&fragment, &bad).unwrap();
    let (ok, text) = env.check_config();
    assert!(!ok, "{text}");
    let line = 1 + bad
        .lines()
        .position(|l| l.starts_with("csb_api_versoin"))
        .unwrap();
    for said in [
        fragment.display().to_string(),
        format!("line {line}"),
        format!("{line} | csb_api_versoin"),
        "`csb_api_version`".to_string(),
    ] {
        assert!(text.contains(&said), "{said}: {text}");
    }

    // A secret written into the pack is refused there.
    std::fs::write(
        &fragment,
        good.replace("profile =", "csb_secret_key = \"s\"\nprofile ="),
    )
    .unwrap();
    let (ok, text) = env.check_config();
    assert!(!ok, "{text}");
    assert!(
        text.contains("site.toml") && text.contains("platform.csb_secret_key"),
        "{text}"
    );

    // A bad catalog.toml is named by its path.
    std::fs::write(&fragment, &good).unwrap();
    std::fs::write(pack.join("catalog.toml"), "[interfaces.2207]\nclas = 1\n").unwrap();
    let (ok, text) = env.check_config();
    assert!(!ok, "{text}");
    assert!(
        text.contains(&pack.join("catalog.toml").display().to_string()) && text.contains("clas"),
        "{text}"
    );

    // No site.toml at all.
    std::fs::remove_file(&fragment).unwrap();
    let (ok, text) = env.check_config();
    assert!(!ok, "{text}");
    assert!(
        text.contains("站点包") && text.contains("site.toml"),
        "{text}"
    );
}
