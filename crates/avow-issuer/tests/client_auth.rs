//! Client authentication at the Token Endpoint (pre-authorized code grant,
//! anonymous access switched off), over real HTTP: wallet attestation
//! (ISS-CATT-01 … -08, -12), private_key_jwt (ISS-CLI-04), enabled methods
//! (ISS-CLI-05), anonymous access (ISS-TPA-07). The mutual-TLS method
//! (ISS-CLI-01) is in `client_auth_mtls.rs`.

mod common;

use avow_core::client_attestation::{CLIENT_ATTESTATION_POP_TYP, CLIENT_ATTESTATION_TYP};
use avow_crypto::x509::{CertificateAuthority, Validity};
use avow_crypto::{Random, Signer, SoftwareSigner, SystemRandom};
use avow_issuer::IssuerConfig;
use avow_issuer::client_auth::{ClientAuthMethod, JWT_BEARER_ASSERTION_TYPE};
use avow_wallet::attestation::{ClientAttestation, DevWalletProvider, client_assertion};
use common::{Backend, PRE_AUTH_GRANT, Resp, TestIssuer, code_of, jws, proof_header};
use serde_json::{Value, json};

const CLIENT_ID: &str = "https://wallet.example/instance-1";
const BACKEND_CLIENT: &str = "https://wallet-backend.example/client";
const ASSERTION_KEY_FILE: &str = "test-assertion-key.pk8";

fn no_anonymous(c: &mut IssuerConfig) {
    c.policy.pre_authorized_grant_anonymous_access = false;
}

fn with_challenges(c: &mut IssuerConfig) {
    no_anonymous(c);
    c.client_authentication.challenge_endpoint = true;
    c.client_authentication.challenge_lifetime = 120;
}

/// private_key_jwt on, trusting one client key kept (for the test) in the data dir.
fn with_private_key_jwt(c: &mut IssuerConfig) {
    no_anonymous(c);
    let key = assertion_key_at(&c.storage.data_dir);
    c.client_authentication.methods = vec![
        ClientAuthMethod::AttestJwtClientAuth,
        ClientAuthMethod::PrivateKeyJwt,
    ];
    c.client_authentication.private_key_jwt.trusted =
        vec![avow_issuer::client_auth::config::TrustedAssertionKey {
            client_id: Some(BACKEND_CLIENT.into()),
            issuer: None,
            jwk: Some(key.public_jwk().to_json()),
            certificate: None,
        }];
}

/// The private_key_jwt client key of `with_private_key_jwt`, created on first use.
fn assertion_key_at(data_dir: &std::path::Path) -> SoftwareSigner {
    let path = data_dir.join(ASSERTION_KEY_FILE);
    if let Ok(der) = std::fs::read(&path) {
        return SoftwareSigner::from_pkcs8(&der).expect("stored key");
    }
    std::fs::create_dir_all(data_dir).expect("data dir");
    let key = SoftwareSigner::generate().expect("key");
    std::fs::write(&path, key.to_pkcs8().expect("pkcs8")).expect("write key");
    key
}

/// The issuer's DEVELOPMENT wallet provider (dev PKI).
fn dev_provider(issuer: &TestIssuer) -> DevWalletProvider {
    let (cert, key) = issuer
        .state
        .client_auth
        .dev_wallet_provider
        .clone()
        .expect("dev wallet-provider CA");
    DevWalletProvider::load(&cert, &key).expect("load dev wallet provider")
}

/// A fresh instance key with a WIA for `client_id` from `provider`.
async fn attestation_from(
    issuer: &TestIssuer,
    provider: &DevWalletProvider,
    client_id: &str,
    lifetime: i64,
) -> ClientAttestation {
    let instance = SoftwareSigner::generate().expect("instance key");
    let wia = provider
        .issue_wia(client_id, instance.public_jwk(), issuer.now(), lifetime)
        .await
        .expect("WIA");
    ClientAttestation::new(client_id, wia, instance)
}

async fn attestation(issuer: &TestIssuer) -> ClientAttestation {
    attestation_from(issuer, &dev_provider(issuer), CLIENT_ID, 3600).await
}

