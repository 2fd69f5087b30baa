//! The statements live in `statements.sql` so CI can parse them as T-SQL; this splits that
//! file into named batches once.

use std::collections::HashMap;
use std::sync::LazyLock;

const FILE: &str = include_str!("statements.sql");

static STATEMENTS: LazyLock<HashMap<&'static str, String>> = LazyLock::new(|| parse(FILE));

/// Sections start with `-- name: <name>`; `GO` lines end batches and are not sent.
fn parse(text: &'static str) -> HashMap<&'static str, String> {
    let mut out = HashMap::new();
    let mut current: Option<(&'static str, String)> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("-- name: ") {
            if let Some((n, body)) = current.take() {
                out.insert(n, body);
            }
            current = Some((name.trim(), String::new()));
        } else if line.trim() == "GO" {
            continue;
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    if let Some((n, body)) = current {
        out.insert(n, body);
    }
    out
}

/// The batch called `name`. The names are fixed in this crate and checked by a test, so a
/// missing one is a programming error caught before release; an empty batch would make
/// the server answer with nothing, which the callers report as unexpected data.
pub(super) fn sql(name: &str) -> &'static str {
    STATEMENTS.get(name).map(String::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const NAMES: &[&str] = &[
        "schema_version",
        "insert_request",
        "claim_pending",
        "claim_one",
        "begin_attempt",
        "end_attempt",
        "expired_leases",
        "recover",
        "finish",
        "transition",
        "get",
        "needs_action",
        "counts",
        "last_msgid",
        "response_fields",
    ];

    #[test]
    fn every_statement_is_present_and_parameterised() {
        for name in NAMES {
            let s = sql(name);
            assert!(!s.trim().is_empty(), "missing statement {name}");
            assert!(!s.contains("GO\n"), "{name} still contains GO");
        }
        assert_eq!(
            STATEMENTS.len(),
            NAMES.len(),
            "unused statements in statements.sql"
        );
        // Values only ever arrive as @P parameters.
        assert!(sql("finish").contains("@P13"));
        assert!(!FILE.contains("format!"));
    }
}
