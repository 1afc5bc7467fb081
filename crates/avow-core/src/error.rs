//! Error codes of OAuth 2.0 (RFC 6749 §5.2, RFC 6750 §3.1), DPoP (RFC 9449)
//! and OpenID4VCI 1.0 (§6.3, §8.3.1), and the HTTP status each one travels with.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Every `error` value Avow emits. The HTTP status is fixed per code, except
/// where the spec distinguishes the endpoint (see [`ProtocolError::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // RFC 6749 §5.2
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    // RFC 6749 §4.1.2.1
    UnsupportedResponseType,
    // RFC 9396 §5
    InvalidAuthorizationDetails,
    // Attestation-based client authentication §5.2 (Errors)
    UseAttestationChallenge,
    UseFreshAttestation,
    // RFC 6750 §3.1
    InvalidToken,
    InsufficientScope,
    // RFC 9449
    InvalidDpopProof,
    UseDpopNonce,
    // OpenID4VCI 1.0 §8.3.1.2
    InvalidCredentialRequest,
    UnknownCredentialConfiguration,
    UnknownCredentialIdentifier,
    InvalidProof,
    InvalidNonce,
    InvalidEncryptionParameters,
    CredentialRequestDenied,
    // OpenID4VCI 1.0 §9.3
    InvalidTransactionId,
    // OpenID4VCI 1.0 §11.3
    InvalidNotificationId,
    InvalidNotificationRequest,
    // RFC 6749 §4.1.2.1 / generic
    AccessDenied,
    ServerError,
    NotFound,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidAuthorizationDetails => "invalid_authorization_details",
            Self::UseAttestationChallenge => "use_attestation_challenge",
            Self::UseFreshAttestation => "use_fresh_attestation",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::InvalidCredentialRequest => "invalid_credential_request",
            Self::UnknownCredentialConfiguration => "unknown_credential_configuration",
            Self::UnknownCredentialIdentifier => "unknown_credential_identifier",
            Self::InvalidProof => "invalid_proof",
            Self::InvalidNonce => "invalid_nonce",
            Self::InvalidEncryptionParameters => "invalid_encryption_parameters",
            Self::CredentialRequestDenied => "credential_request_denied",
            Self::InvalidTransactionId => "invalid_transaction_id",
            Self::InvalidNotificationId => "invalid_notification_id",
            Self::InvalidNotificationRequest => "invalid_notification_request",
            Self::AccessDenied => "access_denied",
            Self::ServerError => "server_error",
            Self::NotFound => "not_found",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an error is reported decides how it is reported: the token endpoint
/// answers in a JSON body (RFC 6749 §5.2), a protected resource in the
/// `WWW-Authenticate` header (RFC 6750 §3, RFC 9449 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    AuthorizationServer,
    Resource,
}

/// A protocol failure: the spec's code plus a human-readable description.
/// Descriptions are ASCII without `"` or `\` (OID4VCI §8.3.1.2) and never
/// carry secrets or claim values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct ProtocolError {
    pub code: ErrorCode,
    pub description: String,
}

impl ProtocolError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        let description: String = description
            .into()
            .chars()
            .map(|c| {
                if c.is_ascii() && c != '"' && c != '\\' && !c.is_ascii_control() {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        Self { code, description }
    }

    /// The HTTP status the spec names for this code at this kind of endpoint.
    pub fn status(&self, at: Endpoint) -> u16 {
        match (self.code, at) {
            (ErrorCode::InvalidClient, _) => 401,
            (ErrorCode::InvalidToken, _) => 401,
            (ErrorCode::InvalidDpopProof | ErrorCode::UseDpopNonce, Endpoint::Resource) => 401,
            (ErrorCode::InsufficientScope, _) => 403,
            (ErrorCode::NotFound, _) => 404,
            (ErrorCode::ServerError, _) => 500,
            _ => 400,
        }
    }
}

macro_rules! constructors {
    ($($name:ident => $code:ident),* $(,)?) => {
        impl ProtocolError {
            $(
                #[doc = concat!("A `", stringify!($name), "` error.")]
                pub fn $name(description: impl Into<String>) -> Self {
                    Self::new(ErrorCode::$code, description)
                }
            )*
        }
    };
}

constructors! {
    invalid_request => InvalidRequest,
    invalid_client => InvalidClient,
    invalid_grant => InvalidGrant,
    unsupported_grant_type => UnsupportedGrantType,
    invalid_scope => InvalidScope,
    unsupported_response_type => UnsupportedResponseType,
    invalid_authorization_details => InvalidAuthorizationDetails,
    use_attestation_challenge => UseAttestationChallenge,
    use_fresh_attestation => UseFreshAttestation,
    access_denied => AccessDenied,
    invalid_token => InvalidToken,
    insufficient_scope => InsufficientScope,
    invalid_dpop_proof => InvalidDpopProof,
    use_dpop_nonce => UseDpopNonce,
    invalid_credential_request => InvalidCredentialRequest,
    unknown_credential_configuration => UnknownCredentialConfiguration,
    unknown_credential_identifier => UnknownCredentialIdentifier,
    invalid_proof => InvalidProof,
    invalid_nonce => InvalidNonce,
    credential_request_denied => CredentialRequestDenied,
    invalid_transaction_id => InvalidTransactionId,
    invalid_notification_id => InvalidNotificationId,
    invalid_notification_request => InvalidNotificationRequest,
    server_error => ServerError,
}

/// The JSON error body of RFC 6749 §5.2 and OID4VCI §8.3.1.2.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorResponse {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

impl From<&ProtocolError> for ErrorResponse {
    fn from(e: &ProtocolError) -> Self {
        Self {
            error: e.code.as_str().to_owned(),
            error_description: Some(e.description.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_specs() {
        assert_eq!(
            ProtocolError::invalid_client("x").status(Endpoint::AuthorizationServer),
            401
        );
        assert_eq!(
            ProtocolError::invalid_grant("x").status(Endpoint::AuthorizationServer),
            400
        );
        assert_eq!(
            ProtocolError::invalid_dpop_proof("x").status(Endpoint::AuthorizationServer),
            400
        );
        assert_eq!(
            ProtocolError::invalid_dpop_proof("x").status(Endpoint::Resource),
            401
        );
        assert_eq!(
            ProtocolError::use_dpop_nonce("x").status(Endpoint::Resource),
            401
        );
        assert_eq!(
            ProtocolError::insufficient_scope("x").status(Endpoint::Resource),
            403
        );
        assert_eq!(
            ProtocolError::invalid_proof("x").status(Endpoint::Resource),
            400
        );
    }

    #[test]
    fn descriptions_are_plain_ascii() {
        let e = ProtocolError::invalid_proof("bad \"aud\" \\ é\n");
        assert_eq!(e.description, "bad ?aud? ? ??");
    }

    #[test]
    fn codes_serialize_as_spec_strings() {
        for code in [
            ErrorCode::UseDpopNonce,
            ErrorCode::UnknownCredentialConfiguration,
            ErrorCode::InvalidDpopProof,
        ] {
            let json = serde_json::to_string(&code).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
