//! The runner: selects checks and cases, runs them in catalogue order
//! (checks first, then the cases composed of them), and applies the
//! coverage guard (CONF-RUN-02): a selected check that did not run and is
//! not declared not applicable fails the run; one that is not implemented
//! yet fails it too unless `allow_unimplemented` is set, and only when it
//! is applicable.

use crate::catalogue::{self, CheckDef, Kind, Mode};
use crate::error::ConformanceError;
use crate::iut::{self, Iut, IutOptions, Variant, checks, proofs, signature};
use crate::pki::{PkiSource, WalletProviderPki};
use crate::report::{
    Assertion, CheckResult, Report, RunOptionsEcho, SkipKind, Summary, TOOL, Target, TrustInput,
    rfc3339,
};
use crate::transcript::Recorder;
use std::time::Instant;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Matrix ids, catalogue ids or CONF ids/prefixes; empty = everything.
    pub selection: Vec<String>,
    /// Unimplemented (but applicable) checks do not fail the run.
    pub allow_unimplemented: bool,
    /// Further trust inputs to list in the report (login script, offers …).
    pub inputs: Vec<TrustInput>,
}

fn sha256_hex(der: &[u8]) -> String {
    avow_crypto::hash::sha256(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The metadata fact that makes a check not applicable, if any.
pub fn not_applicable(iut: &Iut, id: &str) -> Option<String> {
    let code_flow = || {
        (!iut.supports_code_flow()).then(|| {
            "the AS metadata has no authorization_endpoint (no authorization-code flow)".to_owned()
        })
    };
    let has = |format: &str| {
        iut.metadata
            .credential_configurations_supported
            .values()
            .any(|c| c.format == format)
    };
    let key_attestations = iut
        .metadata
        .credential_configurations_supported
        .values()
        .any(|c| {
            c.proof_types_supported.contains_key("attestation")
                || c.proof_types_supported
                    .values()
                    .any(|p| p.key_attestations_required.is_some())
        });
    let response_encryption = iut
        .metadata_json
        .get("credential_response_encryption")
        .is_some();
    match id {
        "CONF-C02-01" | "CONF-C02-02" | "CONF-C03-01" | "CONF-C03-02" | "CONF-C03-03" => {
            code_flow()
        }
        "CONF-C03A-02" | "CONF-C03A-03" | "CONF-C03A-04" | "CONF-C03A-05"
            if !iut.supports_attestation() =>
        {
            Some("the AS does not list attest_jwt_client_auth (CONF-C03A-01 reports that)".into())
        }
        "CONF-C04-01" | "CONF-C04-02" | "CONF-C04-03" | "CONF-C09-03"
            if !iut.supports_pre_authorized() =>
        {
            Some("the AS does not list the pre-authorized code grant and no offer was given".into())
        }
        "CONF-C06A-01" | "CONF-C06A-02" | "CONF-C06A-03" if !key_attestations => Some(
            "no configuration requires key attestations or supports the attestation proof type"
                .into(),
        ),
        "CONF-C08-01" | "CONF-C08-02" if !has("mso_mdoc") => {
            Some("the issuer metadata has no mso_mdoc configuration".into())
        }
        "CONF-C10-01" | "CONF-C10-02" | "CONF-C10-04" | "CONF-C11-01" if !response_encryption => {
            Some("the issuer metadata has no credential_response_encryption".into())
        }
        "CONF-C10-03"
            if iut
                .metadata_json
                .get("credential_request_encryption")
                .is_none() =>
        {
            Some("the issuer metadata has no credential_request_encryption".into())
        }
        "CONF-OIDF-HAPPY"
        | "CONF-OIDF-MULTI-CLIENT"
        | "CONF-OIDF-CODE-REUSE"
        | "CONF-OIDF-CODE-EXPIRED"
        | "CONF-OIDF-PAR-REUSE"
        | "CONF-OIDF-PAR-EXPIRED"
        | "CONF-OIDF-PAR-CLIENT"
        | "CONF-OIDF-PKCE-PAR"
        | "CONF-OIDF-REDIRECT-URI"
        | "CONF-OIDF-REFRESH" => code_flow(),
        id if id.starts_with("CONF-OIDF-CATT-") && !iut.supports_attestation() => {
            Some("the AS does not list attest_jwt_client_auth (CONF-C03A-01 reports that)".into())
        }
        "CONF-OIDF-KATT-SIG" if !key_attestations => Some(
            "no configuration requires key attestations or supports the attestation proof type"
                .into(),
        ),
        "CONF-OIDF-UNSUPPORTED-ENC" if !response_encryption => {
            Some("the issuer metadata has no credential_response_encryption".into())
        }
        id if id.starts_with("CONF-TC") => iut::cases::not_applicable(iut, id),
        _ => None,
    }
}

/// Runs one check or case; `done` are the results so far (for the cases).
pub async fn run_one(iut: &Iut, def: &CheckDef, done: &[CheckResult]) -> Vec<Assertion> {
    if let Some(fact) = not_applicable(iut, def.id) {
        return vec![Assertion::not_applicable(def.id, fact)];
    }
    match def.id {
        "CONF-C01-01" => checks::c01_01(iut).await,
        "CONF-C01-02" => checks::c01_02(iut).await,
        "CONF-C01-03" => checks::c01_03(iut).await,
        "CONF-C01-04" => checks::c01_04(iut).await,
        "CONF-C02-01" => checks::c02_01(iut).await,
        "CONF-C02-02" => checks::c02_02(iut).await,
        "CONF-C03-01" => checks::c03_01(iut).await,
        "CONF-C03-02" => checks::c03_02(iut).await,
        "CONF-C03-03" => checks::c03_03(iut).await,
        "CONF-C03A-01" => checks::c03a_01(iut).await,
        "CONF-C03A-02" => checks::c03a_02(iut).await,
        "CONF-C03A-03" => checks::c03a_03(iut).await,
        "CONF-C03A-04" => checks::c03a_04(iut).await,
        "CONF-C03A-05" => checks::c03a_05(iut).await,
        "CONF-C04-01" => checks::c04_01(iut).await,
        "CONF-C04-02" => checks::c04_02(iut).await,
        "CONF-C04-03" => checks::c04_03(iut).await,
        "CONF-C05-01" => checks::c05_01(iut).await,
        "CONF-C05-02" => checks::c05_02(iut).await,
        "CONF-C05-03" => checks::c05_03(iut).await,
        "CONF-C05-04" => checks::c05_04(iut).await,
        "CONF-C06-01" => proofs::c06_01(iut).await,
        "CONF-C06-02" => proofs::c06_02(iut).await,
        "CONF-C06-03" => proofs::c06_03(iut).await,
        "CONF-C06A-01" => iut::attestations::c06a_01(iut).await,
        "CONF-C06A-02" => iut::attestations::c06a_02(iut).await,
        "CONF-C06A-03" => iut::attestations::c06a_03(iut).await,
        "CONF-C08-01" => iut::attestations::c08_01(iut).await,
        "CONF-C08-02" => iut::attestations::c08_02(iut).await,
        "CONF-C07-01" => signature::variant_check(iut, Variant::Jwk).await,
        "CONF-C07-02" => signature::variant_check(iut, Variant::Kid).await,
        "CONF-C07-03" => signature::variant_check(iut, Variant::DidWeb).await,
        "CONF-C07-04" => signature::variant_check(iut, Variant::X509).await,
        "CONF-C07-05" => signature::c07_05(iut).await,
        "CONF-C09-03" => checks::c09_03(iut).await,
        "CONF-C10-01" => checks::c10_01(iut).await,
        "CONF-C10-02" => iut::encryption::c10_02(iut).await,
        "CONF-C10-03" => iut::encryption::c10_03(iut).await,
        "CONF-C10-04" => iut::encryption::c10_04(iut).await,
        "CONF-C11-01" => iut::encryption::c11_01(iut).await,
        id if id.starts_with("CONF-OIDF-") => iut::oidf::run(iut, def, done).await,
        id if iut::cases::scenario(id).is_some() || iut::cases::mdoc_scenario(id).is_some() => {
            iut::cases::run(iut, def, done).await
        }
        _ => vec![Assertion::skipped(
            def.id,
            SkipKind::NotImplemented,
            "not implemented yet",
        )],
    }
}

/// Runs the selected issuer checks against `options.credential_issuer`.
pub async fn run_issuer(
    options: IutOptions,
    pki: WalletProviderPki,
    run: &RunOptions,
) -> Result<Report, ConformanceError> {
    let selected =
        catalogue::select(Mode::Issuer, &run.selection).map_err(ConformanceError::Config)?;
    let started = iut::now();
    let mut inputs = vec![TrustInput {
        role: "wallet-provider CA the issuer under test must trust (WIA)".into(),
        source: match &pki.source {
            PkiSource::Generated(d) => format!("generated by the runner in {}", d.display()),
            PkiSource::Given(d) => format!("--wallet-provider {}", d.display()),
        },
        subject: pki.ca_subject(),
        sha256: Some(sha256_hex(pki.ca_certificate())),
    }];
    for (source, der) in &options.issuer_trust_anchors {
        inputs.push(TrustInput {
            role: "issuer CA / IACA credentials must chain to".into(),
            source: source.clone(),
            subject: None,
            sha256: Some(sha256_hex(der)),
        });
    }
    inputs.extend(run.inputs.iter().cloned());
    let credential_issuer = options.credential_issuer.clone();
    let expiry_wait = options.expiry_wait;
    let rec = Recorder::new();
    let discovered = Iut::discover(options, pki, &rec).await;
    let mut results = Vec::new();
    let (target, iut) = match discovered {
        Ok(iut) => (
            Target {
                credential_issuer: credential_issuer.clone(),
                authorization_server: Some(iut.authorization_server.issuer.clone()),
                discovery: rec.take(),
                discovery_error: None,
                wallet_under_test: None,
            },
            Some(iut),
        ),
        Err(e) => (
            Target {
                credential_issuer: credential_issuer.clone(),
                authorization_server: None,
                discovery: rec.take(),
                discovery_error: Some(e.to_string()),
                wallet_under_test: None,
            },
            None,
        ),
    };
    let order = selected
        .iter()
        .filter(|d| d.kind == Kind::Check)
        .chain(selected.iter().filter(|d| d.kind == Kind::Case));
    for def in order {
        let start = Instant::now();
        let assertions = match &iut {
            Some(iut) => run_one(iut, def, &results).await,
            None => vec![Assertion::fail(
                def.id,
                "issuer and authorization server metadata",
                format!(
                    "discovery failed: {}",
                    target.discovery_error.clone().unwrap_or_default()
                ),
            )],
        };
        let elapsed = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        results.push(CheckResult::new(def, assertions, elapsed));
    }
    // The guard: every selected check has exactly one result.
    for def in &selected {
        if !results.iter().any(|r| r.id == def.id) {
            results.push(CheckResult::new(
                def,
                vec![Assertion::skipped(
                    def.id,
                    SkipKind::MissingInput,
                    "did not run",
                )],
                0,
            ));
        }
    }
    Ok(finish_report(
        Mode::Issuer,
        started,
        target,
        inputs,
        run,
        expiry_wait,
        results,
    ))
}

/// The report of a run, summarised under the coverage guard.
fn finish_report(
    mode: Mode,
    started: i64,
    target: Target,
    trust_inputs: Vec<TrustInput>,
    run: &RunOptions,
    expiry_wait_seconds: Option<u64>,
    results: Vec<CheckResult>,
) -> Report {
    let mut report = Report {
        schema: crate::report::SCHEMA,
        tool: TOOL,
        mode,
        started_at: rfc3339(started),
        finished_at: rfc3339(iut::now()),
        target,
        trust_inputs,
        options: RunOptionsEcho {
            selection: run.selection.clone(),
            allow_unimplemented: run.allow_unimplemented,
            expiry_wait_seconds,
        },
        summary: Summary::default(),
        results,
    };
    report.finish(run.allow_unimplemented);
    report
}

/// A trust input given as a PEM file: its path and its first certificate's SHA-256.
fn pem_trust_input(role: &str, path: &std::path::Path) -> TrustInput {
    let der = std::fs::read_to_string(path)
        .ok()
        .and_then(|pem| avow_crypto::x509::certs_from_pem(&pem).ok())
        .and_then(|c| c.into_iter().next());
    TrustInput {
        role: role.to_owned(),
        source: path.display().to_string(),
        subject: None,
        sha256: der.as_deref().map(sha256_hex),
    }
}

/// Runs the selected wallet checks and cases: starts the reference issuers
/// on demand, drives the wallet through each scenario and judges what it sent.
pub async fn run_wallet(
    options: crate::wut::WutOptions,
    run: &RunOptions,
) -> Result<Report, ConformanceError> {
    let selected =
        catalogue::select(Mode::Wallet, &run.selection).map_err(ConformanceError::Config)?;
    let started = iut::now();
    let mut inputs: Vec<TrustInput> = options
        .wallet_provider_anchors
        .iter()
        .map(|path| {
            pem_trust_input(
                "wallet-provider CA of the wallet under test (WIA, key attestations)",
                path,
            )
        })
        .collect();
    inputs.extend(run.inputs.iter().cloned());
    let driver = options.driver.describe();
    let wut = crate::wut::Wut::new(options)?;
    let mut results = Vec::new();
    let order = selected
        .iter()
        .filter(|d| d.kind == Kind::Check)
        .chain(selected.iter().filter(|d| d.kind == Kind::Case));
    for def in order {
        let start = Instant::now();
        let assertions = crate::wut::cases::run_one(&wut, def).await;
        let elapsed = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        results.push(CheckResult::new(def, assertions, elapsed));
    }
    let issuers = wut.started_issuers().await;
    for issuer in &issuers {
        if let Some(anchor) = issuer.trust_anchor()
            && !inputs
                .iter()
                .any(|i| i.source == anchor.display().to_string())
        {
            inputs.push(pem_trust_input(
                "issuer CA the wallet under test must trust (DEVELOPMENT PKI of the reference issuer)",
                &anchor,
            ));
        }
    }
    let credential_issuer = issuers
        .iter()
        .map(|i| i.url.clone())
        .collect::<Vec<_>>()
        .join(", ");
    drop(issuers);
    wut.stop().await;
    let target = Target {
        credential_issuer,
        authorization_server: None,
        discovery: Vec::new(),
        discovery_error: None,
        wallet_under_test: Some(driver),
    };
    Ok(finish_report(
        Mode::Wallet,
        started,
        target,
        inputs,
        run,
        None,
        results,
    ))
}
