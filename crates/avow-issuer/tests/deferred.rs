//! Deferred issuance (OID4VCI 1.0 §8.3, §9; ISS-DEF-01 … -09, ISS-META-05,
//! ISS-ENC-08, WAL-DEF-*): the 202 of the Credential Endpoint, the Deferred
//! Credential Endpoint with every refusal and its exact status and code, the
//! admin API, restarts and a second instance, and the wallet end to end.

#[path = "common/code_flow.rs"]
mod code_flow;
mod common;

use avow_crypto::ecdh::EcdhPrivateKey;
use avow_crypto::jwe::{CompactJwe, ContentEncryption, JweOptions, encrypt_compact};
use avow_crypto::{EcPublicJwk, Random, Signer, SoftwareSigner, SystemRandom};
use avow_issuer::IssuerConfig;
use common::{Backend, HOLDER, PID, Resp, TestIssuer, Token};
use reqwest::Method;
use serde_json::{Value, json};

// ---------------------------------------------------------------- configuration

/// Deferred issuance on, the PID deferred by configuration, notifications on.
fn deferred_pid(c: &mut IssuerConfig) {
    c.deferred.enabled = true;
    c.notifications.enabled = true;
    if let Some(pid) = c.credential_configurations.get_mut(PID) {
        pid.deferred = true;
    }
}

/// Deferred issuance on, nothing deferred by configuration (holder flags only).
fn deferred_by_holder(c: &mut IssuerConfig) {
    c.deferred.enabled = true;
}

/// A short lifetime (ISS-DEF-09) and a per-configuration interval.
fn short_lived(c: &mut IssuerConfig) {
    deferred_pid(c);
    c.deferred.transaction_lifetime = 120;
    if let Some(pid) = c.credential_configurations.get_mut(PID) {
        pid.deferred_interval = Some(7);
    }
}

// ---------------------------------------------------------------- helpers

fn new_key() -> SoftwareSigner {
    SoftwareSigner::generate().expect("key")
}

fn deferred_url(issuer: &TestIssuer) -> String {
    format!("{}/deferred_credential", issuer.url)
}

