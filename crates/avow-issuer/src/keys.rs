//! The issuer's credential signing key and its certificate chain: loaded from
//! configured files, from a PKCS#11 token, or — in development only — a
//! generated PKI kept under `data_dir/dev-pki` and reused across restarts.
//!
//! ISS-SIG-06: every signing key sits behind the one [`Signer`] interface
//! ([`SoftwareSigner`] for key files and the dev PKI, [`Pkcs11Signer`] for a
//! key in a token), and keys retired by a rotation stay published (see
//! [`IssuerKeys::published`]; SD-JWT §9.8).

use crate::config::{IssuerConfig, Pkcs11KeyConfig};
use avow_crypto::x509::{CertificateAuthority, Validity};
use avow_crypto::{EcPublicJwk, Pkcs11KeyRef, Pkcs11Signer, Signer, SoftwareSigner, pem};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The signing key of issued credentials with its `x5c` chain (leaf first, anchor excluded).
#[derive(Clone)]
pub struct IssuerKeys {
    pub signer: Arc<dyn Signer>,
    pub x5c: Vec<Vec<u8>>,
    /// The issuer access certificate's key and chain that sign the metadata
    /// (`[metadata] access_key` / `access_chain`; ISS-SMETA-02), when
    /// configured; otherwise the metadata is signed like credentials.
    pub metadata: Option<MetadataKey>,
    /// `kid` under which the key is published at `/.well-known/jwt-vc-issuer` (its RFC 7638 thumbprint).
    pub kid: String,
    /// Where the development trust anchor was written, when the dev PKI is in use.
    pub dev_anchor: Option<PathBuf>,
    /// Keys that signed credentials before a rotation and sign no more
    /// (`keys.retired_chains`): still published, never used to sign
    /// (ISS-SIG-06; SD-JWT §9.8).
    pub retired: Vec<PublishedKey>,
}

/// A verification key the issuer publishes, under its RFC 7638 thumbprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedKey {
    pub kid: String,
    pub jwk: EcPublicJwk,
}

/// The key and `x5c` chain that sign the Credential Issuer Metadata.
#[derive(Clone)]
pub struct MetadataKey {
    pub signer: Arc<dyn Signer>,
    pub x5c: Vec<Vec<u8>>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("keys: {0}")]
    Io(String),
    #[error("keys: {0}")]
    Crypto(#[from] avow_crypto::CryptoError),
}

fn io(path: &Path, e: std::io::Error) -> KeyError {
    KeyError::Io(format!("{}: {e}", path.display()))
}

impl IssuerKeys {
    pub fn load(config: &IssuerConfig, now: i64) -> Result<Self, KeyError> {
        let mut keys = if config.keys.dev_pki {
            Self::dev_pki(&config.storage.data_dir.join("dev-pki"), now)?
        } else {
            let Some(chain_path) = &config.keys.signing_chain else {
                return Err(KeyError::Io(
                    "keys.signing_chain is required unless keys.dev_pki = true".into(),
                ));
            };
            let signer: Arc<dyn Signer> = match (&config.keys.signing_key, &config.keys.pkcs11) {
                (Some(key_path), None) => Arc::new(software_key(key_path)?),
                (None, Some(token)) => Arc::new(pkcs11_key(token)?),
                _ => {
                    return Err(KeyError::Io(
                        "set exactly one of keys.signing_key and keys.pkcs11".into(),
                    ));
                }
            };
            let x5c = published_chain(chain_path, "keys.signing_chain")?;
            Self::assemble(signer, x5c, None)?
        };
        keys.metadata = metadata_key(config)?;
        keys.retired = retired_keys(&config.keys.retired_chains, &keys.kid)?;
        Ok(keys)
    }

