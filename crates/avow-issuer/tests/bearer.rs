//! Bearer (unbound) credential configurations end to end over real HTTP
//! (OID4VCI 1.0 §8.2, §12.2.4): `proofs = { types = [] }` publishes neither
//! `cryptographic_binding_methods_supported` nor `proof_types_supported`
//! (ISS-META-08); the wallet omits `proofs` (WAL-CRED-03) and stores the
//! SD-JWT VC without `cnf`; `proofs` sent anyway → `400
//! invalid_credential_request`; deferred issuance of a bearer configuration.

mod common;

use avow_issuer::IssuerConfig;
use avow_issuer::key_proof::ProofsConfig;
use avow_wallet::attestation::DevWalletProvider;
use avow_wallet::{CredentialStore, Wallet, WalletOptions};
use common::{Backend, HOLDER, PID, Resp, TestIssuer, Token};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;

/// The bearer configuration added to the defaults.
const BEARER: &str = "pid-bearer";
const VCT: &str = "urn:eudi:pid:1";

/// A bearer copy of the PID (`proofs = { types = [] }`), batch issuance on.
fn with_bearer(c: &mut IssuerConfig) {
    let mut bearer = c.credential_configurations[PID].clone();
    bearer.scope = "pid_bearer".into();
    bearer.proofs = Some(ProofsConfig {
        types: Some(vec![]),
        key_attestations_required: None,
    });
    c.credential_configurations.insert(BEARER.into(), bearer);
    c.batch.batch_size = 3;
}

/// [`with_bearer`], the bearer configuration deferred, notifications on.
fn with_deferred_bearer(c: &mut IssuerConfig) {
    with_bearer(c);
    c.deferred.enabled = true;
    c.notifications.enabled = true;
    if let Some(bearer) = c.credential_configurations.get_mut(BEARER) {
        bearer.deferred = true;
    }
}

async fn metadata(issuer: &TestIssuer) -> Value {
    issuer
        .get(&format!(
            "{}/.well-known/openid-credential-issuer",
            issuer.url
        ))
        .await
        .json()
}

/// An access token for an offer of the bearer configuration and the PID.
async fn token(issuer: &TestIssuer) -> Token {
    let response = issuer
        .create_offer_request(
            &json!({ "holder_id": HOLDER, "credential_configuration_ids": [BEARER, PID] }),
        )
        .await;
    let offer: avow_issuer::offer::CreatedOffer =
        serde_json::from_slice(&response.assert_status(201).body).expect("offer");
    issuer.token(&offer).await
}

/// `200 {credentials: [one]}` whose SD-JWT VC verifies, has no `cnf`
/// and carries the holder's claims; returns the response body.
#[track_caller]
fn one_bearer_credential(issuer: &TestIssuer, response: &Resp) -> Value {
    response.assert_status(200).assert_no_store();
    let body = response.json();
    let credentials = body["credentials"].as_array().expect("credentials");
    assert_eq!(credentials.len(), 1, "a bearer request gets one: {body}");
    let credential = credentials[0]["credential"].as_str().expect("a string");
    let (verified, _) = issuer.verify_credential(credential);
    assert_eq!(verified.holder_key, None, "no cnf");
    assert!(verified.claims.get("cnf").is_none());
    assert_eq!(verified.claims["vct"], VCT);
    assert_eq!(verified.claims["given_name"], "Erika");
    body
}

/// ISS-META-08 (VCI §12.2.4): a bearer configuration has neither
/// `cryptographic_binding_methods_supported` nor `proof_types_supported`;
/// the bound PID keeps both.
#[tokio::test]
async fn iss_meta_08_bearer_configuration_publishes_neither() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, with_bearer).await;
    let metadata = metadata(&issuer).await;
    let configurations = &metadata["credential_configurations_supported"];
    let bearer = &configurations[BEARER];
    assert_eq!(bearer["format"], "dc+sd-jwt");
    assert_eq!(bearer["vct"], VCT);
    assert!(
        bearer
            .get("cryptographic_binding_methods_supported")
            .is_none(),
        "{bearer}"
    );
    assert!(bearer.get("proof_types_supported").is_none(), "{bearer}");
    assert_eq!(
        bearer["credential_signing_alg_values_supported"],
        json!(["ES256"])
    );
    let pid = &configurations[PID];
    assert_eq!(
        pid["cryptographic_binding_methods_supported"],
        json!(["jwk"])
    );
    assert!(pid["proof_types_supported"]["jwt"].is_object(), "{pid}");
}

