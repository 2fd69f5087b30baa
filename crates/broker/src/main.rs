//! `yibao-broker run --config yibao.toml` — the resident service.
//! `yibao-broker demo` — simulator + broker + sample calls, with a printed summary.
//! `yibao-broker check-config --config yibao.toml` — validate a config file and exit.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use yibao_broker::{demo, shutdown, Config};

#[derive(Parser)]
#[command(
    name = "yibao-broker",
    version,
    about = "医保代理服务 / the yibao broker"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// 运行代理服务 / run the broker until Ctrl-C or SIGTERM.
    Run {
        #[arg(long, short, env = "YIBAO_CONFIG")]
        config: PathBuf,
    },
    /// 演示：启动模拟平台与代理，执行示例调用并打印汇总 / demo with a printed summary.
    Demo {
        /// 数据目录（默认 ./var/demo）/ where the demo's SQLite file goes.
        #[arg(long, default_value = "var/demo")]
        dir: PathBuf,
        /// 异步调用数量 / number of async calls.
        #[arg(long, default_value_t = 100)]
        async_calls: u32,
    },
    /// 检查配置文件 / validate a config file.
    CheckConfig {
        #[arg(long, short, env = "YIBAO_CONFIG")]
        config: PathBuf,
    },
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("YIBAO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only on a terminal: log files and service logs must stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match cli.command {
        Cmd::Run { config } => {
            init_logging("info");
            let cfg = Config::load(&config)?;
            rt.block_on(yibao_broker::serve(cfg, shutdown::signal()))
        }
        Cmd::Demo { dir, async_calls } => {
            init_logging("warn");
            rt.block_on(demo::run(&dir, async_calls))
        }
        Cmd::CheckConfig { config } => {
            let cfg = Config::load(&config)?;
            cfg.profile()?;
            println!(
                "配置有效 / config OK: pipe={} store={} platform={} ({})",
                yibao_proto::resolve_endpoint(&cfg.broker.pipe),
                cfg.store.path.display(),
                cfg.platform.url,
                cfg.platform.profile
            );
            Ok(())
        }
    }
}
