//! Per-call cost of the 国密 `sm` profile on the broker's side: seal a 2 KiB request (SM2
//! sign + SM4 encrypt) and open a 2 KiB reply (SM4 decrypt + SM2 verify), plus the parts.
//!
//! Run: `cargo bench -p yibao-core --bench sm_crypto` (add `-- --quick` for a smoke run).
//! Target (issue 4): seal + open ≤ 0.4 ms per call on the 2-core reference machine.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use yibao_core::sm::crypto::{CipherOrder, SignatureLayout, Sm2Signer, Sm4Cipher, Sm4Mode};
use yibao_core::sm::keys::generate;
use yibao_core::sm::{SmCodec, SmConfig, SmProfile};
use yibao_core::{Profile, RequestEnvelope};

/// A 1101-like envelope padded to about 2 KiB of JSON, with Chinese text like real input.
fn envelope_2k() -> Value {
    let mut data = Map::new();
    data.insert("psn_name".into(), "张三".into());
    data.insert("certno".into(), "430102199003071234".into());
    let mut i = 0;
    while Value::Object(data.clone()).to_string().len() < 1800 {
        data.insert(
            format!("field_{i:03}"),
            format!("值{i}-abcdefghijklmnop").into(),
        );
        i += 1;
    }
    json!({"infno": "2207", "msgid": "H43010000001202611241030000001", "inf_time": "2026-11-24 10:30:00",
           "fixmedins_code": "H43010000001", "sign_no": "SN1", "input": {"data": data}})
}

/// The same envelope as the broker hands it to the profile.
fn request_2k(envelope: &Value) -> RequestEnvelope {
    let mut full = json!({
        "mdtrtarea_admvs": "430100", "insuplc_admdvs": "430100", "recer_sys_code": "YBXT",
        "dev_no": "", "dev_safe_info": "", "cainfo": "", "signtype": "", "infver": "V1.0",
        "opter_type": "1", "opter": "001", "opter_name": "张医生", "fixmedins_name": "示例医院",
    });
    for (k, v) in envelope.as_object().expect("an object") {
        full[k] = v.clone();
    }
    serde_json::from_value(full).expect("a complete envelope")
}

struct Stat {
    name: &'static str,
    median: Duration,
    p95: Duration,
    min: Duration,
}

fn measure(name: &'static str, iters: usize, mut f: impl FnMut()) -> Stat {
    for _ in 0..iters / 10 + 1 {
        f();
    }
    let mut samples: Vec<Duration> = (0..iters)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    samples.sort();
    Stat {
        name,
        median: samples[samples.len() / 2],
        p95: samples[samples.len() * 95 / 100],
        min: samples[0],
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let iters = if quick { 50 } else { 2000 };
    let (inst_sk, inst_pk) = generate().unwrap();
    let (plat_sk, plat_pk) = generate().unwrap();
    let cfg = SmConfig::new("BENCHAPPID0000000001", "bench-secret", "", "");
    let broker = SmProfile::new(SmCodec::new(&cfg, &inst_sk, &plat_pk).unwrap());
    let platform = SmCodec::new(&cfg, &plat_sk, &inst_pk).unwrap();

    let envelope = envelope_2k();
    let request = request_2k(&envelope);
    let reply = platform
        .seal(
            &json!({"infcode": 0, "output": envelope["input"].clone()}),
            Map::new(),
        )
        .unwrap();
    assert!(broker.open(reply.clone()).is_ok());

    let signer = Sm2Signer::new(&inst_sk, "1234567812345678").unwrap();
    let verifier = signer.verifier();
    let msg = vec![b'a'; 2048];
    let sig = signer.sign(&msg, SignatureLayout::Raw).unwrap();
    let sm4 = Sm4Cipher::new(b"0123456789ABCDEF", Sm4Mode::Ecb, None).unwrap();
    let ct = sm4.encrypt(&msg);
    let sm2_ct = verifier.encrypt(&msg, CipherOrder::C1C3C2).unwrap();
    let oracle_sk = hex::encode(inst_sk.to_bytes());

    let stats = vec![
        measure(
            "per call: seal 2 KiB request + open 2 KiB reply",
            iters,
            || {
                let out = broker.seal(black_box(&request)).unwrap();
                black_box(out);
                black_box(broker.open(black_box(reply.clone())).unwrap());
            },
        ),
        measure("  seal (SM2 sign + SM4 encrypt + JSON)", iters, || {
            black_box(broker.seal(black_box(&request)).unwrap());
        }),
        measure("  open (SM4 decrypt + SM2 verify + JSON)", iters, || {
            black_box(broker.open(black_box(reply.clone())).unwrap());
        }),
        measure("SM2 sign, 2 KiB", iters, || {
            black_box(signer.sign(black_box(&msg), SignatureLayout::Raw).unwrap());
        }),
        measure("SM2 verify, 2 KiB", iters, || {
            verifier
                .verify(black_box(&msg), &sig, SignatureLayout::Raw)
                .unwrap();
        }),
        measure("SM4-ECB encrypt, 2 KiB", iters, || {
            black_box(sm4.encrypt(black_box(&msg)));
        }),
        measure("SM4-ECB decrypt, 2 KiB", iters, || {
            black_box(sm4.decrypt(black_box(&ct)).unwrap());
        }),
        measure("SM2 decrypt, 2 KiB", iters, || {
            black_box(
                signer
                    .decrypt(black_box(&sm2_ct), CipherOrder::C1C3C2)
                    .unwrap(),
            );
        }),
        measure(
            "SM2 sign, 2 KiB — sm-crypto 0.1.9 (for comparison)",
            iters / 10 + 1,
            || {
                black_box(sm_crypto::sm2::Sign::new(&oracle_sk).sign(black_box(&msg), true));
            },
        ),
    ];

    println!("| operation | median | p95 | min |");
    println!("|---|---:|---:|---:|");
    for s in &stats {
        println!(
            "| {} | {:.1} µs | {:.1} µs | {:.1} µs |",
            s.name,
            s.median.as_secs_f64() * 1e6,
            s.p95.as_secs_f64() * 1e6,
            s.min.as_secs_f64() * 1e6
        );
    }
    let per_call = stats[0].median.as_secs_f64() * 1e3;
    println!(
        "\nper-call crypto cost (median): {per_call:.3} ms — target ≤ 0.4 ms: {}",
        if per_call <= 0.4 { "met" } else { "NOT met" }
    );
}
