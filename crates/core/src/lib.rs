//! `yibao-core` is the 医保 protocol as code: how a request envelope is built and numbered,
//! which interfaces exist and how they behave, how a message is signed for each kind of
//! gateway, and how the platform's reply is read and classified ([`platform`]). It does no
//! storage and no pipe work, so the broker and the simulator share one definition of the
//! protocol.

pub mod cainfo;
pub mod catalog;
pub mod msgid;
pub mod platform;
pub mod privacy;
pub mod profile;
pub mod secret;
pub mod sm;
pub mod time;
pub mod wording;

pub use catalog::{Catalog, InterfaceClass, InterfaceInfo, UncertainPolicy, Violations};
pub use msgid::MsgIdGenerator;
pub use platform::{
    codes, EnvelopeDefaults, Message, Outcome, Platform, Reply, RequestEnvelope, ResponseEnvelope,
    ResponseError, TransportError, TransportErrorKind,
};
pub use profile::{Opened, OutgoingRequest, Profile, ProfileError};
