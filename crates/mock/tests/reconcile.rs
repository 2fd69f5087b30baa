//! 对账 over real HTTP: 3201 and 3202 answered from the settlements the simulator applied,
//! a HIS that sums the replies it kept balances, and a disagreement planted with
//! `/__mock/reconcile` shows up in both.

use std::io::Read;
use std::sync::Arc;

use serde_json::{json, Value};
use yibao_core::profile::PlainProfile;
use yibao_mock::{MockConfig, MockServer};

mod common;
use common::{mock, His};

/// What the HIS keeps of one settlement reply (or cancellation reply).
#[derive(Debug, Clone)]
struct Kept {
    setl_id: String,
    mdtrt_id: String,
    psn_no: String,
    /// Fen, from the reply's numbers.
    amounts: [i64; 3],
    refund: bool,
}

fn fen(v: &Value) -> i64 {
    (v.as_f64().unwrap() * 100.0).round() as i64
}

fn yuan(f: i64) -> String {
    format!(
        "{}{}.{:02}",
        if f < 0 { "-" } else { "" },
        f.abs() / 100,
        f.abs() % 100
    )
}

fn today() -> String {
    yibao_core::time::now().format("%Y-%m-%d").to_string()
}

async fn settle(his: &His, psn: &str, mdtrt: &str, amount: &str) -> Kept {
    let r = his
        .call(
            "2207",
            json!({"data": {"psn_no": psn, "mdtrt_cert_type": "01", "mdtrt_cert_no": "E1",
                "med_type": "11", "medfee_sumamt": amount, "psn_setlway": "01",
                "mdtrt_id": mdtrt, "chrg_bchno": format!("C{mdtrt}"), "insutype": "310",
                "acct_used_flag": "1"}}),
        )
        .await;
    assert_eq!(r["infcode"], 0, "{r}");
    let s = &r["output"]["setlinfo"];
    Kept {
        setl_id: s["setl_id"].as_str().unwrap().into(),
        mdtrt_id: mdtrt.into(),
        psn_no: psn.into(),
        amounts: [
            fen(&s["medfee_sumamt"]),
            fen(&s["fund_pay_sumamt"]),
            fen(&s["acct_pay"]),
        ],
        refund: false,
    }
}

async fn cancel(his: &His, k: &Kept) -> Kept {
    let r = his
        .call(
            "2208",
            json!({"data": {"psn_no": k.psn_no, "mdtrt_id": k.mdtrt_id, "setl_id": k.setl_id}}),
        )
        .await;
    assert_eq!(r["infcode"], 0, "{r}");
    let s = &r["output"]["setlinfo"];
    Kept {
        amounts: [
            fen(&s["medfee_sumamt"]),
            fen(&s["fund_pay_sumamt"]),
            fen(&s["acct_pay"]),
        ],
        refund: true,
        ..k.clone()
    }
}

/// 3201 with the HIS's own sums of what it kept: the `stmtinfo`.
async fn total(his: &His, kept: &[Kept]) -> Value {
    let sum = |i: usize| yuan(kept.iter().map(|k| k.amounts[i]).sum());
    let count: i64 = kept.iter().map(|k| if k.refund { -1 } else { 1 }).sum();
    let r = his
        .call(
            "3201",
            json!({"data": {"insutype": "310", "clr_type": "11", "setl_optins": "430100",
                "stmt_begndate": today(), "stmt_enddate": today(),
                "medfee_sumamt": sum(0), "fund_pay_sumamt": sum(1), "acct_pay": sum(2),
                "fixmedins_setl_cnt": count.to_string(), "refd_setl_flag": "0"}}),
        )
        .await;
    assert_eq!(r["infcode"], 0, "{r}");
    r["output"]["stmtinfo"].clone()
}

