//! One seed from start to verdict: start the simulator and brokers, let every actor loose
//! for the duration, quiesce, read the evidence, check the invariants, keep the evidence of
//! a failing run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use yibao::Env;

use crate::check::{check, Violation};
use crate::ctx::Ctx;
use crate::disk::Tmpfs;
use crate::his::His;
use crate::plan::Plan;
use crate::report::Summary;
use crate::shim::shim;
use crate::{chaos, collect, traffic};

/// How a seed is run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub duration: Duration,
    /// Allow full-disk episodes (they also need a tmpfs mount).
    pub allow_disk: bool,
    /// Keep the environment's directory even when the run passes.
    pub keep: bool,
    /// The command that replays this seed.
    pub replay: String,
}

/// The verdict of one seed.
#[derive(Debug)]
pub struct Verdict {
    pub seed: u64,
    pub violations: Vec<Violation>,
    pub summary: String,
    /// Where the evidence was kept (failing runs, or `--keep`).
    pub kept: Option<PathBuf>,
    /// Actors that panicked or could not run (the harness's own trouble).
    pub harness_errors: Vec<String>,
}

type Actor = fn(&Ctx, StdRng);

/// Stops the actors if the run's own thread unwinds (a panic in the harness), so they do
/// not outlive their seed; the last of them then drops the environment and the tmpfs.
struct StopOnDrop(Arc<Ctx>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

fn tmpfs_size_mib(duration: Duration) -> u64 {
    (64 + duration.as_secs() / 60 * 8).min(1024)
}

/// Runs one seed.
pub fn run_seed(seed: u64, o: &RunOptions) -> anyhow::Result<Verdict> {
    let plan = Plan::new(seed, o.duration, o.allow_disk);
    let (tmpfs, disk_notice) = if !o.allow_disk {
        (None, "full-disk episodes off (--no-disk)".to_string())
    } else if !plan.full_disk {
        (None, "full-disk episodes off for this seed".to_string())
    } else {
        match Tmpfs::mount(tmpfs_size_mib(o.duration)) {
            Ok(t) => {
                let notice = format!(
                    "store on a {} MiB tmpfs at {}",
                    tmpfs_size_mib(o.duration),
                    t.path().display()
                );
                (Some(t), notice)
            }
            Err(e) => {
                let notice = format!("full-disk episodes skipped: {e}");
                println!("[seed {seed}] notice: {notice}");
                (None, notice)
            }
        }
    };
    let mut opts = plan.options();
    opts.store_dir = tmpfs.as_ref().map(|t| t.path().to_path_buf());
    opts.mock_log = true;
    println!("[seed {seed}] {}", plan.describe());
    let plan_text = format!("{:.0} s; {}", o.duration.as_secs_f64(), plan.describe());
    let t_start = Instant::now();
    let mut env = Env::start_with(opts);
    if plan.second_broker {
        env.start_another_broker();
    }
    let mock_log = env.dir.path().join("mock.log");
    let ctx = Arc::new(Ctx::new(plan, env, tmpfs, Instant::now()));

    let mut actors: Vec<(&str, Actor)> = Vec::new();
    for _ in 0..ctx.plan.cashiers {
        actors.push(("cashier", traffic::cashier));
    }
    actors.push(("feeder", traffic::feeder));
    actors.push(("reverser", traffic::reverser));
    actors.push(("librarian", crate::catalogs::librarian));
    actors.push(("faults", chaos::faults));
    actors.push(("locks", chaos::locks));
    actors.push(("disk", chaos::disk));
    actors.push(("brokers", chaos::brokers));
    let handles: Vec<_> = actors
        .into_iter()
        .enumerate()
        .map(|(i, (name, f))| {
            let ctx = Arc::clone(&ctx);
            let rng = StdRng::seed_from_u64(ctx.plan.actor_seed(i as u64 + 1));
            let h = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || f(&ctx, rng));
            (name, h)
        })
        .collect();

    let guard = StopOnDrop(Arc::clone(&ctx));
    let started = t_start.elapsed();
    progress_until(&ctx, o.duration);
    ctx.stop();
    let t_join = Instant::now();
    let mut harness_errors = Vec::new();
    for (name, h) in handles {
        match h {
            Ok(h) => {
                if h.join().is_err() {
                    harness_errors.push(format!("actor {name} panicked"));
                }
            }
            Err(e) => harness_errors.push(format!("actor {name} did not start: {e}")),
        }
    }
    let joined = t_join.elapsed();
    let quiesce = quiesce(&ctx);
    let quiesce_text = match &quiesce {
        Ok(d) => format!(
            "nothing PENDING/PROCESSING after {:.1} s (start-up took {:.1} s, stopping the actors {:.1} s)",
            d.as_secs_f64(),
            started.as_secs_f64(),
            joined.as_secs_f64()
        ),
        Err(e) => e.clone(),
    };

    // The evidence, read once the store has settled.
    let applied_json = ctx.env().mock_applied();
    let mock_stats = ctx.env().mock_stats();
    let snapshot = collect::store(&ctx.db_path, collect::applied(&applied_json))?;
    let counts = collect::counts(&ctx.db_path)?;
    let mut violations = check(&snapshot, &ctx.ledger.facts());
    let catalogs = ctx.env().mock_json("/__mock/catalog");
    violations.extend(crate::catalogs::check_catalog(&ctx.db_path, &catalogs)?);
    let faults_fired = collect::faults_fired(&mock_log);
    drop(guard);

    let ctx = Arc::try_unwrap(ctx)
        .map_err(|_| anyhow::anyhow!("an actor still holds the run's context"))?;
    let (mut env, tmpfs, ledger) = ctx.into_parts();
    let book = ledger.book();
    let summary = Summary {
        seed,
        replay: &o.replay,
        plan: plan_text,
        disk_notice,
        counts: &counts,
        snapshot: &snapshot,
        mock_stats: &mock_stats,
        faults_fired: &faults_fired,
        book: &book,
        quiesce: quiesce_text,
        violations: &violations,
    }
    .render();

    // Stop every broker before the store's files are copied and the tmpfs goes away.
    for w in env.brokers() {
        env.signal(w, "CONT");
        env.signal(w, "KILL");
        let end = Instant::now() + Duration::from_secs(5);
        while env.pid_of(w).is_some() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    if let Err(e) = &quiesce {
        harness_errors.push(format!("quiescing failed: {e}"));
    }
    let failing = !violations.is_empty() || !harness_errors.is_empty();
    let kept = if failing || o.keep {
        let dir = env.keep_dir();
        if let Some(t) = &tmpfs {
            copy_store(t.path(), &dir.join("store"));
        }
        let timeline: String = book
            .timeline
            .iter()
            .map(|(t, l)| format!("{t:8.3}s {l}\n"))
            .collect();
        let _ = std::fs::write(dir.join("timeline.log"), timeline);
        let _ = std::fs::write(dir.join("report.txt"), &summary);
        let applied = serde_json::to_string_pretty(&applied_json).unwrap_or_default();
        let _ = std::fs::write(dir.join("applied.json"), applied);
        Some(dir)
    } else {
        None
    };
    drop(book);
    drop(env);
    if let Some(mut t) = tmpfs {
        if let Err(e) = t.unmount() {
            harness_errors.push(e);
        }
    }
    Ok(Verdict {
        seed,
        violations,
        summary,
        kept,
        harness_errors,
    })
}

/// Copies the SQLite file and its WAL off the tmpfs, for the evidence.
fn copy_store(from: &Path, to: &Path) {
    let _ = std::fs::create_dir_all(to);
    for name in ["yibao.db", "yibao.db-wal", "yibao.db-shm"] {
        let _ = std::fs::copy(from.join(name), to.join(name));
    }
}

/// Waits out the run, printing a line of progress every 15 s.
fn progress_until(ctx: &Ctx, duration: Duration) {
    let start = Instant::now();
    let his = His::open(&ctx.db_path).ok();
    while start.elapsed() < duration {
        let left = duration.saturating_sub(start.elapsed());
        std::thread::sleep(left.min(Duration::from_secs(15)));
        if start.elapsed() >= duration {
            break;
        }
        let unfinished = his.as_ref().map(|h| {
            let _ = h.conn().busy_timeout(Duration::from_millis(200));
            h.unfinished()
                .map_or_else(|_| "store busy".to_string(), |n| n.to_string())
        });
        let b = ctx.ledger.book();
        println!(
            "[seed {}] {:>4.0} s: rows known {}, unfinished {}, kills {}, stalls {}, locks {}, disk full {}",
            ctx.plan.seed,
            start.elapsed().as_secs_f64(),
            b.facts.known_ids.len(),
            unfinished.unwrap_or_default(),
            b.counts.get("kill -9").copied().unwrap_or(0) + b.counts.get("SIGTERM").copied().unwrap_or(0),
            b.counts.get("stall").copied().unwrap_or(0),
            b.counts.get("store lock").copied().unwrap_or(0),
            b.counts.get("disk full").copied().unwrap_or(0),
        );
    }
}

/// Clears faults, frees the disk, resumes and restarts every broker, then waits (bounded)
/// until nothing is PENDING or PROCESSING.
fn quiesce(ctx: &Ctx) -> Result<Duration, String> {
    let t = Instant::now();
    ctx.env().clear_faults();
    if let Some(tmpfs) = &ctx.tmpfs {
        tmpfs.unfill();
    }
    let all = ctx.env().brokers();
    for w in &all {
        ctx.env().signal(*w, "CONT");
    }
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        chaos::supervise(ctx);
        let pipes: Vec<String> = all
            .iter()
            .map(|w| ctx.env().pipe_of(*w).to_string())
            .collect();
        let up = pipes
            .iter()
            .all(|p| shim(p, &["ping"], None, Duration::from_secs(5)).code == Some(0));
        if up {
            break;
        }
        if Instant::now() > end {
            return Err("brokers did not answer within 60 s of quiescing".into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let his = His::open(&ctx.db_path).map_err(|e| format!("open store: {e}"))?;
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        if his.unfinished().is_ok_and(|n| n == 0) {
            return Ok(t.elapsed());
        }
        if Instant::now() > end {
            return Err(format!(
                "rows still PENDING/PROCESSING {:.0} s after quiescing began",
                t.elapsed().as_secs_f64()
            ));
        }
        chaos::supervise(ctx);
        std::thread::sleep(Duration::from_millis(250));
    }
}
