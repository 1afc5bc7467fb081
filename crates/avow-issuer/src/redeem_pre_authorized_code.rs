//! `RedeemPreAuthorizedCode`: the Pre-Authorized Code grant at the token
//! endpoint (OID4VCI §6.1, §6.3, §13.6.3; ISS-TPA-01 … -09).

use crate::access_token::{TokenGrant, issue_tokens};
use crate::client_auth::AuthenticatedClient;
use crate::dpop::DpopKey;
use crate::error::ApiError;
use crate::state::IssuerState;
use avow_core::ProtocolError;
use avow_crypto::hash::{constant_time_eq, sha256_b64};
use axum::response::Response;

/// Runs after client authentication and the DPoP check (ISS-TAC-07's rule
/// applies here too: a `use_dpop_nonce` refusal never burns the code).
pub async fn redeem_pre_authorized_code(
    state: &IssuerState,
    client: &AuthenticatedClient,
    dpop: &DpopKey,
    code: &str,
    tx_code: Option<&str>,
    requested: Option<&[avow_core::authorization::AuthorizationDetail]>,
) -> Result<Response, ApiError> {
    let grant = check_code(state, code, tx_code).await?;
    // The narrowing check runs after redemption: the code is single-use either way.
    let (configuration_ids, authorization_details) =
        crate::access_token::narrow_grant(&grant.configuration_ids, &[], requested)?;
    let token_grant = TokenGrant {
        holder_id: grant.holder_id,
        configuration_ids,
        client_id: client.client_id.clone(),
        grant_id: None,
        offer_id: Some(grant.offer_id),
        authorization_details,
        certificate_thumbprint: client.certificate_thumbprint.clone(),
    };
    issue_tokens(state, &token_grant, &dpop.jkt, None).await
}

/// Redeems a pre-authorized code with its transaction code (OID4VCI §6.1, §6.3, §13.6.3).
async fn check_code(
    state: &IssuerState,
    code: &str,
    tx_code: Option<&str>,
) -> Result<avow_store::PreAuthorizedGrant, ApiError> {
    let as_error = ApiError::at_as;
    let now = state.now();
    let code_hash = sha256_b64(code.as_bytes());
    let grant = state
        .store
        .pre_authorized_grant(&code_hash, now)
        .await?
        .ok_or_else(|| {
            as_error(ProtocolError::invalid_grant(
                "the pre-authorized code is unknown, expired or already used",
            ))
        })?;
    match (&grant.tx_code_hash, tx_code) {
        (None, None) => {}
        (Some(_), None) => {
            return Err(as_error(ProtocolError::invalid_request(
                "tx_code is required for this offer",
            )));
        }
        (None, Some(_)) => {
            return Err(as_error(ProtocolError::invalid_request(
                "this offer has no transaction code",
            )));
        }
        (Some(expected), Some(given)) => {
            if !constant_time_eq(expected.as_bytes(), sha256_b64(given.as_bytes()).as_bytes()) {
                let max = state.config.policy.max_tx_code_attempts;
                let attempts = state.store.record_wrong_tx_code(&code_hash, max).await?;
                let description = if attempts >= max {
                    "the transaction code is wrong; too many attempts, the offer is no longer valid"
                } else {
                    "the transaction code is wrong"
                };
                return Err(as_error(ProtocolError::invalid_grant(description)));
            }
        }
    }
    if !state
        .store
        .redeem_pre_authorized_code(&code_hash, now)
        .await?
    {
        return Err(as_error(ProtocolError::invalid_grant(
            "the pre-authorized code is unknown, expired or already used",
        )));
    }
    Ok(grant)
}