/// A POST to `url` with `token` and a valid DPoP proof (current nonce, `ath`).
async fn post_with(
    issuer: &TestIssuer,
    token: &Token,
    url: &str,
    body: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> Resp {
    let nonce = issuer.dpop_nonce().await;
    let proof = issuer
        .dpop(
            &token.key,
            "POST",
            url,
            Some(&token.access_token),
            Some(&nonce),
        )
        .await;
    let request = issuer
        .http
        .post(url)
        .header("Authorization", format!("DPoP {}", token.access_token))
        .header("DPoP", proof);
    issuer.send(body(request)).await
}

/// A Deferred Credential Request `{transaction_id}`.
async fn poll(issuer: &TestIssuer, token: &Token, transaction_id: &str) -> Resp {
    post_with(issuer, token, &deferred_url(issuer), |r| {
        r.json(&json!({ "transaction_id": transaction_id }))
    })
    .await
}

/// A PID request with a fresh key proof by `holder`.
async fn pid_request(issuer: &TestIssuer, holder: &SoftwareSigner) -> Value {
    let c_nonce = issuer.c_nonce().await;
    TestIssuer::pid_request(&issuer.key_proof(holder, &c_nonce).await)
}

/// ISS-DEF-01: `202 {transaction_id, interval}`, no-store, nothing else.
#[track_caller]
fn accepted(response: &Resp, interval: u64) -> String {
    response.assert_status(202).assert_no_store();
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert!(response.header("dpop-nonce").is_some(), "DPoP-Nonce");
    let body = response.json();
    assert_eq!(body["interval"], interval, "{body}");
    for absent in ["credentials", "notification_id"] {
        assert!(body.get(absent).is_none(), "{absent}: {body}");
    }
    let id = body["transaction_id"]
        .as_str()
        .expect("transaction_id")
        .to_owned();
    assert!(id.len() >= 22, "at least 128 bits: {id}");
    assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{body}");
    id
}

/// A token, and a PID request answered 202: (token, transaction_id, holder key).
async fn deferred_request(issuer: &TestIssuer) -> (Token, String, SoftwareSigner) {
    let token = issuer.fresh_token().await;
    let holder = new_key();
    let body = pid_request(issuer, &holder).await;
    let response = issuer.credential_request(&token, &body).await;
    let interval = issuer.state.config.deferred.interval;
    let transaction_id = accepted(&response, interval);
    (token, transaction_id, holder)
}

async fn admin_get(issuer: &TestIssuer, path: &str) -> Resp {
    issuer.send(issuer.admin(Method::GET, path)).await
}

/// `GET /admin/deferred?…` as a list.
async fn admin_list(issuer: &TestIssuer, query: &str) -> Vec<Value> {
    let response = admin_get(issuer, &format!("/admin/deferred{query}")).await;
    response.assert_status(200).assert_no_store();
    response.json().as_array().cloned().expect("a list")
}

/// The admin id of the only pending transaction.
async fn only_pending(issuer: &TestIssuer) -> String {
    let list = admin_list(issuer, "?state=pending").await;
    assert_eq!(list.len(), 1, "{list:?}");
    list[0]["id"].as_str().expect("id").to_owned()
}

async fn decide(issuer: &TestIssuer, id: &str, action: &str, body: Option<Value>) -> Resp {
    let mut request = issuer.admin(Method::POST, &format!("/admin/deferred/{id}/{action}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    issuer.send(request).await
}

async fn approve(issuer: &TestIssuer, id: &str) -> Value {
    let response = decide(issuer, id, "approve", None).await;
    response.assert_status(200).assert_no_store();
    let body = response.json();
    assert_eq!(body["state"], "approved", "{body}");
    body
}

/// ISS-DEF-04: `200 {credentials, notification_id}` whose credential
/// verifies and is bound to `holder`; returns the notification_id.
#[track_caller]
fn issued(issuer: &TestIssuer, response: &Resp, holder: &SoftwareSigner) -> Option<String> {
    response.assert_status(200).assert_no_store();
    assert_eq!(response.header("content-type"), Some("application/json"));
    let body = response.json();
    assert!(body.get("transaction_id").is_none() && body.get("interval").is_none());
    let credentials = body["credentials"].as_array().expect("credentials");
    assert_eq!(credentials.len(), 1);
    let credential = credentials[0]["credential"].as_str().expect("a string");
    let (verified, _) = issuer.verify_credential(credential);
    assert_eq!(verified.holder_key.as_ref(), Some(holder.public_jwk()));
    assert_eq!(verified.claims["given_name"], "Erika");
    body["notification_id"].as_str().map(str::to_owned)
}

// ---------------------------------------------------------------- metadata

async fn metadata(issuer: &TestIssuer) -> Value {
    issuer
        .get(&format!(
            "{}/.well-known/openid-credential-issuer",
            issuer.url
        ))
        .await
        .json()
}

/// ISS-META-05: `deferred_credential_endpoint` and `notification_endpoint`
/// appear exactly when enabled; the endpoints exist exactly then.
#[tokio::test]
async fn iss_meta_05_endpoints_exactly_when_enabled() {
    let plain = TestIssuer::start(Backend::Sqlite).await;
    let body = metadata(&plain).await;
    assert!(body.get("deferred_credential_endpoint").is_none());
    assert!(body.get("notification_endpoint").is_none());
    for path in ["/deferred_credential", "/notification"] {
        let response = plain
            .send(
                plain
                    .http
                    .post(format!("{}{path}", plain.url))
                    .json(&json!({})),
            )
            .await;
        assert_eq!(response.status, 404, "{path}");
    }

    let both = TestIssuer::start_with(Backend::Sqlite, deferred_pid).await;
    let body = metadata(&both).await;
    assert_eq!(body["deferred_credential_endpoint"], deferred_url(&both));
    assert_eq!(
        body["notification_endpoint"],
        format!("{}/notification", both.url)
    );

    let only_deferred = TestIssuer::start_with(Backend::Sqlite, deferred_by_holder).await;
    let body = metadata(&only_deferred).await;
    assert_eq!(
        body["deferred_credential_endpoint"],
        deferred_url(&only_deferred)
    );
    assert!(body.get("notification_endpoint").is_none());
}

// ---------------------------------------------------------------- the flow

/// ISS-DEF-01, -04, -05, -08: 202; pending polls answer 202 with the same id;
/// the operator approves; the next poll gets the credential and a
/// notification_id; the transaction_id is then used up.
#[tokio::test]
async fn iss_def_01_04_05_configuration_policy_end_to_end() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, deferred_pid).await;
    let (token, transaction_id, holder) = deferred_request(&issuer).await;

    // Listed for the operator with the proven key, never the transaction_id.
    let list = admin_list(&issuer, "").await;
    assert_eq!(list.len(), 1);
    let entry = &list[0];
    assert_eq!(entry["state"], "pending");
    assert_eq!(entry["holder_id"], HOLDER);
    assert_eq!(entry["credential_configuration_id"], PID);
    assert_eq!(
        entry["key_thumbprints"],
        json!([holder.public_jwk().thumbprint()])
    );
    assert!(!entry.to_string().contains(&transaction_id));
    let id = entry["id"].as_str().expect("id").to_owned();

    // ISS-DEF-05: not ready → 202, the same transaction_id.
    for _ in 0..2 {
        let response = poll(&issuer, &token, &transaction_id).await;
        assert_eq!(accepted(&response, 60), transaction_id);
    }
    assert!(admin_list(&issuer, "").await[0]["last_polled_at"].is_i64());

    approve(&issuer, &id).await;
    let response = poll(&issuer, &token, &transaction_id).await;
    let notification_id = issued(&issuer, &response, &holder).expect("notification_id");
    assert!(notification_id.len() >= 22);

    // ISS-DEF-04, -06: used up.
    poll(&issuer, &token, &transaction_id)
        .await
        .assert_error(400, "invalid_transaction_id");
    let entry = admin_get(&issuer, &format!("/admin/deferred/{id}"))
        .await
        .json();
    assert_eq!(entry["state"], "issued");
    // The issuance is recorded like any other.
    let issuances = admin_get(&issuer, &format!("/admin/holders/{HOLDER}/issuances"))
        .await
        .json();
    assert_eq!(
        issuances[0]["key_thumbprint"],
        holder.public_jwk().thumbprint()
    );
    // The notification id of a deferred response is bound to the grant.
    let notifications = admin_get(&issuer, "/admin/notifications").await.json();
    assert_eq!(notifications[0]["deferred_transaction_id"], id);
}

/// ISS-DEF-01: the holder policy: `_avow_deferred: true` defers every
/// configuration, a list only those named; others are issued at once.
#[tokio::test]
async fn iss_def_01_holder_flag() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, deferred_by_holder).await;
    let claims = |flag: Value| {
        json!({
            "given_name": "Erika", "family_name": "Mustermann", "birthdate": "1964-08-12",
            "_avow_deferred": flag,
        })
    };
    issuer
        .import_holders(&json!([
            { "id": "flagged", "claims": claims(json!(true)) },
            { "id": "listed", "claims": claims(json!([PID])) },
            { "id": "other", "claims": claims(json!(["another-configuration"])) },
        ]))
        .await
        .assert_status(200);
    for (holder, deferred) in [
        ("flagged", true),
        ("listed", true),
        ("other", false),
        (HOLDER, false),
    ] {
        let response = issuer
            .create_offer_request(
                &json!({ "holder_id": holder, "credential_configuration_ids": [PID] }),
            )
            .await;
        response.assert_status(201);
        let offer = serde_json::from_slice(&response.body).expect("offer");
        let token = issuer.token(&offer).await;
        let key = new_key();
        let response = issuer
            .credential_request(&token, &pid_request(&issuer, &key).await)
            .await;
        if deferred {
            accepted(&response, 60);
        } else {
            response.assert_status(200);
            let credential = response.json()["credentials"][0]["credential"]
                .as_str()
                .expect("credential")
                .to_owned();
            let (verified, _) = issuer.verify_credential(&credential);
            assert!(
                verified.claims.get("_avow_deferred").is_none(),
                "the flag is never a claim"
            );
        }
    }
    let mut holders: Vec<String> = admin_list(&issuer, "")
        .await
        .iter()
        .filter_map(|t| t["holder_id"].as_str().map(str::to_owned))
        .collect();
    holders.sort();
    assert_eq!(holders, ["flagged", "listed"]);
}

