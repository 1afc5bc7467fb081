//! Rules for the claims of a `jwt` key proof (OID4VCI 1.0 App. F.1, F.4).
//! Signature and header key handling live in `avow-crypto`; the issuer calls
//! [`ProofClaims::validate`] after the signature has verified.

use crate::clock::UnixTime;
use crate::error::ProtocolError;
use serde::{Deserialize, Serialize};

/// `typ` of a key proof JWT (OID4VCI App. F.1).
pub const PROOF_TYP: &str = "openid4vci-proof+jwt";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProofClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    pub aud: serde_json::Value,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// What the issuer expects of every proof of one request.
#[derive(Debug, Clone)]
pub struct ProofExpectations<'a> {
    pub credential_issuer: &'a str,
    pub now: UnixTime,
    /// Tolerated clock skew into the future (ISS-SEC-04).
    pub max_skew: i64,
    /// Oldest acceptable `iat`, as an age (ISS-PROOF-05: the nonce lifetime).
    pub max_age: i64,
    /// Whether a `nonce` is required (the issuer has a nonce endpoint).
    pub nonce_required: bool,
    /// The authenticated client, or `None` for anonymous pre-authorized access.
    pub client_id: Option<&'a str>,
}

impl ProofClaims {
    /// Parses claims from a JWS payload; any shape error is `invalid_proof`.
    pub fn from_payload(payload: &[u8]) -> Result<Self, ProtocolError> {
        serde_json::from_slice(payload).map_err(|_| {
            ProtocolError::invalid_proof(
                "the key proof payload lacks aud or iat or has wrong types",
            )
        })
    }

    /// Checks `aud`, `iat`, `iss` and nonce presence (ISS-PROOF-04 … -07).
    /// Returns the nonce, which the caller consumes in the store.
    pub fn validate(
        &self,
        expect: &ProofExpectations<'_>,
    ) -> Result<Option<String>, ProtocolError> {
        let aud_ok = match &self.aud {
            serde_json::Value::String(a) => a == expect.credential_issuer,
            _ => false,
        };
        if !aud_ok {
            return Err(ProtocolError::invalid_proof(
                "the key proof aud is not this credential issuer",
            ));
        }
        if self.iat > expect.now + expect.max_skew {
            return Err(ProtocolError::invalid_proof(
                "the key proof iat is in the future",
            ));
        }
        if self.iat < expect.now - expect.max_age {
            return Err(ProtocolError::invalid_proof("the key proof iat is too old"));
        }
        match (&self.iss, expect.client_id) {
            (None, _) => {}
            (Some(iss), Some(client)) if iss == client => {}
            (Some(_), Some(_)) => {
                return Err(ProtocolError::invalid_proof(
                    "the key proof iss is not the authenticated client_id",
                ));
            }
            (Some(_), None) => {
                return Err(ProtocolError::invalid_proof(
                    "the key proof has iss although access is anonymous",
                ));
            }
        }
        if expect.nonce_required && self.nonce.as_deref().is_none_or(str::is_empty) {
            return Err(ProtocolError::invalid_proof("the key proof has no nonce"));
        }
        Ok(self.nonce.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    const NOW: i64 = 1_800_000_000;

    fn expect(client_id: Option<&str>) -> ProofExpectations<'_> {
        ProofExpectations {
            credential_issuer: "https://issuer.example",
            now: NOW,
            max_skew: 60,
            max_age: 300,
            nonce_required: true,
            client_id,
        }
    }

    fn claims() -> ProofClaims {
        ProofClaims {
            iss: None,
            aud: "https://issuer.example".into(),
            iat: NOW,
            nonce: Some("n".into()),
        }
    }

    fn code(c: &ProofClaims, client: Option<&str>) -> Option<ErrorCode> {
        c.validate(&expect(client)).err().map(|e| e.code)
    }

    #[test]
    fn accepts_a_good_proof() {
        assert_eq!(claims().validate(&expect(None)), Ok(Some("n".into())));
        let mut c = claims();
        c.iss = Some("wallet".into());
        assert_eq!(code(&c, Some("wallet")), None);
    }

    #[test]
    fn rejects_each_fault_with_invalid_proof() {
        let mut c = claims();
        c.aud = "https://other.example".into();
        assert_eq!(code(&c, None), Some(ErrorCode::InvalidProof));
        c = claims();
        c.aud = serde_json::json!(["https://issuer.example"]);
        assert_eq!(code(&c, None), Some(ErrorCode::InvalidProof));
        c = claims();
        c.iat = NOW + 3600;
        assert_eq!(code(&c, None), Some(ErrorCode::InvalidProof));
        c = claims();
        c.iat = NOW - 3600;
        assert_eq!(code(&c, None), Some(ErrorCode::InvalidProof));
        c = claims();
        c.nonce = None;
        assert_eq!(code(&c, None), Some(ErrorCode::InvalidProof));
        c = claims();
        c.iss = Some("someone".into());
        assert_eq!(code(&c, Some("wallet")), Some(ErrorCode::InvalidProof));
        assert_eq!(code(&c, None), Some(ErrorCode::InvalidProof));
    }

    #[test]
    fn payload_shape_errors_are_invalid_proof() {
        assert_eq!(
            ProofClaims::from_payload(b"{}").err().map(|e| e.code),
            Some(ErrorCode::InvalidProof)
        );
        assert_eq!(
            ProofClaims::from_payload(br#"{"aud":"a","iat":"x"}"#)
                .err()
                .map(|e| e.code),
            Some(ErrorCode::InvalidProof)
        );
    }
}
