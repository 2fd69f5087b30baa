//! `yibao-bench`: the figures in docs/performance.md, measured in one run on one machine so
//! the ratios mean something.
//!
//!     cargo run --release -p yibao-bench            # full run (a few minutes)
//!     cargo run --release -p yibao-bench -- --quick # smoke run for CI (seconds)
//!
//! Everything is real: the release broker, shim and simulator binaries started by the e2e
//! harness, SQLite on disk, HTTP on 127.0.0.1. Output is a Markdown report on stdout.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod poll_mode;

use yibao::{bin, person_input, Env, Options, SmKeys, FIXMEDINS, TIF_PAASID, TIF_TOKEN};
use yibao_proto::{CallMode, Request, Response};

struct Sizes {
    spawns: usize,
    load_secs: f64,
    drain_rows: usize,
}

/// Milliseconds: median, min, max.
struct Stat {
    median: f64,
    min: f64,
    max: f64,
}

fn stat(mut xs: Vec<f64>) -> Stat {
    xs.sort_by(f64::total_cmp);
    Stat {
        median: xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN),
        min: xs.first().copied().unwrap_or(f64::NAN),
        max: xs.last().copied().unwrap_or(f64::NAN),
    }
}

fn pct(sorted: &[f64], p: usize) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() * p).div_ceil(100)).clamp(1, sorted.len()) - 1]
}

fn time_ms(f: impl FnOnce() -> bool) -> Option<f64> {
    let t = Instant::now();
    f().then(|| t.elapsed().as_secs_f64() * 1e3)
}

