//! X.509: a generated development PKI, and validation of `x5c` chains to
//! configured trust anchors (HAIP §6.1.1, §4.4.1, §4.5.1).

use crate::error::CryptoError;
use crate::jwk::EcPublicJwk;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls_pki_types::{CertificateDer, UnixTime as PkiTime};
use std::time::Duration;

/// A CA certificate with its private key, able to issue leaf certificates.
pub struct CertificateAuthority {
    pub cert_der: Vec<u8>,
    key: KeyPair,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

/// Validity of a certificate in Unix seconds.
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    pub not_before: i64,
    pub not_after: i64,
}

fn to_offset(t: i64) -> Result<time::OffsetDateTime, CryptoError> {
    time::OffsetDateTime::from_unix_timestamp(t)
        .map_err(|_| CryptoError::Certificate("time out of range".into()))
}

fn cert_err(e: rcgen::Error) -> CryptoError {
    CryptoError::Certificate(e.to_string())
}

impl CertificateAuthority {
    /// A new self-signed root CA with a fresh P-256 key.
    pub fn generate_root(common_name: &str, validity: Validity) -> Result<Self, CryptoError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(cert_err)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(cert_err)?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = to_offset(validity.not_before)?;
        params.not_after = to_offset(validity.not_after)?;
        let cert = params.self_signed(&key).map_err(cert_err)?;
        Ok(Self {
            cert_der: cert.der().to_vec(),
            key,
        })
    }

    /// Loads a CA from its certificate and PKCS#8 key.
    pub fn from_der(cert_der: Vec<u8>, key_pkcs8: &[u8]) -> Result<Self, CryptoError> {
        let key = KeyPair::try_from(key_pkcs8).map_err(cert_err)?;
        Ok(Self { cert_der, key })
    }

    pub fn key_pkcs8(&self) -> Vec<u8> {
        self.key.serialize_der()
    }

    /// Issues a leaf certificate for `public` (a signing key, not a CA).
    pub fn issue_leaf(
        &self,
        common_name: &str,
        public: &EcPublicJwk,
        validity: Validity,
    ) -> Result<Vec<u8>, CryptoError> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(cert_err)?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.not_before = to_offset(validity.not_before)?;
        params.not_after = to_offset(validity.not_after)?;
        params.use_authority_key_identifier_extension = true;
        let issuer =
            Issuer::from_ca_cert_der(&CertificateDer::from(self.cert_der.as_slice()), &self.key)
                .map_err(cert_err)?;
        let spki = spki_der(public);
        let public_key = rcgen::SubjectPublicKeyInfo::from_der(&spki).map_err(cert_err)?;
        let cert = params.signed_by(&public_key, &issuer).map_err(cert_err)?;
        Ok(cert.der().to_vec())
    }
}

/// DER SubjectPublicKeyInfo of a P-256 key (RFC 5480).
fn spki_der(public: &EcPublicJwk) -> Vec<u8> {
    // SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING point }
    const PREFIX: [u8; 26] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    let mut der = PREFIX.to_vec();
    der.extend_from_slice(&public.uncompressed());
    der
}

/// The configured trust anchors for one purpose (issuer CA, wallet providers …).
#[derive(Debug, Clone, Default)]
pub struct TrustAnchors {
    certs: Vec<CertificateDer<'static>>,
}

