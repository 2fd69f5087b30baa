//! The end-to-end harness: real processes, real files, real sockets.
//!
//! [`Env::start`] checks that the binaries are fresh (see `binaries`) and starts the real `yibao-mock` on a free
//! port of 127.0.0.1 and the real `yibao-broker` on a fresh SQLite file and a private pipe,
//! and waits until the broker answers a ping. Tests drive it with the real `yibao-call`
//! binary ([`Env::shim`]), plain SQL on the database file ([`Env::insert`]) and raw frames.
//! Dropping the `Env` kills both processes.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

mod binaries;
mod brokers;
mod inputs;
mod setup;
pub use binaries::{bin, bin_dir, build_binaries};
pub use brokers::Which;
pub use inputs::{certno, person_input, register_input, settle_input};
use setup::{config_text, mock_args, start_mock};
pub use setup::{APIKEY, APIKEY_HEADER, CSB_ACCESS_KEY, CSB_SECRET_KEY};

pub const FIXMEDINS: &str = "H43010000001";
pub const TIF_PAASID: &str = "e2e-paasid";
pub const TIF_TOKEN: &str = "e2e-token-not-a-secret";

/// Knobs for one environment.
#[derive(Debug, Clone)]
pub struct Options {
    pub workers: u32,
    pub max_frame_bytes: u32,
    /// The longest wait between the dispatcher's looks for PENDING rows (idle pace).
    pub poll_interval_ms: u64,
    /// The shortest (right after work); a test that wants no polling sets both high.
    pub poll_min_ms: u64,
    pub retry_max_attempts: u32,
    pub retry_base_delay_ms: u64,
    pub retry_max_delay_ms: u64,
    pub request_timeout_ms: u64,
    pub lease_ms: u64,
    pub recover_interval_ms: u64,
    /// SQLite: how long a write waits for another process's lock.
    pub busy_timeout_ms: u64,
    pub sign_out_on_shutdown: bool,
    /// Extra `[interfaces.<code>]` TOML appended to the config.
    pub interfaces_toml: String,
    /// More TOML appended to the config (`[log]`, `[status_page]`, …).
    pub extra_toml: String,
    /// Speak the 国密 `sm` profile instead of `tif` (keys made by `yibao-broker keys generate`).
    pub sm: Option<SmKeys>,
    /// Speak a province gateway's profile (`csb`, `apikey`) instead of `tif`, with the
    /// simulator checking it; `sm` wins when both are set.
    pub gateway: Option<(Gateway, KeyIs)>,
    /// Lay the config over this site pack (`[site] dir`), leaving to it the keys its
    /// `site.toml` sets but `platform.url` (`setup::leave_to_pack`).
    pub site: Option<PathBuf>,
    /// Keep the queue in this SQL Server (an ADO.NET connection string) instead of SQLite;
    /// the helpers that read `db_path` do not apply then.
    pub mssql: Option<String>,
    /// Keep the SQLite file in this directory (e.g. a small tmpfs) instead of the
    /// environment's own temporary directory.
    pub store_dir: Option<PathBuf>,
    /// Write the simulator's log at info level (every injected fault) to `mock.log` in the
    /// environment's directory instead of inheriting stderr.
    pub mock_log: bool,
    /// Start the broker under this umask (Unix; through `sh -c 'umask …; exec …'`), as a
    /// service manager with a restrictive umask would.
    pub umask: Option<u32>,
    /// The broker's `[platform.cainfo]`.
    pub cainfo: Option<yibao_core::cainfo::CainfoConfig>,
    /// The simulator's `--cainfo-mode` and `--cainfo-key`: it then decrypts the cainfo of
    /// 2207, 2304 and 2102 and refuses one it cannot.
    pub mock_cainfo: Option<(yibao_core::cainfo::CainfoMode, String)>,
}

/// Which platform public key the broker is given under the `sm` profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmKeys {
    /// The simulator's real key.
    Right,
    /// Another valid key: every reply fails verification.
    WrongPlatformKey,
}

/// The province gateway profiles the harness can speak (see `Options::gateway`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gateway {
    Csb,
    Apikey,
}

