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
        "heartbeat",
        "end_attempt",
        "expired_leases",
        "recover",
        "finish",
        "cancel",
        "begin_reversal",
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
        // Values only ever arrive as @P parameters, as many as the callers pass.
        for (name, last) in [
            ("insert_request", 12),
            ("begin_attempt", 6),
            ("heartbeat", 4),
            ("recover", 7),
            ("finish", 16),
            ("cancel", 2),
            ("begin_reversal", 9),
        ] {
            let s = sql(name);
            assert!(s.contains(&format!("@P{last}")), "{name} lacks @P{last}");
            assert!(
                !s.contains(&format!("@P{}", last + 1)),
                "{name} has @P{}",
                last + 1
            );
        }
        assert!(!FILE.contains("format!"));
        // Each claim takes the next claim generation (the fencing token) and says whether
        // the deadline has passed; each statement on a held row checks the generation.
        for name in ["insert_request", "claim_pending", "claim_one"] {
            assert!(sql(name).contains("inserted.claim_gen"), "{name}");
            assert!(sql(name).contains("AS expired"), "{name}");
        }
        for name in ["claim_pending", "claim_one"] {
            assert!(sql(name).contains("claim_gen = claim_gen + 1"), "{name}");
        }
        for name in ["begin_attempt", "heartbeat", "recover", "finish"] {
            assert!(sql(name).contains("claim_gen = @P"), "{name}");
        }
    }
}
