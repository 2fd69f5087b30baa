//! Catalog downloads — 1301 西药中成药目录下载 and its kin. The platform answers
//! `{"data": {"ver": …}}` with a `file_qury_no` (`{"file_qury_no", "filename": "plc",
//! "dld_endtime"}`), and the catalog itself comes through 9102: a ZIP archive holding one
//! entry, `<file_qury_no>.txt`, UTF-8 text, one row per line ended by "\n" (no "\r"), fields
//! separated by tabs, no header. `catalog_rows` lists each interface's columns.
//!
//! The simulator owns one generated catalog per interface: N rows (1301: 12,000, the others
//! 500) spread over K versions (5), oldest first, named `yyyyMMdd-NNN` from 2026-11-01 on
//! (`20261101-001`, `20261102-002`, …) so that names sort as versions do. The LAST field of
//! every row is its version name. `ver` "0" or empty gets every row; any other `ver` only
//! the rows of the versions whose name sorts after it — the incremental download a HIS runs
//! each day with the newest version it holds.
//!
//! Sizes are set at start with `--catalog-rows 1301=12000,1302=500:3` (rows, optionally
//! `:versions`) and at run time with `POST /__mock/catalog`:
//! ```json
//! {"infno": "1301", "rows": 12000, "versions": 5}
//! {"infno": "1301", "add_rows": 300}
//! ```
//! The first re-spreads the catalog; the second publishes one newer version of 300 new rows
//! and leaves every older row as it was (what a HIS sees the day after a catalog update).
//! Both answer what `GET /__mock/catalog` lists per interface: rows, columns and versions.
//!
//! Only the file downloads are generated: 1301–1303, 1305–1311, 1313–1315. 1304, 1312 and
//! 1316–1319 are paged queries on the platform (JSON lists, not files) and keep the generic
//! answer.
//!
//! `ver_name` as the last field is this simulator's contract with our tests (a loader can
//! take a row's version without knowing the layout). The platform's own files do not
//! promise it: some provinces' 1301 and 1302 files carry more columns after `ver_name`, so a
//! loader for the real platform should find the column by the interface's layout.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use yibao_core::RequestEnvelope;

use crate::catalog_rows;
use crate::checks::required;
use crate::files;
use crate::state::{lock, MockState};

/// The interfaces answered with a generated catalog file.
pub const FILE_CATALOGS: &[&str] = &[
    "1301", "1302", "1303", "1305", "1306", "1307", "1308", "1309", "1310", "1311", "1313", "1314",
    "1315",
];

/// Versions of a catalog unless told otherwise.
pub const DEFAULT_VERSIONS: usize = 5;
/// Bounds that keep one download in memory comfortably.
const MAX_ROWS: usize = 2_000_000;
const MAX_VERSIONS: usize = 999;
/// The `filename` a catalog download answers.
const FILENAME: &str = "plc";

pub fn serves(infno: &str) -> bool {
    FILE_CATALOGS.contains(&infno)
}

fn default_rows(infno: &str) -> usize {
    if infno == "1301" {
        12_000
    } else {
        500
    }
}

/// How big one generated catalog is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogSize {
    pub rows: usize,
    pub versions: usize,
}

impl CatalogSize {
    fn check(&self, infno: &str) -> Result<(), String> {
        if !serves(infno) {
            return Err(format!(
                "{infno} 不是目录下载接口（可用：{}） / not a catalog download",
                FILE_CATALOGS.join("、")
            ));
        }
        if self.rows > MAX_ROWS {
            return Err(format!(
                "{infno} 行数不能超过 {MAX_ROWS} / at most {MAX_ROWS} rows"
            ));
        }
        if self.versions == 0 || self.versions > MAX_VERSIONS || self.versions > self.rows.max(1) {
            return Err(format!(
                "{infno} 版本数应在 1 到 {MAX_VERSIONS} 之间且不多于行数 / versions must be 1..{MAX_VERSIONS} and no more than the rows"
            ));
        }
        Ok(())
    }

    /// Rows per version, oldest first: as even as can be, the older versions taking the
    /// remainder. Out-of-range sizes (from a config built in code) are clamped.
    fn spread(self) -> Vec<usize> {
        let rows = self.rows.min(MAX_ROWS);
        let k = self.versions.clamp(1, MAX_VERSIONS);
        (0..k)
            .map(|v| rows / k + usize::from(v < rows % k))
            .collect()
    }
}

/// One version of a catalog, as `GET /__mock/catalog` lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VersionInfo {
    pub ver_name: String,
    pub rows: usize,
}

