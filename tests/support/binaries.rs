//! Where the binaries under test live, and a refusal to run stale ones.
//!
//! Tests do not run `cargo build`: `cargo test --workspace` already builds every binary of a
//! package that has integration tests (broker, shim and simulator each do), and
//! `cargo build --workspace --bins` builds them for any narrower run. What the harness does is refuse
//! a binary older than its own sources, so `cargo test --test lifecycle` after an edit fails
//! with the command to run instead of quietly testing yesterday's broker. Programs that use
//! the harness (the bench and the torture runner) are not tests: they call
//! [`build_binaries`] to build what they start, in their own profile.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

/// The binaries the harness starts.
pub const BINARIES: [&str; 3] = ["yibao-broker", "yibao-call", "yibao-mock"];

/// Directory holding the built binaries (`target/<profile>`), checked once per process.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = target_profile_dir();
        let problems: Vec<String> = BINARIES
            .iter()
            .filter_map(|name| stale(&dir, name))
            .collect();
        assert!(
            problems.is_empty(),
            "the binaries under test are missing or older than their sources:\n  {}\n\
             build them first: cargo build --workspace --bins{} (cargo test --workspace does)",
            problems.join("\n  "),
            if dir.ends_with("release") {
                " --release"
            } else {
                ""
            }
        );
        dir
    })
}

/// Path of one binary under test.
pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// Builds the binaries under test in this program's target dir and profile. For programs
/// (bench, torture), never for tests.
pub fn build_binaries() {
    let dir = target_profile_dir();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--bins"]);
    for name in BINARIES {
        cmd.args(["-p", name]);
    }
    if dir.ends_with("release") {
        cmd.arg("--release");
    }
    if let Some(target) = dir.parent() {
        cmd.arg("--target-dir").arg(target);
    }
    let status = cmd.status().expect("run cargo build");
    assert!(status.success(), "building the binaries failed");
}

/// `target/<profile>`: a test binary lives in its `deps/`, a program in the dir itself.
fn target_profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("target dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// Why `name` in `dir` should not be run, if it should not: missing, or a source listed in
/// cargo's dep-info file (`<name>.d`) is newer than the binary.
fn stale(dir: &Path, name: &str) -> Option<String> {
    let exe = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let built = match std::fs::metadata(&exe).and_then(|m| m.modified()) {
        Ok(t) => t,
        Err(_) => return Some(format!("{} is missing", exe.display())),
    };
    let deps = std::fs::read_to_string(dir.join(format!("{name}.d"))).unwrap_or_default();
    sources(&deps)
        .into_iter()
        .find(|src| modified(src).is_some_and(|t| t > built))
        .map(|src| format!("{} is older than {}", exe.display(), src.display()))
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The source paths of a make-style dep-info file: `target: src src\ with\ space …`.
fn sources(dep_info: &str) -> Vec<PathBuf> {
    let Some(first) = dep_info.lines().next() else {
        return Vec::new();
    };
    // The target path ends at the first ": " (a Windows drive's "C:" has no space after).
    let Some((_, list)) = first.split_once(": ") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = list.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    if next != ' ' {
                        cur.push('\\');
                    }
                    cur.push(next);
                }
            }
            ' ' => {
                if !cur.is_empty() {
                    out.push(PathBuf::from(std::mem::take(&mut cur)));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(PathBuf::from(cur));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn dep_info_paths_with_escaped_spaces() {
        let d = "/t/debug/x: /a/b.rs /c\\ d/e.rs C:\\src\\f.rs\n\n/a/b.rs:\n";
        let got = super::sources(d);
        let want: Vec<std::path::PathBuf> = ["/a/b.rs", "/c d/e.rs", "C:\\src\\f.rs"]
            .iter()
            .map(Into::into)
            .collect();
        assert_eq!(got, want);
    }
}
