//! `IssueCredential`: the Credential Endpoint (OID4VCI §8; ISS-CRED, ISS-PROOF, ISS-SDJWT).

use crate::dpop::{check_dpop, fresh_nonce};
use crate::error::ApiError;
use crate::key_proof::verify_proofs;
use crate::state::{AppState, IssuerState};
use avow_core::ProtocolError;
use avow_core::credential::{CredentialResponse, CredentialSelector};
use avow_core::error::Endpoint;
use avow_crypto::hash::sha256_b64;
use avow_store::AccessTokenRecord;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

fn resource(e: ProtocolError) -> ApiError {
    ApiError::at_resource(e)
}

pub async fn issue_credential(
    State(state): State<AppState>,
    peer: Option<axum::Extension<crate::tls::PeerCertificates>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let access = authorize_resource_request(
        &state,
        &headers,
        peer.as_ref().map(|p| &p.0),
        &state.endpoints.credential,
    )
    .await?;
    // application/json or an encrypted application/jwt (ISS-ENC-01 … -07).
    let decoded = state
        .encryption
        .decode_request(&headers, &body)
        .map_err(resource)?;
    let request = decoded.request;
    let configuration_id =
        match select_configuration(&request.selector, access.authorization_details.as_ref())? {
            Selected::Configuration(id) => id,
            Selected::UnknownIdentifier(identifier) => {
                return Err(refuse_identifier(&state, &identifier));
            }
        };
    let configuration = state
        .config
        .credential_configurations
        .get(&configuration_id)
        .ok_or_else(|| {
            resource(ProtocolError::unknown_credential_configuration(format!(
                "unknown credential configuration {configuration_id}"
            )))
        })?;
    if !access.configuration_ids.contains(&configuration_id) {
        return Err(resource(ProtocolError::insufficient_scope(
            "the access token does not cover this credential configuration",
        )));
    }
    // One key per credential, in order, or a bearer configuration's one
    // credential without proofs (VCI §8.2, §12.2.4; ISS-META-08); nothing
    // consumed unless all verify (key_proof.rs).
    let binding = verify_proofs(
        &state,
        configuration,
        request.proofs.as_ref(),
        access.client_id.as_deref(),
    )
    .await?;
    let holder = state
        .store
        .holder(&access.holder_id)
        .await?
        .ok_or_else(|| {
            resource(ProtocolError::credential_request_denied(
                "the holder record no longer exists",
            ))
        })?;
    // ---- deferred issuance (deferred.rs): ISS-DEF-01, -02 ----
    // The configuration's or the holder's policy asks for the operator's
    // approval: the validated transaction is stored, the answer is 202.
    if crate::deferred::requires_deferral(&state, &configuration_id, &holder) {
        return crate::deferred::defer(
            &state,
            &access,
            &configuration_id,
            &binding,
            decoded.response_encryption.as_ref(),
        )
        .await;
    }
    // ---- end deferred issuance ----
    let credentials = crate::issue_credentials::issue_credentials(
        &state,
        &access.holder_id,
        &configuration_id,
        configuration,
        &holder,
        &binding,
    )
    .await?;
    tracing::info!(configuration = %configuration_id, count = credentials.len(), "credentials issued");
    // ISS-NOTIF-01: a notification_id when notifications are on (notification.rs).
    let notification_id = crate::notification::register_for_token(
        &state,
        &access,
        &configuration_id,
        credentials.len(),
    )
    .await?;
    let response = CredentialResponse {
        credentials: Some(credentials),
        transaction_id: None,
        interval: None,
        notification_id,
    };
    Ok((
        [
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (
                header::HeaderName::from_static("dpop-nonce"),
                fresh_nonce(&state),
            ),
        ],
        // Success only: errors stay plain JSON (ISS-CRED-12, ISS-ENC-02).
        crate::credential_encryption::encode_response(
            decoded.response_encryption.as_ref(),
            &response,
        )?,
    )
        .into_response())
}

/// What a request's selector names, as far as the token can tell.
enum Selected {
    /// A configuration id: by `credential_configuration_id`, or the
    /// configuration of a `credential_identifier` of this token.
    Configuration(String),
    /// A `credential_identifier` this token was not issued with.
    UnknownIdentifier(String),
}

