//! The broker's TOML configuration (`examples/yibao.toml` documents every key).
//!
//! Secrets (the tif token, appSecret, keys, the SQL Server password) are never written in the
//! file itself when avoidable: a value `env:NAME` is read from the environment and
//! `file:PATH` from a file, so the config can be checked into the hospital's change control
//! without the keys. They are held as [`yibao_core::secret::Secret`], which never prints.
//!
//! A config can also be built in code ([`Config::new`]) and written with `toml::to_string`:
//! the demo, the e2e harness and the benchmarks do, so the file format has one definition.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod cainfo;
mod catalog;
pub mod files;
mod institution;
mod names;
mod platform;
pub mod schedule;
pub mod site;
mod store;
pub use catalog::{CatalogSection, ValidationMode};
pub use platform::{ApikeyConfig, CsbConfig, PlatformSection, ProfileConfig, TifConfig};
pub use site::SiteSection;
pub use store::{OpenError, SqliteSection, StoreSection, Synchronous};
use yibao_core::catalog::InterfaceOverride;
use yibao_core::platform::ClientSettings;
use yibao_core::{EnvelopeDefaults, Profile};

/// Configuration errors, worded for the operator who edits the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("无法读取配置文件 / cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("配置文件格式错误 / invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("配置项无效 / invalid setting {key}: {message}")]
    Invalid { key: &'static str, message: String },
    #[error("站点包有误 / site pack {path}: {message}")]
    Site { path: PathBuf, message: String },
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub broker: BrokerSection,
    pub store: StoreSection,
    pub platform: PlatformSection,
    pub institution: EnvelopeDefaults,
    /// Site additions and corrections to the interface catalog, keyed by code.
    #[serde(default)]
    pub interfaces: BTreeMap<String, InterfaceOverride>,
    /// The site catalog file and whether its rules stop a request (docs/catalog.md).
    #[serde(default)]
    pub catalog: catalog::CatalogSection,
    /// The site pack this file is laid over (`[site] dir`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<SiteSection>,
    /// Where logs go (console or daily files), text or JSON.
    #[serde(default)]
    pub log: crate::logging::LogSection,
    /// The read-only status page (off by default).
    #[serde(default)]
    pub status_page: crate::status_page::StatusPageSection,
    /// Files received (9102) and sent (9101).
    #[serde(default)]
    pub files: files::FilesSection,
    /// Batch jobs started on a calendar (`[[schedule]]`).
    #[serde(default)]
    pub schedule: Vec<schedule::ScheduleEntry>,
}

/// What to do with an interface code the catalog does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum UnknownInterfaces {
    /// Mark the request ERROR without sending it (a typo never reaches the platform).
    #[default]
    Reject,
    /// Send it, treated as state-changing.
    Send,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerSection {
    /// Pipe name (Windows `\\.\pipe\<name>`, Unix `/tmp/<name>.sock` or a path).
    pub pipe: String,
    pub max_frame_bytes: u32,
    /// Connections served at once; one more is answered `Busy` and closed at once.
    pub max_connections: usize,
    /// A new connection's `Hello` must arrive within this (an idle socket frees its slot).
    pub handshake_timeout_ms: u64,
    /// A connection with no request for this long after its last answer is closed.
    pub idle_timeout_ms: u64,
    /// Bytes of large request frames (over 64 KiB) being read at once, over all
    /// connections: half-sent big frames cannot take the broker's memory.
    pub max_buffered_bytes: u64,
    /// Requests processed at the same time (bounded worker pool).
    pub workers: usize,
    /// Longest wait between looks for PENDING rows inserted by SQL alone: the pace when
    /// idle, and what an idle broker costs the database (`1000 / poll_interval_ms` indexed
    /// queries a second). See `pace.rs`.
    pub poll_interval_ms: u64,
    /// Shortest wait between looks: right after work or a wake-up, doubling per empty look.
    pub poll_min_ms: u64,
    /// How long a claim is held before another broker may consider it abandoned.
    pub lease_ms: u64,
    /// Name of this broker in `worker_id` columns; default `<host>-<pid>`.
    pub worker_id: Option<String>,
    /// 0–9, only when several brokers share one institution code.
    pub msgid_node: Option<u8>,
    /// On shutdown, how long in-flight requests may take to finish.
    pub shutdown_grace_ms: u64,
    pub unknown_interfaces: UnknownInterfaces,
    /// Most attempts for one request when failures may be retried (see README, retries).
    pub retry_max_attempts: u32,
    /// First pause between attempts; doubled each time, with jitter.
    pub retry_base_delay_ms: u64,
    /// Longest pause between attempts.
    pub retry_max_delay_ms: u64,
    /// How often expired leases (a crashed or hung broker's rows) are recovered.
    pub recover_interval_ms: u64,
    /// Send 9002 签退 for every signed-in operator on graceful shutdown.
    pub sign_out_on_shutdown: bool,
    /// Windows: accounts (or SIDs) that may open the pipe besides SYSTEM, Administrators and
    /// the broker's own account — the SQL Server service or xp_cmdshell proxy account.
    pub pipe_allow: Vec<String>,
    /// Windows: a complete SDDL for the pipe instead of the default (experts only).
    pub pipe_sddl: Option<String>,
}

