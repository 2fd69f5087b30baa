//! Files through the platform: what the broker does around 9101 (upload) and 9102
//! (download) so the HIS needs neither base64 nor unzip in T-SQL.
//!
//! * 9102: the answer is streamed to `[files] dir/<request_id>/<msgid>.download` by core
//!   ([`yibao_core::platform::download`]), which hands over the file as a typed value (no
//!   answer can name a path here). Here it becomes `<msgid>.zip` and is unpacked beside it
//!   into `<msgid>/`: entry names reduced to a safe last component (no `..`, no Windows
//!   device names, no trailing dots, no two entries on one name), at most `max_entries`
//!   entries and `max_unpacked_bytes` in all, each streamed to disk (never whole in memory),
//!   a text that is not UTF-8 but reads as GBK kept as UTF-8. A row goes to
//!   `medical_insurance_files`; the request's `response_data` describes the file:
//!   `{"file_id", "path", "size", "sha256", "entries": [{"name", "path", "size", "encoding"}]}`.
//!   A download refused here (over a limit, a damaged zip) is final and leaves nothing on disk.
//! * 9101: `fsUploadIn` may name the file instead of carrying it: `file_path` (a file under
//!   `[files] dir` or `upload_from`) or `file_id` (bytes the HIS stored in
//!   `medical_insurance_files.content`); `"zip": true` sends it zipped. The broker reads it
//!   and fills `in` (base64) just before sending; the stored input keeps the reference.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use yibao_core::platform::{DownloadTarget, Downloaded, Reply};
use yibao_store::{FileDirection, NewFile, StoreError};

use crate::config::files::FilesSection;
use crate::queue::Queue;

/// Where one attempt's download goes.
pub(crate) fn download_target(
    files: &FilesSection,
    request_id: i64,
    msgid: &str,
) -> DownloadTarget {
    DownloadTarget {
        path: request_dir(files, request_id).join(format!("{}.download", safe_name(msgid))),
        limit: files.max_download_bytes,
        timeout: Duration::from_millis(files.download_timeout_ms),
    }
}

fn request_dir(files: &FilesSection, request_id: i64) -> PathBuf {
    files.dir.join(request_id.to_string())
}

/// Removes the partial downloads (`<request_id>/*.download`) a killed broker left behind:
/// those untouched for twice `download_timeout_ms`, which no download still running can
/// be (another broker sharing the folder may be writing a fresh one). Returns how many.
pub(crate) fn sweep_stale_downloads(files: &FilesSection, now: std::time::SystemTime) -> usize {
    let stale_after = Duration::from_millis(files.download_timeout_ms.saturating_mul(2));
    let Ok(requests) = std::fs::read_dir(&files.dir) else {
        return 0;
    };
    let mut removed = 0;
    for dir in requests.flatten().filter(|d| d.path().is_dir()) {
        let Ok(inside) = std::fs::read_dir(dir.path()) else {
            continue;
        };
        for f in inside.flatten() {
            let path = f.path();
            let partial = path.extension().is_some_and(|e| e == "download");
            let old = f
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age > stale_after);
            if partial && old && std::fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

/// One unpacked entry of a downloaded zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
    /// `UTF-8`, `GBK` (kept converted to UTF-8) or `binary`.
    pub encoding: &'static str,
}

/// Why a download cannot be used.
#[derive(Debug)]
pub(crate) enum Unusable {
    /// Refused here for a reason another download would not change (final).
    Refused(String),
    /// The store could not record it (the request is abandoned to recovery, not failed).
    Store(StoreError),
}

/// Keeps a finished download, unpacks it, records it, and returns the reply the request
/// stores. On any failure nothing of it stays on disk.
pub(crate) async fn received(
    queue: &Queue,
    files: &FilesSection,
    request_id: i64,
    input: &Value,
    file: &Downloaded,
) -> Result<Reply, Unusable> {
    let part = file.path.clone();
    let (max_bytes, max_entries) = (files.max_unpacked_bytes, files.max_entries);
    let settled = tokio::task::spawn_blocking(move || settle(&part, max_bytes, max_entries))
        .await
        .map_err(|e| Unusable::Refused(format!("解压任务失败 / the unpack task failed: {e}")))?;
    let (path, entries) = settled.map_err(Unusable::Refused)?;
    let asked = &input["fsDownloadIn"];
    let new = NewFile {
        request_id: Some(request_id),
        direction: FileDirection::Download,
        file_qury_no: asked["file_qury_no"].as_str().map(str::to_string),
        filename: asked["filename"].as_str().unwrap_or("download").to_string(),
        path: Some(path.display().to_string()),
        size: i64::try_from(file.size).unwrap_or(i64::MAX),
        sha256: file.sha256.clone(),
    };
    let file_id = match queue
        .durably("recording a downloaded file", || {
            queue.store.add_file(new.clone())
        })
        .await
    {
        Ok(id) => id,
        Err(e) => {
            discard(&path);
            return Err(Unusable::Store(e));
        }
    };
    let entries: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!({
                "name": e.name,
                "path": e.path.display().to_string(),
                "size": e.size,
                "encoding": e.encoding,
            })
        })
        .collect();
    Ok(Reply::synthetic(json!({
        "file_id": file_id,
        "path": path.display().to_string(),
        "size": file.size,
        "sha256": file.sha256,
        "entries": entries,
    })))
}

