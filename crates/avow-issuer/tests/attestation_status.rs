//! The status of wallet-provider attestations (ISS-CATT-10, ISS-KATT-09;
//! VCI App. D.1, App. E; TSL §8.3): a WIA or key attestation carrying
//! `status: {status_list: {idx, uri}}` is checked against the wallet
//! provider's Status List Token, served here by a small axum server and
//! signed with a certificate of the issuer-trusted DEVELOPMENT
//! wallet-provider CA. VALID passes; INVALID and SUSPENDED are refused
//! with `401 invalid_client` (WIA) or `400 invalid_proof` (key
//! attestation); an unreachable or untrusted list is refused too (fail
//! closed); lists are cached per `ttl`; `check_status = false` turns it off.

mod common;

use avow_core::client_attestation::CLIENT_ATTESTATION_TYP;
use avow_core::key_attestation::{ISO_18045_HIGH, ISO_18045_MODERATE, KEY_ATTESTATION_TYP};
use avow_crypto::x509::{CertificateAuthority, Validity};
use avow_crypto::{Signer, SoftwareSigner};
use avow_formats::status_list::{STATUS_LIST_MEDIA_TYPE, StatusList, StatusListToken, StatusType};
use avow_issuer::IssuerConfig;
use avow_issuer::key_proof::ProofsConfig;
use avow_wallet::attestation::ClientAttestation;
use common::{Backend, PID, PRE_AUTH_GRANT, Resp, TestIssuer, code_of, jws};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const CLIENT_ID: &str = "https://wallet.example/instance-status";
/// `ttl` of the provider's Status List Tokens, seconds.
const TTL: u64 = 60;
const VALID_IDX: u64 = 0;
const INVALID_IDX: u64 = 1;
const SUSPENDED_IDX: u64 = 2;
/// A loopback port nothing listens on.
const CLOSED: &str = "http://127.0.0.1:9/status/1";

// ---------------------------------------------------------------- configurations

fn no_anonymous(c: &mut IssuerConfig) {
    c.policy.pre_authorized_grant_anonymous_access = false;
}

fn no_anonymous_unchecked(c: &mut IssuerConfig) {
    no_anonymous(c);
    c.client_authentication.check_status = false;
}

/// The PID accepts `jwt` proofs (with or without key attestation) and the
/// `attestation` proof type.
fn with_attestation_proofs(c: &mut IssuerConfig) {
    let pid = c
        .credential_configurations
        .get_mut(PID)
        .expect("the PID configuration");
    pid.proofs = Some(ProofsConfig {
        types: Some(vec!["jwt".into(), "attestation".into()]),
        key_attestations_required: None,
    });
    c.batch.batch_size = 1;
}

fn with_attestation_proofs_unchecked(c: &mut IssuerConfig) {
    with_attestation_proofs(c);
    c.client_authentication.check_status = false;
}

// ---------------------------------------------------------------- the wallet provider

