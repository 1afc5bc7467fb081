//! Everything a request handler needs, built once at start-up.

use crate::config::IssuerConfig;
use crate::keys::IssuerKeys;
use avow_core::Clock;
use avow_crypto::server_nonce::ServerNonces;
use avow_crypto::{AlgorithmAllowList, Random};
use avow_store::Store;
use axum::body::Bytes;
use std::sync::Arc;

pub type AppState = Arc<IssuerState>;

/// Published endpoint URLs, all derived from `server.public_url` (ISS-META-18).
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub authorization: String,
    pub par: String,
    pub token: String,
    pub nonce: String,
    pub credential: String,
    pub credential_offer: String,
}

pub struct IssuerState {
    pub config: IssuerConfig,
    /// The Credential Issuer Identifier (= AS issuer; co-located).
    pub issuer_id: String,
    pub endpoints: Endpoints,
    pub store: Store,
    pub keys: IssuerKeys,
    /// Credential request decryption and response encryption (VCI §10).
    pub encryption: crate::credential_encryption::CredentialEncryption,
    pub nonces: ServerNonces,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
    pub algorithms: AlgorithmAllowList,
    /// Trust anchors and keys of client authentication (wallet providers, mTLS CAs, assertion keys).
    pub client_auth: crate::client_auth::ClientAuthTrust,
    pub admin_token: String,
    /// How holders sign in at the authorization endpoint (ISS-AUTHZ-04).
    pub holder_authenticator: Arc<dyn crate::authorize::HolderAuthenticator>,
    pub credential_issuer_metadata: Bytes,
    pub authorization_server_metadata: Bytes,
    pub jwt_vc_issuer_metadata: Bytes,
}

impl IssuerState {
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}

impl Endpoints {
    pub fn new(issuer_id: &str) -> Self {
        Self {
            authorization: format!("{issuer_id}/authorize"),
            par: format!("{issuer_id}/par"),
            token: format!("{issuer_id}/token"),
            nonce: format!("{issuer_id}/nonce"),
            credential: format!("{issuer_id}/credential"),
            credential_offer: format!("{issuer_id}/credential-offer"),
        }
    }
}
