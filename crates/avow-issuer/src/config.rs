//! Issuer configuration: a TOML file over embedded defaults.
//! Every key is documented in the README ("Issuer configuration").

use avow_core::metadata::{ClaimDescription, Display};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The embedded default configuration (a development setup).
pub const DEFAULT_CONFIG: &str = include_str!("../defaults/issuer.toml");
/// Demo holders loaded by `avow demo` (development only).
pub const DEMO_HOLDERS: &str = include_str!("../defaults/demo-holders.json");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub keys: KeysConfig,
    #[serde(default)]
    pub display: DisplayConfig,
    pub policy: PolicyConfig,
    #[serde(default)]
    pub authorization: AuthorizationConfig,
    /// `[metadata]`: signed metadata and the ETSI `issuer_info`.
    #[serde(default)]
    pub metadata: crate::signed_metadata::MetadataConfig,
    /// `[encryption]`: credential request and response encryption (VCI §10).
    #[serde(default)]
    pub encryption: crate::credential_encryption::EncryptionConfig,
    /// `[status_list]`: Token Status Lists (ISS-STAT).
    #[serde(default)]
    pub status_list: crate::status_list::StatusListConfig,
    /// `[holder_login]`: the holder login session of the authorization endpoint.
    #[serde(default)]
    pub holder_login: crate::authorize::HolderLoginConfig,
    /// `[client_authentication]`: accepted client authentication methods and their trust (ISS-CLI-05).
    #[serde(default)]
    pub client_authentication: crate::client_auth::ClientAuthConfig,
    /// `[batch]`: batch issuance (ISS-BATCH; see `key_proof`).
    #[serde(default)]
    pub batch: crate::key_proof::BatchConfig,
    /// `[deferred]`: deferred issuance (VCI §9; ISS-DEF; see `deferred`).
    #[serde(default)]
    pub deferred: crate::deferred::DeferredConfig,
    /// `[notifications]`: the Notification Endpoint (VCI §11; ISS-NOTIF; see `notification`).
    #[serde(default)]
    pub notifications: crate::notification::NotificationConfig,
    pub credential_configurations: BTreeMap<String, CredentialConfigurationConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The Credential Issuer Identifier; every published URL derives from it (ISS-META-18).
    /// Scheme and host (and port) only: a path is refused at start-up, since
    /// the well-known documents are served at the root only, not
    /// path-inserted (VCI §12.2.2; ISS-META-01, ISS-SIG-02, -03; see
    /// [`issuer_identifier_path`]).
    pub public_url: String,
    pub listen: String,
    pub admin_listen: String,
    /// Admin API bearer token. In dev mode a token is generated when unset.
    #[serde(default)]
    pub admin_token: Option<String>,
    /// Development conveniences: plain-http loopback URLs, generated PKI and admin token.
    #[serde(default)]
    pub dev_mode: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default: SQLite file `avow.db` in `data_dir`.
    #[serde(default)]
    pub database_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// Generate (once, then reuse) a development CA and signing key under `data_dir/dev-pki`.
    #[serde(default)]
    pub dev_pki: bool,
    /// PKCS#8 private key (PEM or DER) of the credential signing key.
    #[serde(default)]
    pub signing_key: Option<PathBuf>,
    /// The credential signing key in a PKCS#11 token instead of a file
    /// (ISS-SIG-06); exactly one of `signing_key` and `pkcs11`.
    #[serde(default)]
    pub pkcs11: Option<Pkcs11KeyConfig>,
    /// PEM chain of the signing certificate, leaf first, trust anchor excluded.
    #[serde(default)]
    pub signing_chain: Option<PathBuf>,
    /// PEM certificates of keys that signed credentials before a rotation and
    /// sign no more (one file per key, leaf first). Their public keys stay
    /// published in `/.well-known/jwt-vc-issuer` and the DID document, so
    /// that credentials they signed keep verifying (SD-JWT §9.8 "Key
    /// Rotation"; ISS-SIG-06). The operator removes an entry once the last
    /// credential that key signed has expired.
    #[serde(default)]
    pub retired_chains: Vec<PathBuf>,
}

