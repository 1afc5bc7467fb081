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
        .route(
            "/admin/issuances/{id}/status",
            get(crate::admin_status::get_issuance_status)
                .post(crate::admin_status::set_issuance_status),
        )
        .merge(crate::admin_deferred::routes())
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

/// One entry of `PUT /admin/holders`: the holder and, optionally, the
/// password they sign in with at the authorization endpoint (ISS-AUTHZ-04).
#[derive(serde::Deserialize)]
struct HolderImport {
    #[serde(flatten)]
    holder: Holder,
    #[serde(default)]
    password: Option<String>,
}

/// `PUT /admin/holders`: upserts a JSON array of `{id, claims, password?}`
/// (ISS-ADM-02); a password is stored only as an argon2id PHC string.
async fn import_holders(
    State(state): State<AppState>,
    Json(imports): Json<Vec<HolderImport>>,
) -> Result<Response, ApiError> {
    for import in &imports {
        if import.password.as_ref().is_some_and(|p| {
            p.is_empty() || p.len() > crate::authorize::holder_auth::MAX_CREDENTIAL_LEN
        }) {
            return Err(ApiError::at_as(ProtocolError::invalid_request(format!(
                "holder {}: password must be 1 to 1024 bytes",
                import.holder.id
            ))));
        }
    }
    let holders: Vec<&Holder> = imports.iter().map(|i| &i.holder).collect();
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
    for import in &imports {
        state.store.upsert_holder(&import.holder).await?;
        if let Some(password) = &import.password {
            let phc = crate::authorize::holder_auth::hash_password_blocking(
                password.clone(),
                state.random.clone(),
            )
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "hashing a holder password failed");
                ApiError::at_as(ProtocolError::server_error("password hashing failed"))
            })?;
            state
                .store
                .set_holder_password(&import.holder.id, &phc)
                .await?;
        }
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
