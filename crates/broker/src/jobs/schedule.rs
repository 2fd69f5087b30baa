//! The scheduler: at each minute that a `[[schedule]]` entry's cron time names, it records
//! that slot's job — once across every broker on the store, because a slot's row is unique
//! (`schedule_name`, `slot`) — and starts it. A slot missed while no broker ran is still
//! recorded when it is at most `catch_up_minutes` late; a slot that already has a row
//! (run, running, or failed) is never recorded again, whatever happens to the brokers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use yibao_store::NewJob;

use super::cron::Cron;
use super::Jobs;
use crate::config::schedule::ScheduleEntry;
use crate::shutdown::Shutdown;

/// How often the scheduler looks at the clock; well under a minute, so no slot is missed.
const TICK: Duration = Duration::from_secs(10);

struct Entry {
    config: ScheduleEntry,
    cron: Cron,
    params: String,
}

pub async fn run(jobs: Arc<Jobs>, entries: Vec<ScheduleEntry>, mut shutdown: Shutdown) {
    let entries: Vec<Entry> = entries
        .into_iter()
        .filter_map(|config| {
            // Checked when the config was loaded; an entry that fails here is skipped.
            let cron = config.cron().ok()?;
            let params = config.params_json();
            Some(Entry {
                config,
                cron,
                params,
            })
        })
        .collect();
    if entries.is_empty() {
        return;
    }
    // The slot each entry last recorded (or found recorded), so the table is asked once.
    let mut recorded: HashMap<String, String> = HashMap::new();
    loop {
        let now = yibao_core::time::now();
        for e in &entries {
            let Some(slot) = e.cron.latest(&now, e.config.catch_up_minutes) else {
                continue;
            };
            let slot = slot.format("%Y-%m-%dT%H:%M").to_string();
            if recorded.get(&e.config.name) == Some(&slot) {
                continue;
            }
            let job = NewJob {
                kind: e.config.kind.clone(),
                params: e.params.clone(),
                schedule: Some(e.config.name.clone()),
                slot: Some(slot.clone()),
            };
            match jobs.worker.queue.store.insert_job(job).await {
                Ok(j) => {
                    recorded.insert(e.config.name.clone(), slot.clone());
                    if j.created {
                        tracing::info!(schedule = %e.config.name, %slot, job_id = j.job_id, "scheduled job recorded");
                        jobs.start(Some(j.job_id)).await;
                    }
                }
                // The store is unreachable: the next tick tries again (the slot stays in
                // its catch-up window).
                Err(err) => {
                    tracing::warn!(schedule = %e.config.name, "cannot record the scheduled job: {err}")
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = shutdown.recv() => break,
        }
    }
}
