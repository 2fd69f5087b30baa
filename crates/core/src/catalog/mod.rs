//! The interface catalog: what each 交易编号 is, how the broker must treat it, what its input
//! must look like and which output values SQL gets as rows.
//!
//! The catalog is data (`crates/core/catalog/national.toml`, compiled in), laid over by
//! catalog files of the same shape in order ([`Overlay`]: a site pack's `catalog.toml`, then
//! the hospital's own `[catalog] file`) and then by the `[interfaces.<code>]` keys of the
//! broker's config. The class decides retries (design.md §4): a read-only query may be resent
//! freely, a state-changing call (registration, settlement, …) must never be applied twice.
//! Codes the catalog does not know are treated as state-changing: the safe default for money.

mod file;
mod format;
mod output;
mod path;
mod validate;

use std::collections::HashMap;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use file::{CatalogFile, EntryFile, FieldRule, WhenRule};
pub use format::{certno_check_char, Format};
pub use output::OutputValue;
pub use path::Path;
pub use validate::{Violation, Violations};

use validate::{CompiledField, CompiledWhen, Rules};

/// The catalog shipped with this build.
pub const NATIONAL: &str = include_str!("../../catalog/national.toml");

/// Whether a call changes anything on the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InterfaceClass {
    ReadOnly,
    StateChanging,
}

/// What to do when a state-changing call's outcome is unknown (design.md §4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
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

/// A catalog file that cannot be used, worded for the operator who edits it.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("无法读取接口目录文件 / cannot read catalog file {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("接口目录文件格式错误 / invalid catalog file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("接口目录 [interfaces.{code}] 有误 / catalog entry {code} is invalid: {message}")]
    Invalid { code: String, message: String },
}

/// One compiled entry.
#[derive(Debug, Clone)]
struct Entry {
    info: InterfaceInfo,
    rules: Rules,
    output: Vec<Path>,
    psn_no: Option<Path>,
    source: Option<String>,
}

/// A site's change to one entry (from the broker's config file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceOverride {
    pub name: Option<String>,
    pub class: Option<InterfaceClass>,
    pub needs_sign_no: Option<bool>,
    pub reversible: Option<bool>,
    /// `mark` or `reverse` (only for reversible interfaces).
    pub on_uncertain: Option<UncertainPolicy>,
}

/// A catalog file laid over the shipped one, and the name it has in the catalog's version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    /// `site:<pack>` for a site pack's file, `site` for the hospital's own (docs/catalog.md).
    pub label: String,
    pub path: std::path::PathBuf,
}

impl Overlay {
    pub fn new(label: impl Into<String>, path: impl Into<std::path::PathBuf>) -> Self {
        Self {
            label: label.into(),
            path: path.into(),
        }
    }
}

/// What one overlay brought: its label and how many interface codes it names (changed or
/// added), for `check-config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlaid {
    pub label: String,
    pub entries: usize,
}

/// Lookup table from code to [`InterfaceInfo`] and its rules.
#[derive(Debug, Clone)]
pub struct Catalog {
    version: String,
    overlaid: Vec<Overlaid>,
    entries: HashMap<String, Entry>,
}

impl Default for Catalog {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Catalog {
    /// The catalog shipped with yibao. A unit test proves the shipped file compiles, so
    /// failing here is a build defect, not something input can cause.
    pub fn builtin() -> Self {
        Self::load(&[]).expect("the shipped catalog compiles (tested)")
    }

    /// The shipped catalog with `overlays` laid over it in order, each over the ones before
    /// (the one home of the order's effect; the broker's config decides the order).
    pub fn load(overlays: &[Overlay]) -> Result<Self, CatalogError> {
        let national = parse_text(NATIONAL, "national.toml")?;
        let mut versions = vec![national
            .catalog_version
            .clone()
            .unwrap_or_else(|| "national".into())];
        let mut files = vec![national];
        let mut overlaid = Vec::new();
        for o in overlays {
            let text = std::fs::read_to_string(&o.path).map_err(|source| CatalogError::Read {
                path: o.path.clone(),
                source,
            })?;
            let file = parse_text(&text, &o.path.display().to_string())?;
            versions.push(match &file.catalog_version {
                Some(v) => format!("{}@{v}", o.label),
                None => o.label.clone(),
            });
            overlaid.push(Overlaid {
                label: o.label.clone(),
                entries: file.interfaces.len(),
            });
            files.push(file);
        }
        let mut catalog = Self::compile(files)?;
        catalog.version = versions.join("+");
        catalog.overlaid = overlaid;
        Ok(catalog)
    }

    /// Lays the files over each other in order, then compiles every entry.
    fn compile(files: Vec<CatalogFile>) -> Result<Self, CatalogError> {
        let mut merged: HashMap<String, EntryFile> = HashMap::new();
        for f in files {
            for (code, e) in f.interfaces {
                merged.entry(code).or_default().overlay(e);
            }
        }
        let mut entries = HashMap::new();
        for (code, e) in merged {
            let entry = compile_entry(&code, e).map_err(|message| CatalogError::Invalid {
                code: code.clone(),
                message,
            })?;
            entries.insert(code, entry);
        }
        Ok(Self {
            version: String::new(),
            overlaid: Vec::new(),
            entries,
        })
    }

    /// The content version: the shipped file's, then each overlay's label with the
    /// `catalog_version` its file names (`2026.11.1+site:example-province@2026.1+site`), so
    /// `check-config` shows which files made the catalog.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The overlays laid over the shipped catalog, in order.
    pub fn overlaid(&self) -> &[Overlaid] {
        &self.overlaid
    }

