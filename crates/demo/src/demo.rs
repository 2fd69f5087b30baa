//! The demo (the product's main job on a fresh machine): start the simulator and the broker
//! in this process, talk to the broker through the real pipe with the shim's client, and
//! print what happened.
//!
//! Nothing is faked on the way: the broker listens on a real local socket, writes a real
//! SQLite file, and signs real HTTP requests to the simulator, which checks them.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use yibao_broker::config::{
    ApikeyConfig, CsbConfig, PlatformSection, ProfileConfig, SqliteSection, StoreSection,
    Synchronous, TifConfig,
};
use yibao_broker::Config;
use yibao_call::Client;
use yibao_core::secret::Secret;
use yibao_core::EnvelopeDefaults;
use yibao_mock::{ApikeyCredentials, CsbCredentials, MockConfig, MockServer, TifCredentials};
use yibao_proto::{CallMode, Outcome, Overrides, Request, Response};

const FIXMEDINS: &str = "H43010000001";
const CERTNO: &str = "430102199003071234";

/// One synchronous call's line in the summary.
struct Row {
    infno: &'static str,
    name: &'static str,
    outcome: Outcome,
    ms: f64,
}

/// Which signing profile the demo's broker and simulator speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoProfile {
    /// National gateway headers (x-tif-*).
    Tif,
    /// 国密: SM4-encrypted, SM2-signed messages both ways, with fresh demo keys.
    Sm,
    /// A province's CSB API gateway (_api_* headers, HMAC-SHA1).
    Csb,
    /// An intranet front-end processor that checks a key header.
    Apikey,
}

/// The broker's signing profile, the simulator checking the same, and the line that says so;
/// every secret fresh for this run.
fn gateway(
    profile: DemoProfile,
    dir: &Path,
) -> anyhow::Result<(ProfileConfig, MockConfig, &'static str)> {
    let secret = format!("demo-secret-{:08x}", rand::random::<u32>());
    let mut mock = MockConfig::default();
    let (signing, checks) = match profile {
        DemoProfile::Tif => {
            mock.tif = Some(TifCredentials {
                paasid: "yibao-demo".into(),
                token: secret.clone(),
            });
            let signing = ProfileConfig::Tif(TifConfig {
                paasid: "yibao-demo".into(),
                token: Secret::new(secret),
                service_id: None,
            });
            (signing, "tif 签名校验开启 / tif checks on")
        }
        DemoProfile::Sm => {
            let (signing, codec) = sm_keys(dir)?;
            mock.sm = Some(codec);
            (
                signing,
                "国密 SM2 验签 + SM4 加密 / SM2 signatures + SM4 encryption",
            )
        }
        DemoProfile::Csb => {
            mock.csb = Some(CsbCredentials {
                access_key: "yibao-demo-ak".into(),
                secret_key: secret.clone(),
            });
            let signing = ProfileConfig::Csb(CsbConfig {
                api_name: "hssServives".into(),
                api_version: "1.0.0".into(),
                access_key: "yibao-demo-ak".into(),
                secret_key: Secret::new(secret),
                nonce: true,
            });
            (
                signing,
                "CSB 网关 _api_* HMAC-SHA1 验签 / CSB gateway signature checks on",
            )
        }
        DemoProfile::Apikey => {
            mock.apikey = Some(ApikeyCredentials {
                header: "apikey".into(),
                key: secret.clone(),
            });
            let signing = ProfileConfig::Apikey(ApikeyConfig {
                header: "apikey".into(),
                key: Secret::new(secret),
            });
            (
                signing,
                "前置机密钥校验开启 / front-end processor key checks on",
            )
        }
    };
    Ok((signing, mock, checks))
}

