//! Credential request and response encryption (VCI-CHECK-10, -11), IUT
//! mode: the runner asks for an encrypted response with exactly the `enc`
//! under test, encrypts the request to the issuer's key when the issuer
//! offers request encryption (VCI §8.2), and decrypts with its ephemeral key
//! through avow-wallet's encryption plan.

use super::{Iut, Tx, expect_error, probe};
use crate::error::ConformanceError;
use crate::http::{Body, Request, Response};
use crate::report::Assertion;
use avow_core::credential::CredentialResponse;
use avow_crypto::jwe::{ContentEncryption, JweOptions, encrypt_compact};
use avow_crypto::{EcPublicJwk, Signer, SoftwareSigner};
use avow_wallet::encryption::RequestEncryption;
use serde_json::{Map, Value, json};

fn primary(iut: &Iut) -> Result<String, ConformanceError> {
    iut.primary_configuration().ok_or_else(|| {
        ConformanceError::Config(
            "the issuer metadata has no SD-JWT VC configuration (pass --configuration)".into(),
        )
    })
}

fn listed(iut: &Iut, member: &str, enc: ContentEncryption) -> bool {
    iut.metadata_json
        .pointer(&format!("/{member}/enc_values_supported"))
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|v| v == enc.name()))
}

/// The protected header of a compact JWE/JWS.
fn protected_header(text: &str) -> Option<Map<String, Value>> {
    let first = text.trim().split('.').next()?;
    serde_json::from_slice(&avow_crypto::b64::decode(first).ok()?).ok()
}

fn fetched(response: &Response) -> avow_wallet::client::Fetched {
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in &response.headers {
        if let (Ok(name), Ok(value)) = (
            reqwest::header::HeaderName::from_bytes(k.as_bytes()),
            reqwest::header::HeaderValue::from_str(v),
        ) {
            headers.append(name, value);
        }
    }
    avow_wallet::client::Fetched {
        status: response.status,
        headers,
        body: response.body.clone(),
    }
}

/// What an encrypted issuance showed.
pub struct EncryptedIssuance {
    pub response: Response,
    pub request_encrypted: bool,
    pub header: Option<Map<String, Value>>,
    pub decoded: Result<CredentialResponse, String>,
}

impl Tx<'_> {
    /// Nonce, proof, and a credential request asking for a response encrypted with `enc`.
    pub async fn issue_encrypted(
        &self,
        holder: &SoftwareSigner,
        enc: ContentEncryption,
    ) -> Result<EncryptedIssuance, ConformanceError> {
        let plan = RequestEncryption::plan(&self.iut.metadata, Some(enc), false)?;
        if plan.response_enc() != Some(enc) {
            return Err(ConformanceError::unexpected(format!(
                "the issuer does not list {} for responses",
                enc.name()
            )));
        }
        let nonce = self.c_nonce().await?;
        let proof = self.proof(holder, &nonce).await?;
        let (content_type, bytes) = plan.encode(self.request_body(json!({ "jwt": [proof] })))?;
        let token = self.token()?;
        let url = self.iut.metadata.credential_endpoint.clone();
        let label = format!("credential request, response encrypted with {}", enc.name());
        let request = Request::post(
            &url,
            Body::Raw {
                content_type: content_type.to_owned(),
                bytes,
            },
        );
        let response = self
            .send_dpop(&label, request, Some(&token), &super::Auth::None)
            .await?;
        let header = (response.content_type() == Some("application/jwt"))
            .then(|| protected_header(&response.text()))
            .flatten();
        let decoded = if response.status == 200 {
            plan.decode_response(&fetched(&response))
                .map_err(|e| e.to_string())
        } else {
            Err(response.describe())
        };
        Ok(EncryptedIssuance {
            response,
            request_encrypted: plan.encrypts_request(),
            header,
            decoded,
        })
    }
}