/// WAL-CRED-03, WAL-VAL-03: the Avow wallet requests the bearer
/// configuration without `proofs` (the issuer refuses them: the success
/// shows they were omitted), validates the SD-JWT VC without a `cnf`
/// check and stores it without a holder key.
/// An Avow wallet of `issuer` (dev wallet provider), data in a fresh directory.
fn wallet_of(issuer: &TestIssuer) -> (Wallet, std::path::PathBuf) {
    let (cert, key) = issuer
        .state
        .client_auth
        .dev_wallet_provider
        .clone()
        .expect("dev provider");
    let options = WalletOptions {
        allow_http_loopback: true,
        trust_anchors: issuer.trust_anchors(),
        clock_skew: 60,
        client_id: "https://wallet.avow.dev/bearer-test".into(),
        wia_source: Some(Arc::new(
            DevWalletProvider::load(&cert, &key).expect("provider"),
        )),
        prefer_anonymous: false,
        encryption: None,
    };
    let dir = std::env::temp_dir().join(format!("avow-bearer-{}", uuid::Uuid::new_v4()));
    let wallet = Wallet::with_clock(
        options,
        CredentialStore::open(&dir).expect("store"),
        issuer.clock.clone(),
    )
    .expect("wallet");
    (wallet, dir)
}

/// WAL-DEF-01/-04 with WAL-CRED-03: the wallet keeps a deferred bearer
/// transaction without keys and, once approved, stores the one credential
/// without `cnf`.
#[tokio::test]
async fn wallet_receives_a_deferred_bearer_credential() {
    use avow_wallet::deferred::PollOutcome;
    let issuer = TestIssuer::start_with(Backend::Sqlite, with_deferred_bearer).await;
    let (wallet, dir) = wallet_of(&issuer);
    let response = issuer
        .create_offer_request(
            &json!({ "holder_id": HOLDER, "credential_configuration_ids": [BEARER] }),
        )
        .await;
    let offer: avow_issuer::offer::CreatedOffer =
        serde_json::from_slice(&response.assert_status(201).body).expect("offer");
    let deferred = wallet
        .receive(&offer.links["openid-credential-offer"].by_reference, None)
        .await;
    assert!(
        matches!(&deferred, Err(avow_wallet::WalletError::Deferred { pending, .. }) if pending.len() == 1),
        "{deferred:?}"
    );
    let pending = wallet.pending_issuances().expect("list");
    assert_eq!(pending.len(), 1);
    assert!(
        pending[0].holder_keys_pkcs8.is_empty(),
        "a bearer transaction keeps no keys"
    );
    let list = issuer
        .send(issuer.admin(Method::GET, "/admin/deferred?state=pending"))
        .await
        .json();
    let id = list[0]["id"].as_str().expect("id").to_owned();
    issuer
        .send(issuer.admin(Method::POST, &format!("/admin/deferred/{id}/approve")))
        .await
        .assert_status(200);
    issuer.advance(pending[0].next_poll_at - issuer.now());
    let outcomes = wallet.poll_pending().await.expect("poll");
    let [PollOutcome::Received { credentials, .. }] = &outcomes[..] else {
        panic!("expected the credential: {outcomes:?}");
    };
    assert_eq!(credentials.len(), 1);
    let stored = &credentials[0].stored;
    assert!(stored.holder_key_pkcs8.is_empty());
    let (verified, _) = issuer.verify_credential(&stored.credential);
    assert_eq!(verified.holder_key, None, "no cnf");
    assert_eq!(wallet.store().list().expect("list").len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn wallet_receives_and_stores_a_bearer_sd_jwt_vc() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, with_bearer).await;
    let (wallet, dir) = wallet_of(&issuer);
    let response = issuer
        .create_offer_request(
            &json!({ "holder_id": HOLDER, "credential_configuration_ids": [BEARER] }),
        )
        .await;
    let offer: avow_issuer::offer::CreatedOffer =
        serde_json::from_slice(&response.assert_status(201).body).expect("offer");
    let received = wallet
        .receive(&offer.links["openid-credential-offer"].by_reference, None)
        .await
        .expect("bearer SD-JWT VC received");
    // One credential, although the issuer's batch size is 3.
    assert_eq!(received.len(), 1);
    let stored = &received[0].stored;
    assert_eq!(stored.format, "dc+sd-jwt");
    assert_eq!(stored.credential_configuration_id, BEARER);
    assert!(stored.holder_key_pkcs8.is_empty() && stored.holder_key_thumbprint.is_empty());
    let (verified, _) = issuer.verify_credential(&stored.credential);
    assert_eq!(verified.holder_key, None, "no cnf");
    assert_eq!(verified.claims["family_name"], "Mustermann");
    let listed = wallet.store().list().expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, stored.id);
    assert_eq!(listed[0].credential, stored.credential);
    let _ = std::fs::remove_dir_all(&dir);
}

