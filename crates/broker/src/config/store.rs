//! `[store]`: where the queue lives — the embedded SQLite file, or the HIS's SQL Server
//! (`kind = "mssql"` with `[store.mssql]`). Opening the store is here too, so `run` and
//! `check-config` open it the same way and report the same errors.
//!
//! Read like `[platform]` (see `platform.rs` for why): the table as written, then at once
//! the typed [`StoreSection`] with the settings of the chosen kind only. `[store.mssql]` is
//! the store crate's own [`MssqlOptions`], deserialized as it is.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use yibao_store::{
    MssqlAuth, MssqlOptions, MssqlStore, SqliteOptions, SqliteStore, Store, StoreError,
};

use super::names::{self, Named};
use super::ConfigError;

/// `[store]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "StoreKeys", into = "StoreKeys")]
pub enum StoreSection {
    /// The embedded SQLite file (`kind = "sqlite"`, the default).
    Sqlite(SqliteSection),
    /// The HIS's SQL Server (`kind = "mssql"`, `[store.mssql]`; docs/sqlserver.md).
    Mssql(Box<MssqlOptions>),
}

/// `kind = "sqlite"`.
#[derive(Debug, Clone, PartialEq)]
pub struct SqliteSection {
    /// Relative paths in a file are relative to that file ([`super::Config::load`]).
    pub path: PathBuf,
    pub synchronous: Synchronous,
    /// How long one write waits for another process holding the file's lock before it
    /// fails (and is tried again; a reply in hand is never dropped).
    pub busy_timeout_ms: u64,
}

/// SQLite's `synchronous` pragma; the file accepts any case, as SQLite does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// Committed data survives power loss (default).
    #[default]
    Full,
    /// Faster; a power cut may lose the last commits.
    Normal,
}

impl Named for Synchronous {
    const KEY: &'static str = "store.synchronous";
    const NAMES: &'static [(&'static str, Self)] =
        &[("FULL", Self::Full), ("NORMAL", Self::Normal)];
    const IGNORE_CASE: bool = true;
}

/// `kind = …`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum StoreKind {
    #[default]
    Sqlite,
    Mssql,
}

impl Named for StoreKind {
    const KEY: &'static str = "store.kind";
    const NAMES: &'static [(&'static str, Self)] =
        &[("sqlite", Self::Sqlite), ("mssql", Self::Mssql)];
}

/// `[store]` exactly as written: the keys of both kinds.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct StoreKeys {
    /// `sqlite` (default) or `mssql`.
    #[serde(default, with = "names")]
    kind: StoreKind,
    /// SQLite file; relative paths are relative to the config file.
    #[serde(default)]
    path: Option<PathBuf>,
    /// SQLite: `FULL` (default) or `NORMAL`.
    #[serde(default, with = "names")]
    synchronous: Synchronous,
    #[serde(default = "default_busy_timeout")]
    busy_timeout_ms: u64,
    /// SQL Server connection (`kind = "mssql"`).
    #[serde(default)]
    mssql: Option<MssqlOptions>,
}

impl TryFrom<StoreKeys> for StoreSection {
    type Error = String;

    fn try_from(k: StoreKeys) -> Result<Self, String> {
        match k.kind {
            StoreKind::Sqlite => match k.path {
                Some(path) => Ok(StoreSection::Sqlite(SqliteSection {
                    path,
                    synchronous: k.synchronous,
                    busy_timeout_ms: k.busy_timeout_ms,
                })),
                None => Err("store.path: kind = \"sqlite\" 需要 path / needs path".into()),
            },
            StoreKind::Mssql => match k.mssql {
                Some(m) => Ok(StoreSection::Mssql(Box::new(m))),
                None => Err(
                    "store.mssql: kind = \"mssql\" 需要 [store.mssql] 段 / needs a [store.mssql] table".into(),
                ),
            },
        }
    }
}

impl From<StoreSection> for StoreKeys {
    fn from(s: StoreSection) -> Self {
        match s {
            StoreSection::Sqlite(q) => Self {
                kind: StoreKind::Sqlite,
                path: Some(q.path),
                synchronous: q.synchronous,
                busy_timeout_ms: q.busy_timeout_ms,
                mssql: None,
            },
            StoreSection::Mssql(m) => Self {
                kind: StoreKind::Mssql,
                path: None,
                synchronous: Synchronous::default(),
                busy_timeout_ms: default_busy_timeout(),
                mssql: Some(*m),
            },
        }
    }
}

fn default_busy_timeout() -> u64 {
    10_000
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

impl SqliteSection {
    /// The SQLite file at `path` with the file's defaults (`FULL`, 10 s busy timeout).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            synchronous: Synchronous::default(),
            busy_timeout_ms: default_busy_timeout(),
        }
    }
}

impl StoreSection {
    /// The SQLite file at `path` with the file's defaults ([`SqliteSection::new`]).
    pub fn sqlite(path: impl Into<PathBuf>) -> Self {
        StoreSection::Sqlite(SqliteSection::new(path))
    }

    /// The SQL Server these options name.
    pub fn mssql(options: MssqlOptions) -> Self {
        StoreSection::Mssql(Box::new(options))
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        match self {
            StoreSection::Sqlite(_) => Ok(()),
            StoreSection::Mssql(m) => validate_mssql(m),
        }
    }

    /// Where the store is, for messages (no secrets).
    pub fn describe(&self) -> String {
        match self {
            StoreSection::Mssql(m) => m.describe(),
            StoreSection::Sqlite(q) => format!("sqlite:{}", q.path.display()),
        }
    }

