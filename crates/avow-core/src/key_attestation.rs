//! Key attestations in JWT format (OID4VCI 1.0 App. D; HAIP §4.5.1): the
//! claims of a `key-attestation+jwt` (a Wallet Unit Attestation, WUA), the
//! issuer's `key_attestations_required` policy (§12.2.4, App. D.2) and the
//! claim rules of ISS-KATT-04 … -06, -08.
//!
//! Signatures, `x5c` chains and the parsing of `attested_keys` into keys are
//! `avow-crypto`'s; the issuer applies [`KeyAttestationClaims::validate`]
//! after the signature has verified.

use crate::clock::UnixTime;
use crate::error::ProtocolError;
use serde::{Deserialize, Serialize};

/// `typ` of a key attestation JWT (OID4VCI App. D.1).
pub const KEY_ATTESTATION_TYP: &str = "key-attestation+jwt";
/// The JOSE header of a `jwt` key proof that carries a key attestation (App. F.1).
pub const KEY_ATTESTATION_HEADER: &str = "key_attestation";
/// Proof type names (OID4VCI App. F).
pub const PROOF_TYPE_JWT: &str = "jwt";
pub const PROOF_TYPE_ATTESTATION: &str = "attestation";

/// Attack potential resistance values of App. D.2, strongest first.
pub const ISO_18045_HIGH: &str = "iso_18045_high";
pub const ISO_18045_MODERATE: &str = "iso_18045_moderate";
pub const ISO_18045_ENHANCED_BASIC: &str = "iso_18045_enhanced-basic";
pub const ISO_18045_BASIC: &str = "iso_18045_basic";
pub const ATTACK_POTENTIAL_VALUES: [&str; 4] = [
    ISO_18045_HIGH,
    ISO_18045_MODERATE,
    ISO_18045_ENHANCED_BASIC,
    ISO_18045_BASIC,
];

/// `key_attestations_required` (OID4VCI §12.2.4): the `key_storage` and
/// `user_authentication` values the issuer accepts. An empty list means
/// "no constraint" and is left out of the metadata; both empty is the
/// empty object (a key attestation without further constraints).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyAttestationsRequired {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_storage: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_authentication: Vec<String>,
}

impl KeyAttestationsRequired {
    /// The metadata value (`ProofTypeMetadata::key_attestations_required`).
    pub fn to_metadata(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_else(|_| serde_json::json!({}))
    }

    /// Reads a metadata value; unknown members are ignored (§12.2.4), a
    /// non-object or wrongly typed member is not understood.
    pub fn from_metadata(value: &serde_json::Value) -> Option<Self> {
        let object = value.as_object()?;
        let list = |name: &str| -> Option<Vec<String>> {
            match object.get(name) {
                None => Some(Vec::new()),
                Some(v) => v
                    .as_array()?
                    .iter()
                    .map(|s| s.as_str().map(str::to_owned))
                    .collect(),
            }
        };
        Some(Self {
            key_storage: list("key_storage")?,
            user_authentication: list("user_authentication")?,
        })
    }

    /// Start-up check: lists, when given, hold non-empty distinct strings.
    pub fn check(&self) -> Result<(), String> {
        for (name, list) in [
            ("key_storage", &self.key_storage),
            ("user_authentication", &self.user_authentication),
        ] {
            let mut seen = std::collections::BTreeSet::new();
            if list
                .iter()
                .any(|v| v.is_empty() || !seen.insert(v.as_str()))
            {
                return Err(format!(
                    "key_attestations_required.{name} has an empty or repeated value"
                ));
            }
        }
        Ok(())
    }
}

/// Claims of a key attestation JWT (OID4VCI App. D.1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyAttestationClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Public JWKs, in the order the wallet gave them (the proof key first).
    pub attested_keys: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_storage: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_authentication: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certification: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<serde_json::Value>,
}

/// What the issuer expects of one key attestation.
#[derive(Debug, Clone)]
pub struct KeyAttestationExpectations<'a> {
    pub now: UnixTime,
    /// Tolerated clock skew (ISS-SEC-04).
    pub max_skew: i64,
    /// `exp` is mandatory when the attestation rides in a `jwt` proof (App. D.1).
    pub exp_required: bool,
    /// A `nonce` is required (the issuer has a nonce endpoint).
    pub nonce_required: bool,
    /// The configuration's accepted values, if it lists any.
    pub required: Option<&'a KeyAttestationsRequired>,
    /// At most this many attested keys: the batch size, 1 without batch (ISS-KATT-08).
    pub max_keys: usize,
}

fn invalid(description: &str) -> ProtocolError {
    ProtocolError::invalid_proof(description)
}

impl KeyAttestationClaims {
    /// Parses claims from a JWS payload; any shape error is `invalid_proof`.
    pub fn from_payload(payload: &[u8]) -> Result<Self, ProtocolError> {
        serde_json::from_slice(payload).map_err(|_| {
            invalid("the key attestation lacks iat or attested_keys or has wrong claim types")
        })
    }

