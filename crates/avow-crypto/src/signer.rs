//! The one signing abstraction of Avow.
//!
//! Signing is async and may be remote (PKCS#11, a cloud KMS): callers must
//! not assume it is cheap. The software signer is for development and for
//! wallet-side keys held by this process.

use crate::alg::JwsAlgorithm;
use crate::error::CryptoError;
use crate::jwk::EcPublicJwk;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use std::future::Future;
use std::pin::Pin;

/// A boxed future, so that [`Signer`] stays object-safe.
pub type SignFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, CryptoError>> + Send + 'a>>;

/// A private key that can sign, wherever it lives.
pub trait Signer: Send + Sync {
    /// The JWS algorithm of this key.
    fn algorithm(&self) -> JwsAlgorithm;
    /// The public key, for `jwk` headers, `cnf` claims and certificates.
    fn public_jwk(&self) -> &EcPublicJwk;
    /// Signs `message`, returning the JWS signature encoding (for ES256: R || S, RFC 7518 §3.4).
    fn sign<'a>(&'a self, message: &'a [u8]) -> SignFuture<'a>;
}

/// An ES256 key held in this process.
pub struct SoftwareSigner {
    key: EcdsaKeyPair,
    public: EcPublicJwk,
}

impl std::fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareSigner")
            .field("thumbprint", &self.public.thumbprint())
            .finish_non_exhaustive()
    }
}

impl SoftwareSigner {
    /// A fresh P-256 key from the system CSPRNG.
    pub fn generate() -> Result<Self, CryptoError> {
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| CryptoError::SigningFailed)?;
        Self::from_key(key)
    }

    /// Loads a PKCS#8 (v1 or v2) DER private key.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, CryptoError> {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map_err(|_| CryptoError::InvalidKey("not a PKCS#8 P-256 private key"))?;
        Self::from_key(key)
    }

    fn from_key(key: EcdsaKeyPair) -> Result<Self, CryptoError> {
        let public = EcPublicJwk::from_uncompressed(key.public_key().as_ref())?;
        Ok(Self { key, public })
    }

    /// The private key as PKCS#8 v1 DER, for storage under encryption.
    pub fn to_pkcs8(&self) -> Result<Vec<u8>, CryptoError> {
        self.key
            .to_pkcs8v1()
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| CryptoError::SigningFailed)
    }

    /// Signs synchronously; software keys need no await.
    pub fn sign_now(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.key
            .sign(&rng, message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| CryptoError::SigningFailed)
    }
}

impl Signer for SoftwareSigner {
    fn algorithm(&self) -> JwsAlgorithm {
        JwsAlgorithm::Es256
    }

    fn public_jwk(&self) -> &EcPublicJwk {
        &self.public
    }

    fn sign<'a>(&'a self, message: &'a [u8]) -> SignFuture<'a> {
        Box::pin(async move { self.sign_now(message) })
    }
}

/// Verifies an ES256 signature (R || S) over `message`.
pub fn verify_es256(
    key: &EcPublicJwk,
    message: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
        key.uncompressed(),
    )
    .verify(message, signature)
    .map_err(|_| CryptoError::BadSignature)
}
