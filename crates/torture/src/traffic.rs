//! The HIS's traffic: cashiers running settlements synchronously through the shim (and
//! retrying only when the product's contract says it is safe), rows left for the broker's
//! polling, pipe `call --async`, poisoned rows, cancels and concurrent 冲正.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::Rng;
use yibao::{person_input, register_input, settle_input};

use crate::check::business_key;
use crate::ctx::Ctx;
use crate::his::{Deadline, His, Poison};

/// A 2204 fee-detail upload the catalog and the simulator accept, distinct per `n`.
pub fn fee_input(n: u32) -> String {
    serde_json::json!({"feedetail": [{"feedetl_sn": format!("F{n}"), "mdtrt_id": format!("M{n}"),
        "psn_no": format!("4300{n:016}"), "chrg_bchno": format!("C{n}"), "rx_circ_flag": "0",
        "fee_ocur_time": "2026-11-24 09:00:00", "med_list_codg": "X", "medins_list_codg": "Y",
        "det_item_fee_sumamt": 10, "cnt": 1, "pric": 10, "bilg_dept_codg": "D",
        "bilg_dept_name": "内科", "bilg_dr_codg": "R", "bilg_dr_name": "医生"}]})
    .to_string()
}

/// A customer's request: interface and input, weighted towards settlements.
fn customer(rng: &mut StdRng, n: u32) -> (&'static str, String) {
    match rng.random_range(0..100) {
        0..50 => ("2207", settle_input(n)),
        50..68 => ("2201", register_input(n)),
        68..84 => ("2204", fee_input(n)),
        _ => ("1101", person_input(n)),
    }
}

/// No deadline, one already passed, or one a few seconds ahead.
fn deadline(rng: &mut StdRng) -> Deadline {
    match rng.random_range(0..100) {
        0..55 => Deadline::None,
        55..65 => Deadline::In(-rng.random_range(1..=120)),
        _ => Deadline::In(rng.random_range(2..=8)),
    }
}

fn open_his(ctx: &Ctx, who: &str) -> Option<His> {
    match His::open(&ctx.db_path) {
        Ok(h) => Some(h),
        Err(e) => {
            ctx.ledger
                .disturb("harness error", format!("{who}: open store: {e}"));
            None
        }
    }
}

/// A cashier: one customer after another, each through `yibao-call run`.
pub fn cashier(ctx: &Ctx, mut rng: StdRng) {
    let Some(his) = open_his(ctx, "cashier") else {
        return;
    };
    // Bounded: at most one customer per business number.
    while ctx.running() {
        let Some(n) = ctx.next_business_no() else {
            break;
        };
        let (code, input) = customer(&mut rng, n);
        serve(ctx, &his, &mut rng, code, &input);
        let pause = Duration::from_millis(rng.random_range(50..600));
        if !ctx.sleep(pause) {
            break;
        }
    }
}

/// One customer: insert, run, and when the cashier gives up, cancel; a NEW row for the
/// same business key only when the first one can never be sent (cancelled with exit 0,
/// or still PENDING after its expires_at). At most three rows per key.
fn serve(ctx: &Ctx, his: &His, rng: &mut StdRng, code: &str, input: &str) {
    let key = business_key(code, input).unwrap_or_else(|| format!("{code}:read-only"));
    let mut rows = 0;
    for _ in 0..3 {
        if !ctx.running() {
            return;
        }
        let dl = deadline(rng);
        let id = match his.insert(code, input, dl) {
            Ok((id, _)) => id,
            Err(e) => {
                // Nothing was inserted, so trying again is a first row, not a second one.
                ctx.ledger
                    .disturb("insert failed", format!("{code} {key}: {e}"));
                ctx.sleep(Duration::from_millis(500));
                continue;
            }
        };
        ctx.ledger.known(id);
        rows += 1;
        if rows > 1 {
            ctx.ledger.retried(key.clone());
            ctx.ledger
                .event(format!("cashier retry: {key} as request {id} (row {rows})"));
        }
        if rng.random_bool(0.15) {
            // Left to the broker's polling; the HIS reads the view later.
            ctx.ledger.count(format!("async {code} inserted"));
            return;
        }
        let wait = rng.random_range(1..=8u64);
        let out = ctx.shim(
            ctx.pipe(rng),
            &["run", &id.to_string(), "--wait", &wait.to_string()],
            None,
            Duration::from_secs(wait + 20),
        );
        ctx.ledger.count(format!("run {code} {}", out.label()));
        if out.code == Some(1) {
            // A run whose wait ended before any worker started the request cancels it.
            if his
                .err_msg(id)
                .ok()
                .flatten()
                .is_some_and(|m| m.contains("已取消"))
            {
                ctx.ledger.cancelled(id, his.attempts(id).ok());
                ctx.ledger.count("run cancelled its request");
            }
        }
        if matches!(out.code, Some(0..=2)) {
            return;
        }
        // Broker unreachable or the wait ran out: the cashier gives up on this row.
        std::thread::sleep(Duration::from_millis(rng.random_range(0..1500)));
        let c = ctx.shim(
            ctx.pipe(rng),
            &["cancel", &id.to_string()],
            None,
            Duration::from_secs(20),
        );
        ctx.ledger.count(format!("cancel (cashier) {}", c.label()));
        match (c.code, dl) {
            (Some(0), _) => {
                ctx.ledger.cancelled(id, his.attempts(id).ok());
                ctx.ledger
                    .event(format!("cashier cancelled request {id} ({key})"));
                // The customer is asked to wait a moment, then the cashier tries again.
                if !ctx.sleep(Duration::from_millis(rng.random_range(0..2000))) {
                    return;
                }
            }
            (Some(3), Deadline::In(s)) => {
                // No broker to cancel with: wait past the deadline; a row still PENDING
                // then will never be sent.
                let until =
                    Duration::from_millis(u64::try_from(s.max(0)).unwrap_or(0) * 1000 + 2500);
                if !ctx.sleep(until.min(Duration::from_secs(15))) {
                    return;
                }
                match his.pending_past_deadline(id) {
                    Ok(Some(attempts)) => {
                        ctx.ledger.superseded(id, Some(attempts));
                        ctx.ledger.event(format!(
                            "cashier: request {id} ({key}) still PENDING after expires_at"
                        ));
                    }
                    _ => return,
                }
            }
            _ => return,
        }
    }
}

