//! `yibao-broker service install|uninstall|start|stop|run`: the broker as a Windows service,
//! so it starts with the server, restarts after a crash and stops gracefully when the
//! Service Control Manager (SCM) says so.
//!
//! `install` registers `yibao-broker.exe service run --name N --config <absolute path>`
//! (automatic start, restart on failure); the SCM later starts exactly that command line,
//! whose `run` hands the process to the service dispatcher. A stop request resolves the same
//! future Ctrl-C resolves in a console run, so draining in-flight calls works the same way.
//! Under the SCM there is no console: unless `[log] dir` says otherwise, logs go to daily
//! files in `logs\` beside the config.
//!
//! Everything that talks to the SCM is Windows-only; elsewhere the commands explain that
//! systemd is the way (`packaging/`).

use std::path::{Path, PathBuf};

/// The service name used when none is given.
pub const DEFAULT_NAME: &str = "yibao-broker";

/// Where logs go when the SCM runs the broker and `[log] dir` is unset: daily files
/// `yibao-broker.<date>.log` in `<config dir>\logs`.
pub fn service_log_dir(config: &Path) -> PathBuf {
    config
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join("logs")
}

/// How `service install` registers the service beyond its name and config.
#[derive(Debug, Clone, Default)]
pub struct Install {
    /// Account to run as (default LocalSystem) and its password.
    pub account: Option<String>,
    pub password: Option<String>,
    /// Services the SCM starts first, e.g. the local SQL Server (`MSSQLSERVER`).
    pub depends_on: Vec<String>,
}

/// The command line the SCM will run (after the executable).
pub fn launch_arguments(name: &str, config: &Path) -> Vec<String> {
    vec![
        "service".into(),
        "run".into(),
        "--name".into(),
        name.into(),
        "--config".into(),
        config.display().to_string(),
    ]
}

#[cfg(not(windows))]
mod imp {
    use std::path::Path;

    fn unsupported() -> anyhow::Result<()> {
        anyhow::bail!(
            "Windows 服务只能在 Windows 上安装；Linux 请用 systemd / Windows services exist only on Windows; on Linux use systemd"
        )
    }
    pub fn install(_: &str, _: &Path, _: &super::Install) -> anyhow::Result<()> {
        unsupported()
    }
    pub fn uninstall(_: &str) -> anyhow::Result<()> {
        unsupported()
    }
    pub fn start(_: &str) -> anyhow::Result<()> {
        unsupported()
    }
    pub fn stop(_: &str) -> anyhow::Result<()> {
        unsupported()
    }
    pub fn run(_: &str, _: &Path) -> anyhow::Result<()> {
        unsupported()
    }
}

#[cfg(windows)]
mod imp {
    use std::ffi::OsString;
    use std::path::{Path, PathBuf};
    use std::sync::{Mutex, OnceLock};
    use std::time::Duration;

    use anyhow::Context;
    use windows_service::service::{
        ServiceAccess, ServiceAction, ServiceActionType, ServiceControl, ServiceControlAccept,
        ServiceDependency, ServiceErrorControl, ServiceExitCode, ServiceFailureActions,
        ServiceFailureResetPeriod, ServiceInfo, ServiceStartType, ServiceState, ServiceStatus,
        ServiceType,
    };
    use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
    use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
    use windows_service::{define_windows_service, service_dispatcher};

    use crate::Config;

    const TYPE: ServiceType = ServiceType::OWN_PROCESS;

    /// What `run` learned from its command line, for the service main the SCM calls.
    static TARGET: OnceLock<(String, PathBuf)> = OnceLock::new();

    fn manager(access: ServiceManagerAccess) -> anyhow::Result<ServiceManager> {
        ServiceManager::local_computer(None::<&str>, access).context(
            "无法连接服务控制管理器（需要管理员权限）/ cannot open the Service Control Manager (run as administrator)",
        )
    }

