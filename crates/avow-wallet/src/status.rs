//! The status of a credential (Token Status List; WAL-VAL-07, TSL §8.3).
//!
//! After the credential itself validated, its `status.status_list {idx,
//! uri}` is resolved: the Status List Token is fetched from `uri` (https
//! only, size- and time-bounded like every wallet retrieval, WAL-GEN-02),
//! its `x5c` chain must lead to the same issuer trust anchors, then
//! signature, `typ: statuslist+jwt`, `sub` = `uri`, `exp`, `iat`, the index
//! within the list and finally the value are checked.
//!
//! At receipt ([`check_at_receipt`]) the wallet:
//! * stores a credential whose entry is VALID (`status_checked: Some(true)`);
//! * refuses a credential that is INVALID, SUSPENDED or carries any other
//!   value, and one whose status list token is present but not valid (TSL
//!   §8.3: no statement can be made, the token SHOULD be rejected);
//! * stores, marked `status_checked: Some(false)`, a credential whose list
//!   cannot be reached right now (transport failure, or the server answered
//!   5xx / 408 / 429): WAL-VAL-07 is a SHOULD and an unreachable list says
//!   nothing against the credential; `avow wallet status` checks it later.
//! * A credential without `status` (or with another mechanism only) is
//!   stored with `status_checked: None`.

use crate::client::HttpClient;
use crate::error::WalletError;
use crate::store::StoredCredential;
use avow_crypto::x509::TrustAnchors;
use avow_crypto::{AlgorithmAllowList, CompactJws};
use avow_formats::status_list::{
    MAX_STATUS_LIST_BYTES, STATUS_LIST_MEDIA_TYPE, StatusListReference, StatusType,
    TokenExpectations, verify_status_list_token,
};
use serde_json::{Map, Value};

/// Why a status could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusCheckError {
    /// The list could not be fetched now; nothing is known against the credential.
    #[error("the status list is unreachable: {0}")]
    Unreachable(String),
    /// The reference or the Status List Token is not valid: no statement
    /// about the credential can be made (TSL §8.3).
    #[error("the status list is not valid: {0}")]
    Invalid(String),
}

impl From<StatusCheckError> for WalletError {
    fn from(e: StatusCheckError) -> Self {
        match e {
            StatusCheckError::Unreachable(m) => WalletError::Transport(m),
            StatusCheckError::Invalid(m) => WalletError::Validation(format!("status: {m}")),
        }
    }
}

/// The `status_list` reference of a credential's claims: `None` without
/// `status` or when `status` names another mechanism only (TSL §8.3 step 1).
pub fn status_reference(
    claims: &Map<String, Value>,
) -> Result<Option<StatusListReference>, WalletError> {
    match claims.get("status") {
        None => Ok(None),
        Some(status) => StatusListReference::from_status_claim(status)
            .map_err(|e| WalletError::Validation(e.to_string())),
    }
}

/// Resolves the status of `reference` (TSL §8.3 steps 2 to 7).
pub async fn resolve_status(
    client: &HttpClient,
    trust_anchors: &TrustAnchors,
    reference: &StatusListReference,
    now: i64,
    skew: i64,
) -> Result<StatusType, StatusCheckError> {
    let invalid = |m: String| StatusCheckError::Invalid(m);
    client
        .check_url(&reference.uri)
        .map_err(|e| invalid(e.to_string()))?;
    let fetched = match client.get(&reference.uri, STATUS_LIST_MEDIA_TYPE).await {
        Ok(fetched) => fetched,
        Err(WalletError::Transport(m)) => return Err(StatusCheckError::Unreachable(m)),
        Err(e) => return Err(invalid(e.to_string())),
    };
    match fetched.status {
        200..=299 => {}
        408 | 429 | 500..=599 => {
            return Err(StatusCheckError::Unreachable(format!(
                "the status list answered {}",
                fetched.status
            )));
        }
        other => return Err(invalid(format!("the status list answered {other}"))),
    }
    if !fetched
        .content_type()
        .is_some_and(|t| t.eq_ignore_ascii_case(STATUS_LIST_MEDIA_TYPE))
    {
        return Err(invalid(format!(
            "the status list is not {STATUS_LIST_MEDIA_TYPE}"
        )));
    }
    let text = std::str::from_utf8(&fetched.body)
        .map_err(|_| invalid("the status list token is not text".into()))?;
    let jws = CompactJws::parse(text.trim()).map_err(|e| invalid(e.to_string()))?;
    let x5c = jws
        .x5c()
        .ok_or_else(|| invalid("the status list token carries no x5c chain".into()))?
        .map_err(|e| invalid(e.to_string()))?;
    let key = trust_anchors
        .validate_chain(&x5c, now)
        .map_err(|e| invalid(format!("status list certificate: {e}")))?;
    let token = verify_status_list_token(
        &jws,
        &key,
        &AlgorithmAllowList::es256(),
        &TokenExpectations {
            uri: &reference.uri,
            now,
            skew,
            max_bytes: MAX_STATUS_LIST_BYTES,
        },
    )
    .map_err(|e| invalid(e.to_string()))?;
    token.status_list.status(reference.idx).ok_or_else(|| {
        invalid(format!(
            "index {} is outside the status list",
            reference.idx
        ))
    })
}

