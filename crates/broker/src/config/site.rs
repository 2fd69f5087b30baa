//! `[site] dir = …`: a site pack, the province's choices shipped as one folder
//! (`sites/<name>/`, docs/config.md): `site.toml`, a config fragment the hospital's file is
//! laid over; `catalog.toml` (optional), a catalog overlay read before the hospital's own
//! `[catalog] file`; and a README saying what the hospital must still set.
//!
//! # Why the two files are merged as parsed documents, spans kept
//!
//! The hospital's file wins key by key over the pack's `site.toml`, so the two are merged as
//! TOML tables before they become a [`Config`]. Merging `toml::Table`s would lose what makes
//! the config's errors useful (line, caret, the valid keys: `deny_unknown_fields` reports them
//! through the parser's spans), and deserialising each file alone cannot work (neither holds
//! every required key). So both are parsed into the parser's own spanned documents
//! ([`DeTable`]), the pack's spans moved past the end of the hospital's text, the two merged
//! and deserialised once with the same types as any config. An error's span then says which
//! file is at fault, and it is shown in that file's own lines, with that file's path.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::de::{DeArray, DeTable, DeValue};
use toml::Spanned;

use super::{read_text, Config, ConfigError};

/// The pack's config fragment, in its folder.
pub const FRAGMENT: &str = "site.toml";
/// The pack's catalog overlay, in its folder (optional).
pub const CATALOG: &str = "catalog.toml";

/// `[site]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSection {
    /// The pack's folder; relative to the config file.
    pub dir: PathBuf,
}

impl SiteSection {
    /// The pack's name: its folder's (`example-province`).
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.dir.display().to_string())
    }

    /// The pack's `site.toml`.
    pub fn fragment(&self) -> PathBuf {
        self.dir.join(FRAGMENT)
    }

    /// The pack's `catalog.toml`, when it has one.
    pub fn catalog(&self) -> Option<PathBuf> {
        Some(self.dir.join(CATALOG)).filter(|p| p.exists())
    }
}

/// Tables a pack may not hold: they are the hospital's own (its machine, its store, its
/// operations), or would be a second way to say what another file says.
const HOSPITAL_TABLES: &[&str] = &["broker", "store", "log", "status_page", "files", "schedule"];

/// Keys holding secrets or one hospital's credentials, which a pack never carries (a pack is
/// shared by every hospital of a province and kept in this repository). `[platform.headers]`
/// is among them as a whole: its values may be secrets. A new such key of `[platform]` goes
/// here (a test finds every secret a config can hold).
pub(super) const SECRET_KEYS: &[&[&str]] = &[
    &["platform", "tif_token"],
    &["platform", "csb_access_key"],
    &["platform", "csb_secret_key"],
    &["platform", "apikey"],
    &["platform", "headers"],
    &["platform", "cainfo", "key"],
    &["platform", "sm", "app_secret"],
    &["platform", "sm", "private_key"],
    &["platform", "sm", "sm4_key"],
];

/// Reads config text (`own` is its file, for errors; `base` the folder its relative paths
/// start from): as written, or — with `[site] dir` — laid over the pack's `site.toml`.
pub(super) fn parse(text: &str, own: &Path, base: Option<&Path>) -> Result<Config, ConfigError> {
    let parse_error = |path: &Path, message: String| ConfigError::Parse {
        path: path.to_path_buf(),
        message,
    };
    let doc = DeTable::parse(text).map_err(|e| parse_error(own, e.to_string()))?;
    let Some(dir) = site_dir(doc.get_ref()) else {
        // No pack (or a [site] table the typed read below reports at its line).
        return toml::from_str(text).map_err(|e| parse_error(own, e.to_string()));
    };
    let dir = match base {
        Some(b) if dir.is_relative() => b.join(dir),
        _ => dir,
    };
    let site = SiteSection { dir };
    let fragment = site.fragment();
    if !site.dir.is_dir() {
        return Err(pack_error(
            &site.dir,
            format!(
                "站点包目录不存在（{own} 的 [site] dir）/ no such folder, named by [site] dir",
                own = own.display()
            ),
        ));
    }
    if !fragment.is_file() {
        return Err(pack_error(
            &site.dir,
            format!("站点包缺少 {FRAGMENT} / the pack has no {FRAGMENT}"),
        ));
    }
    let pack_text = read_text(&fragment)?;
    let pack = DeTable::parse(&pack_text).map_err(|e| parse_error(&fragment, e.to_string()))?;
    refuse_hospital_keys(pack.get_ref())
        .map_err(|(span, why)| parse_error(&fragment, located(&pack_text, span, &why)))?;
    let offset = text.len() + 1;
    let (span, mut merged) = (doc.span(), doc.into_inner());
    lay_under(&mut merged, shift_table(pack.into_inner(), offset));
    Config::deserialize(toml::de::Deserializer::from(Spanned::new(span, merged))).map_err(|e| {
        let texts = Texts {
            own,
            text,
            fragment: &fragment,
            pack_text: &pack_text,
            offset,
        };
        texts.attribute(e)
    })
}

