//! Checking a request's input against its catalog entry before anything is sent.
//!
//! Every problem is collected (not just the first), so the HIS developer fixes a request in
//! one round instead of one field per platform round trip. Messages name the concrete
//! location (`feedetail[2].cnt`) and the field's 中文 label, never the value itself: the
//! message is stored and logged, and the value may be a patient's 身份证号.

use std::borrow::Cow;
use std::fmt;

use regex::Regex;
use serde_json::Value;

use super::file::FieldRule;
use super::format::Format;
use super::path::Path;

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Concrete location, e.g. `data.psn_no` or `feedetail[1].cnt`.
    pub path: String,
    pub zh: String,
    pub en: String,
    /// Names or values both halves would otherwise repeat (the nodes and fields expected),
    /// said once after them; empty for most problems.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} / {}", self.path, self.zh, self.en)?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// All problems of one input; empty means valid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations(pub Vec<Violation>);

impl Violations {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The platform's way of saying it, 中文 only (what the simulator answers).
    pub fn zh_message(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|v| format!("{}{}", v.path, v.zh))
            .collect();
        format!("入参校验失败：{}", parts.join("；"))
    }

    /// For the HIS: every field named once, each problem 中文 first, then English
    /// (`data.psn_no （人员编号）为必填项 / is required`), so a path is not said twice.
    pub fn message(&self, code: &str) -> String {
        let problems: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        format!(
            "{code} 入参校验未通过，未发送（{n} 处）/ input rejected before sending ({n} problem(s)): {}",
            problems.join("；"),
            n = self.0.len()
        )
    }
}

/// A field rule ready to check (pattern compiled).
#[derive(Debug, Clone)]
pub(crate) struct CompiledField {
    pub path: Path,
    pub rule: FieldRule,
    pub pattern: Option<Regex>,
}

impl CompiledField {
    /// `（人员编号）`, or nothing when the rule has no label.
    fn label(&self) -> String {
        self.rule
            .label
            .as_deref()
            .map(|l| format!("（{l}）"))
            .unwrap_or_default()
    }
}

/// A conditional rule ready to check.
#[derive(Debug, Clone)]
pub(crate) struct CompiledWhen {
    pub field: Path,
    pub values: Vec<String>,
    pub require: Vec<Path>,
    pub format: Vec<(Path, Format)>,
    pub note: Option<String>,
}

/// The rules of one interface.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rules {
    pub input: Vec<Path>,
    pub fields: Vec<CompiledField>,
    pub when: Vec<CompiledWhen>,
}

/// A value as the platform reads it: strings as they are, numbers in their JSON spelling.
fn scalar(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

fn is_blank(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        _ => false,
    }
}

impl Rules {
    /// The 中文 label of the field rule at `path` (when-rules name paths, not rules).
    fn label(&self, path: &Path) -> String {
        self.fields
            .iter()
            .find(|f| f.path == *path)
            .map(CompiledField::label)
            .unwrap_or_default()
    }

    pub fn check(&self, input: &Value) -> Violations {
        let mut found = Found::default();
        self.check_shape(input, &mut found);
        self.check_roots(input, &mut found);
        self.check_fields(input, &mut found);
        self.check_when(input, &mut found);
        Violations(found.0)
    }

    /// An input none of whose top-level keys is one of the interface's input nodes was
    /// written for another shape (the seed's own example sends `{"psn_no": …}` to 1101,
    /// whose fields sit under `data`): say which nodes and fields are expected, once, before
    /// the list of missing fields that follows from it.
    fn check_shape(&self, input: &Value, found: &mut Found) {
        let Value::Object(top) = input else { return };
        let nodes: Vec<&str> = self
            .input
            .iter()
            .filter_map(|r| r.segments.first().map(|s| s.key.as_str()))
            .collect();
        if nodes.is_empty() || top.keys().any(|k| nodes.contains(&k.as_str())) {
            return;
        }
        let expected: Vec<String> = self
            .input
            .iter()
            .map(|root| {
                let fields: Vec<&str> = self
                    .fields
                    .iter()
                    .filter(|f| {
                        f.path
                            .text
                            .strip_prefix(root.text.as_str())
                            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
                    })
                    .filter_map(|f| f.path.segments.last().map(|s| s.key.as_str()))
                    .collect();
                match fields.len() {
                    0 => root.text.clone(),
                    1..=6 => format!("{} ({})", root.text, fields.join(", ")),
                    _ => format!("{} ({}, …)", root.text, fields[..6].join(", ")),
                }
            })
            .collect();
        let given: Vec<&str> = top.keys().map(String::as_str).take(6).collect();
        found.push_detailed(
            "input".into(),
            format!(
                "顶层键 {} 都不是本接口的输入节点（各接口的报文形状见 docs/catalog.md）",
                given.join("、")
            ),
            "match none of this interface's input nodes (see docs/catalog.md)".into(),
            format!("应为 / expected {}", expected.join("; ")),
        );
    }