/// A `credential_identifier` not among the presenting token's: DPoP 403
/// `insufficient_scope` when the issuer handed it out with another live
/// access token (ISS-CRED-06; VCI §8.3.1.1, RFC 6750 §3.1: a known
/// identifier this token does not authorize), otherwise 400
/// `unknown_credential_identifier` (ISS-CRED-05; VCI §8.3.1.2).
fn refuse_identifier(state: &IssuerState, identifier: &str) -> ApiError {
    if crate::access_token::minted_identifier(
        &state.nonces,
        state.config.credential_configurations.keys(),
        identifier,
    ) {
        resource(ProtocolError::insufficient_scope(
            "the access token does not cover this credential_identifier",
        ))
    } else {
        resource(ProtocolError::unknown_credential_identifier(
            "unknown credential_identifier",
        ))
    }
}

/// Resolves the request's selector against what the token response said
/// (VCI §8.2, §3.3.4; ISS-CRED-04, -05, -06): with `credential_identifiers`
/// only identifiers are accepted, without them only configuration ids.
fn select_configuration(
    selector: &CredentialSelector,
    details: Option<&serde_json::Value>,
) -> Result<Selected, ApiError> {
    let details: Option<Vec<avow_core::authorization::AuthorizationDetail>> =
        details.map(|d| serde_json::from_value(d.clone()).unwrap_or_default());
    match (selector, details) {
        (CredentialSelector::ConfigurationId(id), None) => Ok(Selected::Configuration(id.clone())),
        (CredentialSelector::ConfigurationId(_), Some(_)) => {
            Err(resource(ProtocolError::invalid_credential_request(
                "the token response carried credential_identifiers: use credential_identifier",
            )))
        }
        (CredentialSelector::Identifier(_), None) => {
            Err(resource(ProtocolError::invalid_credential_request(
                "credential_identifier cannot be used: the token response carried no credential identifiers",
            )))
        }
        (CredentialSelector::Identifier(id), Some(details)) => Ok(details
            .iter()
            .find(|d| {
                d.credential_identifiers
                    .as_ref()
                    .is_some_and(|ids| ids.contains(id))
            })
            .map_or_else(
                || Selected::UnknownIdentifier(id.clone()),
                |d| Selected::Configuration(d.credential_configuration_id.clone()),
            )),
    }
}

/// The protected-resource preamble of the credential, deferred and
/// notification endpoints: the DPoP access token (ISS-CRED-02), its
/// certificate binding (ISS-CLI-03), and a DPoP proof for `uri` by the key
/// the token is bound to (ISS-DPOP-05, -08).
pub async fn authorize_resource_request(
    state: &IssuerState,
    headers: &HeaderMap,
    peer: Option<&crate::tls::PeerCertificates>,
    uri: &str,
) -> Result<AccessTokenRecord, ApiError> {
    let (token, access) = authorize(state, headers).await?;
    check_certificate_binding(&access, peer)?;
    let key = check_dpop(
        state,
        headers,
        "POST",
        uri,
        Some(&token),
        Endpoint::Resource,
    )
    .await?;
    if key.jkt != access.dpop_jkt {
        return Err(resource(ProtocolError::invalid_dpop_proof(
            "the DPoP key is not the one the access token is bound to",
        )));
    }
    Ok(access)
}

/// RFC 8705 §3: a certificate-bound token needs the same client certificate (ISS-CLI-03).
pub fn check_certificate_binding(
    access: &AccessTokenRecord,
    peer: Option<&crate::tls::PeerCertificates>,
) -> Result<(), ApiError> {
    let Some(bound) = &access.certificate_thumbprint else {
        return Ok(());
    };
    let presented = peer
        .filter(|p| p.is_verified())
        .and_then(|p| p.thumbprint());
    if presented.as_deref() == Some(bound.as_str()) {
        Ok(())
    } else {
        Err(resource(ProtocolError::invalid_token(
            "the access token is bound to a client certificate this request did not present",
        )))
    }
}

/// `Authorization: DPoP <token>` → the stored grant (ISS-CRED-02, ISS-DPOP-08 … -10).
pub async fn authorize(
    state: &IssuerState,
    headers: &HeaderMap,
) -> Result<(String, AccessTokenRecord), ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(resource(ProtocolError::invalid_token(
            "a DPoP access token is required",
        )));
    };
    let value = value.to_str().map_err(|_| {
        resource(ProtocolError::invalid_token(
            "malformed Authorization header",
        ))
    })?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("DPoP") {
        return Err(resource(ProtocolError::invalid_token(
            "the access token is DPoP-bound; use the DPoP scheme",
        )));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(resource(ProtocolError::invalid_token(
            "the access token is missing",
        )));
    }
    let record = state
        .store
        .access_token(&sha256_b64(token.as_bytes()), state.now())
        .await?
        .ok_or_else(|| {
            resource(ProtocolError::invalid_token(
                "the access token is unknown or expired",
            ))
        })?;
    Ok((token.to_owned(), record))
}