/// A wallet provider under test control: the issuer's DEVELOPMENT
/// wallet-provider CA, a leaf for attestations, a leaf for its status list,
/// and the list served over HTTP.
struct WalletProvider {
    attestation_signer: SoftwareSigner,
    attestation_leaf: Vec<u8>,
    list: Arc<Mutex<StatusList>>,
    fetches: Arc<AtomicUsize>,
    /// `http://127.0.0.1:<port>/status/1`.
    uri: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for WalletProvider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// What the status server signs with.
#[derive(Clone)]
struct ServerState {
    signer: Arc<SoftwareSigner>,
    x5c: Vec<Vec<u8>>,
    list: Arc<Mutex<StatusList>>,
    fetches: Arc<AtomicUsize>,
    clock: Arc<avow_core::clock::FixedClock>,
    uri: Arc<Mutex<String>>,
}

async fn serve_status_list(
    axum::extract::State(state): axum::extract::State<ServerState>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    state.fetches.fetch_add(1, Ordering::SeqCst);
    assert_eq!(
        headers.get("accept").and_then(|v| v.to_str().ok()),
        Some(STATUS_LIST_MEDIA_TYPE),
        "the issuer asks for the JWT form (TSL §8.1)"
    );
    let now = avow_core::Clock::now(state.clock.as_ref());
    let token = StatusListToken {
        sub: state.uri.lock().expect("uri").clone(),
        iat: now,
        exp: Some(now + 3600),
        ttl: Some(TTL),
        status_list: state.list.lock().expect("list").clone(),
        aggregation_uri: None,
    };
    let jwt = token
        .sign(state.signer.as_ref(), &state.x5c)
        .await
        .expect("sign the status list token");
    (
        [(axum::http::header::CONTENT_TYPE, STATUS_LIST_MEDIA_TYPE)],
        jwt,
    )
        .into_response()
}

fn load_dev_ca(issuer: &TestIssuer) -> CertificateAuthority {
    let (cert, key) = issuer
        .state
        .client_auth
        .dev_wallet_provider
        .clone()
        .expect("dev wallet-provider CA");
    let cert_der =
        avow_crypto::x509::certs_from_pem(&std::fs::read_to_string(cert).expect("read CA cert"))
            .expect("CA PEM")
            .remove(0);
    let key_der = avow_crypto::pem::decode_one(
        "PRIVATE KEY",
        &std::fs::read_to_string(key).expect("read CA key"),
    )
    .expect("CA key PEM");
    CertificateAuthority::from_der(cert_der, &key_der).expect("CA")
}

impl WalletProvider {
    /// Starts the status server; `status_ca`: the CA of the list signer
    /// (default: the trusted dev CA).
    async fn start(issuer: &TestIssuer, status_ca: Option<CertificateAuthority>) -> Self {
        let ca = load_dev_ca(issuer);
        let validity = Validity {
            not_before: issuer.now() - 3600,
            not_after: issuer.now() + 86_400,
        };
        let attestation_signer = SoftwareSigner::generate().expect("key");
        let attestation_leaf = ca
            .issue_leaf(
                "test wallet attestation signer",
                attestation_signer.public_jwk(),
                validity,
            )
            .expect("leaf");
        let status_signer = SoftwareSigner::generate().expect("key");
        let status_ca = status_ca.unwrap_or(ca);
        let status_leaf = status_ca
            .issue_leaf(
                "test wallet-provider status list signer",
                status_signer.public_jwk(),
                validity,
            )
            .expect("leaf");
        let mut list = StatusList::new(2, 1024).expect("list");
        list.set(INVALID_IDX, StatusType::INVALID).expect("set");
        list.set(SUSPENDED_IDX, StatusType::SUSPENDED).expect("set");
        let list = Arc::new(Mutex::new(list));
        let fetches = Arc::new(AtomicUsize::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let uri = format!("http://{}/status/1", listener.local_addr().expect("addr"));
        let state = ServerState {
            signer: Arc::new(status_signer),
            x5c: vec![status_leaf],
            list: list.clone(),
            fetches: fetches.clone(),
            clock: issuer.clock.clone(),
            uri: Arc::new(Mutex::new(uri.clone())),
        };
        let app = axum::Router::new()
            .route("/status/1", axum::routing::get(serve_status_list))
            .with_state(state);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            attestation_signer,
            attestation_leaf,
            list,
            fetches,
            uri,
            server,
        }
    }

    fn status(&self, idx: u64) -> Value {
        self.status_at(&self.uri, idx)
    }

    fn status_at(&self, uri: &str, idx: u64) -> Value {
        json!({ "status_list": { "idx": idx, "uri": uri } })
    }

    fn set(&self, idx: u64, value: u8) {
        self.list
            .lock()
            .expect("list")
            .set(idx, value)
            .expect("set");
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// A WIA for a fresh instance key, carrying `status` when given.
    async fn wia(&self, issuer: &TestIssuer, status: Option<Value>) -> ClientAttestation {
        let instance = SoftwareSigner::generate().expect("instance key");
        let mut claims = json!({
            "iss": "urn:test:wallet-provider",
            "sub": CLIENT_ID,
            "iat": issuer.now(),
            "exp": issuer.now() + 3600,
            "cnf": { "jwk": instance.public_jwk().to_json() },
        });
        if let Some(status) = status {
            claims["status"] = status;
        }
        let header = json!({
            "typ": CLIENT_ATTESTATION_TYP,
            "x5c": [avow_crypto::b64::encode_standard(&self.attestation_leaf)],
        });
        let wia = jws(&self.attestation_signer, header, &claims).await;
        ClientAttestation::new(CLIENT_ID, wia, instance)
    }

    /// A key attestation of `key` with `nonce`, carrying `status` when given.
    async fn wua(
        &self,
        issuer: &TestIssuer,
        key: &SoftwareSigner,
        nonce: &str,
        status: Option<Value>,
    ) -> String {
        let mut claims = json!({
            "iss": "urn:test:wallet-provider",
            "iat": issuer.now(),
            "exp": issuer.now() + 3600,
            "attested_keys": [key.public_jwk().to_json()],
            "key_storage": [ISO_18045_MODERATE],
            "user_authentication": [ISO_18045_HIGH],
            "nonce": nonce,
        });
        if let Some(status) = status {
            claims["status"] = status;
        }
        let header = json!({
            "typ": KEY_ATTESTATION_TYP,
            "x5c": [avow_crypto::b64::encode_standard(&self.attestation_leaf)],
        });
        jws(&self.attestation_signer, header, &claims).await
    }
}

// ---------------------------------------------------------------- WIA (ISS-CATT-10)

/// A pre-authorized token request authenticated with `att`.
async fn token_request(issuer: &TestIssuer, att: &ClientAttestation) -> Resp {
    let offer = issuer.create_offer(false).await;
    let key = SoftwareSigner::generate().expect("key");
    let proof = issuer.token_dpop(&key).await;
    let pop = att.pop(&issuer.url, None, issuer.now()).await.expect("PoP");
    let request = issuer
        .http
        .post(issuer.token_url())
        .form(&[
            ("grant_type", PRE_AUTH_GRANT),
            ("pre-authorized_code", code_of(&offer)),
        ])
        .header("DPoP", proof)
        .header("OAuth-Client-Attestation", att.wia.as_str())
        .header("OAuth-Client-Attestation-PoP", pop);
    issuer.send(request).await
}

#[track_caller]
fn assert_refused(response: &Resp, status: u16, error: &str, check: &str) {
    response.assert_error(status, error);
    let description = response.json()["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        description.contains(check),
        "error_description {description:?} should name {check:?}"
    );
}

#[tokio::test]
async fn iss_catt_10_wia_status_is_checked() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, no_anonymous).await;
    let provider = WalletProvider::start(&issuer, None).await;

