//! Encrypted Credential Requests and Responses (OID4VCI §8.2, §8.3, §10;
//! ISS-ENC, ISS-META-12, -13, -17): the `[encryption]` configuration, the
//! issuer's request-decryption key, the published metadata objects, the
//! request decoder and the response encoder of the Credential Endpoint.
//!
//! Errors are never encrypted (ISS-CRED-12): only [`encode_response`] encrypts,
//! and only success bodies go through it.

use crate::config::{ConfigError, IssuerConfig};
use crate::error::ApiError;
use crate::keys::{KeyError, write_private};
use crate::server::StartError;
use avow_core::ProtocolError;
use avow_core::credential::CredentialRequest;
use avow_core::encryption::{
    ALG_ECDH_ES, ENC_A128GCM, ENC_A256GCM, EncryptionPolicy, MEDIA_TYPE_JWT,
    RequestEncryptionMetadata, RequestMediaType, ResponseEncryptionMetadata,
    ResponseEncryptionParameters, invalid_encryption_parameters,
};
use avow_core::metadata::JwkSet;
use avow_crypto::ecdh::EcdhPrivateKey;
use avow_crypto::jwe::{CompactJwe, ContentEncryption, JweOptions, encrypt_compact};
use avow_crypto::{CryptoError, EcPublicJwk, pem};
use axum::Json;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `[encryption]`: credential request and response encryption. Every key is
/// documented in the README ("Issuer configuration").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EncryptionConfig {
    /// Offer encrypted Credential Responses and, with them, encrypted
    /// Credential Requests (VCI §8.2 wants the request encrypted whenever the
    /// response is; ISS-META-17). Default: true.
    pub enabled: bool,
    /// `credential_response_encryption.encryption_required`. Default: false.
    pub response_required: bool,
    /// `credential_request_encryption.encryption_required`. Default: false.
    pub request_required: bool,
    /// `enc_values_supported` of both objects: `A128GCM` and/or `A256GCM`.
    pub enc_values_supported: Vec<String>,
    /// PKCS#8 (PEM or DER) P-256 private key that decrypts requests. Required
    /// outside dev mode when enabled; in dev mode a key is generated once
    /// under `data_dir/dev-pki/request-encryption.key` when unset.
    pub request_key: Option<PathBuf>,
}

impl Default for EncryptionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            response_required: false,
            request_required: false,
            enc_values_supported: vec![ENC_A128GCM.into(), ENC_A256GCM.into()],
            request_key: None,
        }
    }
}

impl EncryptionConfig {
    /// ISS-META-12 (VCI §12.2.4; APT §5, §7.1): `enc_values_supported`
    /// includes both `A128GCM` and `A256GCM`.
    pub fn offers_both_enc(&self) -> bool {
        [ENC_A128GCM, ENC_A256GCM]
            .iter()
            .all(|enc| self.enc_values_supported.iter().any(|e| e == enc))
    }

    /// Start-up checks; `dev_mode` allows a generated request key and an
    /// `enc_values_supported` narrowed to one value (ISS-META-12 wants both
    /// `A128GCM` and `A256GCM`; the conformance runner's reference issuers
    /// deliberately offer one each, in dev_mode, and start-up warns).
    pub fn validate(&self, dev_mode: bool) -> Result<(), String> {
        if !self.enabled {
            if self.response_required || self.request_required {
                return Err(
                    "encryption.response_required and request_required need encryption.enabled"
                        .into(),
                );
            }
            return Ok(());
        }
        if self.enc_values_supported.is_empty() {
            return Err("encryption.enc_values_supported must not be empty".into());
        }
        for (i, enc) in self.enc_values_supported.iter().enumerate() {
            if ContentEncryption::from_name(enc).is_none() {
                return Err(format!(
                    "encryption.enc_values_supported: {enc} is not supported (A128GCM, A256GCM)"
                ));
            }
            if self.enc_values_supported[..i].contains(enc) {
                return Err(format!(
                    "encryption.enc_values_supported: {enc} is repeated"
                ));
            }
        }
        if !dev_mode && !self.offers_both_enc() {
            return Err(format!(
                "encryption.enc_values_supported must list both {ENC_A128GCM} and {ENC_A256GCM} outside dev_mode (VCI 12.2.4, APT 7.1, ISS-META-12); narrowing it to one value is for interop testing in dev_mode only"
            ));
        }
        if self.request_key.is_none() && !dev_mode {
            return Err(
                "encryption.request_key is required outside dev_mode (or set encryption.enabled = false)"
                    .into(),
            );
        }
        Ok(())
    }
}