/// ISS-DEF-02: the transaction is persisted before the 202: it survives a
/// restart, and another instance on the same database serves it.
async fn survives_restart_and_any_instance(backend: Backend) {
    let issuer = TestIssuer::start_with(backend, deferred_pid).await;
    let (token, transaction_id, holder) = deferred_request(&issuer).await;
    let issuer = issuer.restart().await;
    assert_eq!(
        accepted(&poll(&issuer, &token, &transaction_id).await, 60),
        transaction_id
    );
    let sibling = issuer.sibling().await;
    let id = only_pending(&sibling).await;
    approve(&sibling, &id).await;
    let response = poll(&issuer, &token, &transaction_id).await;
    issued(&issuer, &response, &holder);
    poll(&sibling, &token, &transaction_id)
        .await
        .assert_error(400, "invalid_transaction_id");
}

#[tokio::test]
async fn iss_def_02_survives_restart_sqlite() {
    survives_restart_and_any_instance(Backend::Sqlite).await;
}

#[tokio::test]
async fn iss_def_02_survives_restart_postgres() {
    survives_restart_and_any_instance(Backend::Postgres).await;
}

/// ISS-DEF-04: concurrent fetches of an approved transaction: one 200, the
/// others `invalid_transaction_id`.
#[tokio::test]
async fn iss_def_04_concurrent_fetches_yield_one_credential() {
    let issuer = TestIssuer::start_with(Backend::Postgres, deferred_pid).await;
    let (token, transaction_id, _) = deferred_request(&issuer).await;
    let id = only_pending(&issuer).await;
    approve(&issuer, &id).await;
    let sibling = issuer.sibling().await;
    let (a, b, c) = tokio::join!(
        poll(&issuer, &token, &transaction_id),
        poll(&sibling, &token, &transaction_id),
        poll(&issuer, &token, &transaction_id),
    );
    let mut statuses = [a.status, b.status, c.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 400, 400]);
    for response in [a, b, c] {
        if response.status == 400 {
            response.assert_error(400, "invalid_transaction_id");
        }
    }
}

// ---------------------------------------------------------------- refusals

/// ISS-DEF-03: missing or malformed transaction_id → 400
/// invalid_credential_request; a missing, unknown or wrongly presented token
/// → DPoP 401; nothing of it touches the transaction.
#[tokio::test]
async fn iss_def_03_request_refusals() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, deferred_pid).await;
    let (token, transaction_id, holder) = deferred_request(&issuer).await;
    let url = deferred_url(&issuer);
    for body in [
        json!({}),
        json!({ "transaction": transaction_id }),
        json!({ "transaction_id": 7 }),
        json!({ "transaction_id": "" }),
        json!({ "transaction_id": null }),
    ] {
        post_with(&issuer, &token, &url, |r| r.json(&body))
            .await
            .assert_error(400, "invalid_credential_request");
    }
    for (content_type, body) in [
        ("application/json", "[1]"),
        ("application/json", "not json"),
        ("text/plain", "{}"),
    ] {
        post_with(&issuer, &token, &url, |r| {
            r.header("Content-Type", content_type).body(body)
        })
        .await
        .assert_error(400, "invalid_credential_request");
    }
    let body = json!({ "transaction_id": transaction_id });

    // No Authorization header.
    let nonce = issuer.dpop_nonce().await;
    let proof = issuer
        .dpop(
            &token.key,
            "POST",
            &url,
            Some(&token.access_token),
            Some(&nonce),
        )
        .await;
    issuer
        .send(issuer.http.post(&url).header("DPoP", proof).json(&body))
        .await
        .assert_dpop_challenge(401, "invalid_token");
    // An unknown token.
    let unknown = Token {
        access_token: SystemRandom.token(32),
        key: new_key(),
    };
    poll(&issuer, &unknown, &transaction_id)
        .await
        .assert_dpop_challenge(401, "invalid_token");
    // The Bearer scheme.
    let nonce = issuer.dpop_nonce().await;
    let proof = issuer
        .dpop(
            &token.key,
            "POST",
            &url,
            Some(&token.access_token),
            Some(&nonce),
        )
        .await;
    issuer
        .send(
            issuer
                .http
                .post(&url)
                .bearer_auth(&token.access_token)
                .header("DPoP", proof)
                .json(&body),
        )
        .await
        .assert_dpop_challenge(401, "invalid_token");
    // The right token proven with another key.
    let stolen = Token {
        access_token: token.access_token.clone(),
        key: new_key(),
    };
    poll(&issuer, &stolen, &transaction_id)
        .await
        .assert_dpop_challenge(401, "invalid_dpop_proof");
    // A proof for another URL (htu).
    let nonce = issuer.dpop_nonce().await;
    let proof = issuer
        .dpop(
            &token.key,
            "POST",
            &issuer.credential_url(),
            Some(&token.access_token),
            Some(&nonce),
        )
        .await;
    issuer
        .send(
            issuer
                .http
                .post(&url)
                .header("Authorization", format!("DPoP {}", token.access_token))
                .header("DPoP", proof)
                .json(&body),
        )
        .await
        .assert_dpop_challenge(401, "invalid_dpop_proof");
    // An expired token.
    issuer.advance(301);
    poll(&issuer, &token, &transaction_id)
        .await
        .assert_dpop_challenge(401, "invalid_token");
    let _ = holder;
}

