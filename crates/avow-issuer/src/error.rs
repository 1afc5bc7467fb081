//! How a [`ProtocolError`] leaves the issuer: the spec's status, JSON body
//! and, at protected resources, the `WWW-Authenticate` header (RFC 6750 §3,
//! RFC 9449 §7.1). Every error response is `Cache-Control: no-store`.

use avow_core::error::{Endpoint, ErrorResponse};
use avow_core::{ErrorCode, ProtocolError};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub struct ApiError {
    pub error: ProtocolError,
    pub at: Endpoint,
    /// A fresh DPoP nonce to hand out with `use_dpop_nonce` (RFC 9449 §8, §9).
    pub dpop_nonce: Option<String>,
}

impl ApiError {
    pub fn at_as(error: ProtocolError) -> Self {
        Self {
            error,
            at: Endpoint::AuthorizationServer,
            dpop_nonce: None,
        }
    }

    pub fn at_resource(error: ProtocolError) -> Self {
        Self {
            error,
            at: Endpoint::Resource,
            dpop_nonce: None,
        }
    }

    pub fn with_dpop_nonce(mut self, nonce: String) -> Self {
        self.dpop_nonce = Some(nonce);
        self
    }
}

/// The error code of a response, for the request log line (ISS-SEC-10).
#[derive(Debug, Clone, Copy)]
pub struct LoggedErrorCode(pub ErrorCode);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.error.status(self.at)).unwrap_or(StatusCode::BAD_REQUEST);
        let mut headers = HeaderMap::new();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        let auth_error = matches!(
            self.error.code,
            ErrorCode::InvalidToken
                | ErrorCode::InvalidDpopProof
                | ErrorCode::UseDpopNonce
                | ErrorCode::InsufficientScope
        );
        if self.at == Endpoint::Resource && auth_error {
            let challenge = format!(
                "DPoP error=\"{}\", error_description=\"{}\", algs=\"ES256\"",
                self.error.code, self.error.description
            );
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                headers.insert(header::WWW_AUTHENTICATE, v);
            }
        }
        if let Some(nonce) = self
            .dpop_nonce
            .as_deref()
            .and_then(|n| HeaderValue::from_str(n).ok())
        {
            headers.insert("dpop-nonce", nonce);
        }
        let mut response = (
            status,
            headers,
            axum::Json(ErrorResponse::from(&self.error)),
        )
            .into_response();
        response
            .extensions_mut()
            .insert(LoggedErrorCode(self.error.code));
        response
    }
}

/// Storage failures are the only 5xx: the client did nothing wrong.
impl From<avow_store::StoreError> for ApiError {
    fn from(e: avow_store::StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        Self::at_as(ProtocolError::server_error("temporary storage failure"))
    }
}
