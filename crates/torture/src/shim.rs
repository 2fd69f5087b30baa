//! Running the real `yibao-call`, always bounded: the shim has its own wall-clock guard,
//! and the harness kills its own child if even that does not end it.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// What one shim invocation did.
#[derive(Debug, Clone)]
pub struct ShimOut {
    /// The exit code; `None` when it was killed by a signal or by the harness's bound.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl ShimOut {
    /// The code as text for counters (`"exit 0"`, `"killed"`).
    pub fn label(&self) -> String {
        match self.code {
            Some(c) => format!("exit {c}"),
            None => "killed".to_string(),
        }
    }

    /// `id=N` from the line of an `Accepted` answer.
    pub fn accepted_id(&self) -> Option<i64> {
        self.stdout
            .split_whitespace()
            .find_map(|w| w.strip_prefix("id="))
            .and_then(|n| n.parse().ok())
    }
}

/// Runs `yibao-call --pipe <pipe> <args…>`, feeding `stdin`, for at most `limit`.
pub fn shim(pipe: &str, args: &[&str], stdin: Option<&str>, limit: Duration) -> ShimOut {
    shim_until(pipe, args, stdin, limit, &|| false)
}

/// [`shim`], but once `stopping()` turns true the shim gets at most two more seconds (a
/// caller killed mid-call, as when the procedure that spawned it is cancelled).
pub fn shim_until(
    pipe: &str,
    args: &[&str],
    stdin: Option<&str>,
    limit: Duration,
    stopping: &dyn Fn() -> bool,
) -> ShimOut {
    let spawned = yibao::shim_command(pipe, args, stdin.is_some()).spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            return ShimOut {
                code: None,
                stdout: String::new(),
                stderr: format!("spawn yibao-call: {e}"),
            }
        }
    };
    if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
        let _ = input.write_all(text.as_bytes());
    }
    let mut deadline = Instant::now() + limit;
    let mut cut = false;
    let status = loop {
        if !cut && stopping() {
            cut = true;
            deadline = deadline.min(Instant::now() + Duration::from_secs(2));
        }
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut stdout);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    ShimOut {
        code: status.and_then(|s| s.code()),
        stdout: stdout.trim().to_string(),
        stderr: stderr.trim().to_string(),
    }
}
