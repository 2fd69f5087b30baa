//! `yibao-mock`: the 医保 platform simulator as a program.
//!
//! Prints `yibao-mock listening on <url>` as its first line (tests read the port from it).

use std::io::Write;
use std::net::SocketAddr;

use clap::Parser;
use yibao_mock::{ApikeyCredentials, CsbCredentials, MockConfig, MockServer, TifCredentials};

/// 医保平台模拟器 / Simulator of the national medical-insurance platform.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// 监听地址 / address to listen on (port 0 = any free port)
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// 要求 tif 网关头的 paasid / require x-tif-* headers with this paasid
    #[arg(long, requires = "tif_token")]
    tif_paasid: Option<String>,
    /// tif 网关密钥；也可用环境变量 YIBAO_MOCK_TIF_TOKEN / tif token (or env YIBAO_MOCK_TIF_TOKEN)
    #[arg(long, env = "YIBAO_MOCK_TIF_TOKEN", hide_env_values = true)]
    tif_token: Option<String>,
    /// 要求 CSB 网关头（_api_*）的 accessKey / require CSB _api_* headers signed for this access key
    #[arg(long, requires = "csb_secret_key")]
    csb_access_key: Option<String>,
    /// CSB 网关的 secretKey；也可用环境变量 YIBAO_MOCK_CSB_SECRET / CSB secret key (or env YIBAO_MOCK_CSB_SECRET)
    #[arg(long, env = "YIBAO_MOCK_CSB_SECRET", hide_env_values = true)]
    csb_secret_key: Option<String>,
    /// 要求前置机密钥请求头的名称 / require this key header (apikey profile)
    #[arg(long, requires = "apikey")]
    apikey_header: Option<String>,
    /// 前置机密钥；也可用环境变量 YIBAO_MOCK_APIKEY / the key (or env YIBAO_MOCK_APIKEY)
    #[arg(long, env = "YIBAO_MOCK_APIKEY", hide_env_values = true)]
    apikey: Option<String>,
    /// 只接受该定点机构编号 / accept only this fixmedins_code
    #[arg(long)]
    fixmedins_code: Option<String>,
    /// 国密：应用 ID（启用 sm 模式需同时给出四项）/ sm profile: appId (all four sm options enable it)
    #[arg(long, requires_all = ["sm_app_secret", "sm_private_key", "sm_institution_public_key"])]
    sm_app_id: Option<String>,
    /// 国密：appSecret（env:/file:/值）/ sm profile: appSecret (env:, file: or the value)
    #[arg(long)]
    sm_app_secret: Option<String>,
    /// 国密：平台私钥 / sm profile: the platform's private key (file:PATH, env:NAME or inline)
    #[arg(long)]
    sm_private_key: Option<String>,
    /// 国密：机构公钥 / sm profile: the institution's public key (file:PATH, env:NAME or inline)
    #[arg(long)]
    sm_institution_public_key: Option<String>,
    /// 故障注入配置（JSON 数组）/ faults to inject: a JSON array of faults (see docs)
    #[arg(long)]
    faults: Option<std::path::PathBuf>,
    /// 站点接口目录（叠加在内置目录上）/ a site catalog laid over the shipped one
    #[arg(long)]
    catalog: Option<std::path::PathBuf>,
    /// 生成目录的行数与版本数，如 1301=12000,1302=500:3（默认 1301 为 12000 行，其余 500 行，各 5 个版本）
    /// / rows (and :versions) of the generated catalog downloads; default 1301=12000, others 500, 5 versions each
    #[arg(long, value_parser = yibao_mock::parse_sizes)]
    catalog_rows: Option<std::collections::BTreeMap<String, yibao_mock::CatalogSize>>,
    /// 结算 cainfo 的加密方式：as_given、sm4、sm2（2207、2304、2102 的 cainfo 解密失败即拒绝）
    /// / how settlements' cainfo is encrypted (one that does not decrypt is refused)
    #[arg(long)]
    cainfo_mode: Option<yibao_core::cainfo::CainfoMode>,
    /// cainfo 解密密钥：sm4 为同一密钥（32 位十六进制），sm2 为平台私钥（env:/file:/值）
    /// / the key that decrypts it: sm4 the same key (32 hex digits), sm2 the platform's private key
    #[arg(long, requires = "cainfo_mode")]
    cainfo_key: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let tif = match (args.tif_paasid, args.tif_token) {
        (Some(paasid), Some(token)) => Some(TifCredentials { paasid, token }),
        _ => None,
    };
    let csb = match (args.csb_access_key, args.csb_secret_key) {
        (Some(access_key), Some(secret_key)) => Some(CsbCredentials {
            access_key,
            secret_key,
        }),
        _ => None,
    };
    let apikey = match (args.apikey_header, args.apikey) {
        (Some(header), Some(key)) => Some(ApikeyCredentials { header, key }),
        _ => None,
    };
    let sm = match (
        args.sm_app_id,
        args.sm_app_secret,
        args.sm_private_key,
        args.sm_institution_public_key,
    ) {
        (Some(id), Some(secret), Some(private), Some(public)) => {
            let cfg = yibao_core::sm::SmConfig::new(&id, &secret, &private, &public);
            Some(std::sync::Arc::new(yibao_core::sm::SmCodec::from_config(
                &cfg,
            )?))
        }
        _ => None,
    };
    let cainfo = match args.cainfo_mode {
        Some(mode) => {
            let key = args.cainfo_key.map(yibao_core::secret::Secret::from);
            let opener = yibao_core::cainfo::CainfoOpener::new(mode, key.as_ref())?;
            Some(std::sync::Arc::new(opener))
        }
        None => None,
    };
    let server = MockServer::start(
        args.listen,
        MockConfig {
            tif,
            csb,
            apikey,
            fixmedins_code: args.fixmedins_code,
            sm,
            catalog: std::sync::Arc::new(yibao_core::Catalog::load(&site_catalog(args.catalog))?),
            catalog_sizes: args.catalog_rows.unwrap_or_default(),
            cainfo,
        },
    )
    .await?;
    if let Some(path) = &args.faults {
        let text = std::fs::read_to_string(path)?;
        let list: Vec<yibao_mock::Fault> = serde_json::from_str(&text)?;
        for f in list {
            server.add_fault(f);
        }
    }
    let mut out = std::io::stdout();
    writeln!(out, "yibao-mock listening on {}", server.url())?;
    out.flush()?;
    tokio::select! {
        _ = server_wait(server) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

/// `--catalog FILE` as the catalog's one overlay, named `site` like a hospital's own file.
fn site_catalog(file: Option<std::path::PathBuf>) -> Vec<yibao_core::catalog::Overlay> {
    file.map(|f| yibao_core::catalog::Overlay::new("site", f))
        .into_iter()
        .collect()
}

async fn server_wait(server: MockServer) {
    server.wait().await
}
