//! Credential request and response encryption, wallet side (OID4VCI §8.2,
//! §10; WAL-CRED-08 … -10, -12): a fresh ephemeral P-256 key per request for
//! the response, the issuer's published key for the request.

use crate::client::Fetched;
use crate::error::WalletError;
use avow_core::credential::CredentialResponse;
use avow_core::encryption::{
    ALG_ECDH_ES, MEDIA_TYPE_JSON, MEDIA_TYPE_JWT, RESPONSE_ENCRYPTION_MEMBER,
};
use avow_core::metadata::CredentialIssuerMetadata;
use avow_crypto::EcPublicJwk;
use avow_crypto::ecdh::EcdhPrivateKey;
use avow_crypto::jwe::{CompactJwe, JweOptions, encrypt_compact};
use serde_json::Value;

/// A JWE content encryption algorithm: `A128GCM` or `A256GCM`.
pub use avow_crypto::jwe::ContentEncryption as Enc;

/// The `enc` to use from an issuer's list: the preferred one when listed,
/// otherwise `A256GCM`, then `A128GCM` (HAIP §5: SHOULD prefer A256GCM).
pub fn choose_enc(supported: &[String], preferred: Option<Enc>) -> Option<Enc> {
    let listed = |e: Enc| supported.iter().any(|s| s == e.name());
    preferred
        .filter(|p| listed(*p))
        .or_else(|| Enc::ALL.into_iter().find(|e| listed(*e)))
}

/// The wallet's ephemeral response key (WAL-CRED-08).
struct ResponseKey {
    key: EcdhPrivateKey,
    kid: String,
    enc: Enc,
}

/// The issuer key a request is encrypted to (WAL-CRED-09).
struct IssuerKey {
    key: EcPublicJwk,
    kid: String,
    enc: Enc,
}

/// The encryption of one Credential Request and its response.
pub struct RequestEncryption {
    response: Option<ResponseKey>,
    request: Option<IssuerKey>,
}

impl std::fmt::Debug for RequestEncryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestEncryption")
            .field("response_enc", &self.response.as_ref().map(|r| r.enc))
            .field("request_enc", &self.request.as_ref().map(|r| r.enc))
            .finish()
    }
}

impl RequestEncryption {
    /// Decides for one request. Responses are encrypted when the issuer
    /// requires it, when the wallet's `preference` asks for it, or when
    /// `force` is set (the retry after `invalid_encryption_parameters`,
    /// WAL-CRED-11); the request is encrypted whenever the issuer requires
    /// it, and whenever the response is encrypted and the issuer offers it
    /// (VCI §8.2: so the response key cannot be substituted).
    pub fn plan(
        metadata: &CredentialIssuerMetadata,
        preference: Option<Enc>,
        force: bool,
    ) -> Result<Self, WalletError> {
        let response_metadata = metadata.credential_response_encryption.as_ref();
        let wants_response = preference.is_some()
            || force
            || response_metadata.is_some_and(|r| r.encryption_required);
        let response = if wants_response {
            let m = response_metadata.ok_or_else(|| {
                WalletError::Metadata(
                    "the wallet asks for encrypted credential responses and the issuer offers none"
                        .into(),
                )
            })?;
            if !m.alg_values_supported.iter().any(|a| a == ALG_ECDH_ES) {
                return Err(WalletError::Metadata(
                    "the issuer does not offer ECDH-ES for credential responses".into(),
                ));
            }
            let enc = choose_enc(&m.enc_values_supported, preference).ok_or_else(|| {
                WalletError::Metadata(
                    "the issuer offers no response enc this wallet supports (A128GCM, A256GCM)"
                        .into(),
                )
            })?;
            let key = EcdhPrivateKey::generate()?;
            let kid = key.public_jwk().thumbprint();
            Some(ResponseKey { key, kid, enc })
        } else {
            None
        };
        let request = match &metadata.credential_request_encryption {
            Some(m) if m.encryption_required || response.is_some() => {
                let (key, kid) =
                    m.jwks
                        .keys
                        .iter()
                        .find_map(usable_issuer_key)
                        .ok_or_else(|| {
                            WalletError::Metadata(
                            "credential_request_encryption.jwks has no P-256 ECDH-ES key with a kid"
                                .into(),
                        )
                        })?;
                let enc = choose_enc(&m.enc_values_supported, preference).ok_or_else(|| {
                    WalletError::Metadata(
                        "the issuer offers no request enc this wallet supports (A128GCM, A256GCM)"
                            .into(),
                    )
                })?;
                Some(IssuerKey { key, kid, enc })
            }
            _ => None,
        };
        Ok(Self { response, request })
    }

    /// Whether the response was asked to be encrypted.
    pub fn encrypts_response(&self) -> bool {
        self.response.is_some()
    }

    /// Whether the request is sent encrypted.
    pub fn encrypts_request(&self) -> bool {
        self.request.is_some()
    }

    /// The `enc` asked for the response, if any.
    pub fn response_enc(&self) -> Option<Enc> {
        self.response.as_ref().map(|r| r.enc)
    }

