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

/// Writes a DEVELOPMENT access CA and an access certificate + key into a
/// fresh directory and names them in `[metadata]` (ISS-SMETA-02).
fn with_access_certificate(config: &mut IssuerConfig) {
    use avow_crypto::Signer;
    use avow_crypto::x509::{CertificateAuthority, Validity};
    let dir = std::env::temp_dir().join(format!(
        "avow-access-cert-{}",
        avow_crypto::Random::token(&avow_crypto::SystemRandom, 8)
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let validity = Validity {
        not_before: 0,
        not_after: 4_000_000_000,
    };
    let ca = CertificateAuthority::generate_root("Test access CA", validity).expect("ca");
    let key = avow_crypto::SoftwareSigner::generate().expect("key");
    let leaf = ca
        .issue_leaf("Test issuer access certificate", key.public_jwk(), validity)
        .expect("leaf");
    std::fs::write(
        dir.join("access-ca.pem"),
        avow_crypto::x509::cert_pem(&ca.cert_der),
    )
    .expect("write");
    std::fs::write(dir.join("access.pem"), avow_crypto::x509::cert_pem(&leaf)).expect("write");
    std::fs::write(
        dir.join("access.key"),
        avow_crypto::pem::encode("PRIVATE KEY", &key.to_pkcs8().expect("pkcs8")),
    )
    .expect("write");
    config.metadata.access_key = Some(dir.join("access.key"));
    config.metadata.access_chain = Some(dir.join("access.pem"));
    etsi(config);
}

#[tokio::test]
async fn the_issuer_access_certificate_signs_the_metadata() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, with_access_certificate).await;
    let chain = issuer
        .state
        .config
        .metadata
        .access_chain
        .clone()
        .expect("configured");
    let dir = chain.parent().expect("dir").to_path_buf();
    let access_leaf =
        avow_crypto::x509::certs_from_pem(&std::fs::read_to_string(&chain).expect("pem"))
            .expect("der");
    let access_ca = TrustAnchors::new(
        avow_crypto::x509::certs_from_pem(
            &std::fs::read_to_string(dir.join("access-ca.pem")).expect("pem"),
        )
        .expect("der"),
    )
    .expect("anchors");
    let url = format!("{}/.well-known/openid-credential-issuer", issuer.url);
    let signed = issuer
        .send(issuer.http.get(&url).header("accept", "application/jwt"))
        .await;
    signed.assert_status(200);
    let jwt = String::from_utf8(signed.body.clone()).expect("text");
    let jws = avow_crypto::CompactJws::parse(&jwt).expect("jws");
    let x5c = jws.x5c().expect("x5c").expect("certs");
    assert_eq!(
        x5c, access_leaf,
        "the access certificate, not the signing certificate"
    );
    assert_ne!(x5c[0], issuer.state.keys.x5c[0]);
    // It verifies to the access CA, and not to the credential signing CA.
    assert!(verify_signed_metadata(&jwt, &issuer.url, &access_ca, issuer.now()).is_ok());
    assert!(verify_signed_metadata(&jwt, &issuer.url, &anchors(&issuer), issuer.now()).is_err());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn etsi_outside_dev_mode_needs_the_access_certificate() {
    let mut config = IssuerConfig::defaults().expect("defaults");
    etsi(&mut config);
    assert!(
        config.metadata.validate(true).is_ok(),
        "dev mode may sign with the dev key"
    );
    let error = config.metadata.validate(false).expect_err("refused");
    assert!(error.contains("access_key"), "{error}");
    config.metadata.access_key = Some("access.key".into());
    assert!(
        config.metadata.validate(false).is_err(),
        "key and chain go together"
    );
    config.metadata.access_chain = Some("access.pem".into());
    assert!(config.metadata.validate(false).is_ok());
}
