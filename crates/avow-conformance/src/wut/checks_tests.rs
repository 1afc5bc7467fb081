//! Unit tests of the wallet-side judgements on hand-built transactions: each
//! check must pass what the specification allows and fail what it forbids.

use super::*;
use crate::report::Status;
use crate::wut::driver::DriveOutcome;
use crate::wut::reference_issuer::configurations as cfg;
use crate::wut::{Grant, Scenario};
use avow_crypto::{Signer, SoftwareSigner};
use serde_json::json;
use std::time::Duration;

const ISSUER: &str = "http://127.0.0.1:9";

fn obs(seq: u64, method: &str, path: &str) -> Observed {
    Observed {
        seq,
        at_ms: 1_800_000_000_000 + i64::try_from(seq).unwrap_or(0) * 10,
        method: method.into(),
        path: path.into(),
        query: Vec::new(),
        headers: Vec::new(),
        body: Default::default(),
        form: Vec::new(),
        json: None,
        encrypted: false,
        status: 200,
        response_headers: Vec::new(),
        response_body: Default::default(),
        deviation: None,
    }
}

fn form(o: Observed, pairs: &[(&str, &str)]) -> Observed {
    Observed {
        form: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..o
    }
}

fn answer(o: Observed, status: u16, body: Value) -> Observed {
    Observed {
        status,
        response_body: body.to_string().into_bytes().into(),
        ..o
    }
}

fn tx(grant: Grant, observed: Vec<Observed>) -> Transaction {
    Transaction {
        scenario: Scenario::new(grant, cfg::PID_X509),
        issuer_url: ISSUER.into(),
        offer: json!({
            "credential_issuer": ISSUER,
            "credential_configuration_ids": [cfg::PID_X509],
            "grants": {"urn:ietf:params:oauth:grant-type:pre-authorized_code": {"pre-authorized_code": "code-1"}}
        }),
        link: String::new(),
        offer_path: None,
        tx_code: Some("493536".into()),
        metadata: json!({
            "batch_credential_issuance": {"batch_size": 2},
            "credential_configurations_supported": {
                cfg::PID_X509: {"proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": ["ES256"]}}}
            }
        }),
        observed,
        receive: Some(DriveOutcome {
            success: Some(true),
            timed_out: false,
            summary: "exit status: 0".into(),
            duration: Duration::from_secs(1),
        }),
        poll: None,
        setup_error: None,
    }
}

fn statuses(assertions: &[Assertion]) -> Vec<Status> {
    assertions.iter().map(|a| a.status).collect()
}

fn all_pass(assertions: &[Assertion]) -> bool {
    !assertions.is_empty() && assertions.iter().all(|a| a.status == Status::Pass)
}

fn any_fail(assertions: &[Assertion]) -> bool {
    assertions.iter().any(|a| a.status == Status::Fail)
}

// ---------------------------------------------------------------- PKCE (CONF-C03-04)

fn pkce_tx(method: &str, challenge: &str, verifier: &str) -> Transaction {
    tx(
        Grant::AuthorizationCode,
        vec![
            form(
                obs(0, "POST", "/par"),
                &[
                    ("code_challenge", challenge),
                    ("code_challenge_method", method),
                ],
            ),
            form(
                obs(1, "POST", "/token"),
                &[
                    ("grant_type", "authorization_code"),
                    ("code_verifier", verifier),
                ],
            ),
        ],
    )
}

