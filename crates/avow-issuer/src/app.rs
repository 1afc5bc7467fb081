//! The public router and the per-request correlation id (ISS-SEC-10).

use crate::error::LoggedErrorCode;
use crate::state::AppState;
use crate::{credential, metadata, nonce, offer, token};
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use tracing::Instrument;

/// Maximum request body: generous for a batch of proofs, small enough to refuse abuse.
const BODY_LIMIT: usize = 256 * 1024;

pub fn public_router(state: AppState) -> Router {
    Router::new()
        .route(
            "/.well-known/openid-credential-issuer",
            get(crate::signed_metadata::get_credential_issuer_metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(metadata::get_authorization_server_metadata),
        )
        .route(
            "/.well-known/jwt-vc-issuer",
            get(metadata::get_jwt_vc_issuer_metadata),
        )
        .route(
            "/credential-offer/{id}",
            get(offer::handle_credential_offer_request),
        )
        .route(
            "/.well-known/did.json",
            get(crate::did_web::get_did_document),
        )
        .route(
            "/par",
            post(crate::par::handle_pushed_authorization_request),
        )
        .route("/token", post(token::handle_token_request))
        .route("/nonce", post(nonce::handle_nonce_request))
        .route("/credential", post(credential::issue_credential))
        .route(
            crate::challenge::CHALLENGE_PATH,
            post(crate::challenge::handle_challenge_request),
        )
        .merge(crate::authorize::routes())
        .merge(crate::status_list::routes())
        .merge(crate::deferred::routes(&state.config))
        .merge(crate::notification::routes(&state.config))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::challenge::attach_challenge_to_errors,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            correlate,
        ))
        .with_state(state)
}

/// Gives every request an id, returns it as `X-Request-Id` and logs one line
/// per request with the route (never the raw path: offer ids are secrets).
pub async fn correlate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let id = state.random.token(12);
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "-".into());
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = next.run(request).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    let error = response
        .extensions()
        .get::<LoggedErrorCode>()
        .map(|c| c.0.as_str());
    tracing::info!(request_id = %id, %method, route = %route, status = response.status().as_u16(), error, "request");
    response
}
