//! 9102 文件下载: the platform answers a download with the file itself (a zip), not with a
//! response envelope — unless it refuses (unknown `file_qury_no`), when the answer is an
//! ordinary error envelope. The body is streamed to disk, never held whole in memory nor
//! parsed as JSON, bounded by a size limit, and fingerprinted (SHA-256) on the way.
//!
//! A connection that breaks before `Content-Length` bytes arrived is a transport error
//! (hyper reports the short body), so a download cut in the middle is retried like any
//! read-only call, and the partial file is removed.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::transport::{TransportError, TransportErrorKind};

/// Where a download goes: streamed to `path`, at most `limit` bytes.
#[derive(Debug, Clone)]
pub struct DownloadTarget {
    pub path: PathBuf,
    pub limit: u64,
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
    /// A small body that reads as JSON: the platform's envelope (a refusal), to be opened
    /// like any reply. Nothing is left on disk.
    Envelope(Vec<u8>),
    File(Downloaded),
}

/// Bodies up to this size that start with `{` are read as an envelope.
const ENVELOPE_MAX: usize = 1024 * 1024;

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
    let mut hash = Sha256::new();
    let mut size: u64 = 0;
    let mut head: Vec<u8> = Vec::new();
    let streamed = async {
        while let Some(chunk) = resp.chunk().await.map_err(super::transport::classify)? {
            size += chunk.len() as u64;
            if size > target.limit {
                return Err(TransportError {
                    kind: TransportErrorKind::BadReply,
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
    if let Err(e) = streamed {
        remove(&target.path).await;
        return Err(e);
    }
    if size as usize <= ENVELOPE_MAX && looks_like_json(&head) {
        remove(&target.path).await;
        return Ok(Body::Envelope(head));
    }
    Ok(Body::File(Downloaded {
        path: target.path.clone(),
        size,
        sha256: hex::encode(hash.finalize()),
    }))
}

/// A partial or unneeded file goes; failing to remove it only leaves a stray file.
async fn remove(path: &Path) {
    let _ = tokio::fs::remove_file(path).await;
}

fn looks_like_json(body: &[u8]) -> bool {
    body.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zip_is_a_file_and_an_envelope_is_json() {
        assert!(looks_like_json(b"  {\"infcode\":-1}"));
        assert!(!looks_like_json(b"PK\x03\x04"));
        assert!(!looks_like_json(b""));
    }
}