/// The WIA and PoP headers for this issuer.
async fn attestation_headers(
    issuer: &TestIssuer,
    att: &ClientAttestation,
    challenge: Option<&str>,
) -> Vec<(String, String)> {
    let pop = att
        .pop(&issuer.url, challenge, issuer.now())
        .await
        .expect("PoP");
    vec![
        ("OAuth-Client-Attestation".into(), att.wia.clone()),
        ("OAuth-Client-Attestation-PoP".into(), pop),
    ]
}

/// A pre-authorized token request for a fresh offer with the given extra
/// headers and form parameters, and a valid DPoP proof by `key`.
async fn token_request_with(
    issuer: &TestIssuer,
    key: &SoftwareSigner,
    headers: &[(String, String)],
    extra_form: &[(&str, &str)],
) -> Resp {
    let offer = issuer.create_offer(false).await;
    let mut form = vec![
        ("grant_type", PRE_AUTH_GRANT),
        ("pre-authorized_code", code_of(&offer)),
    ];
    form.extend_from_slice(extra_form);
    let proof = issuer.token_dpop(key).await;
    let mut request = issuer
        .http
        .post(issuer.token_url())
        .form(&form)
        .header("DPoP", proof);
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    issuer.send(request).await
}

async fn token_request(issuer: &TestIssuer, headers: &[(String, String)]) -> Resp {
    let key = SoftwareSigner::generate().expect("key");
    token_request_with(issuer, &key, headers, &[]).await
}

/// `401 invalid_client` whose description names `check` (ISS-CATT-12).
#[track_caller]
fn assert_invalid_client(response: &Resp, check: &str) {
    response.assert_error(401, "invalid_client");
    let description = response.json()["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        description.contains(check),
        "error_description {description:?} should name {check:?}"
    );
}

/// A test wallet provider whose WIAs the test assembles freely: the issuer's
/// dev CA (loaded from its files) and a signer certificate issued by it.
struct ForgingProvider {
    ca: CertificateAuthority,
    signer: SoftwareSigner,
    leaf: Vec<u8>,
}

impl ForgingProvider {
    fn new(issuer: &TestIssuer) -> Self {
        let (cert, key) = issuer
            .state
            .client_auth
            .dev_wallet_provider
            .clone()
            .expect("dev CA");
        let cert_der = avow_crypto::x509::certs_from_pem(
            &std::fs::read_to_string(cert).expect("read CA cert"),
        )
        .expect("CA PEM")
        .remove(0);
        let key_der = avow_crypto::pem::decode_one(
            "PRIVATE KEY",
            &std::fs::read_to_string(key).expect("read CA key"),
        )
        .expect("CA key PEM");
        let ca = CertificateAuthority::from_der(cert_der, &key_der).expect("CA");
        let signer = SoftwareSigner::generate().expect("signer");
        let leaf = ca
            .issue_leaf("test WIA signer", signer.public_jwk(), validity(issuer))
            .expect("leaf");
        Self { ca, signer, leaf }
    }

    fn claims(issuer: &TestIssuer, instance: &SoftwareSigner) -> Value {
        json!({
            "sub": CLIENT_ID,
            "iat": issuer.now(),
            "exp": issuer.now() + 3600,
            "cnf": { "jwk": instance.public_jwk().to_json() },
        })
    }

    /// A WIA with `header` (typ, x5c …) signed by `signer`.
    async fn wia(&self, signer: &SoftwareSigner, header: Value, claims: &Value) -> String {
        jws(signer, header, claims).await
    }
}

fn validity(issuer: &TestIssuer) -> Validity {
    Validity {
        not_before: issuer.now() - 3600,
        not_after: issuer.now() + 86_400,
    }
}

fn b64_der(der: &[u8]) -> Value {
    Value::String(avow_crypto::b64::encode_standard(der))
}

// ---------------------------------------------------------------- attestation

