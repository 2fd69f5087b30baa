//! Where the SQL Server is and how to log in. The broker's config (`[store.mssql]`) fills
//! this in with secrets already resolved; nothing here is read from files or the environment.

use std::time::Duration;

use tiberius::{AuthMethod, Config, EncryptionLevel};

use crate::StoreError;

/// How to log in.
#[derive(Clone, PartialEq, Eq)]
pub enum MssqlAuth {
    /// SQL Server login.
    Sql { user: String, password: String },
    /// Windows integrated authentication (the service account), Windows only.
    Windows,
}

impl std::fmt::Debug for MssqlAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MssqlAuth::Sql { user, .. } => {
                write!(f, "Sql {{ user: {user:?}, password: <redacted> }}")
            }
            MssqlAuth::Windows => f.write_str("Windows"),
        }
    }
}

/// TDS encryption. SQL Server 2008 R2 without its TLS 1.2 update speaks only TLS 1.0/1.1:
/// on Windows the broker uses SChannel, which can; elsewhere rustls cannot, so use
/// `Off`/`NotSupported` there only on a trusted network (see docs/sqlserver.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MssqlEncryption {
    /// Encrypt only the login packet.
    Off,
    /// Encrypt everything if the server can.
    On,
    /// Encrypt everything or fail.
    Required,
    /// No TLS at all (the password crosses the network merely obfuscated).
    NotSupported,
}

/// Everything needed to reach the database.
#[derive(Debug, Clone)]
pub struct MssqlOptions {
    /// An ADO.NET connection string; when set, the address, database, login and encryption
    /// fields below are taken from it instead.
    pub connection_string: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    /// Named instance (resolved through the SQL Server Browser service, UDP 1434).
    pub instance: Option<String>,
    pub database: String,
    pub auth: MssqlAuth,
    pub encryption: MssqlEncryption,
    pub trust_server_certificate: bool,
    /// Each statement (batch) must finish within this, or the connection is dropped.
    pub command_timeout: Duration,
    pub connect_timeout: Duration,
    pub pool_max: u32,
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
            Some(s) => Config::from_ado_string(s).map_err(|e| {
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
        match &self.auth {
            MssqlAuth::Sql { user, password } => Ok(AuthMethod::sql_server(user, password)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_and_debug_never_show_the_password() {
        let mut o = MssqlOptions::new(
            "HIS",
            MssqlAuth::Sql {
                user: "yibao".into(),
                password: "pa55word".into(),
            },
        );
        o.instance = Some("SQLEXPRESS".into());
        assert_eq!(o.describe(), "mssql:localhost\\SQLEXPRESS/HIS");
        assert!(!format!("{o:?}").contains("pa55word"));
        assert!(o.tiberius_config().is_ok());
        o.connection_string = Some("server=tcp:db,1433;user=sa;password=pa55word".into());
        assert!(!o.describe().contains("pa55word"));
        assert!(o.tiberius_config().is_ok());
    }
}
