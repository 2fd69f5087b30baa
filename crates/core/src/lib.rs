//! `yibao-core` is the 医保 protocol as code: how a request envelope is built and numbered,
//! which interfaces exist and how they behave, how a message is signed for each kind of
//! gateway, and how the platform's reply is read. It does no storage and no pipe work, so
//! the broker and the simulator share one definition of the protocol.

pub mod catalog;
pub mod client;
pub mod codes;
pub mod envelope;
pub mod msgid;
pub mod privacy;
pub mod profile;
pub mod response;
pub mod secret;
pub mod sm;
pub mod time;

pub use catalog::{Catalog, InterfaceClass, InterfaceInfo, UncertainPolicy, Violations};
pub use client::{PlatformClient, TransportError, TransportErrorKind};
pub use envelope::{EnvelopeDefaults, RequestEnvelope};
pub use msgid::MsgIdGenerator;
pub use profile::{OutgoingRequest, Profile, ProfileError};
pub use response::{ResponseEnvelope, ResponseError};
