//! 9101 文件上传 and 9102 文件下载: the files the simulator keeps, and how it hands them out.
//!
//! The platform's file interfaces are the one place its answer is not a JSON envelope: 9102
//! answers with the file's bytes (`application/octet-stream`), never sealed or signed, even
//! where every envelope is. Files come from two places — what a HIS uploads with 9101 (kept
//! byte for byte) and the ZIP archives of the catalog downloads (1301…, see `catalogs`) —
//! and each is found by its `file_qury_no` until its `dld_endtime` (one day).
//!
//! Tests read what arrived through `GET /__mock/files` (the list, with sizes and SHA-256)
//! and `GET /__mock/files/<file_qury_no>` (the bytes), so an upload can be compared with
//! what the HIS meant to send.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use chrono::{DateTime, Datelike, FixedOffset, Timelike};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use yibao_core::{time, RequestEnvelope};

use crate::checks::required;
use crate::state::{lock, stamp, MockState};

/// How long a file can be downloaded (the platform's `dld_endtime` is a day later).
const KEEP_HOURS: i64 = 24;

/// The most the simulator keeps in memory: past it the oldest files are forgotten (and 9102
/// says 文件不存在或已过期 for them), so a long soak run cannot grow without end.
const MAX_KEPT_BYTES: usize = 256 * 1024 * 1024;

/// One file the simulator can hand out.
#[derive(Debug, Clone)]
pub struct StoredFile {
    pub file_qury_no: String,
    pub filename: String,
    /// The interface that made it: `9101` for an upload, `1301`… for a catalog download.
    pub infno: String,
    pub bytes: Bytes,
    pub expires: DateTime<FixedOffset>,
}

/// A file as `GET /__mock/files` lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileInfo {
    pub file_qury_no: String,
    pub filename: String,
    pub infno: String,
    pub size: usize,
    /// SHA-256 of the bytes, lower-case hex.
    pub sha256: String,
    /// `yyyy-MM-dd HH:mm:ss`, Beijing time.
    pub dld_endtime: String,
}

/// The kept files, oldest first.
#[derive(Debug)]
pub struct Files {
    by_no: HashMap<String, Arc<StoredFile>>,
    order: VecDeque<String>,
    total: usize,
    limit: usize,
}

impl Default for Files {
    fn default() -> Self {
        Self::with_limit(MAX_KEPT_BYTES)
    }
}

impl Files {
    fn with_limit(limit: usize) -> Self {
        Self {
            by_no: HashMap::new(),
            order: VecDeque::new(),
            total: 0,
            limit,
        }
    }

    fn keep(&mut self, file: StoredFile) {
        self.total += file.bytes.len();
        self.order.push_back(file.file_qury_no.clone());
        self.by_no.insert(file.file_qury_no.clone(), Arc::new(file));
        while self.total > self.limit && self.order.len() > 1 {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(f) = self.by_no.remove(&oldest) {
                self.total -= f.bytes.len();
            }
        }
    }

    /// The file, if it is kept and not past its `dld_endtime`.
    pub fn get(&self, file_qury_no: &str) -> Option<Arc<StoredFile>> {
        self.by_no
            .get(file_qury_no)
            .filter(|f| time::now() <= f.expires)
            .cloned()
    }

    pub fn list(&self) -> Vec<FileInfo> {
        self.order
            .iter()
            .filter_map(|no| self.by_no.get(no))
            .map(|f| FileInfo {
                file_qury_no: f.file_qury_no.clone(),
                filename: f.filename.clone(),
                infno: f.infno.clone(),
                size: f.bytes.len(),
                sha256: hex::encode(Sha256::digest(&f.bytes)),
                dld_endtime: time::format_datetime(&f.expires),
            })
            .collect()
    }
}

/// A new `file_qury_no`: "F" + yyyyMMddHHmmss + 6 digits, 21 characters, unique within a
/// run (a catalog names its archive's entry after it before the file is kept).
pub fn next_no(state: &MockState) -> String {
    format!("F{}{:06}", stamp(), state.next_seq() % 1_000_000)
}