/// `[keys] pkcs11 = { module, token_label, key_label, pin_env }`: a P-256
/// key in a PKCS#11 token (ISS-SIG-06).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11KeyConfig {
    /// The PKCS#11 module (shared library), e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The label of the token that holds the key.
    pub token_label: String,
    /// `CKA_LABEL` of the private key (and of its public key object).
    pub key_label: String,
    /// The name of the environment variable holding the user PIN; the PIN
    /// itself never appears in the configuration or the logs.
    pub pin_env: String,
}

impl KeysConfig {
    /// The `[keys]` rules (ISS-SIG-06): outside `dev_pki`, exactly one of
    /// `signing_key` and `pkcs11` names the signing key, and `signing_chain`
    /// its certificate; a PKCS#11 key needs all its fields.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(p) = &self.pkcs11 {
            for (name, value) in [
                ("module", p.module.as_os_str().is_empty()),
                ("token_label", p.token_label.is_empty()),
                ("key_label", p.key_label.is_empty()),
                ("pin_env", p.pin_env.is_empty()),
            ] {
                if value {
                    return Err(format!("keys.pkcs11.{name} must not be empty"));
                }
            }
        }
        if self.dev_pki {
            if self.signing_key.is_some() || self.pkcs11.is_some() {
                return Err(
                    "keys.dev_pki generates the signing key: do not also set keys.signing_key or keys.pkcs11"
                        .into(),
                );
            }
            return Ok(());
        }
        match (&self.signing_key, &self.pkcs11) {
            (Some(_), Some(_)) => Err(
                "keys.signing_key and keys.pkcs11 both name a signing key: set exactly one".into(),
            ),
            (None, None) => Err(
                "keys.signing_key (a key file) or keys.pkcs11 (a key in a PKCS#11 token) is required unless keys.dev_pki = true"
                    .into(),
            ),
            _ if self.signing_chain.is_none() => Err(
                "keys.signing_chain (the signing certificate, leaf first, trust anchor excluded) is required unless keys.dev_pki = true"
                    .into(),
            ),
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DisplayConfig {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default)]
    pub logo_uri: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    pub access_token_lifetime: i64,
    pub pre_authorized_code_lifetime: i64,
    pub c_nonce_lifetime: i64,
    pub dpop_nonce_lifetime: i64,
    pub dpop_window: i64,
    pub clock_skew: i64,
    pub max_tx_code_attempts: u32,
    pub offer_lifetime: i64,
    /// VCI §12.3; HAIP wants client authentication, so production should keep this false (C-21).
    #[serde(default)]
    pub pre_authorized_grant_anonymous_access: bool,
    /// Lifetime of an authorization code, seconds (ISS-AUTHZ-08: at most 60 by default); 1 to 600.
    #[serde(default = "default_authorization_code_lifetime")]
    pub authorization_code_lifetime: i64,
}

fn default_authorization_code_lifetime() -> i64 {
    60
}

/// The authorization-code flow (PAR, codes, refresh tokens).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthorizationConfig {
    /// Redirect URIs wallets may use: exact values or prefixes ending in `*` (ISS-PAR-03).
    pub allowed_redirect_uris: Vec<String>,
    /// Lifetime of a pushed request's `request_uri`, seconds (RFC 9126 §2.2).
    pub par_lifetime: i64,
    /// Issue refresh tokens in the authorization-code flow (ISS-TRT-01, C-23).
    pub refresh_tokens: bool,
    /// Lifetime of one refresh token, seconds.
    pub refresh_token_lifetime: i64,
    /// Maximum age of a refresh-token family from the original authorization, seconds (ISS-TRT-05).
    pub refresh_token_max_age: i64,
}

