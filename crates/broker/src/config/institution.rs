//! `[institution]`: the envelope's defaults. The keys the platform needs in practice are
//! checked together, so one run of `check-config` names every missing or wrong key instead
//! of one per edit-and-retry.

use yibao_core::EnvelopeDefaults;

use super::ConfigError;

/// One problem: the key and what is wrong with it (中文 / English).
fn problem(key: &str, message: &str) -> String {
    format!("institution.{key}：{message}")
}

/// Every missing or invalid required key of `[institution]`, in file order.
pub(super) fn problems(i: &EnvelopeDefaults) -> Vec<String> {
    let mut out = Vec::new();
    let missing = "缺少或为空 / missing or empty";
    let code = &i.fixmedins_code;
    if code.is_empty() || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
        out.push(problem(
            "fixmedins_code",
            "只能是字母和数字（如 H43010000001）/ must be letters and digits (e.g. H43010000001)",
        ));
    }
    if i.fixmedins_name.trim().is_empty() {
        out.push(problem("fixmedins_name", missing));
    }
    let area = &i.mdtrtarea_admvs;
    if area.len() != 6 || !area.chars().all(|c| c.is_ascii_digit()) {
        out.push(problem(
            "mdtrtarea_admvs",
            "须为 6 位数字的就医地医保区划（如 430100）/ must be the 6-digit division (e.g. 430100)",
        ));
    }
    let required = [
        ("opter", &i.opter),
        ("opter_name", &i.opter_name),
        ("mac", &i.mac),
        ("ip", &i.ip),
    ];
    for (key, value) in required {
        if value.trim().is_empty() {
            out.push(problem(key, missing));
        }
    }
    out
}

/// All of [`problems`] as one error, or none.
pub(super) fn check(i: &EnvelopeDefaults) -> Result<(), ConfigError> {
    let found = problems(i);
    if found.is_empty() {
        return Ok(());
    }
    Err(ConfigError::Invalid {
        key: "institution",
        message: format!(
            "{} 项必填设置缺少或无效 / {} required setting(s) missing or invalid:\n  {}",
            found.len(),
            found.len(),
            found.join("\n  ")
        ),
    })
}
