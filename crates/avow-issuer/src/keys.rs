//! The issuer's credential signing key and its certificate chain: loaded from
//! configured files, or — in development only — a generated PKI kept under
//! `data_dir/dev-pki` and reused across restarts.

use crate::config::IssuerConfig;
use avow_crypto::x509::{CertificateAuthority, Validity};
use avow_crypto::{Signer, SoftwareSigner, pem};
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
        if config.keys.dev_pki {
            let mut keys = Self::dev_pki(&config.storage.data_dir.join("dev-pki"), now)?;
            keys.metadata = metadata_key(config)?;
            return Ok(keys);
        }
        let (Some(key_path), Some(chain_path)) =
            (&config.keys.signing_key, &config.keys.signing_chain)
        else {
            return Err(KeyError::Io(
                "keys.signing_key and keys.signing_chain are required".into(),
            ));
        };
        let key_bytes = std::fs::read(key_path).map_err(|e| io(key_path, e))?;
        let der = match std::str::from_utf8(&key_bytes) {
            Ok(text) if text.contains("-----BEGIN") => pem::decode_one("PRIVATE KEY", text)?,
            _ => key_bytes,
        };
        let signer = SoftwareSigner::from_pkcs8(&der)?;
        let chain_text = std::fs::read_to_string(chain_path).map_err(|e| io(chain_path, e))?;
        let x5c = avow_crypto::x509::certs_from_pem(&chain_text)?;
        refuse_trust_anchor(chain_path, &x5c)?;
        let mut keys = Self::assemble(signer, x5c, None)?;
        keys.metadata = metadata_key(config)?;
        Ok(keys)
    }

    fn assemble(
        signer: SoftwareSigner,
        x5c: Vec<Vec<u8>>,
        dev_anchor: Option<PathBuf>,
    ) -> Result<Self, KeyError> {
        let leaf_key =
            avow_crypto::x509::leaf_public_key(x5c.first().map(Vec::as_slice).unwrap_or_default())?;
        if &leaf_key != signer.public_jwk() {
            return Err(KeyError::Io(
                "the signing certificate does not match the signing key".into(),
            ));
        }
        let kid = signer.public_jwk().thumbprint();
        Ok(Self {
            signer: Arc::new(signer),
            x5c,
            metadata: None,
            kid,
            dev_anchor,
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
            signer,
            avow_crypto::x509::certs_from_pem(&chain)?,
            Some(ca_cert),
        )
    }
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
    let key_bytes = std::fs::read(key_path).map_err(|e| io(key_path, e))?;
    let der = match std::str::from_utf8(&key_bytes) {
        Ok(text) if text.contains("-----BEGIN") => pem::decode_one("PRIVATE KEY", text)?,
        _ => key_bytes,
    };
    let signer = SoftwareSigner::from_pkcs8(&der)?;
    let chain_text = std::fs::read_to_string(chain_path).map_err(|e| io(chain_path, e))?;
    let x5c = avow_crypto::x509::certs_from_pem(&chain_text)?;
    refuse_trust_anchor(chain_path, &x5c)?;
    let leaf_key =
        avow_crypto::x509::leaf_public_key(x5c.first().map(Vec::as_slice).unwrap_or_default())?;
    if &leaf_key != signer.public_jwk() {
        return Err(KeyError::Io(
            "metadata.access_chain's certificate does not match metadata.access_key".into(),
        ));
    }
    Ok(Some(MetadataKey {
        signer: Arc::new(signer),
        x5c,
    }))
}

/// ISS-SIG-01 (HAIP §6.1.1; APT §10.2 VCI-006): the `x5c` chain the issuer
/// publishes (credentials, signed metadata, status lists) must not contain
/// the trust anchor, and its leaf must not be self-signed. A configured
/// `keys.signing_chain` holding a self-signed certificate (a root CA, i.e. a
/// trust anchor) is refused at start-up rather than published or silently
/// trimmed: the operator learns that the file is not what the README asks for
/// ("leaf first, trust anchor excluded"). The leaf itself is checked by
/// [`avow_crypto::x509::leaf_public_key`].
fn refuse_trust_anchor(chain_path: &Path, x5c: &[Vec<u8>]) -> Result<(), KeyError> {
    for (i, der) in x5c.iter().enumerate() {
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
            return Err(KeyError::Io(format!(
                "{}: certificate {i} of keys.signing_chain is not a DER certificate",
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
                "{}: keys.signing_chain must be the signing certificate and its intermediates, leaf first, trust anchor excluded (HAIP 6.1.1, ISS-SIG-01), but {what} at position {i} ({})",
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
}
