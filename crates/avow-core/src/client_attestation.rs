//! Claim rules of OAuth 2.0 Attestation-Based Client Authentication: the
//! Client Attestation JWT (WIA) and its PoP JWT (ABCA §4, §5.1, §7).
//! Signatures and `x5c` chains are checked in `avow-crypto` before these rules.

use crate::clock::UnixTime;
use crate::error::ProtocolError;
use serde::{Deserialize, Serialize};

pub const CLIENT_ATTESTATION_TYP: &str = "oauth-client-attestation+jwt";
pub const CLIENT_ATTESTATION_POP_TYP: &str = "oauth-client-attestation-pop+jwt";
pub const ATTESTATION_HEADER: &str = "oauth-client-attestation";
pub const ATTESTATION_POP_HEADER: &str = "oauth-client-attestation-pop";
pub const ATTESTATION_CHALLENGE_HEADER: &str = "oauth-client-attestation-challenge";
/// `token_endpoint_auth_methods_supported` value (ABCA §8).
pub const ATTEST_JWT_CLIENT_AUTH: &str = "attest_jwt_client_auth";

/// Client Attestation JWT claims (ABCA §4).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClientAttestationClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    pub sub: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub cnf: Confirmation,
    /// `status` (TSL §6.2): e.g. `{"status_list": {"idx": …, "uri": …}}`,
    /// checked when the trust configuration asks for it (VCI App. E;
    /// ISS-CATT-10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Confirmation {
    pub jwk: serde_json::Value,
}

impl ClientAttestationClaims {
    pub fn from_payload(payload: &[u8]) -> Result<Self, ProtocolError> {
        serde_json::from_slice(payload).map_err(|_| {
            ProtocolError::invalid_client("the client attestation lacks sub, exp or cnf.jwk")
        })
    }

    /// Expiry, not-before and freshness (ABCA §7.1 steps 2, 6; ISS-CATT-04).
    /// `max_age`: oldest acceptable `iat`, when the attestation carries one.
    pub fn validate(
        &self,
        now: UnixTime,
        skew: i64,
        max_age: Option<i64>,
    ) -> Result<(), ProtocolError> {
        if self.sub.is_empty() {
            return Err(ProtocolError::invalid_client(
                "the client attestation sub is empty",
            ));
        }
        if self.exp + skew < now {
            return Err(ProtocolError::invalid_client(
                "the client attestation has expired",
            ));
        }
        if self.nbf.is_some_and(|nbf| nbf - skew > now)
            || self.iat.is_some_and(|iat| iat - skew > now)
        {
            return Err(ProtocolError::invalid_client(
                "the client attestation is not yet valid",
            ));
        }
        if let (Some(max_age), Some(iat)) = (max_age, self.iat)
            && now - iat > max_age
        {
            return Err(ProtocolError::use_fresh_attestation(
                "the client attestation is older than this server accepts",
            ));
        }
        Ok(())
    }
}

/// Client Attestation PoP JWT claims (ABCA §5.1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClientAttestationPopClaims {
    pub aud: serde_json::Value,
    pub jti: String,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
}

impl ClientAttestationPopClaims {
    pub fn from_payload(payload: &[u8]) -> Result<Self, ProtocolError> {
        let claims: Self = serde_json::from_slice(payload).map_err(|_| {
            ProtocolError::invalid_client("the attestation PoP lacks aud, jti or iat")
        })?;
        if claims.jti.is_empty() || claims.jti.len() > 256 {
            return Err(ProtocolError::invalid_client(
                "the attestation PoP jti is empty or too long",
            ));
        }
        Ok(claims)
    }

    /// `aud` = the AS issuer, `iat` within `window` (ABCA §7.2; ISS-CATT-05).
    pub fn validate(&self, issuer: &str, now: UnixTime, window: i64) -> Result<(), ProtocolError> {
        let aud_ok = match &self.aud {
            serde_json::Value::String(a) => a == issuer,
            serde_json::Value::Array(list) => {
                list.len() == 1 && list.first().and_then(|v| v.as_str()) == Some(issuer)
            }
            _ => false,
        };
        if !aud_ok {
            return Err(ProtocolError::invalid_client(
                "the attestation PoP aud is not this authorization server",
            ));
        }
        if (self.iat - now).abs() > window {
            return Err(ProtocolError::invalid_client(
                "the attestation PoP iat is outside the acceptance window",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn wia() -> ClientAttestationClaims {
        ClientAttestationClaims {
            iss: None,
            sub: "wallet".into(),
            exp: 2000,
            iat: Some(1000),
            nbf: None,
            cnf: Confirmation {
                jwk: serde_json::json!({}),
            },
            status: None,
        }
    }

    #[test]
    fn wia_time_rules() {
        assert_eq!(wia().validate(1500, 60, None), Ok(()));
        assert_eq!(
            wia().validate(2061, 60, None).err().map(|e| e.code),
            Some(ErrorCode::InvalidClient)
        );
        assert_eq!(
            wia().validate(900, 60, None).err().map(|e| e.code),
            Some(ErrorCode::InvalidClient)
        );
        assert_eq!(
            wia().validate(1500, 60, Some(100)).err().map(|e| e.code),
            Some(ErrorCode::UseFreshAttestation)
        );
        assert!(ClientAttestationClaims::from_payload(br#"{"sub":"a","exp":1}"#).is_err());
    }

    #[test]
    fn pop_rules() {
        let pop = ClientAttestationPopClaims {
            aud: "https://as.example".into(),
            jti: "j".into(),
            iat: 1000,
            challenge: None,
        };
        assert_eq!(pop.validate("https://as.example", 1005, 60), Ok(()));
        assert!(pop.validate("https://other.example", 1005, 60).is_err());
        assert!(pop.validate("https://as.example", 1100, 60).is_err());
        assert!(
            ClientAttestationPopClaims::from_payload(br#"{"aud":"a","jti":"","iat":1}"#).is_err()
        );
    }
}