/// VCI §8.2: `proofs` (or the legacy `proof`) for a bearer configuration
/// → `400 invalid_credential_request`; without them one credential without
/// `cnf`, however large the batch size; the bound PID still needs `proofs`
/// (ISS-CRED-07).
#[tokio::test]
async fn proofs_for_a_bearer_configuration_are_refused() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, with_bearer).await;
    let token = token(&issuer).await;
    let holder = avow_crypto::SoftwareSigner::generate().expect("key");
    let c_nonce = issuer.c_nonce().await;
    let proof = issuer.key_proof(&holder, &c_nonce).await;
    issuer
        .credential_request(
            &token,
            &json!({ "credential_configuration_id": BEARER, "proofs": { "jwt": [proof] } }),
        )
        .await
        .assert_error(400, "invalid_credential_request");
    issuer
        .credential_request(
            &token,
            &json!({ "credential_configuration_id": BEARER, "proof": { "proof_type": "jwt", "jwt": proof } }),
        )
        .await
        .assert_error(400, "invalid_credential_request");
    // The bound configuration of the same token: proofs are required.
    issuer
        .credential_request(&token, &json!({ "credential_configuration_id": PID }))
        .await
        .assert_error(400, "invalid_proof");
    // The refused requests spent no c_nonce: the PID takes the proof.
    let response = issuer
        .credential_request(&token, &TestIssuer::pid_request(&proof))
        .await;
    response.assert_status(200);
    // Without proofs: one bearer credential, twice (nothing is consumed).
    for _ in 0..2 {
        let response = issuer
            .credential_request(&token, &json!({ "credential_configuration_id": BEARER }))
            .await;
        one_bearer_credential(&issuer, &response);
    }
}

/// ISS-DEF-01 … -04 for a bearer configuration: the `202` stores no holder
/// key; once approved, the poll gets one credential without `cnf`.
#[tokio::test]
async fn deferred_bearer_issuance() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, with_deferred_bearer).await;
    let token = token(&issuer).await;
    let response = issuer
        .credential_request(&token, &json!({ "credential_configuration_id": BEARER }))
        .await;
    response.assert_status(202).assert_no_store();
    let transaction_id = response.json()["transaction_id"]
        .as_str()
        .expect("transaction_id")
        .to_owned();
    let list = issuer
        .send(issuer.admin(Method::GET, "/admin/deferred?state=pending"))
        .await
        .json();
    let list = list.as_array().expect("a list");
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["credential_configuration_id"], BEARER);
    assert_eq!(list[0]["key_thumbprints"], json!([]));
    let id = list[0]["id"].as_str().expect("id");
    issuer
        .send(issuer.admin(Method::POST, &format!("/admin/deferred/{id}/approve")))
        .await
        .assert_status(200);
    let url = format!("{}/deferred_credential", issuer.url);
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
    let response = issuer
        .send(
            issuer
                .http
                .post(&url)
                .header("Authorization", format!("DPoP {}", token.access_token))
                .header("DPoP", proof)
                .json(&json!({ "transaction_id": transaction_id })),
        )
        .await;
    let body = one_bearer_credential(&issuer, &response);
    assert!(body["notification_id"].is_string(), "{body}");
}
