//! `tls_client_auth` (RFC 8705 §2.1; ISS-CLI-01) over the issuer's mutual-TLS
//! listener: a client certificate issued by the configured wallet-provider CA
//! with the client_id as SAN URI authenticates at the Token Endpoint; one from
//! another CA, one naming another client, or none does not (401 invalid_client).

use avow_core::clock::FixedClock;
use avow_crypto::dpop::{NewDpopProof, create_proof};
use avow_crypto::{Random, SoftwareSigner, SystemRandom};
use avow_issuer::client_auth::{ClientAuthMethod, ClientIdSource, MtlsConfig};
use avow_issuer::{IssuerConfig, RunningIssuer, build_state};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::CertificateDer;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const NOW: i64 = 1_800_000_000;
const CLIENT_ID: &str = "https://wallet-provider.example/instances/42";

/// Certificates valid 2024 … 2031: at the test clock (2027) and at real time.
fn params(sans: Vec<SanType>, common_name: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.subject_alt_names = sans;
    p.distinguished_name.push(DnType::CommonName, common_name);
    p.not_before = rcgen::date_time_ymd(2024, 1, 1);
    p.not_after = rcgen::date_time_ymd(2031, 1, 1);
    p
}

fn new_key() -> KeyPair {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key")
}

/// A root CA: (certificate PEM, issuer).
fn root_ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let key = new_key();
    let mut p = params(vec![], name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let cert = p.self_signed(&key).expect("CA");
    (cert.pem(), Issuer::new(p, key))
}

/// A client certificate naming `uri` (SAN URI), as a PEM identity (cert + key).
fn client_identity(issuer: &Issuer<'_, impl rcgen::SigningKey>, uri: &str) -> Vec<u8> {
    let key = new_key();
    let mut p = params(
        vec![SanType::URI(uri.try_into().expect("ia5"))],
        "wallet instance",
    );
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = p.signed_by(&key, issuer).expect("client cert");
    format!("{}{}", cert.pem(), key.serialize_pem()).into_bytes()
}

/// The issuer's DEVELOPMENT wallet-provider CA as an rcgen issuer.
fn dev_ca(cert: &Path, key: &Path) -> Issuer<'static, KeyPair> {
    let cert_der = avow_crypto::x509::certs_from_pem(&std::fs::read_to_string(cert).expect("cert"))
        .expect("PEM")
        .remove(0);
    let key_der =
        avow_crypto::pem::decode_one("PRIVATE KEY", &std::fs::read_to_string(key).expect("key"))
            .expect("key PEM");
    let key = KeyPair::try_from(key_der.as_slice()).expect("CA key");
    Issuer::from_ca_cert_der(&CertificateDer::from(cert_der), key).expect("issuer")
}

struct MtlsIssuer {
    running: Option<RunningIssuer>,
    url: String,
    tls_url: String,
    admin_url: String,
    admin_token: String,
    server_ca_pem: String,
    dev_ca: (PathBuf, PathBuf),
    data_dir: PathBuf,
    plain: reqwest::Client,
}

impl Drop for MtlsIssuer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

