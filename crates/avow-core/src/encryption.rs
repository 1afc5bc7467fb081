//! Encrypted Credential Requests and Responses (OID4VCI 1.0 §8.2, §8.3, §10,
//! §12.2.4): the metadata objects, the request's `credential_response_encryption`
//! and the rules that decide between plaintext and JWE, with their exact
//! error codes. The JOSE itself lives in `avow-crypto`.

use crate::error::{ErrorCode, ProtocolError};
use crate::metadata::JwkSet;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The JWE `alg` of OID4VCI / HAIP encryption: ECDH-ES on P-256 (HAIP §5).
pub const ALG_ECDH_ES: &str = "ECDH-ES";
/// `enc` values every Avow party implements (APT VCI-CHECK-10, -11).
pub const ENC_A128GCM: &str = "A128GCM";
pub const ENC_A256GCM: &str = "A256GCM";
/// The media type of an encrypted request or response (VCI §10).
pub const MEDIA_TYPE_JWT: &str = "application/jwt";
pub const MEDIA_TYPE_JSON: &str = "application/json";
/// The request member that asks for an encrypted response (VCI §8.2).
pub const RESPONSE_ENCRYPTION_MEMBER: &str = "credential_response_encryption";

/// `credential_response_encryption` of Credential Issuer Metadata (VCI §12.2.4).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResponseEncryptionMetadata {
    pub alg_values_supported: Vec<String>,
    pub enc_values_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip_values_supported: Option<Vec<String>>,
    pub encryption_required: bool,
}

/// `credential_request_encryption` of Credential Issuer Metadata (VCI §12.2.4).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RequestEncryptionMetadata {
    /// Keys for the wallet's key agreement; each has `kid` and `alg`.
    pub jwks: JwkSet,
    pub enc_values_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip_values_supported: Option<Vec<String>>,
    pub encryption_required: bool,
}

/// `credential_response_encryption` of a Credential Request (VCI §8.2).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResponseEncryptionParameters {
    /// A single public key as a JWK, with `alg` (VCI §10).
    pub jwk: Value,
    pub enc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
}

/// An `invalid_encryption_parameters` error (VCI §8.3.1.2).
pub fn invalid_encryption_parameters(description: impl Into<String>) -> ProtocolError {
    ProtocolError::new(ErrorCode::InvalidEncryptionParameters, description)
}

impl ResponseEncryptionParameters {
    /// The `credential_response_encryption` member of a request body, if
    /// present, with its shape checked: an object with an object `jwk`, a
    /// string `enc` and an optional string `zip`.
    pub fn from_request(request: &Value) -> Result<Option<Self>, ProtocolError> {
        let Some(value) = request.get(RESPONSE_ENCRYPTION_MEMBER) else {
            return Ok(None);
        };
        let obj = value.as_object().ok_or_else(|| {
            invalid_encryption_parameters("credential_response_encryption must be a JSON object")
        })?;
        let jwk = obj
            .get("jwk")
            .filter(|j| j.is_object())
            .cloned()
            .ok_or_else(|| {
                invalid_encryption_parameters(
                    "credential_response_encryption.jwk must be a JWK object",
                )
            })?;
        let enc = match obj.get("enc") {
            Some(Value::String(enc)) if !enc.is_empty() => enc.clone(),
            _ => {
                return Err(invalid_encryption_parameters(
                    "credential_response_encryption.enc must be a non-empty string",
                ));
            }
        };
        let zip = match obj.get("zip") {
            None => None,
            Some(Value::String(zip)) => Some(zip.clone()),
            Some(_) => {
                return Err(invalid_encryption_parameters(
                    "credential_response_encryption.zip must be a string",
                ));
            }
        };
        Ok(Some(Self { jwk, enc, zip }))
    }

    /// The `alg` member of the JWK (VCI §10: it MUST be present).
    pub fn alg(&self) -> Option<&str> {
        self.jwk.get("alg").and_then(Value::as_str)
    }

    /// The `kid` member of the JWK, to be echoed in the JWE header (VCI §10).
    pub fn kid(&self) -> Option<&str> {
        self.jwk.get("kid").and_then(Value::as_str)
    }

