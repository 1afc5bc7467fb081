//! DPoP proof checking for the token endpoint and the protected resources
//! (RFC 9449 §4.3, §7, §8, §9; ISS-DPOP-01 … -08).

use crate::error::ApiError;
use crate::state::IssuerState;
use avow_core::ProtocolError;
use avow_core::dpop::DpopExpectations;
use avow_core::error::Endpoint;
use avow_crypto::server_nonce::NoncePurpose;
use axum::http::HeaderMap;

/// The key a request proved possession of.
#[derive(Debug, Clone)]
pub struct DpopKey {
    /// RFC 7638 thumbprint (`cnf.jkt`).
    pub jkt: String,
}

pub fn fresh_nonce(state: &IssuerState) -> String {
    state
        .nonces
        .mint(NoncePurpose::Dpop, state.now(), state.random.as_ref())
}

/// Checks the single `DPoP` header of a request to `uri` with `method`.
/// `access_token` is given at resource endpoints (for `ath`).
pub async fn check_dpop(
    state: &IssuerState,
    headers: &HeaderMap,
    method: &str,
    uri: &str,
    access_token: Option<&str>,
    at: Endpoint,
) -> Result<DpopKey, ApiError> {
    let fail = |e: ProtocolError| ApiError {
        error: e,
        at,
        dpop_nonce: None,
    };
    let mut values = headers.get_all("dpop").iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(fail(ProtocolError::invalid_dpop_proof(
            "exactly one DPoP header is required",
        )));
    };
    let proof = value.to_str().map_err(|_| {
        fail(ProtocolError::invalid_dpop_proof(
            "the DPoP header is not ASCII",
        ))
    })?;
    let (claims, key) = avow_crypto::dpop::verify_proof(proof, &state.algorithms).map_err(fail)?;
    let now = state.now();
    let ath = access_token.map(avow_crypto::dpop::access_token_hash);
    claims
        .validate(&DpopExpectations {
            method,
            uri,
            now,
            window: state.config.policy.dpop_window,
            ath: ath.as_deref(),
        })
        .map_err(fail)?;
    let nonce_ok = claims.nonce.as_deref().is_some_and(|n| {
        state
            .nonces
            .verify(
                NoncePurpose::Dpop,
                n,
                now,
                state.config.policy.dpop_nonce_lifetime,
                state.config.policy.clock_skew,
            )
            .is_some()
    });
    if !nonce_ok {
        return Err(fail(ProtocolError::use_dpop_nonce(
            "a current DPoP nonce is required",
        ))
        .with_dpop_nonce(fresh_nonce(state)));
    }
    let jkt = key.thumbprint();
    // RFC 9449 §11.1: a jti is single-use within the acceptance window, on every instance.
    let replay_key = avow_crypto::hash::sha256_b64(format!("{jkt}.{}", claims.jti).as_bytes());
    let keep_until = now + 2 * state.config.policy.dpop_window + state.config.policy.clock_skew;
    if !state
        .store
        .consume_once("dpop-jti", &replay_key, keep_until)
        .await?
    {
        return Err(fail(ProtocolError::invalid_dpop_proof(
            "the DPoP proof jti was already used",
        )));
    }
    Ok(DpopKey { jkt })
}
