//! Credential Issuer Metadata (OID4VCI 1.0 §12.2), OAuth Authorization Server
//! Metadata (RFC 8414, OID4VCI §12.3) and JWT VC Issuer Metadata (SD-JWT VC §4).
//!
//! The same types are served by the issuer and read by the wallet, so every
//! optional member is skipped when absent and unknown members are ignored
//! on input (OID4VCI §12.2.4).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Format identifier of SD-JWT VC (OID4VCI A.3.1; never `vc+sd-jwt`, C-01).
pub const FORMAT_DC_SD_JWT: &str = "dc+sd-jwt";
/// Format identifier of ISO mdoc (OID4VCI A.2.1).
pub const FORMAT_MSO_MDOC: &str = "mso_mdoc";
/// Format identifier of a W3C VC signed as a JWT, without JSON-LD (OID4VCI A.1.1).
pub const FORMAT_JWT_VC_JSON: &str = "jwt_vc_json";

/// `credential_definition` of `jwt_vc_json` (OID4VCI A.1.1.2); never processed as JSON-LD.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CredentialDefinition {
    /// The VC `type` values, `VerifiableCredential` among them.
    #[serde(rename = "type")]
    pub types: Vec<String>,
}

/// OID4VCI §12.2.4.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CredentialIssuerMetadata {
    pub credential_issuer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_servers: Option<Vec<String>>,
    pub credential_endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deferred_credential_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_endpoint: Option<String>,
    /// Encrypted Credential Requests (VCI §8.2, §10; ISS-META-13).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_request_encryption: Option<crate::encryption::RequestEncryptionMetadata>,
    /// Encrypted Credential Responses (VCI §8.3, §10; ISS-META-12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_response_encryption: Option<crate::encryption::ResponseEncryptionMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_credential_issuance: Option<BatchCredentialIssuance>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub display: Vec<Display>,
    pub credential_configurations_supported: BTreeMap<String, CredentialConfiguration>,
    /// ETSI TS 119 472-3 issuer registration material (APT §5, §7.7; D-01).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_info: Option<Vec<IssuerInfoEntry>>,
}

/// One `issuer_info` element: `{format, data}` (ISS-SMETA-05).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IssuerInfoEntry {
    pub format: String,
    pub data: serde_json::Value,
}

/// `typ` of signed Credential Issuer Metadata (OID4VCI §12.2.3).
pub const SIGNED_METADATA_TYP: &str = "openidvci-issuer-metadata+jwt";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BatchCredentialIssuance {
    pub batch_size: u32,
}

/// Display properties of the issuer or of a credential (OID4VCI §12.2.4).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Display {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<Logo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_color: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Logo {
    pub uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt_text: Option<String>,
}

/// One entry of `credential_configurations_supported` (OID4VCI §12.2.4, A.3.2).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CredentialConfiguration {
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `dc+sd-jwt`: the credential type (SD-JWT VC §2.2.2.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vct: Option<String>,
    /// `mso_mdoc`: the document type (OID4VCI A.2.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doctype: Option<String>,
    /// `jwt_vc_json`: the credential types (OID4VCI A.1.1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_definition: Option<CredentialDefinition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cryptographic_binding_methods_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// JOSE names for JWT formats, COSE integers for `mso_mdoc` (VCI A.2.2).
    pub credential_signing_alg_values_supported: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub proof_types_supported: BTreeMap<String, ProofTypeMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_metadata: Option<CredentialMetadata>,
}

impl CredentialConfiguration {
    /// Whether issued credentials are bound to a holder key (OID4VCI §12.2.4).
    pub fn binds_keys(&self) -> bool {
        !self.cryptographic_binding_methods_supported.is_empty()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProofTypeMetadata {
    pub proof_signing_alg_values_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_attestations_required: Option<serde_json::Value>,
}

/// `credential_metadata` (OID4VCI §12.2.4): display and claims descriptions.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CredentialMetadata {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub display: Vec<Display>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<ClaimDescription>,
}

/// A claims description with a claims path pointer (OID4VCI App. B.2, C).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClaimDescription {
    pub path: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mandatory: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub display: Vec<ClaimDisplay>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClaimDisplay {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

/// OAuth 2.0 Authorization Server Metadata (RFC 8414 §2, OID4VCI §12.3, RFC 9449 §5.1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuthorizationServerMetadata {
    pub issuer: String,
    pub token_endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_authorization_request_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_pushed_authorization_requests: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_types_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grant_types_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub code_challenge_methods_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dpop_signing_alg_values_supported: Vec<String>,
    #[serde(rename = "pre-authorized_grant_anonymous_access_supported", default)]
    pub pre_authorized_grant_anonymous_access_supported: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// ABCA §6.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_attestation_signing_alg_values_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_attestation_pop_signing_alg_values_supported: Vec<String>,
    /// RFC 9207 §3.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub authorization_response_iss_parameter_supported: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_details_types_supported: Vec<String>,
    /// RFC 8705 §3.3.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls_client_certificate_bound_access_tokens: bool,
    /// RFC 8705 §5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtls_endpoint_aliases: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_endpoint_auth_signing_alg_values_supported: Vec<String>,
}

/// JWT VC Issuer Metadata (SD-JWT VC §4.2): the issuer's signing keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JwtVcIssuerMetadata {
    pub issuer: String,
    pub jwks: JwkSet,
}

/// A JWK Set (RFC 7517 §5); keys stay raw JSON here, `avow-crypto` types them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct JwkSet {
    pub keys: Vec<serde_json::Value>,
}

/// The well-known URL for `suffix` of an identifier: the well-known segment
/// goes between host and path (OID4VCI §12.2.2, RFC 8414 §3.1).
///
/// Returns `None` when `identifier` is not an absolute http(s) URL.
pub fn well_known_url(identifier: &str, suffix: &str) -> Option<String> {
    let (scheme, rest) = identifier.split_once("://")?;
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if host.is_empty() {
        return None;
    }
    Some(format!("{scheme}://{host}/.well-known/{suffix}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_goes_between_host_and_path() {
        assert_eq!(
            well_known_url("https://issuer.example.com", "openid-credential-issuer").as_deref(),
            Some("https://issuer.example.com/.well-known/openid-credential-issuer")
        );
        assert_eq!(
            well_known_url(
                "https://issuer.example.com/tenant",
                "openid-credential-issuer"
            )
            .as_deref(),
            Some("https://issuer.example.com/.well-known/openid-credential-issuer/tenant")
        );
        assert_eq!(well_known_url("ftp://x", "a"), None);
        assert_eq!(well_known_url("https://", "a"), None);
    }

    #[test]
    fn metadata_ignores_unknown_members() {
        let json = serde_json::json!({
            "credential_issuer": "https://i.example",
            "credential_endpoint": "https://i.example/credential",
            "credential_configurations_supported": {},
            "something_new": true
        });
        let m: Result<CredentialIssuerMetadata, _> = serde_json::from_value(json);
        assert!(m.is_ok());
    }
}
