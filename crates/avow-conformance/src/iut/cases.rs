//! The deployed test cases (APT §10.2, CONF-TC*) as compositions: a case
//! passes when one end-to-end issuance of its scenario (flow, configuration
//! with the case's signature variant) yields a valid credential, and every
//! check of the catalogue checks it covers passed (or was not applicable /
//! a warning) in this run.

use super::{Auth, AuthorizationAsk, Iut, PkceMode, Variant, now, probe};
use crate::catalogue::{CheckDef, Kind};
use crate::error::ConformanceError;
use crate::report::{Assertion, CheckResult, SkipKind, Status};
use avow_crypto::jwe::ContentEncryption;
use avow_crypto::{AlgorithmAllowList, Signer, SoftwareSigner};

/// The scenario of an implemented case.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub code_flow: bool,
    pub variant: Variant,
    pub tx_code: bool,
    /// The credential response encrypted with this `enc` (VCI-009, -010).
    pub enc: Option<ContentEncryption>,
}

pub fn scenario(id: &str) -> Option<Scenario> {
    let (code_flow, variant, tx_code, enc) = match id {
        "CONF-TC001" => (true, Variant::Jwk, false, None),
        "CONF-TC002" => (true, Variant::Kid, false, None),
        "CONF-TC004" => (true, Variant::DidWeb, false, None),
        "CONF-TC006" => (false, Variant::X509, false, None),
        "CONF-TC007" => (false, Variant::X509, true, None),
        // "the configured issuer key profile (default X.509)".
        "CONF-TC009" => (true, Variant::X509, false, Some(ContentEncryption::A128Gcm)),
        "CONF-TC010" => (true, Variant::X509, false, Some(ContentEncryption::A256Gcm)),
        _ => return None,
    };
    Some(Scenario {
        code_flow,
        variant,
        tx_code,
        enc,
    })
}

/// The metadata fact that makes a case not applicable, if any.
pub fn not_applicable(iut: &Iut, id: &str) -> Option<String> {
    let mdoc = iut
        .metadata
        .credential_configurations_supported
        .values()
        .any(|c| c.format == "mso_mdoc");
    let enc = |value: &str| {
        iut.metadata_json
            .pointer("/credential_response_encryption/enc_values_supported")
            .and_then(serde_json::Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == value))
    };
    match id {
        "CONF-TC005" | "CONF-TC008" if !mdoc => {
            Some("the issuer metadata has no mso_mdoc configuration".into())
        }
        "CONF-TC009" if !enc("A128GCM") => {
            Some("credential_response_encryption does not list A128GCM".into())
        }
        "CONF-TC010" if !enc("A256GCM") => {
            Some("credential_response_encryption does not list A256GCM".into())
        }
        "CONF-TC005" if !iut.supports_code_flow() => Some(
            "the AS metadata has no authorization_endpoint (no authorization-code flow)".into(),
        ),
        "CONF-TC008" if !iut.supports_pre_authorized() => {
            Some("the AS does not list the pre-authorized code grant and no offer was given".into())
        }
        _ => {
            let s = scenario(id)?;
            if s.code_flow && !iut.supports_code_flow() {
                return Some(
                    "the AS metadata has no authorization_endpoint (no authorization-code flow)"
                        .into(),
                );
            }
            if !s.code_flow && !iut.supports_pre_authorized() {
                return Some(
                    "the AS does not list the pre-authorized code grant and no offer was given"
                        .into(),
                );
            }
            if s.tx_code && !super::checks::tx_code_offer_available(iut) {
                return Some(
                    "no offer with a transaction code can be had (no admin API, no --tx-code)"
                        .into(),
                );
            }
            None
        }
    }
}

/// Runs an implemented case.
pub async fn run(iut: &Iut, def: &CheckDef, done: &[CheckResult]) -> Vec<Assertion> {
    if let Some(code_flow) = mdoc_scenario(def.id) {
        return run_mdoc(iut, def, done, code_flow).await;
    }
    let Some(s) = scenario(def.id) else {
        return vec![Assertion::skipped(
            def.id,
            SkipKind::NotImplemented,
            "not implemented yet",
        )];
    };
    if s.code_flow && iut.options.login_script.is_none() {
        return vec![Iut::missing(
            "authorization",
            "the authorization-code cases need --login-script",
        )];
    }
    let observations = iut.observations().await;
    let Some(configuration) = observations
        .iter()
        .find(|o| o.variant == Some(s.variant))
        .map(|o| o.configuration.clone())
    else {
        let seen: Vec<String> = observations
            .iter()
            .map(|o| {
                format!(
                    "{}: {}",
                    o.configuration,
                    o.variant.map(Variant::name).unwrap_or("none")
                )
            })
            .collect();
        return vec![Assertion::not_applicable(
            def.id,
            format!(
                "no SD-JWT VC configuration signs with {} ({})",
                s.variant.name(),
                seen.join(", ")
            ),
        )];
    };
    let mut out = vec![end_to_end(iut, &configuration, s).await];
    out.extend(composition(def, done));
    out
}

