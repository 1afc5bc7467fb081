//! Persistence of every piece of issuer transaction state (DESIGN.md,
//! "Storage" and "Principles").
//!
//! One implementation over sqlx's `Any` driver serves both backends:
//! SQLite (embedded, the default) and PostgreSQL (several issuer instances
//! sharing one database). The same embedded migrations (`migrations/`) and
//! the same test suite run against both.
//!
//! Rules this crate upholds:
//! - Every piece of transaction state lives here, never only in memory, so
//!   any instance can serve any step and a restart loses nothing
//!   (ISS-TOK-10, ISS-NONCE-02).
//! - Single-use values are consumed atomically by one SQL statement guarded
//!   by a state check or a unique constraint, so the rule holds across
//!   instances (ISS-SEC-02, ISS-TPA-09, ISS-NONCE-03, ISS-DPOP-04).
//! - Secrets (pre-authorized codes, tx_codes, access tokens, request_uris,
//!   authorization codes, refresh tokens, login sessions, CSRF tokens,
//!   passwords) are stored only as hashes computed by the caller: this crate
//!   never sees raw secrets.
//! - Time is passed in by the caller as Unix seconds, so tests are
//!   deterministic.

mod auth_sessions;
mod codes;
mod deferred;
mod error;
mod holders;
mod issuances;
mod notifications;
mod offers;
mod par;
mod records;
mod refresh_tokens;
mod single_use;
mod status_lists;
mod store;
mod tokens;

pub use deferred::{DeferredDecision, DeferredState, DeferredTransactionRecord};
pub use error::StoreError;
pub use notifications::{NotificationEventRecord, NotificationRecord};
pub use records::{
    AccessTokenRecord, AuthSessionRecord, AuthorizationCodeRecord, CodeRedemption, Holder,
    IssuanceRecord, IssuerStateRecord, NewOffer, ParConsumption, ParRecord, PreAuthorizedGrant,
    RefreshRotation, RefreshTokenRecord,
};
pub use status_lists::{
    AllocationRandom, STATUS_INVALID, STATUS_SUSPENDED, STATUS_VALID, StatusAllocation,
    StatusListRecord, StatusUpdate,
};
pub use store::{Backend, Store};
