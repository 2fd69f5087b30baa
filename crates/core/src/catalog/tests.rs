//! The catalog as shipped and as a site changes it.
use super::*;

#[test]
fn required_entries_exist_with_classes() {
    let c = Catalog::builtin();
    for code in [
        "9001", "9002", "1101", "2201", "2202", "2203", "2204", "2205", "2206", "2207", "2208",
        "2601", "5201",
    ] {
        assert!(c.get(code).known, "{code} missing");
    }
    assert_eq!(c.get("1101").class, InterfaceClass::ReadOnly);
    assert_eq!(c.get("2207").class, InterfaceClass::StateChanging);
    assert!(c.get("2207").reversible);
    assert!(!c.get("9001").needs_sign_no);
    assert!(c.get("1101").needs_sign_no);
}

#[test]
fn unknown_codes_are_state_changing() {
    let i = Catalog::builtin().get("8888");
    assert!(!i.known);
    assert_eq!(i.class, InterfaceClass::StateChanging);
}

#[test]
fn overrides_change_and_extend() {
    let mut o = HashMap::new();
    o.insert(
        "2207".to_string(),
        InterfaceOverride {
            reversible: Some(false),
            ..Default::default()
        },
    );
    o.insert(
        "7001".to_string(),
        InterfaceOverride {
            name: Some("省内自定义查询".into()),
            class: Some(InterfaceClass::ReadOnly),
            ..Default::default()
        },
    );
    let c = Catalog::builtin().with_overrides(&o);
    assert!(!c.get("2207").reversible);
    let x = c.get("7001");
    assert!(x.known);
    assert_eq!(x.class, InterfaceClass::ReadOnly);
    assert_eq!(x.name, "省内自定义查询");
}

#[test]
fn well_formed_codes() {
    assert!(Catalog::is_well_formed("2206A"));
    assert!(!Catalog::is_well_formed(""));
    assert!(!Catalog::is_well_formed("22 07"));
    assert!(!Catalog::is_well_formed("1101;drop"));
}

use serde_json::json;

fn good_2207() -> Value {
    json!({"data": {"psn_no": "43000000000000000001", "mdtrt_cert_type": "02",
        "mdtrt_cert_no": "430102199003071234", "med_type": "11", "medfee_sumamt": 128.5,
        "psn_setlway": "01", "mdtrt_id": "M1", "chrg_bchno": "C1", "insutype": "310",
        "acct_used_flag": "1"}})
}

#[test]
fn the_issue_codes_are_covered_with_sources() {
    let c = Catalog::builtin();
    let mut codes = vec![
        "1101", "1201", "2601", "3101", "3102", "3201", "3202", "4101A",
    ];
    codes.extend([
        "5201", "5203", "5204", "5205", "9001", "9002", "9101", "9102",
    ]);
    codes.extend([
        "2201", "2202", "2203", "2204", "2205", "2206", "2207", "2208",
    ]);
    codes.extend(["2301", "2302", "2303", "2304", "2305"]);
    codes.extend(["2401", "2402", "2403", "2404", "2405"]);
    for code in codes {
        assert!(c.get(code).known, "{code} missing");
        assert!(
            c.source(code).is_some_and(|s| !s.is_empty()),
            "{code} has no source"
        );
    }
    assert!(!c.version().is_empty());
}

#[test]
fn a_good_2207_passes_and_a_bad_one_names_every_field() {
    let c = Catalog::builtin();
    assert!(
        c.validate("2207", &good_2207()).is_empty(),
        "{:?}",
        c.validate("2207", &good_2207())
    );
    let mut bad = good_2207();
    let d = bad["data"].as_object_mut().unwrap();
    d.remove("psn_no");
    d.insert("medfee_sumamt".into(), json!("12.345"));
    d.insert("mdtrt_cert_no".into(), json!("430102199003071235"));
    d.insert("acct_used_flag".into(), json!("Y"));
    d.insert("mdtrt_id".into(), json!("M".repeat(31)));
    let v = c.validate("2207", &bad);
    let paths: Vec<&str> = v.0.iter().map(|x| x.path.as_str()).collect();
    for p in [
        "data.psn_no",
        "data.medfee_sumamt",
        "data.mdtrt_cert_no",
        "data.acct_used_flag",
        "data.mdtrt_id",
    ] {
        assert!(paths.contains(&p), "{p} not named in {paths:?}");
    }
    assert_eq!(v.0.len(), 5, "{v:?}");
    let m = v.message("2207");
    assert!(
        m.contains("未发送") && m.contains("rejected before sending"),
        "{m}"
    );
    assert!(m.contains("人员编号") && m.contains("is required"), "{m}");
    assert_eq!(
        crate::wording::defect(&m),
        None,
        "each field named once: {m}"
    );
    assert!(
        !m.contains("430102199003071235"),
        "values stay out of messages: {m}"
    );
}

