//! Credential Request and Response (OID4VCI 1.0 §8.2, §8.3).
//!
//! The request is parsed from raw JSON rather than derived, because the spec's
//! rules are about presence and shape (both selectors, the legacy `proof`,
//! exactly one proof type) and must map to exact error codes.

use crate::error::ProtocolError;
use serde::{Deserialize, Serialize};

/// Which credential the wallet asks for (OID4VCI §8.2): exactly one of the two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSelector {
    ConfigurationId(String),
    Identifier(String),
}

/// The key proofs of a request: exactly one proof type (OID4VCI §8.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proofs {
    /// `proofs.jwt`: compact JWS key proofs (OID4VCI App. F.1).
    Jwt(Vec<String>),
    /// `proofs.attestation`: key attestations (OID4VCI App. F.3).
    Attestation(Vec<String>),
}

impl Proofs {
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Jwt(_) => "jwt",
            Self::Attestation(_) => "attestation",
        }
    }
    pub fn len(&self) -> usize {
        match self {
            Self::Jwt(v) | Self::Attestation(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRequest {
    pub selector: CredentialSelector,
    pub proofs: Option<Proofs>,
}

impl CredentialRequest {
    /// Parses the JSON body with the checks of ISS-CRED-03, -08, -09, -10.
    pub fn from_json(body: &[u8]) -> Result<Self, ProtocolError> {
        let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| {
            ProtocolError::invalid_credential_request("the body is not a JSON object")
        })?;
        let obj = value.as_object().ok_or_else(|| {
            ProtocolError::invalid_credential_request("the body is not a JSON object")
        })?;
        if obj.contains_key("proof") {
            return Err(ProtocolError::invalid_credential_request(
                "the legacy proof parameter is not supported, use proofs",
            ));
        }
        let text = |name: &str| -> Result<Option<String>, ProtocolError> {
            match obj.get(name) {
                None => Ok(None),
                Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
                Some(_) => Err(ProtocolError::invalid_credential_request(format!(
                    "{name} must be a non-empty string"
                ))),
            }
        };
        let selector = match (
            text("credential_configuration_id")?,
            text("credential_identifier")?,
        ) {
            (Some(id), None) => CredentialSelector::ConfigurationId(id),
            (None, Some(id)) => CredentialSelector::Identifier(id),
            (Some(_), Some(_)) => {
                return Err(ProtocolError::invalid_credential_request(
                    "credential_configuration_id and credential_identifier must not both be present",
                ));
            }
            (None, None) => {
                return Err(ProtocolError::invalid_credential_request(
                    "one of credential_configuration_id or credential_identifier is required",
                ));
            }
        };
        let proofs = obj.get("proofs").map(parse_proofs).transpose()?;
        Ok(Self { selector, proofs })
    }
}

fn parse_proofs(value: &serde_json::Value) -> Result<Proofs, ProtocolError> {
    let obj = value
        .as_object()
        .ok_or_else(|| ProtocolError::invalid_proof("proofs must be a JSON object"))?;
    let mut members = obj.iter();
    let (Some((name, list)), None) = (members.next(), members.next()) else {
        return Err(ProtocolError::invalid_proof(
            "proofs must contain exactly one proof type",
        ));
    };
    let list = list.as_array().filter(|a| !a.is_empty()).ok_or_else(|| {
        ProtocolError::invalid_proof(format!("proofs.{name} must be a non-empty array"))
    })?;
    let strings = list
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            ProtocolError::invalid_proof(format!("every element of proofs.{name} must be a string"))
        })?;
    match name.as_str() {
        "jwt" => Ok(Proofs::Jwt(strings)),
        "attestation" => Ok(Proofs::Attestation(strings)),
        other => Err(ProtocolError::invalid_proof(format!(
            "proof type {other} is not supported"
        ))),
    }
}

/// The Credential Response (OID4VCI §8.3).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CredentialResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Vec<IssuedCredential>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IssuedCredential {
    pub credential: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use proptest::prelude::*;

    fn code(body: &str) -> Option<ErrorCode> {
        CredentialRequest::from_json(body.as_bytes())
            .err()
            .map(|e| e.code)
    }

    #[test]
    fn parses_a_request() {
        let r = CredentialRequest::from_json(
            br#"{"credential_configuration_id":"pid","proofs":{"jwt":["a.b.c"]},"format":"x"}"#,
        );
        assert_eq!(
            r,
            Ok(CredentialRequest {
                selector: CredentialSelector::ConfigurationId("pid".into()),
                proofs: Some(Proofs::Jwt(vec!["a.b.c".into()]))
            })
        );
    }

    #[test]
    fn selector_rules() {
        assert_eq!(code(r#"{}"#), Some(ErrorCode::InvalidCredentialRequest));
        assert_eq!(
            code(r#"{"credential_configuration_id":"a","credential_identifier":"b"}"#),
            Some(ErrorCode::InvalidCredentialRequest)
        );
        assert_eq!(
            code(r#"{"credential_configuration_id":5}"#),
            Some(ErrorCode::InvalidCredentialRequest)
        );
        assert_eq!(code(r#"[]"#), Some(ErrorCode::InvalidCredentialRequest));
        assert_eq!(
            code(r#"not json"#),
            Some(ErrorCode::InvalidCredentialRequest)
        );
    }

    #[test]
    fn legacy_proof_is_refused() {
        assert_eq!(
            code(r#"{"credential_configuration_id":"a","proof":{"proof_type":"jwt","jwt":"x"}}"#),
            Some(ErrorCode::InvalidCredentialRequest)
        );
    }

    #[test]
    fn proofs_shape_rules() {
        assert_eq!(
            code(r#"{"credential_configuration_id":"a","proofs":{}}"#),
            Some(ErrorCode::InvalidProof)
        );
        assert_eq!(
            code(r#"{"credential_configuration_id":"a","proofs":{"jwt":[]}}"#),
            Some(ErrorCode::InvalidProof)
        );
        assert_eq!(
            code(
                r#"{"credential_configuration_id":"a","proofs":{"jwt":["x"],"attestation":["y"]}}"#
            ),
            Some(ErrorCode::InvalidProof)
        );
        assert_eq!(
            code(r#"{"credential_configuration_id":"a","proofs":{"ldp_vp":["x"]}}"#),
            Some(ErrorCode::InvalidProof)
        );
        assert_eq!(
            code(r#"{"credential_configuration_id":"a","proofs":{"jwt":[1]}}"#),
            Some(ErrorCode::InvalidProof)
        );
        assert_eq!(
            code(r#"{"credential_configuration_id":"a","proofs":[]}"#),
            Some(ErrorCode::InvalidProof)
        );
    }

    proptest! {
        #[test]
        fn never_panics(s in ".*") {
            let _ = CredentialRequest::from_json(s.as_bytes());
        }
    }
}
