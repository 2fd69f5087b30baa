//! What the simulator insists on, with the platform's kind of error messages.

use axum::http::HeaderMap;
use yibao_core::cainfo::{CainfoOpener, DEFAULT_INTERFACES};
use yibao_core::profile::{self, tif_signature};
use yibao_core::{time, RequestEnvelope};

use crate::{ApikeyCredentials, CsbCredentials, TifCredentials};

/// Largest accepted difference between `x-tif-timestamp` and the simulator's clock.
const MAX_SKEW_S: i64 = 300;

pub fn check_tif(headers: &HeaderMap, tif: &TifCredentials) -> Result<(), String> {
    let get = |name: &str| -> Result<String, String> {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| format!("网关校验失败：缺少请求头 {name}"))
    };
    let paasid = get(profile::HDR_PAASID)?;
    let ts = get(profile::HDR_TIMESTAMP)?;
    let nonce = get(profile::HDR_NONCE)?;
    let sig = get(profile::HDR_SIGNATURE)?;
    if paasid != tif.paasid {
        return Err(format!("网关校验失败：未知的 paasid {paasid}"));
    }
    let t: i64 = ts
        .parse()
        .map_err(|_| "网关校验失败：x-tif-timestamp 不是秒级时间戳".to_string())?;
    if (t - time::epoch_ms() / 1000).abs() > MAX_SKEW_S {
        return Err("网关校验失败：时间戳与服务器时间相差过大".to_string());
    }
    if nonce.is_empty() {
        return Err("网关校验失败：x-tif-nonce 为空".to_string());
    }
    if sig != tif_signature(&ts, &tif.token, &nonce) {
        return Err("网关校验失败：签名不正确".to_string());
    }
    Ok(())
}

/// What a CSB gateway checks (crates/core/src/profile/csb.rs for the string to sign):
/// every `_api_*` header but the signature, with the URL's query parameters no header
/// replaces (`csb::signed_params`), signed with the secret of the access key presented,
/// within the clock skew.
pub fn check_csb(
    headers: &HeaderMap,
    query: Option<&str>,
    csb: &CsbCredentials,
) -> Result<(), String> {
    use yibao_core::profile::csb;
    let get = |name: &str| -> Result<String, String> {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| format!("CSB 网关拒绝：缺少请求头 {name}"))
    };
    let access_key = get(csb::HDR_ACCESS_KEY)?;
    let sig = get(csb::HDR_SIGNATURE)?;
    get(csb::HDR_API_NAME)?;
    get(csb::HDR_API_VERSION)?;
    let ts = get(csb::HDR_TIMESTAMP)?;
    if access_key != csb.access_key {
        return Err(format!("CSB 网关拒绝：未知的 accessKey {access_key}"));
    }
    let t: i64 = ts
        .parse()
        .map_err(|_| "CSB 网关拒绝：_api_timestamp 不是毫秒时间戳".to_string())?;
    if (t - time::epoch_ms()).abs() > MAX_SKEW_S * 1000 {
        return Err("CSB 网关拒绝：时间戳与服务器时间相差过大".to_string());
    }
    let sent: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("_api_"))
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let params = csb::signed_params(&sent, &csb::query_params(query.unwrap_or_default()));
    if sig != csb::signature(&csb::string_to_sign(&params), &csb.secret_key) {
        return Err("CSB 网关拒绝：签名错误（_api_signature 验证失败）".to_string());
    }
    Ok(())
}

