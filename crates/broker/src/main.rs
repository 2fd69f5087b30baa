//! `yibao-broker run --config yibao.toml` — the resident service.
//! `yibao-broker check-config --config yibao.toml` — validate a config file and exit.
//! `yibao-broker keys generate|check` — 国密 key chores.
//! `yibao-broker service install|uninstall|start|stop|run` — the Windows service.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use yibao_broker::{shutdown, Config};

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
    /// The demo moved to its own binary (`yibao-demo`); this only says so.
    #[command(hide = true)]
    Demo {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// 检查配置文件 / validate a config file.
    CheckConfig {
        #[arg(long, short, env = "YIBAO_CONFIG")]
        config: PathBuf,
        /// 用配置的经办人真实签到一次（9001）/ also sign in once (9001) as the configured operator.
        #[arg(long)]
        sign_in: bool,
    },
    /// 国密密钥：生成测试密钥、检查配置的密钥 / SM2 keys: generate, check the configured pair.
    Keys {
        #[command(subcommand)]
        command: KeysCmd,
    },
    /// Windows 服务 / the Windows service (install, uninstall, start, stop; run = for the SCM).
    Service {
        #[command(subcommand)]
        command: ServiceCmd,
    },
}

#[derive(Subcommand)]
enum ServiceCmd {
    /// 安装为自动启动的服务（需管理员）/ register as an automatic service (administrator).
    Install {
        #[arg(long, short, env = "YIBAO_CONFIG")]
        config: PathBuf,
        #[arg(long, default_value = yibao_broker::winservice::DEFAULT_NAME)]
        name: String,
        /// 运行账户（默认 LocalSystem）/ account to run as (default LocalSystem)
        #[arg(long)]
        account: Option<String>,
        /// 该账户的密码；也可用环境变量 / the account's password (or env YIBAO_SERVICE_PASSWORD)
        #[arg(long, env = "YIBAO_SERVICE_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// 依赖的服务，如本机 SQL Server（MSSQLSERVER 或 MSSQL$实例名），可重复 /
        /// a service to start first, e.g. the local SQL Server (MSSQLSERVER or MSSQL$INSTANCE); repeatable
        #[arg(long = "depends-on")]
        depends_on: Vec<String>,
    },
    /// 停止并删除服务 / stop and remove the service.
    Uninstall {
        #[arg(long, default_value = yibao_broker::winservice::DEFAULT_NAME)]
        name: String,
    },
    /// 启动服务 / start the service.
    Start {
        #[arg(long, default_value = yibao_broker::winservice::DEFAULT_NAME)]
        name: String,
    },
    /// 停止服务（处理中的请求按 shutdown_grace_ms 完成）/ stop the service (in-flight calls drain).
    Stop {
        #[arg(long, default_value = yibao_broker::winservice::DEFAULT_NAME)]
        name: String,
    },
    /// 由服务控制管理器调用 / what the Service Control Manager runs.
    Run {
        #[arg(long, short, env = "YIBAO_CONFIG")]
        config: PathBuf,
        #[arg(long, default_value = yibao_broker::winservice::DEFAULT_NAME)]
        name: String,
    },
}

