//! Catalog paths: `data.psn_no`, `feedetail[*].cnt`, `insuinfo[*].balc`.
//!
//! One small syntax for both directions: a path names where a field sits in the input the
//! HIS sends, and where a value sits in the platform's `output`. `[*]` means "every item of
//! this list"; a concrete location is spelled with its index (`feedetail[2].cnt`), which is
//! what validation messages show.

use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub key: String,
    /// `key[*]`: every item of a list.
    pub each: bool,
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub text: String,
    pub segments: Vec<Segment>,
}

/// Where a path's value was found, and the value.
pub type Location<'a> = (String, Option<&'a Value>);

impl Path {
    /// Parses `a.b[*].c`; keys are letters, digits and `_`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut segments = Vec::new();
        for part in text.split('.') {
            let (key, each) = match part.strip_suffix("[*]") {
                Some(k) => (k, true),
                None => (part, false),
            };
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(format!(
                    "路径 {text:?} 格式错误（应如 data.psn_no 或 feedetail[*].cnt）/ \
                     malformed path {text:?} (expected e.g. data.psn_no or feedetail[*].cnt)"
                ));
            }
            segments.push(Segment {
                key: key.to_string(),
                each,
            });
        }
        Ok(Self {
            text: text.to_string(),
            segments,
        })
    }

    /// How many `[*]` steps the path has.
    pub fn lists(&self) -> usize {
        self.segments.iter().filter(|s| s.each).count()
    }

    /// The value at a path without `[*]`, found without allocating (the common case,
    /// checked for every request). `None` for list paths too; use [`Path::locate`] there.
    pub fn get<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        let mut node = root;
        for s in &self.segments {
            if s.each {
                return None;
            }
            node = node.get(&s.key)?;
        }
        Some(node).filter(|v| !v.is_null())
    }

    /// Calls `f` with every concrete location (see [`Path::locate`]); for a path without
    /// `[*]` the location is the path itself and nothing is allocated unless `f` does.
    pub fn visit<'a>(
        &self,
        root: &'a Value,
        mut f: impl FnMut(&dyn Fn() -> String, Option<&'a Value>),
    ) {
        if self.segments.iter().any(|s| s.each) {
            for (at, v) in self.locate(root) {
                f(&|| at.clone(), v);
            }
        } else {
            f(&|| self.text.clone(), self.get(root));
        }
    }

    /// Every concrete location of this path in `root`, with its value (`None` when the
    /// location, or a node on the way to it, is missing). A missing list yields nothing to
    /// check item by item; whether the list itself must exist is the `input` rule's job.
    /// A node where a list is expected but a single object stands is taken as a list of one
    /// (some provinces send single items unwrapped).
    pub fn locate<'a>(&self, root: &'a Value) -> Vec<Location<'a>> {
        let mut out = Vec::new();
        walk(&self.segments, Some(root), String::new(), &mut out);
        out
    }

    /// The first value at this path (`[*]` takes the first item), if any.
    pub fn first<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        if self.segments.iter().all(|s| !s.each) {
            return self.get(root);
        }
        self.locate(root)
            .into_iter()
            .find_map(|(_, v)| v.filter(|v| !v.is_null()))
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn walk<'a>(segs: &[Segment], node: Option<&'a Value>, at: String, out: &mut Vec<Location<'a>>) {
    let Some((seg, rest)) = segs.split_first() else {
        out.push((at, node));
        return;
    };
    let here = join(&at, &seg.key);
    let child = node.and_then(|n| n.get(&seg.key)).filter(|v| !v.is_null());
    if !seg.each {
        return walk(rest, child, here, out);
    }
    match child {
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                walk(rest, Some(item), format!("{here}[{i}]"), out);
            }
        }
        Some(single) => walk(rest, Some(single), format!("{here}[0]"), out),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_refuses() {
        let p = Path::parse("feedetail[*].cnt").unwrap();
        assert_eq!(p.segments.len(), 2);
        assert!(p.segments[0].each);
        assert_eq!(p.lists(), 1);
        for bad in ["", "a..b", "a.b[0]", "a b", "a.[*]", "数据.x"] {
            assert!(Path::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn locates_lists_and_missing_nodes() {
        let v = json!({"feedetail": [{"cnt": 1}, {"cnt": null}, {}], "data": {"a": "x"}});
        let p = Path::parse("feedetail[*].cnt").unwrap();
        let found: Vec<_> = p
            .locate(&v)
            .into_iter()
            .map(|(at, v)| (at, v.cloned()))
            .collect();
        assert_eq!(
            found,
            vec![
                ("feedetail[0].cnt".to_string(), Some(json!(1))),
                ("feedetail[1].cnt".to_string(), None),
                ("feedetail[2].cnt".to_string(), None),
            ]
        );
        let missing = Path::parse("data.b.c").unwrap().locate(&v);
        assert_eq!(missing, vec![("data.b.c".to_string(), None)]);
        assert_eq!(
            Path::parse("nolist[*].x").unwrap().locate(&v),
            Vec::<(String, Option<&Value>)>::new()
        );
        let single = json!({"feedetail": {"cnt": 2}});
        assert_eq!(
            Path::parse("feedetail[*].cnt").unwrap().first(&single),
            Some(&json!(2))
        );
    }
}
