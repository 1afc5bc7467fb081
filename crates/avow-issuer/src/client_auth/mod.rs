//! Client authentication at the Authorization Server's PAR and token
//! endpoints (RFC 6749 §2.3), with the methods of the wallet design options:
//!
//! - `attest_jwt_client_auth`: a Wallet Instance Attestation and its PoP in
//!   the `OAuth-Client-Attestation` / `-PoP` headers (ABCA §4 – §7; HAIP
//!   §4.4.1; ISS-CATT-01 … -12). The default and, unless configured
//!   otherwise, the only method.
//! - `private_key_jwt`: an RFC 7523 §2.2 client assertion signed by a
//!   configured key of a client or wallet backend (ISS-CLI-04; WBE-CAS-03/-04).
//! - `tls_client_auth`: a client certificate on the mutual-TLS listener that
//!   chains to a configured wallet-provider CA and names the `client_id`
//!   (RFC 8705 §2.1; ISS-CLI-01).
//! - anonymous: only for the pre-authorized code grant at the token endpoint,
//!   and only when the deployment switches it on (VCI §6.1; ISS-TPA-07; C-21).
//!
//! Every refusal is `401 invalid_client` whose `error_description` names the
//! failed check without repeating what the client sent (ISS-CATT-12), except
//! `400 use_attestation_challenge` / `use_fresh_attestation` (ABCA §7.4) and
//! `400 invalid_request` for a malformed request.

mod assertion;
mod attestation;
pub mod config;
mod mtls;
mod trust;

pub use crate::challenge::fresh_challenge;
pub use crate::tls::PeerCertificates;
pub use assertion::JWT_BEARER_ASSERTION_TYPE;
pub use config::{ClientAuthConfig, ClientIdSource, MtlsConfig};
pub use trust::{ClientAuthTrust, TrustError};

use crate::config::IssuerConfig;
use crate::error::ApiError;
use crate::state::IssuerState;
use avow_core::ProtocolError;
use avow_core::client_attestation::{ATTESTATION_HEADER, ATTESTATION_POP_HEADER};
use avow_crypto::AlgorithmAllowList;
use axum::http::HeaderMap;
use std::collections::BTreeMap;

/// `client_assertion_type` of the attestation form of pre-final ABCA drafts (C-11).
pub const LEGACY_ATTESTATION_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-client-attestation";

/// The client authentication methods (`token_endpoint_auth_methods_supported` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    AttestJwtClientAuth,
    PrivateKeyJwt,
    TlsClientAuth,
    Anonymous,
}

impl ClientAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AttestJwtClientAuth => avow_core::client_attestation::ATTEST_JWT_CLIENT_AUTH,
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::TlsClientAuth => "tls_client_auth",
            Self::Anonymous => "none",
        }
    }
}

/// Who is calling, as established by [`authenticate_client`].
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    /// `None` only for [`ClientAuthMethod::Anonymous`].
    pub client_id: Option<String>,
    pub method: ClientAuthMethod,
    /// RFC 7638 thumbprint of the WIA `cnf` key (attestation) or of the
    /// assertion's `cnf.jwk` (private_key_jwt), when there is one.
    pub instance_jkt: Option<String>,
    /// `x5t#S256` of the client certificate (tls_client_auth; RFC 8705 §3.1).
    pub certificate_thumbprint: Option<String>,
}

/// The endpoint asking: the audience and replay scope of assertions, and
/// whether anonymous access can apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthContext {
    Par,
    Token { pre_authorized_grant: bool },
}

impl ClientAuthContext {
    fn endpoint_name(self) -> &'static str {
        match self {
            Self::Par => "par",
            Self::Token { .. } => "token",
        }
    }
}

pub(crate) fn invalid_client(description: impl Into<String>) -> ApiError {
    ApiError::at_as(ProtocolError::invalid_client(description))
}

/// The single value of a form parameter; a repeated one is `invalid_request` (RFC 6749 §3.2).
fn single<'a>(form: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, ApiError> {
    let mut values = form
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str());
    let first = values.next();
    if values.next().is_some() {
        return Err(ApiError::at_as(ProtocolError::invalid_request(format!(
            "parameter {name} is repeated"
        ))));
    }
    Ok(first)
}

