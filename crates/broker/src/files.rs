//! Files through the platform: what the broker does around 9101 (upload) and 9102
//! (download) so the HIS needs neither base64 nor unzip in T-SQL.
//!
//! * 9102: the answer is streamed to `[files] dir/<request_id>/<msgid>.download` by core
//!   ([`yibao_core::platform::download`]). Here it becomes `<msgid>.zip` (or `.bin`), a zip
//!   is unpacked beside it into `<msgid>/` (names reduced to their last component, sizes
//!   bounded), a text that is not UTF-8 but reads as GBK is kept as UTF-8, and a row goes to
//!   `medical_insurance_files`. The request's `response_data` then describes the file:
//!   `{"file_id", "path", "size", "sha256", "entries": [{"name", "path", "size", "encoding"}]}`.
//! * 9101: `fsUploadIn` may name the file instead of carrying it: `file_path` (a file under
//!   `[files] dir` or `upload_from`) or `file_id` (bytes the HIS stored in
//!   `medical_insurance_files.content`); `"zip": true` sends it zipped. The broker reads it
//!   and fills `in` (base64) just before sending; the stored input keeps the reference.

use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::{json, Value};
use yibao_core::platform::{DownloadTarget, Reply};
use yibao_store::{FileDirection, NewFile, Store};

use crate::config::files::FilesSection;

/// Where one attempt's download goes.
pub(crate) fn download_target(
    files: &FilesSection,
    request_id: i64,
    msgid: &str,
) -> DownloadTarget {
    DownloadTarget {
        path: request_dir(files, request_id).join(format!("{}.download", safe_name(msgid))),
        limit: files.max_download_bytes,
    }
}

fn request_dir(files: &FilesSection, request_id: i64) -> PathBuf {
    files.dir.join(request_id.to_string())
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

/// Turns a downloaded file (the synthetic reply core made) into its final place, unpacks
/// it, records it, and returns the reply the request stores. An error is the reason the
/// download is not usable (a damaged zip): the attempt counts as an unreadable reply.
pub(crate) async fn received(
    store: &dyn Store,
    files: &FilesSection,
    request_id: i64,
    input: &Value,
    reply: &Reply,
) -> Result<Reply, String> {
    let out = &reply.envelope.output;
    let (Some(part), Some(size), Some(sha256)) = (
        out["path"].as_str(),
        out["size"].as_u64(),
        out["sha256"].as_str(),
    ) else {
        return Err("下载结果缺少文件信息 / the download's description is incomplete".into());
    };
    let part = PathBuf::from(part);
    let limit = files.max_unpacked_bytes;
    let (path, entries) = tokio::task::spawn_blocking(move || settle(&part, limit))
        .await
        .map_err(|e| format!("unpack task failed: {e}"))??;
    let asked = &input["fsDownloadIn"];
    let file_id = store
        .add_file(NewFile {
            request_id: Some(request_id),
            direction: FileDirection::Download,
            file_qury_no: asked["file_qury_no"].as_str().map(str::to_string),
            filename: asked["filename"].as_str().unwrap_or("download").to_string(),
            path: Some(path.display().to_string()),
            size: i64::try_from(size).unwrap_or(i64::MAX),
            sha256: sha256.to_string(),
        })
        .await
        .map_err(|e| format!("无法记录下载的文件 / cannot record the downloaded file: {e}"))?;
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
        "size": size,
        "sha256": sha256,
        "entries": entries,
    })))
}

/// Renames the finished download and unpacks it when it is a zip.
fn settle(part: &Path, limit: u64) -> Result<(PathBuf, Vec<Entry>), String> {
    let mut magic = [0u8; 4];
    let is_zip = std::fs::File::open(part)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"PK\x03\x04";
    let path = part.with_extension(if is_zip { "zip" } else { "bin" });
    std::fs::rename(part, &path).map_err(|e| {
        format!(
            "无法保存下载的文件 / cannot keep the download {}: {e}",
            path.display()
        )
    })?;
    if !is_zip {
        return Ok((path, Vec::new()));
    }
    let into = path.with_extension("");
    let entries = unpack(&path, &into, limit)?;
    Ok((path, entries))
}

/// Unpacks `zip` into `into`. Entry names are reduced to their last component (an entry
/// named `../../x` cannot write outside), sizes are counted as they are written (a header
/// that lies about its size does not help a zip bomb), and a text that is not UTF-8 but
/// reads as GBK is written as UTF-8.
pub(crate) fn unpack(zip: &Path, into: &Path, limit: u64) -> Result<Vec<Entry>, String> {
    let damaged = |e: &dyn std::fmt::Display| {
        format!(
            "下载的压缩包已损坏 / the downloaded zip is damaged ({}): {e}",
            zip.display()
        )
    };
    let file = std::fs::File::open(zip).map_err(|e| damaged(&e))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| damaged(&e))?;
    std::fs::create_dir_all(into).map_err(|e| damaged(&e))?;
    let mut total: u64 = 0;
    let mut entries = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| damaged(&e))?;
        if entry.is_dir() {
            continue;
        }
        // Zips made on Chinese Windows often store GBK names without saying so.
        let (raw, _) = as_utf8(entry.name_raw().to_vec());
        let name = safe_name(&String::from_utf8_lossy(&raw));
        let mut bytes = Vec::new();
        let room = limit.saturating_sub(total);
        (&mut entry)
            .take(room + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| damaged(&e))?;
        total += bytes.len() as u64;
        if total > limit {
            return Err(format!(
                "压缩包解压后超过上限 / the zip unpacks to more than {limit} bytes ([files] max_unpacked_bytes)"
            ));
        }
        let (text, encoding) = as_utf8(bytes);
        let path = into.join(&name);
        std::fs::write(&path, &text).map_err(|e| damaged(&e))?;
        entries.push(Entry {
            name,
            path,
            size: text.len() as u64,
            encoding,
        });
    }
    Ok(entries)
}

