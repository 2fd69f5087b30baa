//! Broker processes for long runs (the torture harness): several brokers on one store,
//! signals (SIGKILL, SIGTERM, SIGSTOP/SIGCONT) and restarts that do not wait or panic, so a
//! broker that cannot start (store locked, disk full) is a fact to record, not a crash of
//! the harness.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

use crate::{bin, Env, Options, TIF_TOKEN};

/// One of the environment's brokers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Which {
    /// The one [`Env::start_with`] started, on [`Env::pipe`].
    Main,
    /// The n-th one [`Env::start_another_broker`] started.
    Other(usize),
}

impl std::fmt::Display for Which {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Which::Main => write!(f, "main"),
            Which::Other(n) => write!(f, "other-{n}"),
        }
    }
}

/// A broker started by [`Env::start_another_broker`]: its process (when running), pipe,
/// config and log.
pub(crate) struct Other {
    pub(crate) child: Option<Child>,
    pub(crate) pipe: String,
    pub(crate) config: PathBuf,
    pub(crate) log: PathBuf,
}

/// `yibao-broker run --config <config>` logging to `log` (appended with `append`, so a
/// restarted broker's log follows the killed one's).
pub(crate) fn broker_command(config: &Path, log: &Path, append: bool, opts: &Options) -> Command {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(log)
        .expect("broker log file");
    let mut cmd = match opts.umask {
        Some(mask) => {
            let mut sh = Command::new("sh");
            sh.arg("-c")
                .arg(format!("umask {mask:03o}; exec \"$0\" \"$@\""))
                .arg(bin("yibao-broker"));
            sh
        }
        None => Command::new(bin("yibao-broker")),
    };
    cmd.arg("run")
        .arg("--config")
        .arg(config)
        .env("YIBAO_LOG", "info")
        .env("YIBAO_E2E_TIF_TOKEN", TIF_TOKEN)
        .env("YIBAO_E2E_MSSQL", opts.mssql.as_deref().unwrap_or(""))
        .stdout(Stdio::null())
        .stderr(Stdio::from(file));
    cmd
}

impl Env {
    /// Every broker this environment knows, running or not.
    pub fn brokers(&self) -> Vec<Which> {
        let mut all = vec![Which::Main];
        all.extend((0..self.others.len()).map(Which::Other));
        all
    }

    /// The pipe a broker listens on (kept across restarts).
    pub fn pipe_of(&self, which: Which) -> &str {
        match which {
            Which::Main => &self.pipe,
            Which::Other(n) => self.others.get(n).map_or("", |o| o.pipe.as_str()),
        }
    }

    /// The broker's log file (kept across restarts).
    pub fn log_of(&self, which: Which) -> PathBuf {
        match which {
            Which::Main => self.dir.path().join("broker.log"),
            Which::Other(n) => self
                .others
                .get(n)
                .map_or_else(|| self.dir.path().join("missing.log"), |o| o.log.clone()),
        }
    }

    fn child_of(&mut self, which: Which) -> Option<&mut Option<Child>> {
        match which {
            Which::Main => Some(&mut self.broker),
            Which::Other(n) => self.others.get_mut(n).map(|o| &mut o.child),
        }
    }

    /// The process id, while the broker's process exists (it may be stopped).
    pub fn pid_of(&mut self, which: Which) -> Option<u32> {
        self.reap(which);
        self.child_of(which)?.as_ref().map(Child::id)
    }

    /// Collects the broker's exit if it has ended (then it counts as not running).
    pub fn reap(&mut self, which: Which) -> Option<ExitStatus> {
        let slot = self.child_of(which)?;
        let status = slot.as_mut()?.try_wait().ok().flatten()?;
        *slot = None;
        Some(status)
    }

    /// Sends a signal (`KILL`, `TERM`, `STOP`, `CONT`, …) with the system's `kill`; false
    /// when the broker is not running or the signal could not be sent.
    #[cfg(unix)]
    pub fn signal(&mut self, which: Which, signal: &str) -> bool {
        let Some(pid) = self.pid_of(which) else {
            return false;
        };
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts a broker that is not running, without waiting for it to answer (its log is
    /// appended to). Returns false when it was still running.
    pub fn spawn_broker(&mut self, which: Which) -> Result<bool, String> {
        if self.pid_of(which).is_some() {
            return Ok(false);
        }
        let config = match which {
            Which::Main => self.config_path.clone(),
            Which::Other(n) => match self.others.get(n) {
                Some(o) => o.config.clone(),
                None => return Err(format!("no broker {which}")),
            },
        };
        let log = self.log_of(which);
        let child = broker_command(&config, &log, true, &self.opts)
            .spawn()
            .map_err(|e| format!("start broker {which}: {e}"))?;
        if let Some(slot) = self.child_of(which) {
            *slot = Some(child);
        }
        Ok(true)
    }

    /// Clears every injected fault (`DELETE /__mock/faults`).
    pub fn clear_faults(&self) {
        self.mock_http("DELETE", "/__mock/faults", "");
    }

    /// Keeps the environment's directory (logs, config, database) after the `Env` is
    /// dropped, for a failing run's evidence; returns its path.
    pub fn keep_dir(&mut self) -> PathBuf {
        self.dir.disable_cleanup(true);
        self.dir.path().to_path_buf()
    }
}