    /// Every key a verifier may need, under its RFC 7638 thumbprint `kid`:
    /// the signing key first, then the retired keys. SD-JWT §9.8 (Key
    /// Rotation): a key stays published after it stops signing, until the
    /// last credential it signed has expired, so that verifiers resolving
    /// the `kid` of an older credential still find its key (ISS-SIG-06).
    pub fn published(&self) -> Vec<PublishedKey> {
        let mut keys = vec![PublishedKey {
            kid: self.kid.clone(),
            jwk: self.signer.public_jwk().clone(),
        }];
        keys.extend(self.retired.iter().cloned());
        keys
    }

    fn assemble(
        signer: Arc<dyn Signer>,
        x5c: Vec<Vec<u8>>,
        dev_anchor: Option<PathBuf>,
    ) -> Result<Self, KeyError> {
        check_leaf(
            &x5c,
            signer.as_ref(),
            "the signing certificate",
            "the signing key",
        )?;
        let kid = signer.public_jwk().thumbprint();
        Ok(Self {
            signer,
            x5c,
            metadata: None,
            kid,
            dev_anchor,
            retired: Vec::new(),
        })
    }

    /// DEVELOPMENT ONLY: a root CA and a signing certificate, generated on
    /// first use and reused afterwards.
    fn dev_pki(dir: &Path, now: i64) -> Result<Self, KeyError> {
        let ca_cert = dir.join("issuer-ca.pem");
        let ca_key = dir.join("issuer-ca.key");
        let leaf_cert = dir.join("signing.pem");
        let leaf_key = dir.join("signing.key");
        if !leaf_key.exists() {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
            let validity = Validity {
                not_before: now - 3600,
                not_after: now + 5 * 365 * 86_400,
            };
            let ca = CertificateAuthority::generate_root(
                "Avow DEVELOPMENT Issuer CA - NOT FOR PRODUCTION",
                validity,
            )?;
            let signer = SoftwareSigner::generate()?;
            let leaf = ca.issue_leaf(
                "Avow DEVELOPMENT credential signer",
                signer.public_jwk(),
                validity,
            )?;
            write_private(&ca_key, &pem::encode("PRIVATE KEY", &ca.key_pkcs8()))?;
            write_private(&leaf_key, &pem::encode("PRIVATE KEY", &signer.to_pkcs8()?))?;
            std::fs::write(&ca_cert, avow_crypto::x509::cert_pem(&ca.cert_der))
                .map_err(|e| io(&ca_cert, e))?;
            std::fs::write(&leaf_cert, avow_crypto::x509::cert_pem(&leaf))
                .map_err(|e| io(&leaf_cert, e))?;
        }
        let key_text = std::fs::read_to_string(&leaf_key).map_err(|e| io(&leaf_key, e))?;
        let signer = SoftwareSigner::from_pkcs8(&pem::decode_one("PRIVATE KEY", &key_text)?)?;
        let chain = std::fs::read_to_string(&leaf_cert).map_err(|e| io(&leaf_cert, e))?;
        Self::assemble(
            Arc::new(signer),
            avow_crypto::x509::certs_from_pem(&chain)?,
            Some(ca_cert),
        )
    }
}

/// `keys.signing_key`: a PKCS#8 P-256 private key, PEM or DER.
fn software_key(key_path: &Path) -> Result<SoftwareSigner, KeyError> {
    let key_bytes = std::fs::read(key_path).map_err(|e| io(key_path, e))?;
    let der = match std::str::from_utf8(&key_bytes) {
        Ok(text) if text.contains("-----BEGIN") => pem::decode_one("PRIVATE KEY", text)?,
        _ => key_bytes,
    };
    Ok(SoftwareSigner::from_pkcs8(&der)?)
}

