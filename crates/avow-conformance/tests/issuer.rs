//! The runner's self-test (CONF-RUN-07): against Avow's issuer every
//! implemented check passes; against deliberately broken issuers (a proxy in
//! front of Avow that breaks one behaviour) the named check FAILS — a check
//! that cannot fail is a defect.

mod common;

use avow_conformance::report::{SkipKind, Status};
use avow_conformance::{Report, RunOptions, run_issuer};
use common::{EXPIRY_WAIT, Fault, TestIssuer};

async fn run(
    issuer: &TestIssuer,
    selection: &[&str],
    expiry_wait: Option<u64>,
    allow_unimplemented: bool,
) -> Report {
    let options = RunOptions {
        selection: selection.iter().map(|s| (*s).to_owned()).collect(),
        allow_unimplemented,
        inputs: Vec::new(),
    };
    run_issuer(issuer.options(expiry_wait), issuer.pki(), &options)
        .await
        .expect("the run completes")
}

fn status(report: &Report, id: &str) -> Status {
    report
        .result(id)
        .unwrap_or_else(|| panic!("{id} not in the report:\n{}", report.text_summary()))
        .verdict
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avow_passes_every_implemented_check() {
    let issuer = TestIssuer::start(None).await;
    let report = run(&issuer, &[], Some(EXPIRY_WAIT), true).await;
    let summary = report.text_summary();
    eprintln!("{summary}");
    assert!(report.passed(), "{summary}");
    for r in &report.results {
        let implemented = r.verdict.skip != Some(SkipKind::NotImplemented);
        if implemented {
            assert!(
                matches!(r.verdict.status, Status::Pass | Status::NotApplicable),
                "{} is {:?}: {:?}\n{summary}",
                r.id,
                r.verdict.status,
                r.verdict.reason
            );
        }
    }
    // The checks that must really have run against Avow (not N/A).
    for id in [
        "CONF-C01-01",
        "CONF-C01-02",
        "CONF-C01-03",
        "CONF-C01-04",
        "CONF-C02-01",
        "CONF-C02-02",
        "CONF-C03-01",
        "CONF-C03-02",
        "CONF-C03-03",
        "CONF-C03A-01",
        "CONF-C03A-02",
        "CONF-C03A-03",
        "CONF-C03A-05",
        "CONF-C04-01",
        "CONF-C04-02",
        "CONF-C04-03",
        "CONF-C05-01",
        "CONF-C05-02",
        "CONF-C05-03",
        "CONF-C05-04",
        "CONF-C06-01",
        "CONF-C06-02",
        "CONF-C06-03",
        "CONF-C06A-01",
        "CONF-C06A-02",
        "CONF-C06A-03",
        "CONF-C07-01",
        "CONF-C07-02",
        "CONF-C07-03",
        "CONF-C07-04",
        "CONF-C07-05",
        "CONF-C08-01",
        "CONF-C08-02",
        "CONF-C09-03",
        "CONF-C10-01",
        "CONF-C03A-04",
        "CONF-C10-02",
        "CONF-C10-03",
        "CONF-C10-04",
        "CONF-C11-01",
        "CONF-TC009",
        "CONF-TC010",
        "CONF-TC001",
        "CONF-TC002",
        "CONF-TC004",
        "CONF-TC005",
        "CONF-TC006",
        "CONF-TC007",
        "CONF-TC008",
    ] {
        assert_eq!(status(&report, id), Status::Pass, "{id}\n{summary}");
    }
    // Every OpenID conformance module ran and passed.
    for def in avow_conformance::catalogue::CHECKS
        .iter()
        .filter(|c| c.id.starts_with("CONF-OIDF-"))
    {
        assert_eq!(
            status(&report, def.id),
            Status::Pass,
            "{}\n{summary}",
            def.id
        );
    }
    // What does not apply says why (the metadata fact); nothing is skipped
    // (the issuer-mode catalogue is implemented in full).
    for r in &report.results {
        match r.verdict.status {
            Status::NotApplicable => assert!(
                r.verdict.reason.as_deref().is_some_and(|f| !f.is_empty()),
                "{}",
                r.id
            ),
            Status::Skipped => panic!("{} is skipped: {:?}", r.id, r.verdict.reason),
            _ => {}
        }
    }
    assert!(
        report.result("CONF-C01-05").is_none(),
        "wallet-mode checks are not part of an issuer run"
    );

    // Reports: JSON with the stable schema, HTML self-contained; secrets redacted.
    let json = report.to_json();
    let html = avow_conformance::html::render(&report);
    let value: serde_json::Value = serde_json::from_str(&json).expect("JSON report");
    assert_eq!(value["schema"], "avow-conformance-report/1");
    assert_eq!(value["summary"]["outcome"], "pass");
    for text in [&json, &html] {
        assert!(
            !text.contains("erika-demo-password"),
            "the holder password is redacted"
        );
        assert!(
            !text.contains(&issuer.admin_token),
            "the admin token is redacted"
        );
        assert!(
            text.contains("redacted:"),
            "secrets are shown as <redacted:N chars>"
        );
        assert!(!text.contains("\"access_token\":\"ey"), "no token in clear");
    }
    assert!(
        html.starts_with("<!DOCTYPE html>")
            && !html.contains("<script")
            && !html.contains("src=\"http")
    );

    // Without --allow-unimplemented only applicable unimplemented checks
    // would fail the run; against Avow (mdoc and key-attestation
    // configurations included) there are none left.
    let mut strict = report.clone();
    strict.finish(false);
    assert!(
        strict.summary.coverage_failures.is_empty(),
        "{:?}",
        strict.summary.coverage_failures
    );
    assert!(strict.summary.coverage_failures.iter().all(|id| {
        strict
            .result(id)
            .is_some_and(|r| r.verdict.skip == Some(SkipKind::NotImplemented))
    }));
    assert_eq!(strict.passed(), strict.summary.coverage_failures.is_empty());
}

#[tokio::test]
async fn missing_inputs_fail_the_run_not_silently_pass() {
    let issuer = TestIssuer::start(None).await;
    let mut options = issuer.options(None);
    options.login_script = None;
    let run_options = RunOptions {
        selection: vec!["CONF-C02-01".into(), "CONF-C04-01".into()],
        allow_unimplemented: true,
        inputs: Vec::new(),
    };
    let report = run_issuer(options, issuer.pki(), &run_options)
        .await
        .expect("run");
    assert_eq!(status(&report, "CONF-C02-01"), Status::Skipped);
    // The expired-code probe needs --expiry-wait: the check is skipped, which fails the run.
    assert_eq!(status(&report, "CONF-C04-01"), Status::Skipped);
    assert!(!report.passed());
    assert_eq!(
        report.summary.coverage_failures,
        ["CONF-C02-01", "CONF-C04-01"]
    );
}

#[tokio::test]
async fn untrusted_runner_pki_is_visible_as_failures() {
    // The issuer does not trust this run's wallet provider: attestation checks fail.
    let issuer = TestIssuer::start(None).await;
    let other = std::env::temp_dir().join(format!(
        "avow-conformance-other-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let pki =
        avow_conformance::WalletProviderPki::generate_or_load(&other, avow_conformance::iut::now())
            .expect("pki");
    let run_options = RunOptions {
        selection: vec!["CONF-C03A-05".into()],
        allow_unimplemented: true,
        inputs: Vec::new(),
    };
    let report = run_issuer(issuer.options(None), pki, &run_options)
        .await
        .expect("run");
    assert_eq!(
        status(&report, "CONF-C03A-05"),
        Status::Fail,
        "{}",
        report.text_summary()
    );
    let _ = std::fs::remove_dir_all(other);
}

#[tokio::test]
async fn broken_issuer_accepting_replayed_nonces_fails_c06_02() {
    let issuer = TestIssuer::start(Some(Fault::AcceptsBadNonces)).await;
    let report = run(&issuer, &["CONF-C06-02"], None, true).await;
    assert_eq!(
        status(&report, "CONF-C06-02"),
        Status::Fail,
        "{}",
        report.text_summary()
    );
    let result = report.result("CONF-C06-02").expect("result");
    let replay = result
        .assertions
        .iter()
        .find(|a| a.name == "c_nonce used twice")
        .expect("replay probe");
    assert_eq!(replay.status, Status::Fail);
    assert!(
        !replay.exchanges.is_empty(),
        "the failing probe carries its HTTP transcript"
    );
    assert!(!report.passed());
}

#[tokio::test]
async fn broken_issuer_accepting_bad_proof_signatures_fails_c06_01() {
    let issuer = TestIssuer::start(Some(Fault::AcceptsBadProofs)).await;
    let report = run(&issuer, &["CONF-C06-01"], None, true).await;
    assert_eq!(
        status(&report, "CONF-C06-01"),
        Status::Fail,
        "{}",
        report.text_summary()
    );
    let result = report.result("CONF-C06-01").expect("result");
    let bad_sig = result
        .assertions
        .iter()
        .find(|a| a.name == "signature by another key")
        .expect("probe");
    assert_eq!(bad_sig.status, Status::Fail, "{:?}", bad_sig);
}

#[tokio::test]
async fn broken_issuer_accepting_par_without_pkce_fails_c03_02() {
    let issuer = TestIssuer::start(Some(Fault::ParWithoutPkce)).await;
    let report = run(&issuer, &["CONF-C03-02"], None, true).await;
    assert_eq!(
        status(&report, "CONF-C03-02"),
        Status::Fail,
        "{}",
        report.text_summary()
    );
    let result = report.result("CONF-C03-02").expect("result");
    let missing = result
        .assertions
        .iter()
        .find(|a| a.name == "PAR without code_challenge")
        .expect("probe");
    assert_eq!(missing.status, Status::Fail);
    let plain = result
        .assertions
        .iter()
        .find(|a| a.name.contains("plain"))
        .expect("probe");
    assert_eq!(
        plain.status,
        Status::Pass,
        "only the broken behaviour fails"
    );
}

#[tokio::test]
async fn broken_issuer_stripping_x5c_fails_c07() {
    let issuer = TestIssuer::start(Some(Fault::StripsX5c)).await;
    let report = run(&issuer, &["CONF-C07-05", "CONF-C07-04"], None, true).await;
    assert_eq!(
        status(&report, "CONF-C07-05"),
        Status::Fail,
        "{}",
        report.text_summary()
    );
    assert_ne!(
        status(&report, "CONF-C07-04"),
        Status::Pass,
        "no x5c variant is left to pass: {}",
        report.text_summary()
    );
    assert!(!report.passed());
}

#[tokio::test]
async fn avow_passes_key_attestation_and_mdoc_checks() {
    let issuer = TestIssuer::start(None).await;
    let ids = [
        "CONF-C06A-01",
        "CONF-C06A-02",
        "CONF-C06A-03",
        "CONF-C08-01",
        "CONF-C08-02",
    ];
    let report = run(&issuer, &ids, None, true).await;
    let summary = report.text_summary();
    eprintln!("{summary}");
    for id in ids {
        assert_eq!(status(&report, id), Status::Pass, "{id}\n{summary}");
    }
    // Every WUA fault was really probed against Avow (none not applicable).
    let faults = report.result("CONF-C06A-02").expect("result");
    assert_eq!(faults.assertions.len(), 8);
    assert!(
        faults.assertions.iter().all(|a| a.status == Status::Pass),
        "{summary}"
    );
}

#[tokio::test]
async fn broken_issuer_accepting_jwt_proofs_for_mdoc_fails_c08_01() {
    let issuer = TestIssuer::start(Some(Fault::AcceptsJwtProofForMdoc)).await;
    let report = run(&issuer, &["CONF-C08-01", "CONF-C08-02"], None, true).await;
    assert_eq!(
        status(&report, "CONF-C08-01"),
        Status::Fail,
        "{}",
        report.text_summary()
    );
    assert_eq!(
        status(&report, "CONF-C08-02"),
        Status::Pass,
        "only the broken behaviour fails: {}",
        report.text_summary()
    );
    let result = report.result("CONF-C08-01").expect("result");
    assert!(result.assertions.iter().all(|a| !a.exchanges.is_empty()));
    assert!(!report.passed());
}

/// The authorization-server attacks of the OpenID modules (`iut::oidf_as`).
const AS_MODULES: [&str; 14] = [
    "CONF-OIDF-DPOP-IAT",
    "CONF-OIDF-DPOP-JTI",
    "CONF-OIDF-DPOP-BINDING",
    "CONF-OIDF-CODE-REUSE",
    "CONF-OIDF-CODE-EXPIRED",
    "CONF-OIDF-PAR-REUSE",
    "CONF-OIDF-PAR-EXPIRED",
    "CONF-OIDF-PAR-CLIENT",
    "CONF-OIDF-REDIRECT-URI",
    "CONF-OIDF-REFRESH",
    "CONF-OIDF-TOKEN-IN-QUERY",
    "CONF-OIDF-CATT-NO-SUB",
    "CONF-OIDF-CATT-SIG",
    "CONF-OIDF-KATT-SIG",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avow_passes_the_authorization_server_attacks() {
    let issuer = TestIssuer::start(None).await;
    let report = run(&issuer, &AS_MODULES, Some(EXPIRY_WAIT), true).await;
    let summary = report.text_summary();
    eprintln!("{summary}");
    for id in AS_MODULES {
        let result = report
            .result(id)
            .unwrap_or_else(|| panic!("{id} not in the report\n{summary}"));
        // Every probe really ran against Avow: none not applicable, none skipped.
        for a in &result.assertions {
            assert_eq!(a.status, Status::Pass, "{id}: {a:?}\n{summary}");
            assert!(
                a.name.starts_with("covered: ") || !a.exchanges.is_empty(),
                "{id}: {} carries its exchanges",
                a.name
            );
        }
        assert_eq!(status(&report, id), Status::Pass, "{id}\n{summary}");
    }
    let refresh = report.result("CONF-OIDF-REFRESH").expect("refresh");
    assert_eq!(refresh.assertions.len(), 3, "{summary}");
}

#[tokio::test]
async fn broken_issuer_accepting_bad_dpop_proofs_fails_dpop_jti_and_binding() {
    let issuer = TestIssuer::start(Some(Fault::AcceptsBadDpopProofs)).await;
    let ids = [
        "CONF-OIDF-DPOP-JTI",
        "CONF-OIDF-DPOP-BINDING",
        "CONF-OIDF-DPOP-IAT",
    ];
    let report = run(&issuer, &ids, None, true).await;
    let summary = report.text_summary();
    assert_eq!(
        status(&report, "CONF-OIDF-DPOP-JTI"),
        Status::Fail,
        "{summary}"
    );
    assert_eq!(
        status(&report, "CONF-OIDF-DPOP-BINDING"),
        Status::Fail,
        "{summary}"
    );
    let jti = report.result("CONF-OIDF-DPOP-JTI").expect("result");
    let at = |name: &str| {
        jti.assertions
            .iter()
            .find(|a| a.name.starts_with(name))
            .unwrap_or_else(|| panic!("{name}\n{summary}"))
    };
    let credential = at("credential request replaying");
    assert_eq!(credential.status, Status::Fail, "{credential:?}");
    assert!(!credential.exchanges.is_empty());
    // Only the broken behaviour fails: the token endpoint is not behind the fault.
    assert_eq!(
        at("token request replaying").status,
        Status::Pass,
        "{summary}"
    );
    assert_eq!(
        status(&report, "CONF-OIDF-DPOP-IAT"),
        Status::Pass,
        "{summary}"
    );
    assert!(!report.passed());
}

#[tokio::test]
async fn authorization_server_attacks_without_inputs_are_skipped() {
    let issuer = TestIssuer::start(None).await;
    let mut options = issuer.options(None);
    options.login_script = None;
    let ids = [
        "CONF-OIDF-CODE-REUSE",
        "CONF-OIDF-CODE-EXPIRED",
        "CONF-OIDF-PAR-EXPIRED",
        "CONF-OIDF-PAR-CLIENT",
    ];
    let run_options = RunOptions {
        selection: ids.iter().map(|s| (*s).to_owned()).collect(),
        allow_unimplemented: true,
        inputs: Vec::new(),
    };
    let report = run_issuer(options, issuer.pki(), &run_options)
        .await
        .expect("run");
    let summary = report.text_summary();
    // No login script: the code-flow attacks; no --expiry-wait: the expiry attacks.
    for id in &ids[..3] {
        assert_eq!(status(&report, id), Status::Skipped, "{id}\n{summary}");
    }
    // The request_uri of another client needs neither.
    assert_eq!(
        status(&report, "CONF-OIDF-PAR-CLIENT"),
        Status::Pass,
        "{summary}"
    );
    assert!(!report.passed());
}

/// Broken issuers for the rest of the negative checks (CONF-RUN-07): each
/// fault turns one family of rejections into an answer that looks like
/// success; the checks that probe that family must FAIL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_issuers_fail_the_checks_that_probe_them() {
    for (fault, ids) in [
        (
            Fault::AcceptsBadCredentialRequests,
            &["CONF-C05-01", "CONF-C05-03", "CONF-OIDF-UNKNOWN-CONFIG"][..],
        ),
        (Fault::AcceptsBadEncryption, &["CONF-C10-04"][..]),
        (
            Fault::AcceptsBadClients,
            &["CONF-C03A-02", "CONF-C03A-03", "CONF-OIDF-CATT-NO-SUB"][..],
        ),
        (
            Fault::AcceptsBadGrants,
            &["CONF-C04-01", "CONF-C03-03", "CONF-OIDF-CODE-REUSE"][..],
        ),
    ] {
        let issuer = TestIssuer::start(Some(fault)).await;
        let report = run(&issuer, ids, Some(EXPIRY_WAIT), true).await;
        for id in ids {
            assert_eq!(
                status(&report, id),
                Status::Fail,
                "{fault:?} must fail {id}:\n{}",
                report.text_summary()
            );
        }
        assert_ne!(report.exit_code(), 0);
    }
}
