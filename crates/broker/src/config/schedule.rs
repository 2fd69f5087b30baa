//! `[[schedule]]`: batch jobs the broker starts on a calendar (docs/batch.md).
//!
//! ```toml
//! [[schedule]]
//! name = "catalog-1301"          # unique; names the job rows it makes
//! cron = "30 2 * * *"            # minute hour day month weekday, Beijing time
//! kind = "catalog-download"
//! params = { catalog = "1301" }
//! catch_up_minutes = 60          # a slot missed while no broker ran, run if this late
//! ```

use serde::{Deserialize, Serialize};

use crate::jobs::cron::Cron;

/// One `[[schedule]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleEntry {
    pub name: String,
    pub cron: String,
    pub kind: String,
    #[serde(default = "no_params")]
    pub params: toml::Table,
    #[serde(default = "default_catch_up")]
    pub catch_up_minutes: u32,
}

fn no_params() -> toml::Table {
    toml::Table::new()
}

fn default_catch_up() -> u32 {
    60
}

/// Longest catch-up: a day (an older slot is better run by hand).
const MAX_CATCH_UP: u32 = 1440;

impl ScheduleEntry {
    /// The job's parameters as the JSON text stored in `medical_insurance_jobs.params`.
    pub fn params_json(&self) -> String {
        serde_json::to_value(&self.params)
            .unwrap_or(serde_json::Value::Null)
            .to_string()
    }

    pub fn cron(&self) -> Result<Cron, String> {
        Cron::parse(&self.cron)
    }
}

/// Checks every entry: a name (unique, 1–100 characters), a cron time, a known kind with
/// parameters it accepts.
pub(crate) fn validate(entries: &[ScheduleEntry]) -> Result<(), String> {
    for (i, e) in entries.iter().enumerate() {
        let name = e.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(format!(
                "第 {} 个 [[schedule]] 的 name 须为 1 到 100 个字符 / schedule #{} needs a name of 1–100 characters",
                i + 1,
                i + 1
            ));
        }
        if entries[..i].iter().any(|o| o.name.trim() == name) {
            return Err(format!(
                "[[schedule]] 名称重复 / duplicate schedule name: {name}"
            ));
        }
        let what = |m: String| format!("[[schedule]] {name}: {m}");
        e.cron().map_err(what)?;
        crate::jobs::check(&e.kind, &e.params_json()).map_err(what)?;
        if e.catch_up_minutes > MAX_CATCH_UP {
            return Err(what(format!(
                "catch_up_minutes 最大为 {MAX_CATCH_UP} / catch_up_minutes is at most {MAX_CATCH_UP}"
            )));
        }
    }
    Ok(())
}
