//! `HandleNonceRequest`: the Nonce Endpoint (OID4VCI §7; ISS-NONCE-01 … -04).
//!
//! A `c_nonce` is minted statelessly (HMAC under the store-shared key), so
//! this endpoint writes nothing; its single use is enforced when a credential
//! request consumes it.

use crate::dpop::fresh_nonce;
use crate::state::AppState;
use avow_core::nonce::NonceResponse;
use avow_crypto::server_nonce::NoncePurpose;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

pub async fn handle_nonce_request(State(state): State<AppState>) -> impl IntoResponse {
    let c_nonce = state
        .nonces
        .mint(NoncePurpose::CNonce, state.now(), state.random.as_ref());
    (
        [
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (
                header::HeaderName::from_static("dpop-nonce"),
                fresh_nonce(&state),
            ),
        ],
        Json(NonceResponse { c_nonce }),
    )
}
