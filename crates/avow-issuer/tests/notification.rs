//! The Notification Endpoint (OID4VCI 1.0 §11; ISS-NOTIF-01 … -06): the
//! `notification_id` of every Credential Response, 204 for good requests
//! and their identical repeats, every refusal with its exact status and
//! code, and the operator's view of the events.

mod common;

use avow_crypto::{Random, SoftwareSigner, SystemRandom};
use avow_issuer::IssuerConfig;
use common::{Backend, HOLDER, PID, Resp, TestIssuer, Token};
use reqwest::Method;
use serde_json::{Value, json};

fn notifications_on(c: &mut IssuerConfig) {
    c.notifications.enabled = true;
}

fn notification_url(issuer: &TestIssuer) -> String {
    format!("{}/notification", issuer.url)
}

/// A credential for a fresh token: (token, notification_id).
async fn issued(issuer: &TestIssuer) -> (Token, String) {
    let token = issuer.fresh_token().await;
    let holder = SoftwareSigner::generate().expect("key");
    let c_nonce = issuer.c_nonce().await;
    let body = TestIssuer::pid_request(&issuer.key_proof(&holder, &c_nonce).await);
    let response = issuer.credential_request(&token, &body).await;
    response.assert_status(200);
    let notification_id = response.json()["notification_id"]
        .as_str()
        .expect("ISS-NOTIF-01: a notification_id in every 200")
        .to_owned();
    assert!(notification_id.len() >= 22, "{notification_id}");
    (token, notification_id)
}

