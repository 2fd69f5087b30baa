//! The messages the broker writes itself rather than passing on from the HIS: 9001 签到,
//! 9002 签退 and 2601 冲正, and how a reply or a refusal about the session is read. Their
//! shapes follow the national interface specification; having them in one place keeps the
//! broker's worker, its shutdown and the simulator's tests on the same layout.

use serde_json::{json, Value};

use super::EnvelopeDefaults;

/// The `input` of a 9001 sign-in for `operator` (node `signIn`).
pub fn sign_in_input(defaults: &EnvelopeDefaults, operator: &str) -> Value {
    json!({ "signIn": { "opter_no": operator, "mac": defaults.mac, "ip": defaults.ip } })
}

/// The `input` of a 9002 sign-out: the specification names the node `signOut`, not `data`.
pub fn sign_out_input(operator: &str, sign_no: &str) -> Value {
    json!({ "signOut": { "sign_no": sign_no, "opter_no": operator } })
}

/// The `input` of a 2601 reversal of the message `omsgid` of interface `oinfno`, for the
/// insured person `psn_no` (where the original carried it depends on its interface; the
/// catalog finds it).
pub fn reversal_input(psn_no: &str, omsgid: &str, oinfno: &str) -> Value {
    json!({ "data": { "psn_no": psn_no, "omsgid": omsgid, "oinfno": oinfno } })
}

/// The `sign_no` in a 9001 reply's `output`.
pub fn sign_no_from_output(output: &Value) -> Option<String> {
    output
        .pointer("/signinoutb/sign_no")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Whether a business error means "sign in again" (the platform's wording varies by
/// province; all of them mention 签到).
pub fn is_sign_in_rejection(err_msg: Option<&str>) -> bool {
    err_msg.is_some_and(|m| m.contains("签到"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sign_no() {
        let out = json!({"signinoutb": {"sign_no": "S1", "sign_time": "x"}});
        assert_eq!(sign_no_from_output(&out).as_deref(), Some("S1"));
        assert_eq!(sign_no_from_output(&json!({})), None);
        assert_eq!(
            sign_no_from_output(&json!({"signinoutb": {"sign_no": "  "}})),
            None
        );
        assert!(is_sign_in_rejection(Some(
            "签到信息无效或已过期，请重新签到"
        )));
        assert!(!is_sign_in_rejection(Some("参数错误")));
        assert!(!is_sign_in_rejection(None));
    }

    #[test]
    fn message_shapes_follow_the_specification() {
        let d = super::super::envelope::sample_defaults();
        let i = sign_in_input(&d, "007");
        assert_eq!(i["signIn"]["opter_no"], "007");
        assert_eq!(i["signIn"]["mac"], d.mac.as_str());
        assert_eq!(i["signIn"]["ip"], d.ip.as_str());
        let o = sign_out_input("007", "S1");
        assert_eq!(o, json!({"signOut": {"sign_no": "S1", "opter_no": "007"}}));
        let r = reversal_input("P1", "M1", "2207");
        assert_eq!(
            r,
            json!({"data": {"psn_no": "P1", "omsgid": "M1", "oinfno": "2207"}})
        );
    }
}
