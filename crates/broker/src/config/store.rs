//! `[store]`: where the queue lives — the embedded SQLite file, or the HIS's SQL Server
//! (`kind = "mssql"` with `[store.mssql]`). Opening the store is here too, so `run` and
//! `check-config` open it the same way and report the same errors.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use yibao_store::{
    MssqlAuth, MssqlEncryption, MssqlOptions, MssqlStore, SqliteOptions, SqliteStore, Store,
    StoreError,
};

use super::{resolve_secret, ConfigError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// `sqlite` (default) or `mssql`.
    #[serde(default = "default_store_kind")]
    pub kind: String,
    /// SQLite file; relative paths are relative to the config file.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// SQLite: `FULL` (default) or `NORMAL`.
    #[serde(default = "default_synchronous")]
    pub synchronous: String,
    /// SQLite: how long one write waits for another process holding the file's lock
    /// before it fails (and is tried again; a reply in hand is never dropped).
    #[serde(default = "default_busy_timeout")]
    pub busy_timeout_ms: u64,
    /// SQL Server connection (`kind = "mssql"`).
    #[serde(default)]
    pub mssql: Option<MssqlSection>,
}

/// `[store.mssql]`. Every key is documented in docs/sqlserver.md.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MssqlSection {
    /// An ADO.NET connection string (`env:`/`file:` allowed) instead of the keys below.
    #[serde(default)]
    pub connection_string: Option<String>,
    #[serde(default = "default_host")]
    pub host: String,
    #[serde(default)]
    pub port: Option<u16>,
    /// Named instance, found through the SQL Server Browser service (UDP 1434).
    #[serde(default)]
    pub instance: Option<String>,
    #[serde(default)]
    pub database: Option<String>,
    /// `sql` (SQL Server login) or `windows` (integrated, the service account).
    #[serde(default = "default_auth")]
    pub auth: String,
    #[serde(default)]
    pub user: Option<String>,
    /// `env:NAME`, `file:PATH` or the value.
    #[serde(default)]
    pub password: Option<String>,
    /// `required` (default), `on`, `off` (login packet only) or `not_supported` (no TLS).
    #[serde(default = "default_encryption")]
    pub encryption: String,
    #[serde(default)]
    pub trust_server_certificate: bool,
    #[serde(default = "default_command_timeout")]
    pub command_timeout_ms: u64,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u64,
    #[serde(default = "default_pool_max")]
    pub pool_max: u32,
}