    /// The body to send: `credential_response_encryption` added when the
    /// response is to be encrypted, then the JSON either as is
    /// (`application/json`) or as a compact JWE (`application/jwt`).
    pub fn encode(&self, mut body: Value) -> Result<(&'static str, Vec<u8>), WalletError> {
        if let Some(r) = &self.response {
            let jwk = r.key.public_jwk().to_json_with(&[
                ("kid", &r.kid),
                ("use", "enc"),
                ("alg", ALG_ECDH_ES),
            ]);
            let object = body.as_object_mut().ok_or_else(|| {
                WalletError::UnexpectedResponse("a credential request is a JSON object".into())
            })?;
            object.insert(
                RESPONSE_ENCRYPTION_MEMBER.into(),
                serde_json::json!({ "jwk": jwk, "enc": r.enc.name() }),
            );
        }
        let json = serde_json::to_vec(&body)
            .map_err(|e| WalletError::UnexpectedResponse(e.to_string()))?;
        match &self.request {
            None => Ok((MEDIA_TYPE_JSON, json)),
            Some(issuer) => {
                let options = JweOptions {
                    kid: Some(&issuer.kid),
                    ..JweOptions::default()
                };
                let jwe = encrypt_compact(&issuer.key, issuer.enc, &options, &json)?;
                Ok((MEDIA_TYPE_JWT, jwe.into_bytes()))
            }
        }
    }

    /// A success response: decrypted with the ephemeral key when encryption
    /// was asked, which then is mandatory (WAL-CRED-10); plain JSON otherwise.
    pub fn decode_response(&self, fetched: &Fetched) -> Result<CredentialResponse, WalletError> {
        let encrypted = fetched
            .content_type()
            .is_some_and(|c| c.eq_ignore_ascii_case(MEDIA_TYPE_JWT));
        match (&self.response, encrypted) {
            (None, false) => fetched.json(),
            (None, true) => Err(WalletError::UnexpectedResponse(
                "the issuer encrypted a response the wallet did not ask to encrypt".into(),
            )),
            (Some(_), false) => Err(WalletError::UnexpectedResponse(
                "the wallet asked for an encrypted credential response and got an unencrypted one"
                    .into(),
            )),
            (Some(r), true) => {
                let text = std::str::from_utf8(&fetched.body).map_err(|_| {
                    WalletError::UnexpectedResponse("the encrypted response is not a JWE".into())
                })?;
                let jwe = CompactJwe::parse(text.trim())?;
                if jwe.enc() != r.enc {
                    return Err(WalletError::UnexpectedResponse(format!(
                        "the response is encrypted with {} instead of {}",
                        jwe.enc(),
                        r.enc
                    )));
                }
                if jwe.kid() != Some(r.kid.as_str()) {
                    return Err(WalletError::UnexpectedResponse(
                        "the encrypted response does not name the wallet's key in kid".into(),
                    ));
                }
                let plaintext = jwe.decrypt(&r.key)?;
                serde_json::from_slice(&plaintext).map_err(|e| {
                    WalletError::UnexpectedResponse(format!(
                        "the decrypted response is not a credential response: {e}"
                    ))
                })
            }
        }
    }
}