impl BrokerSection {
    /// The `[broker]` ranges and the settings that must agree (`request_timeout_ms` is the
    /// platform's, which the lease must outlast).
    fn check(&self, request_timeout_ms: u64) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| ConfigError::Invalid {
            key,
            message: message.to_string(),
        };
        let b = self;
        if b.workers == 0 || b.workers > 1024 {
            return Err(invalid(
                "broker.workers",
                "须在 1 到 1024 之间 / must be 1..=1024",
            ));
        }
        if b.max_connections == 0 {
            return Err(invalid(
                "broker.max_connections",
                "至少为 1 / must be at least 1",
            ));
        }
        if b.max_frame_bytes < 1024 {
            return Err(invalid(
                "broker.max_frame_bytes",
                "至少为 1024 / must be at least 1024",
            ));
        }
        if b.handshake_timeout_ms < 100 || b.idle_timeout_ms < 100 {
            return Err(invalid(
                "broker.handshake_timeout_ms / idle_timeout_ms",
                "至少为 100 / must be at least 100",
            ));
        }
        if b.max_buffered_bytes < u64::from(b.max_frame_bytes) {
            return Err(invalid(
                "broker.max_buffered_bytes",
                "不能小于 broker.max_frame_bytes / must be at least broker.max_frame_bytes",
            ));
        }
        if b.poll_interval_ms == 0 {
            return Err(invalid(
                "broker.poll_interval_ms",
                "至少为 1 / must be at least 1",
            ));
        }
        if b.poll_min_ms == 0 || b.poll_min_ms > b.poll_interval_ms {
            return Err(invalid(
                "broker.poll_min_ms",
                "须在 1 到 broker.poll_interval_ms 之间 / must be 1..=broker.poll_interval_ms",
            ));
        }
        if b.lease_ms < request_timeout_ms * 2 {
            return Err(invalid(
                "broker.lease_ms",
                "至少为 platform.request_timeout_ms 的两倍 / must be at least twice platform.request_timeout_ms",
            ));
        }
        self.check_work()
    }

    /// The `[broker]` settings of retries, recovery, msgids and the pipe's access.
    fn check_work(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| ConfigError::Invalid {
            key,
            message: message.to_string(),
        };
        let b = self;
        if b.retry_max_attempts == 0 || b.retry_max_attempts > 100 {
            return Err(invalid(
                "broker.retry_max_attempts",
                "须在 1 到 100 之间 / must be 1..=100",
            ));
        }
        if b.retry_base_delay_ms == 0 || b.retry_max_delay_ms < b.retry_base_delay_ms {
            return Err(invalid(
                "broker.retry_base_delay_ms / retry_max_delay_ms",
                "须满足 0 < base <= max / need 0 < base <= max",
            ));
        }
        if b.recover_interval_ms == 0 {
            return Err(invalid(
                "broker.recover_interval_ms",
                "至少为 1 / must be at least 1",
            ));
        }
        if b.msgid_node.is_some_and(|n| n > 9) {
            return Err(invalid(
                "broker.msgid_node",
                "须在 0 到 9 之间 / must be 0..=9",
            ));
        }
        for entry in &b.pipe_allow {
            crate::pipe_security::check_entry(entry)
                .map_err(|m| invalid("broker.pipe_allow", &m))?;
        }
        if b.pipe_sddl
            .as_deref()
            .is_some_and(|s| !s.starts_with("D:") && !s.starts_with("O:"))
        {
            return Err(invalid(
                "broker.pipe_sddl",
                "须为 SDDL 字符串（D:… 或 O:…）/ must be an SDDL string (D:… or O:…)",
            ));
        }
        Ok(())
    }
}

