//! `HandlePushedAuthorizationRequest`: the PAR endpoint (RFC 9126; OID4VCI
//! §5.1.4; APT §7.3; ISS-PAR-01 … -12).

use crate::authorization_grant::PushedRequest;
use crate::client_auth::{
    ClientAuthContext, PeerCertificates, authenticate_client, fresh_challenge,
};
use crate::dpop::check_dpop;
use crate::error::ApiError;
use crate::state::{AppState, IssuerState};
use avow_core::ProtocolError;
use avow_core::authorization::PushedAuthorizationRequest;
use avow_core::error::Endpoint;
use avow_crypto::hash::sha256_b64;
use avow_store::ParRecord;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

/// The `request_uri` prefix of RFC 9126 §2.2.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct PushedAuthorizationResponse {
    pub request_uri: String,
    pub expires_in: i64,
}

pub async fn handle_pushed_authorization_request(
    State(state): State<AppState>,
    peer: Option<Extension<PeerCertificates>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let as_error = ApiError::at_as;
    let form = crate::token::parse_form(&headers, &body)?;
    let client = authenticate_client(
        &state,
        &headers,
        &form,
        peer.as_ref().map(|p| &p.0),
        ClientAuthContext::Par,
    )
    .await?;
    let client_id = client.client_id.clone().ok_or_else(|| {
        as_error(ProtocolError::invalid_client(
            "the PAR endpoint requires client authentication",
        ))
    })?;
    let request = PushedAuthorizationRequest::from_form(&form).map_err(as_error)?;
    // ISS-PAR-05: the client_id parameter names the authenticated client.
    if request.client_id != client_id {
        return Err(as_error(ProtocolError::invalid_client(
            "client_id is not the authenticated client",
        )));
    }
    if !avow_core::redirect_uri::is_allowed(
        &request.redirect_uri,
        &state.config.authorization.allowed_redirect_uris,
    ) {
        return Err(as_error(ProtocolError::invalid_request(
            "redirect_uri is not allowed for this client",
        )));
    }
    let configuration_ids = request
        .requested_configurations(
            |id| state.config.credential_configurations.contains_key(id),
            |scope| {
                state
                    .config
                    .credential_configurations
                    .iter()
                    .find(|(_, c)| c.scope == scope)
                    .map(|(id, _)| id.clone())
            },
        )
        .map_err(as_error)?;
    let dpop_jkt = dpop_binding(&state, &headers, request.dpop_jkt.as_deref()).await?;
    let (offer_id, offer_holder_id) = match &request.issuer_state {
        None => (None, None),
        Some(issuer_state) => {
            let offer = state
                .store
                .consume_issuer_state(&sha256_b64(issuer_state.as_bytes()), state.now())
                .await?
                .ok_or_else(|| {
                    as_error(ProtocolError::invalid_request(
                        "issuer_state is unknown, expired or used",
                    ))
                })?;
            (Some(offer.offer_id), Some(offer.holder_id))
        }
    };
    let now = state.now();
    let lifetime = state.config.authorization.par_lifetime;
    let request_uri = format!("{REQUEST_URI_PREFIX}{}", state.random.token(32));
    let pushed = PushedRequest {
        request,
        configuration_ids,
        client_id: client_id.clone(),
        client_instance_jkt: client.instance_jkt.clone(),
        dpop_jkt,
        offer_id,
        offer_holder_id,
    };
    let json = serde_json::to_value(&pushed)
        .map_err(|_| as_error(ProtocolError::server_error("request encoding")))?;
    state
        .store
        .insert_par_request(&ParRecord {
            request_uri_hash: sha256_b64(request_uri.as_bytes()),
            client_id,
            request: json,
            created_at: now,
            expires_at: now + lifetime,
        })
        .await?;
    let mut response = (
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(PushedAuthorizationResponse {
            request_uri,
            expires_in: lifetime,
        }),
    )
        .into_response();
    attach_challenge(&state, response.headers_mut());
    Ok(response)
}

/// RFC 9449 §10: a DPoP header or `dpop_jkt` at PAR binds the future code to
/// that key; both with different keys → `invalid_dpop_proof` (ISS-PAR-10).
async fn dpop_binding(
    state: &IssuerState,
    headers: &HeaderMap,
    dpop_jkt: Option<&str>,
) -> Result<Option<String>, ApiError> {
    if !headers.contains_key("dpop") {
        return Ok(dpop_jkt.map(str::to_owned));
    }
    let key = check_dpop(
        state,
        headers,
        "POST",
        &state.endpoints.par,
        None,
        Endpoint::AuthorizationServer,
    )
    .await?;
    match dpop_jkt {
        Some(jkt) if jkt != key.jkt => Err(ApiError::at_as(ProtocolError::invalid_dpop_proof(
            "dpop_jkt does not match the key of the DPoP proof",
        ))),
        _ => Ok(Some(key.jkt)),
    }
}

/// ABCA §6.2: a fresh attestation challenge on every successful response, when challenges are on.
pub fn attach_challenge(state: &IssuerState, headers: &mut HeaderMap) {
    if let Some(value) = fresh_challenge(state).and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(
            HeaderName::from_static(avow_core::client_attestation::ATTESTATION_CHALLENGE_HEADER),
            value,
        );
    }
}