/// One catalog, as `GET /__mock/catalog` lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CatalogInfo {
    pub infno: String,
    pub rows: usize,
    pub columns: Vec<String>,
    /// Oldest first.
    pub versions: Vec<VersionInfo>,
}

/// `POST /__mock/catalog`: either a new size (`rows` and/or `versions`; the one left out
/// stays) or `add_rows`, one newer version of that many new rows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogControl {
    pub infno: String,
    #[serde(default)]
    pub rows: Option<usize>,
    #[serde(default)]
    pub versions: Option<usize>,
    #[serde(default)]
    pub add_rows: Option<usize>,
}

/// Rows per version of every generated catalog.
#[derive(Debug)]
pub struct Catalogs {
    counts: BTreeMap<String, Vec<usize>>,
}

impl Catalogs {
    /// The defaults, with `sizes` (`--catalog-rows`) laid over them.
    pub fn new(sizes: &BTreeMap<String, CatalogSize>) -> Self {
        let counts = FILE_CATALOGS
            .iter()
            .map(|infno| {
                let size = sizes.get(*infno).copied().unwrap_or(CatalogSize {
                    rows: default_rows(infno),
                    versions: DEFAULT_VERSIONS,
                });
                (infno.to_string(), size.spread())
            })
            .collect();
        Self { counts }
    }

    fn counts(&self, infno: &str) -> Vec<usize> {
        self.counts.get(infno).cloned().unwrap_or_default()
    }

    pub fn info(&self, infno: &str) -> CatalogInfo {
        let counts = self.counts(infno);
        CatalogInfo {
            infno: infno.to_string(),
            rows: counts.iter().sum(),
            columns: catalog_rows::columns(infno)
                .iter()
                .map(|c| c.to_string())
                .collect(),
            versions: counts
                .iter()
                .enumerate()
                .map(|(v, &rows)| VersionInfo {
                    ver_name: version_name(v),
                    rows,
                })
                .collect(),
        }
    }

    pub fn apply(&mut self, c: &CatalogControl) -> Result<CatalogInfo, String> {
        let current = self.counts(&c.infno);
        let rows: usize = current.iter().sum();
        let next = match (c.add_rows, c.rows, c.versions) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err("add_rows 不能与 rows、versions 同时给出 / add_rows goes alone".into())
            }
            (Some(add), None, None) => {
                let size = CatalogSize {
                    rows: rows + add,
                    versions: current.len() + 1,
                };
                if add == 0 {
                    return Err("add_rows 应大于 0 / add_rows must be positive".into());
                }
                size.check(&c.infno)?;
                let mut counts = current;
                counts.push(add);
                counts
            }
            (None, None, None) => {
                return Err("请给出 rows、versions 或 add_rows / nothing to change".into())
            }
            (None, new_rows, new_versions) => {
                let rows = new_rows.unwrap_or(rows);
                let versions = new_versions.unwrap_or(current.len().min(rows.max(1)).max(1));
                let size = CatalogSize { rows, versions };
                size.check(&c.infno)?;
                size.spread()
            }
        };
        self.counts.insert(c.infno.clone(), next);
        Ok(self.info(&c.infno))
    }
}

/// Version `v`'s name (0-based): `yyyyMMdd-NNN`, one day apart from 2026-11-01, so names
/// sort as versions do.
pub fn version_name(v: usize) -> String {
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 1)
        .and_then(|d| d.checked_add_days(chrono::Days::new(v as u64)))
        .map_or_else(
            || "99991231".to_string(),
            |d| d.format("%Y%m%d").to_string(),
        );
    format!("{day}-{:03}", v + 1)
}

/// The text of a download: every row of the versions whose name sorts after `after` (all
/// rows without it).
pub fn text(infno: &str, counts: &[usize], after: Option<&str>) -> String {
    let wanted: usize = counts.iter().sum();
    let mut out = String::with_capacity(wanted.saturating_mul(256).min(1 << 30));
    let mut start = 0;
    for (v, &n) in counts.iter().enumerate() {
        let name = version_name(v);
        if after.is_none_or(|after| name.as_str() > after) {
            for i in start..start + n {
                catalog_rows::write_row(infno, i, &name, &mut out);
            }
        }
        start += n;
    }
    out
}

/// 1301…: generates the rows newer than `data.ver`, keeps them zipped for 9102 and answers
/// where to fetch them.
pub fn download(state: &MockState, e: &RequestEnvelope) -> Result<Value, String> {
    let d = required(&e.input, "data", &[])?;
    let ver = match d.get("ver") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err("data.ver 版本号应为字符串".into()),
    };
    let after = (!ver.is_empty() && ver != "0").then_some(ver.as_str());
    let counts = lock(&state.catalogs).counts(&e.infno);
    let text = text(&e.infno, &counts, after);
    let no = files::next_no(state);
    let zipped = files::zip_one(&format!("{no}.txt"), text.as_bytes())?;
    Ok(files::keep(state, no, &e.infno, FILENAME, zipped))
}

