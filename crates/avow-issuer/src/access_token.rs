//! Minting access and refresh tokens for every grant (OID4VCI §6.2,
//! RFC 9449 §5, RFC 6749 §6; ISS-TOK-04 … -06, -10, ISS-TRT-01).
//!
//! Tokens are 256-bit random strings stored only as SHA-256 hashes with the
//! grant they carry, so any instance can serve later steps.

use crate::authorization_grant::AuthorizationGrant;
use crate::dpop::fresh_nonce;
use crate::error::ApiError;
use crate::state::IssuerState;
use avow_core::ProtocolError;
use avow_core::authorization::AuthorizationDetail;
use avow_core::token::TokenResponse;
use avow_crypto::hash::sha256_b64;
use avow_crypto::server_nonce::ServerNonces;
use avow_store::{AccessTokenRecord, RefreshTokenRecord};
use axum::Json;
use axum::http::{HeaderName, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// What an access token authorizes.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub holder_id: String,
    pub configuration_ids: Vec<String>,
    pub client_id: Option<String>,
    /// Ties tokens to the authorization they came from, for revocation (ISS-TAC-03, ISS-TRT-03).
    pub grant_id: Option<String>,
    pub offer_id: Option<String>,
    /// Requested `authorization_details`; answered with `credential_identifiers` (VCI §6.2).
    pub authorization_details: Vec<AuthorizationDetail>,
    /// Binds the access token to the client's TLS certificate (RFC 8705 §3; ISS-CLI-03).
    pub certificate_thumbprint: Option<String>,
}

/// The grant a refresh token carries (ISS-TRT-01): bound to the DPoP key and
/// the client instance of the original authorization.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshGrant {
    pub grant: AuthorizationGrant,
    pub dpop_jkt: String,
    pub family_started_at: i64,
}

/// `authorization_details` in a token request may narrow what was granted,
/// never widen it (VCI §6.1.1, RFC 9396 §6.1; ISS-TOK-07, ISS-TPA-08).
/// Returns the configurations and details the token will carry.
pub fn narrow_grant(
    granted: &[String],
    granted_details: &[AuthorizationDetail],
    requested: Option<&[AuthorizationDetail]>,
) -> Result<(Vec<String>, Vec<AuthorizationDetail>), ApiError> {
    let Some(requested) = requested else {
        return Ok((granted.to_vec(), granted_details.to_vec()));
    };
    let mut ids = Vec::new();
    for detail in requested {
        if !granted.contains(&detail.credential_configuration_id) {
            return Err(ApiError::at_as(
                ProtocolError::invalid_authorization_details(format!(
                    "{} was not authorized",
                    detail.credential_configuration_id
                )),
            ));
        }
        if !ids.contains(&detail.credential_configuration_id) {
            ids.push(detail.credential_configuration_id.clone());
        }
    }
    Ok((ids, requested.to_vec()))
}

/// The HMAC domain of credential identifiers.
const IDENTIFIER_DOMAIN: &[u8] = b"avow credential_identifier";
/// Characters of the grant reference that opens an identifier (8 bytes).
const GRANT_REF_LEN: usize = 11;

/// A stable, opaque Credential Dataset identifier per grant and configuration
/// (VCI §3.3.4): stable so that a refreshed token names the same datasets.
/// It is `grant reference ‖ tag`, the tag keyed with the issuer's shared
/// server key, so the issuer recognises its own identifiers without a store
/// look-up ([`minted_identifier`]; ISS-CRED-06) and nobody else can make one.
pub fn credential_identifier(
    nonces: &ServerNonces,
    grant_id: &str,
    configuration_id: &str,
) -> String {
    let grant_ref: String = sha256_b64(grant_id.as_bytes())
        .chars()
        .take(GRANT_REF_LEN)
        .collect();
    identifier_for(nonces, &grant_ref, configuration_id)
}

fn identifier_for(nonces: &ServerNonces, grant_ref: &str, configuration_id: &str) -> String {
    let mut data = grant_ref.as_bytes().to_vec();
    data.push(0);
    data.extend_from_slice(configuration_id.as_bytes());
    format!(
        "{grant_ref}{}",
        avow_crypto::b64::encode(nonces.tag(IDENTIFIER_DOMAIN, &data))
    )
}

/// Whether this issuer minted `identifier` for one of `configurations`
/// (for any grant): one keyed tag per configuration, compared in constant time.
pub fn minted_identifier<'a>(
    nonces: &ServerNonces,
    configurations: impl IntoIterator<Item = &'a String>,
    identifier: &str,
) -> bool {
    let Some(grant_ref) = identifier.get(..GRANT_REF_LEN) else {
        return false;
    };
    configurations.into_iter().any(|configuration_id| {
        avow_crypto::hash::constant_time_eq(
            identifier_for(nonces, grant_ref, configuration_id).as_bytes(),
            identifier.as_bytes(),
        )
    })
}