/// ISS-CATT-01 … -06: a valid WIA + PoP authenticates the wallet instance, and
/// the access token is issued to its client_id (a key proof's `iss` must name it).
#[tokio::test]
async fn iss_catt_valid_attestation_authenticates_and_binds_client_id() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, no_anonymous).await;
    let att = attestation(&issuer).await;
    let key = SoftwareSigner::generate().expect("key");
    let headers = attestation_headers(&issuer, &att, None).await;
    let response = token_request_with(&issuer, &key, &headers, &[("client_id", CLIENT_ID)]).await;
    response.assert_status(200).assert_no_store();
    let access_token = response.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let token = common::Token { access_token, key };

    // A key proof whose iss names another client is refused; one naming this client passes.
    let holder = SoftwareSigner::generate().expect("holder");
    let c_nonce = issuer.c_nonce().await;
    let mut claims = issuer.proof_claims(&c_nonce);
    claims["iss"] = json!("https://someone-else.example");
    let proof = jws(&holder, proof_header(&holder), &claims).await;
    issuer
        .credential_request(&token, &TestIssuer::pid_request(&proof))
        .await
        .assert_error(400, "invalid_proof");
    let c_nonce = issuer.c_nonce().await;
    let mut claims = issuer.proof_claims(&c_nonce);
    claims["iss"] = json!(CLIENT_ID);
    let proof = jws(&holder, proof_header(&holder), &claims).await;
    let response = issuer
        .credential_request(&token, &TestIssuer::pid_request(&proof))
        .await;
    response.assert_status(200);
    assert!(response.json()["credentials"][0]["credential"].is_string());
}

/// ISS-TPA-07, ISS-CATT-01: without client authentication, or with only one
/// of the two headers, or with either header twice → 401 invalid_client.
#[tokio::test]
async fn iss_catt_01_tpa_07_headers_must_be_exactly_one_each() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, no_anonymous).await;
    assert_invalid_client(
        &token_request(&issuer, &[]).await,
        "client authentication is required",
    );
    let att = attestation(&issuer).await;
    let headers = attestation_headers(&issuer, &att, None).await;
    assert_invalid_client(
        &token_request(&issuer, &headers[..1]).await,
        "OAuth-Client-Attestation-PoP",
    );
    assert_invalid_client(
        &token_request(&issuer, &headers[1..]).await,
        "OAuth-Client-Attestation header",
    );
    let mut doubled = attestation_headers(&issuer, &att, None).await;
    doubled.insert(0, ("OAuth-Client-Attestation".into(), att.wia.clone()));
    assert_invalid_client(
        &token_request(&issuer, &doubled).await,
        "exactly one OAuth-Client-Attestation header",
    );
    let mut doubled = attestation_headers(&issuer, &att, None).await;
    let second_pop = att.pop(&issuer.url, None, issuer.now()).await.expect("PoP");
    doubled.push(("OAuth-Client-Attestation-PoP".into(), second_pop));
    assert_invalid_client(
        &token_request(&issuer, &doubled).await,
        "exactly one OAuth-Client-Attestation-PoP header",
    );
    // A refused request leaves the code usable: the same flow then succeeds.
    let headers = attestation_headers(&issuer, &att, None).await;
    token_request(&issuer, &headers).await.assert_status(200);
}

/// ISS-CATT-04: an expired WIA (beyond the clock skew) → 401.
#[tokio::test]
async fn iss_catt_04_expired_attestation() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, no_anonymous).await;
    let att = attestation_from(&issuer, &dev_provider(&issuer), CLIENT_ID, 60).await;
    // exp = now + 60, skew 60: at now + 200 it is expired, while its signer
    // certificate (valid until exp + 300) still is not.
    issuer.advance(200);
    let headers = attestation_headers(&issuer, &att, None).await;
    assert_invalid_client(&token_request(&issuer, &headers).await, "expired");
}

