//! The librarian: catalog downloads (batch jobs: 1302 → 9102 → rows) under the same chaos
//! as the cashiers, while the platform publishes newer versions; and invariant 9, that a
//! catalog holds exactly the simulator's rows of the versions it says it holds, each once.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::Rng;
use serde_json::Value;

use crate::check::Violation;
use crate::ctx::Ctx;

/// The catalog the librarian downloads (500 rows by default: quick to load).
pub const CATALOG: &str = "1302";

/// Publishes a newer version now and then, and downloads the catalog through the shim.
pub fn librarian(ctx: &Ctx, mut rng: StdRng) {
    while ctx.running() {
        if rng.random_bool(0.3) {
            let rows = rng.random_range(1..=40);
            ctx.env().mock_post(
                "/__mock/catalog",
                &serde_json::json!({"infno": CATALOG, "add_rows": rows}),
            );
            ctx.ledger.event(format!(
                "librarian: the platform published {rows} new {CATALOG} rows"
            ));
        }
        let wait = rng.random_range(2..=20u64);
        let out = ctx.shim(
            ctx.pipe(&mut rng),
            &["catalog-download", CATALOG, "--wait", &wait.to_string()],
            None,
            Duration::from_secs(wait + 20),
        );
        ctx.ledger
            .count(format!("catalog-download {}", out.label()));
        if !ctx.sleep(Duration::from_millis(rng.random_range(500..4000))) {
            break;
        }
    }
}

/// Invariant 9 on the store at `db` against the simulator's catalog list (`GET
/// /__mock/catalog`): the rows of each version the catalog holds (up to the version in
/// `medical_insurance_catalog_versions`) are all there, none twice, none of a later one.
pub fn check_catalog(db: &Path, mock: &Value) -> rusqlite::Result<Vec<Violation>> {
    let c = rusqlite::Connection::open(db)?;
    let held: Option<String> = c
        .query_row(
            "SELECT ver_name FROM medical_insurance_catalog_versions WHERE catalog_code = ?1",
            [CATALOG],
            |r| r.get(0),
        )
        .ok();
    let mut st = c.prepare(
        "SELECT item_code, ver_name FROM medical_insurance_catalog_rows WHERE catalog_code = ?1",
    )?;
    let rows: Vec<(String, String)> = st
        .query_map([CATALOG], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(catalog_violations(held.as_deref(), &rows, mock))
}

/// The pure part of [`check_catalog`].
pub fn catalog_violations(
    held: Option<&str>,
    rows: &[(String, String)],
    mock: &Value,
) -> Vec<Violation> {
    let bad = |detail: String| Violation {
        invariant: 9,
        detail,
    };
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut per_version: BTreeMap<&str, usize> = BTreeMap::new();
    for (item, ver) in rows {
        if !seen.insert(item) {
            out.push(bad(format!("{CATALOG} item {item} loaded twice")));
        }
        *per_version.entry(ver.as_str()).or_default() += 1;
    }
    let versions: Vec<(String, usize)> = mock
        .as_array()
        .and_then(|all| all.iter().find(|c| c["infno"] == CATALOG))
        .and_then(|c| c["versions"].as_array())
        .map(|vs| {
            vs.iter()
                .map(|v| {
                    let name = v["ver_name"].as_str().unwrap_or_default().to_string();
                    (name, v["rows"].as_u64().unwrap_or(0) as usize)
                })
                .collect()
        })
        .unwrap_or_default();
    for (name, expected) in &versions {
        let got = per_version.get(name.as_str()).copied().unwrap_or(0);
        let should = match held {
            Some(h) if name.as_str() <= h => *expected,
            _ => 0,
        };
        if got != should {
            out.push(bad(format!(
                "{CATALOG} version {name}: {got} rows stored, {should} expected (held: {})",
                held.unwrap_or("none")
            )));
        }
    }
    for ver in per_version.keys() {
        if !versions.iter().any(|(n, _)| n == ver) {
            out.push(bad(format!(
                "{CATALOG} rows of a version the platform never had: {ver}"
            )));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mock() -> Value {
        json!([{"infno": "1302", "versions": [
            {"ver_name": "v1", "rows": 2}, {"ver_name": "v2", "rows": 1}, {"ver_name": "v3", "rows": 1}]}])
    }

    fn rows(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn a_catalog_holds_its_versions_once() {
        let whole = rows(&[("A", "v1"), ("B", "v1"), ("C", "v2")]);
        assert!(catalog_violations(Some("v2"), &whole, &mock()).is_empty());
        assert!(catalog_violations(None, &[], &mock()).is_empty());
        // A load applied twice, one missing, one of a version not held.
        let twice = rows(&[("A", "v1"), ("B", "v1"), ("C", "v2"), ("C", "v2")]);
        assert_eq!(catalog_violations(Some("v2"), &twice, &mock()).len(), 2);
        let missing = rows(&[("A", "v1"), ("C", "v2")]);
        assert_eq!(catalog_violations(Some("v2"), &missing, &mock()).len(), 1);
        let ahead = rows(&[("A", "v1"), ("B", "v1"), ("C", "v2"), ("D", "v3")]);
        assert_eq!(catalog_violations(Some("v2"), &ahead, &mock()).len(), 1);
        assert!(
            catalog_violations(Some("v9"), &rows(&[("X", "v9")]), &mock())
                .iter()
                .any(|v| v.detail.contains("never had"))
        );
    }
}
