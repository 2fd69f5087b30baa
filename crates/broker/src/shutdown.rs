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

/// Resolves on Ctrl-C, or SIGTERM on Unix (what service managers send). On Unix, SIGHUP
/// (a closed terminal, `systemctl reload`), SIGUSR1 and SIGUSR2 are logged and ignored:
/// their default action would end the broker at once, without draining in-flight calls.
pub async fn signal() {
    #[cfg(unix)]
    ignore_stray_signals();
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

/// Takes over SIGHUP, SIGUSR1 and SIGUSR2 for the life of the process, logging each one.
#[cfg(unix)]
fn ignore_stray_signals() {
    use tokio::signal::unix::{signal, SignalKind};
    for (kind, name) in [
        (SignalKind::hangup(), "SIGHUP"),
        (SignalKind::user_defined1(), "SIGUSR1"),
        (SignalKind::user_defined2(), "SIGUSR2"),
    ] {
        match signal(kind) {
            Ok(mut stream) => {
                tokio::spawn(async move {
                    while stream.recv().await.is_some() {
                        tracing::info!(
                            "收到 {name}，已忽略（停止请用 SIGTERM）/ {name} ignored (SIGTERM stops the broker)"
                        );
                    }
                });
            }
            Err(e) => tracing::warn!("cannot take over {name}: {e}"),
        }
    }
}
