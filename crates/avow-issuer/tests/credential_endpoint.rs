//! The Nonce and Credential Endpoints' refusals (ISS-NONCE, ISS-CRED,
//! ISS-PROOF, ISS-DPOP at the resource): exact status and `error` for each.

mod common;

use avow_crypto::{Random, Signer, SoftwareSigner, SystemRandom};
use common::{Backend, PID, TestIssuer, Token, forged_jws, jws, proof_header, without};
use serde_json::{Value, json};

fn new_key() -> SoftwareSigner {
    SoftwareSigner::generate().expect("key")
}

fn credential_of(response: &common::Resp) -> String {
    response.json()["credentials"][0]["credential"]
        .as_str()
        .expect("credential")
        .to_owned()
}

/// ISS-NONCE-01, -02, -04: POST answers a fresh c_nonce, no-store, with a
/// DPoP-Nonce; other methods are 405.
#[tokio::test]
async fn iss_nonce_01_nonce_endpoint() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let response = issuer.send(issuer.http.post(issuer.nonce_url())).await;
    response.assert_status(200).assert_no_store();
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert!(response.header("dpop-nonce").is_some());
    let body = response.json();
    let first = body["c_nonce"].as_str().expect("c_nonce");
    assert_eq!(body.as_object().map(|o| o.len()), Some(1));
    assert_ne!(first, issuer.c_nonce().await, "unpredictable");
    for method in [reqwest::Method::GET, reqwest::Method::PUT] {
        let response = issuer
            .send(issuer.http.request(method, issuer.nonce_url()))
            .await;
        response.assert_status(405);
    }
}

/// ISS-CRED-02, ISS-DPOP-08, -09, -10: no, wrong-scheme or unknown access
/// token → DPoP 401 invalid_token.
#[tokio::test]
async fn iss_cred_02_dpop_09_access_token_refusals() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let token = issuer.fresh_token().await;
    let c_nonce = issuer.c_nonce().await;
    let holder = new_key();
    let body = TestIssuer::pid_request(&issuer.key_proof(&holder, &c_nonce).await);
    let url = issuer.credential_url();
    let proof_for = |access_token: String| {
        let issuer = &issuer;
        let key = &token.key;
        let url = url.clone();
        async move {
            let nonce = issuer.dpop_nonce().await;
            issuer
                .dpop(key, "POST", &url, Some(&access_token), Some(&nonce))
                .await
        }
    };

    // No Authorization header.
    let proof = proof_for(token.access_token.clone()).await;
    let request = issuer.http.post(&url).header("DPoP", proof).json(&body);
    issuer
        .send(request)
        .await
        .assert_dpop_challenge(401, "invalid_token");
    // The Bearer scheme for a DPoP-bound token.
    let proof = proof_for(token.access_token.clone()).await;
    let request = issuer
        .http
        .post(&url)
        .bearer_auth(&token.access_token)
        .header("DPoP", proof)
        .json(&body);
    issuer
        .send(request)
        .await
        .assert_dpop_challenge(401, "invalid_token");
    // An unknown token.
    let unknown = SystemRandom.token(32);
    let proof = proof_for(unknown.clone()).await;
    issuer
        .credential_request_raw(&unknown, &proof, |r| r.json(&body))
        .await
        .assert_dpop_challenge(401, "invalid_token");
    // The token in the query string is not a credential (ISS-DPOP-10).
    let proof = proof_for(token.access_token.clone()).await;
    let request = issuer
        .http
        .post(&url)
        .query(&[("access_token", &token.access_token)])
        .header("DPoP", proof)
        .json(&body);
    issuer
        .send(request)
        .await
        .assert_dpop_challenge(401, "invalid_token");

    // None of these consumed the c_nonce: the real request succeeds.
    issuer
        .credential_request(&token, &body)
        .await
        .assert_status(200);
}