fn spawn_ok(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

const HELP: &str = "\
yibao-bench — docs/performance.md 中的数字 / the figures in docs/performance.md

用法 / usage:
  cargo run --release -p yibao-bench            完整运行（几分钟）/ full run (a few minutes)
  cargo run --release -p yibao-bench -- --quick CI 的冒烟运行 / CI's smoke run

先构建被测的代理、垫片和模拟平台（同一 profile），再把 Markdown 报告写到标准输出。
Builds the broker, shim and simulator under test (same profile) first, then writes a
Markdown report to stdout.";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{HELP}");
        return;
    }
    if let Some(bad) = args.iter().find(|a| *a != "--quick") {
        eprintln!("未知参数 / unknown argument: {bad}\n\n{HELP}");
        std::process::exit(2);
    }
    yibao::build_binaries();
    let quick = args.iter().any(|a| a == "--quick");
    let sizes = if quick {
        Sizes {
            spawns: 20,
            load_secs: 1.0,
            drain_rows: 500,
        }
    } else {
        Sizes {
            spawns: 200,
            load_secs: 5.0,
            drain_rows: 10_000,
        }
    };
    println!(
        "# yibao-bench{}\n",
        if quick { " (quick smoke run)" } else { "" }
    );
    println!(
        "machine: {} cores, {}; profile: {}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::consts::OS,
        if cfg!(debug_assertions) {
            "debug (use --release for real figures)"
        } else {
            "release"
        }
    );

    // 1. Spawn floor.
    let floor: Vec<f64> = (0..sizes.spawns)
        .filter_map(|_| time_ms(|| spawn_ok(&mut Command::new("true"))))
        .collect();
    let floor = stat(floor);

    // 2. Shim path against a warm broker (tif profile, SQLite).
    let env = Env::start_with(Options {
        workers: 32,
        ..Options::default()
    });
    let idle_rss = rss_kib(env.broker_pid());
    let warm = env.insert("1101", &person_input(0));
    assert_eq!(env.shim(&["run", &warm.to_string()]).status.code(), Some(0));
    let shim = bin("yibao-call");
    let ids: Vec<i64> = (0..sizes.spawns)
        .map(|i| env.insert("1101", &person_input(1 + i as u32)))
        .collect();
    let run: Vec<f64> = ids
        .iter()
        .filter_map(|id| {
            time_ms(|| {
                spawn_ok(Command::new(&shim).args(["--pipe", &env.pipe, "run", &id.to_string()]))
            })
        })
        .collect();
    let run_ok = run.len();
    let run = stat(run);
    let ping = stat(
        (0..sizes.spawns)
            .filter_map(|_| {
                time_ms(|| spawn_ok(Command::new(&shim).args(["--pipe", &env.pipe, "ping"])))
            })
            .collect(),
    );

    // 3. The per-call-process baseline (Python + requests + sqlite3 per call).
    let python = python_baseline(&env, sizes.spawns.min(if quick { 5 } else { 50 }));

    // 4. Throughput with concurrent pipe clients, tif.
    let mut rows = Vec::new();
    let mut load_rss = None;
    for clients in [1usize, 8, 64] {
        let (r, rss) = throughput(&env, clients, sizes.load_secs);
        load_rss = load_rss.max(rss);
        rows.push(("tif", clients, r));
    }
    drop(env);
    let sm_env = Env::start_with(Options {
        workers: 32,
        sm: Some(SmKeys::Right),
        ..Options::default()
    });
    for clients in [1usize, 8, 64] {
        let (r, _) = throughput(&sm_env, clients, sizes.load_secs);
        rows.push(("sm", clients, r));
    }
    drop(sm_env);

    // 5. Async drain: rows inserted by SQL, time until all are terminal.
    let drain = async_drain(sizes.drain_rows);

    // 6. The procedure's poll mode: a row inserted by SQL, its status polled, broker idle.
    let poll = poll_mode::measure(if quick { 10 } else { 100 });

    // 7. Report.
    let shim_size = std::fs::metadata(&shim).map(|m| m.len()).unwrap_or(0);
    println!("| measurement | median ms | min–max ms | note |");
    println!("|---|---:|---:|---|");
    let line = |name: &str, s: &Stat, note: String| {
        println!(
            "| {name} | {:.2} | {:.2}–{:.2} | {note} |",
            s.median, s.min, s.max
        );
    };
    line(
        "spawn floor (`true`)",
        &floor,
        format!("N={}", sizes.spawns),
    );
    line(
        "`yibao-call run <id>` (row inserted by SQL)",
        &run,
        format!("N={}, ok={run_ok}", sizes.spawns),
    );
    line("`yibao-call ping`", &ping, format!("N={}", sizes.spawns));
    match &python {
        Some((s, n)) => line("per-call Python process (seed design)", s, format!("N={n}")),
        None => println!("| per-call Python process (seed design) | n/a | | python3 with `requests` not available |"),
    }
    println!();
    println!("| ratio | value |\n|---|---:|");
    println!(
        "| shim run ÷ spawn floor | {:.2} |",
        run.median / floor.median
    );
    if let Some((p, _)) = &python {
        println!(
            "| per-call Python ÷ shim run | {:.1} |",
            p.median / run.median
        );
    }
    println!();
    println!("| profile | clients | calls/s | p50 ms | p95 ms | p99 ms | errors |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (profile, clients, r) in &rows {
        println!(
            "| {profile} | {clients} | {:.0} | {:.2} | {:.2} | {:.2} | {} |",
            r.per_sec, r.p50, r.p95, r.p99, r.errors
        );
    }
    println!();
    println!("| async drain | rows | seconds | rows/s |\n|---|---:|---:|---:|");
    println!(
        "| PENDING rows inserted by SQL until all terminal | {} | {:.2} | {:.0} |",
        drain.0,
        drain.1,
        drain.0 as f64 / drain.1
    );
    println!();
    println!("| poll mode (SQL insert, status polled as the procedure does, broker idle before) | value |");
    println!("|---|---:|");
    println!(
        "| p50 / p95 / max ms (N={}) | {:.1} / {:.1} / {:.1} |",
        poll.latencies.len(),
        pct(&poll.latencies, 50),
        pct(&poll.latencies, 95),
        poll.latencies.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "| idle database load: claim queries/s (pace {}→{} ms) | {:.0} |",
        poll.min_ms,
        poll.idle_ms,
        poll.idle_queries_per_sec()
    );
    println!();
    println!("| resource | value |\n|---|---:|");
    println!(
        "| broker RSS idle | {} |",
        idle_rss.map_or("n/a".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
    );
    println!(
        "| broker RSS under load (peak sample) | {} |",
        load_rss.map_or("n/a".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
    );
    println!(
        "| shim binary (stripped) | {:.2} MiB ({shim_size} bytes) |",
        shim_size as f64 / 1048576.0
    );
}

fn python_baseline(env: &Env, n: usize) -> Option<(Stat, usize)> {
    let ok = Command::new("python3")
        .args(["-c", "import requests"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return None;
    }
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/python_per_call.py");
    let db = env.dir.path().join("python-baseline.db");
    let times: Vec<f64> = (0..n)
        .filter_map(|i| {
            time_ms(|| {
                spawn_ok(Command::new("python3").arg(&script).args([
                    &env.mock_url,
                    &db.display().to_string(),
                    TIF_PAASID,
                    TIF_TOKEN,
                    FIXMEDINS,
                    &i.to_string(),
                ]))
            })
        })
        .collect();
    (!times.is_empty()).then(|| (stat(times.clone()), times.len()))
}

struct Load {
    per_sec: f64,
    p50: f64,
    p95: f64,
    p99: f64,
    errors: usize,
}

/// `clients` threads, each with one pipe connection, doing sync 1101 calls for `secs`.
fn throughput(env: &Env, clients: usize, secs: f64) -> (Load, Option<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let pid = env.broker_pid();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let pipe = env.pipe.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                let mut errors = 0;
                let mut client = yibao_call::Client::connect(&pipe).expect("connect");
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let req = Request::Call {
                        interface: "1101".into(),
                        input: person_input(c as u32 * 100_000 + n),
                        overrides: Default::default(),
                        mode: CallMode::Sync,
                        wait_ms: Some(30_000),
                    };
                    n += 1;
                    let t = Instant::now();
                    match client.request(&req) {
                        Ok(Response::Outcome(o))
                            if o.status == yibao_proto::RequestStatus::Completed =>
                        {
                            lat.push(t.elapsed().as_secs_f64() * 1e3)
                        }
                        Ok(other) => {
                            if errors == 0 {
                                eprintln!("first non-completed answer: {other:?}");
                            }
                            errors += 1
                        }
                        Err(e) => {
                            if errors == 0 {
                                eprintln!("first failed call: {e}");
                            }
                            errors += 1;
                            client = yibao_call::Client::connect(&pipe).expect("reconnect");
                        }
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let started = Instant::now();
    let mut peak = None;
    while started.elapsed().as_secs_f64() < secs {
        std::thread::sleep(Duration::from_millis(100));
        peak = peak.max(rss_kib(pid));
    }
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut errors = 0;
    for h in handles {
        let (lat, e) = h.join().expect("client thread");
        all.extend(lat);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    (
        Load {
            per_sec: all.len() as f64 / elapsed,
            p50: pct(&all, 50),
            p95: pct(&all, 95),
            p99: pct(&all, 99),
            errors,
        },
        peak,
    )
}

/// Inserts `rows` PENDING rows in one transaction while the broker polls, and times how long
/// until none is PENDING or PROCESSING.
fn async_drain(rows: usize) -> (usize, f64) {
    let env = Env::start_with(Options {
        workers: 64,
        poll_interval_ms: 20,
        ..Options::default()
    });
    let warm = env.insert("1101", &person_input(0));
    assert_eq!(env.shim(&["run", &warm.to_string()]).status.code(), Some(0));
    let mut db = env.db();
    let started = Instant::now();
    {
        let tx = db.transaction().expect("tx");
        for i in 0..rows {
            tx.execute(
                "INSERT INTO medical_insurance_requests (interface_code, input_data) VALUES ('1101', ?1)",
                [person_input(10_000 + i as u32)],
            )
            .expect("insert");
        }
        tx.commit().expect("commit");
    }
    loop {
        let open: i64 = db
            .query_row(
                "SELECT COUNT(*) FROM medical_insurance_requests WHERE status IN ('PENDING', 'PROCESSING')",
                [],
                |r| r.get(0),
            )
            .expect("count");
        if open == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "drain stalled with {open} open"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (rows, started.elapsed().as_secs_f64())
}
