//! `[client_authentication]`: which client authentication methods the
//! Authorization Server accepts at PAR and token (ISS-CLI-05), and what it
//! trusts for each of them. Every key has a default, so the section may be
//! left out: then only wallet attestation (`attest_jwt_client_auth`) is
//! accepted, as HAIP §4.4.1 asks.
//!
//! ```toml
//! [client_authentication]
//! methods = ["attest_jwt_client_auth", "private_key_jwt", "tls_client_auth"]
//! wallet_provider_anchors = ["/etc/avow/wallet-provider-ca.pem"]
//! attestation_max_age = 86400
//! pop_window = 60
//! challenge_endpoint = true
//! challenge_lifetime = 300
//! check_status = true
//!
//! [client_authentication.private_key_jwt]
//! max_lifetime = 300
//! trusted = [
//!   { issuer = "https://wallet-provider.example", certificate = "/etc/avow/backend.pem" },
//!   { client_id = "https://wallet.example/backend", jwk = { kty = "EC", crv = "P-256", x = "…", y = "…" } },
//! ]
//!
//! [client_authentication.mtls]
//! listen = "0.0.0.0:8443"
//! certificate = "/etc/avow/tls-chain.pem"
//! private_key = "/etc/avow/tls-key.pem"
//! client_ca = ["/etc/avow/wallet-provider-ca.pem"]
//! client_id_from = "san_uri"
//! public_url = "https://mtls.issuer.example"
//! ```

use super::ClientAuthMethod;
use serde::Deserialize;
use std::path::PathBuf;

/// The `[client_authentication]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientAuthConfig {
    /// Accepted methods, published as `token_endpoint_auth_methods_supported`
    /// (ISS-ASMETA-05): `attest_jwt_client_auth` (default), `private_key_jwt`,
    /// `tls_client_auth`. Anonymous pre-authorized access is not a method here but
    /// `policy.pre_authorized_grant_anonymous_access` (C-21).
    pub methods: Vec<ClientAuthMethod>,
    /// PEM files with the wallet-provider trust anchors: WIA `x5c` chains
    /// (ISS-CATT-03) and, unless `mtls.client_ca` is set, client certificates.
    /// In dev mode with `keys.dev_pki`, a generated DEVELOPMENT wallet-provider CA
    /// (`data_dir/dev-pki/wallet-provider-ca.pem`) is trusted as well.
    pub wallet_provider_anchors: Vec<PathBuf>,
    /// Oldest acceptable WIA `iat`, seconds; older → `400 use_fresh_attestation`
    /// (ISS-CATT-04). Unset: only `exp` limits a WIA.
    pub attestation_max_age: Option<i64>,
    /// How far a PoP `iat` may be from now, seconds (ISS-CATT-05).
    pub pop_window: i64,
    /// Attestation challenges (ABCA §6; ISS-CATT-07, -08): serve `POST /challenge`,
    /// hand out `OAuth-Client-Attestation-Challenge` on PAR and token responses,
    /// and require a current challenge in every PoP.
    pub challenge_endpoint: bool,
    /// Lifetime of a challenge, seconds.
    pub challenge_lifetime: i64,
    /// Check the Token Status List entry of WIAs and key attestations that
    /// carry `status: {status_list: {idx, uri}}` (TSL §8.3; ISS-CATT-10,
    /// ISS-KATT-09): the wallet provider's Status List Token is fetched
    /// (bounded time, cached per `ttl`), its `x5c` must validate to the
    /// wallet-provider anchors. A non-VALID WIA → `401 invalid_client`, a
    /// non-VALID key attestation → `400 invalid_proof`; a status that cannot
    /// be established (list unreachable or invalid) is refused as well
    /// (fail closed). Default: on.
    pub check_status: bool,
    /// `private_key_jwt` (RFC 7523 §2.2; ISS-CLI-04).
    pub private_key_jwt: PrivateKeyJwtConfig,
    /// The mutual-TLS listener of `tls_client_auth` (RFC 8705 §2.1; ISS-CLI-01).
    pub mtls: Option<MtlsConfig>,
}

impl Default for ClientAuthConfig {
    fn default() -> Self {
        Self {
            methods: vec![ClientAuthMethod::AttestJwtClientAuth],
            wallet_provider_anchors: Vec::new(),
            attestation_max_age: None,
            pop_window: 60,
            challenge_endpoint: false,
            challenge_lifetime: 300,
            check_status: true,
            private_key_jwt: PrivateKeyJwtConfig::default(),
            mtls: None,
        }
    }
}