/// Removes a kept download and its unpacked folder (best effort).
fn discard(zip: &Path) {
    let _ = std::fs::remove_dir_all(zip.with_extension(""));
    let _ = std::fs::remove_file(zip);
}

/// Renames the finished download to `.zip` and unpacks it; on failure removes both.
fn settle(
    part: &Path,
    max_bytes: u64,
    max_entries: usize,
) -> Result<(PathBuf, Vec<Entry>), String> {
    let path = part.with_extension("zip");
    if let Err(e) = std::fs::rename(part, &path) {
        let _ = std::fs::remove_file(part);
        return Err(format!(
            "无法保存下载的文件 / cannot keep the download: {e}"
        ));
    }
    match unpack(&path, &path.with_extension(""), max_bytes, max_entries) {
        Ok(entries) => Ok((path, entries)),
        Err(e) => {
            discard(&path);
            Err(e)
        }
    }
}

/// Unpacks `zip` into `into`, each entry streamed to disk through a counting limit.
pub(crate) fn unpack(
    zip: &Path,
    into: &Path,
    max_bytes: u64,
    max_entries: usize,
) -> Result<Vec<Entry>, String> {
    let damaged = |e: &dyn std::fmt::Display| {
        format!("下载的压缩包已损坏 / the downloaded zip is damaged: {e}")
    };
    let disk = |e: &dyn std::fmt::Display| {
        format!("无法写入解压的文件 / cannot write an unpacked file: {e}")
    };
    let file = std::fs::File::open(zip).map_err(|e| disk(&e))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| damaged(&e))?;
    if archive.len() > max_entries {
        return Err(format!(
            "压缩包条目过多 / the zip holds {} entries, over [files] max_entries = {max_entries}",
            archive.len()
        ));
    }
    std::fs::create_dir_all(into).map_err(|e| disk(&e))?;
    let mut total: u64 = 0;
    let mut taken = HashSet::new();
    let mut entries = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| damaged(&e))?;
        if entry.is_dir() {
            continue;
        }
        // Zips made on Chinese Windows often store GBK names without saying so.
        let raw = entry.name_raw().to_vec();
        let name = unique(&mut taken, safe_name(&decode_name(&raw)));
        let path = into.join(&name);
        let mut out = std::fs::File::create(&path).map_err(|e| disk(&e))?;
        let room = max_bytes.saturating_sub(total);
        let written =
            std::io::copy(&mut (&mut entry).take(room + 1), &mut out).map_err(|e| damaged(&e))?;
        total += written;
        if total > max_bytes {
            return Err(format!(
                "压缩包解压后超过上限 / the zip unpacks to more than [files] max_unpacked_bytes = {max_bytes}"
            ));
        }
        out.flush().map_err(|e| disk(&e))?;
        drop(out);
        let (size, encoding) = keep_as_utf8(&path).map_err(|e| disk(&e))?;
        entries.push(Entry {
            name,
            path,
            size,
            encoding,
        });
    }
    Ok(entries)
}

