//! `RedeemAuthorizationCode`: the `authorization_code` grant at the token
//! endpoint (RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 9449 §10; ISS-TAC-01 … -07).

use crate::access_token::{RefreshGrant, TokenGrant, issue_tokens};
use crate::authorization_grant::AuthorizationGrant;
use crate::client_auth::AuthenticatedClient;
use crate::dpop::DpopKey;
use crate::error::ApiError;
use crate::state::IssuerState;
use avow_core::{ProtocolError, pkce};
use avow_crypto::hash::{constant_time_eq, sha256_b64};
use avow_store::CodeRedemption;
use axum::response::Response;

pub struct CodeExchange<'a> {
    pub code: &'a str,
    pub redirect_uri: &'a str,
    pub code_verifier: &'a str,
    pub authorization_details: Option<&'a [avow_core::authorization::AuthorizationDetail]>,
}

/// Runs after client authentication and the DPoP check, so that a request
/// refused for `use_dpop_nonce` or `use_attestation_challenge` never consumes
/// the code (ISS-TAC-07).
pub async fn redeem_authorization_code(
    state: &IssuerState,
    client: &AuthenticatedClient,
    dpop: &DpopKey,
    exchange: CodeExchange<'_>,
) -> Result<Response, ApiError> {
    let invalid_grant = |d: &str| ApiError::at_as(ProtocolError::invalid_grant(d));
    pkce::check_verifier(exchange.code_verifier).map_err(ApiError::at_as)?;
    let record = match state
        .store
        .redeem_authorization_code(&sha256_b64(exchange.code.as_bytes()), state.now())
        .await?
    {
        CodeRedemption::Redeemed(record) => record,
        CodeRedemption::Replayed { grant_id } => {
            // RFC 9700 §4.5: a replayed code revokes what it produced (ISS-TAC-03).
            let revoked = state.store.revoke_grant(&grant_id).await?;
            tracing::warn!(
                revoked,
                "authorization code replayed; its tokens were revoked"
            );
            return Err(invalid_grant(
                "the authorization code was already used; tokens issued from it are revoked",
            ));
        }
        CodeRedemption::Unknown => {
            return Err(invalid_grant(
                "the authorization code is unknown or expired",
            ));
        }
    };
    let grant: AuthorizationGrant = serde_json::from_value(record.grant)
        .map_err(|_| ApiError::at_as(ProtocolError::server_error("stored grant is unreadable")))?;
    if client.client_id.as_deref() != Some(record.client_id.as_str()) {
        return Err(invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    // ISS-TAC-05: the same client instance as at PAR.
    if grant.client_instance_jkt.is_some() && grant.client_instance_jkt != client.instance_jkt {
        return Err(invalid_grant(
            "the client instance key differs from the one of the authorization request",
        ));
    }
    if grant.redirect_uri != exchange.redirect_uri {
        return Err(invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    let challenge = sha256_b64(exchange.code_verifier.as_bytes());
    if !constant_time_eq(challenge.as_bytes(), grant.code_challenge.as_bytes()) {
        return Err(invalid_grant(
            "code_verifier does not match the code_challenge (PKCE)",
        ));
    }
    // ISS-TAC-06: a code bound to a DPoP key at PAR needs that key now.
    if grant.dpop_jkt.as_deref().is_some_and(|jkt| jkt != dpop.jkt) {
        return Err(invalid_grant(
            "the DPoP key differs from the one bound at the authorization request",
        ));
    }
    let (configuration_ids, authorization_details) = crate::access_token::narrow_grant(
        &grant.configuration_ids,
        &grant.authorization_details,
        exchange.authorization_details,
    )?;
    let token_grant = TokenGrant {
        holder_id: grant.holder_id.clone(),
        configuration_ids,
        client_id: Some(record.client_id.clone()),
        grant_id: Some(record.grant_id.clone()),
        offer_id: grant.offer_id.clone(),
        authorization_details,
        certificate_thumbprint: client.certificate_thumbprint.clone(),
    };
    let refresh = state
        .config
        .authorization
        .refresh_tokens
        .then(|| RefreshGrant {
            grant: grant.clone(),
            dpop_jkt: dpop.jkt.clone(),
            family_started_at: grant.auth_time,
        });
    issue_tokens(state, &token_grant, &dpop.jkt, refresh).await
}
