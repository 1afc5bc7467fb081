//! `HandleTokenRequest`: the Token Endpoint (OID4VCI §6, RFC 6749 §5,
//! RFC 9449 §5) for the Pre-Authorized Code grant.

use crate::dpop::{check_dpop, fresh_nonce};
use crate::error::ApiError;
use crate::state::{AppState, IssuerState};
use avow_core::ProtocolError;
use avow_core::error::Endpoint;
use avow_core::token::{TokenRequest, TokenResponse};
use avow_crypto::hash::{constant_time_eq, sha256_b64};
use avow_store::AccessTokenRecord;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

pub async fn handle_token_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let as_error = ApiError::at_as;
    if !is_form(&headers) {
        return Err(as_error(ProtocolError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        )));
    }
    let form = std::str::from_utf8(&body)
        .ok()
        .and_then(avow_core::percent::parse_query)
        .ok_or_else(|| {
            as_error(ProtocolError::invalid_request(
                "the body is not valid form encoding",
            ))
        })?;
    let request = TokenRequest::from_form(&form).map_err(as_error)?;
    let client = authenticate_client(&state, &headers)?;
    // DPoP before the grant: a request refused for use_dpop_nonce must not burn the code (ISS-TAC-07).
    let dpop = check_dpop(
        &state,
        &headers,
        "POST",
        &state.endpoints.token,
        None,
        Endpoint::AuthorizationServer,
    )
    .await?;
    let grant = match request {
        TokenRequest::PreAuthorizedCode {
            pre_authorized_code,
            tx_code,
            client_id: _,
        } => redeem_pre_authorized_code(&state, &pre_authorized_code, tx_code.as_deref()).await?,
    };
    let now = state.now();
    let access_token = state.random.token(32);
    let lifetime = state.config.policy.access_token_lifetime;
    state
        .store
        .insert_access_token(&AccessTokenRecord {
            token_hash: sha256_b64(access_token.as_bytes()),
            holder_id: grant.holder_id,
            configuration_ids: grant.configuration_ids,
            client_id: client.client_id,
            dpop_jkt: dpop.jkt,
            offer_id: Some(grant.offer_id),
            issued_at: now,
            expires_at: now + lifetime,
        })
        .await?;
    let body = TokenResponse {
        access_token,
        token_type: "DPoP".into(),
        expires_in: u64::try_from(lifetime).unwrap_or(0),
        refresh_token: None,
        authorization_details: None,
    };
    Ok((
        [
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (
                header::HeaderName::from_static("dpop-nonce"),
                fresh_nonce(&state),
            ),
        ],
        Json(body),
    )
        .into_response())
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Who is calling. Wallet attestation (ABCA) arrives with the authorization-server
/// issue; until then only anonymous pre-authorized access exists, and only when
/// configured (VCI §12.3, ISS-TPA-07).
struct AuthenticatedClient {
    client_id: Option<String>,
}

fn authenticate_client(
    state: &IssuerState,
    headers: &HeaderMap,
) -> Result<AuthenticatedClient, ApiError> {
    let attested = headers.contains_key("oauth-client-attestation")
        || headers.contains_key("oauth-client-attestation-pop");
    if attested {
        return Err(ApiError::at_as(ProtocolError::invalid_client(
            "attestation-based client authentication is not enabled on this issuer",
        )));
    }
    if !state.config.policy.pre_authorized_grant_anonymous_access {
        return Err(ApiError::at_as(ProtocolError::invalid_client(
            "client authentication is required",
        )));
    }
    Ok(AuthenticatedClient { client_id: None })
}

/// Redeems a pre-authorized code with its transaction code (OID4VCI §6.1, §6.3, §13.6.3).
async fn redeem_pre_authorized_code(
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