impl Default for BrokerSection {
    fn default() -> Self {
        Self {
            pipe: yibao_proto::DEFAULT_PIPE_NAME.to_string(),
            max_frame_bytes: yibao_proto::DEFAULT_MAX_FRAME,
            max_connections: 512,
            handshake_timeout_ms: 5_000,
            idle_timeout_ms: 60_000,
            max_buffered_bytes: 64 * 1024 * 1024,
            workers: 16,
            poll_interval_ms: 20,
            poll_min_ms: 5,
            lease_ms: 5 * 60 * 1000,
            worker_id: None,
            msgid_node: None,
            shutdown_grace_ms: 30_000,
            unknown_interfaces: UnknownInterfaces::Reject,
            retry_max_attempts: 5,
            retry_base_delay_ms: 200,
            retry_max_delay_ms: 5_000,
            recover_interval_ms: 30_000,
            sign_out_on_shutdown: false,
            pipe_allow: Vec::new(),
            pipe_sddl: None,
        }
    }
}

impl Config {
    /// A config for the common case — the platform and its signing profile, where the
    /// queue lives, the institution — with every other setting at its file default. Adjust
    /// the public fields, then [`Config::check`] (or write it with `toml::to_string` and
    /// load it).
    pub fn new(
        platform: PlatformSection,
        store: StoreSection,
        institution: EnvelopeDefaults,
    ) -> Self {
        Self {
            broker: BrokerSection::default(),
            store,
            platform,
            institution,
            interfaces: BTreeMap::new(),
            catalog: CatalogSection::default(),
            site: None,
            log: crate::logging::LogSection::default(),
            status_page: crate::status_page::StatusPageSection::default(),
            files: files::FilesSection::default(),
            schedule: Vec::new(),
        }
    }

