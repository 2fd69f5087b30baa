//! The catalog file format (`crates/core/catalog/national.toml`, and a site's own file with
//! the same shape). Every key is optional in a site file: what it names replaces or adds to
//! the shipped entry, what it leaves out stays as shipped (docs/catalog.md).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::format::Format;
use super::InterfaceClass;

/// A whole catalog file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    /// Version of this file's content, shown by `check-config` and in status.
    pub catalog_version: Option<String>,
    #[serde(default)]
    pub interfaces: BTreeMap<String, EntryFile>,
}

/// One interface in a catalog file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryFile {
    pub name: Option<String>,
    pub class: Option<InterfaceClass>,
    pub reversible: Option<bool>,
    pub needs_sign_no: Option<bool>,
    /// Where the 人员编号 sits in the input (needed to build a 2601 冲正).
    pub psn_no: Option<String>,
    /// Nodes that must be present (`x[*]`: a non-empty list). Replaces the shipped list.
    pub input: Option<Vec<String>>,
    /// Output paths copied to `medical_insurance_response_fields`. Replaces the shipped list.
    pub output: Option<Vec<String>>,
    /// Where the entry's rules come from.
    pub source: Option<String>,
    /// Rules per input path; a site file replaces a path's rule, other paths stay.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldRule>,
    /// Conditional rules. Replaces the shipped list when given.
    pub when: Option<Vec<WhenRule>>,
}

/// What one input field must satisfy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    #[serde(default)]
    pub required: bool,
    /// Longest value in characters.
    pub max_len: Option<usize>,
    /// Allowed values (dictionary codes).
    #[serde(rename = "enum")]
    pub one_of: Option<Vec<String>>,
    pub format: Option<Format>,
    /// A regular expression the whole value must match (anchored for you).
    pub pattern: Option<String>,
    /// 中文 name shown in messages, e.g. 人员编号.
    pub label: Option<String>,
}

/// "When `field` is one of `in`, these other rules apply."
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhenRule {
    pub field: String,
    #[serde(rename = "in")]
    pub values: Vec<String>,
    #[serde(default)]
    pub require: Vec<String>,
    #[serde(default)]
    pub format: BTreeMap<String, Format>,
    /// Why, in words (shown in messages).
    pub note: Option<String>,
}

impl EntryFile {
    /// Lays `site` over `self`: given keys win, field rules merge by path.
    pub fn overlay(&mut self, site: EntryFile) {
        macro_rules! take {
            ($($f:ident),*) => { $( if site.$f.is_some() { self.$f = site.$f; } )* };
        }
        take!(
            name,
            class,
            reversible,
            needs_sign_no,
            psn_no,
            input,
            output,
            source,
            when
        );
        self.fields.extend(site.fields);
    }
}
