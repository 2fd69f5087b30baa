//! Batch jobs: work made of several requests, recorded in `medical_insurance_jobs` and run
//! by whichever broker claims the row — asked for over the pipe (`Job`), by a stored
//! procedure that inserts a row, or by a `[[schedule]]`.
//!
//! A job is claimed like a request (a lease and a fencing token) and its lease is extended
//! while it runs, so two brokers never run one job at the same time, and a job whose broker
//! died is taken over once the lease passes. Its steps are requests like any other (rows,
//! attempts, retries) and are safe to do again: a job taken over is run again from the
//! start, and its kind makes sure the second run does not repeat an effect (a catalog load
//! is a compare-and-set on the catalog's version).

mod book;
mod catalog;
pub mod cron;
mod reconcile;
pub mod schedule;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Semaphore;
use yibao_proto::{ErrorCode, JobOutcome, Response};
use yibao_store::{JobClaimSpec, JobFinish, JobStatus, JobView, NewJob};

use crate::shutdown::Shutdown;
use crate::worker::Worker;

/// Jobs one broker runs at once; more wait in the table for the next look.
const CONCURRENT_JOBS: usize = 2;
/// Claims after which a job is not run again (each claim after the first is a takeover).
const MAX_CLAIMS: i64 = 5;
/// How often a waiting caller looks at the job's row again.
const RECHECK: Duration = Duration::from_millis(100);

/// The kinds of job, as stored in `medical_insurance_jobs.kind`.
pub const KINDS: &[&str] = &[catalog::KIND, reconcile::KIND, SIGN_OUT];
const SIGN_OUT: &str = "sign-out";

/// What ended a job: its result (JSON) or the reason it failed, for `err_msg`.
type Ending = Result<Value, String>;

pub struct Jobs {
    pub(crate) worker: Arc<Worker>,
    /// The institution code, which some steps (9101, 9102) carry in their input.
    fixmedins_code: String,
    /// The 结算经办机构 a reconciliation names when its parameters do not (the
    /// institution's `mdtrtarea_admvs`).
    setl_optins: String,
    permits: Arc<Semaphore>,
}

impl Jobs {
    pub fn new(worker: Arc<Worker>, fixmedins_code: String, setl_optins: String) -> Arc<Self> {
        Arc::new(Self {
            worker,
            fixmedins_code,
            setl_optins,
            permits: Arc::new(Semaphore::new(CONCURRENT_JOBS)),
        })
    }

    fn claim_spec(&self, job_id: Option<i64>) -> JobClaimSpec {
        let q = &self.worker.queue;
        JobClaimSpec {
            job_id,
            worker_id: q.worker_id().to_string(),
            now_ms: yibao_core::time::epoch_ms(),
            lease_until_ms: q.lease_until(),
        }
    }

    /// `Job`: records the job, runs it here at once, and waits up to `wait` for its end.
    pub async fn submit(self: &Arc<Self>, kind: &str, params: &str, wait: Duration) -> Response {
        if let Err(msg) = check(kind, params) {
            return Response::Error {
                code: ErrorCode::BadRequest,
                message: msg,
            };
        }
        let new = NewJob {
            kind: kind.to_string(),
            params: params.to_string(),
            schedule: None,
            slot: None,
        };
        let job_id = match self.worker.queue.store.insert_job(new).await {
            Ok(j) => j.job_id,
            Err(e) => return self.worker.queue.failed(e),
        };
        self.start(Some(job_id)).await;
        self.wait(job_id, wait).await
    }