pub async fn run(dir: &Path, async_calls: u32, profile: DemoProfile) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let db = dir.join("demo.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    // The last run's downloads and reconciliation files belong to the store just removed.
    let _ = std::fs::remove_dir_all(dir.join("files"));
    let (signing, gateway, checks) = gateway(profile, dir)?;
    let mock = MockServer::start(
        "127.0.0.1:0".parse()?,
        MockConfig {
            fixmedins_code: Some(FIXMEDINS.into()),
            ..gateway
        },
    )
    .await?;
    let pipe = format!("yibao-demo-{}", std::process::id());
    let config = demo_config(&pipe, &db, &mock.url(), signing)?;

    println!("yibao 演示 / demo");
    println!("  模拟平台 / simulator : {} ({checks})", mock.url());
    println!(
        "  管道 / pipe          : {}",
        yibao_proto::resolve_endpoint(&pipe)
    );
    println!("  数据库 / database    : {}", db.display());

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(yibao_broker::serve(config, async {
        let _ = stop_rx.await;
    }));
    let result = drive(pipe.clone(), async_calls).await;
    let _ = stop_tx.send(());
    server.await.context("broker task failed")??;
    let (rows, asyncs, status, jobs) = result?;

    print_summary(&rows, &asyncs, status);
    println!("\n批量任务 / batch jobs:");
    for j in &jobs {
        println!(
            "  {} {} {}",
            pad(&j.kind, 18),
            j.status,
            j.result.as_deref().or(j.err_msg.as_deref()).unwrap_or("")
        );
    }
    let stats = mock.stats();
    println!("\n模拟平台收到 / simulator received: {:?}", stats.by_infno);
    println!(
        "  被拒绝 / rejected: {}   重复 msgid / duplicate msgids: {}",
        stats.rejected, stats.duplicate_msgids
    );
    println!(
        "\n用 SQL 查看结果 / read the results with SQL:\n  sqlite3 {} \"SELECT request_id, interface_code, status, infcode, msgid FROM v_medical_insurance_result ORDER BY request_id DESC LIMIT 5\"",
        db.display()
    );
    println!(
        "  sqlite3 {} \"SELECT path, row_index, value FROM medical_insurance_response_fields WHERE request_id = (SELECT MAX(request_id) FROM medical_insurance_requests WHERE interface_code = '2207')\"",
        db.display()
    );
    let failed = rows
        .iter()
        .any(|r| r.outcome.status != yibao_proto::RequestStatus::Completed)
        || asyncs.completed != asyncs.total
        || jobs.iter().any(|j| j.status != "COMPLETED")
        || stats.rejected > 0
        || stats.duplicate_msgids > 0;
    if failed {
        bail!("演示未全部成功 / the demo did not complete cleanly (see above)");
    }
    println!("\n演示成功 / demo OK");
    Ok(())
}

/// Fresh key pairs for the institution and the simulated platform under `dir/keys`, the
/// broker's `sm` profile that uses them, and the simulator's codec.
fn sm_keys(dir: &Path) -> anyhow::Result<(ProfileConfig, std::sync::Arc<yibao_core::sm::SmCodec>)> {
    use yibao_core::sm::keys::{generate, to_pem};
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys)?;
    let (inst_sk, inst_pk) = generate()?;
    let (plat_sk, _) = generate()?;
    let (inst_private, _) = to_pem(&inst_sk)?;
    let (_, plat_public) = to_pem(&plat_sk)?;
    let inst_path = keys.join("institution.key.pem");
    let plat_path = keys.join("platform.pub.pem");
    std::fs::write(&inst_path, &inst_private)?;
    std::fs::write(&plat_path, &plat_public)?;
    let app_id = "YIBAODEMO0000000APPID";
    let app_secret = format!("demo-secret-{:08x}", rand::random::<u32>());
    let broker_side = yibao_core::sm::SmConfig::new(
        app_id,
        &app_secret,
        &format!("file:{}", inst_path.display()),
        &format!("file:{}", plat_path.display()),
    );
    let cfg = yibao_core::sm::SmConfig::new(app_id, &app_secret, "", "");
    let codec = yibao_core::sm::SmCodec::new(&cfg, &plat_sk, &inst_pk)?;
    Ok((
        ProfileConfig::Sm(Box::new(broker_side)),
        std::sync::Arc::new(codec),
    ))
}

