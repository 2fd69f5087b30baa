//! The interface catalog: what each 交易编号 is and how the broker must treat it.
//!
//! The class decides retries (design.md §4): a read-only query may be resent freely, a
//! state-changing call (registration, settlement, …) must never be applied twice. Codes the
//! catalog does not know are treated as state-changing: the safe default for money.

use std::collections::HashMap;

use serde::Deserialize;

/// Whether a call changes anything on the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InterfaceClass {
    ReadOnly,
    StateChanging,
}

/// What to do when a state-changing call's outcome is unknown (design.md §4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UncertainPolicy {
    /// Stay UNCERTAIN, visible in the view with the msgid that was sent.
    #[default]
    Mark,
    /// Send 2601 冲正 for the uncertain attempt; REVERSED when the platform confirms.
    Reverse,
}

/// What the broker knows about one interface code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceInfo {
    pub code: String,
    /// 中文名称, as in the national specification.
    pub name: String,
    pub class: InterfaceClass,
    /// Whether the envelope must carry the `sign_no` of a 9001 sign-in.
    pub needs_sign_no: bool,
    /// Whether 2601 冲正 can undo it.
    pub reversible: bool,
    /// What to do when its outcome is unknown.
    pub on_uncertain: UncertainPolicy,
    /// False for codes that are not in the catalog (defaults applied).
    pub known: bool,
}

use InterfaceClass::{ReadOnly as R, StateChanging as W};

/// (code, name, class, reversible by 2601). All need `sign_no` except 9001 itself.
const BUILTIN: &[(&str, &str, InterfaceClass, bool)] = &[
    ("1101", "人员信息获取", R, false),
    ("1201", "医药机构信息获取", R, false),
    ("1301", "西药中成药目录下载", R, false),
    ("1302", "中药饮片目录下载", R, false),
    ("1305", "医疗服务项目目录下载", R, false),
    ("1306", "医用耗材目录下载", R, false),
    ("1312", "医保目录信息查询", R, false),
    ("1316", "医疗目录与医保目录匹配信息查询", R, false),
    ("1317", "医药机构目录匹配信息查询", R, false),
    ("1318", "医保目录限价信息查询", R, false),
    ("1319", "医保目录先自付比例信息查询", R, false),
    ("1901", "字典表查询", R, false),
    ("2201", "门诊挂号", W, true),
    ("2202", "门诊挂号撤销", W, false),
    ("2203", "门诊就诊信息上传", W, true),
    ("2203A", "门诊就诊信息上传（新）", W, true),
    ("2204", "门诊费用明细信息上传", W, true),
    ("2205", "门诊费用明细信息撤销", W, false),
    ("2206", "门诊预结算", R, false),
    ("2206A", "门诊预结算（新）", R, false),
    ("2207", "门诊结算", W, true),
    ("2207A", "门诊结算（新）", W, true),
    ("2208", "门诊结算撤销", W, true),
    ("2301", "住院费用明细上传", W, true),
    ("2302", "住院费用明细撤销", W, false),
    ("2303", "住院预结算", R, false),
    ("2304", "住院结算", W, true),
    ("2305", "住院结算撤销", W, false),
    ("2401", "入院办理", W, true),
    ("2402", "出院办理", W, true),
    ("2403", "住院信息变更", W, false),
    ("2404", "入院撤销", W, false),
    ("2405", "出院撤销", W, false),
    ("2601", "冲正交易", W, false),
    ("3101", "明细审核事前事中分析服务", R, false),
    ("3102", "明细审核事中分析服务", R, false),
    ("3201", "医药机构费用结算对总账", W, false),
    ("3202", "医药机构费用结算对明细账", W, false),
    ("4101", "医疗保障基金结算清单信息上传", W, false),
    ("4101A", "医疗保障基金结算清单信息上传（新）", W, false),
    ("5201", "就诊信息查询", R, false),
    ("5203", "结算信息查询", R, false),
    ("5204", "费用明细查询", R, false),
    ("5205", "人员慢特病用药记录查询", R, false),
    ("9001", "签到", R, false),
    ("9002", "签退", W, false),
    ("9101", "文件上传", R, false),
    ("9102", "文件下载", R, false),
];

/// A site's change to one entry (from the broker's config file).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceOverride {
    pub name: Option<String>,
    pub class: Option<InterfaceClass>,
    pub needs_sign_no: Option<bool>,
    pub reversible: Option<bool>,
    /// `mark` or `reverse` (only for reversible interfaces).
    pub on_uncertain: Option<UncertainPolicy>,
}

