//! The Token Endpoint's refusals (ISS-TOK, ISS-TPA, ISS-DPOP at the AS):
//! exact status and `error` for each, and which refusals leave the code usable.

mod common;

use avow_crypto::{Random, Signer, SoftwareSigner, SystemRandom};
use common::{
    Backend, PRE_AUTH_GRANT, TestIssuer, code_of, forged_jws, header_of, jws, payload_of,
    with_header, without,
};
use serde_json::json;

fn other_key() -> SoftwareSigner {
    SoftwareSigner::generate().expect("key")
}

fn grant(code: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("grant_type", PRE_AUTH_GRANT),
        ("pre-authorized_code", code),
    ]
}

/// ISS-TOK-01, -02, -09, ISS-TPA-01, -02: malformed requests are refused
/// before the code is touched; replay of a redeemed code is `invalid_grant`.
#[tokio::test]
async fn iss_tok_02_tpa_01_02_request_parameters() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let offer = issuer.create_offer(false).await;
    let code = code_of(&offer);
    let key = other_key();

    let proof = issuer.token_dpop(&key).await;
    issuer
        .token_request(&[("pre-authorized_code", code)], &[&proof])
        .await
        .assert_error(400, "invalid_request");
    let proof = issuer.token_dpop(&key).await;
    issuer
        .token_request(
            &[("grant_type", "password"), ("pre-authorized_code", code)],
            &[&proof],
        )
        .await
        .assert_error(400, "unsupported_grant_type");
    let proof = issuer.token_dpop(&key).await;
    issuer
        .token_request(&[("grant_type", PRE_AUTH_GRANT)], &[&proof])
        .await
        .assert_error(400, "invalid_request");
    let proof = issuer.token_dpop(&key).await;
    issuer
        .token_request(
            &[("grant_type", PRE_AUTH_GRANT), ("pre-authorized_code", "")],
            &[&proof],
        )
        .await
        .assert_error(400, "invalid_request");
    // A repeated parameter (RFC 6749 §3.2).
    let proof = issuer.token_dpop(&key).await;
    let mut repeated = grant(code);
    repeated.push(("pre-authorized_code", code));
    issuer
        .token_request(&repeated, &[&proof])
        .await
        .assert_error(400, "invalid_request");
    let proof = issuer.token_dpop(&key).await;
    let unknown = SystemRandom.token(32);
    issuer
        .token_request(&grant(&unknown), &[&proof])
        .await
        .assert_error(400, "invalid_grant");

    // ISS-TOK-01: a JSON body is not a token request.
    let proof = issuer.token_dpop(&key).await;
    let request = issuer
        .client_auth(issuer.http.post(issuer.token_url()))
        .await
        .header("DPoP", proof)
        .json(&json!({ "grant_type": PRE_AUTH_GRANT, "pre-authorized_code": code }));
    issuer
        .send(request)
        .await
        .assert_error(400, "invalid_request");

    // None of that used the code; unknown parameters are ignored (ISS-TOK-09).
    let proof = issuer.token_dpop(&key).await;
    let mut with_unknown = grant(code);
    with_unknown.push(("unknown_parameter", "ignored"));
    issuer
        .token_request(&with_unknown, &[&proof])
        .await
        .assert_status(200)
        .assert_no_store();
    // ISS-TPA-02: a used code.
    issuer
        .redeem(code, None)
        .await
        .assert_error(400, "invalid_grant");
}

/// ISS-OFFER-04, ISS-TPA-02: an expired code is `invalid_grant`, and its
/// offer URI answers 404 (ISS-OFFER-07).
#[tokio::test]
async fn iss_tpa_02_expired_code() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let offer = issuer.create_offer(false).await;
    issuer.advance(599);
    issuer
        .get(&offer.credential_offer_uri)
        .await
        .assert_status(200);
    issuer.advance(2);
    issuer
        .redeem(code_of(&offer), None)
        .await
        .assert_error(400, "invalid_grant");
    issuer
        .get(&offer.credential_offer_uri)
        .await
        .assert_error(404, "not_found");
}

