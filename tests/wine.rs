//! The Windows binaries (x86_64-pc-windows-gnu) as Windows programs, under Wine: the broker
//! on a real `\\.\pipe\…` named pipe with the SQLite store and the Windows simulator, and the
//! shim started through `cmd /c`, as `xp_cmdshell` starts it.
//!
//! `.ci/run` builds the three exes, prepares a private WINEPREFIX and sets
//! `YIBAO_WINE_BIN_DIR`; without it every test here prints why it did not run. What Wine
//! cannot show (the SCM, real pipe ACL enforcement, network logons) is listed in the
//! README's platform notes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use yibao::{person_input, settle_input, unique_pipe};
use yibao_broker::config::{PlatformSection, ProfileConfig, StoreSection};
use yibao_broker::Config;
use yibao_core::EnvelopeDefaults;

fn bin_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("YIBAO_WINE_BIN_DIR").map(PathBuf::from);
    if dir.is_none() {
        println!(
            "skipped: the Windows e2e suite runs under Wine from .ci/run \
             (set YIBAO_WINE_BIN_DIR to the x86_64-pc-windows-gnu exes and WINEPREFIX to a prepared prefix)"
        );
    }
    dir
}

/// The broker's config: `pipe`, SQLite at `db` (as Windows sees it), the plain profile to
/// the simulator at `url`, the pipe opened to NETWORK SERVICE too.
fn config_text(pipe: &str, db: &Path, url: &str) -> String {
    let mut platform = PlatformSection::new(url, ProfileConfig::Plain);
    platform.request_timeout_ms = 10_000;
    let mut institution =
        EnvelopeDefaults::new("H43010000001", "测试医院", "430100", "001", "测试收费员");
    institution.insuplc_admdvs = "430100".into();
    institution.mac = "00-11-22-33-44-55".into();
    institution.ip = "127.0.0.1".into();
    let mut config = Config::new(platform, StoreSection::sqlite(win_path(db)), institution);
    config.broker.pipe = pipe.into();
    config.broker.workers = 8;
    config.broker.poll_interval_ms = 50;
    config.broker.pipe_allow = vec!["NS".into()];
    toml::to_string(&config).expect("write the config")
}

/// `Z:\…` path of a Linux path, as Windows programs under Wine see it.
fn win_path(p: &Path) -> String {
    format!("Z:{}", p.display()).replace('/', "\\")
}

fn wine(exe: &Path) -> Command {
    let mut c = Command::new("wine");
    c.arg(exe).env("WINEDEBUG", "-all");
    c
}

struct WinEnv {
    dir: tempfile::TempDir,
    bins: PathBuf,
    pipe: String,
    db: PathBuf,
    /// The simulator's `host:port`.
    mock_addr: String,
    mock: Child,
    broker: Option<Child>,
}