/// Authenticates the client of a PAR or token request. `form` are the decoded
/// form parameters, `tls` the peer certificates when the request came over
/// the mutual-TLS listener.
pub async fn authenticate_client(
    state: &IssuerState,
    headers: &HeaderMap,
    form: &[(String, String)],
    tls: Option<&PeerCertificates>,
    context: ClientAuthContext,
) -> Result<AuthenticatedClient, ApiError> {
    let config = &state.config.client_authentication;
    let client_id = single(form, "client_id")?;
    let assertion_type = single(form, "client_assertion_type")?;
    let assertion = single(form, "client_assertion")?;
    let attestation_presented =
        headers.contains_key(ATTESTATION_HEADER) || headers.contains_key(ATTESTATION_POP_HEADER);
    let assertion_presented = assertion_type.is_some() || assertion.is_some();
    if attestation_presented && assertion_presented {
        return Err(ApiError::at_as(ProtocolError::invalid_request(
            "more than one client authentication method was used (RFC 6749 section 2.3)",
        )));
    }
    let require = |method: ClientAuthMethod| {
        if config.enabled(method) {
            Ok(())
        } else {
            Err(invalid_client(format!(
                "client authentication method {} is not enabled on this authorization server",
                method.as_str()
            )))
        }
    };
    if attestation_presented {
        require(ClientAuthMethod::AttestJwtClientAuth)?;
        return attestation::authenticate(state, headers, client_id).await;
    }
    if assertion_presented {
        return match (assertion_type, assertion) {
            (Some(JWT_BEARER_ASSERTION_TYPE), Some(assertion)) => {
                require(ClientAuthMethod::PrivateKeyJwt)?;
                assertion::authenticate(state, form, assertion, client_id, context).await
            }
            (Some(LEGACY_ATTESTATION_ASSERTION_TYPE), _) => Err(invalid_client(
                "the pre-final jwt-client-attestation client_assertion_type is not accepted: send the OAuth-Client-Attestation and OAuth-Client-Attestation-PoP headers",
            )),
            (Some(_), Some(_)) => Err(invalid_client("client_assertion_type is not supported")),
            _ => Err(ApiError::at_as(ProtocolError::invalid_request(
                "client_assertion and client_assertion_type must be sent together",
            ))),
        };
    }
    if let Some(peer) = tls.filter(|p| p.leaf().is_some()) {
        require(ClientAuthMethod::TlsClientAuth)?;
        return mtls::authenticate(state, peer, client_id);
    }
    if context
        == (ClientAuthContext::Token {
            pre_authorized_grant: true,
        })
        && state.config.policy.pre_authorized_grant_anonymous_access
    {
        return Ok(AuthenticatedClient {
            client_id: None,
            method: ClientAuthMethod::Anonymous,
            instance_jkt: None,
            certificate_thumbprint: None,
        });
    }
    Err(invalid_client(format!(
        "client authentication is required; accepted methods: {}",
        token_endpoint_auth_methods_supported(&state.config).join(", ")
    )))
}

// ---------------------------------------------------------------- metadata

/// `token_endpoint_auth_methods_supported` (RFC 8414 §2; ABCA §8; ISS-ASMETA-05).
pub fn token_endpoint_auth_methods_supported(config: &IssuerConfig) -> Vec<String> {
    config
        .client_authentication
        .methods
        .iter()
        .filter(|m| **m != ClientAuthMethod::Anonymous)
        .map(|m| m.as_str().to_owned())
        .collect()
}

/// The algorithms accepted for WIAs, PoPs and client assertions (HAIP §7: ES256).
pub fn algorithms() -> AlgorithmAllowList {
    AlgorithmAllowList::es256()
}

/// `client_attestation_signing_alg_values_supported` (ABCA §8; ISS-ASMETA-06);
/// empty when attestation is not enabled.
pub fn client_attestation_signing_alg_values_supported(config: &IssuerConfig) -> Vec<String> {
    if config
        .client_authentication
        .enabled(ClientAuthMethod::AttestJwtClientAuth)
    {
        algorithms().names()
    } else {
        Vec::new()
    }
}

/// `client_attestation_pop_signing_alg_values_supported` (ABCA §8; ISS-ASMETA-06).
pub fn client_attestation_pop_signing_alg_values_supported(config: &IssuerConfig) -> Vec<String> {
    client_attestation_signing_alg_values_supported(config)
}

