//! Errors of the crypto layer. They say what failed, never with key material.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("malformed base64url")]
    Base64,
    #[error("malformed JWS: {0}")]
    MalformedJws(&'static str),
    #[error("algorithm {0} is not allowed")]
    AlgorithmNotAllowed(String),
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    #[error("signature verification failed")]
    BadSignature,
    #[error("signing failed")]
    SigningFailed,
    #[error("certificate error: {0}")]
    Certificate(String),
    #[error("encryption error")]
    Encryption,
    #[error("malformed JWE: {0}")]
    MalformedJwe(&'static str),
    /// A PKCS#11 token refused or failed (module, token, key, login, sign);
    /// names the function and `CKR_` code, never the PIN.
    #[error("PKCS#11: {0}")]
    Pkcs11(String),
}
