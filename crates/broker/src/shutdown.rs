//! Graceful shutdown, the mini-redis way: one `broadcast` channel tells every task to stop,
//! and every task that must finish first holds a clone of an `mpsc` sender; when the last
//! clone is dropped, the receiver learns that all of them are done.

use tokio::sync::broadcast;

/// Listens for the shutdown signal. Each task owns one.
#[derive(Debug)]
pub struct Shutdown {
    is_shutdown: bool,
    notify: broadcast::Receiver<()>,
}

impl Shutdown {
    pub fn new(notify: broadcast::Receiver<()>) -> Self {
        Self {
            is_shutdown: false,
            notify,
        }
    }

    pub fn is_shutdown(&self) -> bool {
        self.is_shutdown
    }

    /// Resolves once shutdown has been signalled (at once if it already was).
    pub async fn recv(&mut self) {
        if self.is_shutdown {
            return;
        }
        // Lagged or closed both mean "stop": the only message ever sent is the signal.
        let _ = self.notify.recv().await;
        self.is_shutdown = true;
    }
}

/// Resolves on Ctrl-C, or SIGTERM on Unix (what service managers send).
pub async fn signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => ctrl_c.await,
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}