    /// Whether `code` is in the catalog (no copy made, unlike [`Catalog::get`]).
    pub fn contains(&self, code: &str) -> bool {
        self.entries.contains_key(code)
    }

    /// Every code in the catalog, sorted.
    pub fn codes(&self) -> Vec<String> {
        let mut c: Vec<String> = self.entries.keys().cloned().collect();
        c.sort();
        c
    }

    /// Checks `input` (the envelope's `input` object) against the rules of `code`. Codes
    /// without rules pass.
    pub fn validate(&self, code: &str, input: &Value) -> Violations {
        self.entries
            .get(code)
            .map(|e| e.rules.check(input))
            .unwrap_or_default()
    }

    /// The catalog's output values of `code` found in a successful reply's `output`.
    pub fn output_values(&self, code: &str, output: &Value) -> Vec<OutputValue> {
        self.entries
            .get(code)
            .map(|e| output::extract(&e.output, output))
            .unwrap_or_default()
    }

    /// The output paths of `code` (the simulator fills them in its answers).
    pub fn output_paths(&self, code: &str) -> Vec<Path> {
        self.entries
            .get(code)
            .map(|e| e.output.clone())
            .unwrap_or_default()
    }

    /// The 人员编号 in an input of `code`, where the catalog says it sits.
    pub fn psn_no(&self, code: &str, input: &Value) -> Option<String> {
        let p = self.entries.get(code)?.psn_no.as_ref()?;
        p.first(input).and_then(|v| v.as_str()).map(str::to_string)
    }

    /// Where the entry's rules come from.
    pub fn source(&self, code: &str) -> Option<&str> {
        self.entries.get(code)?.source.as_deref()
    }

    /// Applies a site's overrides; unknown codes become new entries.
    pub fn with_overrides<'a>(
        mut self,
        overrides: impl IntoIterator<Item = (&'a String, &'a InterfaceOverride)>,
    ) -> Self {
        for (code, o) in overrides {
            let e = &mut self
                .entries
                .entry(code.clone())
                .or_insert_with(|| Entry {
                    info: Self::unknown(code),
                    rules: Rules::default(),
                    output: Vec::new(),
                    psn_no: None,
                    source: None,
                })
                .info;
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
            .map(|e| e.info.clone())
            .unwrap_or_else(|| Self::unknown(code))
    }

    /// Whether `code` looks like an interface code at all (1–10 ASCII letters/digits), the
    /// check made before anything is sent.
    pub fn is_well_formed(code: &str) -> bool {
        (1..=10).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric())
    }
}

fn parse_text(text: &str, name: &str) -> Result<CatalogFile, CatalogError> {
    toml::from_str(text).map_err(|e| CatalogError::Parse {
        path: name.to_string(),
        message: e.to_string(),
    })
}

fn paths(list: &[String]) -> Result<Vec<Path>, String> {
    list.iter().map(|p| Path::parse(p)).collect()
}

fn compile_entry(code: &str, e: EntryFile) -> Result<Entry, String> {
    if !Catalog::is_well_formed(code) {
        return Err("交易编号应为1–10位字母数字 / codes are 1–10 letters and digits".into());
    }
    let output = paths(e.output.as_deref().unwrap_or_default())?;
    if let Some(p) = output.iter().find(|p| p.lists() > 1) {
        return Err(format!(
            "输出路径 {} 最多含一个 [*] / output path {} may have at most one [*]",
            p.text, p.text
        ));
    }
    let mut fields = Vec::new();
    for (text, rule) in e.fields {
        let pattern = match &rule.pattern {
            None => None,
            Some(p) => Some(Regex::new(&format!("^(?:{p})$")).map_err(|err| {
                format!("{text} 的 pattern 无效 / invalid pattern for {text}: {err}")
            })?),
        };
        fields.push(CompiledField {
            path: Path::parse(&text)?,
            rule,
            pattern,
        });
    }
    let mut when = Vec::new();
    for w in e.when.unwrap_or_default() {
        let field = Path::parse(&w.field)?;
        if field.lists() > 0 {
            return Err(format!(
                "when.field {} 不能含 [*] / when.field {} cannot contain [*]",
                w.field, w.field
            ));
        }
        let mut format = Vec::new();
        for (p, f) in w.format {
            format.push((Path::parse(&p)?, f));
        }
        when.push(CompiledWhen {
            field,
            values: w.values,
            require: paths(&w.require)?,
            format,
            note: w.note,
        });
    }
    let psn_no = e.psn_no.as_deref().map(Path::parse).transpose()?;
    let class = e.class.unwrap_or(InterfaceClass::StateChanging);
    Ok(Entry {
        info: InterfaceInfo {
            code: code.to_string(),
            name: e.name.unwrap_or_else(|| code.to_string()),
            class,
            needs_sign_no: e.needs_sign_no.unwrap_or(true),
            reversible: e.reversible.unwrap_or(false),
            on_uncertain: UncertainPolicy::Mark,
            known: true,
        },
        rules: Rules {
            input: paths(e.input.as_deref().unwrap_or_default())?
                .into_iter()
                .map(validate::input_root)
                .collect(),
            fields,
            when,
        },
        output,
        psn_no,
        source: e.source,
    })
}

#[cfg(test)]
mod tests;
