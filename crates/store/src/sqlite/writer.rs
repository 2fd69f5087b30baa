//! The single writer. SQLite allows one writer at a time; instead of making every task
//! queue on a lock, all writes go to one thread that commits them in groups: one
//! `BEGIN IMMEDIATE … COMMIT` (one fsync) for however many jobs are waiting, each job inside
//! its own SAVEPOINT so a failing job is rolled back alone. Replies are sent only after the
//! commit, so a caller that hears "done" knows the row is on disk.

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::StoreError;

/// Most jobs committed together.
const MAX_BATCH: usize = 256;

/// A queued write, type-erased so one channel carries all kinds.
pub(crate) trait Job: Send {
    /// Runs the job's statements; true when they succeeded.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Hands the result to the caller once the transaction's fate is known.
    fn complete(self: Box<Self>, commit: Result<(), StoreError>);
}

struct TypedJob<T, F> {
    f: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(f) = self.f.take() else {
            return false;
        };
        let r = f(conn);
        let ok = r.is_ok();
        self.result = Some(r);
        ok
    }

    fn complete(self: Box<Self>, commit: Result<(), StoreError>) {
        let result = match (self.result, commit) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(_)), Err(e)) => Err(e),
            (Some(Ok(v)), Ok(())) => Ok(v),
            (None, Err(e)) => Err(e),
            (None, Ok(())) => Err(StoreError::Db("write job did not run".into())),
        };
        // The caller may have given up waiting; nothing to do then.
        let _ = self.reply.send(result);
    }
}

/// Handle to the writer thread. Dropping every handle ends the thread.
#[derive(Clone)]
pub(crate) struct Writer {
    tx: mpsc::UnboundedSender<Box<dyn Job>>,
}

impl Writer {
    pub(crate) fn spawn(conn: Connection) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("yibao-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx))
            .map_err(|e| StoreError::Unavailable(format!("cannot start writer thread: {e}")))?;
        Ok(Self { tx })
    }

    /// Runs `f` inside the next group transaction and returns its result after commit.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job = Box::new(TypedJob {
            f: Some(f),
            result: None,
            reply,
        });
        self.tx
            .send(job)
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?
    }
}

fn writer_loop(conn: Connection, mut rx: mpsc::UnboundedReceiver<Box<dyn Job>>) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let commit = run_batch(&conn, &mut batch);
        for job in batch {
            job.complete(commit.clone());
        }
    }
}

fn run_batch(conn: &Connection, batch: &mut [Box<dyn Job>]) -> Result<(), StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    for job in batch.iter_mut() {
        let step = conn
            .execute_batch("SAVEPOINT job")
            .map_err(StoreError::from);
        if let Err(e) = step {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
        let ok = job.run(conn);
        let end = if ok {
            "RELEASE job"
        } else {
            "ROLLBACK TO job; RELEASE job"
        };
        if let Err(e) = conn.execute_batch(end) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e.into());
        }
    }
    if let Err(e) = conn.execute_batch("COMMIT") {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(e.into());
    }
    Ok(())
}
