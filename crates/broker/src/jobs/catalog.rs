//! `catalog-download`: 1301…1315 → 9102 → the file's lines into
//! `medical_insurance_catalog_rows`, continuing from the version the table holds.
//!
//! The platform answers a catalog interface (`{"data": {"ver": V}}`, V = "0" the first
//! time) with a `file_qury_no`; the file itself, a zip of tab-separated text, comes from
//! 9102 (downloaded, unpacked and decoded to UTF-8 by [`crate::files`]). Each line is one
//! catalog item; the first field is its 医保目录编码 and the last its version name
//! (`ver_name`), the lines ordered oldest version first, so the last line's version is the
//! one to ask after next time (the incremental download every HIS runs daily).
//!
//! The load is a compare-and-set on the version the catalog held when the job started
//! (`Store::load_catalog`): two runs that started together cannot both add their rows, and
//! a job taken over after its broker died finds its own load already recorded (the
//! version row names the job) and does not add the rows twice.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use yibao_proto::{Overrides, RequestStatus, Response};
use yibao_store::{CatalogLoad, CatalogLoaded, CatalogRow, JobView};

use super::{Ending, Jobs};

pub const KIND: &str = "catalog-download";

/// The catalog interfaces that answer with a file (1304, 1312 and 1316–1319 are paged
/// queries answered in JSON).
const FILE_CATALOGS: &[&str] = &[
    "1301", "1302", "1303", "1305", "1306", "1307", "1308", "1309", "1310", "1311", "1313", "1314",
    "1315",
];
/// The longest version name accepted (the catalog's `data.ver` allows 30; room to spare).
const MAX_VER_LEN: usize = 64;
/// The most a step (one request, with its retries) may take.
const STEP_WAIT: Duration = Duration::from_secs(600);

/// A catalog-download job's parameters: `{"catalog": "1301", "ver_name": "…"}`;
/// `ver_name` (optional) asks for the changes after that version instead of after the one
/// the table holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub catalog: String,
    pub ver_name: Option<String>,
}

impl Params {
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let catalog = match v.get("catalog") {
            Some(Value::String(s)) => s.trim().to_string(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err("缺少目录接口号 catalog（如 1301）/ missing catalog (e.g. 1301)".into())
            }
        };
        if !FILE_CATALOGS.contains(&catalog.as_str()) {
            return Err(format!(
                "不支持下载的目录 / not a catalog download: {catalog} (1301–1303, 1305–1311, 1313–1315)"
            ));
        }
        let ver_name = match v.get("ver_name") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if valid_version(s.trim()) => Some(s.trim().to_string()),
            Some(other) => {
                return Err(format!(
                    "版本名称 ver_name 只能含字母、数字、点、下划线和连字符，最长 {MAX_VER_LEN} 个字符 / ver_name must be 1–{MAX_VER_LEN} letters, digits, '.', '_' or '-': {other}"
                ))
            }
        };
        Ok(Self { catalog, ver_name })
    }
}