/// `[client_authentication.private_key_jwt]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivateKeyJwtConfig {
    /// Longest accepted assertion lifetime (`exp` − `iat`, or `exp` − now), seconds.
    pub max_lifetime: i64,
    /// The keys whose assertions are accepted.
    pub trusted: Vec<TrustedAssertionKey>,
}

impl Default for PrivateKeyJwtConfig {
    fn default() -> Self {
        Self {
            max_lifetime: 300,
            trusted: Vec::new(),
        }
    }
}

/// One trusted assertion key: either of one client (`client_id`: assertions
/// with `iss` = `sub` = that client, RFC 7523 §3) or of a wallet backend
/// (`issuer`: assertions with `iss` = the backend and `sub` = any of its
/// clients, bound to the request by `redirect_uri` or `pre_authz_code_hash`,
/// WBE-CAS-03/-04). The key is an inline P-256 `jwk` or a PEM `certificate`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedAssertionKey {
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub jwk: Option<serde_json::Value>,
    #[serde(default)]
    pub certificate: Option<PathBuf>,
}

/// Where a client certificate names its `client_id` (ISS-CLI-01).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientIdSource {
    /// A `uniformResourceIdentifier` subjectAltName (WBE-CRT-02).
    #[default]
    SanUri,
    /// The subject common name.
    SubjectCn,
}

/// `[client_authentication.mtls]`: a second public listener with TLS that
/// asks for (but does not require) a client certificate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MtlsConfig {
    /// Address of the TLS listener, e.g. `0.0.0.0:8443`.
    pub listen: String,
    /// PEM certificate chain of the server, leaf first.
    pub certificate: PathBuf,
    /// PEM PKCS#8 private key of the server certificate.
    pub private_key: PathBuf,
    /// PEM files of the CAs client certificates must chain to; default: the
    /// wallet-provider anchors.
    #[serde(default)]
    pub client_ca: Vec<PathBuf>,
    #[serde(default)]
    pub client_id_from: ClientIdSource,
    /// The base URL under which this listener is reachable, when it differs
    /// from `server.public_url`: published as `mtls_endpoint_aliases` (RFC 8705 §5).
    #[serde(default)]
    pub public_url: Option<String>,
    /// client_ids of wallet backends in the Backend-for-Frontend design: they
    /// authenticate with their certificate, but their tokens are bound only to
    /// the DPoP key they forward, not to the certificate (ISS-CLI-02).
    #[serde(default)]
    pub backend_clients: Vec<String>,
}

impl ClientAuthConfig {
    pub fn enabled(&self, method: ClientAuthMethod) -> bool {
        self.methods.contains(&method)
    }

