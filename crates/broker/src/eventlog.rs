//! The Windows Event Log (the Application log, Event Viewer → Windows 日志 → 应用程序).
//!
//! A service has no console, and at the moment its config is refused there is no log file
//! yet either: the Event Log is where a Windows administrator looks first, and where
//! monitoring tools (SCOM, Zabbix agents) read from. The broker writes a few events there
//! — started, stopped, fatal error, a request left UNCERTAIN — and everything else goes to
//! its own log (`[log]`). Text is masked like every log line ([`mask_pii`]).
//!
//! The source is registered by `service install` (and by the MSI) under
//! `HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\<service name>` with .NET's
//! `EventLogMessages.dll` as message file — the file `EventLog.CreateEventSource` uses,
//! whose every event id is the text `%1` — so Event Viewer shows our text as is, without
//! a message resource compiled into the exe. Writing works without the registration too;
//! Event Viewer then adds a "description cannot be found" preamble.
//!
//! Elsewhere (Linux, systemd) [`report`] does nothing: the journal already has stderr.

use yibao_core::privacy::mask_pii;

/// The event message file registered with the source (REG_EXPAND_SZ).
pub const MESSAGE_FILE: &str =
    r"%SystemRoot%\Microsoft.NET\Framework64\v4.0.30319\EventLogMessages.dll";

/// The registry key of an event source named `source` (under HKLM).
pub fn source_key(source: &str) -> String {
    format!(r"SYSTEM\CurrentControlSet\Services\EventLog\Application\{source}")
}

/// What the broker writes to the Event Log. The ids are stable: monitoring rules match them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The broker serves (pipe bound, store open). Id 1000, information.
    Started,
    /// The broker stopped after a stop request. Id 1001, information.
    Stopped,
    /// The broker cannot start or stopped on an error (a refused config, a pipe in use).
    /// Id 1002, error.
    Fatal,
    /// A request ended UNCERTAIN: someone must reverse or reconcile it. Id 1003, warning.
    Uncertain,
}

/// How Event Viewer shows an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Information,
    Warning,
    Error,
}

impl Event {
    pub fn id(self) -> u32 {
        match self {
            Event::Started => 1000,
            Event::Stopped => 1001,
            Event::Fatal => 1002,
            Event::Uncertain => 1003,
        }
    }

    pub fn level(self) -> Level {
        match self {
            Event::Started | Event::Stopped => Level::Information,
            Event::Fatal => Level::Error,
            Event::Uncertain => Level::Warning,
        }
    }
}

/// The text written for an event: masked, and bounded (an event's strings may hold at
/// most 31,839 characters; a long platform reply is cut, not the event lost).
pub fn text(message: &str) -> String {
    const MAX_CHARS: usize = 8000;
    let masked = mask_pii(message);
    match masked.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &masked[..cut]),
        None => masked.into_owned(),
    }
}

/// Names the source the events are written under; the Windows service calls it with its
/// service name before anything is reported. Unset: `yibao-broker`.
pub fn set_source(name: &str) {
    imp::set_source(name)
}

/// Writes one event. Never fails: the Event Log is a second copy, not the record.
pub fn report(event: Event, message: &str) {
    imp::write(event, &text(message))
}

/// The broker cannot start, or stopped on an error: the one place that words it, for the
/// console `run` and the service alike.
pub fn fatal(error: &anyhow::Error) {
    report(
        Event::Fatal,
        &format!(
            "yibao-broker 无法启动或因错误停止 / cannot start or stopped on an error: {error:#}"
        ),
    )
}

/// `service install`: registers the event source so Event Viewer shows the text.
pub fn register(source: &str) -> std::io::Result<()> {
    imp::register(source)
}

/// `service uninstall`: removes the event source (the events already written stay).
pub fn unregister(source: &str) -> std::io::Result<()> {
    imp::unregister(source)
}

#[cfg(not(windows))]
mod imp {
    pub fn set_source(_: &str) {}
    pub fn write(_: super::Event, _: &str) {}
    pub fn register(_: &str) -> std::io::Result<()> {
        Ok(())
    }
    pub fn unregister(_: &str) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(windows)]
mod imp {
    use std::sync::OnceLock;

    use windows_sys::Win32::Foundation::ERROR_SUCCESS;
    use windows_sys::Win32::System::EventLog::{
        RegisterEventSourceW, ReportEventW, EVENTLOG_ERROR_TYPE, EVENTLOG_INFORMATION_TYPE,
        EVENTLOG_WARNING_TYPE,
    };
    use windows_sys::Win32::System::Registry::{
        RegCloseKey, RegCreateKeyExW, RegDeleteTreeW, RegSetValueExW, HKEY, HKEY_LOCAL_MACHINE,
        KEY_WRITE, REG_DWORD, REG_EXPAND_SZ, REG_OPTION_NON_VOLATILE,
    };

    use super::{Event, Level};

