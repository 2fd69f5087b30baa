//! `[files]`: where files received with 9102 are kept, the limits on what is received and
//! sent, and which folders a 9101 may read a file from.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// `[files]` in the config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesSection {
    /// Downloads go to `<dir>/<request_id>/`; relative to the config file.
    pub dir: PathBuf,
    /// A 9102 answer larger than this is abandoned (bytes).
    pub max_download_bytes: u64,
    /// A zip whose entries unpack to more than this is refused (a zip bomb) (bytes).
    pub max_unpacked_bytes: u64,
    /// A zip with more entries than this is refused.
    pub max_entries: usize,
    /// How long one 9102 exchange may take, body included (a catalog over a slow link
    /// takes minutes; `platform.request_timeout_ms` is for ordinary calls).
    pub download_timeout_ms: u64,
    /// A file sent with 9101 may be at most this large (bytes).
    pub max_upload_bytes: u64,
    /// Folders besides `dir` a 9101 `file_path` may name. A path anywhere else is refused:
    /// whoever can insert a request row must not be able to send any file the service
    /// account can read to the platform.
    pub upload_from: Vec<PathBuf>,
}

impl Default for FilesSection {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("files"),
            max_download_bytes: 512 * 1024 * 1024,
            max_unpacked_bytes: 2 * 1024 * 1024 * 1024,
            max_entries: 10_000,
            download_timeout_ms: 600_000,
            max_upload_bytes: 64 * 1024 * 1024,
            upload_from: Vec::new(),
        }
    }
}

impl FilesSection {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.max_download_bytes < 1024
            || self.max_unpacked_bytes < 1024
            || self.max_upload_bytes < 1024
        {
            return Err(
                "files.max_download_bytes、max_unpacked_bytes、max_upload_bytes 至少为 1024 / must be at least 1024"
                    .into(),
            );
        }
        if self.max_entries == 0 || self.download_timeout_ms < 1000 {
            return Err(
                "files.max_entries 至少为 1，download_timeout_ms 至少为 1000 / max_entries must be at least 1, download_timeout_ms at least 1000"
                    .into(),
            );
        }
        Ok(())
    }

    /// Makes relative folders relative to the config file's folder.
    pub(crate) fn anchor(&mut self, config_dir: &Path) {
        if self.dir.is_relative() {
            self.dir = config_dir.join(&self.dir);
        }
        for d in &mut self.upload_from {
            if d.is_relative() {
                *d = config_dir.join(&*d);
            }
        }
    }
}
