//! Notifications to the issuer (OID4VCI 1.0 §11; WAL-NOTIF-01 … -04).
//!
//! When a response carried a `notification_id` and the issuer publishes a
//! `notification_endpoint`, the wallet sends, with the access token and
//! DPoP key of the session:
//!
//! * `credential_accepted` once every credential of the response is stored
//!   ([`accepted`]; WAL-NOTIF-01);
//! * `credential_failure` when validation or storage of any credential of
//!   the response fails — a partial batch failure is a failure of the whole
//!   — with a fixed ASCII `event_description` that never carries personal
//!   data ([`on_failure`]; WAL-NOTIF-02);
//! * `credential_deleted` for credentials the holder declines
//!   ([`declined`]; WAL-NOTIF-03).
//!
//! Sending never blocks the holder and never fails the flow: at most
//! [`MAX_ATTEMPTS`] attempts of at most [`ATTEMPT_TIMEOUT`] each, retried
//! only on transport errors and 5xx; the outcome is only logged (WAL-NOTIF-04).

use crate::error::WalletError;
use crate::flow::IssuanceSession;
use std::time::Duration;

/// Attempts per notification (WAL-NOTIF-04).
pub const MAX_ATTEMPTS: u32 = 3;
/// The longest one attempt may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// The events of VCI §11.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Accepted,
    Failure,
    Deleted,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "credential_accepted",
            Self::Failure => "credential_failure",
            Self::Deleted => "credential_deleted",
        }
    }
}

/// A fixed description per kind of failure: no message text (which may
/// name claims or values), only `%x20-21 / %x23-5B / %x5D-7E` characters.
pub fn failure_description(error: &WalletError) -> &'static str {
    match error {
        WalletError::Validation(_) => "The credential failed validation in the wallet",
        WalletError::Storage(_) => "The wallet could not store the credential",
        WalletError::Crypto(_) => "The wallet could not process the credential",
        _ => "The wallet could not accept the credentials",
    }
}

/// WAL-NOTIF-01: `credential_accepted`.
pub async fn accepted(session: &IssuanceSession<'_>, notification_id: Option<&str>) {
    send(session, notification_id, Event::Accepted, None).await;
}

/// WAL-NOTIF-03: `credential_deleted`, the holder declined the
/// credentials; whether the issuer acknowledged it.
pub async fn declined(session: &IssuanceSession<'_>, notification_id: Option<&str>) -> bool {
    send(
        session,
        notification_id,
        Event::Deleted,
        Some("The holder declined the credentials"),
    )
    .await
}

/// WAL-NOTIF-02: passes `result` through; on an error first sends
/// `credential_failure`.
pub async fn on_failure<T>(
    session: &IssuanceSession<'_>,
    notification_id: Option<&str>,
    result: Result<T, WalletError>,
) -> Result<T, WalletError> {
    if let Err(error) = &result {
        send(
            session,
            notification_id,
            Event::Failure,
            Some(failure_description(error)),
        )
        .await;
    }
    result
}

/// Sends one notification with bounded retries; never fails (WAL-NOTIF-04).
/// Whether the issuer acknowledged it (2xx); `false` also when there was
/// nothing to send (no `notification_id`, endpoint or access token).
pub async fn send(
    session: &IssuanceSession<'_>,
    notification_id: Option<&str>,
    event: Event,
    description: Option<&str>,
) -> bool {
    let (Some(notification_id), Some(endpoint), Some(token)) = (
        notification_id,
        session.info.metadata.notification_endpoint.as_deref(),
        session.access_token(),
    ) else {
        return false;
    };
    let mut body =
        serde_json::json!({ "notification_id": notification_id, "event": event.as_str() });
    if let Some(description) = description {
        body["event_description"] = description.into();
    }
    for attempt in 0..MAX_ATTEMPTS {
        let sent = tokio::time::timeout(
            ATTEMPT_TIMEOUT,
            session.send_with_dpop("POST", endpoint, Some(token.as_str()), |r| r.json(&body)),
        )
        .await;
        let retry = match sent {
            Ok(Ok(fetched)) if (200..300).contains(&fetched.status) => {
                tracing::debug!(event = event.as_str(), "notification sent");
                return true;
            }
            Ok(Ok(fetched)) if fetched.status < 500 => {
                let error = fetched.error();
                tracing::warn!(event = event.as_str(), error = ?error.protocol_error(), "the issuer refused the notification");
                return false;
            }
            Ok(Ok(fetched)) => format!("status {}", fetched.status),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "timeout".to_owned(),
        };
        tracing::warn!(event = event.as_str(), attempt, reason = %retry, "sending a notification failed");
        if attempt + 1 < MAX_ATTEMPTS {
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_allowed_ascii() {
        let errors = [
            WalletError::Validation("vct urn:x given_name=Erika".into()),
            WalletError::Storage("disk full".into()),
            WalletError::Transport("x".into()),
        ];
        for error in &errors {
            let text = failure_description(error);
            assert!(
                text.chars()
                    .all(|c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E'))
            );
            assert!(!text.contains("Erika"));
        }
        assert_eq!(Event::Accepted.as_str(), "credential_accepted");
        assert_eq!(Event::Failure.as_str(), "credential_failure");
        assert_eq!(Event::Deleted.as_str(), "credential_deleted");
    }
}