/// An encrypted issuance with `enc`: JWE header, decryption, a credential bound to the key.
pub async fn encrypted_response(iut: &Iut, enc: ContentEncryption, name: &str) -> Assertion {
    let expected = format!(
        "200 application/jwt; JWE header enc {}, alg ECDH-ES, kid of the runner key; decrypts to a credential bound to the proven key",
        enc.name()
    );
    if !listed(iut, "credential_response_encryption", enc) {
        return Assertion::fail(
            name,
            &expected,
            format!(
                "credential_response_encryption does not list {}",
                enc.name()
            ),
        );
    }
    probe(name, &expected, |rec| {
        let expected = expected.clone();
        async move {
            let configuration = primary(iut)?;
            let tx = iut.token_tx(&rec, &configuration).await?;
            let holder = SoftwareSigner::generate()?;
            let issued = tx.issue_encrypted(&holder, enc).await?;
            let mut problems = Vec::new();
            if issued.response.status != 200 {
                problems.push(issued.response.describe());
            }
            if issued.response.content_type() != Some("application/jwt") {
                problems.push(format!(
                    "Content-Type {}",
                    issued.response.content_type().unwrap_or("-")
                ));
            }
            let h = issued.header.clone().unwrap_or_default();
            if h.get("enc").and_then(Value::as_str) != Some(enc.name()) {
                problems.push(format!("JWE enc {}", h.get("enc").unwrap_or(&Value::Null)));
            }
            if !h
                .get("alg")
                .and_then(Value::as_str)
                .is_some_and(|a| a.starts_with("ECDH-ES"))
            {
                problems.push(format!("JWE alg {}", h.get("alg").unwrap_or(&Value::Null)));
            }
            match &issued.decoded {
                Ok(response) => {
                    let credential = response
                        .credentials
                        .as_ref()
                        .and_then(|c| c.first())
                        .and_then(|c| c.credential.as_str())
                        .map(str::to_owned);
                    match credential {
                        Some(c)
                            if super::proofs::holder_key_of(&c).as_ref()
                                == Some(holder.public_jwk()) => {}
                        Some(_) => {
                            problems.push("the credential is not bound to the proven key".into())
                        }
                        None => problems.push("the decrypted response has no credential".into()),
                    }
                }
                Err(e) if issued.response.status == 200 => {
                    problems.push(format!("decryption: {e}"))
                }
                Err(_) => {}
            }
            let observed = if problems.is_empty() {
                format!(
                    "decrypted; JWE alg {}, enc {}; request {}",
                    h.get("alg").and_then(Value::as_str).unwrap_or("-"),
                    enc.name(),
                    if issued.request_encrypted {
                        "encrypted"
                    } else {
                        "plain"
                    }
                )
            } else {
                problems.join("; ")
            };
            Ok(Assertion::check(
                problems.is_empty(),
                name,
                &expected,
                observed,
            ))
        }
    })
    .await
}

/// CONF-C10-02: A128GCM-encrypted credential response.
pub async fn c10_02(iut: &Iut) -> Vec<Assertion> {
    vec![
        encrypted_response(
            iut,
            ContentEncryption::A128Gcm,
            "credential response encrypted with A128GCM",
        )
        .await,
    ]
}

/// CONF-C10-03: a request encrypted with A128GCM to the issuer's key is accepted.
pub async fn c10_03(iut: &Iut) -> Vec<Assertion> {
    let name = "credential request encrypted with A128GCM";
    if !listed(
        iut,
        "credential_request_encryption",
        ContentEncryption::A128Gcm,
    ) {
        return vec![Assertion::fail(
            name,
            "credential_request_encryption lists A128GCM",
            "it does not",
        )];
    }
    if !listed(
        iut,
        "credential_response_encryption",
        ContentEncryption::A128Gcm,
    ) {
        return vec![Assertion::fail(
            name,
            "credential_response_encryption lists A128GCM",
            "it does not",
        )];
    }
    vec![
        probe(name, "HTTP 200 to an encrypted request", |rec| async move {
            let configuration = primary(iut)?;
            let tx = iut.token_tx(&rec, &configuration).await?;
            let issued = tx
                .issue_encrypted(&SoftwareSigner::generate()?, ContentEncryption::A128Gcm)
                .await?;
            if !issued.request_encrypted {
                return Ok(Assertion::fail(
                    name,
                    "an encrypted request",
                    "the runner could not encrypt to the issuer's key",
                ));
            }
            Ok(Assertion::check(
                issued.response.status == 200 && issued.decoded.is_ok(),
                name,
                "HTTP 200 to an encrypted request",
                issued
                    .decoded
                    .err()
                    .unwrap_or_else(|| issued.response.describe()),
            ))
        })
        .await,
    ]
}