    pub fn install(name: &str, config: &Path, how: &super::Install) -> anyhow::Result<()> {
        let config = std::path::absolute(config)?;
        Config::load(&config).context("the service's config")?;
        let m = manager(ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE)?;
        let info = ServiceInfo {
            name: OsString::from(name),
            display_name: OsString::from(format!("yibao 医保代理服务 ({name})")),
            service_type: TYPE,
            start_type: ServiceStartType::AutoStart,
            error_control: ServiceErrorControl::Normal,
            executable_path: std::env::current_exe()?,
            launch_arguments: super::launch_arguments(name, &config)
                .into_iter()
                .map(OsString::from)
                .collect(),
            dependencies: how
                .depends_on
                .iter()
                .map(|s| ServiceDependency::Service(OsString::from(s)))
                .collect(),
            account_name: how.account.as_deref().map(OsString::from),
            account_password: how.password.as_deref().map(OsString::from),
        };
        let svc = m
            .create_service(&info, ServiceAccess::CHANGE_CONFIG | ServiceAccess::START)
            .with_context(|| format!("cannot create service {name}"))?;
        svc.set_description("HIS 与国家医保信息平台之间的常驻代理 / the resident broker between the HIS and the 医保 platform")?;
        let restart = ServiceAction {
            action_type: ServiceActionType::Restart,
            delay: Duration::from_secs(5),
        };
        svc.update_failure_actions(ServiceFailureActions {
            reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(24 * 3600)),
            reboot_msg: None,
            command: None,
            actions: Some(vec![restart.clone(), restart.clone(), restart]),
        })?;
        // Restart also when the broker stops with an error code of its own (a store that
        // never came up, a config that stopped being valid), not only when it crashes.
        if let Err(e) = svc.set_failure_actions_on_non_crash_failures(true) {
            eprintln!(
                "警告：无法为非崩溃的失败设置重启 / warning: cannot enable restarts on non-crash failures: {e}"
            );
        }
        crate::eventlog::register(name)
            .context("无法注册事件日志源 / cannot register the Event Log source")?;
        Ok(())
    }

    pub fn uninstall(name: &str) -> anyhow::Result<()> {
        let m = manager(ServiceManagerAccess::CONNECT)?;
        let svc = m.open_service(
            name,
            ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE,
        )?;
        if svc.query_status()?.current_state != ServiceState::Stopped {
            let _ = svc.stop();
        }
        svc.delete()?;
        crate::eventlog::unregister(name)?;
        Ok(())
    }

    pub fn start(name: &str) -> anyhow::Result<()> {
        let m = manager(ServiceManagerAccess::CONNECT)?;
        let svc = m.open_service(name, ServiceAccess::START)?;
        svc.start::<&str>(&[])?;
        Ok(())
    }

    pub fn stop(name: &str) -> anyhow::Result<()> {
        let m = manager(ServiceManagerAccess::CONNECT)?;
        let svc = m.open_service(name, ServiceAccess::STOP | ServiceAccess::QUERY_STATUS)?;
        svc.stop()?;
        Ok(())
    }

    /// Called with the SCM's command line: hands the process to the service dispatcher.
    pub fn run(name: &str, config: &Path) -> anyhow::Result<()> {
        let _ = TARGET.set((name.to_string(), config.to_path_buf()));
        service_dispatcher::start(name, ffi_service_main).context(
            "service run 只能由服务控制管理器启动；在控制台请用 run / 'service run' is for the SCM; use 'run' in a console",
        )?;
        Ok(())
    }

    define_windows_service!(ffi_service_main, service_main);

    fn service_main(_arguments: Vec<OsString>) {
        if let Err(e) = run_service() {
            // Also when the config was refused: no log file exists then, the Event Log does.
            tracing::error!("service failed: {e:#}");
            crate::eventlog::fatal(&e);
        }
    }

    fn status(
        state: ServiceState,
        accept: ServiceControlAccept,
        code: u32,
        wait: Duration,
    ) -> ServiceStatus {
        ServiceStatus {
            service_type: TYPE,
            current_state: state,
            controls_accepted: accept,
            exit_code: if code == 0 {
                ServiceExitCode::Win32(0)
            } else {
                ServiceExitCode::ServiceSpecific(code)
            },
            checkpoint: 0,
            wait_hint: wait,
            process_id: None,
        }
    }

    fn run_service() -> anyhow::Result<()> {
        let (name, config_path) = TARGET
            .get()
            .cloned()
            .context("service started without its command line")?;
        crate::eventlog::set_source(&name);

        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let stop_tx = Mutex::new(Some(stop_tx));
        let handler = move |event| match event {
            ServiceControl::Stop | ServiceControl::Shutdown => {
                if let Some(tx) = stop_tx.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    let _ = tx.send(());
                }
                ServiceControlHandlerResult::NoError
            }
            ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
            _ => ServiceControlHandlerResult::NotImplemented,
        };
        let handle = service_control_handler::register(&name, handler)?;
        let accept = ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN;

        // The handler is registered before the config is read, so a refused config ends
        // as a service that stopped with an error the SCM shows (and its recovery acts
        // on), not one that never answered.
        let outcome = (move || -> anyhow::Result<()> {
            let cfg = Config::load(&config_path)?;
            crate::logging::init(&cfg.log, Some(&super::service_log_dir(&config_path)))?;
            let grace =
                Duration::from_millis(cfg.broker.shutdown_grace_ms) + Duration::from_secs(5);
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            handle.set_service_status(status(ServiceState::Running, accept, 0, Duration::ZERO))?;
            tracing::info!(service = %name, config = %config_path.display(), "running as a Windows service");
            rt.block_on(crate::serve(cfg, async move {
                let _ = stop_rx.await;
                tracing::info!("stop requested by the Service Control Manager");
                let _ = handle.set_service_status(status(
                    ServiceState::StopPending,
                    ServiceControlAccept::empty(),
                    0,
                    grace,
                ));
            }))
        })();
        if let Err(e) = &outcome {
            tracing::error!("broker stopped with an error: {e:#}");
        }
        handle.set_service_status(status(
            ServiceState::Stopped,
            ServiceControlAccept::empty(),
            u32::from(outcome.is_err()),
            Duration::ZERO,
        ))?;
        outcome
    }
}

pub use imp::{install, run, start, stop, uninstall};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scm_command_line_names_the_config_and_the_log_sits_beside_it() {
        let config = Path::new("C:/yibao/yibao.toml");
        assert_eq!(
            launch_arguments("yibao-broker", config),
            [
                "service",
                "run",
                "--name",
                "yibao-broker",
                "--config",
                "C:/yibao/yibao.toml"
            ]
        );
        assert_eq!(service_log_dir(config), Path::new("C:/yibao/logs"));
        #[cfg(not(windows))]
        assert!(install("x", config, &Install::default())
            .unwrap_err()
            .to_string()
            .contains("systemd"));
    }
}