/// ISS-CRED-02, ISS-TOK-05: the access token expires after 300 s.
#[tokio::test]
async fn iss_cred_02_expired_access_token() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let token = issuer.fresh_token().await;
    issuer.advance(299);
    let c_nonce = issuer.c_nonce().await;
    let proof = issuer.key_proof(&new_key(), &c_nonce).await;
    issuer
        .credential_request(&token, &TestIssuer::pid_request(&proof))
        .await
        .assert_status(200);
    issuer.advance(2);
    let c_nonce = issuer.c_nonce().await;
    let proof = issuer.key_proof(&new_key(), &c_nonce).await;
    issuer
        .credential_request(&token, &TestIssuer::pid_request(&proof))
        .await
        .assert_dpop_challenge(401, "invalid_token");
}

/// ISS-DPOP-01, -05, -06, -08 at the Credential Endpoint: DPoP 401s.
#[tokio::test]
async fn iss_dpop_05_06_08_proofs_at_the_credential_endpoint() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let token = issuer.fresh_token().await;
    let c_nonce = issuer.c_nonce().await;
    let body = TestIssuer::pid_request(&issuer.key_proof(&new_key(), &c_nonce).await);
    let url = issuer.credential_url();
    let at = token.access_token.as_str();
    let nonce = issuer.dpop_nonce().await;
    let send = |proof: String| {
        let issuer = &issuer;
        let body = &body;
        async move {
            issuer
                .credential_request_raw(at, &proof, |r| r.json(body))
                .await
        }
    };

    // A proof by another key than the token's (cnf.jkt).
    let proof = issuer
        .dpop(&new_key(), "POST", &url, Some(at), Some(&nonce))
        .await;
    send(proof)
        .await
        .assert_dpop_challenge(401, "invalid_dpop_proof");
    // Missing and wrong ath.
    let proof = issuer
        .dpop(&token.key, "POST", &url, None, Some(&nonce))
        .await;
    send(proof)
        .await
        .assert_dpop_challenge(401, "invalid_dpop_proof");
    let proof = issuer
        .dpop(
            &token.key,
            "POST",
            &url,
            Some("another-token"),
            Some(&nonce),
        )
        .await;
    send(proof)
        .await
        .assert_dpop_challenge(401, "invalid_dpop_proof");
    // The token endpoint's htu.
    let proof = issuer
        .dpop(
            &token.key,
            "POST",
            &issuer.token_url(),
            Some(at),
            Some(&nonce),
        )
        .await;
    send(proof)
        .await
        .assert_dpop_challenge(401, "invalid_dpop_proof");
    // No DPoP header, two DPoP headers.
    let request = issuer
        .http
        .post(&url)
        .header("Authorization", format!("DPoP {at}"))
        .json(&body);
    issuer
        .send(request)
        .await
        .assert_dpop_challenge(401, "invalid_dpop_proof");
    let one = issuer
        .dpop(&token.key, "POST", &url, Some(at), Some(&nonce))
        .await;
    let two = issuer
        .dpop(&token.key, "POST", &url, Some(at), Some(&nonce))
        .await;
    issuer
        .credential_request_raw(at, &one, |r| r.header("DPoP", two).json(&body))
        .await
        .assert_dpop_challenge(401, "invalid_dpop_proof");
    // ISS-DPOP-04: a replayed jti. The first use passes DPoP (and fails on the body) …
    let proof = issuer
        .dpop(&token.key, "POST", &url, Some(at), Some(&nonce))
        .await;
    let first = issuer
        .credential_request_raw(at, &proof, |r| {
            r.header("Content-Type", "text/plain").body("x")
        })
        .await;
    first.assert_error(400, "invalid_credential_request");
    // … the second is refused.
    send(proof)
        .await
        .assert_dpop_challenge(401, "invalid_dpop_proof");

    // No nonce: 401 use_dpop_nonce with a DPoP-Nonce; the retry with it works.
    let proof = issuer.dpop(&token.key, "POST", &url, Some(at), None).await;
    let response = send(proof).await;
    response.assert_dpop_challenge(401, "use_dpop_nonce");
    let fresh = response
        .header("dpop-nonce")
        .expect("DPoP-Nonce")
        .to_owned();
    let proof = issuer
        .dpop(&token.key, "POST", &url, Some(at), Some(&fresh))
        .await;
    let response = send(proof).await;
    response.assert_status(200).assert_no_store();
    assert!(response.header("dpop-nonce").is_some());
}