/// `--catalog-rows`: `INFNO=ROWS[:VERSIONS]`, comma-separated (`1301=12000,1302=500:3`).
pub fn parse_sizes(s: &str) -> Result<BTreeMap<String, CatalogSize>, String> {
    let mut sizes = BTreeMap::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let bad = || {
            format!("“{item}” 应为 接口号=行数[:版本数]，如 1301=12000:5 / expected INFNO=ROWS[:VERSIONS]")
        };
        let (infno, size) = item.split_once('=').ok_or_else(bad)?;
        let (rows, versions) = match size.split_once(':') {
            Some((r, v)) => (r, Some(v)),
            None => (size, None),
        };
        let rows: usize = rows.trim().parse().map_err(|_| bad())?;
        let versions = match versions {
            Some(v) => v.trim().parse().map_err(|_| bad())?,
            None => DEFAULT_VERSIONS.min(rows.max(1)),
        };
        let infno = infno.trim().to_string();
        let size = CatalogSize { rows, versions };
        size.check(&infno)?;
        sizes.insert(infno, size);
    }
    Ok(sizes)
}

/// `GET /__mock/catalog`: every generated catalog.
pub async fn list(State(state): State<Arc<MockState>>) -> Json<Vec<CatalogInfo>> {
    let catalogs = lock(&state.catalogs);
    Json(FILE_CATALOGS.iter().map(|i| catalogs.info(i)).collect())
}

/// `POST /__mock/catalog`: resize a catalog or publish a newer version.
pub async fn set(State(state): State<Arc<MockState>>, Json(c): Json<CatalogControl>) -> Response {
    match lock(&state.catalogs).apply(&c) {
        Ok(info) => Json(info).into_response(),
        Err(msg) => (StatusCode::BAD_REQUEST, msg).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_and_split_the_rows() {
        let names: Vec<String> = (0..12).map(version_name).collect();
        assert_eq!(names[0], "20261101-001");
        assert_eq!(names[1], "20261102-002");
        assert!(names.windows(2).all(|w| w[0] < w[1]));
        let counts = CatalogSize {
            rows: 12,
            versions: 5,
        }
        .spread();
        assert_eq!(counts, [3, 3, 2, 2, 2]);
        let all = text("1302", &counts, None);
        assert_eq!(all.lines().count(), 12);
        let newer = text("1302", &counts, Some(&names[3]));
        assert_eq!(newer.lines().count(), 2);
        assert!(newer.lines().all(|l| l.ends_with(&names[4])));
        assert!(text("1302", &counts, Some(&names[4])).is_empty());
        assert!(all.starts_with("T000000000001\t黄芪（测试 1）\t"), "{all}");
    }

    #[test]
    fn sizes_from_the_command_line() {
        let s = parse_sizes("1301=12000, 1302=500:3,1305=2").unwrap();
        assert_eq!(
            s["1301"],
            CatalogSize {
                rows: 12000,
                versions: 5
            }
        );
        assert_eq!(
            s["1302"],
            CatalogSize {
                rows: 500,
                versions: 3
            }
        );
        assert_eq!(
            s["1305"],
            CatalogSize {
                rows: 2,
                versions: 2
            }
        );
        for bad in [
            "1301",
            "1301=x",
            "1301=10:0",
            "1301=2:3",
            "9999=10",
            "1312=10",
        ] {
            let err = parse_sizes(bad).unwrap_err();
            assert!(yibao_core::wording::defect(&err).is_none(), "{err}");
        }
    }

    #[test]
    fn add_rows_keeps_the_old_versions() {
        let mut c = Catalogs::new(&BTreeMap::new());
        let before = c.info("1305");
        let control = |rows, versions, add_rows| CatalogControl {
            infno: "1305".into(),
            rows,
            versions,
            add_rows,
        };
        let after = c.apply(&control(None, None, Some(7))).unwrap();
        assert_eq!(after.rows, before.rows + 7);
        assert_eq!(after.versions[..before.versions.len()], before.versions[..]);
        assert_eq!(after.versions.last().unwrap().rows, 7);
        let resized = c.apply(&control(Some(10), None, None)).unwrap();
        assert_eq!(resized.versions.len(), 6);
        assert_eq!(resized.rows, 10);
        assert!(c.apply(&control(Some(1), None, Some(1))).is_err());
        assert!(c.apply(&control(None, None, None)).is_err());
        assert!(c.apply(&control(None, Some(0), None)).is_err());
    }
}
