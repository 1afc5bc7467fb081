//! ISS-MDOC-01 … -07, WAL-VAL-04, -07, APT VCI-005/008 (VCI-CHECK-08): the PID
//! as an mdoc over the attestation proof path, end to end, and a `jwt` proof
//! to the mdoc configuration refused with nothing issued.

mod common;

use avow_crypto::x509::TrustAnchors;
use avow_wallet::attestation::DevWalletProvider;
use avow_wallet::flow::IssuanceSession;
use avow_wallet::{CredentialStore, Wallet, WalletOptions};
use common::{Backend, TestIssuer};
use serde_json::json;
use std::sync::Arc;

fn anchors(issuer: &TestIssuer) -> TrustAnchors {
    let pem = std::fs::read_to_string(issuer.state.keys.dev_anchor.clone().expect("anchor"))
        .expect("pem");
    TrustAnchors::new(avow_crypto::x509::certs_from_pem(&pem).expect("certs")).expect("anchors")
}

async fn mdoc_offer(issuer: &TestIssuer) -> avow_issuer::offer::CreatedOffer {
    let response = issuer
        .create_offer_request(
            &json!({ "holder_id": "demo-erika", "credential_configuration_ids": ["pid-mdoc"] }),
        )
        .await;
    serde_json::from_slice(&response.assert_status(201).body).expect("offer")
}

#[tokio::test]
async fn mdoc_is_issued_on_the_attestation_path_and_verifies() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    // ISS-MDOC-05, ISS-META-08/-10: only the attestation proof type, cose_key binding, COSE algs.
    let metadata = issuer
        .get(&format!(
            "{}/.well-known/openid-credential-issuer",
            issuer.url
        ))
        .await
        .json();
    let mdoc = &metadata["credential_configurations_supported"]["pid-mdoc"];
    assert_eq!(mdoc["format"], "mso_mdoc");
    assert_eq!(mdoc["doctype"], "eu.europa.ec.eudi.pid.1");
    assert_eq!(
        mdoc["cryptographic_binding_methods_supported"],
        json!(["cose_key"])
    );
    assert_eq!(
        mdoc["credential_signing_alg_values_supported"],
        json!([-7, -9])
    );
    assert!(mdoc["proof_types_supported"].get("jwt").is_none());
    assert!(mdoc["proof_types_supported"].get("attestation").is_some());

    let (cert, key) = issuer
        .state
        .client_auth
        .dev_wallet_provider
        .clone()
        .expect("dev provider");
    let options = WalletOptions {
        allow_http_loopback: true,
        trust_anchors: anchors(&issuer),
        clock_skew: 60,
        client_id: "https://wallet.avow.dev/mdoc-test".into(),
        wia_source: Some(Arc::new(
            DevWalletProvider::load(&cert, &key).expect("provider"),
        )),
        prefer_anonymous: false,
        encryption: None,
    };
    let dir = std::env::temp_dir().join(format!("avow-mdoc-{}", uuid::Uuid::new_v4()));
    let wallet = Wallet::with_clock(
        options,
        CredentialStore::open(&dir).expect("store"),
        issuer.clock.clone(),
    )
    .expect("wallet");
    let offer = mdoc_offer(&issuer).await;
    let received = wallet
        .receive(&offer.links["openid-credential-offer"].by_reference, None)
        .await
        .expect("mdoc received");
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].stored.format, "mso_mdoc");
    let verified = received[0].verified.mdoc().expect("an mdoc");
    assert_eq!(verified.doctype, "eu.europa.ec.eudi.pid.1");
    let elements = &verified.namespaces["eu.europa.ec.eudi.pid.1"];
    assert_eq!(elements["given_name"], "Erika");
    assert_eq!(elements["family_name"], "Mustermann");
    assert!(
        verified.status.is_some(),
        "ISS-MDOC-07 / ISS-STAT-01: status reference in the MSO"
    );
    // The x5chain is the issuer chain without the anchor (ISS-SIG-05).
    let parsed = avow_formats::mdoc::parse(&received[0].stored.credential).expect("parse");
    assert_eq!(parsed.x5chain(), issuer.state.keys.x5c.as_slice());

    // ISS-MDOC-07, WAL-VAL-07: the MSO names the issuer's status list URI;
    // the wallet fetched it as a CWT (TSL §5.2, §8.1) and found it VALID.
    let reference = parsed.status().expect("MSO status").clone();
    assert!(
        reference
            .uri
            .starts_with(&format!("{}/status-lists/", issuer.url))
    );
    assert_eq!(received[0].stored.status_checked, Some(true));
    let stored = &received[0].stored;
    let status = avow_wallet::status::stored_credential_status(
        wallet.client(),
        &anchors(&issuer),
        stored,
        issuer.now(),
        60,
    )
    .await
    .expect("status");
    assert_eq!(status, Some(avow_formats::status_list::StatusType::Valid));
    // Revoked through the admin API: the next CWT says INVALID.
    let issuances = issuer
        .send(issuer.admin(reqwest::Method::GET, "/admin/holders/demo-erika/issuances"))
        .await
        .json();
    let id = issuances[0]["id"].as_str().expect("issuance id").to_owned();
    issuer
        .send(
            issuer
                .admin(
                    reqwest::Method::POST,
                    &format!("/admin/issuances/{id}/status"),
                )
                .json(&json!({ "status": "revoked" })),
        )
        .await
        .assert_status(200);
    let status = avow_wallet::status::stored_credential_status(
        wallet.client(),
        &anchors(&issuer),
        stored,
        issuer.now(),
        60,
    )
    .await
    .expect("status");
    assert_eq!(status, Some(avow_formats::status_list::StatusType::Invalid));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_jwt_proof_to_the_mdoc_configuration_is_refused() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let client = avow_wallet::HttpClient::new(true).expect("client");
    let info = Arc::new(
        avow_wallet::issuer::discover(&client, &issuer.url)
            .await
            .expect("discover"),
    );
    let offer = mdoc_offer(&issuer).await;
    let code = offer
        .credential_offer
        .grants
        .pre_authorized_code
        .expect("grant")
        .pre_authorized_code;
    let mut session = IssuanceSession::new(&client, info, issuer.clock.as_ref()).expect("session");
    session
        .redeem_pre_authorized_code(&code, None)
        .await
        .expect("token (anonymous access in the test config)");
    let holder = avow_crypto::SoftwareSigner::generate().expect("key");
    let nonce = session.fetch_c_nonce().await.expect("nonce");
    let proof = session.key_proof(&holder, &nonce).await.expect("proof");
    let outcome = session.request_credential("pid-mdoc", &proof).await;
    match outcome {
        Err(avow_wallet::WalletError::Protocol { status, error, .. }) => {
            assert_eq!((status, error.as_str()), (400, "invalid_proof"));
        }
        other => panic!("expected 400 invalid_proof, got {other:?}"),
    }
    let issued = issuer
        .state
        .store
        .issuances_for_holder("demo-erika")
        .await
        .expect("issuances");
    assert!(issued.is_empty(), "nothing issued");
}