/// `token_endpoint_auth_signing_alg_values_supported` (RFC 8414 §2), for private_key_jwt.
pub fn token_endpoint_auth_signing_alg_values_supported(config: &IssuerConfig) -> Vec<String> {
    if config
        .client_authentication
        .enabled(ClientAuthMethod::PrivateKeyJwt)
    {
        algorithms().names()
    } else {
        Vec::new()
    }
}

/// `challenge_endpoint` iff challenges are switched on (ABCA §6.1; ISS-ASMETA-09).
pub fn challenge_endpoint(config: &IssuerConfig, issuer_id: &str) -> Option<String> {
    config
        .client_authentication
        .challenge_endpoint
        .then(|| format!("{issuer_id}{}", crate::challenge::CHALLENGE_PATH))
}

/// `tls_client_certificate_bound_access_tokens` (RFC 8705 §3.3; ISS-ASMETA-08).
pub fn tls_client_certificate_bound_access_tokens(config: &IssuerConfig) -> bool {
    config
        .client_authentication
        .enabled(ClientAuthMethod::TlsClientAuth)
}

/// `mtls_endpoint_aliases` (RFC 8705 §5) when the mTLS listener has its own
/// public URL: the token and PAR endpoints under that URL.
pub fn mtls_endpoint_aliases(config: &IssuerConfig) -> Option<BTreeMap<String, String>> {
    let base = config
        .client_authentication
        .mtls
        .as_ref()?
        .public_url
        .as_deref()?
        .trim_end_matches('/');
    Some(BTreeMap::from([
        ("token_endpoint".to_owned(), format!("{base}/token")),
        (
            "pushed_authorization_request_endpoint".to_owned(),
            format!("{base}/par"),
        ),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iss_asmeta_05_06_08_09_metadata_follows_configuration() {
        let mut config = IssuerConfig::defaults().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            token_endpoint_auth_methods_supported(&config),
            vec!["attest_jwt_client_auth"]
        );
        assert_eq!(
            client_attestation_signing_alg_values_supported(&config),
            vec!["ES256"]
        );
        assert_eq!(
            client_attestation_pop_signing_alg_values_supported(&config),
            vec!["ES256"]
        );
        assert!(token_endpoint_auth_signing_alg_values_supported(&config).is_empty());
        assert_eq!(challenge_endpoint(&config, "https://i.example"), None);
        assert!(!tls_client_certificate_bound_access_tokens(&config));
        assert_eq!(mtls_endpoint_aliases(&config), None);

        let section = &mut config.client_authentication;
        section.methods = vec![
            ClientAuthMethod::PrivateKeyJwt,
            ClientAuthMethod::TlsClientAuth,
        ];
        section.challenge_endpoint = true;
        section.mtls = Some(MtlsConfig {
            listen: "127.0.0.1:0".into(),
            certificate: "c".into(),
            private_key: "k".into(),
            client_ca: vec![],
            client_id_from: ClientIdSource::SanUri,
            backend_clients: vec![],
            public_url: Some("https://mtls.i.example/".into()),
        });
        assert_eq!(
            token_endpoint_auth_methods_supported(&config),
            vec!["private_key_jwt", "tls_client_auth"]
        );
        assert!(client_attestation_signing_alg_values_supported(&config).is_empty());
        assert_eq!(
            token_endpoint_auth_signing_alg_values_supported(&config),
            vec!["ES256"]
        );
        assert_eq!(
            challenge_endpoint(&config, "https://i.example").as_deref(),
            Some("https://i.example/challenge")
        );
        assert!(tls_client_certificate_bound_access_tokens(&config));
        assert_eq!(
            mtls_endpoint_aliases(&config)
                .and_then(|a| a.get("token_endpoint").cloned())
                .as_deref(),
            Some("https://mtls.i.example/token")
        );
    }

    #[test]
    fn method_names() {
        for (m, name) in [
            (
                ClientAuthMethod::AttestJwtClientAuth,
                "attest_jwt_client_auth",
            ),
            (ClientAuthMethod::PrivateKeyJwt, "private_key_jwt"),
            (ClientAuthMethod::TlsClientAuth, "tls_client_auth"),
        ] {
            assert_eq!(m.as_str(), name);
            assert_eq!(
                serde_json::to_value(m).unwrap_or_default(),
                serde_json::json!(name)
            );
        }
    }
}