/// ISS-TPA-03, -04, -05: the transaction code rules.
#[tokio::test]
async fn iss_tpa_03_04_05_transaction_code() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let offer = issuer.create_offer(true).await;
    let code = code_of(&offer);
    let tx_code = offer.tx_code.clone().expect("tx_code");
    let wrong = wrong_tx_code(&tx_code);

    // Required but absent; sent although the offer has none.
    issuer
        .redeem(code, None)
        .await
        .assert_error(400, "invalid_request");
    let plain = issuer.create_offer(false).await;
    issuer
        .redeem(code_of(&plain), Some("123456"))
        .await
        .assert_error(400, "invalid_request");
    // Neither consumed the code.
    issuer
        .redeem(code_of(&plain), None)
        .await
        .assert_status(200);

    // Wrong: invalid_grant saying so (never invalid_tx_code); below the maximum the right one still works.
    for _ in 0..4 {
        let response = issuer.redeem(code, Some(&wrong)).await;
        response.assert_error(400, "invalid_grant");
        let description = response.json()["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(description.contains("transaction code"), "{description}");
    }
    issuer.redeem(code, Some(&tx_code)).await.assert_status(200);
    issuer
        .redeem(code, Some(&tx_code))
        .await
        .assert_error(400, "invalid_grant");

    // After max_tx_code_attempts (default 5) wrong codes, the right one fails too.
    assert_eq!(issuer.state.config.policy.max_tx_code_attempts, 5);
    let offer = issuer.create_offer(true).await;
    let code = code_of(&offer);
    let tx_code = offer.tx_code.clone().expect("tx_code");
    let wrong = wrong_tx_code(&tx_code);
    for _ in 0..5 {
        issuer
            .redeem(code, Some(&wrong))
            .await
            .assert_error(400, "invalid_grant");
    }
    issuer
        .redeem(code, Some(&tx_code))
        .await
        .assert_error(400, "invalid_grant");
    issuer
        .get(&offer.credential_offer_uri)
        .await
        .assert_error(404, "not_found");
}

fn wrong_tx_code(right: &str) -> String {
    let first = if right.starts_with('0') { '1' } else { '0' };
    format!("{first}{}", &right[1..])
}

/// ISS-DPOP-06, -07: without a current nonce the AS answers 400
/// use_dpop_nonce with a DPoP-Nonce header, and the code is not consumed.
#[tokio::test]
async fn iss_dpop_06_use_dpop_nonce_keeps_the_code() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let offer = issuer.create_offer(false).await;
    let code = code_of(&offer);
    let key = other_key();
    let url = issuer.token_url();

    let proof = issuer.dpop(&key, "POST", &url, None, None).await;
    let response = issuer.token_request(&grant(code), &[&proof]).await;
    response.assert_error(400, "use_dpop_nonce");
    let nonce = response
        .header("dpop-nonce")
        .expect("DPoP-Nonce with use_dpop_nonce")
        .to_owned();

    // A forged nonce, and a c_nonce used as DPoP nonce, are not current nonces.
    let proof = issuer
        .dpop(&key, "POST", &url, None, Some("bm90LWEtbm9uY2U"))
        .await;
    issuer
        .token_request(&grant(code), &[&proof])
        .await
        .assert_error(400, "use_dpop_nonce");
    let c_nonce = issuer.c_nonce().await;
    let proof = issuer.dpop(&key, "POST", &url, None, Some(&c_nonce)).await;
    issuer
        .token_request(&grant(code), &[&proof])
        .await
        .assert_error(400, "use_dpop_nonce");

    // An expired nonce (dpop_nonce_lifetime 300 s).
    let old = issuer.dpop_nonce().await;
    issuer.advance(301);
    let proof = issuer.dpop(&key, "POST", &url, None, Some(&old)).await;
    let response = issuer.token_request(&grant(code), &[&proof]).await;
    response.assert_error(400, "use_dpop_nonce");
    let nonce_after = response
        .header("dpop-nonce")
        .expect("DPoP-Nonce")
        .to_owned();
    assert_ne!(nonce, nonce_after);

    // The retry with the nonce just handed out succeeds.
    let proof = issuer
        .dpop(&key, "POST", &url, None, Some(&nonce_after))
        .await;
    issuer
        .token_request(&grant(code), &[&proof])
        .await
        .assert_status(200);
}

