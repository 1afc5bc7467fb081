//! The protocol model of Avow: OpenID4VCI 1.0 and OAuth 2.0 messages, metadata,
//! error codes and the validation rules that need no I/O.
//!
//! Everything here is pure: time comes in as a [`UnixTime`] argument, and no
//! function touches the network, the disk or a key.

pub mod authorization;
pub mod client_attestation;
pub mod clock;
pub mod credential;
pub mod dpop;
pub mod encryption;
pub mod error;
pub mod key_attestation;
pub mod metadata;
pub mod nonce;
pub mod offer;
pub mod percent;
pub mod pkce;
pub mod proof;
pub mod redirect_uri;
pub mod token;

pub use clock::{Clock, SystemClock, UnixTime};
pub use error::{ErrorCode, ProtocolError};
