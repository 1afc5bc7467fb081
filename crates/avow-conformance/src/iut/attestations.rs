//! Key attestations (VCI-CHECK-06A: CONF-C06A-01 … -03) and mdoc issuance
//! (VCI-CHECK-08: CONF-C08-01, -02), IUT mode. The runner's wallet provider
//! mints the key attestations (WUAs), good and faulty; every probe runs on a
//! fresh transaction.

use super::{Iut, Tx, expect_error, first_credential, now, probe, sign};
use crate::error::ConformanceError;
use crate::pki::{WalletProviderPki, WuaSpec};
use crate::report::Assertion;
use avow_core::key_attestation::{
    ISO_18045_HIGH, KEY_ATTESTATION_HEADER, KeyAttestationsRequired, PROOF_TYPE_ATTESTATION,
    PROOF_TYPE_JWT,
};
use avow_crypto::{EcPublicJwk, Signer, SoftwareSigner};
use serde_json::{Value, json};

pub const FORMAT_MDOC: &str = "mso_mdoc";

/// Configurations whose `jwt` proof type has `key_attestations_required`.
pub fn jwt_wua_configuration(iut: &Iut) -> Option<String> {
    let configurations = &iut.metadata.credential_configurations_supported;
    let fits = |id: &String| {
        configurations
            .get(id)
            .and_then(|c| c.proof_types_supported.get(PROOF_TYPE_JWT))
            .is_some_and(|p| p.key_attestations_required.is_some())
    };
    iut.primary_configuration()
        .filter(fits)
        .or_else(|| configurations.keys().find(|id| fits(id)).cloned())
}

/// A configuration accepting the `attestation` proof type (an mdoc one when `mdoc`).
pub fn attestation_configuration(iut: &Iut, mdoc: bool) -> Option<String> {
    iut.metadata
        .credential_configurations_supported
        .iter()
        .filter(|(_, c)| !mdoc || c.format == FORMAT_MDOC)
        .find(|(_, c)| c.proof_types_supported.contains_key(PROOF_TYPE_ATTESTATION))
        .map(|(id, _)| id.clone())
}

pub fn mdoc_configuration(iut: &Iut) -> Option<String> {
    iut.metadata
        .credential_configurations_supported
        .iter()
        .find(|(_, c)| c.format == FORMAT_MDOC)
        .map(|(id, _)| id.clone())
}

/// The configuration's accepted levels (either proof type's `key_attestations_required`).
fn required(iut: &Iut, configuration: &str) -> KeyAttestationsRequired {
    iut.metadata
        .credential_configurations_supported
        .get(configuration)
        .and_then(|c| {
            c.proof_types_supported
                .values()
                .find_map(|p| p.key_attestations_required.as_ref())
        })
        .and_then(KeyAttestationsRequired::from_metadata)
        .unwrap_or_default()
}

pub(crate) fn batch_size(iut: &Iut) -> usize {
    iut.metadata
        .batch_credential_issuance
        .as_ref()
        .and_then(|b| usize::try_from(b.batch_size).ok())
        .unwrap_or(1)
        .max(1)
}

/// A good WUA of `keys` with `nonce`, at levels the configuration accepts.
fn wua_spec(iut: &Iut, configuration: &str, keys: &[SoftwareSigner], nonce: &str) -> WuaSpec {
    let required = required(iut, configuration);
    let level = |accepted: &[String]| {
        vec![
            accepted
                .first()
                .cloned()
                .unwrap_or_else(|| ISO_18045_HIGH.to_owned()),
        ]
    };
    WalletProviderPki::good_wua(
        keys.iter().map(|k| k.public_jwk().clone()).collect(),
        Some(nonce.to_owned()),
        level(&required.key_storage),
        level(&required.user_authentication),
        now(),
    )
}

