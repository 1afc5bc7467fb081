//! Rules for the claims of a DPoP proof (RFC 9449 §4.2, §4.3).
//! The JWS itself (typ, alg, jwk, signature) is checked in `avow-crypto`.

use crate::clock::UnixTime;
use crate::error::ProtocolError;
use serde::{Deserialize, Serialize};

/// `typ` of a DPoP proof (RFC 9449 §4.2).
pub const DPOP_TYP: &str = "dpop+jwt";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DpopClaims {
    pub jti: String,
    pub htm: String,
    pub htu: String,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ath: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// What the server expects of a proof for this request.
#[derive(Debug, Clone)]
pub struct DpopExpectations<'a> {
    pub method: &'a str,
    /// The endpoint URI as published (no query or fragment).
    pub uri: &'a str,
    pub now: UnixTime,
    /// Acceptance window for `iat`, both directions (ISS-DPOP-04).
    pub window: i64,
    /// `BASE64URL(SHA-256(access token))` at resource endpoints (RFC 9449 §4.3 step 11).
    pub ath: Option<&'a str>,
}

impl DpopClaims {
    pub fn from_payload(payload: &[u8]) -> Result<Self, ProtocolError> {
        let claims: Self = serde_json::from_slice(payload).map_err(|_| {
            ProtocolError::invalid_dpop_proof("the DPoP proof lacks jti, htm, htu or iat")
        })?;
        if claims.jti.is_empty() || claims.jti.len() > 256 {
            return Err(ProtocolError::invalid_dpop_proof(
                "the DPoP proof jti is empty or too long",
            ));
        }
        Ok(claims)
    }

    /// Checks `htm`, `htu`, `iat` and `ath` (RFC 9449 §4.3 steps 8-11).
    /// The `jti` replay check and the server nonce are the caller's (they need state and keys).
    pub fn validate(&self, expect: &DpopExpectations<'_>) -> Result<(), ProtocolError> {
        if self.htm != expect.method {
            return Err(ProtocolError::invalid_dpop_proof(
                "the DPoP proof htm does not match the request method",
            ));
        }
        match (normalize_htu(&self.htu), normalize_htu(expect.uri)) {
            (Some(a), Some(b)) if a == b => {}
            _ => {
                return Err(ProtocolError::invalid_dpop_proof(
                    "the DPoP proof htu does not match the request URI",
                ));
            }
        }
        if (self.iat - expect.now).abs() > expect.window {
            return Err(ProtocolError::invalid_dpop_proof(
                "the DPoP proof iat is outside the acceptance window",
            ));
        }
        if let Some(expected) = expect.ath
            && self.ath.as_deref() != Some(expected)
        {
            return Err(ProtocolError::invalid_dpop_proof(
                "the DPoP proof ath does not match the access token",
            ));
        }
        Ok(())
    }
}

/// Syntax-based normalisation of an http(s) URI for `htu` comparison (RFC 9449
/// §4.3, RFC 3986 §6.2.2-6.2.3): lower-case scheme and host, default port
/// dropped, query and fragment removed, empty path as `/`.
pub fn normalize_htu(uri: &str) -> Option<String> {
    let uri = uri.split(['?', '#']).next()?;
    let (scheme, rest) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let authority = match (scheme.as_str(), authority.rsplit_once(':')) {
        ("https", Some((host, "443"))) | ("http", Some((host, "80"))) => host.to_owned(),
        _ => authority,
    };
    match scheme.as_str() {
        "https" | "http" => Some(format!("{scheme}://{authority}{path}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use proptest::prelude::*;

    const NOW: i64 = 1_800_000_000;

    fn claims() -> DpopClaims {
        DpopClaims {
            jti: "j".into(),
            htm: "POST".into(),
            htu: "https://issuer.example/token".into(),
            iat: NOW,
            ath: None,
            nonce: None,
        }
    }

    fn expect(ath: Option<&str>) -> DpopExpectations<'_> {
        DpopExpectations {
            method: "POST",
            uri: "https://issuer.example/token",
            now: NOW,
            window: 10,
            ath,
        }
    }

    #[test]
    fn htu_normalisation() {
        assert_eq!(
            normalize_htu("HTTPS://Issuer.Example:443/token?x=1#f").as_deref(),
            Some("https://issuer.example/token")
        );
        assert_eq!(
            normalize_htu("https://issuer.example").as_deref(),
            Some("https://issuer.example/")
        );
        assert_eq!(normalize_htu("ftp://x/y"), None);
        assert_eq!(normalize_htu("https://u@x/y"), None);
    }

    #[test]
    fn each_fault_is_invalid_dpop_proof() {
        assert_eq!(claims().validate(&expect(None)), Ok(()));
        let bad = |c: DpopClaims, ath: Option<&str>| c.validate(&expect(ath)).err().map(|e| e.code);
        let mut c = claims();
        c.htm = "GET".into();
        assert_eq!(bad(c, None), Some(ErrorCode::InvalidDpopProof));
        c = claims();
        c.htu = "https://issuer.example/credential".into();
        assert_eq!(bad(c, None), Some(ErrorCode::InvalidDpopProof));
        c = claims();
        c.iat = NOW - 11;
        assert_eq!(bad(c, None), Some(ErrorCode::InvalidDpopProof));
        c = claims();
        c.iat = NOW + 11;
        assert_eq!(bad(c, None), Some(ErrorCode::InvalidDpopProof));
        assert_eq!(
            bad(claims(), Some("abc")),
            Some(ErrorCode::InvalidDpopProof)
        );
        let mut c = claims();
        c.ath = Some("abc".into());
        assert_eq!(bad(c, Some("abc")), None);
    }

    proptest! {
        #[test]
        fn normalize_never_panics(s in ".*") {
            let _ = normalize_htu(&s);
        }
    }
}
