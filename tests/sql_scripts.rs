//! The T-SQL scripts, checked without a server: CI has no SQL Server (the tests that run
//! them need `YIBAO_MSSQL_URL`), so what can be read from the text is checked here. Each
//! test's doc comment states its rule.

use std::path::{Path, PathBuf};

const BOM: &[u8] = b"\xEF\xBB\xBF";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn collect_sql(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        if p.is_dir() {
            // Build output, git's store and vendored third-party code are not ours.
            if !(name.starts_with("target") || name.starts_with('.') || name == "vendor") {
                collect_sql(&p, out);
            }
        } else if name.ends_with(".sql") {
            out.push(p);
        }
    }
}

/// Every .sql file of the repository.
fn sql_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    collect_sql(&root(), &mut out);
    out.sort();
    assert!(
        out.iter().any(|p| p.ends_with("sql/install.sql")),
        "no sql/install.sql among {out:?}"
    );
    out
}

/// Rule: every .sql file with any non-ASCII byte starts with the UTF-8 BOM, so that sqlcmd
/// and SSMS read it as UTF-8 instead of in the console's code page (GBK, 1252), which turns
/// every N'中文' message and comment into 乱码. One exception: the store's
/// `statements.sql`, which the broker embeds at compile time and no SQL tool ever opens.
#[test]
fn sql_files_with_non_ascii_text_start_with_a_utf8_bom() {
    let embedded = Path::new("crates/store/src/mssql/statements.sql");
    let mut missing = Vec::new();
    for p in sql_files() {
        let rel = p.strip_prefix(root()).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        if rel != embedded && !bytes.is_ascii() && !bytes.starts_with(BOM) {
            missing.push(rel.display().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "save these as UTF-8 with a BOM (sqlcmd and SSMS would garble their Chinese text): {missing:#?}"
    );
}
