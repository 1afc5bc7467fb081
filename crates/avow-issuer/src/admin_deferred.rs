//! Admin API of deferred issuance and notifications (ISS-DEF-08,
//! ISS-NOTIF-06, ISS-ADM-02), on the admin listener:
//!
//! * `GET /admin/deferred[?state=pending|approved|denied|issued|expired][&holder=ID]`
//!   → 200 `[transaction…]`, oldest first.
//! * `GET /admin/deferred/{id}` → 200 `transaction`; 404 unknown.
//! * `POST /admin/deferred/{id}/approve` → 200 `transaction`; 404 unknown;
//!   409 when no longer pending (decided, issued or expired) or when the
//!   holder data lacks a claim the configuration requires.
//! * `POST /admin/deferred/{id}/deny`, optional body `{"reason": "…"}`
//!   (printable ASCII, at most 500 characters, kept for the operator only)
//!   → 200 `transaction`; 404; 409 when no longer pending.
//! * `GET /admin/notifications[?holder=ID]` → 200 `[notification…]`, newest
//!   first, each with its `events`.
//!
//! A transaction is `{id, holder_id, credential_configuration_id, state,
//! interval, key_thumbprints, response_encrypted, client_id, reason,
//! created_at, decided_at, last_polled_at, issued_at, expires_at}`; `state`
//! `expired` is a pending or approved transaction past `expires_at`. Never
//! the `transaction_id` (only its hash is stored).

use crate::error::ApiError;
use crate::state::AppState;
use avow_core::{ErrorCode, ProtocolError};
use avow_crypto::EcPublicJwk;
use avow_store::{DeferredDecision, DeferredState, DeferredTransactionRecord};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

/// Longest deny reason, characters.
const MAX_REASON: usize = 500;

/// The admin routes (merged into `admin::router`, behind its token check).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/deferred", get(list_transactions))
        .route("/admin/deferred/{id}", get(get_transaction))
        .route("/admin/deferred/{id}/approve", post(approve_transaction))
        .route("/admin/deferred/{id}/deny", post(deny_transaction))
        .route("/admin/notifications", get(list_notifications))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    state: Option<String>,
    holder: Option<String>,
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn conflict(description: &str) -> Response {
    no_store(
        (
            StatusCode::CONFLICT,
            Json(serde_json::json!({"error": "conflict", "error_description": description})),
        )
            .into_response(),
    )
}

fn not_found() -> ApiError {
    ApiError::at_as(ProtocolError::new(
        ErrorCode::NotFound,
        "no such deferred transaction",
    ))
}

/// The state the operator sees: `expired` for an undecided or unfetched
/// transaction past its lifetime.
fn effective_state(record: &DeferredTransactionRecord, now: i64) -> &'static str {
    match record.state {
        DeferredState::Pending | DeferredState::Approved if record.expires_at <= now => "expired",
        state => state.as_str(),
    }
}

fn view(record: &DeferredTransactionRecord, now: i64) -> serde_json::Value {
    let thumbprints: Vec<String> = record
        .holder_keys
        .iter()
        .filter_map(|k| EcPublicJwk::from_json(k).ok())
        .map(|k| k.thumbprint())
        .collect();
    serde_json::json!({
        "id": record.id,
        "holder_id": record.holder_id,
        "credential_configuration_id": record.configuration_id,
        "state": effective_state(record, now),
        "interval": record.interval,
        "key_thumbprints": thumbprints,
        "response_encrypted": record.response_encrypted,
        "client_id": record.client_id,
        "reason": record.reason,
        "created_at": record.created_at,
        "decided_at": record.decided_at,
        "last_polled_at": record.last_polled_at,
        "issued_at": record.issued_at,
        "expires_at": record.expires_at,
    })
}

