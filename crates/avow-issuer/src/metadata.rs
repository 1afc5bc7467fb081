//! Metadata documents, built once from configuration and served as bytes:
//! Credential Issuer Metadata (OID4VCI §12.2), Authorization Server Metadata
//! (RFC 8414, OID4VCI §12.3) and JWT VC Issuer Metadata (SD-JWT VC §4).

use crate::config::{CredentialFormat, IssuerConfig};
use crate::keys::IssuerKeys;
use crate::state::{AppState, Endpoints};
use avow_core::metadata::{
    AuthorizationServerMetadata, CredentialConfiguration, CredentialIssuerMetadata,
    CredentialMetadata, Display, JwkSet, JwtVcIssuerMetadata, Logo,
};
use avow_core::offer::PRE_AUTHORIZED_CODE_GRANT;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

pub fn credential_issuer_metadata(
    config: &IssuerConfig,
    issuer_id: &str,
    endpoints: &Endpoints,
    encryption: &crate::credential_encryption::CredentialEncryption,
) -> CredentialIssuerMetadata {
    let configurations = config
        .credential_configurations
        .iter()
        .map(|(id, c)| {
            let configuration = CredentialConfiguration {
                format: c.format.identifier().to_owned(),
                scope: Some(c.scope.clone()),
                vct: c.vct.clone(),
                doctype: c.doctype.clone(),
                // ISS-META-10: jwt_vc_json carries credential_definition.type.
                credential_definition: c
                    .credential_definition_type
                    .clone()
                    .map(|types| avow_core::metadata::CredentialDefinition { types }),
                // ISS-META-08: jwk for SD-JWT VC, cose_key for mdoc; none
                // for a bearer configuration (key_proof.rs).
                cryptographic_binding_methods_supported:
                    crate::key_proof::cryptographic_binding_methods_supported(c),
                // ISS-MDOC-06: COSE ES256 (-7) and ESP256 (-9) for mdoc.
                credential_signing_alg_values_supported: match c.format {
                    CredentialFormat::DcSdJwt | CredentialFormat::JwtVcJson => {
                        vec!["ES256".into()]
                    }
                    CredentialFormat::MsoMdoc => vec![(-7).into(), (-9).into()],
                },
                // ISS-META-08, -09 (key_proof.rs).
                proof_types_supported: crate::key_proof::proof_types_supported(c),
                credential_metadata: Some(CredentialMetadata {
                    display: c.display.clone(),
                    claims: c.claims.iter().map(|claim| claim.description()).collect(),
                }),
            };
            (id.clone(), configuration)
        })
        .collect();
    let display = Display {
        name: config.display.name.clone(),
        locale: config.display.locale.clone(),
        logo: config.display.logo_uri.clone().map(|uri| Logo {
            uri,
            alt_text: config.display.name.clone(),
        }),
        ..Display::default()
    };
    CredentialIssuerMetadata {
        credential_issuer: issuer_id.to_owned(),
        authorization_servers: None,
        credential_endpoint: endpoints.credential.clone(),
        nonce_endpoint: Some(endpoints.nonce.clone()),
        // ISS-META-05: exactly when the features are enabled.
        deferred_credential_endpoint: config
            .deferred
            .enabled
            .then(|| crate::deferred::endpoint(issuer_id)),
        notification_endpoint: config
            .notifications
            .enabled
            .then(|| crate::notification::endpoint(issuer_id)),
        // ISS-META-12, -13, -17: both objects, or neither.
        credential_request_encryption: encryption.request_metadata().cloned(),
        credential_response_encryption: encryption.response_metadata().cloned(),
        // ISS-META-11 (key_proof.rs).
        batch_credential_issuance: crate::key_proof::batch_credential_issuance(&config.batch),
        display: vec![display],
        credential_configurations_supported: configurations,
        issuer_info: crate::signed_metadata::issuer_info(config),
    }
}

pub fn authorization_server_metadata(
    config: &IssuerConfig,
    issuer_id: &str,
    endpoints: &Endpoints,
) -> AuthorizationServerMetadata {
    use crate::client_auth as ca;
    let mut grant_types = vec![
        "authorization_code".to_owned(),
        PRE_AUTHORIZED_CODE_GRANT.to_owned(),
    ];
    if config.authorization.refresh_tokens {
        grant_types.push("refresh_token".into());
    }
    AuthorizationServerMetadata {
        issuer: issuer_id.to_owned(),
        token_endpoint: endpoints.token.clone(),
        authorization_endpoint: Some(endpoints.authorization.clone()),
        pushed_authorization_request_endpoint: Some(endpoints.par.clone()),
        // APT §7.3, C-20: PAR is the only way in.
        require_pushed_authorization_requests: true,
        response_types_supported: vec!["code".into()],
        grant_types_supported: grant_types,
        code_challenge_methods_supported: vec![avow_core::pkce::S256.into()],
        token_endpoint_auth_methods_supported: ca::token_endpoint_auth_methods_supported(config),
        dpop_signing_alg_values_supported: vec!["ES256".into()],
        pre_authorized_grant_anonymous_access_supported: config
            .policy
            .pre_authorized_grant_anonymous_access,
        jwks_uri: None,
        challenge_endpoint: ca::challenge_endpoint(config, issuer_id),
        client_attestation_signing_alg_values_supported:
            ca::client_attestation_signing_alg_values_supported(config),
        client_attestation_pop_signing_alg_values_supported:
            ca::client_attestation_pop_signing_alg_values_supported(config),
        authorization_response_iss_parameter_supported: true,
        authorization_details_types_supported: vec![
            avow_core::authorization::OPENID_CREDENTIAL.into(),
        ],
        tls_client_certificate_bound_access_tokens: ca::tls_client_certificate_bound_access_tokens(
            config,
        ),
        mtls_endpoint_aliases: ca::mtls_endpoint_aliases(config),
        token_endpoint_auth_signing_alg_values_supported:
            ca::token_endpoint_auth_signing_alg_values_supported(config),
    }
}

/// JWT VC Issuer Metadata (SD-JWT VC §4; ISS-SIG-02): the signing key and
/// every retired key still published (`keys.retired_chains`), each under
/// its RFC 7638 thumbprint as `kid`, so that a credential signed before a
/// key rotation keeps verifying (SD-JWT §9.8; ISS-SIG-06).
pub fn jwt_vc_issuer_metadata(issuer_id: &str, keys: &IssuerKeys) -> JwtVcIssuerMetadata {
    let keys = keys
        .published()
        .iter()
        .map(|key| {
            key.jwk
                .to_json_with(&[("kid", &key.kid), ("use", "sig"), ("alg", "ES256")])
        })
        .collect();
    JwtVcIssuerMetadata {
        issuer: issuer_id.to_owned(),
        jwks: JwkSet { keys },
    }
}

fn json_response(body: &Bytes) -> impl IntoResponse + use<> {
    ([(header::CONTENT_TYPE, "application/json")], body.clone())
}

/// `GET /.well-known/oauth-authorization-server` (ISS-ASMETA-01).
pub async fn get_authorization_server_metadata(State(state): State<AppState>) -> impl IntoResponse {
    json_response(&state.authorization_server_metadata)
}

/// `GET /.well-known/jwt-vc-issuer` (ISS-SIG-02).
pub async fn get_jwt_vc_issuer_metadata(State(state): State<AppState>) -> impl IntoResponse {
    json_response(&state.jwt_vc_issuer_metadata)
}
