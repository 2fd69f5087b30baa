//! The statements live in `statements.sql` so CI can parse them as T-SQL; this splits that
//! file into its `-- name:` sections once and hands them out by [`Stmt`], so a caller
//! cannot name a batch that does not exist. A test checks that every variant has a
//! non-empty section and every section a variant.

use std::sync::LazyLock;

const FILE: &str = include_str!("statements.sql");

/// Declares [`Stmt`] with its section names and the list of all variants from one list,
/// so the list cannot miss a variant.
macro_rules! statements {
    ($($variant:ident => $name:literal,)*) => {
        /// A batch of `statements.sql`, by its `-- name:` section.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(super) enum Stmt {
            $($variant,)*
        }

        impl Stmt {
            /// Every statement, in declaration order (`Stmt::X as usize` is its index).
            pub(super) const ALL: &'static [Stmt] = &[$(Stmt::$variant,)*];

            /// The section's name in `statements.sql`.
            pub(super) const fn name(self) -> &'static str {
                match self {
                    $(Stmt::$variant => $name,)*
                }
            }
        }
    };
}

statements! {
    SchemaVersion => "schema_version",
    InsertRequest => "insert_request",
    ClaimPending => "claim_pending",
    ClaimOne => "claim_one",
    BeginAttempt => "begin_attempt",
    Heartbeat => "heartbeat",
    EndAttempt => "end_attempt",
    ExpiredLeases => "expired_leases",
    Recover => "recover",
    Finish => "finish",
    Cancel => "cancel",
    BeginReversal => "begin_reversal",
    Transition => "transition",
    Get => "get",
    NeedsAction => "needs_action",
    Counts => "counts",
    LastMsgid => "last_msgid",
    ResponseFields => "response_fields",
    AddFile => "add_file",
    FileContent => "file_content",
    InsertJob => "insert_job",
    ClaimJob => "claim_job",
    ExtendJob => "extend_job",
    FinishJob => "finish_job",
    GetJob => "get_job",
    RecentJobs => "recent_jobs",
    CatalogVersion => "catalog_version",
    LoadCatalogBegin => "load_catalog_begin",
    LoadCatalogEnd => "load_catalog_end",
    Settlements => "settlements",
    RecordDiffsBegin => "record_diffs_begin",
    RecordDiff => "record_diff",
    RecordDiffsEnd => "record_diffs_end",
}

/// The batches, indexed like [`Stmt::ALL`].
static BATCHES: LazyLock<Vec<String>> = LazyLock::new(|| {
    let sections = parse(FILE);
    Stmt::ALL
        .iter()
        .map(|stmt| {
            sections
                .iter()
                .find(|s| s.name == stmt.name())
                .map(|s| s.batch.clone())
                .unwrap_or_default()
        })
        .collect()
});

impl Stmt {
    /// The batch's text. Never empty for a build whose tests passed (see the test below);
    /// an empty batch would make the server answer with nothing, which the callers report
    /// as unexpected data rather than panicking.
    pub(super) fn sql(self) -> &'static str {
        BATCHES.get(self as usize).map_or("", String::as_str)
    }
}

/// One `-- name:` section of the file.
struct Section {
    name: &'static str,
    batch: String,
}

/// Sections start with `-- name: <name>`; `GO` lines end batches and are not sent.
fn parse(text: &'static str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("-- name: ") {
            out.push(Section {
                name: name.trim(),
                batch: String::new(),
            });
        } else if line.trim() == "GO" {
            continue;
        } else if let Some(current) = out.last_mut() {
            current.batch.push_str(line);
            current.batch.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_is_present_and_parameterised() {
        let sections = parse(FILE);
        for (i, stmt) in Stmt::ALL.iter().enumerate() {
            assert_eq!(*stmt as usize, i, "{stmt:?} is out of order in Stmt::ALL");
            let s = stmt.sql();
            assert!(!s.trim().is_empty(), "missing statement {}", stmt.name());
            assert!(!s.contains("GO\n"), "{} still contains GO", stmt.name());
        }
        for (i, section) in sections.iter().enumerate() {
            assert!(
                Stmt::ALL.iter().any(|s| s.name() == section.name),
                "statements.sql has a section {:?} no Stmt names",
                section.name
            );
            assert!(
                sections[..i].iter().all(|s| s.name != section.name),
                "statements.sql has two sections {:?}",
                section.name
            );
        }
        // Values only ever arrive as @P parameters, as many as the callers pass.
        for (stmt, last) in [
            (Stmt::InsertRequest, 12),
            (Stmt::BeginAttempt, 6),
            (Stmt::Heartbeat, 4),
            (Stmt::Recover, 7),
            (Stmt::Finish, 16),
            (Stmt::Cancel, 2),
            (Stmt::BeginReversal, 9),
        ] {
            let s = stmt.sql();
            assert!(s.contains(&format!("@P{last}")), "{stmt:?} lacks @P{last}");
            assert!(
                !s.contains(&format!("@P{}", last + 1)),
                "{stmt:?} has @P{}",
                last + 1
            );
        }
        assert!(!FILE.contains("format!"));
        // Each claim takes the next claim generation (the fencing token) and says whether
        // the deadline has passed; each statement on a held row checks the generation.
        for stmt in [Stmt::InsertRequest, Stmt::ClaimPending, Stmt::ClaimOne] {
            assert!(stmt.sql().contains("inserted.claim_gen"), "{stmt:?}");
            assert!(stmt.sql().contains("AS expired"), "{stmt:?}");
        }
        for stmt in [Stmt::ClaimPending, Stmt::ClaimOne] {
            assert!(stmt.sql().contains("claim_gen = claim_gen + 1"), "{stmt:?}");
        }
        for stmt in [
            Stmt::BeginAttempt,
            Stmt::Heartbeat,
            Stmt::Recover,
            Stmt::Finish,
        ] {
            assert!(stmt.sql().contains("claim_gen = @P"), "{stmt:?}");
        }
    }

    #[test]
    fn the_settlement_codes_are_the_stores_list() {
        let sql = Stmt::Settlements.sql();
        let listed = sql
            .split_once("interface_code IN (")
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(list, _)| {
                list.split(',')
                    .map(|c| c.trim().trim_matches('\''))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        assert_eq!(listed, crate::SETTLEMENT_CODES);
    }
}