impl Default for AuthorizationConfig {
    fn default() -> Self {
        Self {
            allowed_redirect_uris: Vec::new(),
            par_lifetime: 60,
            refresh_tokens: true,
            refresh_token_lifetime: 30 * 86_400,
            refresh_token_max_age: 90 * 86_400,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfigurationConfig {
    pub format: CredentialFormat,
    pub scope: String,
    /// `dc+sd-jwt`: the credential type (SD-JWT VC §2.2.2.1).
    #[serde(default)]
    pub vct: Option<String>,
    /// `mso_mdoc`: the document type (ISO 18013-5; VCI A.2.2).
    #[serde(default)]
    pub doctype: Option<String>,
    /// `jwt_vc_json`: the VC `type` values (VCI A.1.1.2), `VerifiableCredential` among them.
    #[serde(default)]
    pub credential_definition_type: Option<Vec<String>>,
    /// Credential validity in seconds.
    pub lifetime: i64,
    /// Decoy digests per `_sd` array (ISS-SDJWT-08).
    #[serde(default)]
    pub decoys: usize,
    #[serde(default)]
    pub display: Vec<Display>,
    #[serde(default)]
    pub claims: Vec<ClaimConfig>,
    /// How verifiers find the issuer key (ISS-SIG-01; APT VCI-001/002/004/006).
    #[serde(default)]
    pub signature_profile: SignatureProfile,
    /// Every request for this configuration waits for the operator's
    /// approval (ISS-DEF-01); needs `[deferred] enabled = true`.
    #[serde(default)]
    pub deferred: bool,
    /// The `interval` of this configuration's deferred responses, seconds
    /// (ISS-DEF-09); default `[deferred] interval`.
    #[serde(default)]
    pub deferred_interval: Option<u64>,
    /// `proofs`: accepted proof types and key attestation policy (ISS-META-08, -09; see `key_proof`).
    #[serde(default)]
    pub proofs: Option<crate::key_proof::ProofsConfig>,
}

/// The credential formats Avow issues (VCI Appendix A).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum CredentialFormat {
    /// SD-JWT VC (VCI A.3; never `vc+sd-jwt`, C-01).
    #[serde(rename = "dc+sd-jwt")]
    DcSdJwt,
    /// ISO 18013-5 mdoc (VCI A.2).
    #[serde(rename = "mso_mdoc")]
    MsoMdoc,
    /// W3C VC signed as a JWT, without JSON-LD (VCI A.1.1; ISS-JWTVC-01).
    #[serde(rename = "jwt_vc_json")]
    JwtVcJson,
}

impl CredentialFormat {
    pub fn identifier(self) -> &'static str {
        match self {
            Self::DcSdJwt => avow_core::metadata::FORMAT_DC_SD_JWT,
            Self::MsoMdoc => avow_core::metadata::FORMAT_MSO_MDOC,
            Self::JwtVcJson => avow_core::metadata::FORMAT_JWT_VC_JSON,
        }
    }
}

/// How an issued credential conveys its issuer key (ISS-SIG-01, D-18).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureProfile {
    /// `x5c` chain to the issuer CA (HAIP §6.1.1; the default).
    #[default]
    X5c,
    /// The public key itself in the `jwk` header; also published at `/.well-known/jwt-vc-issuer`.
    Jwk,
    /// `kid`, resolvable through `/.well-known/jwt-vc-issuer` (SD-JWT VC §4).
    Kid,
    /// `iss` = the issuer's `did:web`, `kid` = a DID URL of `/.well-known/did.json`.
    DidWeb,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimConfig {
    /// Claims path pointer; `"*"` selects every element of an array (JSON `null`).
    pub path: Vec<serde_json::Value>,
    #[serde(default)]
    pub mandatory: bool,
    #[serde(default = "yes")]
    pub selectively_disclosable: bool,
    #[serde(default)]
    pub display: Vec<avow_core::metadata::ClaimDisplay>,
}

fn yes() -> bool {
    true
}

impl ClaimConfig {
    pub fn description(&self) -> ClaimDescription {
        ClaimDescription {
            path: self.path.clone(),
            mandatory: self.mandatory,
            display: self.display.clone(),
        }
    }
}

/// Why a configuration was refused at start-up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config: {0}")]
    Parse(String),
    #[error("config: {0}")]
    Invalid(String),
}