/// A key of `credential_request_encryption.jwks` the wallet can use: EC
/// P-256, `alg` ECDH-ES, a `kid`, not marked for signing.
fn usable_issuer_key(jwk: &Value) -> Option<(EcPublicJwk, String)> {
    if jwk.get("alg").and_then(Value::as_str) != Some(ALG_ECDH_ES) {
        return None;
    }
    if jwk.get("use").is_some_and(|u| u != "enc") {
        return None;
    }
    let kid = jwk.get("kid").and_then(Value::as_str)?.to_owned();
    Some((EcPublicJwk::from_json(jwk).ok()?, kid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn metadata(
        issuer_key: &EcdhPrivateKey,
        enc: &[&str],
        response_required: bool,
        request_required: bool,
    ) -> CredentialIssuerMetadata {
        let jwk = issuer_key
            .public_jwk()
            .to_json_with(&[("kid", "issuer-1"), ("alg", "ECDH-ES")]);
        // From JSON, as a wallet reads it (and independent of unrelated members).
        serde_json::from_value(json!({
            "credential_issuer": "https://issuer.example",
            "credential_endpoint": "https://issuer.example/credential",
            "credential_configurations_supported": {},
            "credential_request_encryption": {
                "jwks": { "keys": [jwk] },
                "enc_values_supported": enc,
                "encryption_required": request_required,
            },
            "credential_response_encryption": {
                "alg_values_supported": ["ECDH-ES"],
                "enc_values_supported": enc,
                "encryption_required": response_required,
            },
        }))
        .unwrap_or_else(|e| panic!("metadata: {e}"))
    }

    fn fetched(content_type: &str, body: &[u8]) -> Fetched {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Ok(v) = reqwest::header::HeaderValue::from_str(content_type) {
            headers.insert(reqwest::header::CONTENT_TYPE, v);
        }
        Fetched {
            status: 200,
            headers,
            body: body.to_vec(),
        }
    }

    #[test]
    fn enc_choice_prefers_the_wallet_then_a256gcm() {
        let both = vec!["A128GCM".to_owned(), "A256GCM".to_owned()];
        assert_eq!(choose_enc(&both, None), Some(Enc::A256Gcm));
        assert_eq!(choose_enc(&both, Some(Enc::A128Gcm)), Some(Enc::A128Gcm));
        let only128 = vec!["A128GCM".to_owned()];
        assert_eq!(choose_enc(&only128, Some(Enc::A256Gcm)), Some(Enc::A128Gcm));
        assert_eq!(choose_enc(&["A192GCM".to_owned()], None), None);
    }

    #[test]
    fn wal_cred_08_09_plans() {
        let issuer = EcdhPrivateKey::generate().unwrap_or_else(|_| unreachable!());
        let optional = metadata(&issuer, &["A128GCM", "A256GCM"], false, false);
        let plain = RequestEncryption::plan(&optional, None, false);
        assert!(
            plain
                .as_ref()
                .is_ok_and(|p| !p.encrypts_response() && !p.encrypts_request())
        );
        let asked = RequestEncryption::plan(&optional, Some(Enc::A128Gcm), false);
        assert!(
            asked
                .as_ref()
                .is_ok_and(|p| p.encrypts_response() && p.encrypts_request())
        );
        assert_eq!(
            asked.ok().and_then(|p| p.response_enc()),
            Some(Enc::A128Gcm)
        );
        let required = metadata(&issuer, &["A128GCM"], true, false);
        let p = RequestEncryption::plan(&required, None, false);
        assert!(
            p.as_ref()
                .is_ok_and(|p| p.encrypts_response() && p.encrypts_request())
        );
        assert_eq!(p.ok().and_then(|p| p.response_enc()), Some(Enc::A128Gcm));
        let request_only = metadata(&issuer, &["A256GCM"], false, true);
        let p = RequestEncryption::plan(&request_only, None, false);
        assert!(p.is_ok_and(|p| !p.encrypts_response() && p.encrypts_request()));
        let mut none = optional.clone();
        none.credential_response_encryption = None;
        none.credential_request_encryption = None;
        assert!(RequestEncryption::plan(&none, Some(Enc::A256Gcm), false).is_err());
    }

    #[test]
    fn wal_cred_10_12_round_trip_and_refusals() {
        let issuer = EcdhPrivateKey::generate().unwrap_or_else(|_| unreachable!());
        for enc in Enc::ALL {
            let m = metadata(&issuer, &[enc.name()], true, false);
            let plan = RequestEncryption::plan(&m, None, false).unwrap_or_else(|_| unreachable!());
            let (content_type, body) = plan
                .encode(json!({"credential_configuration_id": "pid"}))
                .unwrap_or_default();
            assert_eq!(content_type, "application/jwt");
            // What the issuer sees: kid, enc and the wallet's parameters.
            let jwe = CompactJwe::parse(std::str::from_utf8(&body).unwrap_or_default())
                .unwrap_or_else(|_| unreachable!());
            assert_eq!((jwe.kid(), jwe.enc()), (Some("issuer-1"), enc));
            let request: Value = serde_json::from_slice(&jwe.decrypt(&issuer).unwrap_or_default())
                .unwrap_or_default();
            let params = &request["credential_response_encryption"];
            assert_eq!(params["enc"], enc.name());
            assert_eq!(params["jwk"]["alg"], "ECDH-ES");
            assert!(params["jwk"]["kid"].is_string() && params["jwk"].get("d").is_none());
            // The issuer's answer, encrypted to the ephemeral key.
            let wallet_key =
                EcPublicJwk::from_json(&params["jwk"]).unwrap_or_else(|_| unreachable!());
            let kid = params["jwk"]["kid"].as_str().unwrap_or_default();
            let answer = br#"{"credentials":[{"credential":"x"}]}"#;
            let encrypt = |kid: Option<&str>, e: Enc| {
                let options = JweOptions {
                    kid,
                    ..JweOptions::default()
                };
                encrypt_compact(&wallet_key, e, &options, answer).unwrap_or_default()
            };
            let ok = encrypt(Some(kid), enc);
            let response = plan.decode_response(&fetched("application/jwt", ok.as_bytes()));
            assert!(response.is_ok_and(|r| r.credentials.is_some_and(|c| c.len() == 1)));
            // WAL-CRED-10: plaintext success when encryption was asked.
            assert!(
                plan.decode_response(&fetched("application/json", answer))
                    .is_err()
            );
            let other = if enc == Enc::A128Gcm {
                Enc::A256Gcm
            } else {
                Enc::A128Gcm
            };
            for bad in [
                encrypt(None, enc),
                encrypt(Some("x"), enc),
                encrypt(Some(kid), other),
            ] {
                assert!(
                    plan.decode_response(&fetched("application/jwt", bad.as_bytes()))
                        .is_err()
                );
            }
        }
        let plain = RequestEncryption {
            response: None,
            request: None,
        };
        assert!(
            plain
                .decode_response(&fetched("application/jwt", b"a.b.c.d.e"))
                .is_err()
        );
        assert!(
            plain
                .decode_response(&fetched("application/json", b"{}"))
                .is_ok()
        );
    }
}