/// WAL-VAL-07 before storing: `Ok(None)` without a status list reference,
/// `Ok(Some(true))` when VALID, `Ok(Some(false))` when the list is
/// unreachable, an error when the credential is not VALID or the status
/// list is invalid.
pub async fn check_at_receipt(
    client: &HttpClient,
    trust_anchors: &TrustAnchors,
    claims: &Map<String, Value>,
    now: i64,
    skew: i64,
) -> Result<Option<bool>, WalletError> {
    let Some(reference) = status_reference(claims)? else {
        return Ok(None);
    };
    match resolve_status(client, trust_anchors, &reference, now, skew).await {
        Ok(StatusType::Valid) => Ok(Some(true)),
        Ok(other) => Err(WalletError::Validation(format!(
            "the credential's status is {other}"
        ))),
        Err(StatusCheckError::Unreachable(reason)) => {
            tracing::warn!(%reason, "status list unreachable; credential stored unchecked");
            Ok(Some(false))
        }
        Err(e) => Err(e.into()),
    }
}

/// The current status of a stored credential (`avow wallet status`);
/// `None` when it has no status list reference.
///
/// The claims come from the stored credential without re-verifying it: it
/// was validated before it was stored and the store is authenticated.
pub async fn stored_credential_status(
    client: &HttpClient,
    trust_anchors: &TrustAnchors,
    stored: &StoredCredential,
    now: i64,
    skew: i64,
) -> Result<Option<StatusType>, WalletError> {
    let sd_jwt = avow_formats::sd_jwt_vc::peek(&stored.credential)
        .map_err(|e| WalletError::Validation(e.to_string()))?;
    let claims = sd_jwt
        .unverified_payload()
        .map_err(|e| WalletError::Validation(e.to_string()))?;
    let Some(reference) = status_reference(&claims)? else {
        return Ok(None);
    };
    Ok(Some(
        resolve_status(client, trust_anchors, &reference, now, skew).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn references_are_read_from_the_claims() {
        let none = status_reference(&claims(json!({"iss": "x"})));
        assert!(matches!(none, Ok(None)));
        let other = status_reference(&claims(json!({"status": {"other_mechanism": {}}})));
        assert!(matches!(other, Ok(None)));
        let good = status_reference(&claims(
            json!({"status": {"status_list": {"idx": 3, "uri": "https://i.example/s/1"}}}),
        ));
        assert!(matches!(good, Ok(Some(r)) if r.idx == 3 && r.uri == "https://i.example/s/1"));
        let bad = status_reference(&claims(json!({"status": {"status_list": {"idx": "3"}}})));
        assert!(matches!(bad, Err(WalletError::Validation(_))));
    }

    #[tokio::test]
    async fn insecure_and_unreachable_lists() {
        let client = HttpClient::new(false).unwrap_or_else(|e| panic!("{e}"));
        let anchors = TrustAnchors::default();
        let insecure = StatusListReference {
            idx: 0,
            uri: "http://status.example/1".into(),
        };
        assert!(matches!(
            resolve_status(&client, &anchors, &insecure, 0, 60).await,
            Err(StatusCheckError::Invalid(_))
        ));
        // Nothing listens on this loopback port: the list is unreachable.
        let dev = HttpClient::new(true).unwrap_or_else(|e| panic!("{e}"));
        let closed = StatusListReference {
            idx: 0,
            uri: "http://127.0.0.1:9/status-lists/x".into(),
        };
        assert!(matches!(
            resolve_status(&dev, &anchors, &closed, 0, 60).await,
            Err(StatusCheckError::Unreachable(_))
        ));
        let at_receipt = check_at_receipt(
            &dev,
            &anchors,
            &claims(json!({"status": {"status_list": {"idx": 0, "uri": closed.uri}}})),
            0,
            60,
        )
        .await;
        assert!(matches!(at_receipt, Ok(Some(false))));
    }
}