/// A Notification Request with a valid DPoP proof; `body` adds the body.
async fn notify_with(
    issuer: &TestIssuer,
    token: &Token,
    body: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> Resp {
    let url = notification_url(issuer);
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
    let request = issuer
        .http
        .post(&url)
        .header("Authorization", format!("DPoP {}", token.access_token))
        .header("DPoP", proof);
    issuer.send(body(request)).await
}

async fn notify(issuer: &TestIssuer, token: &Token, body: &Value) -> Resp {
    notify_with(issuer, token, |r| r.json(body)).await
}

#[track_caller]
fn no_content(response: &Resp) {
    response.assert_status(204);
    assert!(response.body.is_empty(), "204 has no body");
}

async fn admin_notifications(issuer: &TestIssuer, query: &str) -> Vec<Value> {
    let response = issuer
        .send(issuer.admin(Method::GET, &format!("/admin/notifications{query}")))
        .await;
    response.assert_status(200).assert_no_store();
    response.json().as_array().cloned().expect("a list")
}

/// ISS-NOTIF-01, -04, -06: 204 for each event, identical repeats 204 again
/// and counted once; unknown members ignored; everything visible to the
/// operator. The token stays valid for notifications after the credential
/// was fetched (ISS-NOTIF-05).
async fn accepted_and_recorded(backend: Backend) {
    let issuer = TestIssuer::start_with(backend, notifications_on).await;
    let (token, notification_id) = issued(&issuer).await;
    for _ in 0..3 {
        no_content(
            &notify(
                &issuer,
                &token,
                &json!({ "notification_id": notification_id, "event": "credential_accepted" }),
            )
            .await,
        );
    }
    no_content(
        &notify(
            &issuer,
            &token,
            &json!({
                "notification_id": notification_id,
                "event": "credential_deleted",
                "event_description": "The holder deleted it! [#2]",
                "unknown_member": { "ignored": true },
            }),
        )
        .await,
    );
    let (_, other_id) = issued(&issuer).await;
    let list = admin_notifications(&issuer, "").await;
    assert_eq!(list.len(), 2);
    let ours = list
        .iter()
        .find(|n| n["events"].as_array().is_some_and(|e| !e.is_empty()))
        .expect("the notified one");
    assert_eq!(ours["holder_id"], HOLDER);
    assert_eq!(ours["credential_configuration_id"], PID);
    assert_eq!(ours["credential_count"], 1);
    let events = ours["events"].as_array().expect("events");
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["event"], "credential_accepted");
    assert_eq!(events[0]["repeats"], 3);
    assert!(events[0]["event_description"].is_null());
    assert_eq!(events[1]["event"], "credential_deleted");
    assert_eq!(
        events[1]["event_description"],
        "The holder deleted it! [#2]"
    );
    assert_eq!(events[1]["repeats"], 1);
    // The operator never sees the notification_id itself.
    let text = serde_json::to_string(&list).expect("json");
    assert!(!text.contains(&notification_id) && !text.contains(&other_id));
    assert_eq!(
        admin_notifications(&issuer, &format!("?holder={HOLDER}"))
            .await
            .len(),
        2
    );
    assert!(
        admin_notifications(&issuer, "?holder=nobody")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn iss_notif_01_04_06_accepted_and_recorded_sqlite() {
    accepted_and_recorded(Backend::Sqlite).await;
}

#[tokio::test]
async fn iss_notif_01_04_06_accepted_and_recorded_postgres() {
    accepted_and_recorded(Backend::Postgres).await;
}

/// ISS-NOTIF-02: a wrong event, a missing, repeated or malformed member, or
/// an event_description outside the allowed ASCII → 400
/// invalid_notification_request; nothing is recorded.
#[tokio::test]
async fn iss_notif_02_invalid_requests() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, notifications_on).await;
    let (token, id) = issued(&issuer).await;
    for body in [
        json!({ "event": "credential_accepted" }),
        json!({ "notification_id": id }),
        json!({ "notification_id": id, "event": "credential_revoked" }),
        json!({ "notification_id": id, "event": "CREDENTIAL_ACCEPTED" }),
        json!({ "notification_id": id, "event": 1 }),
        json!({ "notification_id": 1, "event": "credential_accepted" }),
        json!({ "notification_id": "", "event": "credential_accepted" }),
        json!({ "notification_id": id, "event": "credential_failure", "event_description": "a \"quoted\" word" }),
        json!({ "notification_id": id, "event": "credential_failure", "event_description": "back\\slash" }),
        json!({ "notification_id": id, "event": "credential_failure", "event_description": "Zürich" }),
        json!({ "notification_id": id, "event": "credential_failure", "event_description": "new\nline" }),
        json!({ "notification_id": id, "event": "credential_failure", "event_description": 42 }),
        json!([{ "notification_id": id, "event": "credential_accepted" }]),
    ] {
        notify(&issuer, &token, &body)
            .await
            .assert_error(400, "invalid_notification_request");
    }
    let repeated = format!(
        r#"{{"notification_id":"{id}","event":"credential_accepted","event":"credential_failure"}}"#
    );
    for (content_type, body) in [
        ("application/json", repeated.clone()),
        ("application/json", "not json".to_owned()),
        (
            "text/plain",
            format!(r#"{{"notification_id":"{id}","event":"credential_accepted"}}"#),
        ),
    ] {
        notify_with(&issuer, &token, |r| {
            r.header("Content-Type", content_type).body(body)
        })
        .await
        .assert_error(400, "invalid_notification_request");
    }
    let list = admin_notifications(&issuer, "").await;
    assert_eq!(list[0]["events"], json!([]));
}

/// ISS-NOTIF-03: an unknown notification_id, or one issued under another
/// grant → 400 invalid_notification_id.
#[tokio::test]
async fn iss_notif_03_unknown_or_other_grant() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, notifications_on).await;
    let (token, id) = issued(&issuer).await;
    let (other_token, other_id) = issued(&issuer).await;
    for (token, notification_id) in [
        (&token, SystemRandom.token(32)),
        (&token, "x".repeat(2000)),
        (&token, other_id.clone()),
        (&other_token, id.clone()),
    ] {
        notify(
            &issuer,
            token,
            &json!({ "notification_id": notification_id, "event": "credential_accepted" }),
        )
        .await
        .assert_error(400, "invalid_notification_id");
    }
    no_content(
        &notify(
            &issuer,
            &other_token,
            &json!({ "notification_id": other_id, "event": "credential_failure" }),
        )
        .await,
    );
}

