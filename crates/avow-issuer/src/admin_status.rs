//! Admin API for credential status (ISS-STAT-06, ISS-ADM-02): revoke,
//! suspend and resume an issued credential by its issuance id.
//!
//! * `GET /admin/issuances/{id}/status` → 200 `{id, status, status_list}`.
//! * `POST /admin/issuances/{id}/status` with `{"status": "revoked" |
//!   "suspended" | "valid"}` → 200 `{id, status, status_list}`; 404 for an
//!   unknown issuance; 409 when the credential is revoked already
//!   (revocation is final, TSL §7.1) or has no status list entry.
//!
//! A change is one atomic store statement and shows in the very next
//! Status List Token (the endpoint signs a fresh token per request).

use crate::error::ApiError;
use crate::state::AppState;
use avow_core::{ErrorCode, ProtocolError};
use avow_store::{IssuanceRecord, STATUS_INVALID, STATUS_SUSPENDED, STATUS_VALID, StatusUpdate};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The admin names of the status values.
fn status_name(value: u8) -> String {
    match value {
        STATUS_VALID => "valid".into(),
        STATUS_INVALID => "revoked".into(),
        STATUS_SUSPENDED => "suspended".into(),
        other => format!("0x{other:02x}"),
    }
}

fn status_value(name: &str) -> Option<u8> {
    match name {
        "valid" => Some(STATUS_VALID),
        "revoked" => Some(STATUS_INVALID),
        "suspended" => Some(STATUS_SUSPENDED),
        _ => None,
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusChange {
    status: String,
}

fn conflict(description: &str) -> Response {
    let mut response = (
        StatusCode::CONFLICT,
        Json(serde_json::json!({"error": "conflict", "error_description": description})),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn not_found() -> ApiError {
    ApiError::at_as(ProtocolError::new(ErrorCode::NotFound, "no such issuance"))
}

/// The issuance and its status list entry.
async fn entry(state: &AppState, id: &str) -> Result<(IssuanceRecord, String, u32), Response> {
    let record = match state.store.issuance(id).await {
        Ok(Some(record)) => record,
        Ok(None) => return Err(not_found().into_response()),
        Err(e) => return Err(ApiError::from(e).into_response()),
    };
    match (record.status_list_id.clone(), record.status_index) {
        (Some(list_id), Some(index)) => Ok((record, list_id, index)),
        _ => Err(conflict(
            "the credential was issued without a status list entry",
        )),
    }
}

fn body(state: &AppState, id: &str, list_id: &str, index: u32, value: u8) -> Response {
    let uri = crate::status_list::status_list_uri(&state.issuer_id, list_id);
    let mut response = Json(serde_json::json!({
        "id": id,
        "status": status_name(value),
        "status_list": {"idx": index, "uri": uri},
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /admin/issuances/{id}/status`.
pub async fn get_issuance_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Response {
    let (record, list_id, index) = match entry(&state, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    match state.store.status_value(&list_id, index).await {
        Ok(Some(value)) => body(&state, &record.id, &list_id, index, value),
        Ok(None) => {
            tracing::error!(issuance = %record.id, "issuance names a status entry that does not exist");
            ApiError::at_as(ProtocolError::server_error("the status entry is missing"))
                .into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `POST /admin/issuances/{id}/status`: revoke, suspend or resume (ISS-STAT-06).
pub async fn set_issuance_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Bytes,
) -> Response {
    // An object only: serde would also read a struct from a JSON array.
    let requested = serde_json::from_slice::<serde_json::Value>(&request)
        .ok()
        .filter(serde_json::Value::is_object)
        .and_then(|v| serde_json::from_value::<StatusChange>(v).ok())
        .and_then(|c| status_value(&c.status));
    let Some(value) = requested else {
        return ApiError::at_as(ProtocolError::invalid_request(
            "the body must be {\"status\": \"revoked\" | \"suspended\" | \"valid\"}",
        ))
        .into_response();
    };
    let (record, list_id, index) = match entry(&state, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    match state
        .store
        .set_status(&list_id, index, value, state.now())
        .await
    {
        Ok(StatusUpdate::Updated) => {
            tracing::info!(issuance = %record.id, status = %status_name(value), "credential status changed");
            body(&state, &record.id, &list_id, index, value)
        }
        Ok(StatusUpdate::Final) => conflict("the credential is revoked; revocation is final"),
        Ok(StatusUpdate::DoesNotFit) => {
            conflict("the status list of this credential cannot express that status")
        }
        Ok(StatusUpdate::Unknown) => {
            tracing::error!(issuance = %record.id, "issuance names a status entry that does not exist");
            ApiError::at_as(ProtocolError::server_error("the status entry is missing"))
                .into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}