/// Keeps `bytes` under `file_qury_no` and returns the output 9101 and the catalog downloads
/// answer: `{"file_qury_no", "filename", "dld_endtime"}`.
pub fn keep(
    state: &MockState,
    file_qury_no: String,
    infno: &str,
    filename: &str,
    bytes: Vec<u8>,
) -> Value {
    let expires = time::now() + chrono::Duration::hours(KEEP_HOURS);
    let out = json!({
        "file_qury_no": file_qury_no,
        "filename": filename,
        "dld_endtime": time::format_datetime(&expires),
    });
    lock(&state.files).keep(StoredFile {
        file_qury_no,
        filename: filename.to_string(),
        infno: infno.to_string(),
        bytes: Bytes::from(bytes),
        expires,
    });
    out
}

/// 9101 文件上传: `input.fsUploadIn.in` holds the file (base64, or the JSON array a Java
/// `byte[]` becomes), kept as sent.
pub fn upload(state: &MockState, e: &RequestEnvelope) -> Result<Value, String> {
    let d = required(&e.input, "fsUploadIn", &["filename", "fixmedins_code"])?;
    same_institution(d, e)?;
    let bytes = file_bytes(d.get("in"))?;
    let filename = d
        .get("filename")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Ok(keep(state, next_no(state), "9101", filename, bytes))
}

/// 9102 文件下载: the bytes of a kept file, or the platform's error text.
pub fn download(state: &MockState, e: &RequestEnvelope) -> Result<Bytes, String> {
    let d = required(
        &e.input,
        "fsDownloadIn",
        &["file_qury_no", "filename", "fixmedins_code"],
    )?;
    same_institution(d, e)?;
    let no = d
        .get("file_qury_no")
        .and_then(Value::as_str)
        .unwrap_or_default();
    lock(&state.files)
        .get(no)
        .map(|f| f.bytes.clone())
        .ok_or_else(|| format!("文件查询号[{no}]对应的文件不存在或已过期"))
}

/// A file belongs to the institution that sends the envelope: the platform does not let
/// one hospital upload or fetch in another's name.
fn same_institution(d: &serde_json::Map<String, Value>, e: &RequestEnvelope) -> Result<(), String> {
    let code = d
        .get("fixmedins_code")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if code == e.fixmedins_code {
        Ok(())
    } else {
        Err(format!(
            "fixmedins_code {code} 与报文的定点医药机构编号 {} 不一致",
            e.fixmedins_code
        ))
    }
}

/// The bytes of `in`: a base64 string (line breaks, as MIME encoders write them, and
/// missing padding are accepted), or an array of byte values — 0..255, or -128..127 as a
/// Java `byte[]` serialises. An empty file is refused like a missing one.
pub fn file_bytes(v: Option<&Value>) -> Result<Vec<u8>, String> {
    let bytes = match v {
        None | Some(Value::Null) => return Err("fsUploadIn.in 文件数据不能为空".into()),
        Some(Value::String(s)) => {
            let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT
                .decode(compact.as_bytes())
                .map_err(|err| format!("fsUploadIn.in 不是合法的Base64编码：{err}"))?
        }
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, b)| match b.as_i64() {
                Some(n @ 0..=255) => Ok(n as u8),
                Some(n @ -128..=-1) => Ok((n + 256) as u8),
                _ => Err(format!("fsUploadIn.in 第{}个元素 {b} 不是字节值", i + 1)),
            })
            .collect::<Result<Vec<u8>, String>>()?,
        Some(_) => return Err("fsUploadIn.in 应为Base64字符串或字节数组".into()),
    };
    if bytes.is_empty() {
        return Err("fsUploadIn.in 文件数据不能为空".into());
    }
    Ok(bytes)
}

/// The input as the applied-log records it: for 9101 the file's bytes are replaced by their
/// size and SHA-256, so the log stays small and equal files still give equal entries.
pub fn logged_input(infno: &str, input: &Value) -> String {
    if infno != "9101" {
        return input.to_string();
    }
    let mut input = input.clone();
    if let Some(slot) = input.get_mut("fsUploadIn").and_then(|d| d.get_mut("in")) {
        if let Ok(bytes) = file_bytes(Some(slot)) {
            *slot = format!(
                "{} bytes, sha256 {}",
                bytes.len(),
                hex::encode(Sha256::digest(&bytes))
            )
            .into();
        }
    }
    input.to_string()
}

