//! What client authentication trusts, loaded once at start-up: the
//! wallet-provider anchors, the client CAs of the mTLS listener and the keys
//! of `private_key_jwt` clients and wallet backends. In dev mode with the dev
//! PKI, a DEVELOPMENT wallet-provider CA is generated (once) under
//! `data_dir/dev-pki` and trusted, so `avow demo` and the CLI wallet can
//! obtain WIAs from it.

use crate::config::IssuerConfig;
use avow_crypto::x509::{CertificateAuthority, TrustAnchors, Validity};
use avow_crypto::{EcPublicJwk, pem};
use std::path::{Path, PathBuf};

/// File names of the development wallet-provider CA inside `data_dir/dev-pki`.
pub const DEV_WALLET_PROVIDER_CA_CERT: &str = "wallet-provider-ca.pem";
pub const DEV_WALLET_PROVIDER_CA_KEY: &str = "wallet-provider-ca.key";

#[derive(Debug, thiserror::Error)]
#[error("client_authentication: {0}")]
pub struct TrustError(pub String);

/// A key whose client assertions are accepted.
#[derive(Debug, Clone)]
pub struct AssertionKey {
    /// Assertions of this one client: `iss` = `sub` = `client_id`.
    pub client_id: Option<String>,
    /// Assertions of this wallet backend: `iss` = `issuer`, `sub` = any client.
    pub issuer: Option<String>,
    pub key: EcPublicJwk,
}

/// Start-up trust material of client authentication.
#[derive(Debug, Clone, Default)]
pub struct ClientAuthTrust {
    /// Anchors of WIA `x5c` chains (ISS-CATT-03).
    pub wallet_providers: TrustAnchors,
    /// DER certificates client certificates must chain to (ISS-CLI-01).
    pub mtls_client_cas: Vec<Vec<u8>>,
    pub assertion_keys: Vec<AssertionKey>,
    /// The DEVELOPMENT wallet-provider CA (certificate PEM, PKCS#8 key PEM), when generated.
    pub dev_wallet_provider: Option<(PathBuf, PathBuf)>,
    /// Fetched and verified status lists of WIAs and key attestations
    /// (ISS-CATT-10, ISS-KATT-09), shared by every request.
    pub status_lists: crate::attestation_status::AttestationStatusLists,
}

fn read_certs(path: &Path) -> Result<Vec<Vec<u8>>, TrustError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| TrustError(format!("{}: {e}", path.display())))?;
    avow_crypto::x509::certs_from_pem(&text)
        .map_err(|e| TrustError(format!("{}: {e}", path.display())))
}

/// The P-256 key of a PEM certificate (self-signed certificates are fine here:
/// the certificate only carries a configured key).
fn certificate_key(path: &Path) -> Result<EcPublicJwk, TrustError> {
    let der = read_certs(path)?
        .into_iter()
        .next()
        .ok_or_else(|| TrustError(format!("{}: no certificate", path.display())))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|_| TrustError(format!("{}: not a DER certificate", path.display())))?;
    EcPublicJwk::from_uncompressed(&cert.public_key().subject_public_key.data).map_err(|e| {
        TrustError(format!(
            "{}: the certificate key is not P-256: {e}",
            path.display()
        ))
    })
}

impl ClientAuthTrust {
    /// Validates `[client_authentication]` and loads what it names.
    pub fn load(config: &IssuerConfig, now: i64) -> Result<Self, TrustError> {
        let dev_pki = config.server.dev_mode && config.keys.dev_pki;
        let section = &config.client_authentication;
        section.validate(dev_pki).map_err(TrustError)?;
        let mut anchors = Vec::new();
        for path in &section.wallet_provider_anchors {
            anchors.extend(read_certs(path)?);
        }
        let dev_wallet_provider = if dev_pki {
            let dir = config.storage.data_dir.join("dev-pki");
            let (cert, key) = ensure_dev_wallet_provider(&dir, now)?;
            anchors.extend(read_certs(&cert)?);
            tracing::warn!(
                ca = %cert.display(),
                "DEVELOPMENT wallet-provider CA is trusted for client attestations and client certificates: never use dev_pki in production"
            );
            Some((cert, key))
        } else {
            None
        };
        let wallet_providers = TrustAnchors::new(anchors.clone())
            .map_err(|e| TrustError(format!("wallet_provider_anchors: {e}")))?;
        let mut mtls_client_cas = Vec::new();
        if let Some(mtls) = &section.mtls {
            for path in &mtls.client_ca {
                mtls_client_cas.extend(read_certs(path)?);
            }
            if mtls_client_cas.is_empty() {
                mtls_client_cas = anchors;
            }
        }
        let mut assertion_keys = Vec::new();
        for (i, t) in section.private_key_jwt.trusted.iter().enumerate() {
            let key = match (&t.jwk, &t.certificate) {
                (Some(jwk), _) => EcPublicJwk::from_json(jwk)
                    .map_err(|e| TrustError(format!("private_key_jwt.trusted[{i}].jwk: {e}")))?,
                (None, Some(path)) => certificate_key(path)?,
                (None, None) => {
                    return Err(TrustError(format!(
                        "private_key_jwt.trusted[{i}] names no key"
                    )));
                }
            };
            assertion_keys.push(AssertionKey {
                client_id: t.client_id.clone(),
                issuer: t.issuer.clone(),
                key,
            });
        }
        Ok(Self {
            wallet_providers,
            mtls_client_cas,
            assertion_keys,
            dev_wallet_provider,
            status_lists: crate::attestation_status::AttestationStatusLists::default(),
        })
    }
}

/// DEVELOPMENT ONLY: the wallet-provider CA under `dir`, generated on first use.
pub fn ensure_dev_wallet_provider(dir: &Path, now: i64) -> Result<(PathBuf, PathBuf), TrustError> {
    let cert = dir.join(DEV_WALLET_PROVIDER_CA_CERT);
    let key = dir.join(DEV_WALLET_PROVIDER_CA_KEY);
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    let io = |p: &Path, e: std::io::Error| TrustError(format!("{}: {e}", p.display()));
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let ca = CertificateAuthority::generate_root(
        "Avow DEVELOPMENT Wallet Provider CA - NOT FOR PRODUCTION",
        Validity {
            not_before: now - 3600,
            not_after: now + 5 * 365 * 86_400,
        },
    )
    .map_err(|e| {
        TrustError(format!(
            "generating the development wallet-provider CA: {e}"
        ))
    })?;
    crate::keys::write_private(&key, &pem::encode("PRIVATE KEY", &ca.key_pkcs8()))
        .map_err(|e| TrustError(e.to_string()))?;
    std::fs::write(&cert, avow_crypto::x509::cert_pem(&ca.cert_der)).map_err(|e| io(&cert, e))?;
    tracing::warn!(
        ca = %cert.display(),
        "generated a DEVELOPMENT wallet-provider CA (NOT FOR PRODUCTION)"
    );
    Ok((cert, key))
}