    /// Reads and checks a config file (laid over its site pack when it names one).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = read_text(path)?;
        let with_path = |e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        };
        let mut cfg = site::parse(&text, path, path.parent())?;
        if let Some(dir) = path.parent() {
            // Relative paths in the file are relative to the file, not to the service's
            // working directory (C:\Windows\System32 for a Windows service).
            let anchor = |p: &mut Option<PathBuf>| {
                if let Some(rel) = p.as_ref().filter(|p| p.is_relative()) {
                    *p = Some(dir.join(rel));
                }
            };
            if let StoreSection::Sqlite(sqlite) = &mut cfg.store {
                if sqlite.path.is_relative() {
                    sqlite.path = dir.join(&sqlite.path);
                }
            }
            anchor(&mut cfg.catalog.file);
            if let Some(site) = cfg.site.as_mut().filter(|s| s.dir.is_relative()) {
                site.dir = dir.join(&site.dir);
            }
            cfg.log.anchor(dir);
            cfg.files.anchor(dir);
        }
        cfg.check()
            .map_err(with_path)
            .map_err(|e| cfg.naming_pack(e))?;
        Ok(cfg)
    }

    /// Parses config text and checks the values; a `[site] dir` is relative to the
    /// working directory here.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let cfg = site::parse(text, Path::new(""), None)?;
        cfg.check().map_err(|e| cfg.naming_pack(e))?;
        Ok(cfg)
    }

    /// A refused setting of a merged config also names the pack's file: the value may be
    /// the pack's.
    fn naming_pack(&self, e: ConfigError) -> ConfigError {
        match (e, &self.site) {
            (ConfigError::Invalid { key, message }, Some(site)) => ConfigError::Invalid {
                key,
                message: format!(
                    "{message}\n（已合并站点包 / merged with the site pack {}）",
                    site.fragment().display()
                ),
            },
            (e, _) => e,
        }
    }

    /// Checks what the types cannot: ranges, and settings that must agree (a file's
    /// config is checked when loaded; one built in code should be checked before use).
    pub fn check(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| ConfigError::Invalid {
            key,
            message: message.to_string(),
        };
        self.broker.check(self.platform.request_timeout_ms)?;
        self.store.validate()?;
        self.log.validate().map_err(|m| invalid("log", &m))?;
        self.files.validate().map_err(|m| invalid("files", &m))?;
        schedule::validate(&self.schedule).map_err(|m| invalid("schedule", &m))?;
        self.status_page
            .validate()
            .map_err(|m| invalid("status_page", &m))?;
        institution::check(&self.institution)?;
        cainfo::check(self)?;
        self.catalog()?;
        if !self.platform.url.starts_with("http://") && !self.platform.url.starts_with("https://") {
            return Err(invalid(
                "platform.url",
                "须以 http:// 或 https:// 开头 / must start with http:// or https://",
            ));
        }
        Ok(())
    }

    /// `host:port` of the platform URL, for the reachability check.
    pub fn platform_address(&self) -> Option<String> {
        let url = &self.platform.url;
        let (rest, default_port) = if let Some(r) = url.strip_prefix("https://") {
            (r, 443)
        } else {
            (url.strip_prefix("http://")?, 80)
        };
        let authority = rest.split(['/', '?', '#']).next()?;
        let authority = authority.rsplit('@').next()?;
        if authority.is_empty() {
            return None;
        }
        let has_port = authority.rsplit_once(':').is_some_and(|(_, p)| {
            !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) && !authority.ends_with(']')
        });
        Some(if has_port {
            authority.to_string()
        } else {
            format!("{authority}:{default_port}")
        })
    }

    pub fn client_settings(&self) -> ClientSettings {
        let p = &self.platform;
        ClientSettings {
            url: p.url.clone(),
            connect_timeout: Duration::from_millis(p.connect_timeout_ms),
            request_timeout: Duration::from_millis(p.request_timeout_ms),
            pool_idle_timeout: Duration::from_millis(p.pool_idle_timeout_ms),
            pool_max_idle_per_host: p.pool_max_idle,
        }
    }

    /// Builds the signing profile, resolving its secrets.
    pub fn profile(&self) -> Result<std::sync::Arc<dyn Profile>, ConfigError> {
        self.platform.build_profile()
    }

    pub fn worker_id(&self) -> String {
        self.broker
            .worker_id
            .clone()
            .unwrap_or_else(|| format!("{}-{}", host_name(), std::process::id()))
    }
}

/// A config file's text: UTF-8 (a BOM is fine), or an error saying how to save it so.
pub(crate) fn read_text(path: &Path) -> Result<String, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    // Notepad on a Chinese Windows saves "ANSI" (GBK) by default; say what to do.
    let text = String::from_utf8(bytes).map_err(|_| ConfigError::Parse {
        path: path.to_path_buf(),
        message: "文件不是 UTF-8 编码（可能是 GBK/ANSI）：请用记事本“另存为”，编码选 UTF-8 / \
                  the file is not UTF-8 (perhaps GBK/ANSI): save it again as UTF-8 \
                  (Notepad: Save As, Encoding: UTF-8)"
            .into(),
    })?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(&text).to_string())
}

/// This machine's name: the OS's own on Unix (a service started by systemd has no
/// `HOSTNAME` variable), `COMPUTERNAME` on Windows (set by the OS for every process,
/// services included); `broker` if neither answers.
pub fn host_name() -> String {
    #[cfg(unix)]
    if let Some(name) = unix_host_name() {
        return name;
    }
    std::env::var("COMPUTERNAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| "broker".into())
}

#[cfg(unix)]
fn unix_host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many
    // bytes and we read only up to the first NUL (or the whole buffer if none).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).trim().to_string();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests;
