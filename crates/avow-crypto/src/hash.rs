//! SHA-256 helpers.

use aws_lc_rs::digest;

pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// `BASE64URL(SHA-256(data))`: DPoP `ath` (RFC 9449 §4.2), SD-JWT digests, store keys of secrets.
pub fn sha256_b64(data: &[u8]) -> String {
    crate::b64::encode(sha256(data))
}

/// Compares two secrets in constant time.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    #[allow(deprecated)]
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}