/// Lookup table from code to [`InterfaceInfo`].
#[derive(Debug, Clone)]
pub struct Catalog {
    entries: HashMap<String, InterfaceInfo>,
}

impl Default for Catalog {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Catalog {
    /// The catalog shipped with yibao.
    pub fn builtin() -> Self {
        let entries = BUILTIN
            .iter()
            .map(|&(code, name, class, reversible)| {
                (
                    code.to_string(),
                    InterfaceInfo {
                        code: code.to_string(),
                        name: name.to_string(),
                        class,
                        needs_sign_no: code != "9001",
                        reversible,
                        on_uncertain: UncertainPolicy::Mark,
                        known: true,
                    },
                )
            })
            .collect();
        Self { entries }
    }

    /// Applies a site's overrides; unknown codes become new entries.
    pub fn with_overrides<'a>(
        mut self,
        overrides: impl IntoIterator<Item = (&'a String, &'a InterfaceOverride)>,
    ) -> Self {
        for (code, o) in overrides {
            let e = self
                .entries
                .entry(code.clone())
                .or_insert_with(|| Self::unknown(code));
            if let Some(n) = &o.name {
                e.name = n.clone();
            }
            if let Some(c) = o.class {
                e.class = c;
            }
            if let Some(s) = o.needs_sign_no {
                e.needs_sign_no = s;
            }
            if let Some(r) = o.reversible {
                e.reversible = r;
            }
            if let Some(p) = o.on_uncertain {
                e.on_uncertain = p;
            }
            e.known = true;
        }
        self
    }

    fn unknown(code: &str) -> InterfaceInfo {
        InterfaceInfo {
            code: code.to_string(),
            name: "未知交易".to_string(),
            class: InterfaceClass::StateChanging,
            needs_sign_no: true,
            reversible: false,
            on_uncertain: UncertainPolicy::Mark,
            known: false,
        }
    }

    /// The entry for `code`, or the safe defaults for an unknown code.
    pub fn get(&self, code: &str) -> InterfaceInfo {
        self.entries
            .get(code)
            .cloned()
            .unwrap_or_else(|| Self::unknown(code))
    }

    /// Whether `code` looks like an interface code at all (1–10 ASCII letters/digits), the
    /// check made before anything is sent.
    pub fn is_well_formed(code: &str) -> bool {
        (1..=10).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_entries_exist_with_classes() {
        let c = Catalog::builtin();
        for code in [
            "9001", "9002", "1101", "2201", "2202", "2203", "2204", "2205", "2206", "2207", "2208",
            "2601", "5201",
        ] {
            assert!(c.get(code).known, "{code} missing");
        }
        assert_eq!(c.get("1101").class, InterfaceClass::ReadOnly);
        assert_eq!(c.get("2207").class, InterfaceClass::StateChanging);
        assert!(c.get("2207").reversible);
        assert!(!c.get("9001").needs_sign_no);
        assert!(c.get("1101").needs_sign_no);
    }

    #[test]
    fn unknown_codes_are_state_changing() {
        let i = Catalog::builtin().get("8888");
        assert!(!i.known);
        assert_eq!(i.class, InterfaceClass::StateChanging);
    }

    #[test]
    fn overrides_change_and_extend() {
        let mut o = HashMap::new();
        o.insert(
            "2207".to_string(),
            InterfaceOverride {
                reversible: Some(false),
                ..Default::default()
            },
        );
        o.insert(
            "7001".to_string(),
            InterfaceOverride {
                name: Some("省内自定义查询".into()),
                class: Some(InterfaceClass::ReadOnly),
                ..Default::default()
            },
        );
        let c = Catalog::builtin().with_overrides(&o);
        assert!(!c.get("2207").reversible);
        let x = c.get("7001");
        assert!(x.known);
        assert_eq!(x.class, InterfaceClass::ReadOnly);
        assert_eq!(x.name, "省内自定义查询");
    }

    #[test]
    fn well_formed_codes() {
        assert!(Catalog::is_well_formed("2206A"));
        assert!(!Catalog::is_well_formed(""));
        assert!(!Catalog::is_well_formed("22 07"));
        assert!(!Catalog::is_well_formed("1101;drop"));
    }
}