/// ISS-CATT-03: a WIA under an untrusted CA, with a self-signed leaf, or with
/// the trust anchor included in x5c → 401.
#[tokio::test]
async fn iss_catt_03_chain_rules() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, no_anonymous).await;
    // Another wallet provider, unknown to the issuer.
    let dir =
        std::env::temp_dir().join(format!("avow-untrusted-provider-{}", SystemRandom.token(8)));
    let untrusted = DevWalletProvider::generate(&dir, issuer.now()).expect("provider");
    let att = attestation_from(&issuer, &untrusted, CLIENT_ID, 3600).await;
    let headers = attestation_headers(&issuer, &att, None).await;
    assert_invalid_client(
        &token_request(&issuer, &headers).await,
        "does not validate to a trusted wallet provider",
    );
    let _ = std::fs::remove_dir_all(dir);

    let forging = ForgingProvider::new(&issuer);
    let instance = SoftwareSigner::generate().expect("instance");
    let claims = ForgingProvider::claims(&issuer, &instance);
    let pop_for = |wia: String| {
        let instance = &instance;
        let issuer = &issuer;
        async move {
            let pop_jws = jws(
                instance,
                json!({ "typ": CLIENT_ATTESTATION_POP_TYP }),
                &json!({ "aud": issuer.url, "jti": SystemRandom.token(12), "iat": issuer.now() }),
            )
            .await;
            vec![
                ("OAuth-Client-Attestation".to_owned(), wia),
                ("OAuth-Client-Attestation-PoP".to_owned(), pop_jws),
            ]
        }
    };

    // The forging provider itself is fine: the control case passes.
    let good = forging
        .wia(
            &forging.signer,
            json!({ "typ": CLIENT_ATTESTATION_TYP, "x5c": [b64_der(&forging.leaf)] }),
            &claims,
        )
        .await;
    token_request(&issuer, &pop_for(good).await)
        .await
        .assert_status(200);

    // A self-signed leaf (a root of its own, not the anchor).
    let own_root = CertificateAuthority::generate_root("self-signed WIA signer", validity(&issuer))
        .expect("root");
    let own_key = SoftwareSigner::from_pkcs8(&own_root.key_pkcs8()).expect("root key");
    let self_signed = forging
        .wia(
            &own_key,
            json!({ "typ": CLIENT_ATTESTATION_TYP, "x5c": [b64_der(&own_root.cert_der)] }),
            &claims,
        )
        .await;
    assert_invalid_client(
        &token_request(&issuer, &pop_for(self_signed).await).await,
        "self-signed",
    );

    // The anchor must not travel in x5c.
    let with_anchor = forging
        .wia(
            &forging.signer,
            json!({
                "typ": CLIENT_ATTESTATION_TYP,
                "x5c": [b64_der(&forging.leaf), b64_der(&forging.ca.cert_der)],
            }),
            &claims,
        )
        .await;
    assert_invalid_client(
        &token_request(&issuer, &pop_for(with_anchor).await).await,
        "must not contain the trust anchor",
    );
}

/// ISS-CATT-02: a WIA without x5c, with a wrong typ, or signed by a key other
/// than its x5c leaf → 401.
#[tokio::test]
async fn iss_catt_02_header_rules() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, no_anonymous).await;
    let forging = ForgingProvider::new(&issuer);
    let instance = SoftwareSigner::generate().expect("instance");
    let claims = ForgingProvider::claims(&issuer, &instance);
    let att = |wia: String| ClientAttestation::new(CLIENT_ID, wia, clone_key(&instance));

    let no_x5c = forging
        .wia(
            &forging.signer,
            json!({ "typ": CLIENT_ATTESTATION_TYP }),
            &claims,
        )
        .await;
    let headers = attestation_headers(&issuer, &att(no_x5c), None).await;
    assert_invalid_client(&token_request(&issuer, &headers).await, "no x5c");

    let wrong_typ = forging
        .wia(
            &forging.signer,
            json!({ "typ": "jwt", "x5c": [b64_der(&forging.leaf)] }),
            &claims,
        )
        .await;
    let headers = attestation_headers(&issuer, &att(wrong_typ), None).await;
    assert_invalid_client(&token_request(&issuer, &headers).await, "typ");

    let other = SoftwareSigner::generate().expect("other");
    let wrong_signer = forging
        .wia(
            &other,
            json!({ "typ": CLIENT_ATTESTATION_TYP, "x5c": [b64_der(&forging.leaf)] }),
            &claims,
        )
        .await;
    let headers = attestation_headers(&issuer, &att(wrong_signer), None).await;
    assert_invalid_client(
        &token_request(&issuer, &headers).await,
        "signature does not verify",
    );

    // A private key in cnf.jwk.
    let mut with_private = claims.clone();
    with_private["cnf"]["jwk"]["d"] = json!("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI");
    let private_cnf = forging
        .wia(
            &forging.signer,
            json!({ "typ": CLIENT_ATTESTATION_TYP, "x5c": [b64_der(&forging.leaf)] }),
            &with_private,
        )
        .await;
    let headers = attestation_headers(&issuer, &att(private_cnf), None).await;
    assert_invalid_client(&token_request(&issuer, &headers).await, "cnf.jwk");
}

