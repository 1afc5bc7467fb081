//! The status of a credential (Token Status List; WAL-VAL-07, TSL §8.3).
//!
//! After the credential itself validated, its `status.status_list {idx,
//! uri}` is resolved: the Status List Token is fetched from `uri` (https
//! only, size- and time-bounded like every wallet retrieval, WAL-GEN-02),
//! its `x5c` chain must lead to the same issuer trust anchors, then
//! signature, `typ: statuslist+jwt`, `sub` = `uri`, `exp`, `iat`, the index
//! within the list and finally the value are checked.
//!
//! The form follows the credential ([`StatusListTokenFormat`]; TSL §8.1):
//! an SD-JWT VC (or JWT VC) asks `Accept: application/statuslist+jwt` and
//! verifies the JWT (TSL §5.1); an mdoc asks `Accept:
//! application/statuslist+cwt` and verifies the CWT (TSL §5.2): a
//! COSE_Sign1_Tagged whose `x5chain` leads to the trust anchors, protected
//! `alg` ES256 and `typ` `application/statuslist+cwt`, then the same claim
//! checks (`2` sub = `uri`, `4` exp, `6` iat).
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
    MAX_STATUS_LIST_BYTES, StatusListCwt, StatusListReference, StatusListToken,
    StatusListTokenFormat, StatusType, TokenExpectations, verify_status_list_cwt,
    verify_status_list_token,
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