/// The mdoc cases: `Some(code_flow)` for VCI-005 (authorization code) and
/// VCI-008 (pre-authorized code without tx_code).
pub fn mdoc_scenario(id: &str) -> Option<bool> {
    match id {
        "CONF-TC005" => Some(true),
        "CONF-TC008" => Some(false),
        _ => None,
    }
}

/// An mdoc case: one end-to-end issuance on the case's flow in which a
/// plain `jwt` proof is rejected and the `attestation` proof path yields a
/// verifying mdoc (x5chain to `--issuer-ca`), plus the composition.
async fn run_mdoc(
    iut: &Iut,
    def: &CheckDef,
    done: &[CheckResult],
    code_flow: bool,
) -> Vec<Assertion> {
    if code_flow && iut.options.login_script.is_none() {
        return vec![Iut::missing(
            "authorization",
            "the authorization-code cases need --login-script",
        )];
    }
    let Some(configuration) = super::attestations::attestation_configuration(iut, true) else {
        return vec![Assertion::not_applicable(
            def.id,
            "no mso_mdoc configuration supports the attestation proof type",
        )];
    };
    if iut.anchors.is_empty() {
        return vec![Iut::missing(
            def.id,
            "the X.509 variant needs --issuer-ca (the IACA of the mdoc x5chain)",
        )];
    }
    let name = format!(
        "end-to-end issuance of {configuration} ({}, mdoc, X.509)",
        if code_flow {
            "authorization code"
        } else {
            "pre-authorized code"
        }
    );
    let expected = "the jwt proof rejected with 400 invalid_proof; through proofs.attestation an mdoc whose issuerAuth chains to --issuer-ca, of the configuration's docType, bound to the attested key";
    let mut out = vec![
        probe(&name, expected, |rec| {
            let name = name.clone();
            let configuration = configuration.clone();
            async move {
                let mut tx = iut.tx(&rec, &configuration).await?;
                let response = if code_flow {
                    let grant = tx
                        .authorize(AuthorizationAsk::Scope, PkceMode::S256)
                        .await?;
                    tx.redeem_code(&grant, Some(&grant.verifier), Auth::Good)
                        .await?
                } else {
                    let offer = iut.fresh_offer(&rec, &configuration, false).await?;
                    let code = offer.pre_authorized_code().unwrap_or_default().to_owned();
                    tx.redeem_pre_authorized(&code, offer.tx_code.as_deref(), Auth::Good, None)
                        .await?
                };
                if response.status != 200 {
                    return Ok(Assertion::fail(&name, "a token", response.describe()));
                }
                let (rejected, credential) = tx.issue_plain(&SoftwareSigner::generate()?).await?;
                if credential.is_some()
                    || rejected.status != 400
                    || rejected.error_code().as_deref() != Some("invalid_proof")
                {
                    return Ok(Assertion::fail(
                        &name,
                        expected,
                        format!("the jwt proof: {}", rejected.describe()),
                    ));
                }
                Ok(
                    match super::attestations::mdoc_issuance(iut, &tx, &configuration).await? {
                        Ok(observed) => Assertion::pass(
                            &name,
                            expected,
                            format!("jwt proof: 400 invalid_proof; {observed}"),
                        ),
                        Err(observed) => Assertion::fail(&name, expected, observed),
                    },
                )
            }
        })
        .await,
    ];
    out.extend(composition(def, done));
    out
}