async fn plant(his: &His, body: Value) {
    let r = his.control_post("/__mock/reconcile", body).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn started() -> (MockServer, His) {
    let m = mock(MockConfig::default()).await;
    let his = His::new(&m, Arc::new(PlainProfile)).await;
    (m, his)
}

#[tokio::test]
async fn total_balances_from_the_replies_and_not_after_a_plant() {
    let (_m, his) = started().await;
    let a = settle(&his, "P1", "M1", "100.00").await;
    let b = settle(&his, "P2", "M2", "33.33").await;
    let c = settle(&his, "P3", "M3", "0.99").await;
    let b_cancel = cancel(&his, &b).await;
    assert_eq!(
        b_cancel.amounts[0], -3333,
        "a cancellation carries the amounts negated"
    );
    let kept = [a.clone(), b, c, b_cancel];

    let info = total(&his, &kept).await;
    assert_eq!(info["stmt_rslt"], "0", "{info}");
    assert_eq!(info["setl_optins"], "430100");

    // The HIS that forgot the cancellation is not balanced: amounts and count differ.
    let info = total(&his, &kept[..3]).await;
    assert_eq!(info["stmt_rslt"], "1", "{info}");
    let dscr = info["stmt_rslt_dscr"].as_str().unwrap();
    assert!(dscr.contains("医疗费总额不符"), "{dscr}");
    assert!(dscr.contains("结算笔数不符：医药机构 3，中心 2"), "{dscr}");

    // Another insutype or clr_type: nothing of the platform's matches.
    let r = his
        .call(
            "3201",
            json!({"data": {"insutype": "390", "clr_type": "11", "setl_optins": "430100",
                "stmt_begndate": today(), "stmt_enddate": today(), "medfee_sumamt": "0",
                "fund_pay_sumamt": "0", "acct_pay": "0", "fixmedins_setl_cnt": "0"}}),
        )
        .await;
    assert_eq!(r["output"]["stmtinfo"]["stmt_rslt"], "0", "{r}");

    // The platform holds another amount for one settlement.
    plant(
        &his,
        json!({"amount": {"setl_id": a.setl_id, "medfee_sumamt": "99.99"}}),
    )
    .await;
    let info = total(&his, &kept).await;
    assert_eq!(info["stmt_rslt"], "1", "{info}");
    let dscr = info["stmt_rslt_dscr"].as_str().unwrap();
    assert!(dscr.contains("医药机构 100.99，中心 100.98"), "{dscr}");
    assert!(dscr.contains("medfee_sumamt differs"), "{dscr}");
    assert!(!dscr.contains("fund_pay_sumamt"), "{dscr}");

    // Undone: balanced again; the listing shows the book and no plant.
    let r = his
        .http
        .delete(format!("{}/__mock/reconcile", his.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(total(&his, &kept).await["stmt_rslt"], "0");
    let listed: Value = serde_json::from_slice(&his.control("/__mock/reconcile").await).unwrap();
    assert_eq!(
        listed["settlements"].as_array().unwrap().len(),
        4,
        "{listed}"
    );
    assert_eq!(listed["planted"]["amount"], json!([]), "{listed}");
}

/// The HIS's detail file for what it kept.
fn detail_file(kept: &[Kept]) -> String {
    kept.iter()
        .map(|k| {
            format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                k.setl_id,
                k.mdtrt_id,
                k.psn_no,
                yuan(k.amounts[0]),
                yuan(k.amounts[1]),
                yuan(k.amounts[2]),
                if k.refund { "1" } else { "0" }
            )
        })
        .collect()
}

/// 9101 of `text` zipped, then 3202 for it: the reply envelope.
async fn detail(his: &His, text: &str) -> Value {
    use base64::Engine;
    let zipped = zip_text(text);
    let r = his
        .call(
            "9101",
            json!({"fsUploadIn": {"in": base64::engine::general_purpose::STANDARD.encode(zipped),
                "filename": "3202.zip", "fixmedins_code": common::FIXMEDINS}}),
        )
        .await;
    assert_eq!(r["infcode"], 0, "{r}");
    let no = r["output"]["file_qury_no"].as_str().unwrap();
    detail_for(his, no).await
}

async fn detail_for(his: &His, file_qury_no: &str) -> Value {
    his.call(
        "3202",
        json!({"data": {"file_qury_no": file_qury_no, "setl_optins": "430100",
            "stmt_begndate": today(), "stmt_enddate": today(), "medfee_sumamt": "0",
            "fund_pay_sumamt": "0", "cash_payamt": "0", "fixmedins_setl_cnt": "0"}}),
    )
    .await
}

fn zip_text(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("detail.txt", zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(text.as_bytes()).unwrap();
    w.finish().unwrap().into_inner()
}

/// The result lines of a 3202 answer, fetched with 9102: each line's columns.
async fn result_rows(his: &His, reply: &Value) -> Vec<Vec<String>> {
    assert_eq!(reply["infcode"], 0, "{reply}");
    let info = &reply["output"]["fileinfo"];
    let no = info["file_qury_no"].as_str().unwrap();
    assert_eq!(info["filename"], format!("{no}.zip"));
    assert_eq!(info["dld_endtime"].as_str().unwrap().len(), 19, "{info}");
    let zipped = his.download(no).await;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zipped)).unwrap();
    let mut text = String::new();
    archive
        .by_index(0)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text.lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

#[tokio::test]
async fn detail_lists_each_settlement_that_differs() {
    let (_m, his) = started().await;
    let a = settle(&his, "P1", "M1", "100.00").await;
    let b = settle(&his, "P2", "M2", "50.00").await;
    let c = settle(&his, "P3", "M3", "20.00").await;
    let c_cancel = cancel(&his, &c).await;
    let kept = vec![a.clone(), b.clone(), c, c_cancel];

    // All agree: an empty result file.
    let reply = detail(&his, &detail_file(&kept)).await;
    assert_eq!(result_rows(&his, &reply).await, Vec::<Vec<String>>::new());

    // The platform lost b, holds another amount for a, and has one the HIS has not.
    plant(&his, json!({"forget": b.setl_id})).await;
    plant(
        &his,
        json!({"amount": {"setl_id": a.setl_id, "fund_pay_sumamt": 1.23}}),
    )
    .await;
    plant(
        &his,
        json!({"extra": {"setl_id": "X1", "mdtrt_id": "MX", "psn_no": "PX",
            "medfee_sumamt": "8.00"}}),
    )
    .await;
    let rows = result_rows(&his, &detail(&his, &detail_file(&kept)).await).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    let row = |id: &str| {
        rows.iter()
            .find(|r| r[0] == id)
            .unwrap_or_else(|| panic!("{id}: {rows:?}"))
    };
    assert_eq!(row(&a.setl_id)[1..4], ["M1", "P1", "3"]);
    let memo = &row(&a.setl_id)[4];
    assert!(
        memo.contains("fund_pay_sumamt 医药机构 70.00 中心 1.23"),
        "{memo}"
    );
    assert!(!memo.contains("medfee_sumamt"), "{memo}");
    assert_eq!(row(&b.setl_id)[1..4], ["M2", "P2", "1"]);
    assert!(row(&b.setl_id)[4].contains("医药机构有、中心无"));
    assert_eq!(row("X1")[1..4], ["MX", "PX", "2"]);
    assert!(row("X1")[4].contains("中心有、医药机构无"));
}

#[tokio::test]
async fn detail_refuses_a_bad_line_or_an_unknown_file() {
    let (m, his) = started().await;
    let a = settle(&his, "P1", "M1", "10.00").await;
    let mut text = detail_file(&[a]);
    text.push_str("S2\tM2\tP2\t12.345\t0\t0\t0\n");
    let r = detail(&his, &text).await;
    assert_eq!(r["infcode"], -1, "{r}");
    assert!(r["err_msg"].as_str().unwrap().contains("第2行"), "{r}");

    let r = detail_for(&his, "F20261124000000999999").await;
    assert_eq!(r["infcode"], -1, "{r}");
    assert!(
        r["err_msg"].as_str().unwrap().contains("不存在或已过期"),
        "{r}"
    );
    // Refused calls leave no result file behind.
    assert!(m.files().iter().all(|f| f.infno != "3202"));
}

#[tokio::test]
async fn faults_apply_to_reconciliation_like_any_interface() {
    let (m, his) = started().await;
    let kept = [settle(&his, "P1", "M1", "10.00").await];
    m.add_fault(
        serde_json::from_value(json!({"infno": "3201", "kind": "business_error", "times": 1}))
            .unwrap(),
    );
    let r = his
        .call(
            "3201",
            json!({"data": {"insutype": "310", "clr_type": "11", "setl_optins": "430100",
                "stmt_begndate": today(), "stmt_enddate": today(), "medfee_sumamt": "10.00",
                "fund_pay_sumamt": "7.00", "acct_pay": "1.50", "fixmedins_setl_cnt": "1"}}),
        )
        .await;
    assert_eq!(r["infcode"], -1, "{r}");
    assert_eq!(total(&his, &kept).await["stmt_rslt"], "0");
}