/// ISS-DEF-06: an unknown, over-long, other-grant or used transaction_id →
/// 400 invalid_transaction_id.
#[tokio::test]
async fn iss_def_06_unknown_other_grant_and_used() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, deferred_pid).await;
    let (token, transaction_id, holder) = deferred_request(&issuer).await;
    for unknown in [SystemRandom.token(32), "x".repeat(4096)] {
        poll(&issuer, &token, &unknown)
            .await
            .assert_error(400, "invalid_transaction_id");
    }
    // A token of another offer for the same holder is another grant.
    let other = issuer.fresh_token().await;
    poll(&issuer, &other, &transaction_id)
        .await
        .assert_error(400, "invalid_transaction_id");
    // Even once approved.
    approve(&issuer, &only_pending(&issuer).await).await;
    poll(&issuer, &other, &transaction_id)
        .await
        .assert_error(400, "invalid_transaction_id");
    issued(
        &issuer,
        &poll(&issuer, &token, &transaction_id).await,
        &holder,
    );
    poll(&issuer, &token, &transaction_id)
        .await
        .assert_error(400, "invalid_transaction_id");
}

/// ISS-DEF-03: a refreshed access token of the same authorization-code
/// grant polls and fetches; a token of another authorization does not.
#[tokio::test]
async fn iss_def_03_refreshed_token_of_the_same_grant() {
    use code_flow::{CLIENT_ID, Client, authorize, exchange, refresh, tokens_of};
    let issuer = TestIssuer::start_with(Backend::Sqlite, deferred_pid).await;
    let client = Client::new(&issuer, CLIENT_ID);
    let dpop = new_key();
    let authorized = authorize(&issuer, &client, &dpop).await;
    let first = tokens_of(&exchange(&issuer, &client, &dpop, &authorized).await, &dpop);
    let holder = new_key();
    let response = issuer
        .credential_request(&first.token, &pid_request(&issuer, &holder).await)
        .await;
    let transaction_id = accepted(&response, 60);

    let second = tokens_of(
        &refresh(&issuer, &client, &dpop, first.refresh_token(), None).await,
        &dpop,
    );
    accepted(&poll(&issuer, &second.token, &transaction_id).await, 60);

    let other_dpop = new_key();
    let authorized = authorize(&issuer, &client, &other_dpop).await;
    let other = tokens_of(
        &exchange(&issuer, &client, &other_dpop, &authorized).await,
        &other_dpop,
    );
    poll(&issuer, &other.token, &transaction_id)
        .await
        .assert_error(400, "invalid_transaction_id");

    // The first token expires; the refreshed one fetches.
    issuer.advance(200);
    let third = tokens_of(
        &refresh(&issuer, &client, &dpop, second.refresh_token(), None).await,
        &dpop,
    );
    issuer.advance(150);
    poll(&issuer, &first.token, &transaction_id)
        .await
        .assert_dpop_challenge(401, "invalid_token");
    approve(&issuer, &only_pending(&issuer).await).await;
    let notification_id = issued(
        &issuer,
        &poll(&issuer, &third.token, &transaction_id).await,
        &holder,
    )
    .expect("notification_id");
    // ISS-NOTIF-01: the refreshed token of the grant notifies too.
    post_with(
        &issuer,
        &third.token,
        &format!("{}/notification", issuer.url),
        |r| r.json(&json!({ "notification_id": notification_id, "event": "credential_accepted" })),
    )
    .await
    .assert_status(204);
}