/// ISS-CRED-01, -03, -04, -05, -07, -08, -09, -10, ISS-BATCH: the request's
/// shape; none of the refusals consumes the c_nonce (ISS-CRED-16).
#[tokio::test]
async fn iss_cred_01_to_10_request_shape() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let token = issuer.fresh_token().await;
    let c_nonce = issuer.c_nonce().await;
    let holder = new_key();
    let proof = issuer.key_proof(&holder, &c_nonce).await;
    let refused = |body: Value, status: u16, error: &'static str| {
        let issuer = &issuer;
        let token = &token;
        async move {
            let response = issuer.credential_request(token, &body).await;
            assert_eq!(response.status, status, "{body}");
            response.assert_error(status, error);
        }
    };

    // ISS-CRED-01: not application/json.
    let nonce = issuer.dpop_nonce().await;
    let dpop = issuer
        .dpop(
            &token.key,
            "POST",
            &issuer.credential_url(),
            Some(&token.access_token),
            Some(&nonce),
        )
        .await;
    let json_text = TestIssuer::pid_request(&proof).to_string();
    issuer
        .credential_request_raw(&token.access_token, &dpop, |r| {
            r.header("Content-Type", "text/plain").body(json_text)
        })
        .await
        .assert_error(400, "invalid_credential_request");
    refused(json!("not an object"), 400, "invalid_credential_request").await;

    // ISS-CRED-03, -04, -05.
    refused(
        json!({ "credential_configuration_id": PID, "credential_identifier": "x",
                "proofs": { "jwt": [proof] } }),
        400,
        "invalid_credential_request",
    )
    .await;
    refused(
        json!({ "proofs": { "jwt": [proof] } }),
        400,
        "invalid_credential_request",
    )
    .await;
    refused(
        json!({ "credential_identifier": "pid-1", "proofs": { "jwt": [proof] } }),
        400,
        "invalid_credential_request",
    )
    .await;
    refused(
        json!({ "credential_configuration_id": "unknown", "proofs": { "jwt": [proof] } }),
        400,
        "unknown_credential_configuration",
    )
    .await;

    // ISS-CRED-09: the legacy `proof`.
    refused(
        json!({ "credential_configuration_id": PID,
                "proof": { "proof_type": "jwt", "jwt": proof } }),
        400,
        "invalid_credential_request",
    )
    .await;
    refused(
        json!({ "credential_configuration_id": PID, "proof": { "proof_type": "jwt", "jwt": proof },
                "proofs": { "jwt": [proof] } }),
        400,
        "invalid_credential_request",
    )
    .await;

    // ISS-CRED-07, -08.
    refused(
        json!({ "credential_configuration_id": PID }),
        400,
        "invalid_proof",
    )
    .await;
    for proofs in [
        json!({ "jwt": [proof], "attestation": [proof] }),
        json!({ "jwt": [] }),
        json!({}),
        json!({ "jwt": proof }),
        json!({ "attestation": [proof] }),
        json!({ "ldp_vp": [proof] }),
        // The same key twice (ISS-PROOF-09); batch limits: tests/key_attestation.rs.
        json!({ "jwt": [proof, proof] }),
    ] {
        refused(
            json!({ "credential_configuration_id": PID, "proofs": proofs }),
            400,
            "invalid_proof",
        )
        .await;
    }

    // ISS-CRED-10: unknown members (legacy `format`) are ignored; the c_nonce is still fresh.
    let response = issuer
        .credential_request(
            &token,
            &json!({ "credential_configuration_id": PID, "format": "dc+sd-jwt",
                     "unknown": 1, "proofs": { "jwt": [proof] } }),
        )
        .await;
    response.assert_status(200);
    let (verified, _) = issuer.verify_credential(&credential_of(&response));
    assert_eq!(verified.holder_key.as_ref(), Some(holder.public_jwk()));
}

