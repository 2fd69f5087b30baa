//! What every actor of a run shares: the environment (simulator + brokers), the store's
//! path, the pipes, the ledger and the stop flag.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::Rng;
use yibao::{Env, Which};

use crate::disk::Tmpfs;
use crate::ledger::Ledger;
use crate::plan::Plan;
use crate::shim::{shim_until, ShimOut};

/// Business numbers stay below this: the harness's 身份证号 are distinct only below it.
pub const MAX_BUSINESS_NO: u32 = 99_999;

pub struct Ctx {
    pub plan: Plan,
    env: Mutex<Env>,
    pub db_path: PathBuf,
    /// Every broker's pipe (fixed for the run; a broker that is down refuses connections).
    pub pipes: Vec<String>,
    pub ledger: Ledger,
    /// The tmpfs under the store, when full-disk episodes run.
    pub tmpfs: Option<Tmpfs>,
    stop: AtomicBool,
    next_no: AtomicU32,
    /// Brokers the harness sent SIGKILL or SIGTERM and has not seen exit yet.
    told_to_exit: Mutex<HashSet<Which>>,
}

impl Ctx {
    pub fn new(plan: Plan, env: Env, tmpfs: Option<Tmpfs>, start: Instant) -> Self {
        let pipes = env
            .brokers()
            .into_iter()
            .map(|w| env.pipe_of(w).to_string())
            .collect();
        Self {
            plan,
            db_path: env.db_path.clone(),
            pipes,
            env: Mutex::new(env),
            ledger: Ledger::new(start),
            tmpfs,
            stop: AtomicBool::new(false),
            next_no: AtomicU32::new(1),
            told_to_exit: Mutex::new(HashSet::new()),
        }
    }

    pub fn env(&self) -> MutexGuard<'_, Env> {
        self.env.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the environment and the tmpfs back once every actor has ended.
    pub fn into_parts(self) -> (Env, Option<Tmpfs>, Ledger) {
        (
            self.env.into_inner().unwrap_or_else(|p| p.into_inner()),
            self.tmpfs,
            self.ledger,
        )
    }

    pub fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Sleeps `d` in small steps; false when the run is stopping.
    pub fn sleep(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        while self.running() {
            let now = Instant::now();
            if now >= end {
                return true;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(50)));
        }
        false
    }

    /// A random broker's pipe (it may be down: that is part of the test).
    pub fn pipe(&self, rng: &mut StdRng) -> &str {
        let i = rng.random_range(0..self.pipes.len().max(1));
        self.pipes.get(i).map_or("", String::as_str)
    }

    /// Signals a broker; a KILL or TERM is remembered, so its exit is not taken for one
    /// the broker chose.
    pub fn signal(&self, w: Which, signal: &str) -> bool {
        let sent = self.env().signal(w, signal);
        if sent && matches!(signal, "KILL" | "TERM") {
            self.told_to_exit
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(w);
        }
        sent
    }

    /// Whether the harness told this broker to exit (and forgets it).
    pub fn was_told_to_exit(&self, w: Which) -> bool {
        self.told_to_exit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&w)
    }

    /// Runs the shim, cut short once the run is stopping.
    pub fn shim(&self, pipe: &str, args: &[&str], stdin: Option<&str>, limit: Duration) -> ShimOut {
        shim_until(pipe, args, stdin, limit, &|| !self.running())
    }

    /// A fresh business number (distinct 就诊ID, 人员编号, 身份证号 …), until they run out.
    pub fn next_business_no(&self) -> Option<u32> {
        let n = self.next_no.fetch_add(1, Ordering::Relaxed);
        (n <= MAX_BUSINESS_NO).then_some(n)
    }
}