/// One ZIP archive holding one deflated entry, `name`, as the platform packs its catalog
/// files. Level 1: the archive is made for every download, and speed matters more here than
/// the last few percent of size.
pub fn zip_one(name: &str, content: &[u8]) -> Result<Vec<u8>, String> {
    let now = time::now();
    let stamp = zip::DateTime::from_date_and_time(
        u16::try_from(now.year()).unwrap_or(1980),
        now.month() as u8,
        now.day() as u8,
        now.hour() as u8,
        now.minute() as u8,
        now.second() as u8,
    )
    .unwrap_or_default();
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1))
        .last_modified_time(stamp);
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let fail = |e: &dyn std::fmt::Display| format!("生成目录文件失败：{e}");
    w.start_file(name, options).map_err(|e| fail(&e))?;
    w.write_all(content).map_err(|e| fail(&e))?;
    Ok(w.finish().map_err(|e| fail(&e))?.into_inner())
}

/// `GET /__mock/files`: every kept file, oldest first.
pub async fn list(State(state): State<Arc<MockState>>) -> Json<Vec<FileInfo>> {
    Json(lock(&state.files).list())
}

/// `GET /__mock/files/<file_qury_no>`: the bytes, as 9102 would send them.
pub async fn raw(State(state): State<Arc<MockState>>, Path(no): Path<String>) -> Response {
    match lock(&state.files).get(&no) {
        Some(f) => file_response(f.bytes.clone()),
        None => (
            StatusCode::NOT_FOUND,
            format!("文件不存在或已过期 / no such file: {no}"),
        )
            .into_response(),
    }
}

/// A file as the platform sends it: raw bytes with their length.
pub fn file_response(bytes: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_is_base64_or_bytes() {
        assert_eq!(file_bytes(Some(&json!("aGk="))).unwrap(), b"hi");
        assert_eq!(file_bytes(Some(&json!("aGk"))).unwrap(), b"hi");
        assert_eq!(file_bytes(Some(&json!("aG\r\nk="))).unwrap(), b"hi");
        assert_eq!(
            file_bytes(Some(&json!([0, 255, -1, -128, 127]))).unwrap(),
            [0, 255, 255, 128, 127]
        );
        for bad in [
            json!(null),
            json!(""),
            json!([]),
            json!("不是"),
            json!([256]),
            json!([-129]),
            json!([1.5]),
            json!({"a": 1}),
        ] {
            let err = file_bytes(Some(&bad)).unwrap_err();
            assert!(err.starts_with("fsUploadIn.in"), "{bad}: {err}");
        }
        assert!(file_bytes(None).is_err());
    }

    #[test]
    fn the_log_keeps_a_digest_not_the_file() {
        let logged = logged_input(
            "9101",
            &json!({"fsUploadIn": {"in": "aGk=", "filename": "a.zip"}}),
        );
        assert!(logged.contains("2 bytes, sha256 8f434346"), "{logged}");
        assert!(!logged.contains("aGk="));
        assert_eq!(
            logged_input("2207", &json!({"in": "aGk="})),
            r#"{"in":"aGk="}"#
        );
    }

    #[test]
    fn the_oldest_files_go_first_past_the_limit() {
        let mut files = Files::with_limit(100);
        let big = Bytes::from(vec![0u8; 51]);
        for no in ["A", "B", "C"] {
            files.keep(StoredFile {
                file_qury_no: no.into(),
                filename: "x".into(),
                infno: "9101".into(),
                bytes: big.clone(),
                expires: time::now() + chrono::Duration::hours(1),
            });
        }
        assert!(files.get("A").is_none() && files.get("B").is_none());
        assert!(files.get("C").is_some());
        assert_eq!(files.list().len(), 1);
    }
}