/// The two files merged, for telling which one an error is in.
struct Texts<'a> {
    own: &'a Path,
    text: &'a str,
    fragment: &'a Path,
    pack_text: &'a str,
    /// Where the pack's spans start (past the end of the hospital's text).
    offset: usize,
}

impl Texts<'_> {
    /// The merged document's error, shown in the file its span lies in (with that file's
    /// path); one without a span is the hospital's file's, naming the pack it was merged with.
    fn attribute(&self, mut e: toml::de::Error) -> ConfigError {
        match e.span() {
            Some(at) if at.start >= self.offset => {
                let at = at.start - self.offset..at.end.saturating_sub(self.offset);
                if let Some(table) = self.pack_only_table(&at) {
                    // About a whole table the hospital's file lacks (a key neither file
                    // sets): the fix is in the hospital's file, not in the pack.
                    return ConfigError::Parse {
                        path: self.own.to_path_buf(),
                        message: format!(
                            "{}\n（[{table}] 只在站点包 {} 中：缺少的项写在本文件的 [{table}] 中 / \
                             this file has no [{table}]: add the missing keys there）",
                            e.message().trim_end(),
                            self.fragment.display()
                        ),
                    };
                }
                ConfigError::Parse {
                    path: self.fragment.to_path_buf(),
                    message: located(self.pack_text, at, e.message()),
                }
            }
            _ => {
                e.set_input(Some(self.text));
                ConfigError::Parse {
                    path: self.own.to_path_buf(),
                    message: format!(
                        "{}\n（已合并站点包 / merged with the site pack {}）",
                        e.to_string().trim_end(),
                        self.fragment.display()
                    ),
                }
            }
        }
    }

    /// The dotted name of the pack's table whose span is `at`, if the error is about one.
    fn pack_only_table(&self, at: &Range<usize>) -> Option<String> {
        fn find(table: &DeTable<'_>, at: &Range<usize>, path: &mut Vec<String>) -> Option<String> {
            for (key, value) in table {
                let DeValue::Table(inner) = value.get_ref() else {
                    continue;
                };
                path.push(key.get_ref().to_string());
                if value.span() == *at {
                    return Some(path.join("."));
                }
                if let Some(found) = find(inner, at, path) {
                    return Some(found);
                }
                path.pop();
            }
            None
        }
        let doc = DeTable::parse(self.pack_text).ok()?;
        find(doc.get_ref(), at, &mut Vec::new())
    }
}

/// `[site] dir` when the document names a pack as a string.
fn site_dir(doc: &DeTable<'_>) -> Option<PathBuf> {
    let site = doc.get("site")?.get_ref().as_table()?;
    let dir = site.get("dir")?.get_ref().as_str()?;
    Some(PathBuf::from(dir))
}

fn pack_error(dir: &Path, message: String) -> ConfigError {
    ConfigError::Site {
        path: dir.to_path_buf(),
        message,
    }
}