/// ISS-CRED-06: a configuration the token does not cover → DPoP 403 insufficient_scope.
#[tokio::test]
async fn iss_cred_06_insufficient_scope() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, |config| {
        let mut other = config.credential_configurations[PID].clone();
        other.scope = "other".into();
        other.vct = Some("urn:example:other".into());
        config
            .credential_configurations
            .insert("other-sd-jwt".into(), other);
    })
    .await;
    let token = issuer.fresh_token().await;
    let c_nonce = issuer.c_nonce().await;
    let proof = issuer.key_proof(&new_key(), &c_nonce).await;
    issuer
        .credential_request(
            &token,
            &json!({ "credential_configuration_id": "other-sd-jwt", "proofs": { "jwt": [proof] } }),
        )
        .await
        .assert_dpop_challenge(403, "insufficient_scope");
    issuer
        .credential_request(&token, &TestIssuer::pid_request(&proof))
        .await
        .assert_status(200);
}

/// ISS-PROOF-01 … -07, ISS-NONCE-03, ISS-CRED-14: key proof faults are
/// 400 invalid_proof, nonce faults 400 invalid_nonce.
#[tokio::test]
async fn iss_proof_01_to_07_key_proofs() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let token = issuer.fresh_token().await;
    let c_nonce = issuer.c_nonce().await;
    let holder = new_key();
    let header = proof_header(&holder);
    let claims = issuer.proof_claims(&c_nonce);
    let now = issuer.now();
    let refused = |proof: String, error: &'static str, why: &'static str| {
        let issuer = &issuer;
        let token = &token;
        async move {
            let response = issuer
                .credential_request(token, &TestIssuer::pid_request(&proof))
                .await;
            assert_eq!(response.status, 400, "{why}");
            let body = response.json();
            assert_eq!(body["error"], error, "{why}: {body}");
            response.assert_error(400, error);
        }
    };
    let with = |mut value: Value, member: &str, v: Value| {
        value[member] = v;
        value
    };

    // ISS-PROOF-01, -03.
    refused(
        jws(&new_key(), header.clone(), &claims).await,
        "invalid_proof",
        "bad signature",
    )
    .await;
    refused(
        jws(&holder, with(header.clone(), "typ", json!("JWT")), &claims).await,
        "invalid_proof",
        "typ JWT",
    )
    .await;
    refused(
        jws(
            &holder,
            with(header.clone(), "typ", json!("dpop+jwt")),
            &claims,
        )
        .await,
        "invalid_proof",
        "typ dpop+jwt",
    )
    .await;
    refused(
        jws(&holder, without(&header, "typ"), &claims).await,
        "invalid_proof",
        "no typ",
    )
    .await;
    refused(
        forged_jws(&with(header.clone(), "alg", json!("none")), &claims, b""),
        "invalid_proof",
        "alg none",
    )
    .await;
    refused(
        forged_jws(
            &with(header.clone(), "alg", json!("HS256")),
            &claims,
            &[9u8; 32],
        ),
        "invalid_proof",
        "alg HS256",
    )
    .await;
    refused("a.b".into(), "invalid_proof", "not a JWS").await;

    // ISS-PROOF-02: key references.
    refused(
        jws(&holder, without(&header, "jwk"), &claims).await,
        "invalid_proof",
        "no key header",
    )
    .await;
    let mut private = header.clone();
    private["jwk"]["d"] = json!(avow_crypto::b64::encode([3u8; 32]));
    refused(
        jws(&holder, private, &claims).await,
        "invalid_proof",
        "jwk with d",
    )
    .await;
    refused(
        jws(
            &holder,
            with(header.clone(), "kid", json!("key-1")),
            &claims,
        )
        .await,
        "invalid_proof",
        "jwk and kid",
    )
    .await;
    refused(
        jws(
            &holder,
            with(without(&header, "jwk"), "kid", json!("did:jwk:x#0")),
            &claims,
        )
        .await,
        "invalid_proof",
        "kid only",
    )
    .await;

    // ISS-PROOF-04, -05, -07, -06 (missing nonce).
    refused(
        jws(
            &holder,
            header.clone(),
            &with(claims.clone(), "aud", json!("https://other.example")),
        )
        .await,
        "invalid_proof",
        "aud of another issuer",
    )
    .await;
    refused(
        jws(
            &holder,
            header.clone(),
            &with(claims.clone(), "aud", json!([issuer.url])),
        )
        .await,
        "invalid_proof",
        "aud as an array",
    )
    .await;
    refused(
        jws(&holder, header.clone(), &without(&claims, "iat")).await,
        "invalid_proof",
        "no iat",
    )
    .await;
    refused(
        jws(
            &holder,
            header.clone(),
            &with(claims.clone(), "iat", json!(now + 3600)),
        )
        .await,
        "invalid_proof",
        "iat 1 h in the future",
    )
    .await;
    refused(
        jws(
            &holder,
            header.clone(),
            &with(claims.clone(), "iat", json!(now - 3600)),
        )
        .await,
        "invalid_proof",
        "iat 1 h in the past",
    )
    .await;
    refused(
        jws(
            &holder,
            header.clone(),
            &with(claims.clone(), "iss", json!("some-wallet")),
        )
        .await,
        "invalid_proof",
        "iss on anonymous access",
    )
    .await;
    refused(
        jws(&holder, header.clone(), &without(&claims, "nonce")).await,
        "invalid_proof",
        "no nonce",
    )
    .await;

    // ISS-PROOF-06: unknown nonces (a DPoP nonce is not a c_nonce).
    let dpop_nonce = issuer.dpop_nonce().await;
    for unknown in [SystemRandom.token(33), dpop_nonce] {
        refused(
            jws(&holder, header.clone(), &issuer.proof_claims(&unknown)).await,
            "invalid_nonce",
            "unknown nonce",
        )
        .await;
    }

    // None of the refusals consumed the c_nonce.
    let good = issuer.key_proof(&holder, &c_nonce).await;
    let response = issuer
        .credential_request(&token, &TestIssuer::pid_request(&good))
        .await;
    response.assert_status(200);
    let first = credential_of(&response);

    // ISS-NONCE-03: a used c_nonce is refused, even with another key.
    let again = issuer.key_proof(&new_key(), &c_nonce).await;
    refused(again, "invalid_nonce", "replayed c_nonce").await;

    // ISS-CRED-14: the same token with a fresh c_nonce issues a fresh credential.
    let fresh = issuer.c_nonce().await;
    let other_holder = new_key();
    let proof = issuer.key_proof(&other_holder, &fresh).await;
    let response = issuer
        .credential_request(&token, &TestIssuer::pid_request(&proof))
        .await;
    response.assert_status(200);
    let second = credential_of(&response);
    assert_ne!(first, second);
    let (verified, _) = issuer.verify_credential(&second);
    assert_eq!(
        verified.holder_key.as_ref(),
        Some(other_holder.public_jwk())
    );
    let (verified, _) = issuer.verify_credential(&first);
    assert_eq!(verified.holder_key.as_ref(), Some(holder.public_jwk()));
}