/// `keys.pkcs11`: the P-256 key in a PKCS#11 token (ISS-SIG-06), logged in
/// with the user PIN read from the environment variable `pin_env`. The PIN
/// is passed to the token only: it is never logged nor part of an error.
fn pkcs11_key(token: &Pkcs11KeyConfig) -> Result<Pkcs11Signer, KeyError> {
    let pin = match std::env::var(&token.pin_env) {
        Ok(pin) if !pin.is_empty() => pin,
        Ok(_) | Err(std::env::VarError::NotPresent) => {
            return Err(KeyError::Io(format!(
                "keys.pkcs11.pin_env: the environment variable {} (the token's user PIN) is not set",
                token.pin_env
            )));
        }
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(KeyError::Io(format!(
                "keys.pkcs11.pin_env: the environment variable {} is not valid UTF-8",
                token.pin_env
            )));
        }
    };
    let signer = Pkcs11Signer::open(
        Pkcs11KeyRef {
            module: token.module.clone(),
            token_label: token.token_label.clone(),
            key_label: token.key_label.clone(),
        },
        pin,
    )?;
    tracing::info!(
        module = %token.module.display(),
        token_label = %token.token_label,
        key_label = %token.key_label,
        kid = %signer.public_jwk().thumbprint(),
        "credential signing key in a PKCS#11 token"
    );
    Ok(signer)
}

/// `keys.retired_chains`: the public keys of the leaf certificates, under
/// their RFC 7638 thumbprints (SD-JWT §9.8; ISS-SIG-06). A file naming the
/// active signing key is refused (it is not retired); repeats are published once.
fn retired_keys(paths: &[PathBuf], active_kid: &str) -> Result<Vec<PublishedKey>, KeyError> {
    let mut retired: Vec<PublishedKey> = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
        let certs = avow_crypto::x509::certs_from_pem(&text)
            .map_err(|e| KeyError::Io(format!("keys.retired_chains: {}: {e}", path.display())))?;
        let jwk = avow_crypto::x509::leaf_public_key(
            certs.first().map(Vec::as_slice).unwrap_or_default(),
        )
        .map_err(|e| KeyError::Io(format!("keys.retired_chains: {}: {e}", path.display())))?;
        let kid = jwk.thumbprint();
        if kid == active_kid {
            return Err(KeyError::Io(format!(
                "keys.retired_chains: {} is the certificate of the active signing key (kid {kid}); list only keys that no longer sign",
                path.display()
            )));
        }
        if retired.iter().any(|k| k.kid == kid) {
            continue;
        }
        tracing::info!(
            kid = %kid,
            file = %path.display(),
            "retired signing key still published (keys.retired_chains; remove it once the last credential it signed has expired)"
        );
        retired.push(PublishedKey { kid, jwk });
    }
    Ok(retired)
}

/// `[metadata] access_key` + `access_chain`: the issuer access
/// certificate that signs the metadata (ISS-SMETA-02; ETSI TS 119 472-3),
/// under the same chain rules as the signing certificate.
fn metadata_key(config: &IssuerConfig) -> Result<Option<MetadataKey>, KeyError> {
    let (Some(key_path), Some(chain_path)) =
        (&config.metadata.access_key, &config.metadata.access_chain)
    else {
        return Ok(None);
    };
    let signer = software_key(key_path)?;
    let x5c = published_chain(chain_path, "metadata.access_chain")?;
    check_leaf(
        &x5c,
        &signer,
        "metadata.access_chain's certificate",
        "metadata.access_key",
    )?;
    Ok(Some(MetadataKey {
        signer: Arc::new(signer),
        x5c,
    }))
}

/// A chain the issuer publishes as `x5c` (`setting` names it in errors):
/// read from PEM and held to ISS-SIG-01 ([`refuse_trust_anchor`]).
fn published_chain(path: &Path, setting: &str) -> Result<Vec<Vec<u8>>, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
    let x5c = avow_crypto::x509::certs_from_pem(&text)?;
    refuse_trust_anchor(path, setting, &x5c)?;
    Ok(x5c)
}

/// The leaf certificate of `x5c` must certify `signer`'s key.
fn check_leaf(
    x5c: &[Vec<u8>],
    signer: &dyn Signer,
    certificate: &str,
    key: &str,
) -> Result<(), KeyError> {
    let leaf_key =
        avow_crypto::x509::leaf_public_key(x5c.first().map(Vec::as_slice).unwrap_or_default())?;
    if &leaf_key != signer.public_jwk() {
        return Err(KeyError::Io(format!("{certificate} does not match {key}")));
    }
    Ok(())
}

