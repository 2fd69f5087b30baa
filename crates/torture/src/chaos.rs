//! The disturbances: platform faults, the store locked by another process, a full disk,
//! and brokers killed, terminated, stalled and restarted.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::Rng;
use yibao::Which;

use crate::ctx::Ctx;
use crate::his::hold_exclusive;

const KINDS: [&str; 8] = [
    "delay",
    "hang",
    "http500",
    "reset",
    "reset_before",
    "garbage",
    "business_error",
    "invalid_sign_no",
];

fn pick<'a>(rng: &mut StdRng, weighted: &[(&'a str, u32)]) -> &'a str {
    let total: u32 = weighted.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total.max(1));
    for (v, w) in weighted {
        if x < *w {
            return v;
        }
        x -= w;
    }
    weighted.first().map_or("*", |(v, _)| v)
}

/// Platform faults through the simulator's control endpoint, cleared now and then.
pub fn faults(ctx: &Ctx, mut rng: StdRng) {
    let timeout = ctx.plan.request_timeout_ms;
    let lease = ctx.plan.lease_ms;
    while ctx.sleep(Duration::from_millis(rng.random_range(300..3000))) {
        if rng.random_bool(0.12) {
            ctx.env().clear_faults();
            ctx.ledger
                .disturb("faults cleared", "DELETE /__mock/faults");
            continue;
        }
        let infno = pick(
            &mut rng,
            &[
                ("2207", 30),
                ("2201", 10),
                ("2204", 10),
                ("1101", 8),
                ("9001", 15),
                ("2601", 17),
                ("*", 10),
            ],
        );
        let kind = KINDS[rng.random_range(0..KINDS.len())];
        let ms = match kind {
            // A sign-in slower than the lease: the claim it was made for must not send.
            "delay" if infno == "9001" && rng.random_bool(0.6) => {
                lease + rng.random_range(200..2500)
            }
            "delay" => rng.random_range(50..timeout * 2),
            "hang" => rng.random_range(timeout..timeout * 3),
            _ => 0,
        };
        let times = rng.random_range(1..=3u64);
        let fault = serde_json::json!({"infno": infno, "kind": kind, "ms": ms, "times": times});
        ctx.env().add_fault(fault);
        ctx.ledger.disturb(
            &format!("fault {kind}"),
            format!("{infno} {kind} {ms} ms ×{times}"),
        );
    }
}

/// Another process holding `BEGIN EXCLUSIVE` on the store for 0.5–35 s.
pub fn locks(ctx: &Ctx, mut rng: StdRng) {
    while ctx.sleep(Duration::from_millis(rng.random_range(2000..15000))) {
        let ms = match rng.random_range(0..100) {
            0..70 => rng.random_range(500..5000),
            70..95 => rng.random_range(5000..15000),
            _ => rng.random_range(15000..=35000),
        };
        ctx.ledger
            .event(format!("store lock: BEGIN EXCLUSIVE for {ms} ms"));
        match hold_exclusive(&ctx.db_path, Duration::from_millis(ms), &|| !ctx.running()) {
            Ok(held) => {
                let held = u64::try_from(held.as_millis()).unwrap_or(u64::MAX);
                ctx.ledger.locked(held);
                ctx.ledger
                    .disturb("store lock", format!("released after {held} ms"));
            }
            Err(e) => ctx.ledger.disturb("store lock failed", e.to_string()),
        }
    }
}

/// The store's disk full for a while.
pub fn disk(ctx: &Ctx, mut rng: StdRng) {
    let Some(tmpfs) = ctx.tmpfs.as_ref() else {
        return;
    };
    while ctx.sleep(Duration::from_millis(rng.random_range(4000..20000))) {
        let hold = Duration::from_millis(rng.random_range(1000..12000));
        let t = Instant::now();
        let filled = tmpfs.fill();
        ctx.ledger.event(format!(
            "disk full: filler {} for {} ms",
            match &filled {
                Ok(b) => format!("{} KiB", b / 1024),
                Err(e) => format!("failed ({e})"),
            },
            hold.as_millis()
        ));
        ctx.sleep(hold);
        tmpfs.unfill();
        let ms = u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX);
        ctx.ledger.disk_full(ms);
        ctx.ledger
            .disturb("disk full", format!("filler removed after {ms} ms"));
    }
}

/// Why a broker ended, from its log: the last `Error:` report up to its backtrace, else
/// the last lines.
fn exit_reason(ctx: &Ctx, which: Which) -> String {
    let path = ctx.env().log_of(which);
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let report = match text.rfind("Error: ") {
        Some(i) => {
            let rest = &text[i..];
            rest[..rest.find("Stack backtrace").unwrap_or(rest.len())].to_string()
        }
        None => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(3)..].join(" | ")
        }
    };
    let flat: String = report.split_whitespace().collect::<Vec<_>>().join(" ");
    flat.chars().take(400).collect()
}