    /// Start-up checks; `dev_pki` tells whether a development wallet-provider CA will be trusted.
    pub fn validate(&self, dev_pki: bool) -> Result<(), String> {
        if self.methods.is_empty() {
            return Err("client_authentication.methods must name at least one method".into());
        }
        if self.enabled(ClientAuthMethod::Anonymous) {
            return Err("client_authentication.methods: anonymous access is policy.pre_authorized_grant_anonymous_access, not a method".into());
        }
        let mut seen = Vec::new();
        for m in &self.methods {
            if seen.contains(m) {
                return Err(format!(
                    "client_authentication.methods: {} is listed twice",
                    m.as_str()
                ));
            }
            seen.push(*m);
        }
        if self.enabled(ClientAuthMethod::AttestJwtClientAuth)
            && self.wallet_provider_anchors.is_empty()
            && !dev_pki
        {
            return Err("client_authentication: attest_jwt_client_auth needs wallet_provider_anchors (or keys.dev_pki in dev mode)".into());
        }
        if !(1..=3600).contains(&self.pop_window) {
            return Err(
                "client_authentication.pop_window must be between 1 and 3600 seconds".into(),
            );
        }
        if !(1..=3600).contains(&self.challenge_lifetime) {
            return Err(
                "client_authentication.challenge_lifetime must be between 1 and 3600 seconds"
                    .into(),
            );
        }
        if self.attestation_max_age.is_some_and(|a| a <= 0) {
            return Err("client_authentication.attestation_max_age must be positive".into());
        }
        let pkj = &self.private_key_jwt;
        if !(1..=3600).contains(&pkj.max_lifetime) {
            return Err(
                "client_authentication.private_key_jwt.max_lifetime must be between 1 and 3600 seconds"
                    .into(),
            );
        }
        if self.enabled(ClientAuthMethod::PrivateKeyJwt) && pkj.trusted.is_empty() {
            return Err(
                "client_authentication: private_key_jwt needs at least one private_key_jwt.trusted key"
                    .into(),
            );
        }
        for (i, t) in pkj.trusted.iter().enumerate() {
            if t.client_id.is_some() == t.issuer.is_some() {
                return Err(format!(
                    "client_authentication.private_key_jwt.trusted[{i}]: set exactly one of client_id and issuer"
                ));
            }
            if t.jwk.is_some() == t.certificate.is_some() {
                return Err(format!(
                    "client_authentication.private_key_jwt.trusted[{i}]: set exactly one of jwk and certificate"
                ));
            }
        }
        match (&self.mtls, self.enabled(ClientAuthMethod::TlsClientAuth)) {
            (None, true) => {
                return Err(
                    "client_authentication: tls_client_auth needs a [client_authentication.mtls] listener"
                        .into(),
                );
            }
            (Some(m), _) => {
                if m.client_ca.is_empty() && self.wallet_provider_anchors.is_empty() && !dev_pki {
                    return Err("client_authentication.mtls: client_ca (or wallet_provider_anchors) is required".into());
                }
                if let Some(url) = &m.public_url
                    && !url.starts_with("https://")
                {
                    return Err("client_authentication.mtls.public_url must be an https URL".into());
                }
            }
            (None, false) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ClientAuthConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_accept_attestation_only() {
        let c = ClientAuthConfig::default();
        assert_eq!(c.methods, vec![ClientAuthMethod::AttestJwtClientAuth]);
        assert!(!c.challenge_endpoint);
        // Attestation without anchors is only valid with the dev PKI.
        assert!(c.validate(true).is_ok());
        assert!(c.validate(false).is_err());
    }

    #[test]
    fn toml_keys_parse() {
        let c = parse(
            r#"
            methods = ["attest_jwt_client_auth", "private_key_jwt", "tls_client_auth"]
            wallet_provider_anchors = ["/etc/wp.pem"]
            attestation_max_age = 3600
            challenge_endpoint = true
            [private_key_jwt]
            trusted = [{ client_id = "c", jwk = { kty = "EC", crv = "P-256", x = "a", y = "b" } }]
            [mtls]
            listen = "127.0.0.1:8443"
            certificate = "c.pem"
            private_key = "k.pem"
            client_id_from = "subject_cn"
            "#,
        );
        let c = c.unwrap_or_default();
        assert_eq!(c.methods.len(), 3);
        assert_eq!(c.attestation_max_age, Some(3600));
        assert_eq!(
            c.mtls.as_ref().map(|m| m.client_id_from),
            Some(ClientIdSource::SubjectCn)
        );
        assert_eq!(c.validate(false), Ok(()));
        assert!(parse("unknown = 1").is_err());
        assert!(parse(r#"methods = ["client_secret_basic"]"#).is_err());
    }

    #[test]
    fn inconsistent_settings_are_refused() {
        let base = || ClientAuthConfig {
            wallet_provider_anchors: vec!["a.pem".into()],
            ..ClientAuthConfig::default()
        };
        let mut c = base();
        c.methods = vec![];
        assert!(c.validate(false).is_err());
        c.methods = vec![ClientAuthMethod::Anonymous];
        assert!(c.validate(false).is_err());
        c.methods = vec![
            ClientAuthMethod::AttestJwtClientAuth,
            ClientAuthMethod::AttestJwtClientAuth,
        ];
        assert!(c.validate(false).is_err());
        let mut c = base();
        c.methods.push(ClientAuthMethod::PrivateKeyJwt);
        assert!(c.validate(false).is_err(), "private_key_jwt without keys");
        c.private_key_jwt.trusted.push(TrustedAssertionKey {
            client_id: Some("c".into()),
            issuer: Some("i".into()),
            jwk: Some(serde_json::json!({})),
            certificate: None,
        });
        assert!(c.validate(false).is_err(), "client_id and issuer together");
        let mut c = base();
        c.methods.push(ClientAuthMethod::TlsClientAuth);
        assert!(
            c.validate(false).is_err(),
            "tls_client_auth without listener"
        );
        let mut c = base();
        c.pop_window = 0;
        assert!(c.validate(false).is_err());
    }
}