/// The composition: every check of the catalogue checks `def` covers.
fn composition(def: &CheckDef, done: &[CheckResult]) -> Vec<Assertion> {
    let mut out = Vec::new();
    for result in done.iter().filter(|r| r.kind == Kind::Check) {
        let covered = result
            .catalogue
            .iter()
            .any(|c| def.catalogue.contains(&c.id));
        if !covered {
            continue;
        }
        let name = format!("{} ({})", result.id, result.title);
        let observed = format!(
            "{}{}",
            result.verdict.status.as_str(),
            result
                .verdict
                .reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
        out.push(match result.verdict.status {
            Status::Pass | Status::NotApplicable | Status::Warning => {
                Assertion::pass(&name, "pass (or warning / not applicable)", observed)
            }
            Status::Fail => Assertion::fail(&name, "pass", observed),
            Status::Skipped => Assertion::skipped(
                &name,
                result.verdict.skip.unwrap_or(SkipKind::MissingInput),
                observed,
            ),
        });
    }
    out
}

/// One end-to-end issuance of the scenario, validated the way the variant says.
async fn end_to_end(iut: &Iut, configuration: &str, s: Scenario) -> Assertion {
    let name = format!(
        "end-to-end issuance of {configuration} ({}, {}{})",
        if s.code_flow {
            "authorization code"
        } else {
            "pre-authorized code"
        },
        s.variant.name(),
        if s.tx_code { ", tx_code" } else { "" }
    );
    let expected = "a credential that verifies through the variant's key mechanism, of the configuration's vct, bound to the proven key";
    probe(&name, expected, |rec| {
        let name = name.clone();
        async move {
            let mut tx = iut.tx(&rec, configuration).await?;
            let response = if s.code_flow {
                let grant = tx
                    .authorize(AuthorizationAsk::Scope, PkceMode::S256)
                    .await?;
                tx.redeem_code(&grant, Some(&grant.verifier), Auth::Good)
                    .await?
            } else {
                let offer = iut.fresh_offer(&rec, configuration, s.tx_code).await?;
                if s.tx_code && !offer.asks_tx_code() {
                    return Ok(Assertion::fail(
                        &name,
                        "an offer with tx_code",
                        "the offer carries no tx_code",
                    ));
                }
                let code = offer.pre_authorized_code().unwrap_or_default().to_owned();
                tx.redeem_pre_authorized(&code, offer.tx_code.as_deref(), Auth::Good, None)
                    .await?
            };
            if response.status != 200 {
                return Ok(Assertion::fail(&name, "a token", response.describe()));
            }
            let holder = SoftwareSigner::generate()?;
            let credential = match s.enc {
                None => {
                    let (response, credential) = tx.issue(&holder).await?;
                    credential.ok_or_else(|| response.describe())
                }
                Some(enc) => {
                    let issued = tx.issue_encrypted(&holder, enc).await?;
                    issued.decoded.and_then(|r| {
                        r.credentials
                            .and_then(|c| c.into_iter().next())
                            .and_then(|c| c.credential.as_str().map(str::to_owned))
                            .ok_or_else(|| "the decrypted response has no credential".to_owned())
                    })
                }
            };
            let credential = match credential {
                Ok(c) => c,
                Err(e) => return Ok(Assertion::fail(&name, expected, e)),
            };
            let sd = avow_formats::sd_jwt_vc::peek(&credential)
                .map_err(|e| ConformanceError::unexpected(e.to_string()))?;
            let payload = sd
                .unverified_payload()
                .map_err(|e| ConformanceError::unexpected(e.to_string()))?;
            let iss = payload
                .get("iss")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("")
                .to_owned();
            let variant = super::signature::variant_of(sd.jws().header(), &iss);
            if variant != Some(s.variant) {
                return Ok(Assertion::fail(
                    &name,
                    expected,
                    format!(
                        "the credential uses {}",
                        variant.map(Variant::name).unwrap_or("no key mechanism")
                    ),
                ));
            }
            let mut findings = Vec::new();
            let key = match super::signature::resolve_key(
                iut,
                &rec,
                s.variant,
                sd.jws(),
                &iss,
                &mut findings,
            )
            .await
            {
                Ok(k) => k,
                Err(e) if e.contains("--issuer-ca") => {
                    return Ok(Assertion::skipped(&name, SkipKind::MissingInput, e));
                }
                Err(e) => return Ok(Assertion::fail(&name, expected, e)),
            };
            let vct = iut
                .metadata
                .credential_configurations_supported
                .get(configuration)
                .and_then(|c| c.vct.clone())
                .unwrap_or_default();
            let verified = avow_formats::sd_jwt_vc::verify(
                &credential,
                &key,
                &AlgorithmAllowList::es256(),
                now(),
                60,
                false,
            );
            let mut problems: Vec<String> = findings
                .iter()
                .filter(|(ok, _)| !ok)
                .map(|(_, f)| f.clone())
                .collect();
            match verified {
                Ok(v) => {
                    if !v.is_of_type(&vct) {
                        problems.push(format!("vct {} is not {vct}", v.vct));
                    }
                    if v.holder_key.as_ref() != Some(holder.public_jwk()) {
                        problems.push("not bound to the proven key".into());
                    }
                }
                Err(e) => problems.push(e.to_string()),
            }
            Ok(Assertion::check(
                problems.is_empty(),
                &name,
                expected,
                if problems.is_empty() {
                    "a valid credential".to_owned()
                } else {
                    problems.join("; ")
                },
            ))
        }
    })
    .await
}
