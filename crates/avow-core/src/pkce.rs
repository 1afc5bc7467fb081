//! PKCE (RFC 7636) rules that need no hashing: only `S256` (HAIP §4, APT §7.3)
//! and the verifier/challenge syntax. The S256 transform itself is in `avow-crypto`.

use crate::error::ProtocolError;

/// The only method Avow accepts.
pub const S256: &str = "S256";

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// A `code_verifier`: 43–128 unreserved characters (RFC 7636 §4.1).
pub fn check_verifier(verifier: &str) -> Result<(), ProtocolError> {
    if (43..=128).contains(&verifier.len()) && verifier.bytes().all(is_unreserved) {
        Ok(())
    } else {
        Err(ProtocolError::invalid_grant(
            "code_verifier must be 43 to 128 unreserved characters",
        ))
    }
}

/// A `code_challenge` with its method at the PAR endpoint (RFC 7636 §4.4.1, ISS-PAR-04).
pub fn check_challenge(
    challenge: Option<&str>,
    method: Option<&str>,
) -> Result<String, ProtocolError> {
    let challenge = challenge
        .ok_or_else(|| ProtocolError::invalid_request("code_challenge is required (PKCE)"))?;
    match method {
        Some(S256) => {}
        Some(other) => {
            return Err(ProtocolError::invalid_request(format!(
                "code_challenge_method {other} is not supported; use S256"
            )));
        }
        None => {
            return Err(ProtocolError::invalid_request(
                "code_challenge_method S256 is required",
            ));
        }
    }
    // BASE64URL(SHA-256(verifier)) is always 43 characters.
    if challenge.len() != 43
        || !challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ProtocolError::invalid_request(
            "code_challenge is not an S256 challenge",
        ));
    }
    Ok(challenge.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn verifier_syntax() {
        assert!(check_verifier(&"a".repeat(43)).is_ok());
        assert!(check_verifier(&"a".repeat(128)).is_ok());
        assert_eq!(
            check_verifier(&"a".repeat(42)).err().map(|e| e.code),
            Some(ErrorCode::InvalidGrant)
        );
        assert!(check_verifier(&"a".repeat(129)).is_err());
        assert!(check_verifier(&format!("{}+", "a".repeat(42))).is_err());
    }

    #[test]
    fn only_s256() {
        let c = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(
            check_challenge(Some(c), Some("S256")).ok().as_deref(),
            Some(c)
        );
        assert!(check_challenge(Some(c), Some("plain")).is_err());
        assert!(check_challenge(Some(c), None).is_err());
        assert!(check_challenge(None, Some("S256")).is_err());
        assert!(check_challenge(Some("short"), Some("S256")).is_err());
    }
}