/// The first key of the pack that belongs in the hospital's file, with its span and why.
fn refuse_hospital_keys(pack: &DeTable<'_>) -> Result<(), (Range<usize>, String)> {
    let key_span = |table: &DeTable<'_>, key: &str| {
        table
            .get_key_value(key)
            .map(|(k, _)| k.span())
            .unwrap_or(0..0)
    };
    if pack.contains_key("site") {
        return Err((
            key_span(pack, "site"),
            "站点包中不能再指定站点包 / a site pack cannot name another pack ([site])".into(),
        ));
    }
    if pack.contains_key("interfaces") {
        return Err((
            key_span(pack, "interfaces"),
            format!(
                "站点包的接口规则写在 {CATALOG} / a pack's interface rules go in its {CATALOG}"
            ),
        ));
    }
    if let Some(key) = HOSPITAL_TABLES.iter().find(|k| pack.contains_key(**k)) {
        return Err((
            key_span(pack, key),
            format!(
                "[{key}] 由医院在自己的配置文件中设置；站点包只含 [platform]、[institution]、\
                 [catalog] validation / the hospital sets [{key}] in its own file: a pack holds \
                 the province's choices only"
            ),
        ));
    }
    let catalog = pack.get("catalog").and_then(|c| c.get_ref().as_table());
    if let Some(catalog) = catalog.filter(|c| c.contains_key("file")) {
        return Err((
            key_span(catalog, "file"),
            format!(
                "站点包的接口目录就是同一目录下的 {CATALOG} / a pack's catalog is its {CATALOG}"
            ),
        ));
    }
    for path in SECRET_KEYS {
        let Some((last, tables)) = path.split_last() else {
            continue;
        };
        let mut table = Some(pack);
        for name in tables {
            table = table.and_then(|t| t.get(*name)?.get_ref().as_table());
        }
        if let Some(t) = table.filter(|t| t.contains_key(*last)) {
            return Err((
                key_span(t, last),
                format!(
                    "密钥和本院的凭据不放在站点包中，由医院在自己的配置文件中设置 / secrets and a \
                     hospital's credentials never live in a site pack: the hospital sets {} in \
                     its own file",
                    path.join(".")
                ),
            ));
        }
    }
    Ok(())
}

/// Lays `pack` under `own`: keys of `own` win; tables present in both merge key by key.
fn lay_under<'i>(own: &mut DeTable<'i>, pack: DeTable<'i>) {
    for (key, value) in pack {
        match own.get_mut(&key) {
            None => {
                own.insert(key, value);
            }
            Some(mine) => {
                if let (DeValue::Table(mine), DeValue::Table(theirs)) =
                    (mine.get_mut(), value.into_inner())
                {
                    lay_under(mine, theirs);
                }
            }
        }
    }
}

fn shift_span(span: Range<usize>, by: usize) -> Range<usize> {
    span.start + by..span.end + by
}

fn shift_table(table: DeTable<'_>, by: usize) -> DeTable<'_> {
    let mut out = DeTable::new();
    for (key, value) in table {
        let key_span = shift_span(key.span(), by);
        out.insert(Spanned::new(key_span, key.into_inner()), shift(value, by));
    }
    out
}

/// `value` with its span and every span inside it moved by `by`.
fn shift(value: Spanned<DeValue<'_>>, by: usize) -> Spanned<DeValue<'_>> {
    let span = shift_span(value.span(), by);
    let inner = match value.into_inner() {
        DeValue::Table(t) => DeValue::Table(shift_table(t, by)),
        DeValue::Array(a) => {
            DeValue::Array(a.into_iter().map(|v| shift(v, by)).collect::<DeArray<'_>>())
        }
        other => other,
    };
    Spanned::new(span, inner)
}

/// `message` at `span` of `text`, laid out as the TOML parser lays out its own errors (the
/// line's number and text, a caret under the place), so errors in either file read alike.
fn located(text: &str, span: Range<usize>, message: &str) -> String {
    let start = (0..=span.start.min(text.len()))
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line = text[..line_start].matches('\n').count() + 1;
    let content = text[line_start..].split('\n').next().unwrap_or_default();
    let content = content.strip_suffix('\r').unwrap_or(content);
    let column = text[line_start..start].chars().count();
    let width = span
        .end
        .saturating_sub(span.start)
        .min(content.len().saturating_sub(column))
        .max(1);
    let gutter = " ".repeat(line.to_string().len() + 1);
    format!(
        "TOML parse error at line {line}, column {}\n{gutter}|\n{line} | {content}\n\
         {gutter}|{} {}\n{message}\n",
        column + 1,
        " ".repeat(column),
        "^".repeat(width)
    )
}

#[cfg(test)]
#[path = "site_tests.rs"]
mod tests;
