//! The T-SQL scripts, checked without a server: CI has no SQL Server (the tests that run
//! them need `YIBAO_MSSQL_URL`), so what can be read from the text is checked here. Each
//! test's doc comment states its rule.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use yibao_core::{Catalog, InterfaceClass};
use yibao_store::CANCELLED_REASON;

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

/// A script's text, without its BOM.
fn script(rel: &str) -> String {
    let bytes = std::fs::read(root().join(rel)).unwrap();
    let text = String::from_utf8(bytes).unwrap_or_else(|e| panic!("{rel} is not UTF-8: {e}"));
    text.trim_start_matches('\u{feff}').to_string()
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

/// One `COL_LENGTH(table, column) <op> <rhs>` found in a statement.
#[derive(Debug)]
struct Comparison {
    /// The arguments, upper-cased, without whitespace: which column.
    column: String,
    op: &'static str,
    /// The right-hand side when it is an integer literal (for BETWEEN: the lower bound).
    rhs: Option<i64>,
}

impl Comparison {
    /// Whether the comparison holds for -1, which COL_LENGTH returns for (N)VARCHAR(MAX)
    /// and VARBINARY(MAX); `None` when the right-hand side is not a literal.
    fn holds_for_max(&self) -> Option<bool> {
        let n = self.rhs?;
        Some(match self.op {
            "<" => -1 < n,
            "<=" | "!>" => -1 <= n,
            ">" => -1 > n,
            ">=" | "!<" => -1 >= n,
            "=" => n == -1,
            "<>" | "!=" => n != -1,
            // The lower bound alone decides whether -1 can be inside.
            _ => n <= -1,
        })
    }

    /// A test for "narrower than": `<`, `<=`, `!>` or BETWEEN, which -1 passes unless the
    /// right-hand side keeps it out.
    fn may_narrow_max(&self) -> bool {
        matches!(self.op, "<" | "<=" | "!>" | "BETWEEN") && self.holds_for_max() != Some(false)
    }

    /// A comparison that -1 fails: it keeps MAX columns out of its condition.
    fn excludes_max(&self) -> bool {
        self.holds_for_max() == Some(false)
    }
}

/// The text upper-cased, with comments blanked and every character of a string literal
/// other than letters, digits, `_` and `.` replaced by `_`: `;` and `GO` lines then split
/// it into statements, and neither comments nor message texts count as code.
fn code_only(sql: &str) -> String {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '-' && next == Some('-') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(if chars[i] == '\n' { '\n' } else { ' ' });
                    i += 1;
                }
            }
        } else if c == '\'' {
            // A literal, '' being an escaped quote inside it.
            out.push('\'');
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' && chars.get(i + 1) == Some(&'\'') {
                    out.push_str("''");
                    i += 2;
                } else if chars[i] == '\'' {
                    out.push('\'');
                    i += 1;
                    break;
                } else {
                    // Names ('dbo.t', 'err_msg') stay comparable; nothing in a literal
                    // can end a statement or read as an operator or a call.
                    let keep = chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.');
                    out.push(if keep { chars[i] } else { '_' });
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out.to_uppercase()
}

fn statements(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for batch in code
        .split('\n')
        .collect::<Vec<_>>()
        .split(|l| l.trim() == "GO")
    {
        out.extend(batch.join("\n").split(';').map(str::to_string));
    }
    out
}

