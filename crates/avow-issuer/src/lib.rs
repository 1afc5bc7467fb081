//! The Avow Credential Issuer and its co-located Authorization Server
//! (OpenID4VCI 1.0 + HAIP 1.0), with the admin API.
//!
//! A request flows: axum handler (one use case per file, named as a verb) →
//! pure rules in `avow-core` → state in `avow-store` → credential built in
//! `avow-formats` and signed through `avow-crypto`'s `Signer`.

pub mod access_token;
pub mod admin;
pub mod admin_deferred;
pub mod admin_status;
pub mod app;
pub mod attestation_status;
pub mod authorization_grant;
pub mod authorize;
pub mod build_jwt_vc;
pub mod build_mdoc;
pub mod build_sd_jwt_vc;
pub mod challenge;
pub mod client_auth;
pub mod config;
pub mod credential;
pub mod credential_encryption;
pub mod deferred;
pub mod did_web;
pub mod dpop;
pub mod error;
pub mod issue_credentials;
pub mod key_attestation;
pub mod key_proof;
pub mod keys;
pub mod metadata;
pub mod nonce;
pub mod notification;
pub mod offer;
pub mod par;
pub mod redeem_authorization_code;
pub mod redeem_pre_authorized_code;
pub mod refresh_access_token;
pub mod server;
pub mod signed_metadata;
pub mod state;
pub mod status_list;
pub mod tls;
pub mod token;

pub use config::IssuerConfig;
pub use server::{RunningIssuer, StartError, build_state};
pub use state::AppState;