    // Without status: nothing to check, nothing fetched.
    let plain = provider.wia(&issuer, None).await;
    token_request(&issuer, &plain).await.assert_status(200);
    assert_eq!(provider.fetches(), 0);

    // VALID passes.
    let valid = provider
        .wia(&issuer, Some(provider.status(VALID_IDX)))
        .await;
    token_request(&issuer, &valid).await.assert_status(200);
    assert_eq!(provider.fetches(), 1);

    // INVALID and SUSPENDED → 401 invalid_client, from the cached list.
    let revoked = provider
        .wia(&issuer, Some(provider.status(INVALID_IDX)))
        .await;
    let response = token_request(&issuer, &revoked).await;
    assert_refused(&response, 401, "invalid_client", "INVALID");
    let suspended = provider
        .wia(&issuer, Some(provider.status(SUSPENDED_IDX)))
        .await;
    let response = token_request(&issuer, &suspended).await;
    assert_refused(&response, 401, "invalid_client", "SUSPENDED");
    assert_eq!(
        provider.fetches(),
        1,
        "cached per ttl, not fetched per request"
    );

    // An index beyond the list: no statement can be made (TSL §8.3 step 6).
    let beyond = provider
        .wia(&issuer, Some(provider.status(1_000_000)))
        .await;
    let response = token_request(&issuer, &beyond).await;
    assert_refused(&response, 401, "invalid_client", "outside the status list");

    // A malformed status_list reference.
    let malformed = provider
        .wia(
            &issuer,
            Some(json!({"status_list": {"idx": "0", "uri": provider.uri}})),
        )
        .await;
    assert_refused(
        &token_request(&issuer, &malformed).await,
        401,
        "invalid_client",
        "status",
    );

    // Unreachable list → refused (fail closed).
    let unreachable = provider
        .wia(&issuer, Some(provider.status_at(CLOSED, VALID_IDX)))
        .await;
    let response = token_request(&issuer, &unreachable).await;
    assert_refused(&response, 401, "invalid_client", "cannot be established");

    // The cache honours ttl: a revocation shows once ttl has passed.
    provider.set(VALID_IDX, StatusType::INVALID);
    let again = provider
        .wia(&issuer, Some(provider.status(VALID_IDX)))
        .await;
    token_request(&issuer, &again).await.assert_status(200);
    issuer.advance(i64::try_from(TTL).unwrap_or(60) + 1);
    let after = provider
        .wia(&issuer, Some(provider.status(VALID_IDX)))
        .await;
    let response = token_request(&issuer, &after).await;
    assert_refused(&response, 401, "invalid_client", "INVALID");
    assert_eq!(provider.fetches(), 2);
}

#[tokio::test]
async fn iss_catt_10_status_list_must_be_trusted_and_match() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, no_anonymous).await;
    // A list signed under a CA the issuer does not trust.
    let stranger_ca = CertificateAuthority::generate_root(
        "Untrusted status CA",
        Validity {
            not_before: issuer.now() - 3600,
            not_after: issuer.now() + 86_400,
        },
    )
    .expect("CA");
    let provider = WalletProvider::start(&issuer, Some(stranger_ca)).await;
    let att = provider
        .wia(&issuer, Some(provider.status(VALID_IDX)))
        .await;
    let response = token_request(&issuer, &att).await;
    assert_refused(&response, 401, "invalid_client", "trusted wallet provider");

    // A trusted list whose sub is not the uri the WIA names (TSL §8.3 step 4a).
    let provider = WalletProvider::start(&issuer, None).await;
    let other_uri = format!("{}?copy", provider.uri);
    let att = provider
        .wia(&issuer, Some(provider.status_at(&other_uri, VALID_IDX)))
        .await;
    let response = token_request(&issuer, &att).await;
    assert_refused(&response, 401, "invalid_client", "sub");
}

