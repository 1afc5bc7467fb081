//! The admin API (ISS-ADM-01, -02): on its own listener, bearer-token
//! authenticated, never on the public port.

use crate::error::ApiError;
use crate::offer::create_credential_offer;
use crate::state::AppState;
use avow_core::ProtocolError;
use avow_store::Holder;
use axum::Json;
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/admin/offers", post(create_credential_offer))
        .route("/admin/holders", put(import_holders).get(list_holders))
        .route("/admin/holders/{id}", get(get_holder))
        .route("/admin/holders/{id}/issuances", get(list_issuances))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_admin_token,
        ))
        // Outermost, so refused calls carry a correlation id too (ISS-SEC-10).
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::app::correlate,
        ))
        .with_state(state)
}

/// Constant-time check of `Authorization: Bearer <admin token>`.
async fn require_admin_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !avow_crypto::hash::constant_time_eq(presented.as_bytes(), state.admin_token.as_bytes()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"avow-admin\"")],
            Json(serde_json::json!({"error": "invalid_token", "error_description": "a valid admin token is required"})),
        )
            .into_response();
    }
    next.run(request).await
}

/// `PUT /admin/holders`: upserts a JSON array of `{id, claims}` (ISS-ADM-02).
async fn import_holders(
    State(state): State<AppState>,
    Json(holders): Json<Vec<Holder>>,
) -> Result<Response, ApiError> {
    for holder in &holders {
        if holder.id.is_empty() || holder.id.len() > 200 {
            return Err(ApiError::at_as(ProtocolError::invalid_request(
                "holder id must be 1 to 200 characters",
            )));
        }
        if let Some(reserved) = holder
            .claims
            .keys()
            .find(|k| crate::config::RESERVED_CLAIMS.contains(&k.as_str()))
        {
            return Err(ApiError::at_as(ProtocolError::invalid_request(format!(
                "holder {}: claim {reserved} is reserved for the issuer",
                holder.id
            ))));
        }
    }
    for holder in &holders {
        state.store.upsert_holder(holder).await?;
    }
    tracing::info!(count = holders.len(), "holders imported");
    Ok(Json(serde_json::json!({ "imported": holders.len() })).into_response())
}

async fn list_holders(State(state): State<AppState>) -> Result<Response, ApiError> {
    let ids: Vec<String> = state
        .store
        .holders()
        .await?
        .into_iter()
        .map(|h| h.id)
        .collect();
    Ok(Json(ids).into_response())
}

async fn get_holder(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match state.store.holder(&id).await? {
        Some(holder) => Ok(Json(holder).into_response()),
        None => Err(ApiError::at_as(ProtocolError::new(
            avow_core::ErrorCode::NotFound,
            "no such holder",
        ))),
    }
}

async fn list_issuances(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let records = state.store.issuances_for_holder(&id).await?;
    let list: Vec<serde_json::Value> = records
        .into_iter()
        .map(|r| {
            serde_json::json!({
                "id": r.id, "credential_configuration_id": r.configuration_id,
                "key_thumbprint": r.key_thumbprint, "issued_at": r.issued_at, "expires_at": r.expires_at
            })
        })
        .collect();
    Ok(Json(list).into_response())
}
