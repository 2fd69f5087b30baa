//! Request inputs the catalog and the simulator accept, distinct per `n`: what the e2e
//! tests insert and call with.

/// A valid 18-digit 身份证号 (check digit per GB 11643), distinct per `n` below 100,000.
pub fn certno(n: u32) -> String {
    let day = 1 + (n / 1000) % 28;
    let month = 1 + (n / 28_000) % 12;
    let body = format!("4301021980{month:02}{day:02}{:03}", n % 1000);
    let check = yibao_core::catalog::certno_check_char(&body).unwrap_or('0');
    format!("{body}{check}")
}

/// A 2207 settlement input the catalog and the simulator accept, a distinct business
/// request per `n`.
pub fn settle_input(n: u32) -> String {
    serde_json::json!({"data": {"psn_no": "43000000000000000001", "mdtrt_cert_type": "02",
        "mdtrt_cert_no": certno(n), "med_type": "11", "medfee_sumamt": "100.00",
        "psn_setlway": "01", "mdtrt_id": format!("M{n}"), "chrg_bchno": format!("C{n}"),
        "insutype": "310", "acct_used_flag": "1"}})
    .to_string()
}

/// A 2201 registration input the catalog and the simulator accept, distinct per `n`.
pub fn register_input(n: u32) -> String {
    serde_json::json!({"data": {"psn_no": format!("4300{n:016}"), "insutype": "310",
        "begntime": "2026-11-24 09:00:00", "mdtrt_cert_type": "02", "mdtrt_cert_no": certno(n),
        "ipt_otp_no": format!("MZ{n}"), "atddr_no": "D001", "dr_name": "医生",
        "dept_code": "A01", "dept_name": "内科", "caty": "A01"}})
    .to_string()
}

/// A 1101 input the catalog and the simulator accept, distinct per `n`.
pub fn person_input(n: u32) -> String {
    let cert = certno(n);
    serde_json::json!({"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": cert,
        "psn_cert_type": "01", "certno": cert}})
    .to_string()
}
