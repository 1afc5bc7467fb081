//! The Notification Endpoint (OID4VCI 1.0 §11; ISS-NOTIF-01 … -06).
//!
//! * With `[notifications] enabled = true` every Credential Response and
//!   Deferred Credential Response with credentials carries a
//!   `notification_id` ([`register`]): 256 bits of randomness, stored only
//!   as a hash, bound to the grant of the access token (see
//!   `deferred::grant_key`).
//! * `POST /notification` ([`handle_notification_request`]) with a DPoP
//!   access token of that grant and `{notification_id, event,
//!   event_description?}` answers `204`; identical repeats answer `204`
//!   again and count up one record (ISS-NOTIF-04). `event` is exactly
//!   `credential_accepted`, `credential_failure` or `credential_deleted`;
//!   a missing, repeated or malformed member, or an `event_description`
//!   outside `%x20-21 / %x23-5B / %x5D-7E` → `400
//!   invalid_notification_request`; an unknown, expired or other-grant
//!   `notification_id` → `400 invalid_notification_id`; a missing or invalid
//!   token → DPoP `401 invalid_token`. Unknown members are ignored.
//! * Events are visible to the operator: `GET /admin/notifications`
//!   (`admin_deferred`).
//!
//! Configuration: `[notifications]` ([`NotificationConfig`]).

use crate::config::IssuerConfig;
use crate::dpop::fresh_nonce;
use crate::error::ApiError;
use crate::state::{AppState, IssuerState};
use avow_core::ProtocolError;
use avow_crypto::hash::sha256_b64;
use avow_store::{AccessTokenRecord, NotificationRecord};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};

/// The path of the Notification Endpoint.
pub const NOTIFICATION_PATH: &str = "/notification";
/// Longest accepted `event_description`, characters.
pub const MAX_EVENT_DESCRIPTION: usize = 1024;
/// Longest `notification_id` looked up (ours are 43 characters).
const MAX_NOTIFICATION_ID: usize = 512;

/// `[notifications]`: the Notification Endpoint (ISS-NOTIF). Every key is optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationConfig {
    /// Hand out `notification_id`s and publish `notification_endpoint`
    /// (ISS-META-05). Default: false.
    pub enabled: bool,
    /// How long a `notification_id` is accepted and its events are kept,
    /// seconds. Default: 90 days (the longest a refreshed grant lives by default).
    pub retention: i64,
}

impl Default for NotificationConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            retention: 90 * 86_400,
        }
    }
}

impl NotificationConfig {
    /// Start-up checks; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if !(60..=730 * 86_400).contains(&self.retention) {
            return Err("notifications.retention must be between 60 seconds and 730 days".into());
        }
        Ok(())
    }
}

/// The URL of the Notification Endpoint.
pub fn endpoint(issuer_id: &str) -> String {
    format!("{issuer_id}{NOTIFICATION_PATH}")
}

/// The public route, mounted only when notifications are enabled.
pub fn routes(config: &IssuerConfig) -> Router<AppState> {
    if config.notifications.enabled {
        Router::new().route(NOTIFICATION_PATH, post(handle_notification_request))
    } else {
        Router::new()
    }
}

/// What was issued in one response, for its `notification_id`.
pub struct Issued<'a> {
    pub grant_key: &'a str,
    pub holder_id: &'a str,
    pub configuration_id: &'a str,
    pub credential_count: usize,
    /// The deferred transaction the credentials came from, if any.
    pub deferred_id: Option<&'a str>,
}

/// A fresh `notification_id` for one response with credentials, or `None`
/// when notifications are off (ISS-NOTIF-01).
pub async fn register(
    state: &IssuerState,
    issued: &Issued<'_>,
) -> Result<Option<String>, ApiError> {
    let config = &state.config.notifications;
    if !config.enabled {
        return Ok(None);
    }
    let now = state.now();
    let notification_id = state.random.token(32);
    state
        .store
        .insert_notification(&NotificationRecord {
            id: state.random.token(12),
            notification_hash: sha256_b64(notification_id.as_bytes()),
            grant_key: issued.grant_key.to_owned(),
            holder_id: issued.holder_id.to_owned(),
            configuration_id: issued.configuration_id.to_owned(),
            credential_count: u32::try_from(issued.credential_count).unwrap_or(u32::MAX),
            deferred_id: issued.deferred_id.map(str::to_owned),
            created_at: now,
            expires_at: now.saturating_add(config.retention),
        })
        .await?;
    Ok(Some(notification_id))
}

