//! Holder proof validation (VCI-CHECK-06), IUT mode: every probe is a real
//! attack on a fresh transaction.

use super::{Iut, expect_error, first_credential, forge, now, probe, sign};
use crate::error::ConformanceError;
use crate::report::Assertion;
use avow_crypto::{Signer, SoftwareSigner};
use serde_json::{Map, Value, json};

fn primary(iut: &Iut) -> Result<String, ConformanceError> {
    iut.primary_configuration().ok_or_else(|| {
        ConformanceError::Config(
            "the issuer metadata has no SD-JWT VC configuration (pass --configuration)".into(),
        )
    })
}

/// How a bad proof is made from a good one.
#[derive(Debug, Clone, Copy)]
enum Fault {
    BadSignature,
    WrongTyp,
    AlgNone,
    AlgHs256,
    AlgUnsupported,
    NoKeyHeader,
    PrivateJwk,
    WrongAudience,
    IatFuture,
    IatPast,
    WrongIss,
}

const FAULTS: [(Fault, &str); 11] = [
    (Fault::BadSignature, "signature by another key"),
    (Fault::WrongTyp, "typ is JWT, not openid4vci-proof+jwt"),
    (Fault::AlgNone, "alg none"),
    (Fault::AlgHs256, "alg HS256"),
    (
        Fault::AlgUnsupported,
        "alg outside proof_signing_alg_values_supported",
    ),
    (Fault::NoKeyHeader, "no key in the header"),
    (Fault::PrivateJwk, "jwk with the private member d"),
    (Fault::WrongAudience, "aud is another issuer"),
    (Fault::IatFuture, "iat one hour in the future"),
    (Fault::IatPast, "iat one hour in the past"),
    (Fault::WrongIss, "iss is not the authenticated client_id"),
];

async fn faulty_proof(
    fault: Fault,
    holder: &SoftwareSigner,
    mut header: Map<String, Value>,
    mut claims: Map<String, Value>,
    supported: &[String],
) -> Result<String, ConformanceError> {
    match fault {
        Fault::BadSignature => {
            let good = sign(holder, header, &claims).await?;
            let other = SoftwareSigner::generate()?;
            let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
            let signature = other.sign(b"something else").await?;
            if let Some(last) = parts.last_mut() {
                *last = avow_crypto::b64::encode(signature);
            }
            return Ok(parts.join("."));
        }
        Fault::WrongTyp => {
            header.insert("typ".into(), json!("JWT"));
        }
        Fault::AlgNone => {
            header.insert("alg".into(), json!("none"));
            return Ok(forge(&header, &claims, b""));
        }
        Fault::AlgHs256 => {
            header.insert("alg".into(), json!("HS256"));
            return Ok(forge(&header, &claims, &[7u8; 32]));
        }
        Fault::AlgUnsupported => {
            let alg = ["ES512", "ES384", "EdDSA", "RS256"]
                .into_iter()
                .find(|a| !supported.iter().any(|s| s == a))
                .unwrap_or("ES512");
            header.insert("alg".into(), json!(alg));
            let good = sign(holder, Map::new(), &claims).await?;
            let signature = good.rsplit('.').next().unwrap_or_default();
            let enc = |v: &Map<String, Value>| {
                avow_crypto::b64::encode(serde_json::to_vec(v).unwrap_or_default())
            };
            return Ok(format!("{}.{}.{signature}", enc(&header), enc(&claims)));
        }
        Fault::NoKeyHeader => {
            header.remove("jwk");
        }
        Fault::PrivateJwk => {
            if let Some(jwk) = header.get_mut("jwk").and_then(Value::as_object_mut) {
                jwk.insert("d".into(), json!(avow_crypto::b64::encode([3u8; 32])));
            }
        }
        Fault::WrongAudience => {
            claims.insert(
                "aud".into(),
                json!("https://another-issuer.conformance.avow.dev"),
            );
        }
        Fault::IatFuture => {
            claims.insert("iat".into(), json!(now() + 3600));
        }
        Fault::IatPast => {
            claims.insert("iat".into(), json!(now() - 3600));
        }
        Fault::WrongIss => {
            claims.insert(
                "iss".into(),
                json!("https://another-wallet.conformance.avow.dev"),
            );
        }
    }
    sign(holder, header, &claims).await
}

/// CONF-C06-01: faulty proofs → 400 invalid_proof.
pub async fn c06_01(iut: &Iut) -> Vec<Assertion> {
    let mut out = Vec::new();
    for (fault, what) in FAULTS {
        if matches!(fault, Fault::WrongIss) && !iut.supports_attestation() {
            out.push(Assertion::not_applicable(what, "the client is not authenticated (no attest_jwt_client_auth), so the proof has no iss to compare"));
            continue;
        }
        out.push(
            probe(what, "HTTP 400 invalid_proof", |rec| async move {
                let configuration = primary(iut)?;
                let tx = iut.token_tx(&rec, &configuration).await?;
                let supported: Vec<String> = iut
                    .metadata
                    .credential_configurations_supported
                    .get(&configuration)
                    .and_then(|c| c.proof_types_supported.get("jwt"))
                    .map(|p| p.proof_signing_alg_values_supported.clone())
                    .unwrap_or_default();
                let holder = SoftwareSigner::generate()?;
                let nonce = tx.c_nonce().await?;
                let (header, claims) = tx.proof_parts(&holder, Some(&nonce));
                let proof = faulty_proof(fault, &holder, header, claims, &supported).await?;
                let response = tx
                    .credential(
                        &format!("credential request: {what}"),
                        tx.request_body(json!({ "jwt": [proof] })),
                    )
                    .await?;
                Ok(expect_error(what, &response, 400, &["invalid_proof"], &[]))
            })
            .await,
        );
    }
    out
}

