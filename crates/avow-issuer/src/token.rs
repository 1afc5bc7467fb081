//! `HandleTokenRequest`: the Token Endpoint (OID4VCI §6, RFC 6749 §5,
//! RFC 9449 §5). It authenticates the client, checks the DPoP proof, then
//! hands the grant to its use case.

use crate::client_auth::{ClientAuthContext, PeerCertificates, authenticate_client};
use crate::dpop::check_dpop;
use crate::error::ApiError;
use crate::redeem_authorization_code::{CodeExchange, redeem_authorization_code};
use crate::redeem_pre_authorized_code::redeem_pre_authorized_code;
use crate::refresh_access_token::refresh_access_token;
use crate::state::AppState;
use avow_core::ProtocolError;
use avow_core::error::Endpoint;
use avow_core::token::TokenRequest;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;

pub async fn handle_token_request(
    State(state): State<AppState>,
    peer: Option<Extension<PeerCertificates>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form = parse_form(&headers, &body)?;
    let request = TokenRequest::from_form(&form).map_err(ApiError::at_as)?;
    let context = ClientAuthContext::Token {
        pre_authorized_grant: matches!(request, TokenRequest::PreAuthorizedCode { .. }),
    };
    let client = authenticate_client(
        &state,
        &headers,
        &form,
        peer.as_ref().map(|p| &p.0),
        context,
    )
    .await?;
    // DPoP before the grant: a request refused for use_dpop_nonce must not burn the code (ISS-TAC-07).
    let dpop = check_dpop(
        &state,
        &headers,
        "POST",
        &state.endpoints.token,
        None,
        Endpoint::AuthorizationServer,
    )
    .await?;
    match request {
        TokenRequest::PreAuthorizedCode {
            pre_authorized_code,
            tx_code,
            client_id: _,
            authorization_details,
        } => {
            redeem_pre_authorized_code(
                &state,
                &client,
                &dpop,
                &pre_authorized_code,
                tx_code.as_deref(),
                authorization_details.as_deref(),
            )
            .await
        }
        TokenRequest::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
            client_id: _,
            authorization_details,
        } => {
            let exchange = CodeExchange {
                code: &code,
                redirect_uri: &redirect_uri,
                code_verifier: &code_verifier,
                authorization_details: authorization_details.as_deref(),
            };
            redeem_authorization_code(&state, &client, &dpop, exchange).await
        }
        TokenRequest::RefreshToken {
            refresh_token,
            scope,
            client_id: _,
        } => refresh_access_token(&state, &client, &dpop, &refresh_token, scope.as_deref()).await,
    }
}

/// Decodes an `application/x-www-form-urlencoded` body (RFC 6749 §3.2; ISS-TOK-01).
pub fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    if !is_form(headers) {
        return Err(ApiError::at_as(ProtocolError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        )));
    }
    std::str::from_utf8(body)
        .ok()
        .and_then(avow_core::percent::parse_query)
        .ok_or_else(|| {
            ApiError::at_as(ProtocolError::invalid_request(
                "the body is not valid form encoding",
            ))
        })
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}