impl TrustAnchors {
    pub fn new(ders: impl IntoIterator<Item = Vec<u8>>) -> Result<Self, CryptoError> {
        let certs: Vec<CertificateDer<'static>> =
            ders.into_iter().map(CertificateDer::from).collect();
        for c in &certs {
            webpki::anchor_from_trusted_cert(c)
                .map_err(|e| CryptoError::Certificate(format!("bad trust anchor: {e}")))?;
        }
        Ok(Self { certs })
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// Validates an `x5c` chain (leaf first) and returns the leaf's public key.
    ///
    /// The chain must not contain a trust anchor (HAIP §6.1.1), the leaf must
    /// not be self-signed, and the path must verify at `now` to an anchor.
    pub fn validate_chain(&self, x5c: &[Vec<u8>], now: i64) -> Result<EcPublicJwk, CryptoError> {
        let (leaf, intermediates) = x5c
            .split_first()
            .ok_or(CryptoError::Certificate("empty x5c".into()))?;
        if x5c
            .iter()
            .any(|c| self.certs.iter().any(|a| a.as_ref() == c.as_slice()))
        {
            return Err(CryptoError::Certificate(
                "x5c must not contain the trust anchor".into(),
            ));
        }
        let public = leaf_public_key(leaf)?;
        let anchors = self
            .certs
            .iter()
            .map(webpki::anchor_from_trusted_cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CryptoError::Certificate(e.to_string()))?;
        let leaf_der = CertificateDer::from(leaf.as_slice());
        let end_entity = webpki::EndEntityCert::try_from(&leaf_der)
            .map_err(|e| CryptoError::Certificate(e.to_string()))?;
        let intermediates: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .map(|c| CertificateDer::from(c.as_slice()))
            .collect();
        let time = PkiTime::since_unix_epoch(Duration::from_secs(u64::try_from(now).unwrap_or(0)));
        end_entity
            .verify_for_usage(
                &[
                    webpki::aws_lc_rs::ECDSA_P256_SHA256,
                    webpki::aws_lc_rs::ECDSA_P384_SHA384,
                ],
                &anchors,
                &intermediates,
                time,
                AnyExtendedKeyUsage,
                None,
                None,
            )
            .map_err(|e| CryptoError::Certificate(format!("chain does not validate: {e}")))?;
        Ok(public)
    }
}

/// Signing certificates of credentials and attestations carry profile-specific
/// EKUs (or none); the profile, not this layer, decides which it requires.
struct AnyExtendedKeyUsage;

impl webpki::ExtendedKeyUsageValidator for AnyExtendedKeyUsage {
    fn validate(&self, iter: webpki::KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        for purpose in iter {
            purpose?;
        }
        Ok(())
    }
}

/// The P-256 public key of a certificate; refuses self-signed leaves.
pub fn leaf_public_key(der: &[u8]) -> Result<EcPublicJwk, CryptoError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|_| CryptoError::Certificate("x5c leaf is not a DER certificate".into()))?;
    if cert.subject() == cert.issuer() {
        return Err(CryptoError::Certificate(
            "the leaf certificate is self-signed".into(),
        ));
    }
    let spki = cert.public_key();
    EcPublicJwk::from_uncompressed(&spki.subject_public_key.data)
}

/// PEM encoding of a DER certificate.
pub fn cert_pem(der: &[u8]) -> String {
    crate::pem::encode("CERTIFICATE", der)
}

/// Reads every certificate of a PEM text.
pub fn certs_from_pem(pem: &str) -> Result<Vec<Vec<u8>>, CryptoError> {
    let certs = crate::pem::decode_all("CERTIFICATE", pem)?;
    if certs.is_empty() {
        return Err(CryptoError::Certificate("no certificate in PEM".into()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signer::{Signer, SoftwareSigner};

    const NOW: i64 = 1_800_000_000;
    const YEAR: i64 = 365 * 86_400;

    fn validity() -> Validity {
        Validity {
            not_before: NOW - 60,
            not_after: NOW + YEAR,
        }
    }

    fn setup() -> (CertificateAuthority, SoftwareSigner, Vec<u8>) {
        let ca = CertificateAuthority::generate_root("Test Root", validity())
            .unwrap_or_else(|e| panic!("{e}"));
        let key = SoftwareSigner::generate().unwrap_or_else(|e| panic!("{e}"));
        let leaf = ca
            .issue_leaf("Test Leaf", key.public_jwk(), validity())
            .unwrap_or_else(|e| panic!("{e}"));
        (ca, key, leaf)
    }

    #[test]
    fn a_chain_to_the_anchor_validates() {
        let (ca, key, leaf) = setup();
        let anchors = TrustAnchors::new([ca.cert_der.clone()]).unwrap_or_default();
        assert_eq!(
            anchors.validate_chain(&[leaf], NOW),
            Ok(key.public_jwk().clone())
        );
    }

    #[test]
    fn wrong_anchor_expired_anchor_included_and_self_signed_fail() {
        let (ca, _, leaf) = setup();
        let (other, _, _) = setup();
        let anchors = TrustAnchors::new([ca.cert_der.clone()]).unwrap_or_default();
        let others = TrustAnchors::new([other.cert_der.clone()]).unwrap_or_default();
        assert!(
            others
                .validate_chain(std::slice::from_ref(&leaf), NOW)
                .is_err()
        );
        assert!(
            anchors
                .validate_chain(std::slice::from_ref(&leaf), NOW + 2 * YEAR)
                .is_err()
        );
        assert!(
            anchors
                .validate_chain(&[leaf.clone(), ca.cert_der.clone()], NOW)
                .is_err()
        );
        assert!(
            anchors
                .validate_chain(std::slice::from_ref(&ca.cert_der), NOW)
                .is_err()
        );
        assert!(anchors.validate_chain(&[], NOW).is_err());
        assert!(anchors.validate_chain(&[vec![1, 2, 3]], NOW).is_err());
    }

    #[test]
    fn pem_round_trips() {
        let (ca, _, leaf) = setup();
        let pem = format!("{}{}", cert_pem(&ca.cert_der), cert_pem(&leaf));
        assert_eq!(certs_from_pem(&pem), Ok(vec![ca.cert_der.clone(), leaf]));
        let reloaded = CertificateAuthority::from_der(ca.cert_der.clone(), &ca.key_pkcs8());
        assert!(reloaded.is_ok());
    }
}