/// The file name of the generated development request-decryption key.
pub const DEV_REQUEST_KEY: &str = "request-encryption.key";

/// The issuer's request-decryption key with its published `kid`.
struct RequestKey {
    private: EcdhPrivateKey,
    kid: String,
}

/// What the Credential Endpoint needs to decrypt requests and encrypt responses.
pub struct CredentialEncryption {
    key: Option<RequestKey>,
    response: Option<ResponseEncryptionMetadata>,
    request: Option<RequestEncryptionMetadata>,
}

impl std::fmt::Debug for CredentialEncryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialEncryption")
            .field("kid", &self.key.as_ref().map(|k| k.kid.as_str()))
            .field("response", &self.response)
            .finish_non_exhaustive()
    }
}

impl CredentialEncryption {
    /// Nothing offered: plaintext requests and responses only.
    pub fn disabled() -> Self {
        Self {
            key: None,
            response: None,
            request: None,
        }
    }

    /// From `[encryption]`: validates it, then loads the configured key or,
    /// in dev mode without one, generates (once) a development key.
    pub fn load(config: &IssuerConfig) -> Result<Self, StartError> {
        let section = &config.encryption;
        section
            .validate(config.server.dev_mode)
            .map_err(|m| StartError::Config(ConfigError::Invalid(m)))?;
        if !section.enabled {
            return Ok(Self::disabled());
        }
        if !section.offers_both_enc() {
            tracing::warn!(
                enc_values_supported = ?section.enc_values_supported,
                "DEVELOPMENT: encryption.enc_values_supported lacks A128GCM or A256GCM (ISS-META-12); refused outside dev_mode"
            );
        }
        let private = match &section.request_key {
            Some(path) => load_key(path)?,
            None => dev_key(&config.storage.data_dir.join("dev-pki"))?,
        };
        Ok(Self::new(private, section))
    }

    /// Encryption offered with `private` as the request-decryption key.
    pub fn new(private: EcdhPrivateKey, section: &EncryptionConfig) -> Self {
        let kid = private.public_jwk().thumbprint();
        let jwk = private.public_jwk().to_json_with(&[
            ("kid", &kid),
            ("use", "enc"),
            ("alg", ALG_ECDH_ES),
        ]);
        let enc = section.enc_values_supported.clone();
        Self {
            response: Some(ResponseEncryptionMetadata {
                alg_values_supported: vec![ALG_ECDH_ES.into()],
                enc_values_supported: enc.clone(),
                zip_values_supported: None,
                encryption_required: section.response_required,
            }),
            request: Some(RequestEncryptionMetadata {
                jwks: JwkSet { keys: vec![jwk] },
                enc_values_supported: enc,
                zip_values_supported: None,
                encryption_required: section.request_required,
            }),
            key: Some(RequestKey { private, kid }),
        }
    }

    /// `credential_response_encryption` of the metadata (ISS-META-12).
    pub fn response_metadata(&self) -> Option<&ResponseEncryptionMetadata> {
        self.response.as_ref()
    }

    /// `credential_request_encryption` of the metadata (ISS-META-13, -17).
    pub fn request_metadata(&self) -> Option<&RequestEncryptionMetadata> {
        self.request.as_ref()
    }

