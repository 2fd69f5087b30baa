//! The shim a stored procedure spawns with `xp_cmdshell`. It hands one command to the warm
//! broker over the local pipe, prints one short ASCII line (data travels through the
//! database, never through stdout) and exits with a documented code.

mod args;

use std::io::{Read, Write};
use std::time::Duration;

use args::{Command, InputSource, Invocation};
use yibao_call::{exit_code_for, failure, Client, ClientError, ExitCode};
use yibao_proto::{CallMode, Outcome, Request, Response};

/// Extra time the shim gives the broker beyond the requested wait before giving up itself.
const GRACE: Duration = yibao_proto::REPLY_GRACE;

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let code = match args::parse(&argv) {
        Ok(inv) => run(inv),
        Err(msg) => {
            eprintln!("{msg}\n\n{}", args::USAGE);
            ExitCode::Usage
        }
    };
    let _ = std::io::stdout().flush();
    std::process::exit(code.code());
}

fn run(inv: Invocation) -> ExitCode {
    let pipe = inv
        .pipe
        .or_else(|| std::env::var("YIBAO_PIPE").ok())
        .unwrap_or_else(|| yibao_proto::DEFAULT_PIPE_NAME.to_string());
    let json = matches!(
        inv.command,
        Command::Result { json: true, .. }
            | Command::Call { .. }
            | Command::CatalogDownload { .. }
            | Command::Reconcile { .. }
            | Command::Job { .. }
    );
    let reversing = matches!(inv.command, Command::Reverse { .. });
    let cancelling = matches!(inv.command, Command::Cancel { .. });
    let (request, wait) = match to_request(inv.command) {
        Ok(Some(r)) => r,
        Ok(None) => return ExitCode::Done,
        Err(code) => return code,
    };
    guard_wall_clock(wait + GRACE);
    let answer = Client::connect(&pipe).and_then(|mut c| {
        c.set_read_timeout(Some(wait + GRACE));
        let resp = c.request(&request)?;
        match (&request, &resp) {
            // A refused cancel: show where the request stands, so the caller knows whether
            // it may retry (it may not: the request is being processed or is done).
            (Request::Cancel { request_id }, Response::Error { message, .. }) => {
                let now = c.request(&Request::Result {
                    request_id: *request_id,
                })?;
                // An unknown id is refused by both questions: said once (by `report`).
                if !matches!(&now, Response::Error { message: m, .. } if m == message) {
                    eprintln!("{message}");
                }
                Ok((now, true))
            }
            _ => Ok((resp, false)),
        }
    });
    match answer {
        Ok((resp, true)) => {
            report(resp, false, false);
            ExitCode::Refused
        }
        Ok((resp, false)) if cancelling => match report(resp, false, false) {
            // Cancelled: the request is ERROR and will never be sent.
            ExitCode::BusinessError => ExitCode::Done,
            other => other,
        },
        Ok((resp, false)) => report(resp, json, reversing),
        Err(e) => fail(&e),
    }
}

/// Reports a failed conversation: the reason on stderr, the line on stdout, the exit code.
fn fail(e: &ClientError) -> ExitCode {
    eprintln!("{e}");
    let (code, line) = failure(e);
    println!("{line}");
    code
}