/// UTF-8 as is; otherwise GBK when it decodes without errors (kept as UTF-8); otherwise the
/// bytes unchanged.
fn as_utf8(bytes: Vec<u8>) -> (Vec<u8>, &'static str) {
    if std::str::from_utf8(&bytes).is_ok() {
        return (bytes, "UTF-8");
    }
    let (text, had_errors) = encoding_rs::GBK.decode_without_bom_handling(&bytes);
    if had_errors {
        (bytes, "binary")
    } else {
        (text.into_owned().into_bytes(), "GBK")
    }
}

/// The last path component, without anything a file system treats specially.
fn safe_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .map(|c| match c {
            ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    match cleaned.trim_matches('.') {
        "" => "file".to_string(),
        _ => cleaned,
    }
}

/// 9101: fills `fsUploadIn.in` from `file_path` or `file_id` (see the module docs). An
/// input that already carries `in` is sent as given.
pub(crate) async fn prepare_upload(
    store: &dyn Store,
    files: &FilesSection,
    mut input: Value,
) -> Result<Value, String> {
    let Some(upload) = input.get_mut("fsUploadIn").and_then(Value::as_object_mut) else {
        return Ok(input);
    };
    if upload.contains_key("in") {
        return Ok(input);
    }
    let (name, bytes) = match (upload.get("file_path"), upload.get("file_id")) {
        (Some(p), _) => {
            let p = p.as_str().unwrap_or_default();
            read_allowed(files, Path::new(p)).await?
        }
        (None, Some(id)) => {
            let id = id
                .as_i64()
                .or_else(|| id.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or("fsUploadIn.file_id 应为数字 / fsUploadIn.file_id must be a number")?;
            from_store(store, files, id).await?
        }
        (None, None) => return Ok(input),
    };
    let zipped = upload.get("zip").and_then(Value::as_bool).unwrap_or(false);
    let filename = upload
        .get("filename")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            if zipped {
                format!("{name}.zip")
            } else {
                name.clone()
            }
        });
    let bytes = if zipped {
        zip_one(&name, &bytes)?
    } else {
        bytes
    };
    upload.remove("file_path");
    upload.remove("file_id");
    upload.remove("zip");
    upload.insert("filename".into(), Value::String(filename));
    upload.insert(
        "in".into(),
        Value::String(base64::engine::general_purpose::STANDARD.encode(&bytes)),
    );
    Ok(input)
}

/// Reads a file a 9101 names, only from `[files] dir` or `upload_from`.
async fn read_allowed(files: &FilesSection, path: &Path) -> Result<(String, Vec<u8>), String> {
    let refused = || {
        format!(
            "fsUploadIn.file_path 不在允许的目录中（[files] dir 或 upload_from）/ fsUploadIn.file_path is outside the allowed folders ([files] dir or upload_from): {}",
            path.display()
        )
    };
    let real = tokio::fs::canonicalize(path).await.map_err(|e| {
        format!(
            "无法读取要上传的文件 / cannot read the file to upload {}: {e}",
            path.display()
        )
    })?;
    let mut allowed = Vec::new();
    for d in std::iter::once(&files.dir).chain(&files.upload_from) {
        if let Ok(d) = tokio::fs::canonicalize(d).await {
            allowed.push(d);
        }
    }
    if !allowed.iter().any(|d| real.starts_with(d)) {
        return Err(refused());
    }
    let meta = tokio::fs::metadata(&real)
        .await
        .map_err(|e| format!("无法读取要上传的文件 / cannot read the file to upload: {e}"))?;
    if meta.len() > files.max_upload_bytes {
        return Err(too_large(files));
    }
    let bytes = tokio::fs::read(&real)
        .await
        .map_err(|e| format!("无法读取要上传的文件 / cannot read the file to upload: {e}"))?;
    Ok((safe_name(&real.display().to_string()), bytes))
}

async fn from_store(
    store: &dyn Store,
    files: &FilesSection,
    file_id: i64,
) -> Result<(String, Vec<u8>), String> {
    let stored = store
        .file_content(file_id)
        .await
        .map_err(|e| format!("无法读取文件表 / cannot read medical_insurance_files: {e}"))?
        .ok_or_else(|| {
            format!("文件 {file_id} 不存在 / no file {file_id} in medical_insurance_files")
        })?;
    let bytes = match (stored.content, stored.path) {
        (Some(bytes), _) => bytes,
        (None, Some(p)) => return read_allowed(files, Path::new(&p)).await,
        (None, None) => return Err(format!(
            "文件 {file_id} 既无 content 也无 path / file {file_id} has neither content nor path"
        )),
    };
    if bytes.len() as u64 > files.max_upload_bytes {
        return Err(too_large(files));
    }
    Ok((safe_name(&stored.filename), bytes))
}

fn too_large(files: &FilesSection) -> String {
    format!(
        "要上传的文件超过上限 / the file to upload is over the limit of {} bytes ([files] max_upload_bytes)",
        files.max_upload_bytes
    )
}

/// A zip holding one entry.
fn zip_one(name: &str, bytes: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let fail = |e: &dyn std::fmt::Display| {
        format!("无法压缩要上传的文件 / cannot zip the file to upload: {e}")
    };
    w.start_file(name, zip::write::SimpleFileOptions::default())
        .map_err(|e| fail(&e))?;
    w.write_all(bytes).map_err(|e| fail(&e))?;
    Ok(w.finish().map_err(|e| fail(&e))?.into_inner())
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