    /// The `kid` of the request-decryption key, when encryption is offered.
    pub fn request_kid(&self) -> Option<&str> {
        self.key.as_ref().map(|k| k.kid.as_str())
    }

    fn policy(&self) -> EncryptionPolicy<'_> {
        EncryptionPolicy {
            response: self.response.as_ref(),
            request: self.request.as_ref(),
        }
    }

    /// The Credential Request from its body: `application/json`, or
    /// `application/jwt` encrypted to our key (ISS-ENC-04 … -07, ISS-CRED-03).
    pub fn decode_request(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<DecodedRequest, ProtocolError> {
        let (request, response_encryption, encrypted) =
            self.decode(headers, body, CredentialRequest::from_json)?;
        Ok(DecodedRequest {
            request,
            response_encryption,
            encrypted,
        })
    }

    /// Any other JSON-object request body under the same media type and
    /// encryption rules as [`Self::decode_request`] — the Deferred Credential
    /// Request (VCI §9.1; ISS-DEF-03, ISS-ENC-08): the object and the
    /// response encryption *this* request asks for.
    pub fn decode_body(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<DecodedBody, ProtocolError> {
        let (value, response_encryption, encrypted) = self.decode(headers, body, |plaintext| {
            serde_json::from_slice::<serde_json::Value>(plaintext)
                .ok()
                .filter(serde_json::Value::is_object)
                .ok_or_else(|| {
                    ProtocolError::invalid_credential_request("the body is not a JSON object")
                })
        })?;
        Ok(DecodedBody {
            body: value,
            response_encryption,
            encrypted,
        })
    }

    /// The shared rules: media type, decryption, then `parse` on the
    /// plaintext, then the response-encryption parameters and policy.
    fn decode<T>(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        parse: impl FnOnce(&[u8]) -> Result<T, ProtocolError>,
    ) -> Result<(T, Option<ResponseEncryption>, bool), ProtocolError> {
        let policy = self.policy();
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let (plaintext, encrypted) = match policy.check_media_type(content_type)? {
            RequestMediaType::Json => {
                // ISS-ENC-06 before anything is read from a plaintext body.
                policy.check_plaintext_request(false)?;
                (body.to_vec(), false)
            }
            RequestMediaType::Jwt => (self.decrypt_request(body)?, true),
        };
        let parsed = parse(&plaintext)?;
        let value: serde_json::Value = serde_json::from_slice(&plaintext).map_err(|_| {
            ProtocolError::invalid_credential_request("the body is not a JSON object")
        })?;
        let parameters = ResponseEncryptionParameters::from_request(&value)?;
        if !encrypted {
            policy.check_plaintext_request(parameters.is_some())?;
        }
        policy.check_response_encryption(parameters.as_ref())?;
        let response_encryption = parameters
            .as_ref()
            .map(ResponseEncryption::from_parameters)
            .transpose()?;
        Ok((parsed, response_encryption, encrypted))
    }

    /// ISS-ENC-05: a compact JWE to our key (`kid` must match), `enc` we
    /// publish; every failure is `invalid_encryption_parameters`.
    fn decrypt_request(&self, body: &[u8]) -> Result<Vec<u8>, ProtocolError> {
        let key = self.key.as_ref().ok_or_else(|| {
            ProtocolError::invalid_credential_request("encrypted requests are not accepted")
        })?;
        let compact = std::str::from_utf8(body)
            .map(str::trim)
            .map_err(|_| invalid_encryption_parameters("the encrypted request is not a JWE"))?;
        let jwe = CompactJwe::parse(compact).map_err(|e| {
            invalid_encryption_parameters(match e {
                CryptoError::AlgorithmNotAllowed(name) => {
                    format!("the JWE algorithm {name} is not supported")
                }
                other => format!("the encrypted request is not a valid JWE: {other}"),
            })
        })?;
        if jwe.kid() != Some(key.kid.as_str()) {
            return Err(invalid_encryption_parameters(
                "the JWE kid does not name a key of credential_request_encryption.jwks",
            ));
        }
        self.policy().check_request_enc(jwe.enc().name())?;
        jwe.decrypt(&key.private)
            .map_err(|_| invalid_encryption_parameters("the request could not be decrypted"))
    }
}

/// A decoded Credential Request and how to answer it.
#[derive(Debug)]
pub struct DecodedRequest {
    pub request: CredentialRequest,
    /// Set when the wallet asked for an encrypted response.
    pub response_encryption: Option<ResponseEncryption>,
    /// Whether the request arrived encrypted.
    pub encrypted: bool,
}

/// A decoded JSON request body (see [`CredentialEncryption::decode_body`]).
#[derive(Debug)]
pub struct DecodedBody {
    pub body: serde_json::Value,
    /// Set when this request asked for an encrypted response.
    pub response_encryption: Option<ResponseEncryption>,
    /// Whether the request arrived encrypted.
    pub encrypted: bool,
}

/// The wallet's validated `credential_response_encryption` (ISS-ENC-01).
#[derive(Debug, Clone)]
pub struct ResponseEncryption {
    key: EcPublicJwk,
    kid: Option<String>,
    enc: ContentEncryption,
}

impl ResponseEncryption {
    /// The crypto-level checks after the metadata rules: an EC P-256 public
    /// key on the curve, an `enc` we implement.
    pub fn from_parameters(p: &ResponseEncryptionParameters) -> Result<Self, ProtocolError> {
        let key = EcPublicJwk::from_json(&p.jwk).map_err(|e| {
            invalid_encryption_parameters(format!("credential_response_encryption.jwk: {e}"))
        })?;
        let enc = ContentEncryption::from_name(&p.enc).ok_or_else(|| {
            invalid_encryption_parameters(format!(
                "credential_response_encryption.enc {} is not supported",
                p.enc
            ))
        })?;
        Ok(Self {
            key,
            kid: p.kid().map(str::to_owned),
            enc,
        })
    }

    pub fn enc(&self) -> ContentEncryption {
        self.enc
    }

    /// `plaintext` as a compact JWE: `alg` ECDH-ES, the requested `enc`, the
    /// key's `kid` when it has one, a fresh `epk` (VCI §10).
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<String, CryptoError> {
        let options = JweOptions {
            kid: self.kid.as_deref(),
            ..JweOptions::default()
        };
        encrypt_compact(&self.key, self.enc, &options, plaintext)
    }
}

/// A success body: JSON, or — when the request asked for it — the JSON as a
/// compact JWE with `Content-Type: application/jwt` (ISS-ENC-02). The caller
/// adds status and headers.
pub fn encode_response<T: Serialize>(
    encryption: Option<&ResponseEncryption>,
    body: &T,
) -> Result<Response, ApiError> {
    let Some(encryption) = encryption else {
        return Ok(Json(body).into_response());
    };
    let server_error = |what: &str| {
        tracing::error!(what, "encrypting the credential response failed");
        ApiError::at_resource(ProtocolError::server_error(
            "the credential response could not be encrypted",
        ))
    };
    let json = serde_json::to_vec(body).map_err(|_| server_error("serialize"))?;
    let jwe = encryption
        .encrypt(&json)
        .map_err(|_| server_error("encrypt"))?;
    Ok(([(header::CONTENT_TYPE, MEDIA_TYPE_JWT)], jwe).into_response())
}

fn io(path: &Path, e: std::io::Error) -> StartError {
    StartError::Keys(KeyError::Io(format!("{}: {e}", path.display())))
}

/// A configured request-decryption key: PKCS#8, PEM (`PRIVATE KEY`) or DER.
fn load_key(path: &Path) -> Result<EcdhPrivateKey, StartError> {
    let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
    let der = match std::str::from_utf8(&bytes) {
        Ok(text) if text.contains("-----BEGIN") => {
            pem::decode_one("PRIVATE KEY", text).map_err(KeyError::from)?
        }
        _ => bytes,
    };
    EcdhPrivateKey::from_pkcs8(&der).map_err(|e| {
        StartError::Keys(KeyError::Io(format!(
            "encryption.request_key {}: {e}",
            path.display()
        )))
    })
}

/// DEVELOPMENT ONLY: the request-decryption key under `dir`, generated on
/// first use and reused afterwards.
fn dev_key(dir: &Path) -> Result<EcdhPrivateKey, StartError> {
    let path = dir.join(DEV_REQUEST_KEY);
    if !path.exists() {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let key = EcdhPrivateKey::generate().map_err(KeyError::from)?;
        let der = key.to_pkcs8().map_err(KeyError::from)?;
        write_private(&path, &pem::encode("PRIVATE KEY", &der))?;
        tracing::warn!(
            path = %path.display(),
            "generated a DEVELOPMENT credential request encryption key: configure encryption.request_key in production"
        );
    }
    load_key(&path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_rules() {
        let ok = EncryptionConfig::default();
        assert_eq!(ok.validate(true), Ok(()));
        assert!(ok.validate(false).is_err(), "a key is needed in production");
        let with_key = EncryptionConfig {
            request_key: Some("k.pem".into()),
            ..EncryptionConfig::default()
        };
        assert_eq!(with_key.validate(false), Ok(()));
        for enc in [
            vec![],
            vec!["A192GCM".to_owned()],
            vec!["A128GCM".into(); 2],
        ] {
            let bad = EncryptionConfig {
                enc_values_supported: enc,
                ..EncryptionConfig::default()
            };
            assert!(bad.validate(true).is_err());
        }
        let off = EncryptionConfig {
            enabled: false,
            ..EncryptionConfig::default()
        };
        assert_eq!(off.validate(false), Ok(()));
        // ISS-META-12: both A128GCM and A256GCM outside dev_mode; one is
        // allowed in dev_mode (the conformance runner's reference issuers).
        for enc in [ENC_A128GCM, ENC_A256GCM] {
            let narrowed = EncryptionConfig {
                enc_values_supported: vec![enc.to_owned()],
                ..with_key.clone()
            };
            assert!(!narrowed.offers_both_enc());
            assert_eq!(narrowed.validate(true), Ok(()), "{enc} in dev_mode");
            let e = narrowed.validate(false).err().unwrap_or_default();
            assert!(e.contains("ISS-META-12"), "{enc}: {e}");
        }
        let reordered = EncryptionConfig {
            enc_values_supported: vec![ENC_A256GCM.into(), ENC_A128GCM.into()],
            ..with_key.clone()
        };
        assert_eq!(reordered.validate(false), Ok(()));
        let contradictory = EncryptionConfig {
            enabled: false,
            response_required: true,
            ..EncryptionConfig::default()
        };
        assert!(contradictory.validate(true).is_err());
    }

    #[test]
    fn published_key_has_kid_and_alg() {
        let key = EcdhPrivateKey::generate().unwrap_or_else(|_| unreachable!());
        let thumbprint = key.public_jwk().thumbprint();
        let e = CredentialEncryption::new(key, &EncryptionConfig::default());
        let jwks = e.request_metadata().map(|r| r.jwks.keys.clone());
        let jwk = jwks.and_then(|k| k.into_iter().next()).unwrap_or_default();
        assert_eq!(jwk["kid"], thumbprint.as_str());
        assert_eq!(jwk["alg"], "ECDH-ES");
        assert!(jwk.get("d").is_none());
        assert_eq!(e.request_kid(), Some(thumbprint.as_str()));
        assert!(
            e.response_metadata()
                .is_some_and(|r| !r.encryption_required)
        );
    }
}