    /// Opens the configured store (SQL Server: connects and checks the installed schema).
    pub async fn open(&self) -> Result<Arc<dyn Store>, OpenError> {
        match self {
            StoreSection::Mssql(m) => Ok(Arc::new(MssqlStore::open(MssqlOptions::clone(m)).await?)),
            StoreSection::Sqlite(q) => {
                let mut opts = SqliteOptions::new(q.path.clone());
                opts.synchronous = q.synchronous.as_str().to_string();
                opts.busy_timeout = std::time::Duration::from_millis(q.busy_timeout_ms);
                Ok(Arc::new(SqliteStore::open(opts)?))
            }
        }
    }
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the types cannot say about `[store.mssql]`: which keys go together, and the limits.
fn validate_mssql(m: &MssqlOptions) -> Result<(), ConfigError> {
    if m.connection_string.is_none() {
        if m.database.is_empty() {
            return Err(invalid(
                "store.mssql.database",
                "需要 database 或 connection_string / database (or connection_string) is required",
            ));
        }
        if m.auth == MssqlAuth::Sql && (m.user.is_none() || m.password.is_none()) {
            return Err(invalid(
                "store.mssql.user / password",
                "auth = \"sql\" 需要 user 和 password / needs user and password",
            ));
        }
    }
    if m.command_timeout.is_zero() || m.connect_timeout.is_zero() {
        return Err(invalid(
            "store.mssql.command_timeout_ms / connect_timeout_ms",
            "至少为 1 / must be at least 1",
        ));
    }
    if m.pool_max == 0 {
        return Err(invalid(
            "store.mssql.pool_max",
            "至少为 1 / must be at least 1",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(extra: &str) -> Result<StoreSection, String> {
        let s: StoreSection = toml::from_str(extra).map_err(|e| e.to_string())?;
        s.validate().map_err(|e| e.to_string())?;
        Ok(s)
    }

    #[test]
    fn mssql_settings_are_checked_and_secrets_resolved() {
        std::env::set_var("YIBAO_TEST_MSSQL_PW", "pa55");
        let s = section(
            "kind = \"mssql\"\n[mssql]\nhost = \"db01\"\ninstance = \"HIS\"\ndatabase = \"his\"\n\
             user = \"yibao\"\npassword = \"env:YIBAO_TEST_MSSQL_PW\"\ntrust_server_certificate = true\n",
        )
        .unwrap();
        let StoreSection::Mssql(o) = &s else {
            panic!("kind = mssql reads as mssql: {s:?}");
        };
        assert_eq!(o.auth, MssqlAuth::Sql);
        assert_eq!(o.user.as_deref(), Some("yibao"));
        let password = o.password.as_ref().unwrap();
        assert_eq!(password.resolve_text().unwrap(), "pa55");
        assert!(
            o.tiberius_config().is_ok(),
            "the password resolves for the driver"
        );
        assert_eq!(s.describe(), "mssql:db01\\HIS/his");
        assert!(!format!("{o:?}").contains("pa55"));

        for (bad, key) in [
            ("kind = \"mssql\"\n", "store.mssql"),
            ("kind = \"mssql\"\n[mssql]\ndatabase = \"his\"\n", "user"),
            ("kind = \"mssql\"\n[mssql]\nuser = \"u\"\npassword = \"p\"\n", "database"),
            ("kind = \"mssql\"\n[mssql]\ndatabase = \"d\"\nauth = \"windows\"\nencryption = \"maybe\"\n", "encryption"),
            ("kind = \"oracle\"\n", "store.kind"),
            ("kind = \"sqlite\"\n", "store.path"),
        ] {
            let e = section(bad).unwrap_err();
            assert!(e.contains(key), "{bad}: {e}");
        }
        assert!(
            section("kind = \"mssql\"\n[mssql]\ndatabase = \"d\"\nauth = \"windows\"\n").is_ok()
        );
        assert!(section(
            "kind = \"mssql\"\n[mssql]\nconnection_string = \"server=tcp:x,1433;database=d\"\n"
        )
        .is_ok());
        assert!(section(
            "kind = \"mssql\"\n[mssql]\ndatabase = \"d\"\nauth = \"windows\"\ntypo = 1\n"
        )
        .is_err());
    }

    /// The commented `[store.mssql]` block in examples/yibao.toml is valid when uncommented.
    #[test]
    fn the_documented_mssql_example_parses() {
        let example = include_str!("../../../../examples/yibao.toml");
        let start = example
            .find("# [store.mssql]")
            .expect("the example documents [store.mssql]");
        let block: Vec<&str> = example[start..]
            .lines()
            .take_while(|l| l.starts_with("# "))
            .map(|l| l.trim_start_matches("# "))
            .filter(|l| !l.starts_with("或整条"))
            .collect();
        let text = format!(
            "kind = \"mssql\"\n{}",
            block.join("\n").replace("[store.mssql]", "[mssql]")
        );
        let s = section(&text).unwrap();
        assert!(matches!(s, StoreSection::Mssql(m) if m.connection_string.is_some()));
    }

    #[tokio::test]
    async fn an_unreachable_sql_server_is_reported_not_hung() {
        // A port nothing listens on: the error names the cause within the connect timeout.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let s = section(&format!(
            "kind = \"mssql\"\n[mssql]\nhost = \"127.0.0.1\"\nport = {port}\ndatabase = \"his\"\n\
             user = \"u\"\npassword = \"p\"\nconnect_timeout_ms = 2000\n"
        ))
        .unwrap();
        let e = s.open().await.err().expect("must fail").to_string();
        assert!(
            e.contains("cannot reach SQL Server"),
            "the cause, not a timeout: {e}"
        );
    }
}