fn clone_key(key: &SoftwareSigner) -> SoftwareSigner {
    SoftwareSigner::from_pkcs8(&key.to_pkcs8().expect("pkcs8")).expect("key")
}

/// ISS-CATT-05: a PoP signed by another key, for another audience, with a
/// wrong typ, or replayed → 401.
#[tokio::test]
async fn iss_catt_05_pop_rules() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, no_anonymous).await;
    let att = attestation(&issuer).await;

    let stranger = ClientAttestation::new(
        CLIENT_ID,
        att.wia.clone(),
        SoftwareSigner::generate().expect("key"),
    );
    let headers = attestation_headers(&issuer, &stranger, None).await;
    assert_invalid_client(
        &token_request(&issuer, &headers).await,
        "PoP signature does not verify",
    );

    let pop = att
        .pop("https://other-as.example", None, issuer.now())
        .await
        .expect("PoP");
    let headers = vec![
        ("OAuth-Client-Attestation".to_owned(), att.wia.clone()),
        ("OAuth-Client-Attestation-PoP".to_owned(), pop),
    ];
    assert_invalid_client(&token_request(&issuer, &headers).await, "aud");

    let pop = att
        .pop(&issuer.url, None, issuer.now() - 600)
        .await
        .expect("PoP");
    let headers = vec![
        ("OAuth-Client-Attestation".to_owned(), att.wia.clone()),
        ("OAuth-Client-Attestation-PoP".to_owned(), pop),
    ];
    assert_invalid_client(&token_request(&issuer, &headers).await, "iat");

    // Replay: the same PoP a second time, on a fresh offer.
    let headers = attestation_headers(&issuer, &att, None).await;
    token_request(&issuer, &headers).await.assert_status(200);
    assert_invalid_client(
        &token_request(&issuer, &headers).await,
        "jti was already used",
    );
    // … also on another instance sharing the store (a scaled-out deployment;
    // the test instances differ in URL, so the PoP names each one's).
    let instance = SoftwareSigner::generate().expect("instance");
    let wia = dev_provider(&issuer)
        .issue_wia(CLIENT_ID, instance.public_jwk(), issuer.now(), 3600)
        .await
        .expect("WIA");
    let sibling = issuer.sibling().await;
    let jti = SystemRandom.token(12);
    for (server, status) in [(&issuer, 200), (&sibling, 401)] {
        let pop = jws(
            &instance,
            json!({ "typ": CLIENT_ATTESTATION_POP_TYP }),
            &json!({ "aud": server.url, "jti": jti, "iat": server.now() }),
        )
        .await;
        let headers = vec![
            ("OAuth-Client-Attestation".to_owned(), wia.clone()),
            ("OAuth-Client-Attestation-PoP".to_owned(), pop),
        ];
        let response = token_request(server, &headers).await;
        if status == 200 {
            response.assert_status(200);
        } else {
            assert_invalid_client(&response, "jti was already used");
        }
    }
}

/// ISS-CATT-06: a client_id parameter other than the WIA sub → 401.
#[tokio::test]
async fn iss_catt_06_client_id_must_be_the_attested_sub() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, no_anonymous).await;
    let att = attestation(&issuer).await;
    let key = SoftwareSigner::generate().expect("key");
    let headers = attestation_headers(&issuer, &att, None).await;
    assert_invalid_client(
        &token_request_with(
            &issuer,
            &key,
            &headers,
            &[("client_id", "https://another-client.example")],
        )
        .await,
        "client_id parameter differs",
    );
}