/// The integer literal at the start of `s` (after spaces), if any.
fn literal(s: &str) -> Option<i64> {
    let s = s.trim_start();
    let (sign, digits) = match s.strip_prefix('-') {
        Some(rest) => (-1, rest.trim_start()),
        None => (1, s),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse::<i64>().ok().map(|n| sign * n)
}

/// Every COL_LENGTH comparison in one statement (`IS [NOT] NULL` tests are not
/// comparisons of a width and are skipped).
fn comparisons(statement: &str) -> Vec<Comparison> {
    const OPS: [&str; 9] = ["<>", "!=", "<=", ">=", "!<", "!>", "<", ">", "="];
    let mut out = Vec::new();
    let mut rest = statement;
    while let Some(at) = rest.find("COL_LENGTH") {
        rest = &rest[at + "COL_LENGTH".len()..];
        let Some(args) = rest.trim_start().strip_prefix('(') else {
            continue;
        };
        let mut depth = 1;
        let Some(close) = args.find(|c| {
            depth += match c {
                '(' => 1,
                ')' => -1,
                _ => 0,
            };
            depth == 0
        }) else {
            break;
        };
        let column: String = args[..close].split_whitespace().collect();
        let after = args[close + 1..].trim_start();
        rest = after;
        let (op, rhs) = if let Some(bound) = after.strip_prefix("BETWEEN") {
            ("BETWEEN", literal(bound))
        } else if let Some(op) = OPS.iter().find(|op| after.starts_with(**op)) {
            (*op, literal(&after[op.len()..]))
        } else {
            continue;
        };
        out.push(Comparison { column, op, rhs });
    }
    out
}

/// The comparisons that may narrow a MAX column: those with no comparison of the same
/// column in the same statement that keeps -1 out.
fn narrowing_without_guard(sql: &str) -> Vec<String> {
    let mut found = Vec::new();
    for statement in statements(&code_only(sql)) {
        let all = comparisons(&statement);
        for c in all.iter().filter(|c| c.may_narrow_max()) {
            if !all.iter().any(|g| g.column == c.column && g.excludes_max()) {
                found.push(format!("COL_LENGTH({}) {} …", c.column, c.op));
            }
        }
    }
    found
}

/// Rule: a column is never narrowed. COL_LENGTH returns -1 for (N)VARCHAR(MAX) and
/// VARBINARY(MAX), so in every .sql file each `COL_LENGTH(t, c)` compared with `<`, `<=`,
/// `!>` or BETWEEN in a way -1 passes must have, in the same statement (between `;` or `GO`
/// lines), a comparison of the same `COL_LENGTH(t, c)` that -1 fails (`<> -1`, `> 0`, …).
/// Without it, a column a DBA widened to MAX would be cut back by the upgrade.
#[test]
fn col_length_comparisons_never_narrow_a_max_column() {
    let mut found = Vec::new();
    for p in sql_files() {
        let text = std::fs::read_to_string(&p).unwrap();
        let rel = p.strip_prefix(root()).unwrap().display().to_string();
        for c in narrowing_without_guard(&text) {
            found.push(format!("{rel}: {c}"));
        }
    }
    assert!(
        found.is_empty(),
        "COL_LENGTH is -1 for MAX: add `<> -1` for the same column: {found:#?}"
    );
    // Not vacuous: install.sql does widen err_msg with such a test.
    let install = code_only(&script("sql/install.sql"));
    let widening = statements(&install)
        .iter()
        .flat_map(|s| comparisons(s))
        .filter(|c| c.op == "<")
        .count();
    assert!(
        widening > 0,
        "the checker found no COL_LENGTH < in install.sql"
    );
}

/// The checker: the seed's defect is found; guarded forms, other columns' guards,
/// comments and strings are told apart.
#[test]
fn the_col_length_check_finds_what_it_says() {
    let bad = "IF COL_LENGTH(N'dbo.t', N'err_msg') < 4000\n    ALTER TABLE dbo.t ALTER COLUMN err_msg NVARCHAR(2000);";
    assert_eq!(narrowing_without_guard(bad).len(), 1);
    for ok in [
        "IF COL_LENGTH(N'dbo.t', N'c') <> -1 AND COL_LENGTH(N'dbo.t', N'c') < 4000 ALTER TABLE t ALTER COLUMN c NVARCHAR(2000);",
        "IF col_length(N'dbo.t',N'c') > 0 AND COL_LENGTH( N'dbo.t', N'c' ) <= 3999 PRINT 1;",
        "IF COL_LENGTH(N'dbo.t', N'c') BETWEEN 0 AND 3999 PRINT 1;",
        "IF COL_LENGTH(N'dbo.t', N'c') IS NULL ALTER TABLE t ADD c INT;",
        "-- IF COL_LENGTH(N'dbo.t', N'c') < 4000\nPRINT N'COL_LENGTH(x) < 5';",
    ] {
        assert!(narrowing_without_guard(ok).is_empty(), "{ok}");
    }
    // A guard on another column, or in another statement, does not count.
    for bad in [
        "IF COL_LENGTH(N't', N'a') <> -1 AND COL_LENGTH(N't', N'b') < 4000 PRINT 1;",
        "IF COL_LENGTH(N't', N'c') <> -1 PRINT 1;\nIF COL_LENGTH(N't', N'c') < 4000 PRINT 2;",
        "IF COL_LENGTH(N't', N'c') <> -1 PRINT 1\nGO\nIF COL_LENGTH(N't', N'c') < 4000 PRINT 2",
        "IF COL_LENGTH(N't', N'c') !> 3999 PRINT 1;",
        "IF COL_LENGTH(N't', N'c') < @width PRINT 1;",
    ] {
        assert_eq!(narrowing_without_guard(bad).len(), 1, "{bad}");
    }
}

/// The quoted literals between two marker comments of install.sql.
fn marked_list(text: &str, begin: &str, end: &str) -> BTreeSet<String> {
    let start = text.find(begin).unwrap_or_else(|| panic!("no `{begin}`"));
    let stop = text[start..]
        .find(end)
        .unwrap_or_else(|| panic!("no `{end}`"));
    text[start + begin.len()..start + stop]
        .split('\'')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// Rule: the upgrade marks UNCERTAIN exactly the leftover PROCESSING rows the broker's
/// recovery would (`safety::fate` with no evidence): every code except the national
/// catalog's read-only ones, so install.sql's list of read-only codes is the catalog's.
#[test]
fn the_upgrade_spares_exactly_the_catalogs_read_only_codes() {
    let listed = marked_list(
        &script("sql/install.sql"),
        "-- read-only codes: begin",
        "-- read-only codes: end",
    );
    let catalog = Catalog::builtin();
    let read_only: BTreeSet<String> = catalog
        .codes()
        .into_iter()
        .filter(|c| catalog.get(c).class == InterfaceClass::ReadOnly)
        .collect();
    assert_eq!(
        listed, read_only,
        "install.sql's read-only codes differ from crates/core/catalog/national.toml"
    );
}

/// Rule: a cancel through the procedures reads exactly like one through the broker
/// (`yibao-call cancel`): the same err_msg.
#[test]
fn the_procedures_cancel_with_the_brokers_reason() {
    let install = script("sql/install.sql");
    assert!(
        install.contains(&format!("last_error = N'{CANCELLED_REASON}'")),
        "yibao_cancel_pending must write CANCELLED_REASON verbatim: {CANCELLED_REASON}"
    );
}

/// The parameters of `ALTER PROCEDURE dbo.<name>`, in order.
fn parameters(text: &str, name: &str) -> Vec<String> {
    let head = format!("ALTER PROCEDURE dbo.{name}\n");
    let start = text.find(&head).unwrap_or_else(|| panic!("no {head}")) + head.len();
    let body = &text[start..];
    let end = body.find("\nAS\n").expect("AS after the parameters");
    body[..end]
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Rule: `sp_medical_insurance_call` is an external API. The seed's parameters come
/// first, then the optional ones added since, in their order; new ones only at the end.
#[test]
fn sp_medical_insurance_call_keeps_its_parameters_in_order() {
    let install = script("sql/install.sql");
    let params = parameters(&install, "sp_medical_insurance_call");
    let kept = [
        "@interface_code",
        "@input_data",
        "@async",
        "@result_id",
        "@result_data",
        "@timeout_s",
        "@mode",
        "@opter",
        "@opter_name",
        "@insuplc_admdvs",
        "@mdtrtarea_admvs",
    ];
    assert_eq!(&params[..kept.len()], kept);
    assert!(params.contains(&"@expires_s".to_string()));
}

/// The `dbo.` objects a script names after `keyword` (e.g. "CREATE PROCEDURE").
fn objects(text: &str, keyword: &str) -> BTreeSet<String> {
    text.match_indices(keyword)
        .filter_map(|(at, _)| {
            let rest = text[at + keyword.len()..].trim_start();
            let name = rest.strip_prefix("dbo.")?;
            let end = name
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(name.len());
            Some(format!("{keyword} dbo.{}", &name[..end]))
        })
        .collect()
}

/// Rule: uninstall.sql drops every procedure, function and view install.sql creates.
#[test]
fn uninstall_drops_everything_install_creates() {
    let (install, uninstall) = (script("sql/install.sql"), script("sql/uninstall.sql"));
    for kind in ["PROCEDURE", "FUNCTION", "VIEW"] {
        let created: BTreeSet<String> = objects(&install, &format!("CREATE {kind}"))
            .into_iter()
            .map(|o| o.replacen("CREATE", "DROP", 1))
            .collect();
        let dropped = objects(&uninstall, &format!("DROP {kind}"));
        assert!(!created.is_empty(), "no CREATE {kind} found");
        assert_eq!(
            created, dropped,
            "{kind}s install.sql creates vs uninstall.sql drops"
        );
    }
}