/// ISS-SIG-01 (HAIP §6.1.1; APT §10.2 VCI-006): the `x5c` chain the issuer
/// publishes (credentials, signed metadata, status lists) must not contain
/// the trust anchor, and its leaf must not be self-signed. A configured
/// `keys.signing_chain` holding a self-signed certificate (a root CA, i.e. a
/// trust anchor) is refused at start-up rather than published or silently
/// trimmed: the operator learns that the file is not what the README asks for
/// ("leaf first, trust anchor excluded"). The leaf itself is checked by
/// [`avow_crypto::x509::leaf_public_key`].
fn refuse_trust_anchor(chain_path: &Path, setting: &str, x5c: &[Vec<u8>]) -> Result<(), KeyError> {
    for (i, der) in x5c.iter().enumerate() {
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
            return Err(KeyError::Io(format!(
                "{}: certificate {i} of {setting} is not a DER certificate",
                chain_path.display()
            )));
        };
        if cert.subject() == cert.issuer() {
            let what = if i == 0 {
                "the leaf certificate is self-signed"
            } else {
                "it contains a self-signed certificate (the trust anchor)"
            };
            return Err(KeyError::Io(format!(
                "{}: {setting} must be the certificate and its intermediates, leaf first, trust anchor excluded (HAIP 6.1.1, ISS-SIG-01), but {what} at position {i} ({})",
                chain_path.display(),
                cert.subject()
            )));
        }
    }
    Ok(())
}

