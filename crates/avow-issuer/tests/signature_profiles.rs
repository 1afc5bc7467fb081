//! ISS-SIG-01 … -04, WAL-VAL-02, APT VCI-001/002/004/006: each signature
//! profile issues an SD-JWT VC whose issuer key a wallet resolves through the
//! profile's mechanism only, over real HTTP.

mod common;

use avow_crypto::x509::TrustAnchors;
use avow_issuer::IssuerConfig;
use avow_issuer::config::SignatureProfile;
use avow_wallet::attestation::DevWalletProvider;
use avow_wallet::{CredentialStore, Wallet, WalletOptions};
use common::{Backend, TestIssuer};
use serde_json::json;
use std::sync::Arc;

const PROFILES: [(&str, SignatureProfile); 4] = [
    ("pid-x5c", SignatureProfile::X5c),
    ("pid-jwk", SignatureProfile::Jwk),
    ("pid-kid", SignatureProfile::Kid),
    ("pid-did-web", SignatureProfile::DidWeb),
];

fn with_profiles(config: &mut IssuerConfig) {
    let Some(pid) = config.credential_configurations.get("pid-sd-jwt").cloned() else {
        return;
    };
    for (id, profile) in PROFILES {
        let mut configuration = pid.clone();
        configuration.scope = format!("pid-{id}");
        configuration.signature_profile = profile;
        config
            .credential_configurations
            .insert(id.to_owned(), configuration);
    }
}

fn wallet(issuer: &TestIssuer, dir: &std::path::Path) -> Wallet {
    let anchor = issuer.state.keys.dev_anchor.clone().expect("dev anchor");
    let pem = std::fs::read_to_string(anchor).expect("anchor file");
    let anchors =
        TrustAnchors::new(avow_crypto::x509::certs_from_pem(&pem).expect("pem")).expect("anchors");
    let (cert, key) = issuer
        .state
        .client_auth
        .dev_wallet_provider
        .clone()
        .expect("dev wallet provider");
    let options = WalletOptions {
        allow_http_loopback: true,
        trust_anchors: anchors,
        clock_skew: 60,
        client_id: "https://wallet.avow.dev/test".into(),
        wia_source: Some(Arc::new(
            DevWalletProvider::load(&cert, &key).expect("provider"),
        )),
        prefer_anonymous: false,
        encryption: None,
    };
    Wallet::with_clock(
        options,
        CredentialStore::open(dir).expect("store"),
        issuer.clock.clone(),
    )
    .expect("wallet")
}

#[tokio::test]
async fn every_signature_profile_issues_a_credential_the_wallet_resolves() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, with_profiles).await;
    let dir = std::env::temp_dir().join(format!("avow-sig-profiles-{}", uuid::Uuid::new_v4()));
    let wallet = wallet(&issuer, &dir);
    for (id, profile) in PROFILES {
        let response = issuer
            .create_offer_request(
                &json!({ "holder_id": "demo-erika", "credential_configuration_ids": [id] }),
            )
            .await;
        let offer: avow_issuer::offer::CreatedOffer =
            serde_json::from_slice(&response.assert_status(201).body).expect("offer");
        let link = &offer.links["openid-credential-offer"].by_reference;
        let received = wallet
            .receive(link, None)
            .await
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(received.len(), 1, "{id}");
        let sd_jwt = avow_formats::sd_jwt_vc::peek(&received[0].stored.credential).expect("parse");
        let header = sd_jwt.jws().header();
        let iss = received[0]
            .verified
            .sd_jwt_vc()
            .expect("SD-JWT VC")
            .iss
            .clone();
        match profile {
            SignatureProfile::X5c => {
                assert!(
                    header.contains_key("x5c")
                        && !header.contains_key("jwk")
                        && !header.contains_key("kid")
                );
                assert_eq!(iss, issuer.url);
            }
            SignatureProfile::Jwk => {
                assert!(header.contains_key("jwk") && !header.contains_key("x5c"));
                assert_eq!(iss, issuer.url);
            }
            SignatureProfile::Kid => {
                assert_eq!(header.get("kid"), Some(&json!(issuer.state.keys.kid)));
                assert!(!header.contains_key("x5c") && !header.contains_key("jwk"));
                assert_eq!(iss, issuer.url);
            }
            SignatureProfile::DidWeb => {
                let did = avow_issuer::did_web::did_web(&issuer.url).expect("did");
                assert_eq!(iss, did);
                assert_eq!(
                    header.get("kid"),
                    Some(&json!(format!("{did}#{}", issuer.state.keys.kid)))
                );
            }
        }
    }
    // ISS-SIG-03: the DID document names the signing key under the kid.
    let document = issuer
        .get(&format!("{}/.well-known/did.json", issuer.url))
        .await;
    let document = document.assert_status(200).json();
    let did = avow_issuer::did_web::did_web(&issuer.url).expect("did");
    assert_eq!(document["id"], did);
    assert_eq!(
        document["verificationMethod"][0]["id"],
        format!("{did}#{}", issuer.state.keys.kid)
    );
    assert_eq!(
        document["verificationMethod"][0]["publicKeyJwk"],
        issuer.state.keys.signer.public_jwk().to_json()
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// WAL-VAL-02: a wallet that cannot tie the key to the issuer refuses the
/// credential: with the kid profile, an issuer whose JWT VC Issuer Metadata
/// lists another key (simulated by a wallet trusting nothing via x5c and the
/// kid-profile credential re-signed by a stranger) is rejected.
#[tokio::test]
async fn a_credential_signed_by_an_unpublished_key_is_refused() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, with_profiles).await;
    let stranger = avow_crypto::SoftwareSigner::generate().expect("key");
    let holder = avow_crypto::SoftwareSigner::generate().expect("key");
    let claims = avow_formats::sd_jwt_vc::SdJwtVcClaims {
        iss: issuer.url.clone(),
        iat: issuer.now(),
        exp: issuer.now() + 3600,
        nbf: None,
        vct: "urn:eudi:pid:1".into(),
        holder_key: Some(avow_crypto::Signer::public_jwk(&holder).clone()),
        status: None,
        subject_claims: serde_json::Map::new(),
    };
    let client = avow_wallet::HttpClient::new(true).expect("client");
    for header in [
        avow_formats::sd_jwt_vc::IssuerKeyHeader::Jwk,
        avow_formats::sd_jwt_vc::IssuerKeyHeader::Kid(issuer.state.keys.kid.clone()),
    ] {
        let forged = avow_formats::sd_jwt_vc::issue(
            &stranger,
            &header,
            &claims,
            &[],
            0,
            &avow_crypto::SystemRandom,
        )
        .await
        .expect("issue");
        let ctx = avow_wallet::validate::ValidationContext {
            trust_anchors: &TrustAnchors::default(),
            credential_issuer: &issuer.url,
            expected_vct: "urn:eudi:pid:1",
            holder_key: avow_crypto::Signer::public_jwk(&holder),
            now: issuer.now(),
            skew: 60,
        };
        let outcome = avow_wallet::validate::validate_sd_jwt_vc(&client, &forged, &ctx).await;
        assert!(
            matches!(outcome, Err(avow_wallet::WalletError::Validation(_))),
            "{outcome:?}"
        );
    }
}