fn decode_name(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(s) => s.to_string(),
        Err(_) => encoding_rs::GBK
            .decode_without_bom_handling(raw)
            .0
            .into_owned(),
    }
}

/// A name not taken yet (compared as Windows does, ignoring case): `a.txt`, `a (2).txt`, …
fn unique(taken: &mut HashSet<String>, name: String) -> String {
    let mut candidate = name.clone();
    let mut n = 2;
    while !taken.insert(candidate.to_lowercase()) {
        candidate = match name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => format!("{stem} ({n}).{ext}"),
            _ => format!("{name} ({n})"),
        };
        n += 1;
    }
    candidate
}

/// Checks a written entry in chunks: UTF-8 stays; otherwise, when the whole file decodes as
/// GBK, it is rewritten as UTF-8 (streamed, through a second file); otherwise it is binary.
fn keep_as_utf8(path: &Path) -> std::io::Result<(u64, &'static str)> {
    if decodes(path, encoding_rs::UTF_8, None)? {
        return Ok((std::fs::metadata(path)?.len(), "UTF-8"));
    }
    if !decodes(path, encoding_rs::GBK, None)? {
        return Ok((std::fs::metadata(path)?.len(), "binary"));
    }
    let utf8 = path.with_extension("utf8.tmp");
    let mut out = std::fs::File::create(&utf8)?;
    decodes(path, encoding_rs::GBK, Some(&mut out))?;
    out.flush()?;
    drop(out);
    std::fs::rename(&utf8, path)?;
    Ok((std::fs::metadata(path)?.len(), "GBK"))
}

/// Whether `path` decodes without errors in `encoding`, writing the UTF-8 to `out` if given.
fn decodes(
    path: &Path,
    encoding: &'static encoding_rs::Encoding,
    mut out: Option<&mut std::fs::File>,
) -> std::io::Result<bool> {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut input = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut text = vec![0u8; 3 * 64 * 1024 + 16];
    loop {
        let n = input.read(&mut buf)?;
        let last = n == 0;
        let mut src = &buf[..n];
        loop {
            let (result, read, written) =
                decoder.decode_to_utf8_without_replacement(src, &mut text, last);
            if let Some(out) = out.as_deref_mut() {
                out.write_all(&text[..written])?;
            }
            src = &src[read..];
            match result {
                encoding_rs::DecoderResult::InputEmpty => break,
                encoding_rs::DecoderResult::OutputFull => continue,
                encoding_rs::DecoderResult::Malformed(..) => return Ok(false),
            }
        }
        if last {
            return Ok(true);
        }
    }
}

/// The last path component, safe as a file name on Windows and elsewhere: no separators,
/// no characters Windows refuses, no trailing dots or spaces (Windows drops them, so
/// `a.txt.` would land on `a.txt`), and no device name (`CON`, `NUL.txt`, `COM1`…).
pub(crate) fn safe_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .map(|c| match c {
            ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    let trimmed = cleaned.trim_end_matches(['.', ' ']).trim_start();
    if trimmed.trim_matches('.').is_empty() {
        return "file".to_string();
    }
    let stem = trimmed.split('.').next().unwrap_or_default().trim_end();
    const DEVICES: [&str; 6] = ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"];
    let upper = stem.to_ascii_uppercase();
    let numbered = (upper.starts_with("COM") || upper.starts_with("LPT"))
        && upper.len() == 4
        && upper.as_bytes()[3].is_ascii_digit();
    if DEVICES.contains(&upper.as_str()) || numbered {
        format!("_{trimmed}")
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