/// ISS-NONCE-02, ISS-PROOF-06: a c_nonce older than c_nonce_lifetime (300 s) is invalid_nonce.
#[tokio::test]
async fn iss_nonce_02_expired_c_nonce() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let c_nonce = issuer.c_nonce().await;
    let kept = issuer.c_nonce().await;
    // The token is taken later so that it outlives the nonce.
    issuer.advance(200);
    let token: Token = issuer.fresh_token().await;
    issuer.advance(100);
    let proof = issuer.key_proof(&new_key(), &kept).await;
    issuer
        .credential_request(&token, &TestIssuer::pid_request(&proof))
        .await
        .assert_status(200);
    issuer.advance(1);
    let proof = issuer.key_proof(&new_key(), &c_nonce).await;
    issuer
        .credential_request(&token, &TestIssuer::pid_request(&proof))
        .await
        .assert_error(400, "invalid_nonce");
}

/// ISS-CRED-16, ISS-NONCE-03 (VCI §8.3.1.2, §13.8): no partial issuance. A
/// batch whose second proof carries a spent c_nonce fails with 400
/// invalid_nonce, issues nothing and leaves the first proof's c_nonce
/// unspent; likewise when the second c_nonce is unknown.
async fn iss_cred_16_batch_with_a_spent_nonce_consumes_nothing(backend: Backend) {
    let issuer = TestIssuer::start(backend).await;
    let token = issuer.fresh_token().await;
    // The good c_nonce sorts first, so a one-by-one consumer in sorted order
    // (the fault this guards against) would spend it before meeting the bad one.
    let (a, b) = (issuer.c_nonce().await, issuer.c_nonce().await);
    let (first_nonce, spent_nonce) = if a < b { (a, b) } else { (b, a) };
    // Spend the second c_nonce in a successful request.
    let proof = issuer.key_proof(&new_key(), &spent_nonce).await;
    issuer
        .credential_request(&token, &TestIssuer::pid_request(&proof))
        .await
        .assert_status(200);
    let issued_before = issuer
        .state
        .store
        .issuances_for_holder(common::HOLDER)
        .await
        .expect("issuances")
        .len();

    // A batch: a good proof with a fresh c_nonce, then one with the spent c_nonce.
    let holder = new_key();
    let good = issuer.key_proof(&holder, &first_nonce).await;
    let replayed = issuer.key_proof(&new_key(), &spent_nonce).await;
    let response = issuer
        .credential_request(
            &token,
            &json!({ "credential_configuration_id": PID, "proofs": { "jwt": [good, replayed] } }),
        )
        .await;
    response
        .assert_error(400, "invalid_nonce")
        .assert_no_store();
    assert!(response.json().get("credentials").is_none());
    // The same with an unknown c_nonce in second place.
    // '~' sorts after every base64url character.
    let forged = issuer.key_proof(&new_key(), "~not-a-c-nonce").await;
    let good = issuer.key_proof(&holder, &first_nonce).await;
    issuer
        .credential_request(
            &token,
            &json!({ "credential_configuration_id": PID, "proofs": { "jwt": [good, forged] } }),
        )
        .await
        .assert_error(400, "invalid_nonce");
    let issued_after = issuer
        .state
        .store
        .issuances_for_holder(common::HOLDER)
        .await
        .expect("issuances")
        .len();
    assert_eq!(issued_before, issued_after, "nothing issued");

    // The first c_nonce was not spent by the failed requests.
    let proof = issuer.key_proof(&holder, &first_nonce).await;
    let response = issuer
        .credential_request(&token, &TestIssuer::pid_request(&proof))
        .await;
    response.assert_status(200);
    let (verified, _) = issuer.verify_credential(&credential_of(&response));
    assert_eq!(verified.holder_key.as_ref(), Some(holder.public_jwk()));
    // … and now it is.
    let proof = issuer.key_proof(&new_key(), &first_nonce).await;
    issuer
        .credential_request(&token, &TestIssuer::pid_request(&proof))
        .await
        .assert_error(400, "invalid_nonce");
}