/// The issuer's request-encryption key (P-256, ECDH-ES, with a kid).
fn request_key(iut: &Iut) -> Option<(EcPublicJwk, String)> {
    iut.metadata_json
        .pointer("/credential_request_encryption/jwks/keys")
        .and_then(Value::as_array)?
        .iter()
        .find_map(|k| {
            if k.get("alg").and_then(Value::as_str) != Some("ECDH-ES") {
                return None;
            }
            let kid = k.get("kid")?.as_str()?.to_owned();
            Some((EcPublicJwk::from_json(k).ok()?, kid))
        })
}

/// CONF-C10-04: an unsupported `enc` → 400 invalid_encryption_parameters, unencrypted.
pub async fn c10_04(iut: &Iut) -> Vec<Assertion> {
    let name = "response encryption with an unsupported enc (A192GCM)";
    vec![
        probe(
            name,
            "HTTP 400 invalid_encryption_parameters, application/json",
            |rec| async move {
                let configuration = primary(iut)?;
                let tx = iut.token_tx(&rec, &configuration).await?;
                let holder = SoftwareSigner::generate()?;
                let nonce = tx.c_nonce().await?;
                let proof = tx.proof(&holder, &nonce).await?;
                let wallet_key = SoftwareSigner::generate()?;
                let jwk = wallet_key.public_jwk().to_json_with(&[
                    ("kid", "conformance-response-key"),
                    ("use", "enc"),
                    ("alg", "ECDH-ES"),
                ]);
                let mut body = tx.request_body(json!({ "jwt": [proof] }));
                body["credential_response_encryption"] = json!({ "jwk": jwk, "enc": "A192GCM" });
                let json = serde_json::to_vec(&body)
                    .map_err(|e| ConformanceError::unexpected(e.to_string()))?;
                let request_enc = [ContentEncryption::A128Gcm, ContentEncryption::A256Gcm]
                    .into_iter()
                    .find(|e| listed(iut, "credential_request_encryption", *e))
                    .unwrap_or(ContentEncryption::A128Gcm);
                let request_body = match request_key(iut) {
                    Some((key, kid)) => {
                        let options = JweOptions {
                            kid: Some(&kid),
                            ..JweOptions::default()
                        };
                        let jwe = encrypt_compact(&key, request_enc, &options, &json)?;
                        Body::Raw {
                            content_type: "application/jwt".into(),
                            bytes: jwe.into_bytes(),
                        }
                    }
                    None => Body::Json(body),
                };
                let token = tx.access_token.clone().unwrap_or_default();
                let url = iut.metadata.credential_endpoint.clone();
                let response = tx
                    .send_dpop(
                        "credential request: unsupported response enc",
                        Request::post(&url, request_body),
                        Some(&token),
                        &super::Auth::None,
                    )
                    .await?;
                let a = expect_error(
                    name,
                    &response,
                    400,
                    &["invalid_encryption_parameters"],
                    &[],
                );
                if a.status == crate::report::Status::Pass
                    && response.content_type() != Some("application/json")
                {
                    return Ok(Assertion::fail(
                        name,
                        "the error sent unencrypted (application/json)",
                        format!("Content-Type {}", response.content_type().unwrap_or("-")),
                    ));
                }
                Ok(a)
            },
        )
        .await,
    ]
}

/// CONF-C11-01: CONF-C10-01 … -03 with A256GCM.
pub async fn c11_01(iut: &Iut) -> Vec<Assertion> {
    let encs: Vec<&str> = iut
        .metadata_json
        .pointer("/credential_response_encryption/enc_values_supported")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    vec![
        Assertion::check(
            encs.contains(&"A256GCM"),
            "enc_values_supported",
            "contains A256GCM",
            format!("{encs:?}"),
        ),
        encrypted_response(
            iut,
            ContentEncryption::A256Gcm,
            "credential response encrypted with A256GCM",
        )
        .await,
    ]
}