/// ISS-NOTIF-05: no token, an unknown token, a token proven with another
/// key, an expired token → DPoP 401.
#[tokio::test]
async fn iss_notif_05_token_refusals() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, notifications_on).await;
    let (token, id) = issued(&issuer).await;
    let body = json!({ "notification_id": id, "event": "credential_accepted" });
    let nonce = issuer.dpop_nonce().await;
    let proof = issuer
        .dpop(
            &token.key,
            "POST",
            &notification_url(&issuer),
            Some(&token.access_token),
            Some(&nonce),
        )
        .await;
    issuer
        .send(
            issuer
                .http
                .post(notification_url(&issuer))
                .header("DPoP", proof)
                .json(&body),
        )
        .await
        .assert_dpop_challenge(401, "invalid_token");
    let unknown = Token {
        access_token: SystemRandom.token(32),
        key: SoftwareSigner::generate().expect("key"),
    };
    notify(&issuer, &unknown, &body)
        .await
        .assert_dpop_challenge(401, "invalid_token");
    let stolen = Token {
        access_token: token.access_token.clone(),
        key: SoftwareSigner::generate().expect("key"),
    };
    notify(&issuer, &stolen, &body)
        .await
        .assert_dpop_challenge(401, "invalid_dpop_proof");
    issuer.advance(299);
    no_content(&notify(&issuer, &token, &body).await);
    issuer.advance(2);
    notify(&issuer, &token, &body)
        .await
        .assert_dpop_challenge(401, "invalid_token");
}

/// Notifications off (the default): no notification_id and no endpoint.
#[tokio::test]
async fn iss_notif_01_off_by_default() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let token = issuer.fresh_token().await;
    let holder = SoftwareSigner::generate().expect("key");
    let c_nonce = issuer.c_nonce().await;
    let body = TestIssuer::pid_request(&issuer.key_proof(&holder, &c_nonce).await);
    let response = issuer.credential_request(&token, &body).await;
    response.assert_status(200);
    assert!(response.json().get("notification_id").is_none());
    let response = issuer
        .send(
            issuer
                .http
                .post(notification_url(&issuer))
                .json(&json!({ "notification_id": "x", "event": "credential_accepted" })),
        )
        .await;
    assert_eq!(response.status, 404);
}

fn wallet(issuer: &TestIssuer, dir: &std::path::Path, trusted: bool) -> avow_wallet::Wallet {
    let options = avow_wallet::WalletOptions {
        allow_http_loopback: true,
        trust_anchors: if trusted {
            issuer.trust_anchors()
        } else {
            avow_crypto::x509::TrustAnchors::default()
        },
        clock_skew: 60,
        client_id: "https://wallet.example".into(),
        wia_source: None,
        prefer_anonymous: true,
        encryption: None,
    };
    let store = avow_wallet::CredentialStore::open(dir).expect("store");
    avow_wallet::Wallet::with_clock(options, store, issuer.clock.clone())
        .expect("wallet")
        // Plain metadata: the untrusting wallet must get as far as the credential.
        .with_signed_metadata(avow_wallet::issuer::SignedMetadataPolicy::Ignore)
}

/// WAL-NOTIF-01, -02 through the issuer's records: the wallet sends
/// credential_accepted after storing, credential_failure (fixed ASCII
/// description) when validation fails, and stores nothing then.
#[tokio::test]
async fn wal_notif_01_02_wallet_notifies() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, notifications_on).await;
    let dir = std::env::temp_dir().join(format!(
        "avow-notif-wallet-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let offer = issuer.create_offer(false).await;
    let link = &offer.links["openid-credential-offer"].by_reference;
    let received = wallet(&issuer, &dir, true)
        .receive(link, None)
        .await
        .expect("receive");
    assert!(received[0].stored.notification_id.is_some());
    let offer = issuer.create_offer(false).await;
    let link = &offer.links["openid-credential-offer"].by_reference;
    let untrusting = wallet(&issuer, &dir.join("second"), false);
    let refused = untrusting.receive(link, None).await;
    assert!(
        matches!(refused, Err(avow_wallet::WalletError::Validation(_))),
        "{refused:?}"
    );
    assert!(untrusting.store().list().expect("list").is_empty());
    let mut events: Vec<(String, Value)> = admin_notifications(&issuer, "")
        .await
        .iter()
        .flat_map(|n| n["events"].as_array().cloned().unwrap_or_default())
        .map(|e| {
            (
                e["event"].as_str().unwrap_or_default().to_owned(),
                e["event_description"].clone(),
            )
        })
        .collect();
    events.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        events,
        [
            ("credential_accepted".to_owned(), Value::Null),
            (
                "credential_failure".to_owned(),
                json!("The credential failed validation in the wallet")
            ),
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