/// ISS-DPOP-01 … -04 at the token endpoint: every fault is 400
/// invalid_dpop_proof and leaves the code usable.
#[tokio::test]
async fn iss_dpop_01_to_04_invalid_proofs_at_the_token_endpoint() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let offer = issuer.create_offer(false).await;
    let code = code_of(&offer);
    let key = other_key();
    let url = issuer.token_url();
    let nonce = issuer.dpop_nonce().await;
    let now = issuer.now();
    let claims =
        |jti: &str| json!({ "jti": jti, "htm": "POST", "htu": url, "iat": now, "nonce": nonce });
    let header = json!({ "typ": "dpop+jwt", "jwk": key.public_jwk().to_json() });

    let refused = |proofs: Vec<String>, why: &'static str| {
        let issuer = &issuer;
        async move {
            let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
            let response = issuer.token_request(&grant(code), &proofs).await;
            assert_eq!(response.status, 400, "{why}");
            response.assert_error(400, "invalid_dpop_proof");
        }
    };

    refused(vec![], "no DPoP header").await;
    let one = issuer.dpop(&key, "POST", &url, None, Some(&nonce)).await;
    let two = issuer.dpop(&key, "POST", &url, None, Some(&nonce)).await;
    refused(vec![one, two], "two DPoP headers").await;
    refused(
        vec![
            issuer
                .dpop(&key, "POST", &issuer.credential_url(), None, Some(&nonce))
                .await,
        ],
        "htu of another endpoint",
    )
    .await;
    refused(
        vec![
            issuer
                .dpop(&key, "POST", &format!("{url}/other"), None, Some(&nonce))
                .await,
        ],
        "htu with another path",
    )
    .await;
    refused(
        vec![issuer.dpop(&key, "GET", &url, None, Some(&nonce)).await],
        "htm GET",
    )
    .await;
    refused(
        vec![
            issuer
                .dpop_at(&key, "POST", &url, None, Some(&nonce), now - 11)
                .await,
        ],
        "iat 11 s in the past",
    )
    .await;
    refused(
        vec![
            issuer
                .dpop_at(&key, "POST", &url, None, Some(&nonce), now + 11)
                .await,
        ],
        "iat 11 s in the future",
    )
    .await;
    let mut bad_typ = header.clone();
    bad_typ["typ"] = json!("jwt");
    refused(vec![jws(&key, bad_typ, &claims("t1")).await], "typ jwt").await;
    let no_typ = without(&header, "typ");
    refused(vec![jws(&key, no_typ, &claims("t2")).await], "no typ").await;
    let mut none = header.clone();
    none["alg"] = json!("none");
    refused(vec![forged_jws(&none, &claims("t3"), b"")], "alg none").await;
    let mut hs256 = header.clone();
    hs256["alg"] = json!("HS256");
    refused(
        vec![forged_jws(&hs256, &claims("t4"), &[7u8; 32])],
        "alg HS256",
    )
    .await;
    // Signed by another key than the one in the header.
    refused(
        vec![jws(&other_key(), header.clone(), &claims("t5")).await],
        "bad signature",
    )
    .await;
    // A valid proof whose header was swapped for one naming another key.
    let good = jws(&key, header.clone(), &claims("t6")).await;
    let mut swapped = header_of(&good);
    swapped["jwk"] = other_key().public_jwk().to_json();
    refused(vec![with_header(&good, &swapped)], "header swapped").await;
    let mut with_d = header.clone();
    with_d["jwk"]["d"] = json!(avow_crypto::b64::encode([1u8; 32]));
    refused(vec![jws(&key, with_d, &claims("t7")).await], "jwk with d").await;
    let no_jwk = without(&header, "jwk");
    refused(vec![jws(&key, no_jwk, &claims("t8")).await], "no jwk").await;
    let no_jti = without(&claims("t9"), "jti");
    refused(vec![jws(&key, header.clone(), &no_jti).await], "no jti").await;
    refused(vec!["not-a-jwt".into()], "not a JWS").await;

    // ISS-DPOP-04: a jti is single-use. The first use passes DPoP (and fails on the code) …
    let replayed = issuer.dpop(&key, "POST", &url, None, Some(&nonce)).await;
    let unknown = SystemRandom.token(32);
    issuer
        .token_request(&grant(&unknown), &[&replayed])
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(payload_of(&replayed)["htu"], url);
    // … the second is refused before the code is looked at.
    refused(vec![replayed], "jti replay").await;

    // The code is intact; iat at the edge of the ±10 s window is accepted.
    let proof = issuer
        .dpop_at(&key, "POST", &url, None, Some(&nonce), now - 10)
        .await;
    issuer
        .token_request(&grant(code), &[&proof])
        .await
        .assert_status(200);
}