/// The seed's own 1101 example puts `psn_no` at the top level: the first problem named is
/// the shape, with the node and fields expected and where to read about it.
#[test]
fn a_wrong_shape_names_the_expected_nodes() {
    let c = Catalog::builtin();
    let v = c.validate("1101", &json!({"psn_no": "430123199001011234"}));
    let first = &v.0[0];
    assert_eq!(first.path, "input", "{v:?}");
    let said = first.to_string();
    for want in [
        "psn_no",
        "data",
        "mdtrt_cert_type",
        "docs/catalog.md",
        "expected",
        "应为",
    ] {
        assert!(said.contains(want), "{want} not in {said}");
    }
    let m = v.message("1101");
    assert_eq!(crate::wording::defect(&m), None, "{m}");
    assert!(!m.contains("430123199001011234"), "values stay out: {m}");
    // The right node with a field missing gets no shape hint.
    let v = c.validate("1101", &json!({"data": {"mdtrt_cert_type": "02"}}));
    assert!(v.0.iter().all(|x| x.path != "input"), "{v:?}");
}

#[test]
fn conditional_rules_and_lists() {
    let c = Catalog::builtin();
    let mut card = good_2207();
    card["data"]["mdtrt_cert_type"] = json!("03");
    card["data"]["mdtrt_cert_no"] = json!("A1234567");
    let v = c.validate("2207", &card);
    assert_eq!(v.0.len(), 1, "{v:?}");
    assert_eq!(v.0[0].path, "data.card_sn");
    card["data"]["card_sn"] = json!("0123456789");
    assert!(c.validate("2207", &card).is_empty());

    let fee = |cnt: Value| {
        json!({"feedetail": [{"feedetl_sn": "1", "mdtrt_id": "M", "psn_no": "P",
        "chrg_bchno": "C", "rx_circ_flag": "0", "fee_ocur_time": "2026-11-24 09:00:00",
        "med_list_codg": "X", "medins_list_codg": "Y", "det_item_fee_sumamt": 1,
        "cnt": cnt, "pric": 1, "bilg_dept_codg": "D", "bilg_dept_name": "内科",
        "bilg_dr_codg": "R", "bilg_dr_name": "医生"}]})
    };
    assert!(c.validate("2204", &fee(json!(2))).is_empty());
    let mut two = fee(json!(2));
    let second = two["feedetail"][0].clone();
    two["feedetail"].as_array_mut().unwrap().push(second);
    two["feedetail"][1]["cnt"] = json!({"x": 1});
    let v = c.validate("2204", &two);
    assert_eq!(v.0.len(), 1, "{v:?}");
    assert_eq!(v.0[0].path, "feedetail[1].cnt");
    let v = c.validate("2204", &json!({"feedetail": []}));
    assert_eq!(v.0[0].path, "feedetail", "{v:?}");
    let v = c.validate("2204", &json!({"data": {}}));
    assert_eq!(
        v.0[0].path, "input",
        "the wrong shape is named first: {v:?}"
    );
    assert!(
        v.0.iter()
            .any(|x| x.path == "feedetail" && x.zh == "节点缺失"),
        "{v:?}"
    );
    assert_eq!(c.psn_no("2204", &fee(json!(1))).as_deref(), Some("P"));
    assert_eq!(
        c.psn_no("2207", &good_2207()).as_deref(),
        Some("43000000000000000001")
    );
}

#[test]
fn output_values_of_a_2207_reply() {
    let c = Catalog::builtin();
    let out = json!({"setlinfo": {"setl_id": "S1", "medfee_sumamt": 128.5, "fund_pay_sumamt": 89.95,
        "acct_pay": 19.28, "psn_cash_pay": 19.27}, "setldetail": []});
    let got = c.output_values("2207", &out);
    let find = |p: &str| got.iter().find(|v| v.path == p).map(|v| v.value.clone());
    assert_eq!(find("setlinfo.setl_id").as_deref(), Some("S1"));
    assert_eq!(find("setlinfo.fund_pay_sumamt").as_deref(), Some("89.95"));
    assert_eq!(find("setlinfo.psn_cash_pay").as_deref(), Some("19.27"));
}