/// ISS-DEF-07: a denied transaction → 400 credential_request_denied, on
/// every later poll; the operator's reason is kept for the operator only.
#[tokio::test]
async fn iss_def_07_denied_is_terminal() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, deferred_pid).await;
    let (token, transaction_id, _) = deferred_request(&issuer).await;
    let id = only_pending(&issuer).await;
    let response = decide(
        &issuer,
        &id,
        "deny",
        Some(json!({ "reason": "documents missing" })),
    )
    .await;
    response.assert_status(200);
    assert_eq!(response.json()["state"], "denied");
    assert_eq!(response.json()["reason"], "documents missing");
    for _ in 0..2 {
        let response = poll(&issuer, &token, &transaction_id).await;
        response.assert_error(400, "credential_request_denied");
        assert!(!String::from_utf8_lossy(&response.body).contains("documents missing"));
    }
}

/// ISS-DEF-07, -09: past its (configured) lifetime a pending or approved
/// transaction → 400 credential_request_denied and can no longer be decided.
#[tokio::test]
async fn iss_def_07_09_expired_is_denied() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, short_lived).await;
    let token = issuer.fresh_token().await;
    let mut transactions = Vec::new();
    for _ in 0..2 {
        let response = issuer
            .credential_request(&token, &pid_request(&issuer, &new_key()).await)
            .await;
        transactions.push(accepted(&response, 7));
    }
    let list = admin_list(&issuer, "").await;
    assert_eq!(list.len(), 2);
    for entry in &list {
        assert_eq!(
            entry["expires_at"].as_i64().expect("expires_at")
                - entry["created_at"].as_i64().expect("created_at"),
            120,
            "ISS-DEF-09: the configured lifetime"
        );
    }
    let approved = list[0]["id"].as_str().expect("id").to_owned();
    let pending = list[1]["id"].as_str().expect("id").to_owned();
    approve(&issuer, &approved).await;
    issuer.advance(120);
    for transaction_id in &transactions {
        poll(&issuer, &token, transaction_id)
            .await
            .assert_error(400, "credential_request_denied");
    }
    decide(&issuer, &pending, "approve", None)
        .await
        .assert_status(409);
    let expired = admin_list(&issuer, "?state=expired").await;
    assert_eq!(expired.len(), 2);
}

/// ISS-DEF-09: defaults: 30 days, interval 60; the per-configuration
/// interval overrides the section's (short_lived: 7).
#[tokio::test]
async fn iss_def_09_defaults() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, deferred_pid).await;
    deferred_request(&issuer).await;
    let entry = &admin_list(&issuer, "").await[0];
    assert_eq!(entry["interval"], 60);
    assert_eq!(
        entry["expires_at"].as_i64().expect("expires_at") - issuer.now(),
        30 * 86_400
    );
}

/// ISS-DEF-08: the admin API: filters, 404, 409 on a second decision,
/// approval refused while the holder data is incomplete, body rules, the
/// admin token.
#[tokio::test]
async fn iss_def_08_admin_api() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, deferred_pid).await;
    issuer
        .import_holders(&json!([{ "id": "incomplete", "claims": { "given_name": "Max" } }]))
        .await
        .assert_status(200);
    deferred_request(&issuer).await;
    deferred_request(&issuer).await;
    let response = issuer
        .create_offer_request(
            &json!({ "holder_id": "incomplete", "credential_configuration_ids": [PID] }),
        )
        .await;
    let offer = serde_json::from_slice(&response.body).expect("offer");
    let token = issuer.token(&offer).await;
    let response = issuer
        .credential_request(&token, &pid_request(&issuer, &new_key()).await)
        .await;
    accepted(&response, 60);

    assert_eq!(admin_list(&issuer, "").await.len(), 3);
    assert_eq!(
        admin_list(&issuer, &format!("?holder={HOLDER}"))
            .await
            .len(),
        2
    );
    let incomplete = admin_list(&issuer, "?holder=incomplete").await;
    assert_eq!(incomplete.len(), 1);
    let incomplete_id = incomplete[0]["id"].as_str().expect("id").to_owned();
    // The holder data lacks mandatory claims: 409, still pending.
    let response = decide(&issuer, &incomplete_id, "approve", None).await;
    response.assert_status(409);
    assert_eq!(response.json()["error"], "conflict");
    let list = admin_list(&issuer, &format!("?holder={HOLDER}")).await;
    let (first, second) = (
        list[0]["id"].as_str().expect("id").to_owned(),
        list[1]["id"].as_str().expect("id").to_owned(),
    );
    approve(&issuer, &first).await;
    decide(&issuer, &first, "approve", None)
        .await
        .assert_status(409);
    decide(&issuer, &first, "deny", None)
        .await
        .assert_status(409);
    decide(&issuer, &second, "deny", None)
        .await
        .assert_status(200);
    assert_eq!(admin_list(&issuer, "?state=pending").await.len(), 1);
    assert_eq!(admin_list(&issuer, "?state=approved").await.len(), 1);
    assert_eq!(admin_list(&issuer, "?state=denied").await.len(), 1);
    admin_get(&issuer, "/admin/deferred?state=bogus")
        .await
        .assert_error(400, "invalid_request");
    for action in ["approve", "deny"] {
        decide(&issuer, "no-such-transaction", action, None)
            .await
            .assert_error(404, "not_found");
    }
    admin_get(&issuer, "/admin/deferred/no-such-transaction")
        .await
        .assert_error(404, "not_found");
    for body in [
        json!({ "reason": 7 }),
        json!({ "why": "x" }),
        json!(["reason"]),
        json!({ "reason": "line\nbreak" }),
    ] {
        decide(&issuer, &incomplete_id, "deny", Some(body))
            .await
            .assert_error(400, "invalid_request");
    }
    // Without the admin token.
    let response = issuer
        .send(
            issuer
                .http
                .get(format!("{}/admin/deferred", issuer.admin_url)),
        )
        .await;
    response.assert_status(401);
    let response = issuer
        .send(issuer.http.post(format!(
            "{}/admin/deferred/{incomplete_id}/approve",
            issuer.admin_url
        )))
        .await;
    response.assert_status(401);
}

