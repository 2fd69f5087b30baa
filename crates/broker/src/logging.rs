//! Where the broker's log goes and what it may contain. `[log]` chooses the console or daily
//! rolling files (kept `retention_days`), text or JSON. Every line passes through
//! [`yibao_core::privacy::mask_pii`] on its way out, whatever wrote it (our code, a
//! library, an error message quoting a platform reply), so 身份证号, phone and card numbers
//! and names never reach a log file.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::MakeWriter;

/// Timestamps in the host's local time with its UTC offset
/// (`2026-12-02T10:15:03.123+08:00`): an operator reads the hospital's clock, and a line
/// still compares exactly with a UTC one.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalTime;

/// The timestamp format of every log line.
const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3f%:z";

impl LocalTime {
    /// `now` in the log's format.
    pub fn format<Tz: chrono::TimeZone>(now: &chrono::DateTime<Tz>) -> String
    where
        Tz::Offset: std::fmt::Display,
    {
        now.format(TIME_FORMAT).to_string()
    }
}

impl FormatTime for LocalTime {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        write!(w, "{}", Self::format(&chrono::Local::now()))
    }
}

/// `[log]` in the config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// Directory for daily files `yibao-broker.<date>.log`; relative to the config file.
    /// Unset: the console (stderr) — or, under the Windows SCM, `logs` beside the config.
    pub dir: Option<PathBuf>,
    /// `text` or `json`.
    pub format: String,
    /// Daily files kept; older ones are deleted.
    pub retention_days: usize,
    /// Default filter (`info`, `debug`, `yibao_broker=debug`, …); `YIBAO_LOG` overrides it.
    pub level: String,
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            dir: None,
            format: "text".into(),
            retention_days: 30,
            level: "info".into(),
        }
    }
}

impl LogSection {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !matches!(self.format.as_str(), "text" | "json") {
            return Err(
                "log.format 只能是 \"text\" 或 \"json\" / log.format must be \"text\" or \"json\""
                    .into(),
            );
        }
        if self.retention_days == 0 {
            return Err(
                "log.retention_days 至少为 1 / log.retention_days must be at least 1".into(),
            );
        }
        tracing_subscriber::EnvFilter::try_new(&self.level)
            .map_err(|e| format!("log.level: {e}"))?;
        Ok(())
    }

    /// Makes a relative `dir` relative to the config file's folder.
    pub(crate) fn anchor(&mut self, config_dir: &Path) {
        if let Some(d) = &self.dir {
            if d.is_relative() {
                self.dir = Some(config_dir.join(d));
            }
        }
    }
}

/// Installs the global subscriber. `fallback_dir` is used when `[log] dir` is unset and
/// there is no console (the Windows service).
pub fn init(log: &LogSection, fallback_dir: Option<&Path>) -> io::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("YIBAO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&log.level));
    let dir = log.dir.as_deref().or(fallback_dir);
    let json = log.format == "json";
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            let files = tracing_appender::rolling::Builder::new()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix("yibao-broker")
                .filename_suffix("log")
                .max_log_files(log.retention_days)
                .build(dir)
                .map_err(|e| {
                    io::Error::other(format!("cannot open log files in {}: {e}", dir.display()))
                })?;
            install(filter, json, false, Masking(files));
        }
        None => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            install(filter, json, ansi, Masking(std::io::stderr));
        }
    }
    Ok(())
}

fn install<W>(filter: tracing_subscriber::EnvFilter, json: bool, ansi: bool, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(LocalTime)
        .with_ansi(ansi && !json)
        .with_writer(writer);
    // A second init (tests, the demo after a failed start) keeps the first subscriber.
    let _ = if json {
        builder.json().with_current_span(true).try_init()
    } else {
        builder.try_init()
    };
}

/// Wraps a writer factory so every event is masked before it is written.
pub struct Masking<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Masking<M> {
    type Writer = MaskingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        MaskingWriter {
            inner: self.0.make_writer(),
            buf: Vec::with_capacity(256),
        }
    }
}

/// Collects one event (the formatter writes it through one writer) and writes it masked.
pub struct MaskingWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: Write> MaskingWriter<W> {
    fn emit(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&self.buf);
        let masked = yibao_core::privacy::mask_pii(&text);
        self.inner.write_all(masked.as_bytes())?;
        self.buf.clear();
        self.inner.flush()
    }
}

impl<W: Write> Write for MaskingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.emit()
    }
}

impl<W: Write> Drop for MaskingWriter<W> {
    fn drop(&mut self) {
        let _ = self.emit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn everything_written_through_the_logger_is_masked() {
        let sink = Sink::default();
        let make = Masking({
            let s = sink.clone();
            move || s.clone()
        });
        let subscriber = tracing_subscriber::fmt()
            .with_writer(make)
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(
                request_id = 7,
                "unreadable reply: {}",
                r#"{"psn_name":"张三丰","certno":"430102199003071234","mob":"13912345678"}"#
            );
        });
        let out = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert!(out.contains("request_id=7"), "{out}");
        for secret in ["张三丰", "430102199003071234", "13912345678"] {
            assert!(!out.contains(secret), "{secret} leaked: {out}");
        }
    }

    #[test]
    fn timestamps_are_local_time_with_the_utc_offset() {
        let beijing = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
        let t = chrono::TimeZone::with_ymd_and_hms(&beijing, 2026, 12, 2, 10, 15, 3).unwrap()
            + chrono::Duration::milliseconds(123);
        assert_eq!(LocalTime::format(&t), "2026-12-02T10:15:03.123+08:00");
        let utc = LocalTime::format(&chrono::Utc::now());
        assert!(utc.ends_with("+00:00"), "{utc}");
        let mut line = String::new();
        LocalTime.format_time(&mut Writer::new(&mut line)).unwrap();
        let offset = &line[line.len() - 6..];
        assert!(
            (offset.starts_with('+') || offset.starts_with('-')) && offset.as_bytes()[3] == b':',
            "{line}"
        );
    }

    #[test]
    fn settings_are_checked() {
        assert!(LogSection::default().validate().is_ok());
        let bad = LogSection {
            format: "xml".into(),
            ..LogSection::default()
        };
        assert!(bad.validate().is_err());
        let mut rel = LogSection {
            dir: Some("logs".into()),
            ..LogSection::default()
        };
        rel.anchor(Path::new("/etc/yibao"));
        assert_eq!(rel.dir.unwrap(), Path::new("/etc/yibao/logs"));
    }
}