/// [`register`] for the credentials of a Credential Response to `access`.
pub async fn register_for_token(
    state: &IssuerState,
    access: &AccessTokenRecord,
    configuration_id: &str,
    credential_count: usize,
) -> Result<Option<String>, ApiError> {
    register(
        state,
        &Issued {
            grant_key: &crate::deferred::grant_key(access),
            holder_id: &access.holder_id,
            configuration_id,
            credential_count,
            deferred_id: None,
        },
    )
    .await
}

/// The events of VCI §11.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationEvent {
    CredentialAccepted,
    CredentialFailure,
    CredentialDeleted,
}

impl NotificationEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CredentialAccepted => "credential_accepted",
            Self::CredentialFailure => "credential_failure",
            Self::CredentialDeleted => "credential_deleted",
        }
    }

    /// Case-sensitive, exact (VCI §11.1).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "credential_accepted" => Some(Self::CredentialAccepted),
            "credential_failure" => Some(Self::CredentialFailure),
            "credential_deleted" => Some(Self::CredentialDeleted),
            _ => None,
        }
    }
}

/// A validated Notification Request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRequest {
    pub notification_id: String,
    pub event: NotificationEvent,
    pub event_description: Option<String>,
}

/// The members of a JSON object in order, repeats kept (serde_json's
/// `Value` would silently keep the last).
struct Members(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry::<String, serde_json::Value>()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// `%x20-21 / %x23-5B / %x5D-7E` (VCI §11.1).
fn allowed_description_char(c: char) -> bool {
    matches!(c, '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E')
}

impl NotificationRequest {
    /// Parses the JSON body (ISS-NOTIF-02): every refusal is
    /// `invalid_notification_request`; unknown members are ignored.
    pub fn from_json(body: &[u8]) -> Result<Self, ProtocolError> {
        let invalid = |d: &str| ProtocolError::invalid_notification_request(d);
        let Members(members) =
            serde_json::from_slice(body).map_err(|_| invalid("the body must be a JSON object"))?;
        for (i, (name, _)) in members.iter().enumerate() {
            if members[..i].iter().any(|(earlier, _)| earlier == name) {
                return Err(invalid(&format!("the member {name} is repeated")));
            }
        }
        let member = |name: &str| members.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let notification_id = match member("notification_id") {
            None => return Err(invalid("notification_id is required")),
            Some(serde_json::Value::String(id)) if !id.is_empty() => id.clone(),
            Some(_) => return Err(invalid("notification_id must be a non-empty string")),
        };
        let event = match member("event") {
            None => return Err(invalid("event is required")),
            Some(serde_json::Value::String(event)) => NotificationEvent::parse(event).ok_or_else(|| {
                invalid("event must be credential_accepted, credential_failure or credential_deleted")
            })?,
            Some(_) => return Err(invalid("event must be a string")),
        };
        let event_description = match member("event_description") {
            None => None,
            Some(serde_json::Value::String(text)) => {
                if text.chars().count() > MAX_EVENT_DESCRIPTION {
                    return Err(invalid(&format!(
                        "event_description is longer than {MAX_EVENT_DESCRIPTION} characters"
                    )));
                }
                if !text.chars().all(allowed_description_char) {
                    return Err(invalid(
                        "event_description must be printable ASCII without double quote or backslash",
                    ));
                }
                Some(text.clone())
            }
            Some(_) => return Err(invalid("event_description must be a string")),
        };
        Ok(Self {
            notification_id,
            event,
            event_description,
        })
    }
}

fn resource(e: ProtocolError) -> ApiError {
    ApiError::at_resource(e)
}

/// `POST /notification` (VCI §11; ISS-NOTIF-01 … -06).
pub async fn handle_notification_request(
    State(state): State<AppState>,
    peer: Option<axum::Extension<crate::tls::PeerCertificates>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let access = crate::credential::authorize_resource_request(
        &state,
        &headers,
        peer.as_ref().map(|p| &p.0),
        &endpoint(&state.issuer_id),
    )
    .await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    if content_type.is_some_and(|c| !c.eq_ignore_ascii_case("application/json")) {
        return Err(resource(ProtocolError::invalid_notification_request(
            "the body must be application/json",
        )));
    }
    let request = NotificationRequest::from_json(&body).map_err(resource)?;
    let now = state.now();
    let record = if request.notification_id.len() > MAX_NOTIFICATION_ID {
        None
    } else {
        state
            .store
            .notification_by_hash(&sha256_b64(request.notification_id.as_bytes()), now)
            .await?
    }
    .filter(|r| {
        r.grant_key == crate::deferred::grant_key(&access) && r.holder_id == access.holder_id
    })
    .ok_or_else(|| {
        resource(ProtocolError::invalid_notification_id(
            "the notification_id is unknown, expired or was issued to another grant",
        ))
    })?;
    state
        .store
        .record_notification_event(
            &record.id,
            request.event.as_str(),
            request.event_description.as_deref(),
            now,
        )
        .await?;
    tracing::info!(notification = %record.id, event = request.event.as_str(), "notification received");
    Ok((
        StatusCode::NO_CONTENT,
        [
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (HeaderName::from_static("dpop-nonce"), fresh_nonce(&state)),
        ],
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use avow_core::ErrorCode;

    fn code(body: &str) -> Option<ErrorCode> {
        NotificationRequest::from_json(body.as_bytes())
            .err()
            .map(|e| e.code)
    }

    #[test]
    fn valid_requests() {
        let parsed = NotificationRequest::from_json(
            br#"{"notification_id":"n","event":"credential_failure","event_description":"Out of storage! #1 [x]","extra":{}}"#,
        );
        assert_eq!(
            parsed,
            Ok(NotificationRequest {
                notification_id: "n".into(),
                event: NotificationEvent::CredentialFailure,
                event_description: Some("Out of storage! #1 [x]".into()),
            })
        );
        for event in ["credential_accepted", "credential_deleted"] {
            let body = format!(r#"{{"notification_id":"n","event":"{event}"}}"#);
            assert_eq!(code(&body), None);
        }
    }

    #[test]
    fn invalid_requests() {
        let bad = ErrorCode::InvalidNotificationRequest;
        for body in [
            r#"{"event":"credential_accepted"}"#,
            r#"{"notification_id":"n"}"#,
            r#"{"notification_id":"","event":"credential_accepted"}"#,
            r#"{"notification_id":7,"event":"credential_accepted"}"#,
            r#"{"notification_id":"n","event":"Credential_Accepted"}"#,
            r#"{"notification_id":"n","event":"credential_revoked"}"#,
            r#"{"notification_id":"n","event":null}"#,
            r#"{"notification_id":"n","event":"credential_accepted","event_description":7}"#,
            r#"{"notification_id":"n","event":"credential_accepted","event_description":"say \"hi\""}"#,
            r#"{"notification_id":"n","event":"credential_accepted","event_description":"a\\b"}"#,
            r#"{"notification_id":"n","event":"credential_accepted","event_description":"caf\u00e9"}"#,
            r#"{"notification_id":"n","event":"credential_accepted","event_description":"tab\there"}"#,
            r#"{"notification_id":"n","event":"credential_accepted","event":"credential_accepted"}"#,
            r#"{"notification_id":"n","notification_id":"m","event":"credential_accepted"}"#,
            r#"["notification_id"]"#,
            "not json",
            "",
        ] {
            assert_eq!(code(body), Some(bad), "{body}");
        }
        let long = format!(
            r#"{{"notification_id":"n","event":"credential_accepted","event_description":"{}"}}"#,
            "x".repeat(MAX_EVENT_DESCRIPTION + 1)
        );
        assert_eq!(code(&long), Some(bad));
    }

    #[test]
    fn description_alphabet() {
        for c in ['"', '\\', '\u{7f}', '\n', '\u{1f}', 'é'] {
            assert!(!allowed_description_char(c), "{c:?}");
        }
        for c in [' ', '!', '#', '[', ']', '~', 'a'] {
            assert!(allowed_description_char(c), "{c:?}");
        }
    }

    #[test]
    fn config_bounds() {
        assert_eq!(NotificationConfig::default().validate(), Ok(()));
        let bad = NotificationConfig {
            retention: 0,
            ..NotificationConfig::default()
        };
        assert!(bad.validate().is_err());
    }
}