/// What `sp_medical_insurance_catalog_download` also accepts, so a version name never
/// needs escaping in JSON or SQL.
fn valid_version(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_VER_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub async fn run(jobs: &Arc<Jobs>, job: &JobView, params: &Value) -> Ending {
    let p = Params::from_json(params)?;
    let queue = &jobs.worker.queue;
    let store = &queue.store;
    let held = queue
        .durably("catalog version", || store.catalog_version(&p.catalog))
        .await
        .map_err(|e| e.to_string())?;
    if let Some(h) = held.as_ref().filter(|h| h.job_id == Some(job.job_id)) {
        // This job loaded its rows before its broker stopped; only its end was lost.
        return Ok(json!({
            "catalog": p.catalog, "ver_name": h.ver_name, "rows": 0, "total": h.row_count,
            "note": "已由本任务先前的运行写入 / loaded by an earlier run of this job",
        }));
    }
    let held_ver = held.map(|h| h.ver_name);
    // A version of the caller's is taken only where it cannot load rows twice: before the
    // first download, or the version held. Asking after an older one would add again the
    // rows of every version since.
    if let (Some(asked), Some(held)) = (&p.ver_name, &held_ver) {
        if asked != held {
            return Err(format!(
                "目录已有版本，只能从它之后增量下载；要重新全量下载，请先删除该目录在 medical_insurance_catalog_rows 与 …_versions 两表中的行 / the catalog already holds a version and continues after it; to download it all again, first delete its rows in both catalog tables (held {held}, asked {asked})"
            ));
        }
    }
    let from = p
        .ver_name
        .clone()
        .or_else(|| held_ver.clone())
        .unwrap_or_else(|| "0".into());

    let (list_id, file_request, file_id, content) = fetch(jobs, &p.catalog, &from).await?;
    let mut rows = parse(&content)?;
    drop(content);
    // Lines of the version already held are in the table (a platform that sends them again
    // must not make every daily run add them again).
    if let Some(held) = &held_ver {
        rows.retain(|r| &r.ver_name != held);
    }
    let to_ver = rows
        .last()
        .map(|r| r.ver_name.clone())
        .or_else(|| held_ver.clone())
        .unwrap_or_else(|| from.clone());
    let load = CatalogLoad {
        catalog_code: p.catalog.clone(),
        from_ver: held_ver,
        to_ver: to_ver.clone(),
        job_id: Some(job.job_id),
        rows,
    };
    let loaded = load_bounded(jobs, load).await?;
    match loaded {
        CatalogLoaded::Added { added, total } => Ok(json!({
            "catalog": p.catalog, "from_ver": from, "ver_name": to_ver, "rows": added,
            "total": total, "requests": [list_id, file_request], "file_id": file_id,
        })),
        // The load committed but its answer was lost, and the retry found it done.
        CatalogLoaded::Moved { .. } if loaded_by(jobs, &p.catalog, job.job_id).await => Ok(json!({
            "catalog": p.catalog, "from_ver": from, "ver_name": to_ver,
            "requests": [list_id, file_request], "file_id": file_id,
        })),
        CatalogLoaded::Moved { current } => Err(format!(
            "下载期间目录版本已被另一任务更新，本次未写入，请重新执行 / another job moved the catalog meanwhile; nothing was added, run it again (now {})",
            current.as_deref().unwrap_or("-")
        )),
    }
}

/// The catalog interface, then 9102 of its file: the two request ids, the file's id and its
/// text (UTF-8; GBK was converted when it was unpacked).
async fn fetch(
    jobs: &Arc<Jobs>,
    catalog: &str,
    from: &str,
) -> Result<(i64, i64, Value, String), String> {
    let (list_id, listing) = step(jobs, catalog, json!({"data": {"ver": from}})).await?;
    let out = &listing["output"];
    let file_qury_no = text(out, "file_qury_no").ok_or_else(|| {
        format!(
            "{catalog} 的应答没有 file_qury_no / no file_qury_no in the answer (request {list_id})"
        )
    })?;
    let filename = text(out, "filename").unwrap_or_else(|| "plc".into());
    let download = json!({"fsDownloadIn": {
        "file_qury_no": file_qury_no, "filename": filename, "fixmedins_code": jobs.fixmedins_code,
    }});
    let (file_request, file) = step(jobs, "9102", download).await?;
    let path = entry_path(&file["output"]).ok_or_else(|| {
        format!("下载的压缩包中没有文本文件 / the downloaded zip holds no text file (request {file_request})")
    })?;
    let content = tokio::fs::read(&path).await.map_err(|e| {
        format!("无法读取下载的目录文件 / cannot read the downloaded catalog {path}: {e}")
    })?;
    let content = String::from_utf8(content).map_err(|_| {
        format!(
            "目录文件既不是 UTF-8 也不是 GBK / the catalog file is neither UTF-8 nor GBK: {path}"
        )
    })?;
    Ok((
        list_id,
        file_request,
        file["output"]["file_id"].clone(),
        content,
    ))
}

/// Tries to load a few times: a store that is down for a moment is waited out, but a load
/// that fails every time (a timeout on a huge catalog) ends the job instead of holding it.
async fn load_bounded(jobs: &Arc<Jobs>, load: CatalogLoad) -> Result<CatalogLoaded, String> {
    const TRIES: u32 = 3;
    let load = Arc::new(load);
    let mut last = String::new();
    for n in 0..TRIES {
        if n > 0 {
            tokio::time::sleep(Duration::from_secs(2u64.pow(n))).await;
        }
        let store = &jobs.worker.queue.store;
        match store.load_catalog((*load).clone()).await {
            Ok(done) => return Ok(done),
            Err(e) => {
                tracing::warn!("catalog load failed (try {}): {e}", n + 1);
                last = e.to_string();
            }
        }
    }
    Err(last)
}

/// Whether the catalog's version row names this job (its load is in).
async fn loaded_by(jobs: &Arc<Jobs>, catalog: &str, job_id: i64) -> bool {
    matches!(
        jobs.worker.queue.store.catalog_version(catalog).await,
        Ok(Some(v)) if v.job_id == Some(job_id)
    )
}

/// One request of the job, sent and waited for like any other; its id and response.
pub(super) async fn step(
    jobs: &Arc<Jobs>,
    code: &str,
    input: Value,
) -> Result<(i64, Value), String> {
    let r = jobs
        .worker
        .call(
            code.to_string(),
            input.to_string(),
            Overrides::default(),
            Some(STEP_WAIT),
        )
        .await;
    match r {
        Response::Outcome(o) if o.status == RequestStatus::Completed => {
            let v = o
                .response
                .as_deref()
                .and_then(|r| serde_json::from_str(r).ok())
                .unwrap_or(Value::Null);
            Ok((o.request_id, v))
        }
        Response::Outcome(o) => Err(format!(
            "{code} 请求未成功 / {code} did not complete (request {}, {}{}): {}",
            o.request_id,
            o.status,
            if o.timed_out { ", timed out" } else { "" },
            o.err_msg.as_deref().unwrap_or("-")
        )),
        Response::Error { message, .. } => Err(message),
        _ => Err(format!(
            "{code} 的应答无法识别 / {code}: unexpected answer from the broker"
        )),
    }
}

pub(super) fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The unpacked entry holding the catalog: the first `.txt`, else the only entry.
pub(super) fn entry_path(output: &Value) -> Option<String> {
    let entries = output.get("entries")?.as_array()?;
    let path = |e: &Value| e.get("path").and_then(Value::as_str).map(str::to_string);
    entries
        .iter()
        .find(|e| {
            e.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.to_ascii_lowercase().ends_with(".txt"))
        })
        .and_then(path)
        .or_else(|| match entries.as_slice() {
            [only] => path(only),
            _ => None,
        })
}