/// The broker's config: the simulator at `url` signed with `signing`, SQLite at `db`.
fn demo_config(pipe: &str, db: &Path, url: &str, signing: ProfileConfig) -> anyhow::Result<Config> {
    let mut platform = PlatformSection::new(url, signing);
    platform.request_timeout_ms = 10_000;
    let store = StoreSection::Sqlite(SqliteSection {
        synchronous: Synchronous::Normal,
        ..SqliteSection::new(db)
    });
    let mut institution =
        EnvelopeDefaults::new(FIXMEDINS, "演示人民医院", "430100", "001", "演示收费员");
    institution.insuplc_admdvs = "430100".into();
    institution.mac = "00-11-22-33-44-55".into();
    institution.ip = "127.0.0.1".into();
    let mut config = Config::new(platform, store, institution);
    config.broker.pipe = pipe.to_string();
    config.broker.workers = 16;
    config.broker.shutdown_grace_ms = 10_000;
    config.files.dir = db.with_file_name("files");
    config.check()?;
    Ok(config)
}

struct AsyncResult {
    total: u32,
    completed: u32,
    accept_ms: Vec<f64>,
    all_done_ms: f64,
}

type Driven = (
    Vec<Row>,
    AsyncResult,
    Option<yibao_proto::StatusReport>,
    Vec<yibao_proto::JobOutcome>,
);

/// Runs the calls on a blocking thread: the shim's client is synchronous by design.
async fn drive(pipe: String, async_calls: u32) -> anyhow::Result<Driven> {
    tokio::task::spawn_blocking(move || drive_blocking(&pipe, async_calls)).await?
}

fn connect_when_ready(pipe: &str) -> anyhow::Result<Client> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Client::connect(pipe).and_then(|mut c| c.request(&Request::Ping {}).map(|_| c)) {
            Ok(c) => return Ok(c),
            Err(e) if Instant::now() > deadline => return Err(e.into()),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn drive_blocking(pipe: &str, async_calls: u32) -> anyhow::Result<Driven> {
    let mut c = connect_when_ready(pipe)?;
    let mut rows = Vec::new();
    let mut sync =
        |infno: &'static str, name: &'static str, input: Value| -> anyhow::Result<Value> {
            let started = Instant::now();
            let resp = c.request(&call(infno, input, CallMode::Sync))?;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            let Response::Outcome(outcome) = resp else {
                bail!("{infno}: unexpected answer {resp:?}");
            };
            let output = outcome
                .response
                .as_deref()
                .and_then(|r| serde_json::from_str::<Value>(r).ok())
                .map(|v| v["output"].clone())
                .unwrap_or(Value::Null);
            rows.push(Row {
                infno,
                name,
                outcome,
                ms,
            });
            Ok(output)
        };

    sync(
        "9001",
        "签到",
        json!({"signIn": {"opter_no": "001", "mac": "00-11-22-33-44-55", "ip": "127.0.0.1"}}),
    )?;
    let person = sync(
        "1101",
        "人员信息获取",
        json!({"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": CERTNO, "psn_cert_type": "01",
                        "certno": CERTNO, "psn_name": ""}}),
    )?;
    let psn_no = person["baseinfo"]["psn_no"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let reg = sync(
        "2201",
        "门诊挂号",
        json!({"data": {"psn_no": psn_no, "insutype": "310", "begntime": "2026-11-24 09:00:00",
                        "mdtrt_cert_type": "02", "mdtrt_cert_no": CERTNO, "ipt_otp_no": "MZ202611240001",
                        "atddr_no": "D001", "dr_name": "医生", "dept_code": "A01", "dept_name": "内科",
                        "caty": "A01"}}),
    )?;
    let mdtrt_id = reg["data"]["mdtrt_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let settle = json!({"data": {"psn_no": psn_no, "mdtrt_cert_type": "02", "mdtrt_cert_no": CERTNO,
        "med_type": "11", "medfee_sumamt": "128.50", "psn_setlway": "01", "mdtrt_id": mdtrt_id,
        "chrg_bchno": "CB202611240001", "insutype": "310", "acct_used_flag": "1"}});
    sync("2206", "门诊预结算", settle.clone())?;
    sync("2207", "门诊结算", settle)?;
    let jobs = batch_jobs(&mut c)?;

    // Async: hand over `async_calls` person queries, then wait for every one of them.
    let started = Instant::now();
    let mut ids = Vec::new();
    let mut accept_ms = Vec::new();
    for i in 0..async_calls {
        // A real-looking 身份证号 with a valid check digit: the catalog checks it.
        let body = format!("43010219800101{:03}", i % 1000);
        let check = yibao_core::catalog::certno_check_char(&body).unwrap_or('X');
        let cert = format!("{body}{check}");
        let t = Instant::now();
        let resp = c.request(&call(
            "1101",
            json!({"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": cert, "psn_cert_type": "01", "certno": cert}}),
            CallMode::Async,
        ))?;
        accept_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        match resp {
            Response::Accepted { request_id } => ids.push(request_id),
            other => bail!("async call refused: {other:?}"),
        }
    }
    let mut completed = 0;
    for id in ids {
        let resp = c.request(&Request::Wait {
            request_id: id,
            timeout_ms: 30_000,
        })?;
        if let Response::Outcome(o) = resp {
            if o.status == yibao_proto::RequestStatus::Completed {
                completed += 1;
            }
        }
    }
    let all_done_ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = match c.request(&Request::Status {})? {
        Response::Status(s) => Some(s),
        _ => None,
    };
    Ok((
        rows,
        AsyncResult {
            total: async_calls,
            completed,
            accept_ms,
            all_done_ms,
        },
        status,
        jobs,
    ))
}