/// ISS-CATT-07, -08: with challenges on, the Challenge Endpoint hands them
/// out; a PoP without one (or with a stale one) → 400 use_attestation_challenge
/// with a fresh challenge, which then works.
#[tokio::test]
async fn iss_catt_07_08_challenges() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, with_challenges).await;
    let att = attestation(&issuer).await;

    let headers = attestation_headers(&issuer, &att, None).await;
    let refused = token_request(&issuer, &headers).await;
    refused.assert_error(400, "use_attestation_challenge");
    let challenge = refused
        .header("oauth-client-attestation-challenge")
        .expect("OAuth-Client-Attestation-Challenge header")
        .to_owned();
    let headers = attestation_headers(&issuer, &att, Some(&challenge)).await;
    token_request(&issuer, &headers).await.assert_status(200);

    // The Challenge Endpoint (ABCA §6.1).
    let response = issuer
        .send(
            issuer
                .http
                .post(format!("{}/challenge", issuer.url))
                .header("Accept", "application/json"),
        )
        .await;
    response.assert_status(200).assert_no_store();
    let challenge = response.json()["attestation_challenge"]
        .as_str()
        .expect("attestation_challenge")
        .to_owned();
    let headers = attestation_headers(&issuer, &att, Some(&challenge)).await;
    token_request(&issuer, &headers).await.assert_status(200);

    // A forged or expired challenge is not current.
    let headers = attestation_headers(&issuer, &att, Some("AAAAAAAAAAAAAAAAAAAA")).await;
    token_request(&issuer, &headers)
        .await
        .assert_error(400, "use_attestation_challenge");
    issuer.advance(200);
    let headers = attestation_headers(&issuer, &att, Some(&challenge)).await;
    let stale = token_request(&issuer, &headers).await;
    stale.assert_error(400, "use_attestation_challenge");
    assert!(stale.header("oauth-client-attestation-challenge").is_some());
}

/// ISS-CATT-08: without challenges the endpoint does not exist.
#[tokio::test]
async fn iss_catt_08_challenge_endpoint_off_by_default() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, no_anonymous).await;
    let response = issuer
        .send(issuer.http.post(format!("{}/challenge", issuer.url)))
        .await;
    response.assert_status(404);
}

// ---------------------------------------------------------------- private_key_jwt

async fn assertion_form(assertion: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "client_assertion_type",
            JWT_BEARER_ASSERTION_TYPE.to_owned(),
        ),
        ("client_assertion", assertion.to_owned()),
    ]
}

async fn token_with_assertion(issuer: &TestIssuer, assertion: &str) -> Resp {
    let key = SoftwareSigner::generate().expect("key");
    let form = assertion_form(assertion).await;
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    token_request_with(issuer, &key, &[], &form).await
}

/// ISS-CLI-04: a valid assertion by a trusted key authenticates; an untrusted
/// key, a replayed jti, a wrong aud → 401.
#[tokio::test]
async fn iss_cli_04_private_key_jwt() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, with_private_key_jwt).await;
    let key = assertion_key_at(&issuer.state.config.storage.data_dir);

    let assertion = client_assertion(&key, BACKEND_CLIENT, &issuer.url, issuer.now())
        .await
        .expect("assertion");
    token_with_assertion(&issuer, &assertion)
        .await
        .assert_status(200);
    // Replay of the same assertion (jti) → 401.
    assert_invalid_client(
        &token_with_assertion(&issuer, &assertion).await,
        "jti was already used",
    );
    // The token endpoint URL is an acceptable audience too (RFC 7523 §3).
    let assertion = client_assertion(&key, BACKEND_CLIENT, &issuer.token_url(), issuer.now())
        .await
        .expect("assertion");
    token_with_assertion(&issuer, &assertion)
        .await
        .assert_status(200);

    let untrusted = SoftwareSigner::generate().expect("key");
    let assertion = client_assertion(&untrusted, BACKEND_CLIENT, &issuer.url, issuer.now())
        .await
        .expect("assertion");
    assert_invalid_client(
        &token_with_assertion(&issuer, &assertion).await,
        "signature does not verify with a key trusted",
    );
    let assertion = client_assertion(&key, "https://unknown.example", &issuer.url, issuer.now())
        .await
        .expect("assertion");
    assert_invalid_client(
        &token_with_assertion(&issuer, &assertion).await,
        "iss is not a trusted client",
    );
    let assertion = client_assertion(
        &key,
        BACKEND_CLIENT,
        "https://other-as.example",
        issuer.now(),
    )
    .await
    .expect("assertion");
    assert_invalid_client(&token_with_assertion(&issuer, &assertion).await, "aud");
    let assertion = client_assertion(&key, BACKEND_CLIENT, &issuer.url, issuer.now() - 3600)
        .await
        .expect("assertion");
    assert_invalid_client(&token_with_assertion(&issuer, &assertion).await, "expired");

    // A lifetime beyond the configured maximum.
    let claims = json!({
        "iss": BACKEND_CLIENT, "sub": BACKEND_CLIENT, "aud": issuer.url,
        "jti": SystemRandom.token(12), "iat": issuer.now(), "exp": issuer.now() + 86_400,
    });
    let assertion = jws(&key, json!({ "typ": "JWT" }), &claims).await;
    assert_invalid_client(&token_with_assertion(&issuer, &assertion).await, "lifetime");

    // An assertion whose cnf names an instance key is accepted (its thumbprint is recorded).
    let instance = SoftwareSigner::generate().expect("instance");
    let claims = json!({
        "iss": BACKEND_CLIENT, "sub": BACKEND_CLIENT, "aud": issuer.url,
        "jti": SystemRandom.token(12), "iat": issuer.now(), "exp": issuer.now() + 60,
        "cnf": { "jwk": instance.public_jwk().to_json() },
    });
    let assertion = jws(&key, json!({ "typ": "JWT" }), &claims).await;
    token_with_assertion(&issuer, &assertion)
        .await
        .assert_status(200);

    // A DPoP proof or other typed JWT is not an assertion.
    let assertion = jws(&key, json!({ "typ": "dpop+jwt" }), &claims).await;
    assert_invalid_client(&token_with_assertion(&issuer, &assertion).await, "typ");

    // Attestation and assertion in one request: more than one method (RFC 6749 §2.3).
    let att = attestation(&issuer).await;
    let headers = attestation_headers(&issuer, &att, None).await;
    let assertion = client_assertion(&key, BACKEND_CLIENT, &issuer.url, issuer.now())
        .await
        .expect("assertion");
    let form = assertion_form(&assertion).await;
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dpop_key = SoftwareSigner::generate().expect("key");
    token_request_with(&issuer, &dpop_key, &headers, &form)
        .await
        .assert_error(400, "invalid_request");
}