/// The longest item code or version name (the tables' columns hold 100 characters).
const MAX_KEY_CHARS: usize = 100;

/// The file's lines as catalog rows; blank lines are skipped. A line without an item code
/// or a version, with another number of fields than the first line, or with a stray CR
/// fails the job: loading part of a catalog, or a shifted one, would hide the damage.
pub fn parse(text: &str) -> Result<Vec<CatalogRow>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = Vec::new();
    let mut tabs = None;
    for (i, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let n = i + 1;
        let bad = |what: &str| format!("目录文件第 {n} 行{what} / catalog line {n} is malformed");
        let count = line.matches('\t').count();
        if line.contains('\r') {
            return Err(bad("含有回车符（不是 CRLF 换行）"));
        }
        if *tabs.get_or_insert(count) != count {
            return Err(bad("的字段数与第一行不同"));
        }
        let item_code = line.split('\t').next().unwrap_or("").trim();
        let ver_name = line.rsplit('\t').next().unwrap_or("").trim();
        if item_code.is_empty() || count == 0 || ver_name.is_empty() {
            return Err(bad("缺少目录编码或版本名称"));
        }
        if item_code.chars().count() > MAX_KEY_CHARS || ver_name.chars().count() > MAX_KEY_CHARS {
            return Err(bad("的目录编码或版本名称超过 100 个字符"));
        }
        rows.push(CatalogRow {
            ver_name: ver_name.to_string(),
            row_no: i64::try_from(n).unwrap_or(i64::MAX),
            item_code: item_code.to_string(),
            fields: line.to_string(),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_rows_with_code_and_version() {
        let rows =
            parse("\u{feff}XA01\t阿莫西林\t20261101-001\r\n\nXA02\t头孢\t20261102-002\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].item_code, "XA01");
        assert_eq!(rows[0].fields, "XA01\t阿莫西林\t20261101-001");
        assert_eq!(rows[1].row_no, 3);
        assert_eq!(rows[1].ver_name, "20261102-002");
        assert!(parse("XA01 no tabs\n").is_err());
        assert!(
            parse("XA01\tname\tv1\nXA02\tv1\n").is_err(),
            "a line short of a field"
        );
        assert!(
            parse("XA01\tname\tv1\rXA02\tname\tv1\n").is_err(),
            "CR-only line ends"
        );
        assert!(parse(&format!("XA01\tname\t{}\n", "v".repeat(101))).is_err());
        assert!(parse("\tname\tv1\n").is_err());
        assert!(parse("XA01\tname\t \n").is_err());
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn params_are_checked_before_the_job_is_recorded() {
        let ok = Params::from_json(&json!({"catalog": "1301", "ver_name": "20261101-001"}));
        assert_eq!(
            ok.unwrap(),
            Params {
                catalog: "1301".into(),
                ver_name: Some("20261101-001".into())
            }
        );
        assert!(Params::from_json(&json!({"catalog": 1302})).is_ok());
        assert!(Params::from_json(&json!({"catalog": "1304"})).is_err());
        assert!(Params::from_json(&json!({})).is_err());
        for bad in ["", "a b", "x\"y", "版本", &"9".repeat(65)] {
            assert!(
                Params::from_json(&json!({"catalog": "1301", "ver_name": bad})).is_err(),
                "{bad}"
            );
        }
    }
}