/// Whether the broker is given the key the simulator expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyIs {
    Right,
    Wrong,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            workers: 16,
            max_frame_bytes: 65_536,
            poll_interval_ms: 50,
            poll_min_ms: 5,
            retry_max_attempts: 5,
            retry_base_delay_ms: 50,
            retry_max_delay_ms: 500,
            request_timeout_ms: 10_000,
            lease_ms: 300_000,
            recover_interval_ms: 30_000,
            busy_timeout_ms: 10_000,
            sign_out_on_shutdown: false,
            interfaces_toml: String::new(),
            extra_toml: String::new(),
            sm: None,
            gateway: None,
            site: None,
            mssql: None,
            store_dir: None,
            mock_log: false,
            umask: None,
            cainfo: None,
            mock_cainfo: None,
        }
    }
}

/// A running simulator + broker pair on private resources.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub pipe: String,
    pub db_path: PathBuf,
    pub config_path: PathBuf,
    pub mock_url: String,
    mock: Child,
    mock_args: Vec<String>,
    broker: Option<Child>,
    opts: Options,
    /// More brokers on the same database (competing consumers).
    others: Vec<brokers::Other>,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Waits for an event the test can observe (a row's status, an attempt in the log, a file
/// lock's deadline) instead of sleeping for a guess of how long it takes; panics with `what`
/// once `limit` has passed. Polls every 10 ms: fast enough that the wait is the event's
/// own duration, slow enough not to load the machine the broker runs on.
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "waited {limit:?} for: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A pipe name nobody else uses.
pub fn unique_pipe(tag: &str) -> String {
    format!(
        "yibao-e2e-{tag}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

impl Env {
    pub fn start() -> Self {
        Self::start_with(Options::default())
    }

    pub fn start_with(opts: Options) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mock_args = mock_args(dir.path(), &opts);
        let mock_log = opts.mock_log.then(|| dir.path().join("mock.log"));
        let (mock, mock_url) = start_mock("127.0.0.1:0", &mock_args, mock_log.as_deref());

        let pipe = unique_pipe("b");
        let db_path = opts
            .store_dir
            .as_deref()
            .unwrap_or(dir.path())
            .join("yibao.db");
        let config_path = dir.path().join("yibao.toml");
        std::fs::write(&config_path, config_text(&pipe, &db_path, &mock_url, &opts))
            .expect("write config");
        let mut env = Env {
            dir,
            pipe,
            db_path,
            config_path,
            mock_url,
            mock,
            mock_args,
            broker: None,
            opts,
            others: Vec::new(),
        };
        env.start_broker();
        env
    }

    /// Starts (or restarts) the broker and waits until it answers.
    pub fn start_broker(&mut self) {
        let log = self.dir.path().join("broker.log");
        let child = brokers::broker_command(&self.config_path, &log, false, &self.opts)
            .spawn()
            .expect("start yibao-broker");
        self.broker = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.shim(&["ping"]).status.code() == Some(0) {
                return;
            }
            if let Some(status) = self
                .broker
                .as_mut()
                .and_then(|b| b.try_wait().ok().flatten())
            {
                panic!("broker exited with {status}:\n{}", self.broker_log());
            }
            assert!(
                Instant::now() < deadline,
                "broker did not come up:\n{}",
                self.broker_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts one more broker on the same database file with its own pipe; returns the pipe.
    pub fn start_another_broker(&mut self) -> String {
        let n = self.others.len();
        let pipe = unique_pipe("other");
        let config = self.dir.path().join(format!("other-{n}.toml"));
        std::fs::write(
            &config,
            config_text(&pipe, &self.db_path, &self.mock_url, &self.opts),
        )
        .expect("write config");
        let log = self.dir.path().join(format!("other-{n}.log"));
        let child = brokers::broker_command(&config, &log, false, &self.opts)
            .spawn()
            .expect("start another broker");
        self.others.push(brokers::Other {
            child: Some(child),
            pipe: pipe.clone(),
            config,
            log,
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        while run_shim(&pipe, &["ping"], None).status.code() != Some(0) {
            assert!(Instant::now() < deadline, "second broker did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        pipe
    }

    /// Stops the simulator: the platform is down from now on.
    pub fn stop_mock(&mut self) {
        let _ = self.mock.kill();
        let _ = self.mock.wait();
    }

    /// Starts a fresh simulator on the same address (it remembers no sign-ins).
    pub fn restart_mock(&mut self) {
        self.stop_mock();
        let addr = self.mock_addr();
        let log = self.opts.mock_log.then(|| self.dir.path().join("mock.log"));
        let (mock, url) = start_mock(&addr, &self.mock_args, log.as_deref());
        assert_eq!(url, self.mock_url);
        self.mock = mock;
    }

    fn mock_addr(&self) -> String {
        self.mock_url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .expect("host:port")
            .to_string()
    }

    pub fn broker_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default()
    }

    pub fn broker_pid(&self) -> u32 {
        self.broker.as_ref().expect("broker running").id()
    }

    /// Kills the broker with SIGKILL (no chance to clean up) and waits for it to be gone.
    #[cfg(unix)]
    pub fn kill_broker_hard(&mut self) {
        let pid = self.broker_pid().to_string();
        let ok = Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .expect("kill");
        assert!(ok.success());
        self.wait_broker_exit(Duration::from_secs(10))
            .expect("broker gone after SIGKILL");
    }

    /// Waits for the broker process to exit (after a signal), up to `limit`.
    pub fn wait_broker_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        let child = self.broker.as_mut()?;
        loop {
            if let Ok(Some(s)) = child.try_wait() {
                self.broker = None;
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs the real shim against this broker.
    pub fn shim(&self, args: &[&str]) -> Output {
        run_shim(&self.pipe, args, None)
    }

    /// Runs the real shim with `stdin` piped in.
    pub fn shim_stdin(&self, args: &[&str], stdin: &str) -> Output {
        run_shim(&self.pipe, args, Some(stdin))
    }

    /// Spawns the shim without waiting (for concurrency tests).
    pub fn spawn_shim(&self, args: &[&str]) -> Child {
        Command::new(bin("yibao-call"))
            .arg("--pipe")
            .arg(&self.pipe)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn yibao-call")
    }

    /// `yibao-broker check-config` on this environment's config: (success, stdout + stderr).
    pub fn check_config(&self) -> (bool, String) {
        let out = Command::new(bin("yibao-broker"))
            .args(["check-config", "--config"])
            .arg(&self.config_path)
            .env("YIBAO_E2E_TIF_TOKEN", "e2e-token-not-a-secret")
            .output()
            .expect("run yibao-broker check-config");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    pub fn db(&self) -> rusqlite::Connection {
        let c = rusqlite::Connection::open(&self.db_path).expect("open db");
        c.busy_timeout(Duration::from_secs(10))
            .expect("busy timeout");
        c
    }

    /// Inserts a PENDING request the way the stored procedure does: plain SQL, parameters,
    /// the new id from the insert itself.
    pub fn insert(&self, interface_code: &str, input_data: &str) -> i64 {
        self.db()
            .query_row(
                "INSERT INTO medical_insurance_requests (interface_code, input_data, status) \
                 VALUES (?1, ?2, 'PENDING') RETURNING request_id",
                rusqlite::params![interface_code, input_data],
                |r| r.get(0),
            )
            .expect("insert request")
    }

    /// One row of the HIS-facing view. Its err_msg is 中文 first and says each detail once (every e2e
    /// test that reads a row checks [`assert_wording`]).
    pub fn view(&self, id: i64) -> ViewRow {
        let row = self
            .db()
            .query_row(
                "SELECT status, infcode, err_msg, response_data, msgid \
                 FROM v_medical_insurance_result WHERE request_id = ?1",
                [id],
                |r| {
                    Ok(ViewRow {
                        status: r.get(0)?,
                        infcode: r.get(1)?,
                        err_msg: r.get(2)?,
                        response_data: r.get(3)?,
                        msgid: r.get(4)?,
                    })
                },
            )
            .expect("view row");
        assert_wording("err_msg", row.err_msg.as_deref().unwrap_or(""));
        row
    }

    /// One HTTP/1.1 exchange with the simulator's control endpoints, std only.
    fn mock_http(&self, method: &str, path: &str, body: &str) -> String {
        let hostport = self.mock_addr();
        let mut s = std::net::TcpStream::connect(&hostport).expect("connect mock");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("send");
        let mut text = String::new();
        s.read_to_string(&mut text).expect("read");
        let (head, rest) = text.split_once("\r\n\r\n").expect("http response");
        assert!(
            head.starts_with("HTTP/1.1 2"),
            "{method} {path} answered {head}"
        );
        rest.to_string()
    }

    /// What the simulator has seen (`GET /__mock/stats`).
    pub fn mock_stats(&self) -> serde_json::Value {
        serde_json::from_str(&self.mock_http("GET", "/__mock/stats", "")).expect("stats json")
    }

    /// A JSON control endpoint of the simulator (`GET /__mock/...`).
    pub fn mock_json(&self, path: &str) -> serde_json::Value {
        serde_json::from_str(&self.mock_http("GET", path, "")).expect("mock json")
    }

    /// Posts to a JSON control endpoint of the simulator (`POST /__mock/...`).
    pub fn mock_post(&self, path: &str, body: &serde_json::Value) -> serde_json::Value {
        let text = self.mock_http("POST", path, &body.to_string());
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
    }

    /// Every request the simulator applied (`GET /__mock/applied`).
    pub fn mock_applied(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.mock_http("GET", "/__mock/applied", "")).expect("applied json")
    }

    /// Injects a fault, e.g. `{"infno":"2207","kind":"hang","ms":3000,"times":1}`.
    pub fn add_fault(&self, fault: serde_json::Value) {
        self.mock_http("POST", "/__mock/faults", &fault.to_string());
    }

    /// Outcomes of a request's attempts, in order (`SUCCESS`, `TRANSPORT_ERROR`, …).
    pub fn attempt_outcomes(&self, id: i64) -> Vec<String> {
        let db = self.db();
        let mut st = db
            .prepare(
                "SELECT outcome FROM medical_insurance_attempts WHERE request_id = ?1 ORDER BY attempt_no",
            )
            .expect("prepare");
        st.query_map([id], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    /// Calls of `infno` the simulator received.
    pub fn mock_count(&self, infno: &str) -> u64 {
        self.mock_stats()["by_infno"][infno].as_u64().unwrap_or(0)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(b) = self.broker.as_mut() {
            let _ = b.kill();
            let _ = b.wait();
        }
        for o in &mut self.others {
            if let Some(c) = o.child.as_mut() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        let _ = self.mock.kill();
        let _ = self.mock.wait();
        if std::thread::panicking() {
            eprintln!("---- broker log ----\n{}", self.broker_log());
            for n in 0..self.others.len() {
                let log = std::fs::read_to_string(self.dir.path().join(format!("other-{n}.log")))
                    .unwrap_or_default();
                eprintln!("---- other broker {n} log ----\n{log}");
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct ViewRow {
    pub status: String,
    pub infcode: Option<String>,
    pub err_msg: Option<String>,
    pub response_data: Option<String>,
    pub msgid: Option<String>,
}

/// `yibao-call --pipe <pipe> <args…>` with piped output (and stdin when `with_stdin`).
pub fn shim_command(pipe: &str, args: &[&str], with_stdin: bool) -> Command {
    let mut cmd = Command::new(bin("yibao-call"));
    cmd.arg("--pipe")
        .arg(pipe)
        .args(args)
        .stdin(if with_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs `yibao-call --pipe <pipe> <args…>` to completion.
pub fn run_shim(pipe: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = shim_command(pipe, args, stdin.is_some())
        .spawn()
        .expect("spawn yibao-call");
    if let (Some(text), Some(mut pipe_in)) = (stdin, child.stdin.take()) {
        pipe_in.write_all(text.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait yibao-call");
    assert_wording("yibao-call's message", &shim_message(&out));
    out
}

/// What the shim told a person on stderr: the lines before a blank line (the usage text
/// that may follow is reference, not a message), without `key=value` lines (for scripts).
pub fn shim_message(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| !l.split_whitespace().all(|w| w.contains('=')))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Fails when `text`, something a hospital user reads, is not 中文 first or says the same
/// passage twice ([`yibao_core::wording::defect`]).
pub fn assert_wording(what: &str, text: &str) {
    if let Some(defect) = yibao_core::wording::defect(text) {
        panic!("{what}: {defect}: {text}");
    }
}

/// The request id from the shim's `request_id=<id> status=<STATUS>` line on stderr (a sync
/// `call` prints it so an operator can reverse or cancel the request).
pub fn request_id_of(stderr: &str) -> i64 {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("request_id="))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no request_id line: {stderr}"))
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}
