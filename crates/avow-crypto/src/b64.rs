//! base64url without padding (RFC 7515 §2), the encoding of every JOSE part.

use crate::error::CryptoError;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url; padding and the standard alphabet are refused (RFC 7515 §2).
pub fn decode(text: &str) -> Result<Vec<u8>, CryptoError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| CryptoError::Base64)
}

/// Standard base64 with padding, the encoding of `x5c` entries (RFC 7515 §4.1.6).
pub fn encode_standard(bytes: impl AsRef<[u8]>) -> String {
    STANDARD.encode(bytes)
}

pub fn decode_standard(text: &str) -> Result<Vec<u8>, CryptoError> {
    STANDARD.decode(text).map_err(|_| CryptoError::Base64)
}