#[derive(Subcommand)]
enum KeysCmd {
    /// 生成 SM2 密钥对（PEM）/ write a new SM2 key pair as PEM files.
    Generate {
        /// 输出目录 / directory for the files
        #[arg(long, default_value = "keys")]
        out: PathBuf,
        /// 文件名前缀 / file name prefix (<name>.key.pem, <name>.pub.pem)
        #[arg(long, default_value = "institution")]
        name: String,
    },
    /// 用配置的密钥签名并验签 / sign and verify with the configured pair.
    Check {
        #[arg(long, short, env = "YIBAO_CONFIG")]
        config: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match cli.command {
        Cmd::Run { config } => {
            let outcome = run(&rt, &config);
            if let Err(e) = &outcome {
                yibao_broker::eventlog::fatal(e);
            }
            outcome
        }
        Cmd::Demo { .. } => {
            eprintln!(
                "演示已移至 yibao-demo / the demo is its own program now: cargo run --release -p yibao-demo -- [--profile tif|sm] [--dir DIR]"
            );
            std::process::exit(2)
        }
        Cmd::CheckConfig { config, sign_in } => check_config(&rt, &config, sign_in),
        Cmd::Service { command } => service(command),
        Cmd::Keys {
            command: KeysCmd::Generate { out, name },
        } => {
            let (private, public) = yibao_broker::keys::generate(&out, &name)?;
            println!("私钥 / private key: {}", private.display());
            println!("公钥 / public key:  {}", public.display());
            Ok(())
        }
        Cmd::Keys {
            command: KeysCmd::Check { config },
        } => keys_check(&config),
    }
}

/// `run` in a console (or under systemd).
fn run(rt: &tokio::runtime::Runtime, config: &std::path::Path) -> anyhow::Result<()> {
    let cfg = Config::load(config)?;
    yibao_broker::logging::init(&cfg.log, None)?;
    if let Some(dir) = &cfg.log.dir {
        // Whoever started it in a console sees where to look; the rest goes there.
        eprintln!(
            "yibao-broker 已启动，日志写入 / started, logging to {}",
            dir.display()
        );
    }
    rt.block_on(yibao_broker::serve(cfg, shutdown::signal()))
}

/// `check-config`: read the file, open the store as `run` would, load the catalog and try
/// the platform's port (with `--sign-in`, a real 9001), so one command tells an operator
/// what `run` would trip over.
fn check_config(
    rt: &tokio::runtime::Runtime,
    config: &std::path::Path,
    sign_in: bool,
) -> anyhow::Result<()> {
    let cfg = Config::load(config)?;
    cfg.profile()?;
    cfg.cainfo()?;
    // Open the store as `run` would: for SQL Server this logs in and checks that
    // sql/install.sql has been run, and the error says which of those failed.
    let store = rt
        .block_on(yibao_broker::open_store(&cfg))
        .with_context(|| format!("store {}", cfg.store.describe()))?;
    let reach = rt.block_on(platform_reachable(&cfg));
    let catalog = cfg.catalog()?;
    println!(
        "配置有效 / config OK: pipe={} store={} platform={} ({})",
        yibao_proto::resolve_endpoint(&cfg.broker.pipe),
        store.describe(),
        cfg.platform.url,
        cfg.platform.profile
    );
    println!(
        "接口目录 / catalog: version {} · {} interfaces · validation = {}{}",
        catalog.version(),
        catalog.codes().len(),
        cfg.catalog.validation.as_str(),
        cfg.catalog
            .file
            .as_ref()
            .map(|f| format!(" · site file {}", f.display()))
            .unwrap_or_default()
    );
    if let Some(line) = site_pack_line(&cfg, &catalog) {
        println!("{line}");
    }
    match reach {
        Ok(addr) => {
            println!("平台可连接 / platform reachable: {addr}");
            if sign_in {
                check_sign_in(rt, &cfg, store)?;
            }
            Ok(())
        }
        Err(why) => anyhow::bail!(
            "平台不可连接 / platform not reachable: {why}\n\
             请检查 platform.url、网络、防火墙或前置机是否启动 / check platform.url, the network, firewalls, or whether the front-end processor is running"
        ),
    }
}

/// Which site pack `check-config` loaded: its name, the profile in effect and how many
/// interfaces its `catalog.toml` changes or adds.
fn site_pack_line(cfg: &Config, catalog: &yibao_core::Catalog) -> Option<String> {
    let site = cfg.site.as_ref()?;
    let label = format!("site:{}", site.name());
    let entries = catalog
        .overlaid()
        .iter()
        .find(|o| o.label == label)
        .map_or(0, |o| o.entries);
    Some(format!(
        "站点包 / site pack: {} · profile = {} · 目录补充 {entries} 个接口 / catalog.toml changes \
         {entries} interface(s) · {}",
        site.name(),
        cfg.platform.profile,
        site.dir.display()
    ))
}

/// `check-config --sign-in`: one real 9001 as the configured operator; the platform's answer.
fn check_sign_in(
    rt: &tokio::runtime::Runtime,
    cfg: &Config,
    store: std::sync::Arc<dyn yibao_store::Store>,
) -> anyhow::Result<()> {
    use yibao_broker::signin;
    let operator = yibao_core::privacy::mask_operator(&cfg.institution.opter);
    match rt.block_on(signin::check_sign_in(cfg, store))? {
        Ok(sign_no) => {
            println!(
                "签到成功 / sign-in OK: operator {operator}, sign_no {}",
                signin::shorten_sign_no(&sign_no)
            );
            Ok(())
        }
        Err(why) => anyhow::bail!(
            "签到失败 / sign-in failed (operator {operator}): {why}\n\
             请检查 [platform] 的令牌或密钥、[institution] 的 ip、mac、opter / check the token or keys in [platform], and ip, mac, opter in [institution]"
        ),
    }
}

/// `service …`: the Windows service chores (each says what it did).
fn service(command: ServiceCmd) -> anyhow::Result<()> {
    use yibao_broker::winservice;
    match command {
        ServiceCmd::Install {
            config,
            name,
            account,
            password,
            depends_on,
        } => {
            let how = winservice::Install {
                account,
                password,
                depends_on,
            };
            winservice::install(&name, &config, &how)?;
            println!(
                "服务已安装 / service {name} installed (automatic start, restarts on failure)"
            );
        }
        ServiceCmd::Uninstall { name } => {
            winservice::uninstall(&name)?;
            println!("服务已删除 / service {name} removed");
        }
        ServiceCmd::Start { name } => {
            winservice::start(&name)?;
            println!("服务已启动 / service {name} started");
        }
        ServiceCmd::Stop { name } => {
            winservice::stop(&name)?;
            println!("已请求停止 / stop requested for {name}");
        }
        ServiceCmd::Run { config, name } => winservice::run(&name, &config)?,
    }
    Ok(())
}

/// `keys check`: sign and verify with the configured pair, print what to give the platform.
fn keys_check(config: &std::path::Path) -> anyhow::Result<()> {
    let cfg = Config::load(config)?;
    let r = yibao_broker::keys::check(&cfg)?;
    println!("密钥可用 / keys OK: signed and verified with the configured pair");
    println!(
        "本机构公钥 / institution public key (hex):    {}",
        r.institution_public_key_hex
    );
    println!(
        "本机构公钥 / institution public key (base64): {}",
        r.institution_public_key_base64
    );
    println!(
        "本机构公钥指纹 / institution key fingerprint (SM3): {}",
        r.institution_fingerprint
    );
    println!(
        "平台公钥指纹 / platform key fingerprint (SM3):     {}",
        r.platform_fingerprint
    );
    Ok(())
}

/// Opens a TCP connection to the platform's host and port within the connect timeout.
async fn platform_reachable(cfg: &Config) -> Result<String, String> {
    let addr = cfg
        .platform_address()
        .ok_or_else(|| format!("cannot read host and port from {}", cfg.platform.url))?;
    let timeout = std::time::Duration::from_millis(cfg.platform.connect_timeout_ms);
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&addr)).await {
        Ok(Ok(_)) => Ok(addr),
        Ok(Err(e)) => Err(format!("{addr}: {e}")),
        Err(_) => Err(format!(
            "{addr}: no answer within {} ms",
            timeout.as_millis()
        )),
    }
}
