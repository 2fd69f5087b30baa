//! The request envelope (design.md §9): fixed fields from the institution's configuration,
//! per-call overrides for what varies by patient or operator, and the interface's `input`.

use serde::{Deserialize, Serialize};
use yibao_proto::Overrides;

use crate::time;

/// The institution's fixed envelope fields, read from the `[institution]` config section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeDefaults {
    // The keys without a usable default are `#[serde(default)]` (empty) too: the broker's
    // config check names every missing one at once rather than serde the first.
    /// 定点医药机构编号 (12 characters, e.g. `H43010000001`); also the msgid prefix.
    #[serde(default)]
    pub fixmedins_code: String,
    /// 定点医药机构名称.
    #[serde(default)]
    pub fixmedins_name: String,
    /// 就医地医保区划 (6 digits).
    #[serde(default)]
    pub mdtrtarea_admvs: String,
    /// Default 参保地医保区划; usually set per call from the patient's card / 1101.
    #[serde(default)]
    pub insuplc_admdvs: String,
    /// 接收方系统代码.
    #[serde(default = "default_recer_sys_code")]
    pub recer_sys_code: String,
    #[serde(default)]
    pub dev_no: String,
    #[serde(default)]
    pub dev_safe_info: String,
    #[serde(default)]
    pub cainfo: String,
    #[serde(default)]
    pub signtype: String,
    #[serde(default = "default_infver")]
    pub infver: String,
    /// 经办人类别: 1 经办人, 2 自助终端, 3 移动终端.
    #[serde(default = "default_opter_type")]
    pub opter_type: String,
    /// Default 经办人 code, used when a call names none.
    #[serde(default)]
    pub opter: String,
    /// Default 经办人姓名.
    #[serde(default)]
    pub opter_name: String,
    /// MAC address reported in 9001 sign-in.
    #[serde(default)]
    pub mac: String,
    /// IP address reported in 9001 sign-in.
    #[serde(default)]
    pub ip: String,
}

impl EnvelopeDefaults {
    /// The keys the file requires; every other field at its file default.
    pub fn new(
        fixmedins_code: impl Into<String>,
        fixmedins_name: impl Into<String>,
        mdtrtarea_admvs: impl Into<String>,
        opter: impl Into<String>,
        opter_name: impl Into<String>,
    ) -> Self {
        Self {
            fixmedins_code: fixmedins_code.into(),
            fixmedins_name: fixmedins_name.into(),
            mdtrtarea_admvs: mdtrtarea_admvs.into(),
            insuplc_admdvs: String::new(),
            recer_sys_code: default_recer_sys_code(),
            dev_no: String::new(),
            dev_safe_info: String::new(),
            cainfo: String::new(),
            signtype: String::new(),
            infver: default_infver(),
            opter_type: default_opter_type(),
            opter: opter.into(),
            opter_name: opter_name.into(),
            mac: String::new(),
            ip: String::new(),
        }
    }
}

fn default_recer_sys_code() -> String {
    "YBXT".to_string()
}
fn default_infver() -> String {
    "V1.0".to_string()
}
fn default_opter_type() -> String {
    "1".to_string()
}

/// The JSON object POSTed to the platform (before the profile seals it). `Default` is an
/// empty envelope, for learning what a profile puts around one (never sent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestEnvelope {
    pub infno: String,
    pub msgid: String,
    pub mdtrtarea_admvs: String,
    pub insuplc_admdvs: String,
    pub recer_sys_code: String,
    pub dev_no: String,
    pub dev_safe_info: String,
    pub cainfo: String,
    pub signtype: String,
    pub infver: String,
    pub opter_type: String,
    pub opter: String,
    pub opter_name: String,
    pub inf_time: String,
    pub fixmedins_code: String,
    pub fixmedins_name: String,
    pub sign_no: String,
    pub input: serde_json::Value,
}

fn pick(over: &Option<String>, default: &str) -> String {
    match over.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => v.to_string(),
        _ => default.to_string(),
    }
}

impl EnvelopeDefaults {
    /// The operator a call runs as (the override, else the default); sign-in is per operator.
    pub fn operator<'a>(&'a self, over: &'a Overrides) -> &'a str {
        match over.opter.as_deref().map(str::trim) {
            Some(v) if !v.is_empty() => v,
            _ => &self.opter,
        }
    }

    /// Builds the envelope for one attempt. `msgid` must be fresh for every attempt.
    pub fn build(
        &self,
        infno: &str,
        msgid: String,
        sign_no: &str,
        over: &Overrides,
        input: serde_json::Value,
    ) -> RequestEnvelope {
        RequestEnvelope {
            infno: infno.to_string(),
            msgid,
            mdtrtarea_admvs: pick(&over.mdtrtarea_admvs, &self.mdtrtarea_admvs),
            insuplc_admdvs: pick(&over.insuplc_admdvs, &self.insuplc_admdvs),
            recer_sys_code: self.recer_sys_code.clone(),
            dev_no: self.dev_no.clone(),
            dev_safe_info: self.dev_safe_info.clone(),
            cainfo: self.cainfo.clone(),
            signtype: self.signtype.clone(),
            infver: self.infver.clone(),
            opter_type: pick(&over.opter_type, &self.opter_type),
            opter: self.operator(over).to_string(),
            opter_name: pick(&over.opter_name, &self.opter_name),
            inf_time: time::format_datetime(&time::now()),
            fixmedins_code: self.fixmedins_code.clone(),
            fixmedins_name: self.fixmedins_name.clone(),
            sign_no: sign_no.to_string(),
            input,
        }
    }
}

#[cfg(test)]
pub(crate) fn sample_defaults() -> EnvelopeDefaults {
    EnvelopeDefaults {
        fixmedins_code: "H43010000001".into(),
        fixmedins_name: "示例医院".into(),
        mdtrtarea_admvs: "430100".into(),
        insuplc_admdvs: "".into(),
        recer_sys_code: default_recer_sys_code(),
        dev_no: "".into(),
        dev_safe_info: "".into(),
        cainfo: "".into(),
        signtype: "".into(),
        infver: default_infver(),
        opter_type: default_opter_type(),
        opter: "001".into(),
        opter_name: "张医生".into(),
        mac: "00-00-00-00-00-00".into(),
        ip: "127.0.0.1".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_win_blanks_do_not() {
        let d = sample_defaults();
        let over = Overrides {
            insuplc_admdvs: Some("430200".into()),
            opter: Some("  ".into()),
            opter_name: Some("李护士".into()),
            ..Default::default()
        };
        let e = d.build(
            "1101",
            "M".into(),
            "S1",
            &over,
            serde_json::json!({"data":{}}),
        );
        assert_eq!(e.insuplc_admdvs, "430200");
        assert_eq!(e.opter, "001");
        assert_eq!(e.opter_name, "李护士");
        assert_eq!(e.mdtrtarea_admvs, "430100");
        assert_eq!(e.infver, "V1.0");
        assert_eq!(e.sign_no, "S1");
        assert!(time::parse_datetime(&e.inf_time).is_some());
        let v = serde_json::to_value(&e).unwrap();
        for k in [
            "infno",
            "msgid",
            "mdtrtarea_admvs",
            "insuplc_admdvs",
            "recer_sys_code",
            "dev_no",
            "dev_safe_info",
            "cainfo",
            "signtype",
            "infver",
            "opter_type",
            "opter",
            "opter_name",
            "inf_time",
            "fixmedins_code",
            "fixmedins_name",
            "sign_no",
            "input",
        ] {
            assert!(v.get(k).is_some(), "{k} missing");
        }
    }
}
