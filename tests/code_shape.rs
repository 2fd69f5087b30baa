//! The shape the code is kept in, checked: no source file over 600 lines anywhere, and no
//! function over 80 lines in the broker and core, where the money-safety rules live and a
//! long function is where the next bug hides. The function check reads rustfmt's layout (a
//! function ends at the first `}` at its own indentation), which `cargo fmt --check` in CI
//! guarantees.

use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 80;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn files_under(dirs: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in dirs {
        rust_files(&root().join(d), &mut out);
    }
    assert!(!out.is_empty(), "no sources found under {dirs:?}");
    out
}

/// (name, first line, length) of every `fn` with a body.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let Some(rest) = ["pub(crate) ", "pub(super) ", "pub ", ""]
            .iter()
            .find_map(|vis| trimmed.strip_prefix(vis))
        else {
            continue;
        };
        let rest = rest.strip_prefix("const ").unwrap_or(rest);
        let rest = rest.strip_prefix("async ").unwrap_or(rest);
        let Some(sig) = rest.strip_prefix("fn ") else {
            continue;
        };
        let name: String = sig
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // The body opens on the first line holding `{`; a declaration without a body
        // (a trait method) reaches `;` first.
        let Some(open) = lines[i..].iter().position(|l| {
            let l = l.trim_end();
            l.contains('{') || l.ends_with(';')
        }) else {
            continue;
        };
        let opening = lines[i + open];
        if !opening.contains('{') {
            continue;
        }
        let end = if opening.matches('{').count() == opening.matches('}').count() {
            Some(open)
        } else {
            let close = format!("{indent}}}");
            lines[i + open..]
                .iter()
                .position(|l| *l == close)
                .map(|n| open + n)
        };
        if let Some(n) = end {
            out.push((name, i + 1, n + 1));
        }
    }
    out
}

#[test]
fn no_source_file_is_over_600_lines() {
    let mut long = Vec::new();
    for f in files_under(&["proto", "crates", "tests"]) {
        let n = std::fs::read_to_string(&f).unwrap().lines().count();
        if n > MAX_FILE_LINES {
            long.push(format!("{} ({n} lines)", f.display()));
        }
    }
    assert!(long.is_empty(), "split these files: {long:#?}");
}

#[test]
fn no_function_in_broker_or_core_is_over_80_lines() {
    let mut long = Vec::new();
    for f in files_under(&["crates/broker/src", "crates/core/src"]) {
        let text = std::fs::read_to_string(&f).unwrap();
        for (name, line, n) in functions(&text) {
            if n > MAX_FN_LINES {
                long.push(format!("{}:{line} fn {name} ({n} lines)", f.display()));
            }
        }
    }
    assert!(long.is_empty(), "split these functions: {long:#?}");
}

/// The checker itself: a long function is found, a short one and a trait declaration not.
#[test]
fn the_function_check_measures_what_it_says() {
    let body: String = (0..90)
        .map(|i| format!("        let x{i} = {i};\n"))
        .collect();
    let text = format!(
        "impl X {{\n    pub async fn long(&self) {{\n{body}    }}\n\n    fn short() {{}}\n}}\n\
         trait T {{\n    fn declared(&self);\n}}\n"
    );
    let found = functions(&text);
    let long = found.iter().find(|(n, ..)| n == "long").unwrap();
    assert_eq!(long.2, 92);
    let short = found.iter().find(|(n, ..)| n == "short").unwrap();
    assert_eq!(short.2, 1);
    assert!(!found.iter().any(|(n, ..)| n == "declared"));
}