// ---------------------------------------------------------------- encryption

async fn issuer_key(issuer: &TestIssuer) -> (EcPublicJwk, String) {
    let metadata = issuer
        .get(&format!(
            "{}/.well-known/openid-credential-issuer",
            issuer.url
        ))
        .await
        .json();
    let jwk = &metadata["credential_request_encryption"]["jwks"]["keys"][0];
    let kid = jwk["kid"].as_str().expect("kid").to_owned();
    (EcPublicJwk::from_json(jwk).expect("P-256 key"), kid)
}

/// `body` with `credential_response_encryption` for `wallet` (kid `kid`),
/// sealed to the issuer's request key.
async fn sealed(
    issuer: &TestIssuer,
    mut body: Value,
    wallet: &EcdhPrivateKey,
    kid: &str,
) -> Vec<u8> {
    body["credential_response_encryption"] = json!({
        "jwk": wallet.public_jwk().to_json_with(&[("kid", kid), ("alg", "ECDH-ES"), ("use", "enc")]),
        "enc": "A256GCM",
    });
    let (key, issuer_kid) = issuer_key(issuer).await;
    let options = JweOptions {
        kid: Some(&issuer_kid),
        ..JweOptions::default()
    };
    let json = serde_json::to_vec(&body).expect("json");
    encrypt_compact(&key, ContentEncryption::A256Gcm, &options, &json)
        .expect("encrypt")
        .into_bytes()
}

/// A JWE response to `wallet` under `kid`, decrypted.
#[track_caller]
fn opened(response: &Resp, status: u16, wallet: &EcdhPrivateKey, kid: &str) -> Value {
    response.assert_status(status).assert_no_store();
    assert_eq!(response.header("content-type"), Some("application/jwt"));
    let jwe = CompactJwe::parse(std::str::from_utf8(&response.body).expect("utf-8")).expect("JWE");
    assert_eq!(jwe.kid(), Some(kid));
    serde_json::from_slice(&jwe.decrypt(wallet).expect("decrypts")).expect("JSON")
}

/// ISS-ENC-08: every deferred response is encrypted with the parameters of
/// its own request (or not at all), whatever the original request asked.
#[tokio::test]
async fn iss_enc_08_deferred_responses_use_their_own_request_parameters() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, deferred_pid).await;
    let token = issuer.fresh_token().await;
    let holder = new_key();
    // The credential request asks for encryption to key A: the 202 is encrypted to A.
    let key_a = EcdhPrivateKey::generate().expect("key");
    let body = sealed(
        &issuer,
        pid_request(&issuer, &holder).await,
        &key_a,
        "key-a",
    )
    .await;
    let response = post_with(&issuer, &token, &issuer.credential_url(), |r| {
        r.header("Content-Type", "application/jwt").body(body)
    })
    .await;
    let pending = opened(&response, 202, &key_a, "key-a");
    let transaction_id = pending["transaction_id"].as_str().expect("id").to_owned();
    assert_eq!(pending["interval"], 60);
    let entry = &admin_list(&issuer, "").await[0];
    assert_eq!(entry["response_encrypted"], true);

    // A plaintext poll is answered in plaintext.
    accepted(&poll(&issuer, &token, &transaction_id).await, 60);
    // A poll asking for key B gets a 202 encrypted to B.
    let key_b = EcdhPrivateKey::generate().expect("key");
    let body = sealed(
        &issuer,
        json!({ "transaction_id": transaction_id }),
        &key_b,
        "key-b",
    )
    .await;
    let response = post_with(&issuer, &token, &deferred_url(&issuer), |r| {
        r.header("Content-Type", "application/jwt").body(body)
    })
    .await;
    assert_eq!(
        opened(&response, 202, &key_b, "key-b")["transaction_id"],
        transaction_id
    );
    // Response encryption asked in a plaintext request: refused (VCI §9.1).
    let mut plain = json!({ "transaction_id": transaction_id });
    plain["credential_response_encryption"] = json!({
        "jwk": key_b.public_jwk().to_json_with(&[("kid", "key-b"), ("alg", "ECDH-ES")]),
        "enc": "A256GCM",
    });
    post_with(&issuer, &token, &deferred_url(&issuer), |r| r.json(&plain))
        .await
        .assert_error(400, "invalid_encryption_parameters");

    // Approved: the credential goes to key C, the one of the fetching request.
    approve(&issuer, &only_pending(&issuer).await).await;
    let key_c = EcdhPrivateKey::generate().expect("key");
    let body = sealed(
        &issuer,
        json!({ "transaction_id": transaction_id }),
        &key_c,
        "key-c",
    )
    .await;
    let response = post_with(&issuer, &token, &deferred_url(&issuer), |r| {
        r.header("Content-Type", "application/jwt").body(body)
    })
    .await;
    let body = opened(&response, 200, &key_c, "key-c");
    let credential = body["credentials"][0]["credential"]
        .as_str()
        .expect("credential");
    let (verified, _) = issuer.verify_credential(credential);
    assert_eq!(verified.holder_key.as_ref(), Some(holder.public_jwk()));
    assert!(body["notification_id"].is_string());
}

