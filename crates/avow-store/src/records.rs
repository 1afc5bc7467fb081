//! The records the store reads and writes. Secrets appear only as hashes
//! computed by the caller.

use serde_json::{Map, Value};

/// A holder and the claims the issuer may put in their credentials.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    pub id: String,
    /// A JSON object of claims.
    pub claims: Map<String, Value>,
}

/// A credential offer with its pre-authorized code grant (OID4VCI 1.0 §4.1,
/// §4.1.1).
#[derive(Debug, Clone, PartialEq)]
pub struct NewOffer {
    pub offer_id: String,
    /// The Credential Offer object served by reference (ISS-OFFER-07).
    pub offer_json: Value,
    pub holder_id: String,
    pub configuration_ids: Vec<String>,
    /// Hash of the pre-authorized code; the raw code is never stored.
    pub pre_authorized_code_hash: String,
    /// Hash of the tx_code, when one is required (ISS-TPA-06).
    pub tx_code_hash: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// The active grant behind a pre-authorized code (state Offered, not
/// expired).
#[derive(Debug, Clone, PartialEq)]
pub struct PreAuthorizedGrant {
    pub offer_id: String,
    pub holder_id: String,
    pub configuration_ids: Vec<String>,
    pub tx_code_hash: Option<String>,
    /// Wrong tx_code attempts so far (ISS-TPA-05).
    pub wrong_tx_code_attempts: u32,
    pub expires_at: i64,
}

/// An access token (stored by hash) with the grant it carries (ISS-TOK-10).
#[derive(Debug, Clone, PartialEq)]
pub struct AccessTokenRecord {
    pub token_hash: String,
    pub holder_id: String,
    pub configuration_ids: Vec<String>,
    pub client_id: Option<String>,
    /// JWK thumbprint of the DPoP key the token is bound to (RFC 9449 §6).
    pub dpop_jkt: String,
    pub offer_id: Option<String>,
    /// The authorization-code grant (token family) the token belongs to,
    /// so a code replay or refresh-token reuse can revoke it (ISS-TAC-03,
    /// ISS-TRT-03); `None` for the pre-authorized code grant.
    pub grant_id: Option<String>,
    /// The `authorization_details` of the token response, with their
    /// `credential_identifiers` (VCI §6.2); `None` when only scopes or the
    /// pre-authorized code were used.
    pub authorization_details: Option<serde_json::Value>,
    /// `cnf.x5t#S256` of a certificate-bound token (RFC 8705 §3; ISS-CLI-03).
    pub certificate_thumbprint: Option<String>,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// The `issuer_state` of an authorization-code offer (OID4VCI §4.1.1).
#[derive(Debug, Clone, PartialEq)]
pub struct IssuerStateRecord {
    pub issuer_state_hash: String,
    pub offer_id: String,
    pub holder_id: String,
    pub configuration_ids: Vec<String>,
    pub expires_at: i64,
}

/// What the issuer keeps after issuing a credential: lifecycle data only,
/// never the credential itself (ISS-SEC-07).
#[derive(Debug, Clone, PartialEq)]
pub struct IssuanceRecord {
    pub id: String,
    pub holder_id: String,
    pub configuration_id: String,
    /// JWK thumbprint of the key the credential is bound to.
    pub key_thumbprint: String,
    pub issued_at: i64,
    pub expires_at: i64,
    /// The Token Status List entry of the credential (ISS-STAT-01), when
    /// status lists are on: list id and index.
    pub status_list_id: Option<String>,
    pub status_index: Option<u32>,
}

/// A pushed authorization request (RFC 9126), stored by the hash of its
/// `request_uri`: single use, short-lived, bound to the client that pushed it
/// (ISS-PAR-11, ISS-AUTHZ-01).
#[derive(Debug, Clone, PartialEq)]
pub struct ParRecord {
    /// Hash of the `request_uri`; the raw value is never stored.
    pub request_uri_hash: String,
    pub client_id: String,
    /// The validated authorization request.
    pub request: Value,
    pub created_at: i64,
    pub expires_at: i64,
}

/// The outcome of [`Store::consume_par_request`](crate::Store::consume_par_request).
#[derive(Debug, Clone, PartialEq)]
pub enum ParConsumption {
    /// Consumed by this call: no later call gets it again.
    Consumed(ParRecord),
    /// exists, unexpired, unused, but pushed by another client: NOT consumed
    WrongClient,
    /// unknown, expired or already used
    Unknown,
}

/// An authorization code (stored by hash) with the grant it carries
/// (ISS-AUTHZ-08).
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizationCodeRecord {
    /// Hash of the code; the raw code is never stored.
    pub code_hash: String,
    /// The grant (token family) every token issued from the code belongs to.
    pub grant_id: String,
    pub client_id: String,
    /// What the code is bound to: redirect_uri, code_challenge, DPoP jkt,
    /// instance key, holder, authorized configurations.
    pub grant: Value,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// The outcome of [`Store::redeem_authorization_code`](crate::Store::redeem_authorization_code).
#[derive(Debug, Clone, PartialEq)]
pub enum CodeRedemption {
    /// Redeemed by this call: every other call gets `Replayed` or `Unknown`.
    Redeemed(AuthorizationCodeRecord),
    /// the code was already redeemed: the caller revokes the grant (ISS-TAC-03)
    Replayed { grant_id: String },
    /// Unknown, or expired before it was redeemed.
    Unknown,
}

/// A refresh token (stored by hash) with the grant it carries (ISS-TRT-01).
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshTokenRecord {
    /// Hash of the refresh token; the raw token is never stored.
    pub token_hash: String,
    /// The token family: shared by every rotation of the original grant.
    pub grant_id: String,
    /// Key bindings, holder, configurations and the time of the original
    /// authorization (ISS-TRT-05).
    pub grant: Value,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// The outcome of [`Store::rotate_refresh_token`](crate::Store::rotate_refresh_token).
#[derive(Debug, Clone, PartialEq)]
pub enum RefreshRotation {
    /// Rotated by this call: the caller issues its successor.
    Rotated(RefreshTokenRecord),
    /// was already rotated or revoked: the caller revokes the family (ISS-TRT-03)
    Reused { grant_id: String },
    /// Unknown, or expired while still active.
    Unknown,
}

/// A holder login session of the authorization endpoint (login -> consent),
/// stored by the hash of its session id so any instance can serve any step.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthSessionRecord {
    /// Hash of the session id (cookie); the raw value is never stored.
    pub session_hash: String,
    /// The authorization request taken from the consumed PAR request.
    pub request: Value,
    /// Hash of the CSRF token of the session's forms (ISS-AUTHZ-11).
    pub csrf_hash: String,
    /// The authenticated holder, once logged in (ISS-AUTHZ-04).
    pub holder_id: Option<String>,
    pub failed_logins: u32,
    pub created_at: i64,
    pub expires_at: i64,
}
