//! 9102 文件下载: the platform answers a download with the file itself (a zip), not with a
//! response envelope — unless it refuses (unknown `file_qury_no`), when the answer is an
//! ordinary error envelope. The body is streamed to disk, never held whole in memory nor
//! parsed as JSON, bounded by a size limit, and fingerprinted (SHA-256) on the way.
//!
//! Only a zip is a file: any other body (an error envelope, with or without a BOM, a
//! gateway's HTML page) is opened like an ordinary reply, so a refusal never passes for a
//! download. A connection that breaks before `Content-Length` bytes arrived is a transport
//! error (hyper reports the short body), so a download cut in the middle is retried like
//! any read-only call; the partial file is removed on every path that does not finish,
//! including the future being dropped at shutdown. Going over the size limit is final.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::transport::{TransportError, TransportErrorKind};

/// Where a download goes: streamed to `path`, at most `limit` bytes, within `timeout`
/// (the whole exchange, body included).
#[derive(Debug, Clone)]
pub struct DownloadTarget {
    pub path: PathBuf,
    pub limit: u64,
    pub timeout: std::time::Duration,
}

/// A file the platform sent instead of a response envelope, on disk at `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    pub path: PathBuf,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
}

/// What a download's reply turned out to be.
#[derive(Debug)]
pub enum Body {
    /// Not a zip: the platform's envelope (a refusal), or something else, to be opened like
    /// any reply — so an error page or a BOM-prefixed envelope never passes for a file.
    /// Nothing is left on disk.
    Envelope(Vec<u8>),
    /// A zip archive (`PK\x03\x04`, or `PK\x05\x06` for an empty one).
    File(Downloaded),
}

/// A body that is not a zip is read as an envelope: at most this much of it is kept.
const ENVELOPE_MAX: usize = 1024 * 1024;

/// Removes the partial file when the download does not finish (an error, or the future
/// dropped at shutdown), unless disarmed.
struct Partial<'a>(Option<&'a Path>);

impl Drop for Partial<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Streams `resp`'s body to `target`, then decides whether it was a file or an envelope.
pub(super) async fn receive(
    mut resp: reqwest::Response,
    target: &DownloadTarget,
) -> Result<Body, TransportError> {
    let io = |what: &str, e: std::io::Error| TransportError {
        kind: TransportErrorKind::BadReply,
        message: format!("{what} {}: {e}", target.path.display()),
    };
    if let Some(dir) = target.path.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| io("无法创建下载目录 / cannot create the folder of", e))?;
    }
    let mut file = tokio::fs::File::create(&target.path)
        .await
        .map_err(|e| io("无法写入下载文件 / cannot write", e))?;
    let mut partial = Partial(Some(&target.path));
    let mut hash = Sha256::new();
    let mut size: u64 = 0;
    let mut head: Vec<u8> = Vec::new();
    let streamed = async {
        while let Some(chunk) = resp.chunk().await.map_err(super::transport::classify)? {
            size += chunk.len() as u64;
            if size > target.limit {
                return Err(TransportError {
                    kind: TransportErrorKind::Refused,
                    message: format!(
                        "下载的文件超过上限，已放弃 / the download exceeds the limit of {} bytes ([files] max_download_bytes)",
                        target.limit
                    ),
                });
            }
            if head.len() < ENVELOPE_MAX {
                let room = ENVELOPE_MAX - head.len();
                head.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            hash.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| io("无法写入下载文件 / cannot write", e))?;
        }
        file.flush()
            .await
            .map_err(|e| io("无法写入下载文件 / cannot write", e))?;
        file.sync_all()
            .await
            .map_err(|e| io("无法写入下载文件 / cannot write", e))?;
        Ok(())
    }
    .await;
    drop(file);
    streamed?;
    if !is_zip(&head) {
        // `partial` removes the file: an envelope is read from memory.
        return Ok(Body::Envelope(head));
    }
    partial.0 = None;
    Ok(Body::File(Downloaded {
        path: target.path.clone(),
        size,
        sha256: hex::encode(hash.finalize()),
    }))
}

/// What 9102 delivers is a zip; anything else is an answer to read as an envelope.
fn is_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_zip_is_a_file() {
        assert!(is_zip(b"PK\x03\x04rest"));
        assert!(is_zip(b"PK\x05\x06"));
        for not in [
            &b"  {\"infcode\":-1}"[..],
            b"\xef\xbb\xbf{\"infcode\":-1}",
            b"<html>busy</html>",
            b"",
        ] {
            assert!(!is_zip(not), "{not:?}");
        }
    }
}
