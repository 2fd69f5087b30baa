//! 9101: `fsUploadIn` may name its file instead of carrying it — `file_path` (a file under
//! `[files] dir` or `upload_from`) or `file_id` (bytes the HIS stored in
//! `medical_insurance_files.content`); `"zip": true` sends it zipped. The broker reads it
//! just before sending and fills `in` (base64); the stored input keeps the reference.
//!
//! Whoever can insert a request row must not be able to send any file the service account
//! can read, so a `file_path` is opened once and the folder check is made on what was
//! opened (its final path, or on Unix its device and inode against the resolved path): a
//! folder swapped for a junction between check and read does not lead outside. Sizes are
//! bounded before anything is read into memory.

use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;
use yibao_store::StoreError;

use crate::config::files::FilesSection;
use crate::files::safe_name;
use crate::queue::Queue;

/// Why a 9101 cannot be sent.
#[derive(Debug)]
pub(crate) enum NotSent {
    /// The input names a file that may not or cannot be sent (final: ERROR, unsent).
    Refused(String),
    /// The store could not be read (the request is left to recovery).
    Store(StoreError),
}

impl From<String> for NotSent {
    fn from(s: String) -> Self {
        NotSent::Refused(s)
    }
}

/// Fills `fsUploadIn.in` from `file_path` or `file_id`; an input that already carries `in`
/// (or has no `fsUploadIn`) is sent as given.
pub(crate) async fn prepare(
    queue: &Queue,
    files: &FilesSection,
    mut input: Value,
) -> Result<Value, NotSent> {
    let Some(upload) = input.get_mut("fsUploadIn").and_then(Value::as_object_mut) else {
        return Ok(input);
    };
    if upload.contains_key("in") {
        return Ok(input);
    }
    let path = upload
        .get("file_path")
        .and_then(Value::as_str)
        .map(PathBuf::from);
    let id = upload.get("file_id").and_then(|id| {
        id.as_i64()
            .or_else(|| id.as_str().and_then(|s| s.trim().parse().ok()))
    });
    let (name, bytes) = match (path, id) {
        (Some(p), _) => read_confined(files, p).await?,
        (None, Some(id)) => from_store(queue, files, id).await?,
        (None, None) if upload.contains_key("file_path") || upload.contains_key("file_id") => {
            return Err(NotSent::Refused(
                "fsUploadIn：file_path 应为文本，file_id 应为数字 / file_path must be text and file_id a number"
                    .into(),
            ))
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

/// Reads a file a 9101 names, only from `[files] dir` or `upload_from`. The messages do
/// not repeat the path (it may hold a patient's name and reasons are logged); the HIS has
/// it in the request.
async fn read_confined(files: &FilesSection, path: PathBuf) -> Result<(String, Vec<u8>), String> {
    let allowed: Vec<PathBuf> = std::iter::once(&files.dir)
        .chain(&files.upload_from)
        .cloned()
        .collect();
    let max = files.max_upload_bytes;
    tokio::task::spawn_blocking(move || open_confined(&allowed, &path, max))
        .await
        .map_err(|e| format!("读取任务失败 / the read task failed: {e}"))?
}

fn open_confined(allowed: &[PathBuf], path: &Path, max: u64) -> Result<(String, Vec<u8>), String> {
    let unreadable = |e: &dyn std::fmt::Display| {
        format!("无法读取要上传的文件 / cannot read the file to upload (fsUploadIn.file_path): {e}")
    };
    if !path.is_absolute() {
        return Err(
            "要上传的文件须为绝对路径 / the file to upload must be an absolute path (fsUploadIn.file_path)"
                .into(),
        );
    }
    // A FIFO or a device would block or never end: only a regular file is opened.
    if !std::fs::metadata(path)
        .map_err(|e| unreadable(&e))?
        .is_file()
    {
        return Err(unreadable(&"不是普通文件 / not a regular file"));
    }
    let file = std::fs::File::open(path).map_err(|e| unreadable(&e))?;
    let real = opened_path(&file, path).map_err(|e| unreadable(&e))?;
    let inside = allowed
        .iter()
        .filter_map(|d| std::fs::canonicalize(d).ok())
        .any(|d| within(&real, &d));
    if !inside {
        return Err(
            "要上传的文件不在允许的目录中 / the file to upload is outside the allowed folders (fsUploadIn.file_path; [files] dir, upload_from)"
                .into(),
        );
    }
    if !file.metadata().map_err(|e| unreadable(&e))?.is_file() {
        return Err(unreadable(&"不是普通文件 / not a regular file"));
    }
    let mut bytes = Vec::new();
    (&file)
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| unreadable(&e))?;
    if bytes.len() as u64 > max {
        return Err(too_large(max));
    }
    Ok((safe_name(&real.to_string_lossy()), bytes))
}

/// Whether `path` lies in `dir` (both resolved); Windows compares without case.
fn within(path: &Path, dir: &Path) -> bool {
    if cfg!(windows) {
        let p = path.to_string_lossy().to_lowercase();
        let d = dir.to_string_lossy().to_lowercase();
        let d = d.trim_end_matches('\\');
        p.strip_prefix(d).is_some_and(|rest| rest.starts_with('\\'))
    } else {
        path.starts_with(dir) && path != dir
    }
}

/// The resolved path of what `file` is, checked against the handle itself.
#[cfg(unix)]
fn opened_path(file: &std::fs::File, path: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let real = std::fs::canonicalize(path)?;
    let (opened, named) = (file.metadata()?, std::fs::metadata(&real)?);
    if (opened.dev(), opened.ino()) != (named.dev(), named.ino()) {
        return Err(std::io::Error::other(
            "文件在检查期间被替换 / the file changed while it was checked",
        ));
    }
    Ok(real)
}

/// The resolved path of what `file` is: the handle's own final path.
#[cfg(windows)]
fn opened_path(file: &std::fs::File, _path: &Path) -> std::io::Result<PathBuf> {
    use std::os::windows::ffi::OsStringExt;
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::Storage::FileSystem::{
        GetFinalPathNameByHandleW, FILE_NAME_NORMALIZED,
    };
    let mut buf = vec![0u16; 1024];
    loop {
        // SAFETY: a valid open handle; `buf` is writable for its length.
        let n = unsafe {
            GetFinalPathNameByHandleW(
                file.as_raw_handle() as _,
                buf.as_mut_ptr(),
                buf.len() as u32,
                FILE_NAME_NORMALIZED,
            )
        } as usize;
        if n == 0 {
            return Err(std::io::Error::last_os_error());
        }
        if n < buf.len() {
            return Ok(PathBuf::from(std::ffi::OsString::from_wide(&buf[..n])));
        }
        buf.resize(n + 1, 0);
    }
}

async fn from_store(
    queue: &Queue,
    files: &FilesSection,
    file_id: i64,
) -> Result<(String, Vec<u8>), NotSent> {
    let max = files.max_upload_bytes;
    let stored = queue
        .durably("reading a file to upload", || {
            queue.store.file_content(file_id, max)
        })
        .await
        .map_err(NotSent::Store)?
        .ok_or_else(|| {
            format!("文件 {file_id} 不存在 / no file {file_id} in medical_insurance_files")
        })?;
    match (stored.content, stored.content_size, stored.path) {
        (Some(bytes), _, _) => Ok((safe_name(&stored.filename), bytes)),
        (None, Some(_), _) => Err(too_large(max).into()),
        (None, None, Some(p)) => Ok(read_confined(files, PathBuf::from(p)).await?),
        (None, None, None) => Err(format!(
            "文件 {file_id} 既无 content 也无 path / file {file_id} has neither content nor path"
        )
        .into()),
    }
}

fn too_large(max: u64) -> String {
    format!(
        "要上传的文件超过上限 / the file to upload is over the limit of {max} bytes ([files] max_upload_bytes)"
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
#[path = "upload_tests.rs"]
mod tests;
