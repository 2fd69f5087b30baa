//! Fault injection: what the simulator does *instead of* (or before) answering, so tests
//! can prove the broker's behaviour when the platform is slow, broken or forgetful.
//!
//! Faults are added with `POST /__mock/faults` (JSON below) or `--faults FILE` at start,
//! and cleared with `DELETE /__mock/faults`:
//! ```json
//! {"infno": "2207", "kind": "hang", "ms": 3000, "times": 1}
//! {"infno": "*", "kind": "http500", "rate": 0.3}
//! ```
//! `infno` `*` matches every interface but 9001 (so sign-in keeps working unless named).
//!
//! The file interfaces (9101 文件上传, 9102 文件下载, the catalog downloads 1301…) take
//! every kind. Where the answer is a file (9102), `reset` sends the headers with the whole
//! file's `Content-Length` and half of its bytes, then breaks the connection — a download
//! cut in the middle, which a client can tell from the short body; `bad_signature` flips
//! one byte in the middle of the file (a file carries no signature to damage).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Wait `ms`, then answer normally.
    Delay,
    /// Apply the request, then wait `ms` (past the client's timeout) before answering: the
    /// classic "did my settlement go through?" case.
    Hang,
    /// Answer HTTP 500 without applying.
    Http500,
    /// Apply the request, send the response headers, then break the connection in the
    /// middle of the body (what a reset after the platform processed the call looks like).
    /// For a file (9102): the full `Content-Length`, half the bytes, then the break.
    Reset,
    /// Break the connection without applying the request. To the client this looks the
    /// same as `reset`, which is exactly why a state-changing call must become UNCERTAIN.
    ResetBefore,
    /// Apply the request, then answer with a body that is not a response envelope.
    Garbage,
    /// Apply the request, then answer with a reply whose signature does not verify (under
    /// the `sm` profile: the platform's signature damaged after sealing).
    BadSignature,
    /// Answer a business error (infcode -1) without applying.
    BusinessError,
    /// Forget every sign-in first (as after a platform restart), then answer normally.
    InvalidSignNo,
}

/// One configured fault.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    /// Interface code, or `*`.
    pub infno: String,
    pub kind: FaultKind,
    /// Milliseconds for `delay` and `hang`.
    #[serde(default)]
    pub ms: u64,
    /// Probability per matching request (default 1).
    #[serde(default)]
    pub rate: Option<f64>,
    /// How many times it may fire (default: unlimited).
    #[serde(default)]
    pub times: Option<u64>,
    /// For `garbage`: the body to send instead of the default HTML error page.
    #[serde(default)]
    pub body: Option<String>,
}

impl Fault {
    fn matches(&self, infno: &str) -> bool {
        self.infno == infno || (self.infno == "*" && infno != "9001")
    }

    pub fn pause(&self) -> Duration {
        Duration::from_millis(self.ms)
    }
}

/// The configured faults, consulted per request.
#[derive(Debug, Default)]
pub struct Faults {
    list: Vec<Fault>,
}

impl Faults {
    pub fn add(&mut self, f: Fault) {
        self.list.push(f);
    }

    pub fn clear(&mut self) {
        self.list.clear();
    }

    /// The fault that fires for this request, if any (and counts it down).
    pub fn pick(&mut self, infno: &str) -> Option<Fault> {
        let i = self.list.iter().position(|f| {
            f.matches(infno)
                && f.times != Some(0)
                && f.rate.is_none_or(|r| rand::random::<f64>() < r)
        })?;
        let f = &mut self.list[i];
        if let Some(t) = f.times.as_mut() {
            *t -= 1;
        }
        Some(f.clone())
    }
}