    /// ISS-KATT-04, -06, -08 and nonce presence. Returns the nonce, which the
    /// caller compares and consumes (ISS-KATT-05).
    pub fn validate(
        &self,
        expect: &KeyAttestationExpectations<'_>,
    ) -> Result<Option<String>, ProtocolError> {
        if self.iat > expect.now + expect.max_skew {
            return Err(invalid("the key attestation iat is in the future"));
        }
        match self.exp {
            None if expect.exp_required => {
                return Err(invalid(
                    "the key attestation has no exp (mandatory with the jwt proof type)",
                ));
            }
            Some(exp) if exp + expect.max_skew <= expect.now => {
                return Err(invalid("the key attestation has expired"));
            }
            _ => {}
        }
        if self.attested_keys.is_empty() {
            return Err(invalid("the key attestation attested_keys is empty"));
        }
        if self.attested_keys.len() > expect.max_keys {
            return Err(invalid(&format!(
                "the key attestation attests {} keys; one request gets at most {} credentials (batch size)",
                self.attested_keys.len(),
                expect.max_keys
            )));
        }
        for (name, values) in [
            ("key_storage", &self.key_storage),
            ("user_authentication", &self.user_authentication),
        ] {
            if values.as_ref().is_some_and(Vec::is_empty) {
                return Err(invalid(&format!(
                    "the key attestation {name} is an empty array"
                )));
            }
        }
        if let Some(required) = expect.required {
            for (name, accepted, claimed) in [
                ("key_storage", &required.key_storage, &self.key_storage),
                (
                    "user_authentication",
                    &required.user_authentication,
                    &self.user_authentication,
                ),
            ] {
                if accepted.is_empty() {
                    continue;
                }
                let ok = claimed
                    .iter()
                    .flatten()
                    .any(|value| accepted.contains(value));
                if !ok {
                    return Err(invalid(&format!(
                        "the key attestation {name} has no value this credential configuration accepts"
                    )));
                }
            }
        }
        if expect.nonce_required && self.nonce.as_deref().is_none_or(str::is_empty) {
            return Err(invalid("the key attestation has no nonce"));
        }
        Ok(self.nonce.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn required() -> KeyAttestationsRequired {
        KeyAttestationsRequired {
            key_storage: vec![ISO_18045_HIGH.into(), ISO_18045_MODERATE.into()],
            user_authentication: vec![],
        }
    }

    fn expect(required: Option<&KeyAttestationsRequired>) -> KeyAttestationExpectations<'_> {
        KeyAttestationExpectations {
            now: NOW,
            max_skew: 60,
            exp_required: true,
            nonce_required: true,
            required,
            max_keys: 2,
        }
    }

    fn claims() -> KeyAttestationClaims {
        KeyAttestationClaims {
            iss: Some("wp".into()),
            iat: NOW,
            exp: Some(NOW + 3600),
            attested_keys: vec![json!({"kty": "EC"})],
            key_storage: Some(vec![ISO_18045_MODERATE.into()]),
            user_authentication: Some(vec![ISO_18045_BASIC.into()]),
            certification: None,
            nonce: Some("n".into()),
            status: None,
        }
    }

    fn code(c: &KeyAttestationClaims, r: Option<&KeyAttestationsRequired>) -> Option<ErrorCode> {
        c.validate(&expect(r)).err().map(|e| e.code)
    }

    #[test]
    fn accepts_a_good_attestation() {
        let r = required();
        assert_eq!(claims().validate(&expect(Some(&r))), Ok(Some("n".into())));
    }

    #[test]
    fn rejects_each_fault_with_invalid_proof() {
        let r = required();
        let bad = Some(ErrorCode::InvalidProof);
        let mut c = claims();
        c.iat = NOW + 3600;
        assert_eq!(code(&c, None), bad);
        c = claims();
        c.exp = None;
        assert_eq!(code(&c, None), bad);
        let mut lenient = expect(None);
        lenient.exp_required = false;
        assert!(c.validate(&lenient).is_ok(), "exp optional for attestation");
        c = claims();
        c.exp = Some(NOW - 3600);
        assert_eq!(code(&c, None), bad);
        c = claims();
        c.attested_keys.clear();
        assert_eq!(code(&c, None), bad);
        c = claims();
        c.attested_keys = vec![json!({}); 3];
        assert_eq!(code(&c, None), bad);
        c = claims();
        c.key_storage = Some(vec![ISO_18045_BASIC.into()]);
        assert_eq!(code(&c, None), None, "no constraint without requirements");
        assert_eq!(code(&c, Some(&r)), bad);
        c.key_storage = None;
        assert_eq!(code(&c, Some(&r)), bad);
        c = claims();
        c.key_storage = Some(vec![]);
        assert_eq!(code(&c, None), bad);
        c = claims();
        c.nonce = None;
        assert_eq!(code(&c, None), bad);
    }

    #[test]
    fn requirements_round_trip_through_metadata() {
        let r = required();
        let value = r.to_metadata();
        assert_eq!(
            value,
            json!({"key_storage": ["iso_18045_high", "iso_18045_moderate"]})
        );
        assert_eq!(KeyAttestationsRequired::from_metadata(&value), Some(r));
        assert_eq!(KeyAttestationsRequired::default().to_metadata(), json!({}));
        assert_eq!(KeyAttestationsRequired::from_metadata(&json!([])), None);
        assert!(
            KeyAttestationsRequired {
                key_storage: vec!["a".into(), "a".into()],
                ..Default::default()
            }
            .check()
            .is_err()
        );
    }

    #[test]
    fn payload_shape_errors_are_invalid_proof() {
        assert_eq!(
            KeyAttestationClaims::from_payload(b"{\"iat\":1}")
                .err()
                .map(|e| e.code),
            Some(ErrorCode::InvalidProof)
        );
    }
}
