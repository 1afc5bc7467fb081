//! Disclosures (RFC 9901 §4.2.1, §4.2.2) and their digests (§4.2.3).

use crate::error::FormatError;
use avow_crypto::{b64, hash};
use serde_json::Value;
use std::fmt;

/// Claim names a Disclosure may never carry (RFC 9901 §4.2.1; §7.1 step 3.3.2.2).
pub(crate) fn reserved_name(name: &str) -> Option<&'static str> {
    match name {
        "_sd" => Some("_sd"),
        "..." => Some("..."),
        _ => None,
    }
}

/// One Disclosure: salt, claim name (absent for an array element) and value,
/// kept together with the exact base64url text it was created from or
/// received as, because the digest covers that text and not the JSON
/// (RFC 9901 §4.2.1, §4.2.3).
///
/// `Debug` shows only the claim name and the digest: salts and values are
/// what selective disclosure protects.
#[derive(Clone, PartialEq, Eq)]
pub struct Disclosure {
    salt: String,
    name: Option<String>,
    value: Value,
    encoded: String,
    digest: String,
}

impl fmt::Debug for Disclosure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Disclosure")
            .field("name", &self.name)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

impl Disclosure {
    /// A Disclosure for an object property: `[salt, name, value]` (RFC 9901 §4.2.1).
    pub fn new_property(
        salt: impl Into<String>,
        name: impl Into<String>,
        value: Value,
    ) -> Result<Self, FormatError> {
        let name = name.into();
        if let Some(reserved) = reserved_name(&name) {
            return Err(FormatError::ReservedClaimName(reserved));
        }
        let salt = salt.into();
        let json = Value::Array(vec![
            Value::String(salt.clone()),
            Value::String(name.clone()),
            value.clone(),
        ]);
        Ok(Self::assemble(salt, Some(name), value, &json))
    }

    /// A Disclosure for an array element: `[salt, value]` (RFC 9901 §4.2.2).
    pub fn new_element(salt: impl Into<String>, value: Value) -> Self {
        let salt = salt.into();
        let json = Value::Array(vec![Value::String(salt.clone()), value.clone()]);
        Self::assemble(salt, None, value, &json)
    }

    fn assemble(salt: String, name: Option<String>, value: Value, json: &Value) -> Self {
        // serde_json writes UTF-8 without insignificant whitespace; any
        // variant would do, since the digest is over the encoding (§4.2.1).
        let encoded = b64::encode(json.to_string());
        let digest = hash::sha256_b64(encoded.as_bytes());
        Self {
            salt,
            name,
            value,
            encoded,
            digest,
        }
    }

    /// Parses a received Disclosure, keeping its text as is.
    pub fn parse(encoded: &str) -> Result<Self, FormatError> {
        if encoded.is_empty() {
            return Err(FormatError::MalformedDisclosure("empty"));
        }
        let bytes =
            b64::decode(encoded).map_err(|_| FormatError::MalformedDisclosure("not base64url"))?;
        let json: Value = serde_json::from_slice(&bytes)
            .map_err(|_| FormatError::MalformedDisclosure("not UTF-8 JSON"))?;
        let Value::Array(items) = json else {
            return Err(FormatError::MalformedDisclosure("not a JSON array"));
        };
        let mut items = items.into_iter();
        let (salt, name, value) = match (items.next(), items.next(), items.next(), items.next()) {
            (Some(salt), Some(value), None, None) => (salt, None, value),
            (Some(salt), Some(name), Some(value), None) => (salt, Some(name), value),
            _ => {
                return Err(FormatError::MalformedDisclosure(
                    "not an array of two or three elements",
                ));
            }
        };
        let Value::String(salt) = salt else {
            return Err(FormatError::MalformedDisclosure("the salt is not a string"));
        };
        let name = match name {
            None => None,
            Some(Value::String(name)) => {
                if let Some(reserved) = reserved_name(&name) {
                    return Err(FormatError::ReservedClaimName(reserved));
                }
                Some(name)
            }
            Some(_) => {
                return Err(FormatError::MalformedDisclosure(
                    "the claim name is not a string",
                ));
            }
        };
        Ok(Self {
            salt,
            name,
            value,
            encoded: encoded.to_owned(),
            digest: hash::sha256_b64(encoded.as_bytes()),
        })
    }