#[tokio::test]
async fn iss_catt_10_check_status_can_be_turned_off() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, no_anonymous_unchecked).await;
    let provider = WalletProvider::start(&issuer, None).await;
    let revoked = provider
        .wia(&issuer, Some(provider.status(INVALID_IDX)))
        .await;
    token_request(&issuer, &revoked).await.assert_status(200);
    let unreachable = provider
        .wia(&issuer, Some(provider.status_at(CLOSED, VALID_IDX)))
        .await;
    token_request(&issuer, &unreachable)
        .await
        .assert_status(200);
    assert_eq!(provider.fetches(), 0);
}

// ---------------------------------------------------------------- WUA (ISS-KATT-09)

fn attestation_body(wua: &str) -> Value {
    json!({ "credential_configuration_id": PID, "proofs": { "attestation": [wua] } })
}

/// A `jwt` proof by `key` carrying `wua` in its `key_attestation` header.
async fn attested_jwt_body(
    issuer: &TestIssuer,
    key: &SoftwareSigner,
    wua: &str,
    nonce: &str,
) -> Value {
    let header = json!({ "typ": avow_core::proof::PROOF_TYP, "key_attestation": wua });
    let proof = jws(key, header, &issuer.proof_claims(nonce)).await;
    TestIssuer::pid_request(&proof)
}

async fn credential(issuer: &TestIssuer, body: &Value) -> Resp {
    let token = issuer.fresh_token().await;
    issuer.credential_request(&token, body).await
}

#[tokio::test]
async fn iss_katt_09_key_attestation_status_is_checked() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, with_attestation_proofs).await;
    let provider = WalletProvider::start(&issuer, None).await;
    let key = SoftwareSigner::generate().expect("key");

    // VALID passes, on both proof paths.
    let nonce = issuer.c_nonce().await;
    let wua = provider
        .wua(&issuer, &key, &nonce, Some(provider.status(VALID_IDX)))
        .await;
    credential(&issuer, &attestation_body(&wua))
        .await
        .assert_status(200);
    let nonce = issuer.c_nonce().await;
    let wua = provider
        .wua(&issuer, &key, &nonce, Some(provider.status(VALID_IDX)))
        .await;
    let body = attested_jwt_body(&issuer, &key, &wua, &nonce).await;
    credential(&issuer, &body).await.assert_status(200);
    assert_eq!(provider.fetches(), 1, "cached per ttl");

    // INVALID and SUSPENDED → 400 invalid_proof, on both paths.
    for (idx, name) in [(INVALID_IDX, "INVALID"), (SUSPENDED_IDX, "SUSPENDED")] {
        let nonce = issuer.c_nonce().await;
        let wua = provider
            .wua(&issuer, &key, &nonce, Some(provider.status(idx)))
            .await;
        let response = credential(&issuer, &attestation_body(&wua)).await;
        assert_refused(&response, 400, "invalid_proof", name);
        let body = attested_jwt_body(&issuer, &key, &wua, &nonce).await;
        let response = credential(&issuer, &body).await;
        assert_refused(&response, 400, "invalid_proof", name);
    }

    // Unreachable list → refused (fail closed).
    let nonce = issuer.c_nonce().await;
    let wua = provider
        .wua(
            &issuer,
            &key,
            &nonce,
            Some(provider.status_at(CLOSED, VALID_IDX)),
        )
        .await;
    let response = credential(&issuer, &attestation_body(&wua)).await;
    assert_refused(&response, 400, "invalid_proof", "cannot be established");
    // The refusals left the c_nonce unused: a good attestation with it passes.
    let wua = provider
        .wua(&issuer, &key, &nonce, Some(provider.status(VALID_IDX)))
        .await;
    credential(&issuer, &attestation_body(&wua))
        .await
        .assert_status(200);
}

#[tokio::test]
async fn iss_katt_09_check_status_can_be_turned_off() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, with_attestation_proofs_unchecked).await;
    let provider = WalletProvider::start(&issuer, None).await;
    let key = SoftwareSigner::generate().expect("key");
    let nonce = issuer.c_nonce().await;
    let wua = provider
        .wua(&issuer, &key, &nonce, Some(provider.status(INVALID_IDX)))
        .await;
    credential(&issuer, &attestation_body(&wua))
        .await
        .assert_status(200);
    assert_eq!(provider.fetches(), 0);
}
