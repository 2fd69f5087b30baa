//! The pipe listener: binds the local socket (a named pipe on Windows, a socket file on
//! Unix) and accepts connections, at most `max_connections` at a time — a runaway client
//! loop must not exhaust the broker's memory or handles.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use interprocess::local_socket::tokio::{prelude::*, Listener};
use interprocess::local_socket::{GenericFilePath, ListenerOptions};
use tokio::sync::{broadcast, Semaphore};

use crate::connection;
use crate::front::Front;
use crate::shutdown::Shutdown;

/// Binds the configured pipe. Refuses to start when another broker already answers on it
/// (Windows would otherwise let a second server share the name and split the clients);
/// removes a stale socket file left by a crashed broker (Unix); applies the pipe's
/// security: mode 0660 on Unix, the descriptor from [`crate::pipe_security`] on Windows.
pub fn bind(cfg: &crate::config::BrokerSection) -> io::Result<Listener> {
    let endpoint = yibao_proto::resolve_endpoint(&cfg.pipe);
    refuse_if_in_use(&endpoint)?;
    #[cfg(unix)]
    if std::path::Path::new(&endpoint).exists() {
        std::fs::remove_file(&endpoint)?;
    }
    let name = endpoint.as_str().to_fs_name::<GenericFilePath>()?;
    let opts = ListenerOptions::new().name(name);
    #[cfg(unix)]
    let opts = {
        // Owner and group only: the pipe is a door into the hospital's insurance account.
        use interprocess::os::unix::local_socket::ListenerOptionsExt;
        opts.mode(0o660)
    };
    #[cfg(windows)]
    let opts = {
        use crate::pipe_security::{sddl_for, windows};
        use interprocess::os::windows::local_socket::ListenerOptionsExt;
        let sddl = sddl_for(
            cfg.pipe_sddl.as_deref(),
            &cfg.pipe_allow,
            windows::resolve_account,
        )
        .map_err(|m| io::Error::new(io::ErrorKind::InvalidInput, m))?;
        tracing::info!(%sddl, "pipe security descriptor");
        opts.security_descriptor(windows::descriptor(&sddl)?)
    };
    let listener = opts.create_tokio().map_err(|e| {
        let why = if e.kind() == io::ErrorKind::PermissionDenied {
            " — 可能另一个 yibao-broker 正在使用该管道名 / another broker may hold this pipe name"
        } else {
            ""
        };
        io::Error::new(
            e.kind(),
            format!("无法监听管道 / cannot listen on {endpoint}: {e}{why}"),
        )
    })?;
    #[cfg(unix)]
    {
        // The mode given to the listener above still passes through the process's umask
        // (0640 or 0600 seen under a service manager's umask), which locks out the group
        // the HIS runs in; set it explicitly on the socket file.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&endpoint, std::fs::Permissions::from_mode(0o660)).map_err(
            |e| {
                io::Error::new(
                    e.kind(),
                    format!("无法设置管道权限 / cannot set mode 0660 on {endpoint}: {e}"),
                )
            },
        )?;
    }
    Ok(listener)
}

/// Fails when a server already answers on `endpoint`.
fn refuse_if_in_use(endpoint: &str) -> io::Result<()> {
    use interprocess::local_socket::traits::Stream as _;
    use interprocess::local_socket::Stream;
    #[cfg(unix)]
    if !std::path::Path::new(endpoint).exists() {
        return Ok(());
    }
    let name = endpoint.to_fs_name::<GenericFilePath>()?;
    match Stream::connect(name) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("另一个 yibao-broker 已在 {endpoint} 上运行 / another broker is already listening on {endpoint}"),
        )),
        Err(_) => Ok(()),
    }
}

/// Accepts connections until shutdown. Errors from `accept` are logged and retried with a
/// pause: a transient handle shortage must not stop the broker. `limit` holds one permit
/// per open connection, so shutdown can wait for the answers still being written. A
/// connection over the limit is not left waiting in the OS's backlog (where a caller would
/// hang until its own timeout): it is answered `Busy` at once and closed.
pub async fn run(
    listener: Listener,
    broker: Arc<Front>,
    limit: Arc<Semaphore>,
    limits: connection::Limits,
    notify_shutdown: broadcast::Sender<()>,
) {
    let max = limit.available_permits();
    loop {
        let stream = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            if limit.is_closed() {
                return;
            }
            tokio::spawn(connection::refuse_busy(stream, max));
            continue;
        };
        let broker = broker.clone();
        let limits = limits.clone();
        let shutdown = Shutdown::new(notify_shutdown.subscribe());
        tokio::spawn(async move {
            connection::serve(stream, broker, limits, shutdown).await;
            drop(permit);
        });
    }
}