    /// ISS-ENC-01: `alg` in `alg_values_supported`, `enc` in
    /// `enc_values_supported`, `zip` only when listed, a public key meant for
    /// encryption. The key's curve and point are checked by the crypto layer.
    pub fn check_supported(
        &self,
        metadata: &ResponseEncryptionMetadata,
    ) -> Result<(), ProtocolError> {
        if self.jwk.get("d").is_some() {
            return Err(invalid_encryption_parameters(
                "credential_response_encryption.jwk must not contain a private key",
            ));
        }
        match self.jwk.get("kid") {
            None | Some(Value::String(_)) => {}
            Some(_) => {
                return Err(invalid_encryption_parameters(
                    "credential_response_encryption.jwk kid must be a string",
                ));
            }
        }
        match self.jwk.get("use") {
            None => {}
            Some(Value::String(u)) if u == "enc" => {}
            Some(_) => {
                return Err(invalid_encryption_parameters(
                    "credential_response_encryption.jwk use must be enc",
                ));
            }
        }
        let alg = self.alg().ok_or_else(|| {
            invalid_encryption_parameters("credential_response_encryption.jwk must carry alg")
        })?;
        if !metadata.alg_values_supported.iter().any(|a| a == alg) {
            return Err(invalid_encryption_parameters(format!(
                "credential_response_encryption.jwk alg {alg} is not supported"
            )));
        }
        if !metadata.enc_values_supported.contains(&self.enc) {
            return Err(invalid_encryption_parameters(format!(
                "credential_response_encryption.enc {} is not supported",
                self.enc
            )));
        }
        if let Some(zip) = &self.zip {
            let listed = metadata
                .zip_values_supported
                .as_ref()
                .is_some_and(|z| z.contains(zip));
            if !listed {
                return Err(invalid_encryption_parameters(format!(
                    "credential_response_encryption.zip {zip} is not supported"
                )));
            }
        }
        Ok(())
    }
}

/// How a Credential Request body arrives (VCI §8.2, §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestMediaType {
    /// `application/json`: a plaintext request.
    Json,
    /// `application/jwt`: a compact JWE whose plaintext is the JSON request.
    Jwt,
}

impl RequestMediaType {
    /// From the `Content-Type` header value (parameters ignored, case-insensitive).
    pub fn from_content_type(content_type: Option<&str>) -> Option<Self> {
        let essence = content_type?.split(';').next()?.trim();
        if essence.eq_ignore_ascii_case(MEDIA_TYPE_JSON) {
            Some(Self::Json)
        } else if essence.eq_ignore_ascii_case(MEDIA_TYPE_JWT) {
            Some(Self::Jwt)
        } else {
            None
        }
    }
}

/// What the issuer publishes, as the rules need it.
#[derive(Debug, Clone, Copy, Default)]
pub struct EncryptionPolicy<'a> {
    pub response: Option<&'a ResponseEncryptionMetadata>,
    pub request: Option<&'a RequestEncryptionMetadata>,
}