#[tokio::test]
async fn iss_cred_16_batch_with_a_spent_nonce_consumes_nothing_sqlite() {
    iss_cred_16_batch_with_a_spent_nonce_consumes_nothing(Backend::Sqlite).await;
}

#[tokio::test]
async fn iss_cred_16_batch_with_a_spent_nonce_consumes_nothing_postgres() {
    iss_cred_16_batch_with_a_spent_nonce_consumes_nothing(Backend::Postgres).await;
}

/// The demo holder's claims without `without`, re-imported through the admin API.
async fn reimport_demo_holder_without(issuer: &TestIssuer, without: &[&str]) {
    let mut holders: Value =
        serde_json::from_str(avow_issuer::config::DEMO_HOLDERS).expect("demo holders");
    let claims = holders[0]["claims"]
        .as_object_mut()
        .expect("demo holder claims");
    for claim in without {
        claims.remove(*claim);
    }
    issuer.import_holders(&holders).await.assert_status(200);
}

async fn issued_count(issuer: &TestIssuer) -> usize {
    issuer
        .state
        .store
        .issuances_for_holder(common::HOLDER)
        .await
        .expect("issuances")
        .len()
}

/// ISS-CRED-13, ISS-SDJWT-10 (VCI §8.3.1.2, App. B.2): the holder data was
/// re-imported without a claim the PID marks `mandatory` → 400
/// credential_request_denied, nothing issued; after the claim is back the
/// same token gets the credential, with the claim.
#[tokio::test]
async fn iss_cred_13_sdjwt_10_missing_mandatory_claim_is_denied() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let token = issuer.fresh_token().await;
    reimport_demo_holder_without(&issuer, &["birthdate"]).await;
    let c_nonce = issuer.c_nonce().await;
    let proof = issuer.key_proof(&new_key(), &c_nonce).await;
    let response = issuer
        .credential_request(&token, &TestIssuer::pid_request(&proof))
        .await;
    response
        .assert_error(400, "credential_request_denied")
        .assert_no_store();
    assert!(response.json().get("credentials").is_none());
    assert_eq!(issued_count(&issuer).await, 0);

    // An optional claim may be missing.
    reimport_demo_holder_without(&issuer, &["address"]).await;
    let c_nonce = issuer.c_nonce().await;
    let proof = issuer.key_proof(&new_key(), &c_nonce).await;
    let response = issuer
        .credential_request(&token, &TestIssuer::pid_request(&proof))
        .await;
    response.assert_status(200);
    let (verified, _) = issuer.verify_credential(&credential_of(&response));
    let claims = serde_json::to_value(&verified.claims).expect("claims");
    assert_eq!(claims["birthdate"], "1964-08-12", "{claims}");
    assert!(claims.get("address").is_none(), "{claims}");
}