/// Two batch jobs through the same pipe: a catalog download (1302 → 9102 → rows) and the
/// day's reconciliation (3201, then 9101 / 3202 / 9102).
fn batch_jobs(c: &mut Client) -> anyhow::Result<Vec<yibao_proto::JobOutcome>> {
    let today = yibao_core::time::now().format("%Y-%m-%d").to_string();
    let mut out = Vec::new();
    for (kind, params) in [
        ("catalog-download", json!({"catalog": "1302"})),
        ("reconcile", json!({"date": today})),
    ] {
        let resp = c.request(&Request::Job {
            kind: kind.into(),
            params: params.to_string(),
            wait_ms: 60_000,
        })?;
        let Response::Job(j) = resp else {
            bail!("{kind}: unexpected answer {resp:?}");
        };
        out.push(j);
    }
    Ok(out)
}

fn call(infno: &str, input: Value, mode: CallMode) -> Request {
    Request::Call {
        interface: infno.to_string(),
        input: input.to_string(),
        overrides: Overrides::default(),
        mode,
        wait_ms: Some(30_000),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Pads to a display width, counting CJK characters as two columns.
fn pad(s: &str, width: usize) -> String {
    let w: usize = s.chars().map(|c| if c >= '\u{1100}' { 2 } else { 1 }).sum();
    format!("{s}{}", " ".repeat(width.saturating_sub(w)))
}

fn print_summary(rows: &[Row], a: &AsyncResult, status: Option<yibao_proto::StatusReport>) {
    println!("\n同步调用（经管道）/ sync calls through the pipe:");
    println!(
        "  {}{}{:<10} {:>7} {:>9}  msgid",
        pad("交易", 7),
        pad("名称", 15),
        "状态",
        "infcode",
        "ms"
    );
    for r in rows {
        println!(
            "  {}{}{:<10} {:>7} {:>9.2}  {}",
            pad(r.infno, 7),
            pad(r.name, 15),
            r.outcome.status.as_str(),
            r.outcome.infcode.as_deref().unwrap_or("-"),
            r.ms,
            r.outcome.msgid.as_deref().unwrap_or("-"),
        );
        if let Some(e) = &r.outcome.err_msg {
            println!("         err_msg: {e}");
        }
    }
    let mut acc = a.accept_ms.clone();
    acc.sort_by(f64::total_cmp);
    println!(
        "\n异步调用 / async calls: {} 提交 submitted, {} 完成 completed, 全部完成用时 all done in {:.1} ms",
        a.total, a.completed, a.all_done_ms
    );
    println!(
        "  受理耗时 / accept latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&acc, 0.5),
        percentile(&acc, 0.99),
        acc.last().copied().unwrap_or(0.0)
    );
    if let Some(s) = status {
        let counts: Vec<String> = s
            .counts
            .iter()
            .map(|c| format!("{} {}", c.status, c.count))
            .collect();
        println!("\n库中状态 / rows by status: {}", counts.join(", "));
        println!(
            "  本次完成 / finished since start: {} ok, {} failed; 已签到经办人 / signed-in operators: {}",
            s.completed_since_start, s.failed_since_start, s.signed_in_operators
        );
    }
}
