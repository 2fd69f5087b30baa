//! Secrets and keys named in configuration: `env:NAME` reads an environment variable,
//! `file:PATH` a file, anything else is the value itself. One rule for the tif token, the
//! appSecret and the SM2 keys, so operators learn it once. Errors name the source (the
//! variable or the path) and never the secret.
//!
//! [`Secret`] is how configuration holds such a value, so that printing a config (Debug,
//! `check-config`, a log line) can never show an inline secret by accident.

use serde::{Deserialize, Serialize};

/// A secret named in configuration: a tif token, an appSecret, a database password, a
/// private key — `env:NAME`, `file:PATH` or the value itself, kept as written.
///
/// It is resolved (through [`resolve_text`] or [`resolve_bytes`], the one rule) where the
/// part that needs it is built — the signing profile, the store's login, the status page —
/// once per start, not when the file is parsed: a config must parse and round-trip where
/// the variables and files of the production machine do not exist, and a rotated token
/// file is read at the next start.
///
/// Debug and Display show where an `env:`/`file:` secret comes from (the variable or path,
/// which operators need and which is no secret) and `<redacted>` for a value written inline.
/// Serialize writes what was read, so a config written back keeps its references.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// A secret as it would be written in the file.
    pub fn new(spec: impl Into<String>) -> Self {
        Self(spec.into())
    }

    /// The secret as text ([`resolve_text`]).
    pub fn resolve_text(&self) -> Result<String, String> {
        resolve_text(&self.0)
    }

    /// The secret as bytes ([`resolve_bytes`]).
    pub fn resolve_bytes(&self) -> Result<Vec<u8>, String> {
        resolve_bytes(&self.0)
    }

    /// Whether the secret as written can never give a value: empty or blank, or `env:` /
    /// `file:` without a name. Checked with the config (no variable or file is read), so
    /// `check-config` refuses what resolving would refuse at start-up.
    pub fn is_blank(&self) -> bool {
        let named = self
            .0
            .strip_prefix("env:")
            .or_else(|| self.0.strip_prefix("file:"))
            .unwrap_or(&self.0);
        named.trim().is_empty()
    }

    /// `env:NAME` or `file:PATH` when the secret is a reference; `None` for an inline value.
    fn reference(&self) -> Option<&str> {
        (self.0.starts_with("env:") || self.0.starts_with("file:")).then_some(self.0.as_str())
    }
}

impl From<&str> for Secret {
    fn from(spec: &str) -> Self {
        Self::new(spec)
    }
}

impl From<String> for Secret {
    fn from(spec: String) -> Self {
        Self(spec)
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reference().unwrap_or("<redacted>"))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({self})")
    }
}

/// A secret as text: the variable, the file's first line, or the value; trimmed, non-empty.
pub fn resolve_text(spec: &str) -> Result<String, String> {
    let value = if spec.starts_with("file:") {
        let bytes = resolve_bytes(spec)?;
        String::from_utf8_lossy(&bytes)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    } else {
        String::from_utf8_lossy(&resolve_bytes(spec)?).into_owned()
    };
    // Notepad on older Windows saves UTF-8 with a BOM: it is no part of a token or a key.
    let value = value
        .trim()
        .trim_start_matches('\u{feff}')
        .trim()
        .to_string();
    if value.is_empty() {
        return Err("密钥为空 / the secret is empty".into());
    }
    Ok(value)
}

/// A secret as bytes: the variable, the whole file (PEM or DER keys), or the value.
pub fn resolve_bytes(spec: &str) -> Result<Vec<u8>, String> {
    let bytes = if let Some(name) = spec.strip_prefix("env:") {
        std::env::var(name)
            .map_err(|_| {
                format!("环境变量 {name} 未设置 / environment variable {name} is not set")
            })?
            .into_bytes()
    } else if let Some(path) = spec.strip_prefix("file:") {
        std::fs::read(path)
            .map_err(|e| format!("无法读取文件 {path} / cannot read file {path}: {e}"))?
    } else {
        spec.as_bytes().to_vec()
    };
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err("密钥为空 / the secret is empty".into());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_saved_with_a_bom_gives_the_secret_without_it() {
        let path = std::env::temp_dir().join(format!("yibao-bom-{}", std::process::id()));
        std::fs::write(&path, "\u{feff}tok-123\r\n").unwrap();
        let spec = format!("file:{}", path.display());
        let value = resolve_text(&spec);
        let _ = std::fs::remove_file(&path);
        assert_eq!(value.unwrap(), "tok-123");
    }

    #[test]
    fn secrets_come_from_env_or_file() {
        std::env::set_var("YIBAO_TEST_SECRET_X", " s3cret \n");
        assert_eq!(resolve_text("env:YIBAO_TEST_SECRET_X").unwrap(), "s3cret");
        let err = resolve_text("env:YIBAO_TEST_SECRET_MISSING").unwrap_err();
        assert!(err.contains("YIBAO_TEST_SECRET_MISSING"));
        let dir = std::env::temp_dir().join(format!("yibao-secret-{}", std::process::id()));
        std::fs::write(&dir, "tok\nsecond line\n").unwrap();
        let spec = format!("file:{}", dir.display());
        assert_eq!(resolve_text(&spec).unwrap(), "tok");
        assert_eq!(resolve_bytes(&spec).unwrap(), b"tok\nsecond line\n");
        std::fs::remove_file(&dir).unwrap();
        assert!(resolve_text("").is_err());
        for blank in ["", " ", "env:", "file:", "env: "] {
            assert!(Secret::from(blank).is_blank(), "{blank:?}");
        }
        assert!(!Secret::from("env:X").is_blank() && !Secret::from("t").is_blank());
        assert!(resolve_text("  ").is_err());
        assert_eq!(resolve_text("literal").unwrap(), "literal");
    }

    #[test]
    fn a_secret_prints_where_it_comes_from_never_its_value() {
        let inline = Secret::from("hunter2-not-shown");
        assert_eq!(format!("{inline}"), "<redacted>");
        assert!(!format!("{inline:?}").contains("hunter2"));
        assert_eq!(inline.resolve_text().unwrap(), "hunter2-not-shown");
        let var = Secret::from("env:YIBAO_TEST_SECRET_SHOWN");
        assert_eq!(format!("{var:?}"), "Secret(env:YIBAO_TEST_SECRET_SHOWN)");
        std::env::set_var("YIBAO_TEST_SECRET_SHOWN", "v4lue");
        assert_eq!(var.resolve_bytes().unwrap(), b"v4lue");
        assert!(!format!("{var:?} {var}").contains("v4lue"));
        // Written back as read: a reference stays a reference.
        let json = serde_json::to_string(&var).unwrap();
        assert_eq!(json, "\"env:YIBAO_TEST_SECRET_SHOWN\"");
        assert_eq!(serde_json::from_str::<Secret>(&json).unwrap(), var);
    }
}