/// ISS-CLI-05: a method that is not enabled → 401 invalid_client.
#[tokio::test]
async fn iss_cli_05_method_not_enabled() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, no_anonymous).await;
    let key = SoftwareSigner::generate().expect("key");
    let assertion = client_assertion(&key, BACKEND_CLIENT, &issuer.url, issuer.now())
        .await
        .expect("assertion");
    assert_invalid_client(
        &token_with_assertion(&issuer, &assertion).await,
        "private_key_jwt is not enabled",
    );
    // The legacy attestation form of pre-final drafts is not accepted (C-11).
    let form = [
        (
            "client_assertion_type",
            avow_issuer::client_auth::LEGACY_ATTESTATION_ASSERTION_TYPE,
        ),
        ("client_assertion", "a~b"),
    ];
    assert_invalid_client(
        &token_request_with(&issuer, &key, &[], &form).await,
        "jwt-client-attestation",
    );

    // Attestation switched off: the headers are refused.
    let issuer = TestIssuer::start_with(Backend::Sqlite, |c| {
        with_private_key_jwt(c);
        c.client_authentication.methods = vec![ClientAuthMethod::PrivateKeyJwt];
    })
    .await;
    let att = attestation(&issuer).await;
    let headers = attestation_headers(&issuer, &att, None).await;
    assert_invalid_client(
        &token_request(&issuer, &headers).await,
        "attest_jwt_client_auth is not enabled",
    );
}

/// ISS-TPA-07: with anonymous access on, a request without client
/// authentication is accepted (and its token has no client_id); credentials
/// that are presented are still checked.
#[tokio::test]
async fn iss_tpa_07_anonymous_access_when_switched_on() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    assert!(
        issuer
            .state
            .config
            .policy
            .pre_authorized_grant_anonymous_access
    );
    token_request(&issuer, &[]).await.assert_status(200);
    let att = attestation(&issuer).await;
    let stranger = ClientAttestation::new(
        CLIENT_ID,
        att.wia.clone(),
        SoftwareSigner::generate().expect("key"),
    );
    let headers = attestation_headers(&issuer, &stranger, None).await;
    assert_invalid_client(&token_request(&issuer, &headers).await, "PoP signature");
}
