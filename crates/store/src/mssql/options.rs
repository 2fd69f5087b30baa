//! Where the SQL Server is and how to log in. These options are also the broker's
//! `[store.mssql]` table as written (keys in docs/sqlserver.md): one shape, so the file and
//! the store cannot drift apart. Secrets stay `env:`/`file:` references until the driver's
//! config is built, once per open.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tiberius::{AuthMethod, Config, EncryptionLevel};
use yibao_core::secret::Secret;

use crate::StoreError;

/// How to log in (`auth` in the file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MssqlAuth {
    /// SQL Server login with `user` and `password`.
    #[default]
    Sql,
    /// Windows integrated authentication (the service account), Windows only.
    Windows,
}

/// TDS encryption. SQL Server 2008 R2 without its TLS 1.2 update speaks only TLS 1.0/1.1:
/// on Windows the broker uses SChannel, which can; elsewhere rustls cannot, so use
/// `Off`/`NotSupported` there only on a trusted network (see docs/sqlserver.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MssqlEncryption {
    /// Encrypt only the login packet.
    Off,
    /// Encrypt everything if the server can.
    On,
    /// Encrypt everything or fail.
    #[default]
    Required,
    /// No TLS at all (the password crosses the network merely obfuscated).
    NotSupported,
}

/// Everything needed to reach the database.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MssqlOptions {
    /// An ADO.NET connection string; when set, the address, database, login and encryption
    /// fields below are taken from it instead.
    pub connection_string: Option<Secret>,
    pub host: String,
    pub port: Option<u16>,
    /// Named instance (resolved through the SQL Server Browser service, UDP 1434).
    pub instance: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub database: String,
    pub auth: MssqlAuth,
    /// The SQL Server login (`auth = "sql"`).
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub encryption: MssqlEncryption,
    pub trust_server_certificate: bool,
    /// Each statement (batch) must finish within this, or the connection is dropped.
    #[serde(rename = "command_timeout_ms", with = "millis")]
    pub command_timeout: Duration,
    #[serde(rename = "connect_timeout_ms", with = "millis")]
    pub connect_timeout: Duration,
    pub pool_max: u32,
}

impl Default for MssqlOptions {
    fn default() -> Self {
        Self::new("", MssqlAuth::Sql)
    }
}

/// A `Duration` as whole milliseconds, the unit of the file's `*_ms` keys.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

impl MssqlOptions {
    /// Defaults for a local default instance with the given database and login.
    pub fn new(database: impl Into<String>, auth: MssqlAuth) -> Self {
        Self {
            connection_string: None,
            host: "localhost".into(),
            port: None,
            instance: None,
            database: database.into(),
            auth,
            user: None,
            password: None,
            encryption: MssqlEncryption::Required,
            trust_server_certificate: false,
            command_timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(5),
            pool_max: 16,
        }
    }

    /// The driver's config.
    pub fn tiberius_config(&self) -> Result<Config, StoreError> {
        let mut c = match &self.connection_string {
            Some(s) => Config::from_ado_string(&resolve(s, "connection_string")?).map_err(|e| {
                StoreError::Unavailable(format!("连接字符串无效 / invalid connection string: {e}"))
            })?,
            None => {
                let mut c = Config::new();
                c.host(&self.host);
                if let Some(p) = self.port {
                    c.port(p);
                }
                if let Some(i) = &self.instance {
                    c.instance_name(i);
                }
                c.database(&self.database);
                c.encryption(match self.encryption {
                    MssqlEncryption::Off => EncryptionLevel::Off,
                    MssqlEncryption::On => EncryptionLevel::On,
                    MssqlEncryption::Required => EncryptionLevel::Required,
                    MssqlEncryption::NotSupported => EncryptionLevel::NotSupported,
                });
                if self.trust_server_certificate {
                    c.trust_cert();
                }
                c.authentication(self.auth_method()?);
                c
            }
        };
        c.application_name("yibao-broker");
        Ok(c)
    }

    fn auth_method(&self) -> Result<AuthMethod, StoreError> {
        match self.auth {
            MssqlAuth::Sql => {
                let password = match &self.password {
                    Some(p) => resolve(p, "password")?,
                    None => String::new(),
                };
                let user = self.user.as_deref().unwrap_or_default();
                Ok(AuthMethod::sql_server(user, password))
            }
            #[cfg(windows)]
            MssqlAuth::Windows => Ok(AuthMethod::Integrated),
            #[cfg(not(windows))]
            MssqlAuth::Windows => Err(StoreError::Unavailable(
                "Windows 集成身份验证只能在 Windows 上使用 / Windows integrated authentication works only on Windows"
                    .into(),
            )),
        }
    }

    /// Where the store lives, for status output: no login, no password.
    pub fn describe(&self) -> String {
        if self.connection_string.is_some() {
            return "mssql:(connection string)".into();
        }
        let instance = self
            .instance
            .as_ref()
            .map(|i| format!("\\{i}"))
            .unwrap_or_default();
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        format!("mssql:{}{instance}{port}/{}", self.host, self.database)
    }
}

/// A secret of `[store.mssql]`, resolved by the one rule; the error names the key.
fn resolve(secret: &Secret, key: &str) -> Result<String, StoreError> {
    secret
        .resolve_text()
        .map_err(|m| StoreError::Unavailable(format!("store.mssql.{key}: {m}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_and_debug_never_show_the_password() {
        let mut o = MssqlOptions::new("HIS", MssqlAuth::Sql);
        o.user = Some("yibao".into());
        o.password = Some("pa55word".into());
        o.instance = Some("SQLEXPRESS".into());
        assert_eq!(o.describe(), "mssql:localhost\\SQLEXPRESS/HIS");
        assert!(!format!("{o:?}").contains("pa55word"));
        assert!(o.tiberius_config().is_ok());
        o.connection_string = Some("server=tcp:db,1433;user=sa;password=pa55word".into());
        assert!(!o.describe().contains("pa55word"));
        assert!(!format!("{o:?}").contains("pa55word"));
        assert!(o.tiberius_config().is_ok());
    }
}