/// What an intranet front-end processor with a key checks: the header, exactly.
pub fn check_apikey(headers: &HeaderMap, apikey: &ApikeyCredentials) -> Result<(), String> {
    match headers
        .get(apikey.header.as_str())
        .and_then(|v| v.to_str().ok())
    {
        None => Err(format!("前置机拒绝：缺少请求头 {}", apikey.header)),
        Some(v) if v != apikey.key => Err(format!("前置机拒绝：{} 无效", apikey.header)),
        Some(_) => Ok(()),
    }
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// Field formats of design.md §9. Returns every problem, joined, like the platform's
/// validation messages.
pub fn check_envelope(e: &RequestEnvelope, expected_code: Option<&str>) -> Result<(), String> {
    let mut bad = Vec::new();
    if e.infno.is_empty() || e.infno.len() > 10 {
        bad.push("infno 交易编号不能为空且不超过10位".to_string());
    }
    if e.fixmedins_code.is_empty() {
        bad.push("fixmedins_code 定点医药机构编号不能为空".into());
    }
    if let Some(code) = expected_code {
        if e.fixmedins_code != code {
            bad.push(format!("fixmedins_code {} 不是本机构", e.fixmedins_code));
        }
    }
    match e.msgid.strip_prefix(&e.fixmedins_code) {
        Some(rest) if digits(rest, 18) && time::parse_compact(&rest[..14]).is_some() => {
            if e.fixmedins_code.len() == 12 && e.msgid.len() != 30 {
                bad.push("msgid 报文ID应为30位".into());
            }
        }
        _ => bad.push(format!(
            "msgid {} 格式错误，应为 定点机构编号+yyyyMMddHHmmss+4位顺序号",
            e.msgid
        )),
    }
    if time::parse_datetime(&e.inf_time).is_none() {
        bad.push(format!(
            "inf_time {} 格式错误，应为 yyyy-MM-dd HH:mm:ss",
            e.inf_time
        ));
    }
    if !digits(&e.mdtrtarea_admvs, 6) {
        bad.push("mdtrtarea_admvs 就医地医保区划应为6位数字".into());
    }
    if !(e.insuplc_admdvs.is_empty() || digits(&e.insuplc_admdvs, 6)) {
        bad.push("insuplc_admdvs 参保地医保区划应为6位数字或为空".into());
    }
    if !matches!(e.opter_type.as_str(), "1" | "2" | "3") {
        bad.push("opter_type 经办人类别应为 1、2 或 3".into());
    }
    if e.opter.is_empty() || e.opter_name.is_empty() {
        bad.push("opter/opter_name 经办人及姓名不能为空".into());
    }
    if e.infver.is_empty() {
        bad.push("infver 接口版本号不能为空".into());
    }
    if e.recer_sys_code.len() > 10 {
        bad.push("recer_sys_code 接收方系统代码不超过10位".into());
    }
    if !e.input.is_object() {
        bad.push("input 交易输入应为JSON对象".into());
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(bad.join("；"))
    }
}

/// Checks that `input.<root>` is an object holding every field in `required` (non-empty).
pub fn required<'a>(
    input: &'a serde_json::Value,
    root: &str,
    fields: &[&str],
) -> Result<&'a serde_json::Map<String, serde_json::Value>, String> {
    let obj = input
        .get(root)
        .and_then(|v| v.as_object())
        .ok_or_else(|| format!("input.{root} 节点缺失或不是对象"))?;
    let missing: Vec<&str> = fields
        .iter()
        .copied()
        .filter(|f| match obj.get(*f) {
            None | Some(serde_json::Value::Null) => true,
            Some(serde_json::Value::String(s)) => s.trim().is_empty(),
            _ => false,
        })
        .collect();
    if missing.is_empty() {
        Ok(obj)
    } else {
        Err(format!("必填字段缺失：{}", missing.join("、")))
    }
}

/// The platform's reading of the envelope's `cainfo` for the interfaces that carry one
/// (2207, 2304, 2102), when the simulator was given the key: the plaintext, `None` for an
/// empty one (or no key, or another interface), `Err` — the refusal's text — for one that
/// does not decrypt.
pub fn cainfo(
    opener: Option<&CainfoOpener>,
    e: &RequestEnvelope,
) -> Result<Option<String>, String> {
    match opener {
        Some(opener) if DEFAULT_INTERFACES.contains(&e.infno.as_str()) && !e.cainfo.is_empty() => {
            opener
                .open(&e.cainfo)
                .map(Some)
                .map_err(|err| err.to_string())
        }
        _ => Ok(None),
    }
}