    /// Each input node is present and an object or a non-empty list.
    fn check_roots(&self, input: &Value, found: &mut Found) {
        for root in &self.input {
            root.visit(input, |at, v| match v {
                None => found.push(at(), "节点缺失".into(), "node is missing".into()),
                Some(Value::Array(a)) if a.is_empty() => found.push(
                    at(),
                    "不能为空列表".into(),
                    "must not be an empty list".into(),
                ),
                Some(Value::Object(_) | Value::Array(_)) => {}
                Some(_) => found.push(
                    at(),
                    "应为对象或列表".into(),
                    "must be an object or a list".into(),
                ),
            });
        }
    }

    /// Each field's own rules. Labels and locations are only spelled out for a violation:
    /// a request that passes allocates nothing here.
    fn check_fields(&self, input: &Value, found: &mut Found) {
        for f in &self.fields {
            f.path.visit(input, |at, v| {
                if is_blank(v) {
                    if f.rule.required {
                        found.push(at(), format!("{}为必填项", f.label()), "is required".into());
                    }
                    return;
                }
                match v.and_then(scalar) {
                    None => found.push(
                        at(),
                        format!("{}应为单个值，不能是对象或列表", f.label()),
                        "must be a single value, not an object or a list".into(),
                    ),
                    Some(s) => check_value(at, &s, f, &mut |p, zh, en| found.push(p, zh, en)),
                }
            });
        }
    }

    /// Conditional rules: when a field has one of the listed values.
    fn check_when(&self, input: &Value, found: &mut Found) {
        for w in &self.when {
            let Some(trigger) = w.field.first(input).and_then(scalar) else {
                continue;
            };
            if !w.values.iter().any(|v| *v == trigger) {
                continue;
            }
            // The condition names a field: said once, after both halves.
            let why = || {
                format!(
                    "条件 / when {} = {trigger}{}",
                    w.field.text,
                    w.note
                        .as_deref()
                        .map(|n| format!("（{n}）"))
                        .unwrap_or_default()
                )
            };
            for p in &w.require {
                p.visit(input, |at, v| {
                    if is_blank(v) {
                        let label = self.label(p);
                        found.push_detailed(
                            at(),
                            format!("{label}为必填项"),
                            "is required".into(),
                            why(),
                        );
                    }
                });
            }
            for (p, fmt) in &w.format {
                p.visit(input, |at, v| {
                    if let Some(s) = v.and_then(scalar) {
                        if !s.is_empty() && !fmt.accepts(&s) {
                            let label = self.label(p);
                            let (zh, en) = fmt.describe();
                            found.push_detailed(
                                at(),
                                format!("{label}{zh}"),
                                en.to_string(),
                                why(),
                            );
                        }
                    }
                });
            }
        }
    }
}

/// Violations found so far; the same message at the same place is reported once.
#[derive(Default)]
struct Found(Vec<Violation>);

impl Found {
    fn push(&mut self, path: String, zh: String, en: String) {
        self.push_detailed(path, zh, en, String::new())
    }

    fn push_detailed(&mut self, path: String, zh: String, en: String, detail: String) {
        if !self.0.iter().any(|v| v.path == path && v.zh == zh) {
            self.0.push(Violation {
                path,
                zh,
                en,
                detail,
            });
        }
    }
}

/// An `input` root as checked: `diseinfo[*]` names the list itself, not its items, so the
/// trailing `[*]` is dropped once when the catalog is compiled, not per request.
pub(crate) fn input_root(mut root: Path) -> Path {
    if let Some(last) = root.segments.last_mut() {
        last.each = false;
    }
    root.text = root.text.trim_end_matches("[*]").to_string();
    root
}

fn check_value(
    at: &dyn Fn() -> String,
    s: &str,
    f: &CompiledField,
    push: &mut impl FnMut(String, String, String),
) {
    if let Some(max) = f.rule.max_len {
        let n = s.chars().count();
        if n > max {
            push(
                at(),
                format!("{}长度 {n} 超过 {max}", f.label()),
                format!("is {n} characters long, at most {max} allowed"),
            );
        }
    }
    if let Some(allowed) = &f.rule.one_of {
        if !allowed.iter().any(|a| a == s) {
            let list = allowed.join("/");
            push(
                at(),
                format!("{}取值不在字典范围（{list}）内", f.label()),
                format!("must be one of {list}"),
            );
        }
    }
    if let Some(fmt) = f.rule.format {
        if !fmt.accepts(s) {
            let (zh, en) = fmt.describe();
            push(at(), format!("{}{zh}", f.label()), en.to_string());
        }
    }
    if let Some(re) = &f.pattern {
        if !re.is_match(s) {
            push(
                at(),
                format!("{}格式不符合 {}", f.label(), re.as_str()),
                format!("does not match {}", re.as_str()),
            );
        }
    }
}
