//! Attestation challenges (ABCA §6; ISS-CATT-07, -08): the Challenge Endpoint
//! and the `OAuth-Client-Attestation-Challenge` response header.
//!
//! Challenges are stateless: minted with the shared server-nonce key under
//! their own purpose, so any instance verifies any challenge until it is
//! `client_authentication.challenge_lifetime` old. Replay of a PoP is stopped
//! by its single-use `jti`, not by the challenge.

use crate::error::{ApiError, LoggedErrorCode};
use crate::state::{AppState, IssuerState};
use avow_core::client_attestation::ATTESTATION_CHALLENGE_HEADER;
use avow_core::{ErrorCode, ProtocolError};
use avow_crypto::server_nonce::NoncePurpose;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Path of the Challenge Endpoint under the issuer identifier.
pub const CHALLENGE_PATH: &str = "/challenge";

/// A fresh challenge, when challenges are switched on (`client_authentication.challenge_endpoint`).
pub fn fresh_challenge(state: &IssuerState) -> Option<String> {
    state
        .config
        .client_authentication
        .challenge_endpoint
        .then(|| {
            state.nonces.mint(
                NoncePurpose::AttestationChallenge,
                state.now(),
                state.random.as_ref(),
            )
        })
}

/// Whether `challenge` was minted by this issuer and is still current.
pub fn verify_challenge(state: &IssuerState, challenge: &str) -> bool {
    state
        .nonces
        .verify(
            NoncePurpose::AttestationChallenge,
            challenge,
            state.now(),
            state.config.client_authentication.challenge_lifetime,
            state.config.policy.clock_skew,
        )
        .is_some()
}

/// `POST /challenge` (ABCA §6.1): `{"attestation_challenge": …}`, `Cache-Control: no-store`;
/// 404 when challenges are off (the endpoint is then not in the metadata either).
pub async fn handle_challenge_request(State(state): State<AppState>) -> Result<Response, ApiError> {
    let challenge = fresh_challenge(&state).ok_or_else(|| {
        ApiError::at_as(ProtocolError::new(
            ErrorCode::NotFound,
            "the attestation challenge endpoint is not enabled",
        ))
    })?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({ "attestation_challenge": challenge })),
    )
        .into_response())
}

/// Middleware: a `use_attestation_challenge` error carries a fresh challenge
/// in `OAuth-Client-Attestation-Challenge` (ABCA §7.4; ISS-CATT-07).
pub async fn attach_challenge_to_errors(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let wants_challenge = response
        .extensions()
        .get::<LoggedErrorCode>()
        .is_some_and(|c| c.0 == ErrorCode::UseAttestationChallenge);
    let name = HeaderName::from_static(ATTESTATION_CHALLENGE_HEADER);
    if wants_challenge && !response.headers().contains_key(&name) {
        // Minted even if the switch was turned off since: the error asked for one.
        let challenge = state.nonces.mint(
            NoncePurpose::AttestationChallenge,
            state.now(),
            state.random.as_ref(),
        );
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