/// Rule: the paged catalog queries (1304, 1312, 1316–1319) require only what the
/// specification marks "Y" (updt_time, page_num, page_size), take a date with or without
/// its time, and write each row of the page plus the paging counts.
#[test]
fn paged_catalog_queries_require_the_paging_and_list_their_rows() {
    let c = Catalog::builtin();
    for code in ["1304", "1312", "1316", "1317", "1318", "1319"] {
        assert_eq!(c.get(code).class, InterfaceClass::ReadOnly, "{code}");
        assert!(c.source(code).is_some_and(|s| s.contains(code)), "{code}");
        let good = json!({"data": {"updt_time": "2024-01-01", "page_num": 1, "page_size": "100"}});
        let v = c.validate(code, &good);
        assert!(v.is_empty(), "{code}: {v:?}");
        let timed = json!({"data": {"updt_time": "2024-01-01 08:00:00", "page_num": 2,
            "page_size": 50, "vali_flag": "1", "query_date": ""}});
        let v = c.validate(code, &timed);
        assert!(v.is_empty(), "{code}: {v:?}");
        let v = c.validate(code, &json!({"data": {"page_num": 1.5, "vali_flag": "2"}}));
        let mut paths: Vec<&str> = v.0.iter().map(|x| x.path.as_str()).collect();
        paths.sort_unstable();
        assert_eq!(
            paths,
            [
                "data.page_num",
                "data.page_size",
                "data.updt_time",
                "data.vali_flag"
            ],
            "{code}: {v:?}"
        );
    }
    let v = c.validate(
        "1312",
        &json!({"data": {"updt_time": "2024-01-01", "page_num": 1,
        "page_size": 10, "insu_admdvs": "4301", "hilist_code": "X".repeat(31)}}),
    );
    assert_eq!(v.0.len(), 2, "{v:?}");
    let out = json!({"recordCounts": 2, "pages": 1, "pageNum": 1, "data": [
        {"hilist_code": "A1", "hilist_lmtpric_type": "1", "hilist_pric_uplmt_amt": 12.5},
        {"hilist_code": "A2", "hilist_lmtpric_type": "2", "hilist_pric_uplmt_amt": 3}]});
    let got = c.output_values("1318", &out);
    let at = |p: &str, i: u32| {
        got.iter()
            .find(|v| v.path == p && v.row_index == i)
            .map(|v| v.value.clone())
    };
    assert_eq!(at("data[*].hilist_code", 1).as_deref(), Some("A2"));
    assert_eq!(
        at("data[*].hilist_pric_uplmt_amt", 0).as_deref(),
        Some("12.5")
    );
    assert_eq!(at("recordCounts", 0).as_deref(), Some("2"));
}

