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
    pub issued_at: i64,
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
}