/// ISS-CRED-13, ISS-MDOC (VCI §8.3.1.2, App. B.2): an mdoc whose holder
/// data lacks a mandatory element → 400 credential_request_denied.
#[tokio::test]
async fn iss_cred_13_mdoc_missing_mandatory_element_is_denied() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, |config| {
        // jwt proofs for the mdoc (configurable, C-18), so a plain key proof serves.
        if let Some(mdoc) = config.credential_configurations.get_mut("pid-mdoc") {
            mdoc.proofs = Some(avow_issuer::key_proof::ProofsConfig {
                types: Some(vec!["jwt".into()]),
                key_attestations_required: None,
            });
        }
    })
    .await;
    let response = issuer
        .create_offer_request(
            &json!({ "holder_id": common::HOLDER, "credential_configuration_ids": ["pid-mdoc"] }),
        )
        .await;
    let offer: avow_issuer::offer::CreatedOffer =
        serde_json::from_slice(&response.assert_status(201).body).expect("offer");
    let token = issuer.token(&offer).await;
    reimport_demo_holder_without(&issuer, &["family_name"]).await;
    let c_nonce = issuer.c_nonce().await;
    let proof = issuer.key_proof(&new_key(), &c_nonce).await;
    let request =
        json!({ "credential_configuration_id": "pid-mdoc", "proofs": { "jwt": [proof] } });
    let response = issuer.credential_request(&token, &request).await;
    response
        .assert_error(400, "credential_request_denied")
        .assert_no_store();
    assert_eq!(issued_count(&issuer).await, 0);

    // With the element back the same request shape succeeds.
    reimport_demo_holder_without(&issuer, &[]).await;
    let c_nonce = issuer.c_nonce().await;
    let proof = issuer.key_proof(&new_key(), &c_nonce).await;
    let request =
        json!({ "credential_configuration_id": "pid-mdoc", "proofs": { "jwt": [proof] } });
    issuer
        .credential_request(&token, &request)
        .await
        .assert_status(200);
}

/// ISS-CRED-13 (VCI §8.3.1.2): the holder record of a valid token no longer
/// exists (holder data withdrawn) → 400 credential_request_denied.
async fn iss_cred_13_withdrawn_holder_is_denied(backend: Backend) {
    let issuer = TestIssuer::start(backend).await;
    let token = issuer.fresh_token().await;
    issuer
        .execute_sql("DELETE FROM holders WHERE id = 'demo-erika'")
        .await;
    let c_nonce = issuer.c_nonce().await;
    let proof = issuer.key_proof(&new_key(), &c_nonce).await;
    let response = issuer
        .credential_request(&token, &TestIssuer::pid_request(&proof))
        .await;
    response
        .assert_error(400, "credential_request_denied")
        .assert_no_store();
    assert!(response.json().get("credentials").is_none());
    assert_eq!(issued_count(&issuer).await, 0);
}

#[tokio::test]
async fn iss_cred_13_withdrawn_holder_is_denied_sqlite() {
    iss_cred_13_withdrawn_holder_is_denied(Backend::Sqlite).await;
}

#[tokio::test]
async fn iss_cred_13_withdrawn_holder_is_denied_postgres() {
    iss_cred_13_withdrawn_holder_is_denied(Backend::Postgres).await;
}
