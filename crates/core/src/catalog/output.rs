//! Output fields for SQL without JSON: the catalog names the paths of an interface's output
//! that HIS code needs (2207 `setlinfo.setl_id`, 1101 `insuinfo[*].balc`, …), and the broker
//! writes their values as rows of `medical_insurance_response_fields`, so SQL Server 2008 R2
//! – 2014, which have no JSON functions, read them with a plain SELECT.

use serde_json::Value;

use super::path::Path;

/// One value found in a response's `output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputValue {
    /// The catalog path, e.g. `insuinfo[*].balc` (the same text for every list item).
    pub path: String,
    /// Position in the list for `[*]` paths; 0 otherwise.
    pub row_index: u32,
    /// Strings as they are, numbers in their JSON spelling, objects and lists as JSON text.
    pub value: String,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn descend<'a>(mut node: &'a Value, segments: &[super::path::Segment]) -> Option<&'a Value> {
    for s in segments {
        node = node.get(&s.key)?;
    }
    Some(node)
}

/// The values of `paths` in `output`. Missing and null values give no row. Paths have at
/// most one `[*]` (checked when the catalog is loaded).
pub(crate) fn extract(paths: &[Path], output: &Value) -> Vec<OutputValue> {
    let mut out = Vec::new();
    for p in paths {
        let Some(split) = p.segments.iter().position(|s| s.each) else {
            if let Some(v) = descend(output, &p.segments).and_then(text) {
                out.push(OutputValue {
                    path: p.text.clone(),
                    row_index: 0,
                    value: v,
                });
            }
            continue;
        };
        let (head, tail) = p.segments.split_at(split + 1);
        let items: Vec<&Value> = match descend(output, head) {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(Value::Null) | None => Vec::new(),
            Some(single) => vec![single],
        };
        for (i, item) in items.into_iter().enumerate() {
            if let Some(v) = descend(item, tail).and_then(text) {
                out.push(OutputValue {
                    path: p.text.clone(),
                    row_index: u32::try_from(i).unwrap_or(u32::MAX),
                    value: v,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_lists_and_missing() {
        let paths: Vec<Path> = [
            "setlinfo.setl_id",
            "setlinfo.medfee_sumamt",
            "insuinfo[*].balc",
            "x.y",
        ]
        .iter()
        .map(|p| Path::parse(p).unwrap())
        .collect();
        let output = json!({
            "setlinfo": {"setl_id": "S1", "medfee_sumamt": 128.5},
            "insuinfo": [{"balc": "10.00"}, {"balc": null}, {"balc": 3}],
        });
        let got = extract(&paths, &output);
        let flat: Vec<(&str, u32, &str)> = got
            .iter()
            .map(|v| (v.path.as_str(), v.row_index, v.value.as_str()))
            .collect();
        assert_eq!(
            flat,
            vec![
                ("setlinfo.setl_id", 0, "S1"),
                ("setlinfo.medfee_sumamt", 0, "128.5"),
                ("insuinfo[*].balc", 0, "10.00"),
                ("insuinfo[*].balc", 2, "3"),
            ]
        );
    }
}