impl WinEnv {
    fn start(bins: PathBuf) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut mock = wine(&bins.join("yibao-mock.exe"))
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start yibao-mock.exe under wine");
        let mut banner = String::new();
        BufReader::new(mock.stdout.take().unwrap())
            .read_line(&mut banner)
            .unwrap();
        let url = banner
            .trim()
            .strip_prefix("yibao-mock listening on ")
            .unwrap_or_else(|| panic!("unexpected banner {banner:?}"))
            .to_string();
        let pipe = unique_pipe("wine");
        let db = dir.path().join("yibao.db");
        std::fs::write(dir.path().join("yibao.toml"), config_text(&pipe, &db, &url)).unwrap();
        let mut env = Self {
            dir,
            bins,
            pipe,
            db,
            mock_addr: url
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap_or_default()
                .to_string(),
            mock,
            broker: None,
        };
        env.broker = Some(env.spawn_broker("yibao.toml", "broker.log"));
        let deadline = Instant::now() + Duration::from_secs(60);
        while env.shim(&["ping"]).status.code() != Some(0) {
            assert!(
                Instant::now() < deadline,
                "broker did not come up:\n{}",
                env.read("broker.log")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        env
    }

    fn spawn_broker(&self, config: &str, log: &str) -> Child {
        let log = std::fs::File::create(self.dir.path().join(log)).unwrap();
        wine(&self.bins.join("yibao-broker.exe"))
            .arg("run")
            .arg("--config")
            .arg(win_path(&self.dir.path().join(config)))
            .env("YIBAO_LOG", "info")
            // Wine's ReportEventW prints the Event Log's text on its `eventlog` channel.
            .env("WINEDEBUG", EVENTLOG_CHANNEL)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start yibao-broker.exe under wine")
    }

    /// Injects a simulator fault (`POST /__mock/faults`).
    fn add_fault(&self, fault: &str) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&self.mock_addr).unwrap();
        write!(
            s,
            "POST /__mock/faults HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{fault}",
            self.mock_addr,
            fault.len()
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 2"), "{answer}");
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// The shim directly (a Windows process started by Wine).
    fn shim(&self, args: &[&str]) -> Output {
        wine(&self.bins.join("yibao-call.exe"))
            .arg("--pipe")
            .arg(&self.pipe)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// The shim through `cmd /c`, as xp_cmdshell runs it.
    fn shim_via_cmd(&self, args: &[&str]) -> Child {
        let mut c = Command::new("wine");
        c.env("WINEDEBUG", "-all")
            .args(["cmd", "/c"])
            .arg(win_path(&self.bins.join("yibao-call.exe")))
            .arg("--pipe")
            .arg(&self.pipe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.spawn().unwrap()
    }

    fn insert(&self, code: &str, input: &str) -> i64 {
        let c = rusqlite::Connection::open(&self.db).unwrap();
        c.busy_timeout(Duration::from_secs(10)).unwrap();
        c.execute(
            "INSERT INTO medical_insurance_requests (interface_code, input_data) VALUES (?1, ?2)",
            rusqlite::params![code, input],
        )
        .unwrap();
        c.last_insert_rowid()
    }

    fn row(&self, id: i64) -> (String, Option<String>) {
        let c = rusqlite::Connection::open(&self.db).unwrap();
        c.busy_timeout(Duration::from_secs(10)).unwrap();
        c.query_row(
            "SELECT status, response_data FROM v_medical_insurance_result WHERE request_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    }
}

impl Drop for WinEnv {
    fn drop(&mut self) {
        if let Some(b) = self.broker.as_mut() {
            let _ = b.kill();
            let _ = b.wait();
        }
        let _ = self.mock.kill();
        let _ = self.mock.wait();
    }
}

/// WINEDEBUG that shows what the broker writes to the Windows Event Log: Wine's
/// `ReportEventW` prints each event's text as `trace:`/`warn:`/`err:eventlog:…`.
const EVENTLOG_CHANNEL: &str = "-all,+eventlog";

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// One broker, every scenario of the issue in sequence (starting Wine costs seconds, so the
/// scenarios share it).
#[test]
fn windows_binaries_under_wine() {
    let Some(bins) = bin_dir() else { return };
    let env = WinEnv::start(bins);
    assert!(
        env.read("broker.log").contains("D:P(D;;GA;;;NU)"),
        "the pipe's security descriptor was built and applied:\n{}",
        env.read("broker.log")
    );
    // The Event Log has the start (event 1000, information).
    let started = env
        .read("broker.log")
        .lines()
        .any(|l| l.contains("trace:eventlog") && l.contains("started: pipe"));
    assert!(started, "no start event:\n{}", env.read("broker.log"));

    // Sync: a row inserted by SQL, then `cmd /c yibao-call.exe run <id> --wait 10`.
    let input = r#"{"data":{"mdtrt_cert_type":"02","mdtrt_cert_no":"430102198001010003","psn_cert_type":"01","certno":"430102198001010003","psn_name":"张三丰"}}"#;
    let id = env.insert("1101", input);
    let out = env
        .shim_via_cmd(&["run", &id.to_string(), "--wait", "10"])
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("status=COMPLETED"), "{}", text(&out));

    // Chinese text survives: the data path is the store, not stdout.
    let (status, response) = env.row(id);
    assert_eq!(status, "COMPLETED");
    assert!(
        response.unwrap_or_default().contains("张三丰"),
        "the name went in and came back through the Windows broker"
    );

    // Async: kick, then wait.
    let id = env.insert("2207", &settle_input(1));
    let out = env.shim(&["kick", &id.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = env.shim(&["wait", &id.to_string(), "--wait", "20"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // A settlement whose reply is garbage is UNCERTAIN, and the Event Log says so (1003,
    // warning) with the request id, for the administrator who watches Event Viewer.
    env.add_fault(r#"{"infno":"2207","kind":"garbage","times":1}"#);
    let id = env.insert("2207", &settle_input(2));
    let out = env.shim(&["run", &id.to_string(), "--wait", "20"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let needle = format!("request {id} (2207) is UNCERTAIN");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !env
        .read("broker.log")
        .lines()
        .any(|l| l.contains("warn:eventlog") && l.contains(&needle))
    {
        assert!(
            Instant::now() < deadline,
            "no UNCERTAIN event:\n{}",
            env.read("broker.log")
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // 32 concurrent shims through cmd /c.
    let ids: Vec<i64> = (0..32)
        .map(|i| env.insert("1101", &person_input(100 + i)))
        .collect();
    let children: Vec<Child> = ids
        .iter()
        .map(|id| env.shim_via_cmd(&["run", &id.to_string(), "--wait", "60"]))
        .collect();
    for (id, child) in ids.iter().zip(children) {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "request {id}: {}", text(&out));
    }

    // A second broker on the same pipe name is refused with a clear error.
    let second = env.dir.path().join("second.toml");
    std::fs::write(
        &second,
        env.read("yibao.toml").replace("yibao.db", "second.db"),
    )
    .unwrap();
    let mut other = env.spawn_broker("second.toml", "second.log");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = other.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the second broker did not stop");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!status.success());
    assert!(
        env.read("second.log")
            .contains("another broker is already listening"),
        "{}",
        env.read("second.log")
    );
    assert_eq!(
        env.shim(&["ping"]).status.code(),
        Some(0),
        "the first broker still serves"
    );
}

#[test]
fn the_shim_without_a_broker_exits_3_and_says_why() {
    let Some(bins) = bin_dir() else { return };
    let out = wine(&bins.join("yibao-call.exe"))
        .args(["--pipe", &unique_pipe("absent"), "run", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("yibao-broker"), "{}", text(&out));
}

#[test]
fn an_invalid_pipe_descriptor_stops_the_broker_with_a_clear_error() {
    let Some(bins) = bin_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        format!(
            "[broker]\npipe = '{}'\npipe_sddl = \"D:(nonsense\"\n[store]\npath = '{}'\n\
             [platform]\nurl = 'http://127.0.0.1:9/'\n\
             [institution]\nfixmedins_code = \"H43010000001\"\nfixmedins_name = \"x\"\n\
             mdtrtarea_admvs = \"430100\"\nopter = \"001\"\nopter_name = \"x\"\n\
             mac = \"00-11-22-33-44-55\"\nip = \"127.0.0.1\"\n",
            unique_pipe("sddl"),
            win_path(&dir.path().join("x.db"))
        ),
    )
    .unwrap();
    let out = wine(&bins.join("yibao-broker.exe"))
        .arg("run")
        .arg("--config")
        .arg(win_path(&dir.path().join("bad.toml")))
        .env("WINEDEBUG", EVENTLOG_CHANNEL)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("invalid pipe security descriptor"),
        "{}",
        text(&out)
    );
    // The same error reached the Event Log (1002, error): a service has no console.
    assert!(
        text(&out).lines().any(
            |l| l.contains("err:eventlog") && l.contains("cannot start or stopped on an error")
        ),
        "{}",
        text(&out)
    );
}

/// The broker as a Windows service under Wine's Service Control Manager: install, start,
/// serve, stop gracefully (logged to the file beside the config), uninstall.
#[test]
fn the_broker_runs_as_a_windows_service() {
    let Some(bins) = bin_dir() else { return };
    let env = WinEnv::start(bins.clone());
    // The service gets its own pipe and database; the simulator is the one WinEnv started.
    let pipe = unique_pipe("svc");
    let config = env.dir.path().join("service.toml");
    std::fs::write(
        &config,
        env.read("yibao.toml")
            .replace(&env.pipe, &pipe)
            .replace("yibao.db", "service.db"),
    )
    .unwrap();
    let name = format!("yibao-test-{}", std::process::id());
    let broker = |args: &[&str]| {
        let out = wine(&bins.join("yibao-broker.exe"))
            .arg("service")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "service {args:?}: {}", text(&out));
    };
    let ping = || {
        wine(&bins.join("yibao-call.exe"))
            .args(["--pipe", &pipe, "ping"])
            .output()
            .unwrap()
            .status
            .code()
    };
    broker(&[
        "install",
        "--name",
        &name,
        "--config",
        &win_path(&config),
        "--depends-on",
        "RpcSs",
    ]);
    // The dependency is registered (what `--depends-on MSSQLSERVER` does on a SQL host).
    let key = format!(r"HKLM\System\CurrentControlSet\Services\{name}");
    let deps = Command::new("wine")
        .env("WINEDEBUG", "-all")
        .args(["reg", "query", &key, "/v", "DependOnService"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&deps.stdout).contains("RpcSs"),
        "no dependency registered: {}",
        text(&deps)
    );
    // The Event Log source is registered with .NET's message file, so Event Viewer shows
    // the text (yibao_broker::eventlog).
    let source = || {
        Command::new("wine")
            .env("WINEDEBUG", "-all")
            .args([
                "reg",
                "query",
                &format!(r"HKLM\{}", yibao_broker::eventlog::source_key(&name)),
                "/v",
                "EventMessageFile",
            ])
            .output()
            .unwrap()
    };
    let registered = source();
    assert!(
        String::from_utf8_lossy(&registered.stdout).contains("EventLogMessages.dll"),
        "no event source: {}",
        text(&registered)
    );
    broker(&["start", "--name", &name]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while ping() != Some(0) {
        assert!(Instant::now() < deadline, "the service did not come up");
        std::thread::sleep(Duration::from_millis(200));
    }
    broker(&["stop", "--name", &name]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while ping() != Some(3) {
        assert!(Instant::now() < deadline, "the service did not stop");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Daily files yibao-broker.<date>.log in logs\ beside the config.
    let log: String = std::fs::read_dir(env.dir.path().join("logs"))
        .expect("the service wrote logs beside its config")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("yibao-broker"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(log.contains("running as a Windows service"), "{log}");
    assert!(
        log.contains("stop requested by the Service Control Manager"),
        "{log}"
    );
    assert!(log.contains("all in-flight requests finished"), "{log}");
    broker(&["uninstall", "--name", &name]);
    let query = Command::new("wine")
        .env("WINEDEBUG", "-all")
        .args(["sc", "query", &name])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&query.stdout).contains("SERVICE_NAME"),
        "still registered: {}",
        text(&query)
    );
    let gone = source();
    assert!(
        !String::from_utf8_lossy(&gone.stdout).contains("EventLogMessages.dll"),
        "the event source outlived the service: {}",
        text(&gone)
    );
}
