//! The Avow wallet frontend: receives credential offers, runs the
//! metadata-driven OpenID4VCI flows, validates what it receives and keeps it
//! in an encrypted credential store.

pub mod attestation;
pub mod authorize;
pub mod client;
pub mod deferred;
pub mod delete;
pub mod encryption;
pub mod error;
pub mod flow;
pub mod issuer;
pub mod key_proofs;
pub mod notify;
pub mod offer;
pub mod status;
pub mod store;
pub mod validate;

pub use client::HttpClient;
pub use error::WalletError;
pub use flow::{ReceivedCredential, Wallet, WalletOptions};
pub use store::{CredentialStore, StoredCredential};