/// ISS-ENC-08: the original request encrypted, the fetch in plaintext → a
/// plaintext 200.
#[tokio::test]
async fn iss_enc_08_plaintext_fetch_after_encrypted_request() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, deferred_pid).await;
    let token = issuer.fresh_token().await;
    let holder = new_key();
    let key_a = EcdhPrivateKey::generate().expect("key");
    let body = sealed(
        &issuer,
        pid_request(&issuer, &holder).await,
        &key_a,
        "key-a",
    )
    .await;
    let response = post_with(&issuer, &token, &issuer.credential_url(), |r| {
        r.header("Content-Type", "application/jwt").body(body)
    })
    .await;
    let transaction_id = opened(&response, 202, &key_a, "key-a")["transaction_id"]
        .as_str()
        .expect("id")
        .to_owned();
    approve(&issuer, &only_pending(&issuer).await).await;
    issued(
        &issuer,
        &poll(&issuer, &token, &transaction_id).await,
        &holder,
    );
}

// ---------------------------------------------------------------- the wallet

/// A wallet directory removed at the end.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        Self(std::env::temp_dir().join(format!(
            "avow-deferred-wallet-{}",
            uuid::Uuid::new_v4().simple()
        )))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn wallet_with(
    issuer: &TestIssuer,
    dir: &std::path::Path,
    wia_source: Option<std::sync::Arc<dyn avow_wallet::flow::WiaSource>>,
) -> avow_wallet::Wallet {
    let options = avow_wallet::WalletOptions {
        allow_http_loopback: true,
        trust_anchors: issuer.trust_anchors(),
        clock_skew: 60,
        client_id: code_flow::CLIENT_ID.into(),
        prefer_anonymous: wia_source.is_none(),
        wia_source,
        encryption: None,
    };
    let store = avow_wallet::CredentialStore::open(dir).expect("wallet store");
    avow_wallet::Wallet::with_clock(options, store, issuer.clock.clone()).expect("wallet")
}

/// Receives an offer through the wallet: it must come back deferred; the
/// local id of the stored transaction.
async fn receive_deferred(issuer: &TestIssuer, wallet: &avow_wallet::Wallet) -> String {
    let offer = issuer.create_offer(false).await;
    let link = &offer.links["openid-credential-offer"].by_reference;
    match wallet.receive(link, None).await {
        Err(avow_wallet::WalletError::Deferred { pending, received }) => {
            assert!(received.is_empty());
            assert_eq!(pending.len(), 1);
            pending[0].clone()
        }
        other => panic!("expected a deferred issuance: {other:?}"),
    }
}

/// WAL-DEF-01 … -04, -07, WAL-NOTIF-01, ISS-NOTIF-06: the wallet stores the
/// transaction, polls no earlier than the interval and backs off, survives
/// a restart, gets the credential once approved, stores it and notifies
/// credential_accepted, which the operator sees.
#[tokio::test]
async fn wal_def_01_04_wallet_end_to_end_with_notification() {
    use avow_wallet::deferred::{PendingState, PollOutcome};
    let issuer = TestIssuer::start_with(Backend::Sqlite, deferred_pid).await;
    let dir = TempDir::new();
    let wallet = wallet_with(&issuer, &dir.0, None);
    let id = receive_deferred(&issuer, &wallet).await;
    let pending = wallet.pending_issuances().expect("list");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, id);
    assert_eq!(pending[0].state, PendingState::Pending);
    assert_eq!(pending[0].interval, 60);
    // A whole-second clock: due one second after the interval has surely passed.
    assert_eq!(pending[0].next_poll_at, issuer.now() + 61);
    assert_eq!(pending[0].credential_configuration_id, PID);
    assert!(wallet.store().list().expect("credentials").is_empty());

    // WAL-DEF-02: not before the interval.
    assert!(wallet.poll_pending().await.expect("poll").is_empty());
    issuer.advance(60);
    assert!(
        wallet.poll_pending().await.expect("poll").is_empty(),
        "exactly the interval may be less than the interval on a whole-second clock"
    );
    issuer.advance(1);
    let outcomes = wallet.poll_pending().await.expect("poll");
    assert!(
        matches!(&outcomes[..], [PollOutcome::Pending { next_poll_at, .. }] if *next_poll_at == issuer.now() + 121),
        "WAL-DEF-03: doubled wait: {outcomes:?}"
    );

    // WAL-DEF-07: a restarted wallet knows it; stop and resume.
    let wallet = wallet_with(&issuer, &dir.0, None);
    assert_eq!(
        wallet.stop_pending(&id).expect("stop").state,
        PendingState::Stopped
    );
    issuer.advance(121);
    assert!(
        wallet.poll_pending().await.expect("poll").is_empty(),
        "stopped"
    );
    wallet.resume_pending(&id).expect("resume");

    approve(&issuer, &only_pending(&issuer).await).await;
    let outcomes = wallet.poll_pending().await.expect("poll");
    let [PollOutcome::Received { credentials, .. }] = &outcomes[..] else {
        panic!("expected the credential: {outcomes:?}");
    };
    assert_eq!(credentials.len(), 1);
    let stored = &credentials[0].stored;
    assert!(stored.notification_id.is_some());
    assert_eq!(wallet.store().list().expect("credentials").len(), 1);
    assert!(wallet.pending_issuances().expect("list").is_empty());
    issuer.verify_credential(&stored.credential);

    // WAL-NOTIF-01 → ISS-NOTIF-06.
    let notifications = admin_get(&issuer, "/admin/notifications").await.json();
    let events = notifications[0]["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{notifications}");
    assert_eq!(events[0]["event"], "credential_accepted");
    assert!(notifications[0]["deferred_transaction_id"].is_string());
}