async fn list_transactions(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let wanted = match query.state.as_deref() {
        None => None,
        Some(name @ ("pending" | "approved" | "denied" | "issued" | "expired")) => Some(name),
        Some(_) => {
            return Err(ApiError::at_as(ProtocolError::invalid_request(
                "state must be pending, approved, denied, issued or expired",
            )));
        }
    };
    let now = state.now();
    let records = state
        .store
        .deferred_transactions(None, query.holder.as_deref())
        .await?;
    let list: Vec<serde_json::Value> = records
        .iter()
        .filter(|r| wanted.is_none_or(|w| effective_state(r, now) == w))
        .map(|r| view(r, now))
        .collect();
    Ok(no_store(Json(list).into_response()))
}

async fn get_transaction(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = state
        .store
        .deferred_transaction(&id)
        .await?
        .ok_or_else(not_found)?;
    Ok(no_store(Json(view(&record, state.now())).into_response()))
}

/// `POST /admin/deferred/{id}/approve` (ISS-DEF-08).
async fn approve_transaction(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = state
        .store
        .deferred_transaction(&id)
        .await?
        .ok_or_else(not_found)?;
    // Approving what cannot be issued would only fail at the wallet's next poll.
    if record.state == DeferredState::Pending
        && let Some(configuration) = state
            .config
            .credential_configurations
            .get(&record.configuration_id)
    {
        let holder = state.store.holder(&record.holder_id).await?;
        let ready = match &holder {
            Some(holder) => crate::deferred::holder_data_ready(configuration, holder),
            None => Err("the holder record no longer exists".into()),
        };
        if let Err(reason) = ready {
            return Ok(conflict(&format!("cannot approve: {reason}")));
        }
    }
    decide(&state, &id, true, None).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Denial {
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /admin/deferred/{id}/deny` (ISS-DEF-08).
async fn deny_transaction(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let denial = if body.iter().all(u8::is_ascii_whitespace) {
        Denial::default()
    } else {
        serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .filter(serde_json::Value::is_object)
            .and_then(|v| serde_json::from_value::<Denial>(v).ok())
            .ok_or_else(|| {
                ApiError::at_as(ProtocolError::invalid_request(
                    "the body must be empty or {\"reason\": \"...\"}",
                ))
            })?
    };
    if let Some(reason) = &denial.reason
        && (reason.chars().count() > MAX_REASON
            || !reason
                .chars()
                .all(|c| c.is_ascii() && !c.is_ascii_control()))
    {
        return Err(ApiError::at_as(ProtocolError::invalid_request(
            "reason must be printable ASCII of at most 500 characters",
        )));
    }
    decide(&state, &id, false, denial.reason.as_deref()).await
}

async fn decide(
    state: &AppState,
    id: &str,
    approve: bool,
    reason: Option<&str>,
) -> Result<Response, ApiError> {
    let now = state.now();
    match state
        .store
        .decide_deferred_transaction(id, approve, reason, now)
        .await?
    {
        DeferredDecision::Decided(record) => {
            tracing::info!(
                transaction = %record.id,
                decision = if approve { "approved" } else { "denied" },
                "deferred transaction decided"
            );
            Ok(no_store(Json(view(&record, now)).into_response()))
        }
        DeferredDecision::NotPending(current) => Ok(conflict(&format!(
            "the transaction is {} already",
            current.as_str()
        ))),
        DeferredDecision::Expired => Ok(conflict("the transaction expired")),
        DeferredDecision::Unknown => Err(not_found()),
    }
}

#[derive(Debug, Deserialize)]
struct NotificationQuery {
    holder: Option<String>,
}

/// `GET /admin/notifications` (ISS-NOTIF-06).
async fn list_notifications(
    State(state): State<AppState>,
    Query(query): Query<NotificationQuery>,
) -> Result<Response, ApiError> {
    let list: Vec<serde_json::Value> = state
        .store
        .notifications(query.holder.as_deref())
        .await?
        .into_iter()
        .map(|(n, events)| {
            serde_json::json!({
                "id": n.id,
                "holder_id": n.holder_id,
                "credential_configuration_id": n.configuration_id,
                "credential_count": n.credential_count,
                "deferred_transaction_id": n.deferred_id,
                "created_at": n.created_at,
                "expires_at": n.expires_at,
                "events": events,
            })
        })
        .collect();
    Ok(no_store(Json(list).into_response()))
}