/// Resolves the status of `reference` (TSL §8.3 steps 2 to 7), asking
/// for and verifying the Status List Token in `format` (TSL §8.1).
pub async fn resolve_status(
    client: &HttpClient,
    trust_anchors: &TrustAnchors,
    reference: &StatusListReference,
    format: StatusListTokenFormat,
    now: i64,
    skew: i64,
) -> Result<StatusType, StatusCheckError> {
    let invalid = |m: String| StatusCheckError::Invalid(m);
    client
        .check_url(&reference.uri)
        .map_err(|e| invalid(e.to_string()))?;
    let media_type = format.media_type();
    let fetched = match client.get(&reference.uri, media_type).await {
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
    // TSL §8.2: the response's content type names the form.
    if !fetched
        .content_type()
        .is_some_and(|t| t.eq_ignore_ascii_case(media_type))
    {
        return Err(invalid(format!("the status list is not {media_type}")));
    }
    let expect = TokenExpectations {
        uri: &reference.uri,
        now,
        skew,
        max_bytes: MAX_STATUS_LIST_BYTES,
    };
    let token = match format {
        StatusListTokenFormat::Jwt => verify_jwt(trust_anchors, &fetched.body, &expect, now),
        StatusListTokenFormat::Cwt => verify_cwt(trust_anchors, &fetched.body, &expect, now),
    }
    .map_err(invalid)?;
    token.status_list.status(reference.idx).ok_or_else(|| {
        invalid(format!(
            "index {} is outside the status list",
            reference.idx
        ))
    })
}

/// A Status List Token in JWT format (TSL §5.1): `x5c` to the anchors,
/// then [`verify_status_list_token`].
fn verify_jwt(
    trust_anchors: &TrustAnchors,
    body: &[u8],
    expect: &TokenExpectations<'_>,
    now: i64,
) -> Result<StatusListToken, String> {
    let text =
        std::str::from_utf8(body).map_err(|_| "the status list token is not text".to_owned())?;
    let jws = CompactJws::parse(text.trim()).map_err(|e| e.to_string())?;
    let x5c = jws
        .x5c()
        .ok_or_else(|| "the status list token carries no x5c chain".to_owned())?
        .map_err(|e| e.to_string())?;
    let key = trust_anchors
        .validate_chain(&x5c, now)
        .map_err(|e| format!("status list certificate: {e}"))?;
    verify_status_list_token(&jws, &key, &AlgorithmAllowList::es256(), expect)
        .map_err(|e| e.to_string())
}

/// A Status List Token in CWT format (TSL §5.2; the body is the binary
/// token, TSL §8.2): `x5chain` to the anchors, then
/// [`verify_status_list_cwt`].
fn verify_cwt(
    trust_anchors: &TrustAnchors,
    body: &[u8],
    expect: &TokenExpectations<'_>,
    now: i64,
) -> Result<StatusListToken, String> {
    let cwt = StatusListCwt::parse(body).map_err(|e| e.to_string())?;
    let key = trust_anchors
        .validate_chain(cwt.x5chain(), now)
        .map_err(|e| format!("status list certificate: {e}"))?;
    verify_status_list_cwt(&cwt, &key, expect).map_err(|e| e.to_string())
}

/// WAL-VAL-07 before storing: `Ok(None)` without a status list reference,
/// `Ok(Some(true))` when VALID, `Ok(Some(false))` when the list is
/// unreachable, an error when the credential is not VALID or the status
/// list is invalid.
///
/// `format`: the form of Status List Token the credential's format uses
/// (JWT for SD-JWT VC and JWT VC, CWT for mdoc).
pub async fn check_at_receipt(
    client: &HttpClient,
    trust_anchors: &TrustAnchors,
    claims: &Map<String, Value>,
    format: StatusListTokenFormat,
    now: i64,
    skew: i64,
) -> Result<Option<bool>, WalletError> {
    let Some(reference) = status_reference(claims)? else {
        return Ok(None);
    };
    match resolve_status(client, trust_anchors, &reference, format, now, skew).await {
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
    let (reference, format) = if stored.format == MSO_MDOC {
        let parsed = avow_formats::mdoc::parse(&stored.credential)
            .map_err(|e| WalletError::Validation(e.to_string()))?;
        (parsed.status().cloned(), StatusListTokenFormat::Cwt)
    } else if stored.format == JWT_VC_JSON {
        let jws = CompactJws::parse(stored.credential.trim())
            .map_err(|e| WalletError::Validation(e.to_string()))?;
        let payload: Value = serde_json::from_slice(jws.payload())
            .map_err(|_| WalletError::Validation("the credential payload is not JSON".into()))?;
        let claims = payload.as_object().cloned().unwrap_or_default();
        (status_reference(&claims)?, StatusListTokenFormat::Jwt)
    } else {
        let sd_jwt = avow_formats::sd_jwt_vc::peek(&stored.credential)
            .map_err(|e| WalletError::Validation(e.to_string()))?;
        let claims = sd_jwt
            .unverified_payload()
            .map_err(|e| WalletError::Validation(e.to_string()))?;
        (status_reference(&claims)?, StatusListTokenFormat::Jwt)
    };
    let Some(reference) = reference else {
        return Ok(None);
    };
    Ok(Some(
        resolve_status(client, trust_anchors, &reference, format, now, skew).await?,
    ))
}

/// The `format` identifier of mdoc credentials (VCI A.2).
const MSO_MDOC: &str = "mso_mdoc";
/// The `format` identifier of W3C VCs signed as JWT (VCI A.1.1).
const JWT_VC_JSON: &str = "jwt_vc_json";

/// The form of Status List Token a credential `format` uses: CWT for
/// `mso_mdoc` (a COSE Referenced Token, TSL §6.3), JWT otherwise (TSL §6.2).
pub fn token_format_for(credential_format: &str) -> StatusListTokenFormat {
    if credential_format == MSO_MDOC {
        StatusListTokenFormat::Cwt
    } else {
        StatusListTokenFormat::Jwt
    }
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
            resolve_status(
                &client,
                &anchors,
                &insecure,
                StatusListTokenFormat::Jwt,
                0,
                60
            )
            .await,
            Err(StatusCheckError::Invalid(_))
        ));
        // Nothing listens on this loopback port: the list is unreachable.
        let dev = HttpClient::new(true).unwrap_or_else(|e| panic!("{e}"));
        let closed = StatusListReference {
            idx: 0,
            uri: "http://127.0.0.1:9/status-lists/x".into(),
        };
        assert!(matches!(
            resolve_status(&dev, &anchors, &closed, StatusListTokenFormat::Cwt, 0, 60).await,
            Err(StatusCheckError::Unreachable(_))
        ));
        let at_receipt = check_at_receipt(
            &dev,
            &anchors,
            &claims(json!({"status": {"status_list": {"idx": 0, "uri": closed.uri}}})),
            StatusListTokenFormat::Jwt,
            0,
            60,
        )
        .await;
        assert!(matches!(at_receipt, Ok(Some(false))));
    }
}