/// A `jwt` proof signed by `signer` with `wua` in its `key_attestation`
/// header instead of `jwk` (VCI App. F.1, C-19).
async fn attested_proof(
    tx: &Tx<'_>,
    signer: &SoftwareSigner,
    wua: &str,
    nonce: &str,
) -> Result<String, ConformanceError> {
    let (mut header, claims) = tx.proof_parts(signer, Some(nonce));
    header.remove("jwk");
    header.insert(KEY_ATTESTATION_HEADER.into(), Value::String(wua.to_owned()));
    sign(signer, header, &claims).await
}

fn keys(n: usize) -> Result<Vec<SoftwareSigner>, ConformanceError> {
    (0..n)
        .map(|_| SoftwareSigner::generate().map_err(ConformanceError::from))
        .collect()
}

/// The holder key a credential is bound to: `cnf.jwk` or the mdoc `deviceKey`.
pub(crate) fn bound_key(credential: &str, mdoc: bool) -> Option<EcPublicJwk> {
    if mdoc {
        avow_formats::mdoc::parse(credential)
            .ok()
            .map(|p| p.device_key().clone())
    } else {
        super::proofs::holder_key_of(credential)
    }
}

pub(crate) fn credentials(response: &crate::http::Response) -> Vec<String> {
    if response.status != 200 {
        return Vec::new();
    }
    response
        .json()
        .and_then(|v| v.get("credentials").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|c| {
            c.get("credential")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

fn is_mdoc(iut: &Iut, configuration: &str) -> bool {
    iut.metadata
        .credential_configurations_supported
        .get(configuration)
        .is_some_and(|c| c.format == FORMAT_MDOC)
}

// ---------------------------------------------------------------- CONF-C06A-01

/// CONF-C06A-01: a plain `jwt` proof where a key attestation is required → 400 invalid_proof.
pub async fn c06a_01(iut: &Iut) -> Vec<Assertion> {
    let name = "jwt proof without key_attestation";
    let Some(configuration) = jwt_wua_configuration(iut) else {
        return vec![Assertion::not_applicable(
            name,
            "no configuration's jwt proof type has key_attestations_required",
        )];
    };
    vec![
        probe(name, "HTTP 400 invalid_proof", |rec| async move {
            let tx = iut.token_tx(&rec, &configuration).await?;
            let (response, _) = tx.issue_plain(&SoftwareSigner::generate()?).await?;
            Ok(
                expect_error(name, &response, 400, &["invalid_proof"], &[]).with_note(format!(
                    "{configuration}: proof_types_supported.jwt.key_attestations_required is set"
                )),
            )
        })
        .await,
    ]
}

// ---------------------------------------------------------------- CONF-C06A-02

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WuaFault {
    Untrusted,
    NoExp,
    Expired,
    WrongTyp,
    SignedBySecond,
    NonceMismatch,
    KeyStorage,
    TwoAttestations,
}

const WUA_FAULTS: [(WuaFault, &str); 8] = [
    (WuaFault::Untrusted, "WUA from an untrusted wallet provider"),
    (WuaFault::NoExp, "WUA without exp"),
    (WuaFault::Expired, "expired WUA"),
    (
        WuaFault::WrongTyp,
        "WUA typ is JWT, not key-attestation+jwt",
    ),
    (
        WuaFault::SignedBySecond,
        "proof signed by attested_keys[1], not the first",
    ),
    (WuaFault::NonceMismatch, "WUA nonce is not the c_nonce"),
    (
        WuaFault::KeyStorage,
        "key_storage not among the accepted values",
    ),
    (
        WuaFault::TwoAttestations,
        "two elements in proofs.attestation",
    ),
];

/// CONF-C06A-02: faulty key attestations are rejected.
pub async fn c06a_02(iut: &Iut) -> Vec<Assertion> {
    let jwt = jwt_wua_configuration(iut);
    let attestation = attestation_configuration(iut, false);
    let mut out = Vec::new();
    for (fault, what) in WUA_FAULTS {
        // The path: jwt + key_attestation where the fault is about the jwt
        // proof (or exp, mandatory there, App. D.1), else proofs.attestation.
        let use_jwt = match fault {
            WuaFault::SignedBySecond | WuaFault::NoExp => true,
            WuaFault::TwoAttestations => false,
            _ => jwt.is_some(),
        };
        let configuration = if use_jwt {
            jwt.clone()
        } else {
            attestation.clone()
        };
        let Some(configuration) = configuration else {
            out.push(Assertion::not_applicable(
                what,
                if use_jwt {
                    "no configuration's jwt proof type has key_attestations_required"
                } else {
                    "no configuration supports the attestation proof type"
                },
            ));
            continue;
        };
        if fault == WuaFault::KeyStorage && required(iut, &configuration).key_storage.is_empty() {
            out.push(Assertion::not_applicable(
                what,
                format!("{configuration}: key_attestations_required lists no key_storage values"),
            ));
            continue;
        }
        let (code, expected) = if fault == WuaFault::NonceMismatch {
            ("invalid_nonce", "HTTP 400 invalid_nonce")
        } else {
            ("invalid_proof", "HTTP 400 invalid_proof")
        };
        out.push(
            probe(what, expected, |rec| async move {
                let tx = iut.token_tx(&rec, &configuration).await?;
                let nonce = tx.c_nonce().await?;
                let n = if fault == WuaFault::SignedBySecond {
                    2
                } else {
                    1
                };
                let holders = keys(n)?;
                let mut spec = wua_spec(iut, &configuration, &holders, &nonce);
                match fault {
                    WuaFault::Untrusted => spec.untrusted = true,
                    WuaFault::NoExp => spec.exp = None,
                    WuaFault::Expired => {
                        spec.iat = now() - 7200;
                        spec.exp = Some(now() - 3600);
                    }
                    WuaFault::WrongTyp => spec.typ = "JWT".into(),
                    WuaFault::NonceMismatch => {
                        spec.nonce =
                            Some(avow_crypto::Random::token(&avow_crypto::SystemRandom, 32))
                    }
                    WuaFault::KeyStorage => spec.key_storage = vec!["not-a-level".into()],
                    WuaFault::SignedBySecond | WuaFault::TwoAttestations => {}
                }
                let wua = iut.pki.issue_wua(&spec).await?;
                let proofs = if use_jwt {
                    let signer = &holders[if fault == WuaFault::SignedBySecond {
                        1
                    } else {
                        0
                    }];
                    json!({ "jwt": [attested_proof(&tx, signer, &wua, &nonce).await?] })
                } else if fault == WuaFault::TwoAttestations {
                    let other = keys(1)?;
                    let second = iut
                        .pki
                        .issue_wua(&wua_spec(iut, &configuration, &other, &nonce))
                        .await?;
                    json!({ "attestation": [wua, second] })
                } else {
                    json!({ "attestation": [wua] })
                };
                let response = tx
                    .credential(
                        &format!("credential request: {what}"),
                        tx.request_body(proofs),
                    )
                    .await?;
                Ok(
                    expect_error(what, &response, 400, &[code], &[]).with_note(format!(
                        "{configuration}, proofs.{}",
                        if use_jwt {
                            "jwt + key_attestation"
                        } else {
                            "attestation"
                        }
                    )),
                )
            })
            .await,
        );
    }
    out
}

// ---------------------------------------------------------------- CONF-C06A-03

/// How a configuration wants its keys attested, if at all: `Some(true)`
/// for a `jwt` proof with `key_attestation`, `Some(false)` for
/// `proofs.attestation` (no `jwt` proof type), `None` for plain `jwt` proofs.
pub fn wua_path(iut: &Iut, configuration: &str) -> Option<bool> {
    let types = &iut
        .metadata
        .credential_configurations_supported
        .get(configuration)?
        .proof_types_supported;
    match types.get(PROOF_TYPE_JWT) {
        Some(jwt) => jwt.key_attestations_required.is_some().then_some(true),
        None => types.contains_key(PROOF_TYPE_ATTESTATION).then_some(false),
    }
}

/// One credential request proving `holders` with one good WUA of them.
pub async fn issue_attested_keys(
    iut: &Iut,
    tx: &Tx<'_>,
    configuration: &str,
    holders: &[SoftwareSigner],
    via_jwt: bool,
) -> Result<crate::http::Response, ConformanceError> {
    let nonce = tx.c_nonce().await?;
    let wua = iut
        .pki
        .issue_wua(&wua_spec(iut, configuration, holders, &nonce))
        .await?;
    let proofs = match holders.first() {
        Some(first) if via_jwt => {
            json!({ "jwt": [attested_proof(tx, first, &wua, &nonce).await?] })
        }
        _ => json!({ "attestation": [wua] }),
    };
    let label = if via_jwt {
        "credential request: jwt proof with key_attestation"
    } else {
        "credential request: proofs.attestation"
    };
    tx.credential(label, tx.request_body(proofs)).await
}

/// One issuance with a WUA of `n` fresh keys; the response and the keys.
pub(crate) async fn issue_attested(
    iut: &Iut,
    tx: &Tx<'_>,
    configuration: &str,
    n: usize,
    via_jwt: bool,
) -> Result<(crate::http::Response, Vec<SoftwareSigner>), ConformanceError> {
    let holders = keys(n)?;
    let response = issue_attested_keys(iut, tx, configuration, &holders, via_jwt).await?;
    Ok((response, holders))
}

/// CONF-C06A-03: a WUA of n ≤ batch_size keys yields n credentials bound to them.
pub async fn c06a_03(iut: &Iut) -> Vec<Assertion> {
    let n = batch_size(iut).min(3);
    let mut out = Vec::new();
    for via_jwt in [true, false] {
        let name = if via_jwt {
            format!("jwt + key_attestation of {n} keys")
        } else {
            format!("proofs.attestation of {n} keys")
        };
        let configuration = if via_jwt {
            jwt_wua_configuration(iut)
        } else {
            attestation_configuration(iut, false)
        };
        let Some(configuration) = configuration else {
            out.push(Assertion::not_applicable(
                &name,
                if via_jwt {
                    "no configuration's jwt proof type has key_attestations_required"
                } else {
                    "no configuration supports the attestation proof type"
                },
            ));
            continue;
        };
        let expected = format!("HTTP 200 with {n} credentials bound to the {n} attested keys");
        out.push(
            probe(&name, &expected, |rec| {
                let name = name.clone();
                let expected = expected.clone();
                async move {
                    let tx = iut.token_tx(&rec, &configuration).await?;
                    let (response, holders) =
                        issue_attested(iut, &tx, &configuration, n, via_jwt).await?;
                    let issued = credentials(&response);
                    if issued.len() != n {
                        return Ok(Assertion::fail(&name, &expected, response.describe()));
                    }
                    let mdoc = is_mdoc(iut, &configuration);
                    let bound: Vec<Option<EcPublicJwk>> =
                        issued.iter().map(|c| bound_key(c, mdoc)).collect();
                    let all = holders.iter().all(|h| {
                        bound.iter().filter(|b| b.as_ref() == Some(h.public_jwk())).count() == 1
                    });
                    Ok(Assertion::check(
                        all,
                        &name,
                        &expected,
                        format!(
                            "{} credentials of {configuration}; {} bound to a distinct attested key",
                            issued.len(),
                            if all { "each" } else { "not each" }
                        ),
                    ))
                }
            })
            .await,
        );
    }
    out
}

// ---------------------------------------------------------------- CONF-C08

/// CONF-C08-01: a `jwt` proof for an mdoc configuration → 400 invalid_proof, no credential.
pub async fn c08_01(iut: &Iut) -> Vec<Assertion> {
    let name = "proofs.jwt for an mso_mdoc configuration";
    let Some(configuration) = mdoc_configuration(iut) else {
        return vec![Assertion::not_applicable(
            name,
            "the issuer metadata has no mso_mdoc configuration",
        )];
    };
    let lists_jwt = iut
        .metadata
        .credential_configurations_supported
        .get(&configuration)
        .is_some_and(|c| c.proof_types_supported.contains_key(PROOF_TYPE_JWT));
    if lists_jwt {
        return vec![Assertion::not_applicable(
            name,
            format!("{configuration} lists the jwt proof type"),
        )];
    }
    vec![
        probe(
            name,
            "HTTP 400 invalid_proof and no credential",
            |rec| async move {
                let tx = iut.token_tx(&rec, &configuration).await?;
                let (response, credential) = tx.issue_plain(&SoftwareSigner::generate()?).await?;
                if credential.is_some() {
                    return Ok(Assertion::fail(
                        name,
                        "HTTP 400 invalid_proof and no credential",
                        format!("a credential was issued: {}", response.describe()),
                    ));
                }
                Ok(expect_error(
                    name,
                    &response,
                    400,
                    &["invalid_proof"],
                    &["invalid_credential_request"],
                ))
            },
        )
        .await,
    ]
}

/// One mdoc issued through `proofs.attestation` on `tx`, fully verified.
pub async fn mdoc_issuance(
    iut: &Iut,
    tx: &Tx<'_>,
    configuration: &str,
) -> Result<Result<String, String>, ConformanceError> {
    let (response, holders) = issue_attested(iut, tx, configuration, 1, false).await?;
    let Some(credential) = first_credential(&response) else {
        return Ok(Err(response.describe()));
    };
    let doctype = iut
        .metadata
        .credential_configurations_supported
        .get(configuration)
        .and_then(|c| c.doctype.clone())
        .unwrap_or_default();
    if credential.contains(['+', '/', '=']) {
        return Ok(Err("the credential is not base64url without padding".into()));
    }
    let parsed = match avow_formats::mdoc::parse(&credential) {
        Ok(p) => p,
        Err(e) => return Ok(Err(format!("not an IssuerSigned structure: {e}"))),
    };
    let issuer_key = if iut.anchors.is_empty() {
        match parsed
            .x5chain()
            .first()
            .map(|d| avow_crypto::x509::leaf_public_key(d))
        {
            Some(Ok(k)) => k,
            _ => return Ok(Err("issuerAuth has no usable x5chain".into())),
        }
    } else {
        match iut.anchors.validate_chain(parsed.x5chain(), now()) {
            Ok(k) => k,
            Err(e) => {
                return Ok(Err(format!(
                    "the x5chain does not validate to the --issuer-ca anchors: {e}"
                )));
            }
        }
    };
    let verified = avow_formats::mdoc::verify(&parsed, &issuer_key, now(), 60)
        .and_then(|v| v.require_doctype(&doctype))
        .and_then(|v| v.require_device_key(holders[0].public_jwk()));
    Ok(match verified {
        Ok(_) => Ok(format!(
            "issuerAuth verifies with its x5chain{}, docType {doctype}, digests match, deviceKey is the attested key",
            if iut.anchors.is_empty() {
                " (no --issuer-ca: chain not validated)"
            } else {
                " (validated to --issuer-ca)"
            }
        )),
        Err(e) => Err(e.to_string()),
    })
}

/// CONF-C08-02: the attestation path yields a valid mdoc.
pub async fn c08_02(iut: &Iut) -> Vec<Assertion> {
    let name = "mdoc through proofs.attestation";
    let expected = "HTTP 200; base64url IssuerSigned; issuerAuth verifies with its x5chain; docType, digests and deviceKey right";
    let Some(configuration) = attestation_configuration(iut, true) else {
        return vec![Assertion::not_applicable(
            name,
            "no mso_mdoc configuration supports the attestation proof type",
        )];
    };
    let mut out = vec![
        probe(name, expected, |rec| async move {
            let tx = iut.token_tx(&rec, &configuration).await?;
            Ok(match mdoc_issuance(iut, &tx, &configuration).await? {
                Ok(observed) => Assertion::pass(name, expected, observed),
                Err(observed) => Assertion::fail(name, expected, observed),
            })
        })
        .await,
    ];
    if iut.anchors.is_empty() {
        out.push(Iut::missing(
            "mdoc x5chain to the IACA",
            "needs --issuer-ca (the IACA the x5chain must chain to)",
        ));
    }
    out
}