impl MtlsIssuer {
    async fn start() -> Self {
        let data_dir = std::env::temp_dir().join(format!(
            "avow-issuer-mtls-test-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&data_dir).expect("data dir");
        // The server's TLS certificate (IP SAN 127.0.0.1) under a test CA.
        let (server_ca_pem, server_ca) = root_ca("Test TLS server CA");
        let server_key = new_key();
        let mut p = params(
            vec![SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into())],
            "127.0.0.1",
        );
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = p.signed_by(&server_key, &server_ca).expect("server cert");
        let cert_path = data_dir.join("tls-server.pem");
        let key_path = data_dir.join("tls-server.key");
        std::fs::write(&cert_path, server_cert.pem()).expect("write cert");
        std::fs::write(&key_path, server_key.serialize_pem()).expect("write key");

        let public = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let public_addr = public.local_addr().expect("addr");
        let admin_addr = admin.local_addr().expect("addr");
        let mut config = IssuerConfig::defaults().expect("defaults");
        config.server.public_url = format!("http://{public_addr}");
        config.server.listen = public_addr.to_string();
        config.server.admin_listen = admin_addr.to_string();
        config.storage.data_dir = data_dir.clone();
        config.storage.database_url = None;
        config.policy.pre_authorized_grant_anonymous_access = false;
        config.client_authentication.methods = vec![
            ClientAuthMethod::AttestJwtClientAuth,
            ClientAuthMethod::TlsClientAuth,
        ];
        // client_ca unset: the wallet-provider anchors (here the dev CA) are the client CAs.
        config.client_authentication.mtls = Some(MtlsConfig {
            listen: "127.0.0.1:0".into(),
            certificate: cert_path,
            private_key: key_path,
            client_ca: vec![],
            client_id_from: ClientIdSource::SanUri,
            backend_clients: vec![],
            public_url: None,
        });
        let state = build_state(
            config,
            Arc::new(FixedClock::new(NOW)),
            Arc::new(SystemRandom),
        )
        .await
        .expect("state");
        let running = RunningIssuer::start(state.clone(), public, admin).expect("start");
        let tls_addr = running.tls_addr.expect("the mTLS listener runs");
        let issuer = Self {
            url: state.issuer_id.clone(),
            tls_url: format!("https://{tls_addr}"),
            admin_url: format!("http://{admin_addr}"),
            admin_token: state.admin_token.clone(),
            server_ca_pem,
            dev_ca: state
                .client_auth
                .dev_wallet_provider
                .clone()
                .expect("dev wallet-provider CA"),
            data_dir,
            running: Some(running),
            plain: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("client"),
        };
        let holders: Value =
            serde_json::from_str(avow_issuer::config::DEMO_HOLDERS).expect("holders");
        let response = issuer
            .plain
            .put(format!("{}/admin/holders", issuer.admin_url))
            .bearer_auth(&issuer.admin_token)
            .json(&holders)
            .send()
            .await
            .expect("import holders");
        assert_eq!(response.status(), 200);
        issuer
    }

    /// An HTTPS client trusting the server CA, with an optional client identity.
    fn tls_client(&self, identity: Option<&[u8]>) -> reqwest::Client {
        let mut builder = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .tls_certs_only([
                reqwest::Certificate::from_pem(self.server_ca_pem.as_bytes()).expect("CA"),
            ]);
        if let Some(pem) = identity {
            builder = builder.identity(reqwest::Identity::from_pem(pem).expect("identity"));
        }
        builder.build().expect("TLS client")
    }

    async fn pre_authorized_code(&self) -> String {
        let response = self
            .plain
            .post(format!("{}/admin/offers", self.admin_url))
            .bearer_auth(&self.admin_token)
            .json(&json!({ "holder_id": "demo-erika", "credential_configuration_ids": ["pid-sd-jwt"] }))
            .send()
            .await
            .expect("create offer");
        assert_eq!(response.status(), 201);
        let offer: Value = response.json().await.expect("offer");
        offer["credential_offer"]["grants"][avow_core::offer::PRE_AUTHORIZED_CODE_GRANT]
            ["pre-authorized_code"]
            .as_str()
            .expect("code")
            .to_owned()
    }

    /// A token request over the mTLS listener with `client`; returns (status, body).
    async fn token_request(
        &self,
        client: &reqwest::Client,
        client_id: Option<&str>,
    ) -> (u16, Value) {
        let code = self.pre_authorized_code().await;
        let nonce_response = client
            .post(format!("{}/nonce", self.tls_url))
            .send()
            .await
            .expect("nonce over TLS");
        let nonce = nonce_response
            .headers()
            .get("dpop-nonce")
            .and_then(|v| v.to_str().ok())
            .expect("DPoP-Nonce")
            .to_owned();
        let key = SoftwareSigner::generate().expect("key");
        // The token endpoint URL the issuer publishes (no mtls alias configured).
        let proof = create_proof(
            &key,
            NewDpopProof {
                htm: "POST",
                htu: &format!("{}/token", self.url),
                iat: NOW,
                jti: SystemRandom.token(12),
                access_token: None,
                nonce: Some(&nonce),
            },
        )
        .await
        .expect("DPoP");
        let mut form = vec![
            ("grant_type", avow_core::offer::PRE_AUTHORIZED_CODE_GRANT),
            ("pre-authorized_code", code.as_str()),
        ];
        if let Some(id) = client_id {
            form.push(("client_id", id));
        }
        let response = client
            .post(format!("{}/token", self.tls_url))
            .header("DPoP", proof)
            .form(&form)
            .send()
            .await
            .expect("token request over TLS");
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("JSON body");
        (status, body)
    }
}

#[track_caller]
fn assert_invalid_client(result: &(u16, Value), check: &str) {
    assert_eq!(result.0, 401, "{}", result.1);
    assert_eq!(result.1["error"], "invalid_client", "{}", result.1);
    let description = result.1["error_description"].as_str().unwrap_or_default();
    assert!(
        description.contains(check),
        "error_description {description:?} should name {check:?}"
    );
}

/// ISS-CLI-01: a certificate of the wallet-provider CA naming the client_id
/// authenticates; other certificates, or none, do not.
#[tokio::test]
async fn iss_cli_01_tls_client_auth() {
    let mut issuer = MtlsIssuer::start().await;
    let dev_ca = dev_ca(&issuer.dev_ca.0, &issuer.dev_ca.1);

    let trusted = issuer.tls_client(Some(&client_identity(&dev_ca, CLIENT_ID)));
    let (status, body) = issuer.token_request(&trusted, Some(CLIENT_ID)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");

    // RFC 8705 §2: the client_id parameter is required, and must be the certificate's.
    assert_invalid_client(
        &issuer.token_request(&trusted, None).await,
        "needs the client_id parameter",
    );
    assert_invalid_client(
        &issuer
            .token_request(
                &trusted,
                Some("https://wallet-provider.example/instances/43"),
            )
            .await,
        "no SAN URI equal to client_id",
    );

    // A certificate from a CA the issuer does not trust.
    let (_, other_ca) = root_ca("Some other CA");
    let untrusted = issuer.tls_client(Some(&client_identity(&other_ca, CLIENT_ID)));
    assert_invalid_client(
        &issuer.token_request(&untrusted, Some(CLIENT_ID)).await,
        "does not chain to a configured wallet-provider CA",
    );

    // Plain TLS without a certificate: no client authentication at all.
    let anonymous = issuer.tls_client(None);
    assert_invalid_client(
        &issuer.token_request(&anonymous, Some(CLIENT_ID)).await,
        "client authentication is required",
    );

    // The plain listener never sees a certificate.
    let response = issuer
        .plain
        .get(format!(
            "{}/.well-known/openid-credential-issuer",
            issuer.url
        ))
        .send()
        .await
        .expect("plain listener");
    assert_eq!(response.status(), 200);

    if let Some(running) = issuer.running.take() {
        running.stop().await;
    }
}

/// ISS-CLI-03: a token issued to a client authenticated by its certificate
/// is bound to that certificate: without it the credential endpoint answers
/// 401 invalid_token; with it the request gets past the binding (here to the
/// DPoP check).
#[tokio::test]
async fn iss_cli_03_certificate_bound_tokens() {
    let mut issuer = MtlsIssuer::start().await;
    let dev_ca = dev_ca(&issuer.dev_ca.0, &issuer.dev_ca.1);
    let trusted = issuer.tls_client(Some(&client_identity(&dev_ca, CLIENT_ID)));
    let (status, body) = issuer.token_request(&trusted, Some(CLIENT_ID)).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().expect("token").to_owned();
    let request = |client: &reqwest::Client, base: &str| {
        client
            .post(format!("{base}/credential"))
            .header("authorization", format!("DPoP {token}"))
            .json(&serde_json::json!({"credential_configuration_id": "pid-sd-jwt"}))
            .send()
    };
    let without_cert = request(&issuer.plain, &issuer.url).await.expect("plain");
    assert_eq!(without_cert.status(), 401);
    let challenge = without_cert
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        challenge.contains("invalid_token") && challenge.contains("certificate"),
        "{challenge}"
    );
    let with_cert = request(&trusted, &issuer.tls_url).await.expect("tls");
    assert_eq!(with_cert.status(), 401);
    let challenge = with_cert
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(challenge.contains("invalid_dpop_proof"), "{challenge}");
    if let Some(running) = issuer.running.take() {
        running.stop().await;
    }
}
