//! PEM (RFC 7468) for certificates and PKCS#8 keys.

use crate::error::CryptoError;

pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = crate::b64::encode_standard(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Every block with `label`, in order; other blocks are skipped.
pub fn decode_all(label: &str, text: &str) -> Result<Vec<Vec<u8>>, CryptoError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line == begin {
            current = Some(String::new());
        } else if line == end {
            let body = current
                .take()
                .ok_or(CryptoError::Certificate("unbalanced PEM".into()))?;
            out.push(crate::b64::decode_standard(&body)?);
        } else if let Some(body) = current.as_mut() {
            body.push_str(line);
        }
    }
    Ok(out)
}

/// The first block with `label`.
pub fn decode_one(label: &str, text: &str) -> Result<Vec<u8>, CryptoError> {
    decode_all(label, text)?
        .into_iter()
        .next()
        .ok_or(CryptoError::InvalidKey(
            "no PEM block with the expected label",
        ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let pem = super::encode("PRIVATE KEY", &[1, 2, 3, 250]);
        assert_eq!(
            super::decode_one("PRIVATE KEY", &pem),
            Ok(vec![1, 2, 3, 250])
        );
        assert!(super::decode_one("CERTIFICATE", &pem).is_err());
    }
}