/// Rows the HIS leaves to the broker's polling, pipe `call --async`, poisoned rows and
/// cancels of waiting rows.
pub fn feeder(ctx: &Ctx, mut rng: StdRng) {
    let Some(his) = open_his(ctx, "feeder") else {
        return;
    };
    while ctx.sleep(Duration::from_millis(rng.random_range(100..700))) {
        match rng.random_range(0..100) {
            0..45 => {
                let Some(n) = ctx.next_business_no() else {
                    return;
                };
                let (code, input) = customer(&mut rng, n);
                match his.insert(code, &input, deadline(&mut rng)) {
                    Ok((id, _)) => {
                        ctx.ledger.known(id);
                        ctx.ledger.count(format!("async {code} inserted"));
                        if rng.random_bool(0.2) {
                            let out = ctx.shim(
                                ctx.pipe(&mut rng),
                                &["kick", &id.to_string()],
                                None,
                                Duration::from_secs(15),
                            );
                            ctx.ledger.count(format!("kick {}", out.label()));
                        }
                    }
                    Err(e) => ctx.ledger.disturb("insert failed", format!("{code}: {e}")),
                }
            }
            45..65 => {
                let Some(n) = ctx.next_business_no() else {
                    return;
                };
                let (code, input) = customer(&mut rng, n);
                let out = ctx.shim(
                    ctx.pipe(&mut rng),
                    &["call", code, "-", "--async"],
                    Some(&input),
                    Duration::from_secs(20),
                );
                ctx.ledger
                    .count(format!("call --async {code} {}", out.label()));
                if let Some(id) = out.accepted_id() {
                    ctx.ledger.known(id);
                }
            }
            65..72 => {
                let code = if rng.random_bool(0.6) { "2207" } else { "1101" };
                let poison = if rng.random_bool(0.5) {
                    Poison::Blob
                } else {
                    Poison::BadUtf8
                };
                match his.insert_poison(code, poison) {
                    Ok(id) => {
                        ctx.ledger.poisoned(id);
                        ctx.ledger
                            .disturb("poisoned row", format!("{code} {poison:?} request {id}"));
                    }
                    Err(e) => ctx.ledger.disturb("insert failed", format!("poison: {e}")),
                }
            }
            _ => cancel_one(ctx, &his, &mut rng),
        }
    }
}

/// Cancels a waiting row, as an HIS whose caller went away.
fn cancel_one(ctx: &Ctx, his: &His, rng: &mut StdRng) {
    let codes = ["2207", "2201", "2204", "1101"];
    let ids = his.ids_in(&codes, &["PENDING"], 50).unwrap_or_default();
    let id = if ids.is_empty() || rng.random_bool(0.1) {
        // Sometimes a row that is not waiting, or any id: must be refused (exit 6).
        let any = his
            .ids_in(
                &codes,
                &["COMPLETED", "ERROR", "UNCERTAIN", "PROCESSING"],
                50,
            )
            .unwrap_or_default();
        match any.get(rng.random_range(0..any.len().max(1))) {
            Some(id) => *id,
            None => return,
        }
    } else {
        ids[rng.random_range(0..ids.len())]
    };
    let out = ctx.shim(
        ctx.pipe(rng),
        &["cancel", &id.to_string()],
        None,
        Duration::from_secs(20),
    );
    ctx.ledger.count(format!("cancel (other) {}", out.label()));
    if out.code == Some(0) {
        ctx.ledger.cancelled(id, his.attempts(id).ok());
        ctx.ledger.event(format!("cancelled request {id}"));
    }
}

/// Operators reversing the same settlement at once.
pub fn reverser(ctx: &Ctx, mut rng: StdRng) {
    let Some(his) = open_his(ctx, "reverser") else {
        return;
    };
    let codes = ["2207", "2204", "2201"];
    while ctx.sleep(Duration::from_millis(rng.random_range(800..4000))) {
        let states: &[&str] = match rng.random_range(0..100) {
            0..55 => &["UNCERTAIN"],
            55..90 => &["COMPLETED"],
            _ => &["ERROR", "REVERSED", "PENDING"],
        };
        let ids = his.ids_in(&codes, states, 100).unwrap_or_default();
        let Some(&id) = ids.get(rng.random_range(0..ids.len().max(1))) else {
            continue;
        };
        let k = rng.random_range(2..=4);
        let pipes: Vec<String> = (0..k).map(|_| ctx.pipe(&mut rng).to_string()).collect();
        let wait = rng.random_range(2..=8u64).to_string();
        let outs: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = pipes
                .iter()
                .map(|p| {
                    let wait = wait.as_str();
                    s.spawn(move || {
                        ctx.shim(
                            p,
                            &["reverse", &id.to_string(), "--wait", wait],
                            None,
                            Duration::from_secs(30),
                        )
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().map_or_else(|_| "panicked".into(), |o| o.label()))
                .collect()
        });
        for o in &outs {
            ctx.ledger.count(format!("reverse {o}"));
        }
        ctx.ledger.disturb(
            "concurrent reverse",
            format!(
                "request {id} ({}) ×{k}: {}",
                states.join("/"),
                outs.join(", ")
            ),
        );
    }
}