/// WAL-DEF-05: credential_request_denied marks the transaction failed (shown
/// differently from pending) and polling stops; forget removes it.
#[tokio::test]
async fn wal_def_05_denied_marks_failed() {
    use avow_wallet::deferred::{PendingState, PollOutcome};
    let issuer = TestIssuer::start_with(Backend::Sqlite, deferred_pid).await;
    let dir = TempDir::new();
    let wallet = wallet_with(&issuer, &dir.0, None);
    let id = receive_deferred(&issuer, &wallet).await;
    decide(&issuer, &only_pending(&issuer).await, "deny", None)
        .await
        .assert_status(200);
    issuer.advance(61);
    let outcomes = wallet.poll_pending().await.expect("poll");
    assert!(
        matches!(&outcomes[..], [PollOutcome::Failed { reason, .. }] if reason.contains("credential_request_denied")),
        "{outcomes:?}"
    );
    let pending = wallet.pending_issuance(&id).expect("read").expect("kept");
    assert!(matches!(pending.state, PendingState::Failed { .. }));
    issuer.advance(3600);
    assert!(wallet.poll_pending().await.expect("poll").is_empty());
    wallet.forget_pending(&id).expect("forget");
    assert!(wallet.pending_issuances().expect("list").is_empty());
}

/// WAL-DEF-05: invalid_transaction_id (here: fetched by someone else) marks
/// the transaction failed.
#[tokio::test]
async fn wal_def_05_invalid_transaction_id_marks_failed() {
    use avow_wallet::deferred::PollOutcome;
    let issuer = TestIssuer::start_with(Backend::Sqlite, deferred_pid).await;
    let dir = TempDir::new();
    let wallet = wallet_with(&issuer, &dir.0, None);
    receive_deferred(&issuer, &wallet).await;
    // The issuer forgets it: purged.
    let id = only_pending(&issuer).await;
    {
        use sqlx::{Connection, Executor};
        let url = issuer.state.config.database_url();
        let mut db = sqlx::AnyConnection::connect(&url).await.expect("db");
        db.execute(format!("DELETE FROM deferred_transactions WHERE id = '{id}'").as_str())
            .await
            .expect("delete");
    }
    issuer.advance(61);
    let outcomes = wallet.poll_pending().await.expect("poll");
    assert!(
        matches!(&outcomes[..], [PollOutcome::Failed { reason, .. }] if reason.contains("invalid_transaction_id")),
        "{outcomes:?}"
    );
}

/// WAL-DEF-06: an expired access token without a refresh token fails the
/// transaction with a clear reason.
#[tokio::test]
async fn wal_def_06_expired_token_without_refresh_token_fails() {
    use avow_wallet::deferred::PollOutcome;
    let issuer = TestIssuer::start_with(Backend::Sqlite, deferred_pid).await;
    let dir = TempDir::new();
    let wallet = wallet_with(&issuer, &dir.0, None);
    receive_deferred(&issuer, &wallet).await;
    approve(&issuer, &only_pending(&issuer).await).await;
    issuer.advance(301);
    let outcomes = wallet.poll_pending().await.expect("poll");
    assert!(
        matches!(&outcomes[..], [PollOutcome::Failed { reason, .. }] if reason.contains("no refresh token")),
        "{outcomes:?}"
    );
}

/// WAL-DEF-06: in the authorization-code flow the wallet refreshes the
/// expired access token (same DPoP and instance keys) and fetches.
#[tokio::test]
async fn wal_def_06_expired_token_is_refreshed() {
    use avow_wallet::deferred::PollOutcome;
    let issuer = TestIssuer::start_with(Backend::Sqlite, deferred_pid).await;
    let (cert, key) = issuer
        .state
        .client_auth
        .dev_wallet_provider
        .clone()
        .expect("dev wallet provider");
    let provider =
        avow_wallet::attestation::DevWalletProvider::load(&cert, &key).expect("provider");
    let dir = TempDir::new();
    let wallet = wallet_with(&issuer, &dir.0, Some(std::sync::Arc::new(provider)));
    let info = wallet.discover(&issuer.url).await.expect("discover");
    let agent = avow_wallet::authorize::ScriptedLogin::new(
        code_flow::REDIRECT_URI,
        HOLDER,
        code_flow::PASSWORD,
        true,
    )
    .expect("agent");
    let outcome = wallet
        .authorize_and_receive(std::sync::Arc::new(info), &[PID.to_owned()], None, &agent)
        .await;
    let Err(avow_wallet::WalletError::Deferred { pending, .. }) = outcome else {
        panic!("expected a deferred issuance: {outcome:?}");
    };
    let stored = wallet
        .pending_issuance(&pending[0])
        .expect("read")
        .expect("stored");
    assert!(stored.grant.is_some(), "the refresh grant is kept");
    approve(&issuer, &only_pending(&issuer).await).await;
    issuer.advance(400);
    let outcomes = wallet.poll_pending().await.expect("poll");
    let [PollOutcome::Received { credentials, .. }] = &outcomes[..] else {
        panic!("expected the credential after a refresh: {outcomes:?}");
    };
    assert_eq!(credentials.len(), 1);
    assert!(credentials[0].stored.grant.is_some());
}