impl EncryptionPolicy<'_> {
    /// The media type rule: JSON always, JWT only when request encryption
    /// is offered; anything else is `invalid_credential_request`.
    pub fn check_media_type(
        &self,
        content_type: Option<&str>,
    ) -> Result<RequestMediaType, ProtocolError> {
        match RequestMediaType::from_content_type(content_type) {
            Some(RequestMediaType::Json) => Ok(RequestMediaType::Json),
            Some(RequestMediaType::Jwt) if self.request.is_some() => Ok(RequestMediaType::Jwt),
            Some(RequestMediaType::Jwt) => Err(ProtocolError::invalid_credential_request(
                "this issuer does not accept encrypted requests: the body must be application/json",
            )),
            None if self.request.is_some() => Err(ProtocolError::invalid_credential_request(
                "the body must be application/json or application/jwt",
            )),
            None => Err(ProtocolError::invalid_credential_request(
                "the body must be application/json",
            )),
        }
    }

    /// Rules for a plaintext request (ISS-ENC-06, -07): refused when request
    /// encryption is required, and when it is offered but the request asks
    /// for an encrypted response in the clear (VCI §8.2: the request MUST
    /// then be encrypted, so the key cannot be substituted).
    pub fn check_plaintext_request(
        &self,
        carries_response_encryption: bool,
    ) -> Result<(), ProtocolError> {
        match self.request {
            Some(r) if r.encryption_required => Err(invalid_encryption_parameters(
                "this issuer requires encrypted credential requests (application/jwt)",
            )),
            Some(_) if carries_response_encryption => Err(invalid_encryption_parameters(
                "a request carrying credential_response_encryption must itself be encrypted",
            )),
            _ => Ok(()),
        }
    }

    /// The `enc` of an encrypted request must be one we publish (ISS-ENC-05).
    pub fn check_request_enc(&self, enc: &str) -> Result<(), ProtocolError> {
        match self.request {
            Some(r) if r.enc_values_supported.iter().any(|e| e == enc) => Ok(()),
            _ => Err(invalid_encryption_parameters(format!(
                "the request enc {enc} is not supported"
            ))),
        }
    }

    /// The response rules (ISS-ENC-01, -04): parameters must be supported;
    /// none given when response encryption is required is an error.
    pub fn check_response_encryption(
        &self,
        parameters: Option<&ResponseEncryptionParameters>,
    ) -> Result<(), ProtocolError> {
        match (self.response, parameters) {
            (Some(metadata), Some(p)) => p.check_supported(metadata),
            (None, Some(_)) => Err(invalid_encryption_parameters(
                "this issuer does not support credential response encryption",
            )),
            (Some(metadata), None) if metadata.encryption_required => {
                Err(invalid_encryption_parameters(
                    "this issuer requires credential_response_encryption",
                ))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn response_metadata(required: bool) -> ResponseEncryptionMetadata {
        ResponseEncryptionMetadata {
            alg_values_supported: vec![ALG_ECDH_ES.into()],
            enc_values_supported: vec![ENC_A128GCM.into(), ENC_A256GCM.into()],
            zip_values_supported: None,
            encryption_required: required,
        }
    }

    fn request_metadata(required: bool) -> RequestEncryptionMetadata {
        RequestEncryptionMetadata {
            jwks: JwkSet::default(),
            enc_values_supported: vec![ENC_A128GCM.into(), ENC_A256GCM.into()],
            zip_values_supported: None,
            encryption_required: required,
        }
    }

    fn jwk() -> Value {
        json!({"kty":"EC","crv":"P-256","x":"x","y":"y","alg":"ECDH-ES","kid":"k"})
    }

    fn params(v: Value) -> Result<Option<ResponseEncryptionParameters>, ProtocolError> {
        ResponseEncryptionParameters::from_request(&json!({ RESPONSE_ENCRYPTION_MEMBER: v }))
    }

    fn code<T>(r: Result<T, ProtocolError>) -> Option<ErrorCode> {
        r.err().map(|e| e.code)
    }

    #[test]
    fn metadata_serializes_as_the_spec_names_it() {
        let m = serde_json::to_value(response_metadata(false)).unwrap_or_default();
        assert_eq!(
            m,
            json!({"alg_values_supported":["ECDH-ES"],"enc_values_supported":["A128GCM","A256GCM"],"encryption_required":false})
        );
        let r = serde_json::to_value(request_metadata(true)).unwrap_or_default();
        assert_eq!(r["encryption_required"], true);
        assert_eq!(r["jwks"], json!({"keys": []}));
    }

    #[test]
    fn parameter_shapes() {
        assert_eq!(
            ResponseEncryptionParameters::from_request(&json!({})),
            Ok(None)
        );
        let ok = params(json!({"jwk": jwk(), "enc": "A128GCM"}));
        assert!(matches!(ok, Ok(Some(_))));
        for bad in [
            json!("x"),
            json!({"enc": "A128GCM"}),
            json!({"jwk": "x", "enc": "A128GCM"}),
            json!({"jwk": jwk()}),
            json!({"jwk": jwk(), "enc": 1}),
            json!({"jwk": jwk(), "enc": ""}),
            json!({"jwk": jwk(), "enc": "A128GCM", "zip": 1}),
        ] {
            assert_eq!(
                code(params(bad.clone())),
                Some(ErrorCode::InvalidEncryptionParameters),
                "{bad}"
            );
        }
    }

    #[test]
    fn iss_enc_01_supported_values() {
        let m = response_metadata(false);
        let check = |v: Value| {
            params(v)
                .ok()
                .flatten()
                .map(|p| p.check_supported(&m).err().map(|e| e.code))
        };
        assert_eq!(check(json!({"jwk": jwk(), "enc": "A256GCM"})), Some(None));
        let mut no_alg = jwk();
        no_alg.as_object_mut().map(|o| o.remove("alg"));
        let mut other_alg = jwk();
        other_alg["alg"] = json!("RSA-OAEP-256");
        let mut private = jwk();
        private["d"] = json!("d");
        let mut sig = jwk();
        sig["use"] = json!("sig");
        let mut numeric_kid = jwk();
        numeric_kid["kid"] = json!(1);
        for bad in [
            json!({"jwk": no_alg, "enc": "A128GCM"}),
            json!({"jwk": other_alg, "enc": "A128GCM"}),
            json!({"jwk": private, "enc": "A128GCM"}),
            json!({"jwk": sig, "enc": "A128GCM"}),
            json!({"jwk": numeric_kid, "enc": "A128GCM"}),
            json!({"jwk": jwk(), "enc": "A192GCM"}),
            json!({"jwk": jwk(), "enc": "A128GCM", "zip": "DEF"}),
        ] {
            assert_eq!(
                check(bad.clone()),
                Some(Some(ErrorCode::InvalidEncryptionParameters)),
                "{bad}"
            );
        }
    }

    #[test]
    fn media_types() {
        let offered = request_metadata(false);
        let on = EncryptionPolicy {
            response: None,
            request: Some(&offered),
        };
        let off = EncryptionPolicy::default();
        assert_eq!(
            on.check_media_type(Some("application/json; charset=utf-8")),
            Ok(RequestMediaType::Json)
        );
        assert_eq!(
            on.check_media_type(Some("Application/JWT")),
            Ok(RequestMediaType::Jwt)
        );
        for policy in [on, off] {
            for bad in [None, Some("text/plain"), Some("application/jose")] {
                assert_eq!(
                    code(policy.check_media_type(bad)),
                    Some(ErrorCode::InvalidCredentialRequest)
                );
            }
        }
        assert_eq!(
            code(off.check_media_type(Some("application/jwt"))),
            Some(ErrorCode::InvalidCredentialRequest)
        );
    }

    #[test]
    fn iss_enc_04_06_07_rules() {
        let (optional, required) = (request_metadata(false), request_metadata(true));
        let (resp_optional, resp_required) = (response_metadata(false), response_metadata(true));
        let offered = EncryptionPolicy {
            response: Some(&resp_optional),
            request: Some(&optional),
        };
        let forced = EncryptionPolicy {
            response: Some(&resp_required),
            request: Some(&required),
        };
        let none = EncryptionPolicy::default();
        let bad = Some(ErrorCode::InvalidEncryptionParameters);
        assert_eq!(offered.check_plaintext_request(false), Ok(()));
        assert_eq!(code(offered.check_plaintext_request(true)), bad);
        assert_eq!(code(forced.check_plaintext_request(false)), bad);
        assert_eq!(none.check_plaintext_request(true), Ok(()));
        assert_eq!(offered.check_response_encryption(None), Ok(()));
        assert_eq!(code(forced.check_response_encryption(None)), bad);
        let p = params(json!({"jwk": jwk(), "enc": "A128GCM"}))
            .ok()
            .flatten();
        assert_eq!(forced.check_response_encryption(p.as_ref()), Ok(()));
        assert_eq!(code(none.check_response_encryption(p.as_ref())), bad);
        assert_eq!(offered.check_request_enc("A256GCM"), Ok(()));
        assert_eq!(code(offered.check_request_enc("A192GCM")), bad);
        assert_eq!(code(none.check_request_enc("A128GCM")), bad);
    }
}