/// Turns the parsed command into the pipe request and how long it may wait.
fn to_request(cmd: Command) -> Result<Option<(Request, Duration)>, ExitCode> {
    let quick = Duration::from_secs(5);
    Ok(Some(match cmd {
        Command::Help => {
            print!("{}", args::USAGE);
            return Ok(None);
        }
        Command::Version => {
            println!(
                "yibao-call {} (protocol {})",
                env!("CARGO_PKG_VERSION"),
                yibao_proto::PROTOCOL_VERSION
            );
            return Ok(None);
        }
        Command::Run { id, wait } => (
            Request::Run {
                request_id: id,
                wait_ms: millis(wait),
            },
            wait,
        ),
        Command::Kick { id } => (Request::Kick { request_id: id }, quick),
        Command::Wait { id, wait } => (
            Request::Wait {
                request_id: id,
                timeout_ms: millis(wait),
            },
            wait,
        ),
        Command::Result { id, .. } => (Request::Result { request_id: id }, quick),
        Command::Call {
            infno,
            input,
            wait,
            is_async,
            overrides,
        } => {
            let input = read_input(&input).map_err(|msg| {
                eprintln!("{msg}");
                ExitCode::Usage
            })?;
            (
                Request::Call {
                    interface: infno,
                    input,
                    overrides,
                    mode: if is_async {
                        CallMode::Async
                    } else {
                        CallMode::Sync
                    },
                    wait_ms: Some(millis(wait)),
                },
                wait,
            )
        }
        Command::Reverse { id, wait } => (
            Request::Reverse {
                request_id: id,
                wait_ms: millis(wait),
            },
            wait,
        ),
        Command::Validate { infno, input } => {
            let input = read_input(&input).map_err(|msg| {
                eprintln!("{msg}");
                ExitCode::Usage
            })?;
            (
                Request::Validate {
                    interface: infno,
                    input,
                },
                quick,
            )
        }
        Command::Cancel { id } => (Request::Cancel { request_id: id }, quick),
        Command::CatalogDownload {
            catalog,
            ver_name,
            wait,
        } => {
            let mut params = serde_json::json!({ "catalog": catalog });
            if let Some(v) = ver_name {
                params["ver_name"] = v.into();
            }
            (
                Request::Job {
                    kind: "catalog-download".into(),
                    params: params.to_string(),
                    wait_ms: millis(wait),
                },
                wait,
            )
        }
        Command::Reconcile {
            date,
            setl_optins,
            wait,
        } => {
            let mut params = serde_json::json!({ "date": date });
            if let Some(s) = setl_optins {
                params["setl_optins"] = s.into();
            }
            (
                Request::Job {
                    kind: "reconcile".into(),
                    params: params.to_string(),
                    wait_ms: millis(wait),
                },
                wait,
            )
        }
        Command::Job { id, wait } => (
            Request::JobWait {
                job_id: id,
                wait_ms: millis(wait),
            },
            wait.max(quick),
        ),
        Command::Ping => (Request::Ping {}, quick),
        Command::Status => (Request::Status {}, quick),
    }))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn read_input(src: &InputSource) -> Result<String, String> {
    let mut bytes = Vec::new();
    match src {
        InputSource::File(path) => {
            bytes = std::fs::read(path)
                .map_err(|e| format!("无法读取输入文件 / cannot read input file {path}: {e}"))?
        }
        InputSource::Stdin => {
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| format!("无法读取标准输入 / cannot read stdin: {e}"))?;
        }
    }
    // Tolerate a UTF-8 byte-order mark, which Windows editors like to add.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    String::from_utf8(bytes.to_vec())
        .map_err(|_| "输入必须是 UTF-8 编码的 JSON / input must be UTF-8 JSON".to_string())
}

/// Windows named pipes have no read timeout, so a watchdog thread bounds the shim's life:
/// a hung broker must not hang the stored procedure that spawned us.
fn guard_wall_clock(limit: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        let code = fail(&ClientError::TimedOut);
        let _ = std::io::stdout().flush();
        std::process::exit(code.code());
    });
}