#[test]
fn a_site_file_overrides_and_extends() {
    let dir = std::env::temp_dir().join(format!("yibao-cat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let site = dir.join("site.toml");
    std::fs::write(
        &site,
        r#"
catalog_version = "site-1"
[interfaces.2207]
output = ["setlinfo.setl_id"]
[interfaces.2207.fields]
"data.invono" = { required = true, max_len = 20, label = "发票号" }
"data.med_type" = { required = true, enum = ["11", "14"] }
[interfaces.7001]
name = "省内自定义查询"
class = "read-only"
input = ["data"]
[interfaces.7001.fields]
"data.code" = { required = true, pattern = "[A-Z]{2}[0-9]{4}" }
"#,
    )
    .unwrap();
    let c = Catalog::load(&[Overlay::new("site", &site)]).unwrap();
    assert_eq!(c.version(), "2026.11.1+site@site-1");
    let v = c.validate("2207", &good_2207());
    assert_eq!(v.0.len(), 1, "{v:?}");
    assert_eq!(v.0[0].path, "data.invono");
    let mut g = good_2207();
    g["data"]["invono"] = json!("F1");
    g["data"]["med_type"] = json!("21");
    assert_eq!(c.validate("2207", &g).0[0].path, "data.med_type");
    assert_eq!(c.output_paths("2207").len(), 1);
    // Untouched shipped rules stay.
    assert!(c.get("2207").reversible);
    let x = c.get("7001");
    assert_eq!(x.class, InterfaceClass::ReadOnly);
    assert!(c
        .validate("7001", &json!({"data": {"code": "AB1234"}}))
        .is_empty());
    assert_eq!(
        c.validate("7001", &json!({"data": {"code": "ab1234x"}}))
            .0
            .len(),
        1
    );

    std::fs::write(
        &site,
        "[interfaces.2207.fields]\n\"data.x\" = { pattern = \"(\" }\n",
    )
    .unwrap();
    let e = Catalog::load(&[Overlay::new("site", &site)])
        .unwrap_err()
        .to_string();
    assert!(e.contains("2207") && e.contains("pattern"), "{e}");
    std::fs::write(&site, "[interfaces.2207]\nclas = \"read-only\"\n").unwrap();
    let e = Catalog::load(&[Overlay::new("site", &site)])
        .unwrap_err()
        .to_string();
    assert!(e.contains("clas"), "{e}");
    std::fs::write(&site, "[interfaces.2207]\noutput = [\"a[*].b[*].c\"]\n").unwrap();
    assert!(Catalog::load(&[Overlay::new("site", &site)]).is_err());
    let e = Catalog::load(&[Overlay::new("site", dir.join("missing.toml"))])
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.toml"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A site pack's catalog, then the hospital's own file: each over the ones before, the
/// version naming both, and what each brought counted for `check-config`.
#[test]
fn overlays_are_laid_in_order_and_named_in_the_version() {
    let dir = std::env::temp_dir().join(format!("yibao-overlays-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pack = dir.join("catalog.toml");
    let own = dir.join("site.toml");
    std::fs::write(
        &pack,
        "catalog_version = \"2026.1\"\n[interfaces.2207.fields]\n\
         \"data.invono\" = { required = true, label = \"发票号\" }\n\
         \"data.med_type\" = { required = true, enum = [\"11\"] }\n\
         [interfaces.7001]\nname = \"省内查询\"\nclass = \"read-only\"\n",
    )
    .unwrap();
    // The hospital relaxes one of the pack's rules and leaves the other.
    std::fs::write(
        &own,
        "[interfaces.2207.fields]\n\"data.med_type\" = { required = true, max_len = 6 }\n",
    )
    .unwrap();
    let c = Catalog::load(&[
        Overlay::new("site:example", &pack),
        Overlay::new("site", &own),
    ])
    .unwrap();
    assert_eq!(c.version(), "2026.11.1+site:example@2026.1+site");
    let counts: Vec<_> = c
        .overlaid()
        .iter()
        .map(|o| (o.label.as_str(), o.entries))
        .collect();
    assert_eq!(counts, [("site:example", 2), ("site", 1)]);
    let mut g = good_2207();
    g["data"]["med_type"] = json!("14");
    let v = c.validate("2207", &g);
    let paths: Vec<_> = v.0.iter().map(|v| v.path.as_str()).collect();
    assert_eq!(paths, ["data.invono"], "{v:?}");
    assert_eq!(c.get("7001").class, InterfaceClass::ReadOnly);
    assert!(Catalog::builtin().overlaid().is_empty());
    assert_eq!(Catalog::builtin().version(), "2026.11.1");
    std::fs::remove_dir_all(&dir).ok();
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    /// Any JSON at all, nested, with the catalog's own key names mixed in so the walk goes
    /// deep into the paths it knows.
    fn json() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("data".to_string()),
            Just("feedetail".to_string()),
            Just("mdtrt_cert_type".to_string()),
            Just("psn_no".to_string()),
            Just("medfee_sumamt".to_string()),
            Just("diseinfo".to_string()),
            "[a-z_]{1,8}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            ".{0,40}".prop_map(Value::from),
            Just(json!("03")),
            Just(json!("430102199003071234")),
        ];
        leaf.prop_recursive(4, 64, 8, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(key.clone(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn validation_and_extraction_accept_any_json(v in json()) {
            let c = Catalog::builtin();
            for code in c.codes() {
                let problems = c.validate(&code, &v);
                let _ = problems.message(&code);
                let _ = c.output_values(&code, &v);
                let _ = c.psn_no(&code, &v);
            }
        }
    }
}
