//! `yibao-demo` — the simulator and the broker in one process, sample calls through the real
//! pipe, and a printed summary. Its own binary, so the service (`yibao-broker`) links
//! neither the simulator nor the shim.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

mod demo;

/// 演示：启动模拟平台与代理，执行示例调用并打印汇总 / demo with a printed summary.
#[derive(Parser)]
#[command(
    name = "yibao-demo",
    version,
    about = "医保代理演示 / the yibao demo: simulator + broker + sample calls"
)]
struct Cli {
    /// 数据目录（默认 ./var/demo）/ where the demo's SQLite file goes.
    #[arg(long, default_value = "var/demo")]
    dir: PathBuf,
    /// 异步调用数量 / number of async calls.
    #[arg(long, default_value_t = 100)]
    async_calls: u32,
    /// 签名方式 / signing profile the broker and simulator speak
    #[arg(long, value_enum, default_value = "tif")]
    profile: demo::DemoProfile,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let quiet = yibao_broker::logging::LogSection {
        level: "warn".into(),
        ..Default::default()
    };
    yibao_broker::logging::init(&quiet, None)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(demo::run(&cli.dir, cli.async_calls, cli.profile))
}