    static SOURCE: OnceLock<String> = OnceLock::new();
    /// The handle from `RegisterEventSourceW`, kept for the process's life (0: none).
    static HANDLE: OnceLock<usize> = OnceLock::new();

    fn wide(s: &str) -> Vec<u16> {
        s.encode_utf16().chain(std::iter::once(0)).collect()
    }

    pub fn set_source(name: &str) {
        let _ = SOURCE.set(name.to_string());
    }

    fn handle() -> usize {
        *HANDLE.get_or_init(|| {
            let source = SOURCE.get_or_init(|| crate::winservice::DEFAULT_NAME.to_string());
            let name = wide(source);
            // SAFETY: `name` is a NUL-terminated UTF-16 string that outlives the call.
            unsafe { RegisterEventSourceW(std::ptr::null(), name.as_ptr()) as usize }
        })
    }

    pub fn write(event: Event, text: &str) {
        let h = handle();
        if h == 0 {
            return;
        }
        let kind = match event.level() {
            Level::Information => EVENTLOG_INFORMATION_TYPE,
            Level::Warning => EVENTLOG_WARNING_TYPE,
            Level::Error => EVENTLOG_ERROR_TYPE,
        };
        let text = wide(text);
        let strings = [text.as_ptr()];
        // SAFETY: one valid NUL-terminated string, no SID, no raw data; the handle came
        // from RegisterEventSourceW and is never closed.
        unsafe {
            ReportEventW(
                h as _,
                kind,
                0,
                event.id(),
                std::ptr::null_mut(),
                1,
                0,
                strings.as_ptr(),
                std::ptr::null(),
            );
        }
    }

    fn check(code: u32, what: &str) -> std::io::Result<()> {
        if code == ERROR_SUCCESS {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "{what}: {}",
                std::io::Error::from_raw_os_error(code as i32)
            )))
        }
    }

    pub fn register(source: &str) -> std::io::Result<()> {
        let key = wide(&super::source_key(source));
        let mut hkey: HKEY = std::ptr::null_mut();
        // SAFETY: valid NUL-terminated key name; `hkey` receives the opened key.
        check(
            unsafe {
                RegCreateKeyExW(
                    HKEY_LOCAL_MACHINE,
                    key.as_ptr(),
                    0,
                    std::ptr::null(),
                    REG_OPTION_NON_VOLATILE,
                    KEY_WRITE,
                    std::ptr::null(),
                    &mut hkey,
                    std::ptr::null_mut(),
                )
            },
            "cannot create the event source key",
        )?;
        let file = wide(super::MESSAGE_FILE);
        let types: u32 = 7; // error | warning | information
        let name_file = wide("EventMessageFile");
        let name_types = wide("TypesSupported");
        // SAFETY: `hkey` is open for writing; the data pointers and byte lengths match.
        let result = unsafe {
            let a = RegSetValueExW(
                hkey,
                name_file.as_ptr(),
                0,
                REG_EXPAND_SZ,
                file.as_ptr().cast(),
                (file.len() * 2) as u32,
            );
            let b = RegSetValueExW(
                hkey,
                name_types.as_ptr(),
                0,
                REG_DWORD,
                (&types as *const u32).cast(),
                4,
            );
            RegCloseKey(hkey);
            (a, b)
        };
        check(result.0, "cannot write EventMessageFile")?;
        check(result.1, "cannot write TypesSupported")
    }

    pub fn unregister(source: &str) -> std::io::Result<()> {
        let key = wide(&super::source_key(source));
        // SAFETY: valid NUL-terminated key name under HKLM.
        let code = unsafe { RegDeleteTreeW(HKEY_LOCAL_MACHINE, key.as_ptr()) };
        match code {
            // Never registered (an older install): nothing to remove.
            windows_sys::Win32::Foundation::ERROR_FILE_NOT_FOUND => Ok(()),
            c => check(c, "cannot remove the event source key"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_stable_ids_and_levels() {
        let all = [
            Event::Started,
            Event::Stopped,
            Event::Fatal,
            Event::Uncertain,
        ];
        let ids: Vec<u32> = all.iter().map(|e| e.id()).collect();
        assert_eq!(ids, [1000, 1001, 1002, 1003]);
        assert_eq!(Event::Fatal.level(), Level::Error);
        assert_eq!(Event::Uncertain.level(), Level::Warning);
        assert_eq!(Event::Started.level(), Level::Information);
    }

    #[test]
    fn event_text_is_masked_and_bounded() {
        let t = text(r#"UNCERTAIN: {"psn_name":"张三丰","certno":"430102199003071234"}"#);
        assert!(
            !t.contains("张三丰") && !t.contains("430102199003071234"),
            "{t}"
        );
        let long = "医".repeat(20_000);
        let t = text(&long);
        assert_eq!(t.chars().count(), 8001);
        assert!(t.ends_with('…'));
        assert_eq!(
            source_key("yibao-broker"),
            r"SYSTEM\CurrentControlSet\Services\EventLog\Application\yibao-broker"
        );
    }
}