#[test]
fn c03_04_accepts_the_rfc_7636_pair_and_refuses_others() {
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = avow_crypto::hash::sha256_b64(verifier.as_bytes());
    assert!(all_pass(&c03_04(&pkce_tx("S256", &challenge, verifier))));
    // RFC 7636 Appendix B's own example.
    assert_eq!(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    assert!(any_fail(&c03_04(&pkce_tx("plain", verifier, verifier))));
    assert!(any_fail(&c03_04(&pkce_tx("S256", "wrong", verifier))));
    let short = "abc";
    let short_challenge = avow_crypto::hash::sha256_b64(short.as_bytes());
    assert!(any_fail(&c03_04(&pkce_tx("S256", &short_challenge, short))));
}

// ---------------------------------------------------------------- request shape (CONF-C05-05)

fn credential(seq: u64, body: Value) -> Observed {
    Observed {
        json: Some(body),
        ..obs(seq, "POST", "/credential")
    }
}

#[test]
fn c05_05_wants_one_selector_one_proof_type_and_no_proof() {
    let ok = json!({"credential_configuration_id": cfg::PID_X509, "proofs": {"jwt": ["x"]}});
    assert!(all_pass(&c05_05(&tx(
        Grant::PreAuthorized,
        vec![credential(0, ok)]
    ))));
    for bad in [
        json!({"credential_configuration_id": cfg::PID_X509, "credential_identifier": "a", "proofs": {"jwt": ["x"]}}),
        json!({"credential_configuration_id": cfg::PID_X509, "proof": {"proof_type": "jwt", "jwt": "x"}}),
        json!({"credential_configuration_id": cfg::PID_X509, "proofs": {"jwt": ["x"], "attestation": ["y"]}}),
        json!({"credential_configuration_id": "not-offered", "proofs": {"jwt": ["x"]}}),
        json!({"proofs": {"jwt": ["x"]}}),
    ] {
        let t = tx(Grant::PreAuthorized, vec![credential(0, bad.clone())]);
        assert!(any_fail(&c05_05(&t)), "{bad}");
    }
    // After credential_identifiers, the configuration id is the wrong selector.
    let token = answer(
        obs(0, "POST", "/token"),
        200,
        json!({"authorization_details": [{"type": "openid_credential", "credential_identifiers": ["pid-1"]}]}),
    );
    let by_config = json!({"credential_configuration_id": cfg::PID_X509, "proofs": {"jwt": ["x"]}});
    let by_id = json!({"credential_identifier": "pid-1", "proofs": {"jwt": ["x"]}});
    assert!(any_fail(&c05_05(&tx(
        Grant::PreAuthorized,
        vec![token.clone(), credential(1, by_config)]
    ))));
    assert!(all_pass(&c05_05(&tx(
        Grant::PreAuthorized,
        vec![token, credential(1, by_id)]
    ))));
}

// ---------------------------------------------------------------- key proofs (CONF-C06-04)

async fn proof(key: &SoftwareSigner, aud: &str, nonce: &str, iat: i64) -> String {
    let mut header = Map::new();
    header.insert("typ".into(), json!("openid4vci-proof+jwt"));
    header.insert("jwk".into(), key.public_jwk().to_json());
    let claims = json!({"aud": aud, "nonce": nonce, "iat": iat, "iss": "https://wallet.example"});
    avow_crypto::jws::sign_compact(key, header, claims.to_string().as_bytes())
        .await
        .unwrap_or_default()
}

fn proofs_tx(proofs: Vec<String>) -> Transaction {
    let nonce = answer(obs(0, "POST", "/nonce"), 200, json!({"c_nonce": "n-1"}));
    let token = form(
        obs(1, "POST", "/token"),
        &[("grant_type", PRE_AUTHORIZED_GRANT)],
    );
    let body = json!({"credential_configuration_id": cfg::PID_X509, "proofs": {"jwt": proofs}});
    tx(
        Grant::PreAuthorized,
        vec![nonce, token, credential(2, body)],
    )
}

#[tokio::test]
async fn c06_04_checks_every_proof_and_distinct_keys() {
    let now = 1_800_000_000;
    let a = SoftwareSigner::generate().unwrap_or_else(|_| unreachable!());
    let b = SoftwareSigner::generate().unwrap_or_else(|_| unreachable!());
    let good = proofs_tx(vec![
        proof(&a, ISSUER, "n-1", now).await,
        proof(&b, ISSUER, "n-1", now).await,
    ]);
    assert!(all_pass(&c06_04(&good)), "{:?}", c06_04(&good));
    for (label, t) in [
        (
            "wrong aud",
            proofs_tx(vec![proof(&a, "https://other.example", "n-1", now).await]),
        ),
        (
            "stale nonce",
            proofs_tx(vec![proof(&a, ISSUER, "n-0", now).await]),
        ),
        (
            "iat an hour off",
            proofs_tx(vec![proof(&a, ISSUER, "n-1", now - 3600).await]),
        ),
        (
            "the same key twice",
            proofs_tx(vec![
                proof(&a, ISSUER, "n-1", now).await,
                proof(&a, ISSUER, "n-1", now).await,
            ]),
        ),
        (
            "more than batch_size",
            proofs_tx(vec![
                proof(&a, ISSUER, "n-1", now).await,
                proof(&b, ISSUER, "n-1", now).await,
                proof(
                    &SoftwareSigner::generate().unwrap_or_else(|_| unreachable!()),
                    ISSUER,
                    "n-1",
                    now,
                )
                .await,
            ]),
        ),
    ] {
        assert!(any_fail(&c06_04(&t)), "{label} must fail");
    }
    // A tampered signature.
    let mut tampered = proof(&a, ISSUER, "n-1", now).await;
    tampered.push('A');
    assert!(any_fail(&c06_04(&proofs_tx(vec![tampered]))));
}

// ---------------------------------------------------------------- pre-authorized grant (CONF-C04-04)

#[test]
fn c04_04_wants_the_offered_code_and_no_par() {
    let token = form(
        obs(0, "POST", "/token"),
        &[
            ("grant_type", PRE_AUTHORIZED_GRANT),
            ("pre-authorized_code", "code-1"),
        ],
    );
    assert!(all_pass(&c04_04(&tx(
        Grant::PreAuthorized,
        vec![token.clone()]
    ))));
    let other = form(
        obs(0, "POST", "/token"),
        &[
            ("grant_type", PRE_AUTHORIZED_GRANT),
            ("pre-authorized_code", "code-2"),
        ],
    );
    assert!(any_fail(&c04_04(&tx(Grant::PreAuthorized, vec![other]))));
    let detour = tx(Grant::PreAuthorized, vec![obs(0, "POST", "/par"), token]);
    assert_eq!(statuses(&c04_04(&detour)), [Status::Pass, Status::Fail]);
}

// ---------------------------------------------------------------- tx_code (CONF-C09-01 / -02)

#[test]
fn c09_compares_the_tx_code_with_the_hook_value() {
    let sent = |v: &str| {
        form(
            obs(0, "POST", "/token"),
            &[("grant_type", PRE_AUTHORIZED_GRANT), ("tx_code", v)],
        )
    };
    assert!(all_pass(&c09(
        &tx(Grant::PreAuthorized, vec![sent("493536")]),
        true
    )));
    assert!(any_fail(&c09(
        &tx(Grant::PreAuthorized, vec![sent("000000")]),
        true
    )));
    let none = form(
        obs(0, "POST", "/token"),
        &[("grant_type", PRE_AUTHORIZED_GRANT)],
    );
    assert!(any_fail(&c09(&tx(Grant::PreAuthorized, vec![none]), true)));
}

// ---------------------------------------------------------------- deferred polling (CONF-WDEF-01)

fn at(o: Observed, ms: i64) -> Observed {
    Observed {
        at_ms: 1_800_000_000_000 + ms,
        ..o
    }
}

fn poll(seq: u64, ms: i64, status: u16, body: Value) -> Observed {
    let o = Observed {
        json: Some(json!({"transaction_id": "t-1"})),
        headers: vec![
            ("authorization".into(), "DPoP token".into()),
            ("dpop".into(), "proof".into()),
        ],
        ..obs(seq, "POST", "/deferred_credential")
    };
    answer(at(o, ms), status, body)
}

fn deferred_tx(polls: Vec<Observed>) -> Transaction {
    let accepted = answer(
        at(obs(0, "POST", "/credential"), 0),
        202,
        json!({"transaction_id": "t-1", "interval": 1}),
    );
    let mut observed = vec![accepted];
    observed.extend(polls);
    let mut t = tx(Grant::PreAuthorized, observed);
    t.observed.push(Observed {
        json: Some(json!({"notification_id": "n", "event": "credential_accepted"})),
        ..obs(99, "POST", "/notification")
    });
    t
}

#[test]
fn deferred_polling_respects_the_interval_but_not_for_nonce_retries() {
    let good = deferred_tx(vec![
        poll(1, 1000, 401, json!({"error": "use_dpop_nonce"})),
        poll(2, 1005, 202, json!({"interval": 1})),
        poll(3, 2100, 200, json!({"credentials": [{"credential": "x"}]})),
    ]);
    assert!(
        all_pass(&deferred_polling(&good)),
        "{:?}",
        deferred_polling(&good)
    );
    let early = deferred_tx(vec![
        poll(1, 70, 202, json!({"interval": 1})),
        poll(2, 1100, 200, json!({"credentials": [{"credential": "x"}]})),
    ]);
    assert!(any_fail(&deferred_polling(&early)));
    let gave_up = deferred_tx(vec![poll(1, 1000, 202, json!({"interval": 1}))]);
    assert!(any_fail(&deferred_polling(&gave_up)));
}

// ---------------------------------------------------------------- kept or refused (CONF-C07-06)

fn delivered(events: &[&str]) -> Transaction {
    let mut observed = vec![answer(
        obs(0, "POST", "/credential"),
        200,
        json!({"credentials": [{"credential": "x"}], "notification_id": "n-1"}),
    )];
    for (i, e) in events.iter().enumerate() {
        observed.push(Observed {
            json: Some(json!({"notification_id": "n-1", "event": e})),
            ..obs(1 + i as u64, "POST", "/notification")
        });
    }
    tx(Grant::PreAuthorized, observed)
}

#[test]
fn kept_and_refused_read_the_notification_and_never_a_timeout() {
    assert_eq!(
        delivered(&["credential_accepted"]).stored(),
        Stored::Accepted
    );
    assert!(matches!(
        delivered(&["credential_failure"]).stored(),
        Stored::Refused(_)
    ));
    assert_eq!(
        stores(&delivered(&["credential_accepted"])).status,
        Status::Pass
    );
    assert_eq!(
        refuses(&delivered(&["credential_accepted"])).status,
        Status::Fail
    );
    assert_eq!(
        refuses(&delivered(&["credential_failure"])).status,
        Status::Pass
    );
    // A command that succeeds without a notification: kept, not refused.
    assert_eq!(refuses(&delivered(&[])).status, Status::Fail);
    // A wallet that hangs proves nothing: both fail (CONF-RUN-04).
    let mut hung = delivered(&[]);
    hung.receive = Some(DriveOutcome {
        success: None,
        timed_out: true,
        summary: "killed after 120 s".into(),
        duration: Duration::from_secs(120),
    });
    assert!(matches!(hung.stored(), Stored::TimedOut(_)));
    assert_eq!(stores(&hung).status, Status::Fail);
    assert_eq!(refuses(&hung).status, Status::Fail);
    // Nothing issued: neither kept nor a refusal.
    let nothing = tx(Grant::PreAuthorized, Vec::new());
    assert_eq!(stores(&nothing).status, Status::Fail);
    assert_eq!(refuses(&nothing).status, Status::Fail);
}

#[test]
fn a_setup_failure_fails_instead_of_passing() {
    let mut t = tx(Grant::PreAuthorized, Vec::new());
    t.setup_error = Some("the offer could not be created".into());
    for assertions in [c04_04(&t), c05_05(&t), c08_03(&t), c09(&t, true)] {
        assert_eq!(statuses(&assertions), [Status::Fail]);
    }
}
