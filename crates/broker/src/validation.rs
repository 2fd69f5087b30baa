//! Checking a request before anything is sent: the interface code, the JSON, and the
//! catalog's rules for its input (required fields, dictionaries, 身份证号, dates, amounts,
//! conditional rules). The same check answers `Validate` on the pipe (`yibao-call
//! validate`), so what a developer tests is exactly what the broker will do.
//!
//! Also here: turning a successful reply's output into the rows of
//! `medical_insurance_response_fields`.

use serde_json::Value;
use yibao_core::{InterfaceInfo, Violations};
use yibao_proto::Response;
use yibao_store::ResponseField;

use crate::config::{UnknownInterfaces, ValidationMode};
use crate::worker::Worker;

/// Why a request cannot be sent as it is.
pub(crate) enum Refusal {
    /// Not a request at all (bad code, not JSON, unknown interface).
    Malformed(String),
    /// Breaks the catalog's rules (the request itself is readable).
    Rules(Violations, InterfaceInfo, Value),
}

impl Worker {
    /// The interface and parsed input of a request that may be sent, or the reason (中文 /
    /// English) it ends `ERROR` unsent. Catalog rules only stop it when validation is
    /// `enforce`; under `warn` they are logged (field names, never values).
    pub(crate) fn check(
        &self,
        code: &str,
        input_data: &str,
    ) -> Result<(InterfaceInfo, Value), String> {
        match self.inspect(code, input_data) {
            Ok(ok) => Ok(ok),
            Err(Refusal::Malformed(m)) => Err(m),
            Err(Refusal::Rules(v, info, input)) => match self.validation {
                ValidationMode::Enforce => Err(v.message(code)),
                ValidationMode::Warn | ValidationMode::Off => {
                    tracing::warn!(
                        "catalog rules broken, sent anyway (validation = warn): {}",
                        v.message(code)
                    );
                    Ok((info, input))
                }
            },
        }
    }

    fn inspect(&self, code: &str, input_data: &str) -> Result<(InterfaceInfo, Value), Refusal> {
        self.inspect_with(code, input_data, self.validation != ValidationMode::Off)
    }

    fn inspect_with(
        &self,
        code: &str,
        input_data: &str,
        rules: bool,
    ) -> Result<(InterfaceInfo, Value), Refusal> {
        if !yibao_core::Catalog::is_well_formed(code) {
            return Err(Refusal::Malformed(format!(
                "交易编号格式错误：{code:?}（应为如 1101 的字母数字）/ malformed interface code {code:?}"
            )));
        }
        let info = self.catalog.get(code);
        if !info.known && self.unknown_interfaces == UnknownInterfaces::Reject {
            return Err(Refusal::Malformed(format!(
                "未知的交易编号 {code}，未发送；如确需调用，请在配置 [interfaces.{code}] 中登记 / \
                 unknown interface code {code}, not sent; declare it under [interfaces.{code}] to allow it"
            )));
        }
        let input: Value = serde_json::from_str(input_data).map_err(|e| {
            Refusal::Malformed(format!(
                "input_data 不是合法的 JSON / input_data is not valid JSON: {e}"
            ))
        })?;
        if !input.is_object() {
            return Err(Refusal::Malformed(
                "input_data 必须是 JSON 对象，如 {\"data\":{…}} / input_data must be a JSON object such as {\"data\":{…}}"
                    .to_string(),
            ));
        }
        // A cainfo the HIS passed must be text (its value is never in the message).
        self.platform
            .check_cainfo(code, &input)
            .map_err(Refusal::Malformed)?;
        if rules {
            let problems = self.catalog.validate(code, &input);
            if !problems.is_empty() {
                return Err(Refusal::Rules(problems, info, input));
            }
        }
        Ok((info, input))
    }

    /// `Validate` on the pipe: the full check, whatever the site's validation mode, with
    /// nothing recorded or sent.
    pub fn validate_only(&self, code: &str, input_data: &str) -> Response {
        // `inspect` skips the rules when validation is off; a developer asking still wants them.
        let (problems, message) = match self.inspect_with(code, input_data, true) {
            Ok(_) => (Vec::new(), String::new()),
            Err(Refusal::Malformed(m)) => (vec![m.clone()], m),
            Err(Refusal::Rules(v, ..)) => {
                let lines = v.0.iter().map(ToString::to_string).collect();
                (lines, v.message(code))
            }
        };
        let message = match (problems.is_empty(), self.validation) {
            (true, _) => format!("{code} 入参校验通过 / {code} input passes the catalog rules"),
            (false, ValidationMode::Enforce) => message,
            (false, mode) => {
                let mode = mode.as_str();
                format!(
                    "{message}（本站 validation = {mode}，请求仍会发送 / this site's validation is {mode}: it would still be sent）"
                )
            }
        };
        Response::Validation {
            ok: problems.is_empty(),
            problems,
            message,
        }
    }

    /// The catalog's output values of a successful reply, as field rows.
    pub(crate) fn output_fields(&self, code: &str, output: &Value) -> Vec<ResponseField> {
        self.catalog
            .output_values(code, output)
            .into_iter()
            .map(|v| ResponseField {
                path: v.path,
                row_index: v.row_index,
                value: v.value,
            })
            .collect()
    }
}