fn default_store_kind() -> String {
    "sqlite".into()
}
fn default_synchronous() -> String {
    "FULL".into()
}
fn default_busy_timeout() -> u64 {
    10_000
}
fn default_host() -> String {
    "localhost".into()
}
fn default_auth() -> String {
    "sql".into()
}
fn default_encryption() -> String {
    "required".into()
}
fn default_command_timeout() -> u64 {
    15_000
}
fn default_connect_timeout() -> u64 {
    5_000
}
fn default_pool_max() -> u32 {
    16
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

impl StoreSection {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        match self.kind.as_str() {
            "sqlite" => {
                if self.path.is_none() {
                    return Err(invalid(
                        "store.path",
                        "kind = \"sqlite\" 需要 path / needs path",
                    ));
                }
                if !matches!(
                    self.synchronous.to_ascii_uppercase().as_str(),
                    "FULL" | "NORMAL"
                ) {
                    return Err(invalid("store.synchronous", "must be FULL or NORMAL"));
                }
                Ok(())
            }
            "mssql" => {
                let Some(m) = &self.mssql else {
                    return Err(invalid(
                        "store.mssql",
                        "kind = \"mssql\" 需要 [store.mssql] 段 / needs a [store.mssql] table",
                    ));
                };
                m.validate()
            }
            _ => Err(invalid("store.kind", "must be \"sqlite\" or \"mssql\"")),
        }
    }

    /// Where the store is, for messages (no secrets).
    pub fn describe(&self) -> String {
        match (&self.mssql, self.kind.as_str()) {
            (Some(m), "mssql") => m
                .options()
                .map(|o| o.describe())
                .unwrap_or_else(|_| "mssql".into()),
            _ => format!(
                "sqlite:{}",
                self.path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
        }
    }

    /// Opens the configured store (SQL Server: connects and checks the installed schema).
    pub async fn open(&self) -> Result<Arc<dyn Store>, OpenError> {
        match (self.kind.as_str(), &self.mssql) {
            ("mssql", Some(m)) => {
                let opts = m.options()?;
                Ok(Arc::new(MssqlStore::open(opts).await?))
            }
            _ => {
                let path = self
                    .path
                    .clone()
                    .ok_or_else(|| invalid("store.path", "missing"))?;
                let mut opts = SqliteOptions::new(path);
                opts.synchronous = self.synchronous.to_ascii_uppercase();
                opts.busy_timeout = std::time::Duration::from_millis(self.busy_timeout_ms);
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

impl MssqlSection {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.connection_string.is_none() {
            if self.database.as_deref().unwrap_or("").is_empty() {
                return Err(invalid(
                    "store.mssql.database",
                    "需要 database 或 connection_string / database (or connection_string) is required",
                ));
            }
            match self.auth.as_str() {
                "sql" if self.user.is_some() && self.password.is_some() => {}
                "sql" => {
                    return Err(invalid(
                        "store.mssql.user / password",
                        "auth = \"sql\" 需要 user 和 password / needs user and password",
                    ))
                }
                "windows" => {}
                _ => {
                    return Err(invalid(
                        "store.mssql.auth",
                        "must be \"sql\" or \"windows\"",
                    ))
                }
            }
        }
        parse_encryption(&self.encryption)?;
        if self.command_timeout_ms == 0 || self.connect_timeout_ms == 0 {
            return Err(invalid(
                "store.mssql.command_timeout_ms / connect_timeout_ms",
                "must be at least 1",
            ));
        }
        if self.pool_max == 0 {
            return Err(invalid("store.mssql.pool_max", "must be at least 1"));
        }
        Ok(())
    }

    /// The store's options with secrets resolved.
    pub fn options(&self) -> Result<MssqlOptions, ConfigError> {
        let auth = match self.auth.as_str() {
            "windows" => MssqlAuth::Windows,
            _ => MssqlAuth::Sql {
                user: self.user.clone().unwrap_or_default(),
                password: match &self.password {
                    Some(p) if self.connection_string.is_none() => {
                        resolve_secret(p).map_err(|m| invalid("store.mssql.password", m))?
                    }
                    _ => String::new(),
                },
            },
        };
        let mut o = MssqlOptions::new(self.database.clone().unwrap_or_default(), auth);
        if let Some(cs) = &self.connection_string {
            o.connection_string =
                Some(resolve_secret(cs).map_err(|m| invalid("store.mssql.connection_string", m))?);
        }
        o.host = self.host.clone();
        o.port = self.port;
        o.instance = self.instance.clone();
        o.encryption = parse_encryption(&self.encryption)?;
        o.trust_server_certificate = self.trust_server_certificate;
        o.command_timeout = Duration::from_millis(self.command_timeout_ms);
        o.connect_timeout = Duration::from_millis(self.connect_timeout_ms);
        o.pool_max = self.pool_max;
        Ok(o)
    }
}

fn parse_encryption(s: &str) -> Result<MssqlEncryption, ConfigError> {
    match s {
        "required" => Ok(MssqlEncryption::Required),
        "on" => Ok(MssqlEncryption::On),
        "off" => Ok(MssqlEncryption::Off),
        "not_supported" => Ok(MssqlEncryption::NotSupported),
        _ => Err(invalid(
            "store.mssql.encryption",
            "must be \"required\", \"on\", \"off\" or \"not_supported\"",
        )),
    }
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
        let o = s.mssql.as_ref().unwrap().options().unwrap();
        assert_eq!(
            o.auth,
            MssqlAuth::Sql {
                user: "yibao".into(),
                password: "pa55".into()
            }
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
        assert!(s.mssql.unwrap().connection_string.is_some());
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