impl IssuerConfig {
    /// The embedded defaults.
    pub fn defaults() -> Result<Self, ConfigError> {
        Self::from_toml(DEFAULT_CONFIG)
    }

    /// A complete config file; missing tables are NOT filled from defaults,
    /// so what runs is what the file says.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let mut config: Self =
            toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        // TOML has no null: "*" stands for "every array element" (OID4VCI App. C).
        for configuration in config.credential_configurations.values_mut() {
            for claim in &mut configuration.claims {
                for element in &mut claim.path {
                    if element.as_str() == Some("*") {
                        *element = serde_json::Value::Null;
                    }
                }
            }
        }
        config.validate()?;
        Ok(config)
    }

    pub fn database_url(&self) -> String {
        self.storage.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.storage.data_dir.join("avow.db").display()
            )
        })
    }

    /// Start-up checks (ISS-META-02, -14, ISS-SEC-01): what would make the
    /// issuer misbehave is refused here rather than at the first request.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        let url = &self.server.public_url;
        let url = url.trim_end_matches('/');
        if !avow_core::offer::is_issuer_identifier(url, self.server.dev_mode) {
            return invalid(format!(
                "server.public_url {url} must be an https URL without query or fragment (plain http only for loopback in dev_mode)"
            ));
        }
        if let Some(path) = issuer_identifier_path(url) {
            return invalid(format!(
                "server.public_url {url} has a path ({path}): Avow serves an issuer only at the root of its host (https://host[:port]), because its well-known documents (/.well-known/openid-credential-issuer, /.well-known/oauth-authorization-server, /.well-known/jwt-vc-issuer, /.well-known/did.json) are served at the root only, not path-inserted (VCI 12.2.2, RFC 8414 3, ISS-META-01, -18, ISS-SIG-02, -03); give the issuer its own host name"
            ));
        }
        if !self.server.dev_mode {
            if self.keys.dev_pki {
                return invalid(
                    "keys.dev_pki is a development feature and needs server.dev_mode = true".into(),
                );
            }
            if self
                .server
                .admin_token
                .as_deref()
                .is_none_or(|t| t.len() < 32)
            {
                return invalid(
                    "server.admin_token must be set (at least 32 characters) outside dev_mode"
                        .into(),
                );
            }
        }
        if let Err(message) = self.keys.validate() {
            return invalid(message);
        }
        let p = &self.policy;
        for (name, v) in [
            ("access_token_lifetime", p.access_token_lifetime),
            (
                "pre_authorized_code_lifetime",
                p.pre_authorized_code_lifetime,
            ),
            ("c_nonce_lifetime", p.c_nonce_lifetime),
            ("dpop_nonce_lifetime", p.dpop_nonce_lifetime),
            ("dpop_window", p.dpop_window),
            ("offer_lifetime", p.offer_lifetime),
        ] {
            if v <= 0 {
                return invalid(format!("policy.{name} must be positive"));
            }
        }
        let a = &self.authorization;
        if a.par_lifetime <= 0 || a.par_lifetime > 600 {
            return invalid("authorization.par_lifetime must be between 1 and 600 seconds".into());
        }
        if a.refresh_token_lifetime <= 0 || a.refresh_token_max_age < a.refresh_token_lifetime {
            return invalid("authorization.refresh_token_lifetime must be positive and not above refresh_token_max_age".into());
        }
        if let Some(bad) = a
            .allowed_redirect_uris
            .iter()
            .find(|u| u.contains('#') || u.is_empty())
        {
            return invalid(format!(
                "authorization.allowed_redirect_uris: {bad} is empty or has a fragment"
            ));
        }
        if !(1..=600).contains(&p.authorization_code_lifetime) {
            return invalid(
                "policy.authorization_code_lifetime must be between 1 and 600 seconds".into(),
            );
        }
        if let Err(message) = self.holder_login.validate() {
            return invalid(message);
        }
        if let Err(message) = self.status_list.validate() {
            return invalid(message);
        }
        if let Err(message) = crate::deferred::validate_config(self) {
            return invalid(message);
        }
        if let Err(message) = self.notifications.validate() {
            return invalid(message);
        }
        if let Err(message) = self.metadata.validate(self.server.dev_mode) {
            return invalid(message);
        }
        if let Err(message) = self.batch.validate() {
            return invalid(message);
        }
        if !(0..=600).contains(&p.clock_skew) {
            return invalid("policy.clock_skew must be between 0 and 600 seconds".into());
        }
        if p.max_tx_code_attempts == 0 {
            return invalid("policy.max_tx_code_attempts must be at least 1".into());
        }
        if self.credential_configurations.is_empty() {
            return invalid("at least one credential configuration is required".into());
        }
        let mut scopes = std::collections::BTreeSet::new();
        for (id, c) in &self.credential_configurations {
            if c.format != CredentialFormat::JwtVcJson && c.credential_definition_type.is_some() {
                return invalid(format!(
                    "credential configuration {id}: credential_definition_type is only for jwt_vc_json"
                ));
            }
            match (c.format, &c.vct, &c.doctype) {
                (CredentialFormat::DcSdJwt, Some(_), None)
                | (CredentialFormat::MsoMdoc, None, Some(_)) => {}
                (CredentialFormat::JwtVcJson, None, None) => {
                    let ok = c.credential_definition_type.as_ref().is_some_and(|t| {
                        t.iter()
                            .any(|t| t == avow_formats::jwt_vc::VERIFIABLE_CREDENTIAL)
                            && t.iter().all(|t| !t.is_empty())
                    });
                    if !ok {
                        return invalid(format!(
                            "credential configuration {id}: jwt_vc_json needs credential_definition_type containing VerifiableCredential"
                        ));
                    }
                }
                (CredentialFormat::JwtVcJson, _, _) => {
                    return invalid(format!(
                        "credential configuration {id}: jwt_vc_json takes no vct or doctype"
                    ));
                }
                (CredentialFormat::DcSdJwt, _, _) => {
                    return invalid(format!(
                        "credential configuration {id}: dc+sd-jwt needs vct and no doctype"
                    ));
                }
                (CredentialFormat::MsoMdoc, _, _) => {
                    return invalid(format!(
                        "credential configuration {id}: mso_mdoc needs doctype and no vct"
                    ));
                }
            }
            // ISS-MDOC-06: mdoc claim paths are [namespace, element].
            if c.format == CredentialFormat::MsoMdoc
                && c.claims.iter().any(|claim| {
                    claim.path.len() != 2 || !claim.path.iter().all(serde_json::Value::is_string)
                })
            {
                return invalid(format!(
                    "credential configuration {id}: mso_mdoc claim paths are [namespace, element]"
                ));
            }
            // Proof types and key attestation policy (key_proof.rs).
            if let Err(message) = crate::key_proof::validate_configuration(id, c) {
                return invalid(message);
            }
            if !scopes.insert(c.scope.as_str()) {
                return invalid(format!(
                    "credential configuration {id}: scope {} is used twice",
                    c.scope
                ));
            }
            if c.lifetime <= 0 {
                return invalid(format!(
                    "credential configuration {id}: lifetime must be positive"
                ));
            }
            let mut paths = std::collections::BTreeSet::new();
            for claim in &c.claims {
                let key = serde_json::to_string(&claim.path).unwrap_or_default();
                if claim.path.is_empty() || !paths.insert(key.clone()) {
                    return invalid(format!(
                        "credential configuration {id}: claim path {key} is empty or repeated"
                    ));
                }
                if claim
                    .path
                    .iter()
                    .any(|e| !(e.is_string() || e.is_null() || e.is_u64()))
                {
                    return invalid(format!(
                        "credential configuration {id}: claim path {key} has an invalid element"
                    ));
                }
                if let Some(serde_json::Value::String(first)) = claim.path.first()
                    && RESERVED_CLAIMS.contains(&first.as_str())
                {
                    return invalid(format!(
                        "credential configuration {id}: claim {first} is reserved (SD-JWT VC 2.2.2)"
                    ));
                }
            }
            // ISS-META-14 (VCI App. B.3): no two claims descriptions may
            // contradict each other about the shape of a claim.
            for (i, a) in c.claims.iter().enumerate() {
                for b in c.claims.iter().skip(i + 1) {
                    if let Some(reason) = claim_paths_conflict(&a.path, &b.path) {
                        return invalid(format!(
                            "credential configuration {id}: claim paths {} and {} contradict each other: {reason} (VCI App. B.3)",
                            serde_json::to_string(&a.path).unwrap_or_default(),
                            serde_json::to_string(&b.path).unwrap_or_default(),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The path of an issuer identifier (`https://host[:port]/path`), when it
/// has a non-empty one (a trailing `/` alone is no path).
///
/// ISS-META-01, -18, ISS-SIG-02, -03 (VCI §12.2.2, RFC 8414 §3, SD-JWT VC
/// §4): an identifier with a path needs its well-known documents at
/// `/.well-known/<name>/<path>`. Avow serves them, and every endpoint, at
/// the root only, so `server.public_url` with a path is refused at start-up
/// rather than published as an issuer whose metadata cannot be found.
pub fn issuer_identifier_path(url: &str) -> Option<&str> {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').and_then(|i| after_scheme.get(i..))?;
    (!path.trim_matches('/').is_empty()).then_some(path)
}

/// Why two claims path pointers contradict each other, if they do (VCI
/// App. B.3 "Processing Rules for Claims Description Objects", App. C;
/// ISS-META-14). Walking both paths while they select the same claim, at
/// the first step where they part:
/// - one selects an object member (a string) and the other an array element
///   (`null` or an index): the same claim would be an object and an array;
/// - one selects every element (`null`) and the other a specific index of
///   the same array.
///
/// Two different member names or two different indices are different claims,
/// and a path that is a prefix of the other names a parent and its child:
/// neither contradicts. Identical paths are "repeated", refused separately.
pub fn claim_paths_conflict(
    a: &[serde_json::Value],
    b: &[serde_json::Value],
) -> Option<&'static str> {
    use serde_json::Value;
    for (x, y) in a.iter().zip(b) {
        if x == y {
            continue;
        }
        return match (x, y) {
            (Value::String(_), Value::Null | Value::Number(_))
            | (Value::Null | Value::Number(_), Value::String(_)) => {
                Some("one treats the claim as an object, the other as an array")
            }
            (Value::Null, Value::Number(_)) | (Value::Number(_), Value::Null) => {
                Some("one addresses every element of an array, the other a specific element of it")
            }
            _ => None,
        };
    }
    None
}

/// Claims the issuer sets itself; holder data may not provide them.
pub const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "iat",
    "nbf",
    "exp",
    "cnf",
    "vct",
    "vct#integrity",
    "status",
    "_sd",
    "_sd_alg",
    "sub",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_are_valid() {
        let c = IssuerConfig::defaults();
        assert!(c.is_ok(), "{c:?}");
    }

    #[test]
    fn production_refuses_dev_features() {
        let text = DEFAULT_CONFIG.replace("dev_mode = true", "dev_mode = false");
        let e = IssuerConfig::from_toml(&text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("public_url"), "{e}");
        let text = text.replace("http://127.0.0.1:8080", "https://issuer.example");
        let e = IssuerConfig::from_toml(&text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("dev_pki"), "{e}");
    }

    /// ISS-META-01, -18, ISS-SIG-02, -03: a public_url with a path is
    /// refused with a clear message; a bare host (trailing slash or not) is fine.
    #[test]
    fn iss_meta_18_public_url_with_a_path_is_refused() {
        let config = |url: &str| {
            let text = DEFAULT_CONFIG.replace("http://127.0.0.1:8080", url);
            IssuerConfig::from_toml(&text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        for url in [
            "http://127.0.0.1:8080/issuer",
            "http://127.0.0.1:8080/issuer/",
            "http://127.0.0.1:8080/a/b",
        ] {
            let e = config(url);
            assert!(e.contains("has a path"), "{url}: {e}");
            assert!(e.contains("root"), "{url}: {e}");
        }
        for url in ["http://127.0.0.1:8080", "http://127.0.0.1:8080/"] {
            assert_eq!(config(url), "", "{url}");
        }
        assert_eq!(issuer_identifier_path("https://i.example"), None);
        assert_eq!(issuer_identifier_path("https://i.example/"), None);
        assert_eq!(issuer_identifier_path("https://i.example:8443//"), None);
        assert_eq!(
            issuer_identifier_path("https://i.example/tenant"),
            Some("/tenant")
        );
    }

    /// ISS-META-14 (VCI App. B.3): contradictory claim paths are refused;
    /// parents with children and distinct siblings are fine.
    #[test]
    fn iss_meta_14_contradictory_claim_paths() {
        use serde_json::json;
        let conflict = |a: serde_json::Value, b: serde_json::Value| {
            let a = a.as_array().cloned().unwrap_or_default();
            let b = b.as_array().cloned().unwrap_or_default();
            let one = claim_paths_conflict(&a, &b);
            assert_eq!(one, claim_paths_conflict(&b, &a), "symmetric");
            one.is_some()
        };
        // Array vs object.
        assert!(conflict(json!(["a", null]), json!(["a", "x"])));
        assert!(conflict(json!(["a", 0]), json!(["a", "x"])));
        assert!(conflict(json!(["a", null, "x"]), json!(["a", null, 1])));
        // Every element vs one element of the same array.
        assert!(conflict(json!(["a", null]), json!(["a", 0])));
        assert!(conflict(json!(["a", 2, "x"]), json!(["a", null, "y"])));
        // Parent and child, siblings, different indices, different claims.
        assert!(!conflict(json!(["a"]), json!(["a", "b"])));
        assert!(!conflict(json!(["a"]), json!(["a", null])));
        assert!(!conflict(json!(["a", "b"]), json!(["a", "c"])));
        assert!(!conflict(json!(["a", 0]), json!(["a", 1])));
        assert!(!conflict(json!(["a", null, "x"]), json!(["a", null, "y"])));
        assert!(!conflict(json!(["a", null]), json!(["b", "x"])));

        // At start-up: the defaults have ["nationalities"] and ["nationalities", "*"].
        let with = |extra: &str| {
            let text = DEFAULT_CONFIG.replace(
                "  { path = [\"nationalities\", \"*\"] },",
                &format!("  {{ path = [\"nationalities\", \"*\"] }},\n  {extra}"),
            );
            assert_ne!(text, DEFAULT_CONFIG);
            IssuerConfig::from_toml(&text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let e = with("{ path = [\"nationalities\", \"x\"] },");
        assert!(e.contains("contradict"), "{e}");
        let e = with("{ path = [\"nationalities\", 0] },");
        assert!(e.contains("contradict"), "{e}");
        let e = with("{ path = [\"address\", 0] },");
        assert!(e.contains("contradict"), "{e}");
        assert_eq!(with("{ path = [\"address\", \"postal_code\"] },"), "");
    }

    /// ISS-SIG-06: outside `dev_pki`, exactly one of `signing_key` and
    /// `pkcs11` names the signing key, always with `signing_chain`; a
    /// PKCS#11 key needs every field; `retired_chains` is a list of files.
    #[test]
    fn iss_sig_06_signing_key_rules() {
        assert!(DEFAULT_CONFIG.contains("[keys]\ndev_pki = true\n"));
        let with_keys = |keys: &str| {
            let text =
                DEFAULT_CONFIG.replace("[keys]\ndev_pki = true\n", &format!("[keys]\n{keys}\n"));
            IssuerConfig::from_toml(&text)
        };
        let error = |keys: &str| {
            with_keys(keys)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let pkcs11 = r#"pkcs11 = { module = "/usr/lib/softhsm/libsofthsm2.so", token_label = "avow", key_label = "signing", pin_env = "AVOW_PKCS11_PIN" }"#;
        let chain = "signing_chain = \"signing.pem\"";

        // Either kind of key, with its chain.
        assert_eq!(
            error(&format!("signing_key = \"signing.key\"\n{chain}")),
            ""
        );
        let config = with_keys(&format!("{pkcs11}\n{chain}"));
        let token = config
            .ok()
            .and_then(|c| c.keys.pkcs11)
            .map(|p| (p.module, p.token_label, p.key_label, p.pin_env));
        assert_eq!(
            token,
            Some((
                "/usr/lib/softhsm/libsofthsm2.so".into(),
                "avow".into(),
                "signing".into(),
                "AVOW_PKCS11_PIN".into()
            ))
        );

        // Both, neither, no chain.
        let e = error(&format!("signing_key = \"signing.key\"\n{pkcs11}\n{chain}"));
        assert!(e.contains("exactly one"), "{e}");
        let e = error(chain);
        assert!(
            e.contains("keys.signing_key") && e.contains("keys.pkcs11"),
            "{e}"
        );
        let e = error(pkcs11);
        assert!(e.contains("keys.signing_chain"), "{e}");
        let e = error("signing_key = \"signing.key\"");
        assert!(e.contains("keys.signing_chain"), "{e}");

        // dev_pki generates the key: naming another one too is refused.
        let e = error(&format!("dev_pki = true\n{pkcs11}"));
        assert!(e.contains("dev_pki"), "{e}");
        let e = error("dev_pki = true\nsigning_key = \"signing.key\"");
        assert!(e.contains("dev_pki"), "{e}");

        // Every PKCS#11 field is required, none may be empty, no others.
        let e = error(&format!(
            "{}\n{chain}",
            pkcs11.replace(", pin_env = \"AVOW_PKCS11_PIN\"", "")
        ));
        assert!(e.contains("pin_env"), "{e}");
        let e = error(&format!("{}\n{chain}", pkcs11.replace("\"avow\"", "\"\"")));
        assert!(e.contains("keys.pkcs11.token_label"), "{e}");
        let e = error(&format!(
            "{}\n{chain}",
            pkcs11.replace("pin_env", "pin = \"1234\", pin_env")
        ));
        assert!(e.contains("pin"), "a PIN in the file is refused: {e}");

        // Retired chains, with either kind of key (and with the dev PKI).
        let config = with_keys(&format!(
            "{pkcs11}\n{chain}\nretired_chains = [\"old-1.pem\", \"old-2.pem\"]"
        ));
        assert_eq!(
            config.ok().map(|c| c.keys.retired_chains),
            Some(vec![PathBuf::from("old-1.pem"), PathBuf::from("old-2.pem")])
        );
        assert_eq!(error("dev_pki = true\nretired_chains = [\"old.pem\"]"), "");
    }

    #[test]
    fn repeated_claim_paths_and_unknown_keys_are_refused() {
        let text = DEFAULT_CONFIG.replace("{ path = [\"birthdate\"]", "{ path = [\"given_name\"]");
        assert!(IssuerConfig::from_toml(&text).is_err());
        let text = format!("{DEFAULT_CONFIG}\n[unknown]\nx = 1\n");
        assert!(IssuerConfig::from_toml(&text).is_err());
    }
}
