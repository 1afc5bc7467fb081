//! `RefreshAccessToken`: the `refresh_token` grant (RFC 6749 §6, RFC 9449 §5,
//! RFC 9700 §4.14.2; ISS-TRT-01 … -05).

use crate::access_token::{RefreshGrant, TokenGrant, issue_tokens};
use crate::client_auth::AuthenticatedClient;
use crate::dpop::DpopKey;
use crate::error::ApiError;
use crate::state::IssuerState;
use avow_core::ProtocolError;
use avow_crypto::hash::sha256_b64;
use avow_store::RefreshRotation;
use axum::response::Response;

pub async fn refresh_access_token(
    state: &IssuerState,
    client: &AuthenticatedClient,
    dpop: &DpopKey,
    refresh_token: &str,
    scope: Option<&str>,
) -> Result<Response, ApiError> {
    let invalid_grant = |d: &str| ApiError::at_as(ProtocolError::invalid_grant(d));
    let now = state.now();
    let token_hash = sha256_b64(refresh_token.as_bytes());
    // Read without rotating first: a request that fails the DPoP or client
    // binding must not burn the holder's token (ISS-TRT-02).
    let Some(record) = state.store.active_refresh_token(&token_hash, now).await? else {
        return match state.store.rotate_refresh_token(&token_hash, now).await? {
            RefreshRotation::Reused { grant_id } => {
                // A rotated token presented again: the family is compromised (ISS-TRT-03).
                let revoked = state.store.revoke_grant(&grant_id).await?;
                tracing::warn!(
                    revoked,
                    "refresh token reused after rotation; its family was revoked"
                );
                Err(invalid_grant(
                    "the refresh token was already used; the authorization is revoked",
                ))
            }
            _ => Err(invalid_grant("the refresh token is unknown or expired")),
        };
    };
    let refresh: RefreshGrant = serde_json::from_value(record.grant.clone())
        .map_err(|_| ApiError::at_as(ProtocolError::server_error("stored grant is unreadable")))?;
    let grant = &refresh.grant;
    // ISS-TRT-02: same DPoP key and same client instance as the original grant.
    if refresh.dpop_jkt != dpop.jkt {
        return Err(invalid_grant(
            "the DPoP key is not the one the refresh token is bound to",
        ));
    }
    if client.client_id.as_deref() != Some(grant.client_id.as_str())
        || (grant.client_instance_jkt.is_some() && grant.client_instance_jkt != client.instance_jkt)
    {
        return Err(invalid_grant(
            "the refresh token was issued to another client instance",
        ));
    }
    if now - refresh.family_started_at > state.config.authorization.refresh_token_max_age {
        return Err(invalid_grant(
            "the authorization is too old; authorize again",
        ));
    }
    // ISS-TRT-04: a scope parameter may only narrow.
    let configuration_ids = match scope {
        None => grant.configuration_ids.clone(),
        Some(scope) => {
            let mut narrowed = Vec::new();
            for s in scope.split(' ').filter(|s| !s.is_empty()) {
                let id = state
                    .config
                    .credential_configurations
                    .iter()
                    .find(|(_, c)| c.scope == s)
                    .map(|(id, _)| id.clone())
                    .filter(|id| grant.configuration_ids.contains(id))
                    .ok_or_else(|| {
                        ApiError::at_as(ProtocolError::invalid_scope(
                            "scope exceeds the original authorization",
                        ))
                    })?;
                if !narrowed.contains(&id) {
                    narrowed.push(id);
                }
            }
            if narrowed.is_empty() {
                return Err(ApiError::at_as(ProtocolError::invalid_scope(
                    "scope names no credential",
                )));
            }
            narrowed
        }
    };
    // Every check passed: now rotate, exactly once across instances.
    let record = match state.store.rotate_refresh_token(&token_hash, now).await? {
        RefreshRotation::Rotated(record) => record,
        RefreshRotation::Reused { grant_id } => {
            state.store.revoke_grant(&grant_id).await?;
            return Err(invalid_grant(
                "the refresh token was already used; the authorization is revoked",
            ));
        }
        RefreshRotation::Unknown => {
            return Err(invalid_grant("the refresh token is unknown or expired"));
        }
    };
    let token_grant = TokenGrant {
        holder_id: grant.holder_id.clone(),
        configuration_ids,
        client_id: Some(grant.client_id.clone()),
        grant_id: Some(record.grant_id.clone()),
        offer_id: grant.offer_id.clone(),
        authorization_details: grant.authorization_details.clone(),
        certificate_thumbprint: client.certificate_thumbprint.clone(),
    };
    issue_tokens(state, &token_grant, &dpop.jkt, Some(refresh.clone())).await
}