/// CONF-C06-02: nonce rules.
pub async fn c06_02(iut: &Iut) -> Vec<Assertion> {
    let mut out = Vec::new();
    out.push(
        probe(
            "proof without nonce",
            "HTTP 400 invalid_proof",
            |rec| async move {
                let configuration = primary(iut)?;
                let tx = iut.token_tx(&rec, &configuration).await?;
                let holder = SoftwareSigner::generate()?;
                let (header, claims) = tx.proof_parts(&holder, None);
                let proof = sign(&holder, header, &claims).await?;
                let response = tx
                    .credential(
                        "credential request: proof without nonce",
                        tx.request_body(json!({ "jwt": [proof] })),
                    )
                    .await?;
                Ok(expect_error(
                    "proof without nonce",
                    &response,
                    400,
                    &["invalid_proof"],
                    &["invalid_nonce"],
                ))
            },
        )
        .await,
    );
    out.push(
        probe(
            "unknown c_nonce",
            "HTTP 400 invalid_nonce",
            |rec| async move {
                let configuration = primary(iut)?;
                let tx = iut.token_tx(&rec, &configuration).await?;
                let holder = SoftwareSigner::generate()?;
                let made_up = avow_crypto::Random::token(&avow_crypto::SystemRandom, 32);
                let proof = tx.proof(&holder, &made_up).await?;
                let response = tx
                    .credential(
                        "credential request: unknown c_nonce",
                        tx.request_body(json!({ "jwt": [proof] })),
                    )
                    .await?;
                Ok(expect_error(
                    "unknown c_nonce",
                    &response,
                    400,
                    &["invalid_nonce"],
                    &[],
                ))
            },
        )
        .await,
    );
    out.push(
        probe(
            "c_nonce used twice",
            "the second use: HTTP 400 invalid_nonce",
            |rec| async move {
                let configuration = primary(iut)?;
                let first = iut.token_tx(&rec, &configuration).await?;
                let nonce = first.c_nonce().await?;
                let proof = first.proof(&SoftwareSigner::generate()?, &nonce).await?;
                let response = first
                    .credential(
                        "credential request (first use of the c_nonce)",
                        first.request_body(json!({ "jwt": [proof] })),
                    )
                    .await?;
                if response.status != 200 {
                    return Ok(Assertion::fail(
                        "c_nonce used twice",
                        "the first use accepted",
                        response.describe(),
                    ));
                }
                let second = iut.token_tx(&rec, &configuration).await?;
                let proof = second.proof(&SoftwareSigner::generate()?, &nonce).await?;
                let response = second
                    .credential(
                        "credential request: replayed c_nonce",
                        second.request_body(json!({ "jwt": [proof] })),
                    )
                    .await?;
                Ok(expect_error(
                    "c_nonce used twice",
                    &response,
                    400,
                    &["invalid_nonce"],
                    &[],
                ))
            },
        )
        .await,
    );
    out.push(match iut.options.expiry_wait {
        None => Iut::missing(
            "expired c_nonce",
            "needs --expiry-wait SECONDS ≥ the IUT's c_nonce lifetime (plus its clock skew)",
        ),
        Some(wait) => {
            probe(
                "expired c_nonce",
                "HTTP 400 invalid_nonce",
                |rec| async move {
                    let configuration = primary(iut)?;
                    let tx = iut.token_tx(&rec, &configuration).await?;
                    let nonce = tx.c_nonce().await?;
                    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
                    // A fresh token: the first one may have expired meanwhile.
                    let fresh = iut.token_tx(&rec, &configuration).await?;
                    let proof = fresh.proof(&SoftwareSigner::generate()?, &nonce).await?;
                    let response = fresh
                        .credential(
                            "credential request: expired c_nonce",
                            fresh.request_body(json!({ "jwt": [proof] })),
                        )
                        .await?;
                    Ok(
                        expect_error("expired c_nonce", &response, 400, &["invalid_nonce"], &[])
                            .with_note(format!("the proof used a c_nonce {wait} s old")),
                    )
                },
            )
            .await
        }
    });
    out
}

/// CONF-C06-03: the credential is bound to the proven key.
pub async fn c06_03(iut: &Iut) -> Vec<Assertion> {
    let expected = "HTTP 200 and a credential whose cnf.jwk is the proven key";
    vec![
        probe("holder binding", expected, |rec| async move {
            let configuration = primary(iut)?;
            let tx = iut.token_tx(&rec, &configuration).await?;
            let holder = SoftwareSigner::generate()?;
            let (response, credential) = tx.issue(&holder).await?;
            let Some(credential) = credential else {
                return Ok(Assertion::fail(
                    "holder binding",
                    expected,
                    response.describe(),
                ));
            };
            let bound = holder_key_of(&credential);
            Ok(Assertion::check(
                bound.as_ref() == Some(holder.public_jwk()),
                "holder binding",
                expected,
                match bound {
                    Some(k) if &k == holder.public_jwk() => "cnf.jwk is the proven key".to_owned(),
                    Some(_) => "cnf.jwk is another key".to_owned(),
                    None => "no cnf.jwk in the credential".to_owned(),
                },
            ))
        })
        .await,
    ]
}

/// The `cnf.jwk` of an SD-JWT VC (never disclosable, so read from the payload).
pub fn holder_key_of(credential: &str) -> Option<avow_crypto::EcPublicJwk> {
    let sd = avow_formats::sd_jwt_vc::peek(credential).ok()?;
    let payload = sd.unverified_payload().ok()?;
    avow_crypto::EcPublicJwk::from_json(payload.get("cnf")?.get("jwk")?).ok()
}

/// Is the response a credential at all (helper for cases)?
pub fn issued(response: &crate::http::Response) -> bool {
    first_credential(response).is_some()
}