/// Restarts brokers that ended without being told to (a failed start on a locked store or
/// a full disk, or a crash), recording how they ended.
pub fn supervise(ctx: &Ctx) {
    let brokers = ctx.env().brokers();
    for w in brokers {
        let exited = ctx.env().reap(w);
        let told = exited.is_some() && ctx.was_told_to_exit(w);
        if let Some(status) = exited.filter(|_| !told) {
            let tail = exit_reason(ctx, w);
            ctx.ledger.disturb(
                "broker exited by itself",
                format!("{w}: {status}; log: {tail}"),
            );
        }
        let spawned = ctx.env().spawn_broker(w);
        match spawned {
            Ok(true) => {
                // A new process: whatever it was told before does not apply to it.
                ctx.was_told_to_exit(w);
                ctx.ledger.disturb("broker start", format!("{w}"));
            }
            Ok(false) => {}
            Err(e) => ctx.ledger.disturb("broker start failed", e),
        }
    }
}

/// Waits (bounded, and no longer once the run is stopping) for a signalled broker to
/// exit; true when it did.
fn await_exit(ctx: &Ctx, w: Which, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    loop {
        if !ctx.running() {
            return false;
        }
        let reaped = ctx.env().reap(w);
        let running = ctx.env().pid_of(w).is_some();
        if reaped.is_some() || !running {
            ctx.was_told_to_exit(w);
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Brokers: kill -9, SIGTERM, SIGSTOP/SIGCONT (a stall longer than the lease), restarts,
/// and stray signals (SIGHUP, SIGUSR1/2) that must change nothing.
pub fn brokers(ctx: &Ctx, mut rng: StdRng) {
    let lease = ctx.plan.lease_ms;
    while ctx.sleep(Duration::from_millis(rng.random_range(2000..9000))) {
        supervise(ctx);
        let all = ctx.env().brokers();
        let Some(&w) = all.get(rng.random_range(0..all.len().max(1))) else {
            continue;
        };
        match rng.random_range(0..100) {
            0..35 => kill(ctx, w, &mut rng),
            35..55 => terminate(ctx, w, &mut rng),
            55..72 => stall(ctx, w, rng.random_range(lease / 2..lease * 2)),
            72..82 => outage(ctx, &all, &mut rng),
            82..90 => stray(ctx, w, &mut rng),
            _ => {}
        }
        supervise(ctx);
    }
    let all = ctx.env().brokers();
    for w in all {
        ctx.env().signal(w, "CONT");
    }
}

/// kill -9, then down for a while.
fn kill(ctx: &Ctx, w: Which, rng: &mut StdRng) {
    if !ctx.signal(w, "KILL") {
        return;
    }
    await_exit(ctx, w, Duration::from_secs(5));
    let down = rng.random_range(0..6000);
    ctx.ledger
        .disturb("kill -9", format!("{w}, down {down} ms"));
    ctx.sleep(Duration::from_millis(down));
}

/// SIGTERM (a graceful stop that drains), then down for a while.
fn terminate(ctx: &Ctx, w: Which, rng: &mut StdRng) {
    if !ctx.signal(w, "TERM") {
        return;
    }
    let t = Instant::now();
    let gone = await_exit(ctx, w, Duration::from_secs(20));
    let down = rng.random_range(0..3000);
    ctx.ledger.disturb(
        "SIGTERM",
        format!(
            "{w}: {} after {} ms, down {down} ms",
            if gone { "exited" } else { "still running" },
            t.elapsed().as_millis()
        ),
    );
    if !gone {
        ctx.signal(w, "KILL");
        await_exit(ctx, w, Duration::from_secs(5));
    }
    ctx.sleep(Duration::from_millis(down));
}

/// SIGHUP (a closed terminal), SIGUSR1 or SIGUSR2: the broker ignores them, so a death
/// after one shows in the report as "broker exited by itself".
fn stray(ctx: &Ctx, w: Which, rng: &mut StdRng) {
    let signal = ["HUP", "USR1", "USR2"][rng.random_range(0..3)];
    if ctx.env().signal(w, signal) {
        ctx.ledger
            .disturb("stray signal", format!("{w} SIG{signal}"));
    }
}

/// SIGSTOP for `ms` (typically longer than the lease), then SIGCONT, always.
fn stall(ctx: &Ctx, w: Which, ms: u64) {
    if !ctx.env().signal(w, "STOP") {
        return;
    }
    ctx.ledger
        .disturb("stall", format!("{w} SIGSTOP for {ms} ms"));
    let end = Instant::now() + Duration::from_millis(ms);
    // Bounded, and resumed even when the run is stopping.
    while Instant::now() < end && ctx.running() {
        std::thread::sleep(Duration::from_millis(20));
    }
    ctx.env().signal(w, "CONT");
}

/// Every broker down at once for 4–15 s: cashiers get exit 3, cannot cancel, and wait out
/// their rows' deadlines (the cashier-retry pattern).
fn outage(ctx: &Ctx, all: &[Which], rng: &mut StdRng) {
    for &w in all {
        let signal = if rng.random_bool(0.5) { "KILL" } else { "TERM" };
        if ctx.signal(w, signal) && !await_exit(ctx, w, Duration::from_secs(20)) {
            ctx.signal(w, "KILL");
            await_exit(ctx, w, Duration::from_secs(5));
        }
    }
    let down = rng.random_range(4000..15000);
    ctx.ledger
        .disturb("outage", format!("every broker down for {down} ms"));
    ctx.sleep(Duration::from_millis(down));
}