/// ISS-TPA-07, ISS-TOK-03, ISS-ASMETA-07: without anonymous access a
/// request without client authentication is 401 invalid_client.
#[tokio::test]
async fn iss_tpa_07_anonymous_access_off() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, |config| {
        config.policy.pre_authorized_grant_anonymous_access = false;
    })
    .await;
    let metadata = issuer
        .get(&format!(
            "{}/.well-known/oauth-authorization-server",
            issuer.url
        ))
        .await
        .json();
    assert_eq!(
        metadata["pre-authorized_grant_anonymous_access_supported"],
        false
    );
    let offer = issuer.create_offer(false).await;
    let proof = issuer.token_dpop(&other_key()).await;
    // Deliberately without `client_auth`: this is the unauthenticated request.
    let request = issuer
        .http
        .post(issuer.token_url())
        .header("DPoP", proof)
        .form(&grant(code_of(&offer)));
    issuer
        .send(request)
        .await
        .assert_error(401, "invalid_client");
}

/// ISS-TPA-09, ISS-SEC-02: eight simultaneous redemptions of one code, on
/// two instances sharing the store, yield exactly one token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iss_tpa_09_concurrent_redemption_sqlite() {
    concurrent_redemption(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iss_tpa_09_concurrent_redemption_postgres() {
    concurrent_redemption(Backend::Postgres).await;
}

async fn concurrent_redemption(backend: Backend) {
    let first = TestIssuer::start(backend).await;
    let second = first.sibling().await;
    let offer = first.create_offer(false).await;
    let code = code_of(&offer).to_owned();
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(8));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let instance = if i % 2 == 0 { &first } else { &second };
        let proof = instance.token_dpop(&other_key()).await;
        let request = instance
            .client_auth(instance.http.post(instance.token_url()))
            .await
            .header("DPoP", proof)
            .form(&grant(&code));
        let start = start.clone();
        tasks.spawn(async move {
            start.wait().await;
            let response = request.send().await.expect("token request");
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.expect("JSON body");
            (status, body)
        });
    }
    let mut successes = 0;
    while let Some(result) = tasks.join_next().await {
        let (status, body) = result.expect("task");
        match status {
            200 => successes += 1,
            400 => assert_eq!(body["error"], "invalid_grant", "{body}"),
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    assert_eq!(successes, 1, "exactly one redemption succeeds");
}