/// `authorization_details` of the token response, each with its identifiers.
fn answered_details(nonces: &ServerNonces, grant: &TokenGrant) -> Option<Vec<AuthorizationDetail>> {
    if grant.authorization_details.is_empty() {
        return None;
    }
    let grant_id = grant.grant_id.as_deref().unwrap_or(&grant.holder_id);
    Some(
        grant
            .authorization_details
            .iter()
            .filter(|d| {
                grant
                    .configuration_ids
                    .contains(&d.credential_configuration_id)
            })
            .map(|d| AuthorizationDetail {
                credential_identifiers: Some(vec![credential_identifier(
                    nonces,
                    grant_id,
                    &d.credential_configuration_id,
                )]),
                ..d.clone()
            })
            .collect(),
    )
}

/// Stores a new DPoP-bound access token (and, when `refresh` is given, a
/// refresh token) and builds the token response.
pub async fn issue_tokens(
    state: &IssuerState,
    grant: &TokenGrant,
    dpop_jkt: &str,
    refresh: Option<RefreshGrant>,
) -> Result<Response, ApiError> {
    let now = state.now();
    let access_token = state.random.token(32);
    let lifetime = state.config.policy.access_token_lifetime;
    let details = answered_details(&state.nonces, grant);
    let details_json = details
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(|_| ApiError::at_as(ProtocolError::server_error("token encoding")))?;
    state
        .store
        .insert_access_token(&AccessTokenRecord {
            token_hash: sha256_b64(access_token.as_bytes()),
            holder_id: grant.holder_id.clone(),
            configuration_ids: grant.configuration_ids.clone(),
            client_id: grant.client_id.clone(),
            dpop_jkt: dpop_jkt.to_owned(),
            offer_id: grant.offer_id.clone(),
            grant_id: grant.grant_id.clone(),
            authorization_details: details_json,
            certificate_thumbprint: grant.certificate_thumbprint.clone(),
            issued_at: now,
            expires_at: now + lifetime,
        })
        .await?;
    let refresh_token = match (refresh, &grant.grant_id) {
        (Some(refresh), Some(grant_id)) => {
            let token = state.random.token(32);
            let json = serde_json::to_value(&refresh)
                .map_err(|_| ApiError::at_as(ProtocolError::server_error("token encoding")))?;
            let max_end =
                refresh.family_started_at + state.config.authorization.refresh_token_max_age;
            state
                .store
                .insert_refresh_token(&RefreshTokenRecord {
                    token_hash: sha256_b64(token.as_bytes()),
                    grant_id: grant_id.clone(),
                    grant: json,
                    issued_at: now,
                    expires_at: (now + state.config.authorization.refresh_token_lifetime)
                        .min(max_end),
                })
                .await?;
            Some(token)
        }
        _ => None,
    };
    let body = TokenResponse {
        access_token,
        token_type: "DPoP".into(),
        expires_in: u64::try_from(lifetime).unwrap_or(0),
        refresh_token,
        authorization_details: details.map(|d| {
            d.into_iter()
                .filter_map(|d| serde_json::to_value(d).ok())
                .collect()
        }),
    };
    let mut response = (
        [
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (HeaderName::from_static("dpop-nonce"), fresh_nonce(state)),
        ],
        Json(body),
    )
        .into_response();
    crate::par::attach_challenge(state, response.headers_mut());
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_stable_distinct_and_recognised() {
        let n = ServerNonces::new(&[7u8; 32]);
        let id = |g: &str, c: &str| credential_identifier(&n, g, c);
        assert_eq!(id("g", "a"), id("g", "a"));
        assert_ne!(id("g", "a"), id("g", "b"));
        assert_ne!(id("g", "a"), id("h", "a"));
        assert_eq!(id("g", "a").len(), GRANT_REF_LEN + 22);
        let configurations = ["a".to_owned(), "b".to_owned()];
        assert!(minted_identifier(
            &n,
            &configurations,
            &id("other-grant", "b")
        ));
        assert!(
            !minted_identifier(&n, &configurations, &id("g", "c")),
            "not a configuration"
        );
        let foreign = ServerNonces::new(&[8u8; 32]);
        assert!(!minted_identifier(
            &n,
            &configurations,
            &credential_identifier(&foreign, "g", "a")
        ));
        for junk in ["", "%", "short", "ü_________________________________"] {
            assert!(!minted_identifier(&n, &configurations, junk), "{junk}");
        }
    }
}
