//! What travels between the steps of the authorization-code flow, stored as
//! JSON in the store: the pushed request (PAR → authorize), and the grant an
//! authorization code or refresh token carries (authorize → token → refresh).

use avow_core::authorization::{AuthorizationDetail, PushedAuthorizationRequest};
use serde::{Deserialize, Serialize};

/// A pushed authorization request as accepted at the PAR endpoint
/// (RFC 9126 §2.2), kept until the authorization endpoint consumes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PushedRequest {
    pub request: PushedAuthorizationRequest,
    /// The credential configurations asked for (details first, then scopes).
    pub configuration_ids: Vec<String>,
    /// The authenticated client (= WIA `sub`, assertion `iss` or certificate subject).
    pub client_id: String,
    /// RFC 7638 thumbprint of the client instance key (WIA `cnf`), when attested.
    pub client_instance_jkt: Option<String>,
    /// DPoP key the code will be bound to (`dpop_jkt` or the DPoP header at PAR; ISS-PAR-10).
    pub dpop_jkt: Option<String>,
    /// From `issuer_state`: the offer this request continues, and its holder (ISS-AUTHZ-09).
    pub offer_id: Option<String>,
    pub offer_holder_id: Option<String>,
}

/// The authorization an authorization code carries to the token endpoint,
/// and a refresh token to later token requests (ISS-AUTHZ-08, ISS-TRT-01).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuthorizationGrant {
    pub holder_id: String,
    pub configuration_ids: Vec<String>,
    /// Present when the request used `authorization_details`; the token
    /// response then answers with them plus `credential_identifiers` (VCI §6.2).
    #[serde(default)]
    pub authorization_details: Vec<AuthorizationDetail>,
    pub client_id: String,
    pub client_instance_jkt: Option<String>,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub dpop_jkt: Option<String>,
    pub offer_id: Option<String>,
    /// When the holder authenticated (Unix seconds).
    pub auth_time: i64,
}