    /// The base64url Disclosure as it appears between `~` separators.
    pub fn encoded(&self) -> &str {
        &self.encoded
    }

    /// `base64url(SHA-256(ascii(encoded)))` (RFC 9901 §4.2.3).
    pub fn digest(&self) -> String {
        self.digest.clone()
    }

    pub(crate) fn digest_str(&self) -> &str {
        &self.digest
    }

    /// The claim name; `None` for an array element.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The disclosed value (which may itself hold digests, §4.2.6).
    pub fn value(&self) -> &Value {
        &self.value
    }

    pub fn salt(&self) -> &str {
        &self.salt
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc9901_family_name_example() {
        // RFC 9901 §4.2.1 and §4.2.3.
        let d = Disclosure::parse(
            "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.salt(), "_26bc4LT-ac6q2KI6cBW5es");
        assert_eq!(d.name(), Some("family_name"));
        assert_eq!(d.value(), &json!("Möbius"));
        assert_eq!(d.digest(), "X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0");
    }

    #[test]
    fn rfc9901_encoding_variants_carry_the_same_claim() {
        // RFC 9901 §4.2.1: \u escape, no whitespace, newlines.
        for v in [
            "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNXHUwMGY2Yml1cyJd",
            "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsImZhbWlseV9uYW1lIiwiTcO2Yml1cyJd",
            "WwoiXzI2YmM0TFQtYWM2cTJLSTZjQlc1ZXMiLAoiZmFtaWx5X25hbWUiLAoiTcO2Yml1cyIKXQ",
        ] {
            let d = Disclosure::parse(v).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(d.name(), Some("family_name"));
            assert_eq!(d.value(), &json!("Möbius"));
            assert_ne!(d.digest(), "X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0");
        }
    }

    #[test]
    fn rfc9901_array_element_examples() {
        // RFC 9901 §4.2.2 and §4.2.4.2.
        let d = Disclosure::parse("WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIkZSIl0")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.name(), None);
        assert_eq!(d.salt(), "lklxF5jMYlGTPUovMNIvCA");
        assert_eq!(d.value(), &json!("FR"));
        assert_eq!(d.digest(), "w0I8EKcdCtUPkGCNUrfwVp2xEgNjtoIDlOxc9-PlOhs");
        // RFC 9901 §4.2.6: our compact encoding reproduces the published digests.
        for (salt, value, digest) in [
            (
                "16_mAd0GiwaZokU26_0i0h",
                "DE",
                "PmnlrRjhLcwf8zTDdK15HVGwHtPYjddvD362WjBLwro",
            ),
            (
                "fn9fN0rD-fFs2n303ZI-0c",
                "FR",
                "r823HFN6Ba_lpSANYtXqqCBAH-TsQlIzfOK0lRAFLCM",
            ),
            (
                "YIKesqOkXXNzMQtsX_-_lw",
                "UK",
                "nP5GYjwhFm6ESlAeC4NCaIliW4tz0hTrUeoJB3lb5TA",
            ),
        ] {
            assert_eq!(Disclosure::new_element(salt, json!(value)).digest(), digest);
        }
    }

    #[test]
    fn created_disclosures_parse_back() {
        let d = Disclosure::new_property("salt", "given_name", json!({"a": [1, "ü"]}))
            .unwrap_or_else(|e| panic!("{e}"));
        let p = Disclosure::parse(d.encoded()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p, d);
        assert!(!format!("{d:?}").contains("salt\""));
        assert!(!format!("{d:?}").contains('ü'));
    }

    #[test]
    fn malformed_disclosures_are_refused() {
        let enc = |v: Value| b64::encode(v.to_string());
        for bad in [
            String::new(),
            "!!".into(),
            b64::encode("not json"),
            enc(json!({"a": 1})),
            enc(json!(["only salt"])),
            enc(json!(["s", "n", "v", "extra"])),
            enc(json!([1, "n", "v"])),
            enc(json!(["s", 1, "v"])),
            enc(json!(["s", "_sd", "v"])),
            enc(json!(["s", "...", "v"])),
        ] {
            assert!(Disclosure::parse(&bad).is_err(), "{bad}");
        }
        assert_eq!(
            Disclosure::new_property("s", "_sd", json!(1)),
            Err(FormatError::ReservedClaimName("_sd"))
        );
    }
}