/// Prints the answer; `json` prints the stored response envelope instead of the line.
/// `reversing`: REVERSED is the success of a `reverse` command.
fn report(resp: Response, json: bool, reversing: bool) -> ExitCode {
    match resp {
        Response::Outcome(o) => {
            if let Some(msg) = &o.err_msg {
                eprintln!("{msg}");
            }
            if json {
                // stdout is the response JSON; the id goes to stderr so an operator can
                // `reverse` or `cancel` what a sync `call` started.
                eprintln!("request_id={} status={}", o.request_id, o.status);
                println!("{}", response_json(&o));
            } else {
                println!("{}", outcome_line(&o));
            }
            if reversing && o.status == yibao_proto::RequestStatus::Reversed {
                ExitCode::Done
            } else {
                exit_code_for(&o)
            }
        }
        Response::Accepted { request_id } => {
            println!("id={request_id} status=ACCEPTED");
            ExitCode::Done
        }
        Response::Pong { server } => {
            println!("pong {}", ascii(&server));
            ExitCode::Done
        }
        Response::Status(s) => {
            let counts: Vec<String> = s
                .counts
                .iter()
                .map(|c| format!("{}={}", c.status, c.count))
                .collect();
            let latency: Vec<String> = s
                .latency
                .iter()
                .map(|l| {
                    format!(
                        "latency[{}]=n:{},p50:{},p95:{},p99:{}",
                        ascii(&l.infno),
                        l.count,
                        l.p50_ms,
                        l.p95_ms,
                        l.p99_ms
                    )
                })
                .collect();
            let platform_ok = match s.platform_ok {
                Some(true) => "yes",
                Some(false) => "no",
                None => "unknown",
            };
            println!(
                "server={} uptime_ms={} in_flight={} signed_in_operators={} {} store={} store_ok={} platform={} platform_ok={} window_s={} {}",
                ascii(&s.server),
                s.uptime_ms,
                s.in_flight,
                s.signed_in_operators,
                counts.join(" "),
                ascii(&s.store),
                if s.store_ok { "yes" } else { "no" },
                ascii(&s.platform),
                platform_ok,
                s.window_s,
                latency.join(" ")
            );
            for e in [&s.store_error, &s.platform_error].into_iter().flatten() {
                eprintln!("{e}");
            }
            ExitCode::Done
        }
        Response::Error { code, message } => {
            eprintln!("{message}");
            let (exit, line) = failure(&ClientError::refused(code, message));
            println!("{line}");
            exit
        }
        Response::Validation {
            ok,
            problems,
            message,
        } => {
            // Details (中文) on stderr, one per line; stdout keeps the one ASCII line.
            for p in &problems {
                eprintln!("{p}");
            }
            if ok {
                println!("valid");
                ExitCode::Done
            } else {
                if problems.is_empty() {
                    eprintln!("{message}");
                }
                println!("invalid problems={}", problems.len());
                ExitCode::BusinessError
            }
        }
        Response::Job(j) => {
            if let Some(msg) = &j.err_msg {
                eprintln!("{msg}");
            }
            let mut line = format!("job_id={} status={}", j.job_id, ascii(&j.status));
            if j.timed_out {
                line.push_str(" timed_out=1");
            }
            if json {
                eprintln!("{line}");
                println!(
                    "{}",
                    j.result.clone().unwrap_or_else(|| serde_json::json!({
                        "job_id": j.job_id, "status": j.status, "timed_out": j.timed_out
                    })
                    .to_string())
                );
            } else {
                println!("{line}");
            }
            match j.status.as_str() {
                "COMPLETED" => ExitCode::Done,
                "ERROR" => ExitCode::BusinessError,
                _ => ExitCode::Timeout,
            }
        }
        Response::Welcome { .. } => fail(&ClientError::Protocol(
            "unexpected Welcome from the broker".to_string(),
        )),
    }
}

/// `id=7 status=COMPLETED infcode=0 msgid=H430100000012024…` — ASCII only, so it survives
/// any code page `xp_cmdshell` uses.
fn outcome_line(o: &Outcome) -> String {
    let mut line = format!(
        "id={} status={} infcode={} msgid={}",
        o.request_id,
        o.status,
        ascii(o.infcode.as_deref().unwrap_or("-")),
        ascii(o.msgid.as_deref().unwrap_or("-"))
    );
    if o.timed_out {
        line.push_str(" timed_out=1");
    }
    line
}

/// The stored response envelope, or a JSON summary when there is none yet.
fn response_json(o: &Outcome) -> String {
    match &o.response {
        Some(r) => r.clone(),
        None => format!(
            "{{\"request_id\":{},\"status\":\"{}\",\"timed_out\":{}}}",
            o.request_id, o.status, o.timed_out
        ),
    }
}

/// Replaces anything outside printable ASCII, keeping the line one line.
fn ascii(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}
