//! ISS-JWTVC-01, ISS-META-10: a W3C VC as JWT (`jwt_vc_json`, VCI A.1.1)
//! configured in the test, received end to end by the wallet, and a
//! tampered JWT refused by the wallet's validation.

mod common;

use avow_crypto::x509::TrustAnchors;
use avow_issuer::config::{CredentialFormat, IssuerConfig};
use avow_wallet::attestation::DevWalletProvider;
use avow_wallet::validate::{ValidationContext, validate_jwt_vc};
use avow_wallet::{CredentialStore, Wallet, WalletOptions};
use common::{Backend, TestIssuer};
use serde_json::json;
use std::sync::Arc;

const CONFIG_ID: &str = "pid-jwt-vc";

fn with_jwt_vc(config: &mut IssuerConfig) {
    let mut configuration = config.credential_configurations[common::PID].clone();
    configuration.format = CredentialFormat::JwtVcJson;
    configuration.vct = None;
    configuration.doctype = None;
    configuration.scope = "pid_jwt_vc".into();
    configuration.credential_definition_type = Some(vec![
        "VerifiableCredential".into(),
        "PersonIdentificationData".into(),
    ]);
    config
        .credential_configurations
        .insert(CONFIG_ID.into(), configuration);
}

fn anchors(issuer: &TestIssuer) -> TrustAnchors {
    let pem = std::fs::read_to_string(issuer.state.keys.dev_anchor.clone().expect("anchor"))
        .expect("pem");
    TrustAnchors::new(avow_crypto::x509::certs_from_pem(&pem).expect("certs")).expect("anchors")
}

#[tokio::test]
async fn jwt_vc_json_is_issued_and_verified_by_the_wallet() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, with_jwt_vc).await;
    // ISS-META-10: credential_definition.type, jwk binding, ES256.
    let metadata = issuer
        .get(&format!(
            "{}/.well-known/openid-credential-issuer",
            issuer.url
        ))
        .await
        .json();
    let entry = &metadata["credential_configurations_supported"][CONFIG_ID];
    assert_eq!(entry["format"], "jwt_vc_json");
    assert_eq!(
        entry["credential_definition"]["type"],
        json!(["VerifiableCredential", "PersonIdentificationData"])
    );
    assert_eq!(
        entry["cryptographic_binding_methods_supported"],
        json!(["jwk"])
    );
    assert_eq!(
        entry["credential_signing_alg_values_supported"],
        json!(["ES256"])
    );
    assert!(entry.get("vct").is_none());

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
        client_id: "https://wallet.avow.dev/jwt-vc-test".into(),
        wia_source: Some(Arc::new(
            DevWalletProvider::load(&cert, &key).expect("provider"),
        )),
        prefer_anonymous: false,
        encryption: None,
    };
    let dir = std::env::temp_dir().join(format!("avow-jwt-vc-{}", uuid::Uuid::new_v4()));
    let wallet = Wallet::with_clock(
        options,
        CredentialStore::open(&dir).expect("store"),
        issuer.clock.clone(),
    )
    .expect("wallet");
    let response = issuer
        .create_offer_request(
            &json!({ "holder_id": common::HOLDER, "credential_configuration_ids": [CONFIG_ID] }),
        )
        .await;
    let offer: avow_issuer::offer::CreatedOffer =
        serde_json::from_slice(&response.assert_status(201).body).expect("offer");
    let received = wallet
        .receive(&offer.links["openid-credential-offer"].by_reference, None)
        .await
        .expect("JWT VC received");
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].stored.format, "jwt_vc_json");
    let verified = received[0].verified.jwt_vc().expect("a JWT VC");
    assert_eq!(
        verified.types,
        vec!["VerifiableCredential", "PersonIdentificationData"]
    );
    assert_eq!(verified.credential_subject["given_name"], "Erika");
    assert_eq!(verified.credential_subject["family_name"], "Mustermann");
    assert_eq!(verified.iss, issuer.url);

    // A.1.1.3: the response carries the compact JWT as is; typ JWT; VCDM 1.1 claims.
    let credential = received[0].stored.credential.clone();
    let jws = avow_crypto::CompactJws::parse(&credential).expect("compact JWS");
    assert_eq!(jws.header_str("typ"), Some("JWT"));
    let payload: serde_json::Value = serde_json::from_slice(jws.payload()).expect("payload");
    assert_eq!(
        payload["vc"]["@context"],
        json!(["https://www.w3.org/2018/credentials/v1"])
    );
    assert!(payload["jti"].is_string());
    assert!(payload["cnf"]["jwk"].is_object());

    // A tampered JWT (a subject claim changed, signature kept) is refused.
    let mut tampered_payload = payload.clone();
    tampered_payload["vc"]["credentialSubject"]["family_name"] = json!("Musterfrau");
    let parts: Vec<&str> = credential.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        avow_crypto::b64::encode(serde_json::to_vec(&tampered_payload).expect("json")),
        parts[2]
    );
    let holder_key =
        avow_crypto::EcPublicJwk::from_json(&payload["cnf"]["jwk"]).expect("holder key");
    let client = avow_wallet::HttpClient::new(true).expect("client");
    let trust_anchors = anchors(&issuer);
    let ctx = ValidationContext {
        trust_anchors: &trust_anchors,
        credential_issuer: &issuer.url,
        expected_vct: "",
        holder_key: &holder_key,
        now: avow_core::Clock::now(issuer.clock.as_ref()),
        skew: 60,
    };
    let types = vec!["VerifiableCredential".to_owned()];
    validate_jwt_vc(&client, &credential, &types, &ctx)
        .await
        .expect("the original validates");
    let refused = validate_jwt_vc(&client, &tampered, &types, &ctx).await;
    assert!(
        matches!(refused, Err(avow_wallet::WalletError::Validation(_))),
        "tampered JWT refused: {refused:?}"
    );
    // A type the credential lacks is refused too.
    let other = vec!["OtherCredential".to_owned()];
    assert!(
        validate_jwt_vc(&client, &credential, &other, &ctx)
            .await
            .is_err()
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn jwt_vc_json_configuration_needs_verifiable_credential_type() {
    let mut config = IssuerConfig::defaults().expect("defaults");
    with_jwt_vc(&mut config);
    config.validate().expect("valid with VerifiableCredential");

    let mut missing = config.clone();
    if let Some(c) = missing.credential_configurations.get_mut(CONFIG_ID) {
        c.credential_definition_type = Some(vec!["PersonIdentificationData".into()]);
    }
    assert!(missing.validate().is_err(), "VerifiableCredential required");

    let mut absent = config.clone();
    if let Some(c) = absent.credential_configurations.get_mut(CONFIG_ID) {
        c.credential_definition_type = None;
    }
    assert!(
        absent.validate().is_err(),
        "credential_definition_type required"
    );

    let mut with_vct = config.clone();
    if let Some(c) = with_vct.credential_configurations.get_mut(CONFIG_ID) {
        c.vct = Some("urn:eudi:pid:1".into());
    }
    assert!(with_vct.validate().is_err(), "no vct for jwt_vc_json");

    let mut on_sd_jwt = config;
    if let Some(c) = on_sd_jwt.credential_configurations.get_mut(common::PID) {
        c.credential_definition_type = Some(vec!["VerifiableCredential".into()]);
    }
    assert!(on_sd_jwt.validate().is_err(), "only for jwt_vc_json");
}