    /// Claims a job (`job_id`, or the oldest claimable) and runs it in its own task, if a
    /// slot is free; true when one was started.
    pub(crate) async fn start(self: &Arc<Self>, job_id: Option<i64>) -> bool {
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            return false;
        };
        let job = match self
            .worker
            .queue
            .store
            .claim_job(self.claim_spec(job_id))
            .await
        {
            Ok(Some(job)) => job,
            Ok(None) => return false,
            Err(e) => {
                tracing::warn!("cannot claim a job: {e}");
                return false;
            }
        };
        let jobs = self.clone();
        tokio::spawn(async move {
            jobs.run(job).await;
            drop(permit);
        });
        true
    }

    /// Runs a claimed job to its end, extending its lease meanwhile; a job whose claim was
    /// taken over (this broker stalled past its lease) stops without writing anything.
    async fn run(self: &Arc<Self>, job: JobView) {
        let (id, gen) = (job.job_id, job.claim_gen);
        tracing::info!(job_id = id, kind = %job.kind, "job started");
        let work = async {
            // A job that kills its broker every time (memory, a crash) would otherwise be
            // taken over for ever.
            if gen > MAX_CLAIMS {
                return Err(format!(
                    "任务已被接管 {MAX_CLAIMS} 次仍未完成，不再运行 / taken over {MAX_CLAIMS} times without finishing; not run again"
                ));
            }
            self.work(&job).await
        };
        let ending = tokio::select! {
            ending = work => ending,
            lost = self.keep_lease(id, gen) => {
                tracing::warn!(job_id = id, "job stopped: {lost}");
                return;
            }
        };
        if self.worker.queue.is_stopping() && ending.is_err() {
            // A step refused because the broker is stopping: the job stays RUNNING and is
            // taken over (by this broker's next start or another) when its lease passes.
            tracing::info!(job_id = id, "job left for the next start (shutting down)");
            return;
        }
        let (status, result, err_msg) = match ending {
            Ok(result) => (JobStatus::Completed, Some(result.to_string()), None),
            Err(why) => (JobStatus::Error, None, Some(why)),
        };
        tracing::info!(job_id = id, status = status.as_str(), "job finished");
        let finish = JobFinish {
            job_id: id,
            claim_gen: gen,
            status,
            result,
            err_msg,
        };
        let q = &self.worker.queue;
        match q
            .durably("job end", || q.store.finish_job(finish.clone()))
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(job_id = id, "job finished after it was taken over"),
            Err(e) => tracing::error!(job_id = id, "cannot record the job's end: {e}"),
        }
    }

    /// The job's own work, by kind.
    async fn work(self: &Arc<Self>, job: &JobView) -> Ending {
        let params: Value = serde_json::from_str(&job.params)
            .map_err(|e| format!("任务参数不是 JSON / job params are not JSON: {e}"))?;
        match job.kind.as_str() {
            catalog::KIND => catalog::run(self, job, &params).await,
            reconcile::KIND => reconcile::run(self, job, &params).await,
            SIGN_OUT => {
                self.worker.sign_out_all().await;
                Ok(serde_json::json!({}))
            }
            other => Err(format!("未知的任务类型 / unknown job kind: {other}")),
        }
    }

    /// Extends the lease every third of it while the job runs; returns (ending the job)
    /// only when the claim is no longer this broker's.
    async fn keep_lease(&self, job_id: i64, gen: i64) -> String {
        let q = &self.worker.queue;
        // The lease runs until a third before this: past that, another broker may take
        // the job over, and this one must stop first.
        let mut safe_until = tokio::time::Instant::now() + q.lease() * 2 / 3;
        loop {
            tokio::time::sleep(q.lease() / 3).await;
            if tokio::time::Instant::now() >= safe_until {
                return "无法续租（数据库不可用），任务交由其他代理接管 / the lease could not be extended (store unavailable); the job is left for a takeover".into();
            }
            let asked = tokio::time::Instant::now();
            match q.store.extend_job(job_id, gen, q.lease_until()).await {
                Ok(true) => safe_until = asked + q.lease() * 2 / 3,
                Ok(false) => {
                    return "租约已被其他代理接管 / the lease was taken over by another broker"
                        .into()
                }
                // The store is unreachable for a moment: the lease is a third used; try again.
                Err(e) => tracing::warn!(job_id, "cannot extend the job's lease: {e}"),
            }
        }
    }

    /// `JobWait`: where the job stands, after waiting up to `wait` for it to finish.
    pub async fn wait(&self, job_id: i64, wait: Duration) -> Response {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let job = match self.worker.queue.store.get_job(job_id).await {
                Ok(Some(job)) => job,
                Ok(None) => {
                    return Response::Error {
                        code: ErrorCode::NotFound,
                        message: format!("任务 {job_id} 不存在 / job {job_id} does not exist"),
                    }
                }
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    return self.worker.queue.failed(e)
                }
                Err(_) => {
                    tokio::time::sleep(RECHECK).await;
                    continue;
                }
            };
            let now = tokio::time::Instant::now();
            if job.status.is_terminal() || now >= deadline {
                return Response::Job(outcome(job, now >= deadline));
            }
            tokio::time::sleep((deadline - now).min(RECHECK)).await;
        }
    }
}

/// A job row as the pipe reports it.
fn outcome(job: JobView, deadline_passed: bool) -> JobOutcome {
    JobOutcome {
        job_id: job.job_id,
        kind: job.kind,
        timed_out: deadline_passed && !job.status.is_terminal(),
        status: job.status.as_str().to_string(),
        result: job.result,
        err_msg: job.err_msg,
    }
}

/// Refuses a job the broker could never run, before it is recorded (and a `[[schedule]]`
/// that would record one).
pub(crate) fn check(kind: &str, params: &str) -> Result<(), String> {
    if !KINDS.contains(&kind) {
        return Err(format!(
            "未知的任务类型 / unknown job kind: {kind} (catalog-download, reconcile, sign-out)"
        ));
    }
    let v: Value = serde_json::from_str(params)
        .map_err(|e| format!("任务参数不是 JSON / job params are not JSON: {e}"))?;
    if kind == catalog::KIND {
        catalog::Params::from_json(&v)?;
    }
    if kind == reconcile::KIND {
        reconcile::Params::from_json(&v)?;
    }
    Ok(())
}

/// Looks for jobs inserted by SQL (or left by a broker that died) every `interval`.
pub async fn run_poller(jobs: Arc<Jobs>, interval: Duration, mut shutdown: Shutdown) {
    loop {
        while jobs.start(None).await {}
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.recv() => break,
        }
    }
}
