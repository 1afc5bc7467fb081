//! ISS-SMETA-01 … -05, WAL-META-03, -04: signed Credential Issuer Metadata
//! and the ETSI `issuer_info`, over real HTTP, verified by the wallet.

mod common;

use avow_crypto::x509::TrustAnchors;
use avow_issuer::IssuerConfig;
use avow_wallet::issuer::{SignedMetadataPolicy, discover_with, verify_signed_metadata};
use common::{Backend, TestIssuer};
use serde_json::json;

fn etsi(config: &mut IssuerConfig) {
    config.metadata.etsi = true;
    config.metadata.registration_certificate =
        Some("MIIB-registration-certificate-verbatim".into());
    config.metadata.registrar_dataset =
        json!({ "registrar": "https://registrar.example", "entitlements": ["PID_Provider"] })
            .as_object()
            .cloned();
}

fn anchors(issuer: &TestIssuer) -> TrustAnchors {
    let pem = std::fs::read_to_string(issuer.state.keys.dev_anchor.clone().expect("dev anchor"))
        .expect("anchor");
    TrustAnchors::new(avow_crypto::x509::certs_from_pem(&pem).expect("pem")).expect("anchors")
}

#[tokio::test]
async fn signed_metadata_is_served_on_request_and_verifies() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, etsi).await;
    let url = format!("{}/.well-known/openid-credential-issuer", issuer.url);
    // JSON by default, with issuer_info (ISS-SMETA-04, -05).
    let plain = issuer.get(&url).await;
    plain.assert_status(200);
    assert_eq!(plain.header("content-type"), Some("application/json"));
    let json = plain.json();
    assert_eq!(
        json["issuer_info"][0],
        json!({"format": "registration_cert", "data": "MIIB-registration-certificate-verbatim"})
    );
    assert_eq!(json["issuer_info"][1]["format"], "registrar_dataset");
    // The JWT on Accept: application/jwt (ISS-SMETA-01 … -03).
    let signed = issuer
        .send(issuer.http.get(&url).header("accept", "application/jwt"))
        .await;
    signed.assert_status(200);
    assert_eq!(signed.header("content-type"), Some("application/jwt"));
    let jwt = String::from_utf8(signed.body.clone()).expect("text");
    let jws = avow_crypto::CompactJws::parse(&jwt).expect("jws");
    assert_eq!(jws.header_str("typ"), Some("openidvci-issuer-metadata+jwt"));
    assert_eq!(jws.header_str("alg"), Some("ES256"));
    let x5c = jws.x5c().expect("x5c").expect("certs");
    // ISS-SMETA-02: the leaf is not self-signed and the anchor is not included.
    let anchor_pem = std::fs::read_to_string(issuer.state.keys.dev_anchor.clone().expect("anchor"))
        .expect("pem");
    let anchor = avow_crypto::x509::certs_from_pem(&anchor_pem).expect("der");
    assert!(x5c.iter().all(|c| !anchor.contains(c)));
    assert!(
        avow_crypto::x509::leaf_public_key(&x5c[0]).is_ok(),
        "leaf not self-signed"
    );
    let metadata = verify_signed_metadata(&jwt, &issuer.url, &anchors(&issuer), issuer.now())
        .expect("verifies");
    assert_eq!(metadata.credential_issuer, issuer.url);
    assert!(metadata.issuer_info.is_some_and(|i| i.len() == 2));
    let claims: serde_json::Value = serde_json::from_slice(jws.payload()).expect("claims");
    assert_eq!(claims["sub"], issuer.url);
    assert_eq!(
        claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0),
        86_400
    );

    // The wallet requires and verifies it (ETSI), and refuses it from an untrusted signer.
    let client = avow_wallet::HttpClient::new(true).expect("client");
    let info = discover_with(
        &client,
        &issuer.url,
        SignedMetadataPolicy::Require,
        &anchors(&issuer),
        issuer.now(),
    )
    .await;
    assert!(info.is_ok(), "{:?}", info.err());
    let untrusted = discover_with(
        &client,
        &issuer.url,
        SignedMetadataPolicy::Require,
        &TrustAnchors::default(),
        issuer.now(),
    )
    .await;
    assert!(untrusted.is_err());
    // A tampered JWT does not verify.
    let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    parts[1] = avow_crypto::b64::encode(br#"{"sub":"x"}"#);
    assert!(
        verify_signed_metadata(
            &parts.join("."),
            &issuer.url,
            &anchors(&issuer),
            issuer.now()
        )
        .is_err()
    );
}

#[tokio::test]
async fn without_signing_only_json_is_served_and_a_requiring_wallet_refuses() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, |c| c.metadata.signed = false).await;
    let url = format!("{}/.well-known/openid-credential-issuer", issuer.url);
    let response = issuer
        .send(issuer.http.get(&url).header("accept", "application/jwt"))
        .await;
    response.assert_status(200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let client = avow_wallet::HttpClient::new(true).expect("client");
    let info = discover_with(
        &client,
        &issuer.url,
        SignedMetadataPolicy::Require,
        &anchors(&issuer),
        issuer.now(),
    )
    .await;
    assert!(info.is_err());
    let info = discover_with(
        &client,
        &issuer.url,
        SignedMetadataPolicy::Prefer,
        &anchors(&issuer),
        issuer.now(),
    )
    .await;
    assert!(info.is_ok());
}
