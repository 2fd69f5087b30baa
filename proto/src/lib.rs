//! `yibao-proto` is the wire contract of the yibao pipe: the bytes a stored procedure's shim,
//! a C# program or a Python script exchange with the resident broker.
//!
//! It is deliberately the lowest crate in the workspace: serde types and framing only, no
//! runtime, so the tiny `yibao-call` shim can depend on it without pulling tokio. The
//! vocabulary shared by every layer (request status, envelope overrides, error codes) lives
//! here too, because it *is* the contract. `proto/README.md` specifies the bytes.

pub mod blocking;
pub mod client;
pub mod endpoint;
pub mod frame;
pub mod message;
#[cfg(feature = "tokio")]
pub mod tokio_io;

pub use client::{ClientError, MIN_MAX_FRAME, REPLY_GRACE};
pub use endpoint::{resolve_endpoint, DEFAULT_PIPE_NAME};
pub use frame::{Format, FrameError, DEFAULT_MAX_FRAME, HEADER_LEN};
pub use message::{
    CallMode, ErrorCode, JobOutcome, LatencyStat, Outcome, Overrides, Request, RequestStatus,
    Response, StatusCount, StatusReport,
};

/// Version of the pipe protocol. A client announces it in `Hello`; the broker answers
/// `Welcome` when it speaks that version and `Error { code: UnsupportedVersion }` otherwise.
/// Bump it only for incompatible changes; adding a message at the end of an enum is not one
/// for JSON clients but is for binary clients, so it is.
pub const PROTOCOL_VERSION: u32 = 6;

/// Oldest version the broker still accepts. Version 2 only added `Reverse` at the end of
/// `Request`, so version-1 clients (which never send it) are served unchanged. Version 3
/// added fields at the end of `StatusReport`; older binary clients read the fields they
/// know and ignore the rest. Version 4 added `Validate` / `Validation` at the ends of the
/// enums, version 5 `Cancel` at the end of `Request`, version 6 `Job` / `JobWait` and
/// `Job` at the ends of the enums.
pub const MIN_PROTOCOL_VERSION: u32 = 1;