/// Writes a file readable by the owner only.
pub fn write_private(path: &Path, contents: &str) -> Result<(), KeyError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).map_err(|e| io(path, e))?;
    file.write_all(contents.as_bytes()).map_err(|e| io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use avow_crypto::x509::cert_pem;

    fn validity() -> Validity {
        Validity {
            not_before: 1_700_000_000,
            not_after: 1_900_000_000,
        }
    }

    /// A configuration reading `chain` (PEM) and the key of its leaf from a fresh directory.
    fn configured(chain: &str, key: &SoftwareSigner) -> (IssuerConfig, PathBuf) {
        let dir = std::env::temp_dir().join(format!("avow-keys-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let key_path = dir.join("signing.key");
        let chain_path = dir.join("signing.pem");
        std::fs::write(
            &key_path,
            pem::encode("PRIVATE KEY", &key.to_pkcs8().unwrap()),
        )
        .unwrap();
        std::fs::write(&chain_path, chain).unwrap();
        let mut config = IssuerConfig::defaults().unwrap();
        config.keys.dev_pki = false;
        config.keys.signing_key = Some(key_path);
        config.keys.signing_chain = Some(chain_path);
        (config, dir)
    }

    /// ISS-SIG-01 (HAIP §6.1.1): a chain that includes the trust anchor is
    /// refused at start-up with a clear message; leaf (+ intermediates) loads.
    #[test]
    fn iss_sig_01_signing_chain_with_trust_anchor_is_refused() {
        let root = CertificateAuthority::generate_root("Test Root CA", validity()).unwrap();
        let signer = SoftwareSigner::generate().unwrap();
        let leaf = root
            .issue_leaf("Test signer", signer.public_jwk(), validity())
            .unwrap();

        let (config, dir) = configured(&cert_pem(&leaf), &signer);
        let keys = IssuerKeys::load(&config, 1_800_000_000);
        assert!(keys.is_ok(), "leaf-only chain loads");
        assert_eq!(keys.map(|k| k.x5c).unwrap_or_default(), vec![leaf.clone()]);
        let _ = std::fs::remove_dir_all(dir);

        let chain = format!("{}{}", cert_pem(&leaf), cert_pem(&root.cert_der));
        let (config, dir) = configured(&chain, &signer);
        let error = IssuerKeys::load(&config, 1_800_000_000)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("trust anchor excluded"), "{error}");
        assert!(error.contains("position 1"), "{error}");
        let _ = std::fs::remove_dir_all(dir);

        // A self-signed leaf is refused too.
        let (config, dir) = configured(&cert_pem(&root.cert_der), &signer);
        let error = IssuerKeys::load(&config, 1_800_000_000)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("self-signed"), "{error}");
        let _ = std::fs::remove_dir_all(dir);
    }

    /// ISS-SIG-06 (SD-JWT §9.8): retired keys are published after the
    /// signing key under their RFC 7638 thumbprints, once each; the active
    /// key listed as retired is refused.
    #[test]
    fn iss_sig_06_retired_keys_are_published() {
        let root = CertificateAuthority::generate_root("Test Root CA", validity()).unwrap();
        let cert_of = |key: &SoftwareSigner| {
            cert_pem(
                &root
                    .issue_leaf("Test signer", key.public_jwk(), validity())
                    .unwrap(),
            )
        };
        let (active, old_1, old_2) = (
            SoftwareSigner::generate().unwrap(),
            SoftwareSigner::generate().unwrap(),
            SoftwareSigner::generate().unwrap(),
        );
        let (mut config, dir) = configured(&cert_of(&active), &active);
        let retired_1 = dir.join("old-1.pem");
        let retired_2 = dir.join("old-2.pem");
        std::fs::write(&retired_1, cert_of(&old_1)).unwrap();
        std::fs::write(&retired_2, cert_of(&old_2)).unwrap();
        config.keys.retired_chains = vec![retired_1.clone(), retired_2, retired_1];
        let keys = IssuerKeys::load(&config, 1_800_000_000).unwrap();
        let published: Vec<(String, EcPublicJwk)> = keys
            .published()
            .into_iter()
            .map(|k| (k.kid, k.jwk))
            .collect();
        let entry = |k: &SoftwareSigner| (k.public_jwk().thumbprint(), k.public_jwk().clone());
        assert_eq!(
            published,
            vec![entry(&active), entry(&old_1), entry(&old_2)]
        );
        assert_eq!(keys.kid, active.public_jwk().thumbprint());

        // The active key's own certificate is not a retired key.
        config.keys.retired_chains = vec![config.keys.signing_chain.clone().unwrap()];
        let error = IssuerKeys::load(&config, 1_800_000_000)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("active signing key"), "{error}");

        // A file that holds no certificate is named in the error.
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        config.keys.retired_chains = vec![junk];
        let error = IssuerKeys::load(&config, 1_800_000_000)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.contains("retired_chains") && error.contains("junk.pem"),
            "{error}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    /// ISS-SIG-06: a PKCS#11 key whose PIN variable is unset is refused at
    /// start-up, naming the variable (the token itself is tested in
    /// tests/pkcs11.rs against SoftHSM2).
    #[test]
    fn iss_sig_06_pkcs11_pin_variable_must_be_set() {
        let signer = SoftwareSigner::generate().unwrap();
        let root = CertificateAuthority::generate_root("Test Root CA", validity()).unwrap();
        let leaf = root
            .issue_leaf("Test signer", signer.public_jwk(), validity())
            .unwrap();
        let (mut config, dir) = configured(&cert_pem(&leaf), &signer);
        config.keys.signing_key = None;
        let variable = format!("AVOW_TEST_UNSET_PIN_{}", uuid::Uuid::new_v4().simple());
        config.keys.pkcs11 = Some(Pkcs11KeyConfig {
            module: "/nonexistent/libpkcs11.so".into(),
            token_label: "avow".into(),
            key_label: "signing".into(),
            pin_env: variable.clone(),
        });
        let error = IssuerKeys::load(&config, 1_800_000_000)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.contains(&variable) && error.contains("not set"),
            "{error}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
