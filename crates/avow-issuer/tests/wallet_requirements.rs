//! Wallet requirements against the Avow issuer over real loopback HTTP
//! (OID4VCI 1.0 §6 – §11): WAL-CRED-02, WAL-CRED-11, WAL-VAL-02, -03, -06
//! and WAL-NOTIF-03.
//!
//! The issuer's public URL (its Credential Issuer Identifier) is a small
//! recording proxy in front of it, so every wallet request passes through
//! it: a test can inspect what the wallet sent, answer one request itself
//! with an error the Avow issuer would not produce on demand, or rewrite a
//! request or a metadata document. Credentials are always issued and signed
//! by the real issuer; nothing is forged with the issuer's key.

#[path = "common/code_flow.rs"]
mod code_flow;
mod common;

use avow_crypto::{Signer, SoftwareSigner};
use avow_issuer::IssuerConfig;
use avow_wallet::attestation::DevWalletProvider;
use avow_wallet::authorize::ScriptedLogin;
use avow_wallet::delete::DeletionNotice;
use avow_wallet::{CredentialStore, Wallet, WalletError, WalletOptions};
use common::{Backend, HOLDER, PID, TestIssuer};
use reqwest::Method;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

// ---------------------------------------------------------------- the proxy

/// One request the wallet sent, as the proxy saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// Path and query.
    path: String,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
    /// How many earlier requests had the same path.
    nth: usize,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Form parameters of a token request.
    fn form(&self) -> Vec<(String, String)> {
        let query = String::from_utf8_lossy(&self.body);
        reqwest::Url::parse(&format!("http://form.invalid/?{query}"))
            .map(|u| {
                u.query_pairs()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn form_value(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// What the proxy does with a request.
enum Action {
    /// Forward it (possibly changed) to the issuer.
    Forward(Seen),
    /// Answer it without forwarding.
    Respond {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
}

type BoxFuture = Pin<Box<dyn Future<Output = Action> + Send>>;
/// Decides per request; runs before forwarding.
type Hook = Arc<dyn Fn(Seen) -> BoxFuture + Send + Sync>;
/// Rewrites the body of a forwarded response: `(path, status, body)`.
type ResponseHook = Arc<dyn Fn(&str, u16, &mut Vec<u8>) + Send + Sync>;

#[derive(Clone)]
struct ProxyState {
    upstream: String,
    http: reqwest::Client,
    hook: Hook,
    response_hook: Option<ResponseHook>,
    log: Arc<Mutex<Vec<Seen>>>,
}

struct Proxy {
    url: String,
    log: Arc<Mutex<Vec<Seen>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Proxy {
    /// What the wallet sent to `path` (path without query), in order.
    fn seen(&self, path: &str) -> Vec<Seen> {
        self.log
            .lock()
            .expect("log")
            .iter()
            .filter(|s| s.path.split('?').next() == Some(path))
            .cloned()
            .collect()
    }
}

thread_local! {
    /// The proxy URL for the issuer being configured on this thread (the
    /// configure hook of `TestIssuer::start_with` is a plain `fn`; tokio's
    /// test runtime runs the test on one thread).
    static PROXY_URL: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The issuer's public URL is the proxy; notifications on.
fn behind_proxy(c: &mut IssuerConfig) {
    if let Some(url) = PROXY_URL.with(|u| u.borrow().clone()) {
        c.server.public_url = url;
    }
    c.notifications.enabled = true;
}

/// As [`behind_proxy`], the PID signed with a `kid` only (SD-JWT VC §4).
fn behind_proxy_kid(c: &mut IssuerConfig) {
    behind_proxy(c);
    if let Some(pid) = c.credential_configurations.get_mut(PID) {
        pid.signature_profile = avow_issuer::config::SignatureProfile::Kid;
    }
}

/// As [`behind_proxy`], plus `other-sd-jwt`: the PID under another `vct`.
fn behind_proxy_other_vct(c: &mut IssuerConfig) {
    behind_proxy(c);
    if let Some(pid) = c.credential_configurations.get(PID).cloned() {
        let mut other = pid;
        other.scope = "other".into();
        other.vct = Some("urn:avow:test:other:1".into());
        c.credential_configurations.insert(OTHER.to_owned(), other);
    }
}

const OTHER: &str = "other-sd-jwt";

fn forward() -> Hook {
    Arc::new(|seen| Box::pin(async move { Action::Forward(seen) }))
}

/// Starts an issuer (configured by `configure`, which must call
/// [`behind_proxy`]) behind a proxy running `hook`.
async fn start(
    configure: fn(&mut IssuerConfig),
    hook: Hook,
    response_hook: Option<ResponseHook>,
) -> (TestIssuer, Proxy) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind proxy");
    let url = format!("http://{}", listener.local_addr().expect("proxy addr"));
    PROXY_URL.with(|u| *u.borrow_mut() = Some(url.clone()));
    let issuer = TestIssuer::start_with(Backend::Sqlite, configure).await;
    PROXY_URL.with(|u| *u.borrow_mut() = None);
    assert_eq!(issuer.url, url, "the issuer identifier is the proxy");
    let log = Arc::new(Mutex::new(Vec::new()));
    let state = ProxyState {
        upstream: format!("http://{}", issuer.state.config.server.listen),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("proxy client"),
        hook,
        response_hook,
        log: log.clone(),
    };
    let app = axum::Router::new()
        .fallback(proxy_request)
        .with_state(state);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (issuer, Proxy { url, log, server })
}

async fn proxy_request(
    axum::extract::State(state): axum::extract::State<ProxyState>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let seen = {
        let mut log = state.log.lock().expect("log");
        let bare = path.split('?').next().unwrap_or_default().to_owned();
        let nth = log
            .iter()
            .filter(|s| s.path.split('?').next() == Some(bare.as_str()))
            .count();
        let seen = Seen {
            method: parts.method.to_string(),
            path: path.clone(),
            headers: parts.headers.clone(),
            body,
            nth,
        };
        log.push(seen.clone());
        seen
    };
    let seen = match (state.hook)(seen).await {
        Action::Forward(seen) => seen,
        Action::Respond {
            status,
            headers,
            body,
        } => {
            let mut response = (
                axum::http::StatusCode::from_u16(status).expect("status"),
                body,
            )
                .into_response();
            response.headers_mut().remove("content-type");
            for (name, value) in headers {
                response.headers_mut().insert(
                    name,
                    axum::http::HeaderValue::from_str(&value).expect("header"),
                );
            }
            return response;
        }
    };
    let method = Method::from_bytes(seen.method.as_bytes()).expect("method");
    let mut upstream = state
        .http
        .request(method, format!("{}{}", state.upstream, seen.path))
        .body(seen.body.clone());
    for (name, value) in &seen.headers {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name, value);
        }
    }
    let answer = upstream.send().await.expect("forward to the issuer");
    let status = answer.status().as_u16();
    let headers = answer.headers().clone();
    let mut body = answer.bytes().await.expect("issuer body").to_vec();
    if let Some(hook) = &state.response_hook {
        hook(
            path.split('?').next().unwrap_or_default(),
            status,
            &mut body,
        );
    }
    let mut response = (
        axum::http::StatusCode::from_u16(status).expect("status"),
        body,
    )
        .into_response();
    response.headers_mut().remove("content-type");
    for (name, value) in &headers {
        if name != "content-length" && name != "transfer-encoding" && name != "connection" {
            response.headers_mut().append(name, value.clone());
        }
    }
    response
}

/// An OAuth error answer `{error, error_description}`.
fn error_answer(status: u16, error: &str, challenge: bool) -> Action {
    let mut headers = vec![
        ("content-type", "application/json".to_owned()),
        ("cache-control", "no-store".to_owned()),
    ];
    if challenge {
        headers.push(("www-authenticate", format!("DPoP error=\"{error}\"")));
    }
    Action::Respond {
        status,
        headers,
        body: serde_json::to_vec(&json!({
            "error": error,
            "error_description": "injected by the test proxy",
        }))
        .expect("json"),
    }
}

/// Answers the first credential request with `answer`, forwards the rest.
fn first_credential_request(answer: fn() -> Action) -> Hook {
    Arc::new(move |seen| {
        Box::pin(async move {
            if seen.path == "/credential" && seen.nth == 0 {
                answer()
            } else {
                Action::Forward(seen)
            }
        })
    })
}

// ---------------------------------------------------------------- the wallet

struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        Self(std::env::temp_dir().join(format!(
            "avow-wallet-requirements-{}",
            uuid::Uuid::new_v4().simple()
        )))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A wallet with the dev wallet provider (attested client, as the code
/// flow needs), on the issuer's test clock.
fn wallet(issuer: &TestIssuer, dir: &std::path::Path) -> Wallet {
    let (cert, key) = issuer
        .state
        .client_auth
        .dev_wallet_provider
        .clone()
        .expect("dev wallet provider");
    let options = WalletOptions {
        allow_http_loopback: true,
        trust_anchors: issuer.trust_anchors(),
        clock_skew: 60,
        client_id: code_flow::CLIENT_ID.into(),
        wia_source: Some(Arc::new(
            DevWalletProvider::load(&cert, &key).expect("provider"),
        )),
        prefer_anonymous: false,
        encryption: None,
    };
    let store = CredentialStore::open(dir).expect("wallet store");
    Wallet::with_clock(options, store, issuer.clock.clone()).expect("wallet")
}

async fn offer_link(issuer: &TestIssuer, configuration_ids: &[&str]) -> String {
    let response = issuer
        .create_offer_request(&json!({
            "holder_id": HOLDER,
            "credential_configuration_ids": configuration_ids,
        }))
        .await;
    response.assert_status(201);
    let offer: avow_issuer::offer::CreatedOffer =
        serde_json::from_slice(&response.body).expect("created offer");
    offer.links["openid-credential-offer"].by_reference.clone()
}

/// The events the issuer recorded, over every notification_id (ISS-NOTIF-06).
async fn notification_events(issuer: &TestIssuer) -> Vec<String> {
    let response = issuer
        .send(issuer.admin(Method::GET, "/admin/notifications"))
        .await;
    response.assert_status(200);
    response
        .json()
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .flat_map(|n| n["events"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["event"].as_str().map(str::to_owned))
        .collect()
}

/// The payload of the first `jwt` proof of a credential request body.
fn proof_payload(body: &Value) -> Value {
    let proof = body["proofs"]["jwt"][0].as_str().expect("a jwt proof");
    common::payload_of(proof)
}

/// Runs the authorization-code flow of `wallet` for the PID (refresh token kept).
async fn code_flow_receive(
    issuer: &TestIssuer,
    wallet: &Wallet,
) -> Result<Vec<avow_wallet::ReceivedCredential>, WalletError> {
    let response = issuer
        .create_offer_request(&json!({
            "holder_id": HOLDER,
            "credential_configuration_ids": [PID],
            "grants": ["authorization_code"],
        }))
        .await;
    response.assert_status(201);
    let offer: avow_issuer::offer::CreatedOffer =
        serde_json::from_slice(&response.body).expect("created offer");
    let link = &offer.links["openid-credential-offer"].by_reference;
    let (resolved, info) = wallet.preview(link).await.expect("preview");
    let issuer_state = resolved
        .grants
        .authorization_code
        .as_ref()
        .and_then(|g| g.issuer_state.clone());
    let agent = ScriptedLogin::new(code_flow::REDIRECT_URI, HOLDER, code_flow::PASSWORD, true)
        .expect("agent");
    wallet
        .authorize_and_receive(
            Arc::new(info),
            &resolved.credential_configuration_ids,
            issuer_state.as_deref(),
            &agent,
        )
        .await
}

// ---------------------------------------------------------------- WAL-CRED-02

/// WAL-CRED-02, WAL-TOK-02, WAL-PRE-03: a pre-authorized token request
/// with `authorization_details` gets `credential_identifiers` back; the
/// wallet then names the credential by `credential_identifier` only (the
/// Avow issuer refuses `credential_configuration_id` in that case,
/// ISS-CRED-04).
#[tokio::test]
async fn wal_cred_02_pre_authorized_flow_uses_credential_identifier() {
    let (issuer, proxy) = start(behind_proxy, forward(), None).await;
    let dir = TempDir::new();
    let wallet = wallet(&issuer, &dir.0).with_pre_authorized_authorization_details(true);
    let link = offer_link(&issuer, &[PID]).await;
    let received = wallet.receive(&link, None).await.expect("receive");
    assert_eq!(received.len(), 1);
    issuer.verify_credential(&received[0].stored.credential);

    // (A first attempt may be answered use_dpop_nonce: the last one counts.)
    let token_requests = proxy.seen("/token");
    let last = token_requests.last().expect("a token request");
    let details: Value = serde_json::from_str(
        &last
            .form_value("authorization_details")
            .expect("WAL-PRE-03: authorization_details sent"),
    )
    .expect("details JSON");
    assert_eq!(details[0]["credential_configuration_id"], PID);
    assert_eq!(details[0]["type"], "openid_credential");

    let requests = proxy.seen("/credential");
    assert_eq!(requests.len(), 1);
    let body = requests[0].json();
    assert!(
        body["credential_identifier"].is_string(),
        "credential_identifier expected: {body}"
    );
    assert!(
        body.get("credential_configuration_id").is_none(),
        "never both: {body}"
    );
}

/// WAL-CRED-02: without identifiers in the token response, the
/// configuration id (and no identifier).
#[tokio::test]
async fn wal_cred_02_pre_authorized_flow_without_identifiers_uses_configuration_id() {
    let (issuer, proxy) = start(behind_proxy, forward(), None).await;
    let dir = TempDir::new();
    let wallet = wallet(&issuer, &dir.0);
    let link = offer_link(&issuer, &[PID]).await;
    wallet.receive(&link, None).await.expect("receive");
    assert!(
        proxy
            .seen("/token")
            .iter()
            .all(|t| t.form_value("authorization_details").is_none())
    );
    let body = proxy.seen("/credential")[0].json();
    assert_eq!(body["credential_configuration_id"], PID);
    assert!(body.get("credential_identifier").is_none(), "{body}");
}

// ---------------------------------------------------------------- WAL-CRED-11

/// WAL-CRED-11: `invalid_nonce` → a new `c_nonce` from the Nonce Endpoint,
/// proofs rebuilt with it, one retry.
#[tokio::test]
async fn wal_cred_11_invalid_nonce_fetches_a_new_nonce_and_retries_once() {
    let (issuer, proxy) = start(
        behind_proxy,
        first_credential_request(|| error_answer(400, "invalid_nonce", false)),
        None,
    )
    .await;
    let dir = TempDir::new();
    let wallet = wallet(&issuer, &dir.0);
    let link = offer_link(&issuer, &[PID]).await;
    let received = wallet
        .receive(&link, None)
        .await
        .expect("receive after retry");
    assert_eq!(received.len(), 1);
    let requests = proxy.seen("/credential");
    assert_eq!(requests.len(), 2, "one retry");
    assert_eq!(proxy.seen("/nonce").len(), 2, "a fresh c_nonce per attempt");
    let first = proof_payload(&requests[0].json());
    let second = proof_payload(&requests[1].json());
    assert_ne!(first["nonce"], second["nonce"], "proofs rebuilt");
}

/// WAL-CRED-11: a second `invalid_nonce` ends the flow (once only).
#[tokio::test]
async fn wal_cred_11_invalid_nonce_is_retried_only_once() {
    let hook: Hook = Arc::new(|seen| {
        Box::pin(async move {
            if seen.path == "/credential" {
                error_answer(400, "invalid_nonce", false)
            } else {
                Action::Forward(seen)
            }
        })
    });
    let (issuer, proxy) = start(behind_proxy, hook, None).await;
    let dir = TempDir::new();
    let wallet = wallet(&issuer, &dir.0);
    let link = offer_link(&issuer, &[PID]).await;
    let refused = wallet.receive(&link, None).await;
    assert!(
        matches!(&refused, Err(e) if e.protocol_error() == Some("invalid_nonce")),
        "{refused:?}"
    );
    assert_eq!(proxy.seen("/credential").len(), 2);
    assert!(wallet.store().list().expect("list").is_empty());
}

/// WAL-CRED-11: `invalid_encryption_parameters` on a plaintext request →
/// one retry with response encryption (and, as the issuer offers request
/// encryption, an encrypted request: WAL-CRED-08, -09).
#[tokio::test]
async fn wal_cred_11_invalid_encryption_parameters_retries_encrypted() {
    let (issuer, proxy) = start(
        behind_proxy,
        first_credential_request(|| error_answer(400, "invalid_encryption_parameters", false)),
        None,
    )
    .await;
    let dir = TempDir::new();
    let wallet = wallet(&issuer, &dir.0);
    let link = offer_link(&issuer, &[PID]).await;
    let received = wallet
        .receive(&link, None)
        .await
        .expect("receive after retry");
    assert_eq!(received.len(), 1);
    issuer.verify_credential(&received[0].stored.credential);
    let requests = proxy.seen("/credential");
    assert_eq!(requests.len(), 2, "one retry");
    let content_type = |s: &Seen| {
        s.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        content_type(&requests[0]).starts_with("application/json"),
        "first request in plaintext"
    );
    assert_eq!(
        content_type(&requests[1]),
        "application/jwt",
        "the retry is encrypted"
    );
    assert_eq!(
        String::from_utf8_lossy(&requests[1].body)
            .split('.')
            .count(),
        5,
        "a compact JWE"
    );
}

/// WAL-CRED-11: DPoP 401 `invalid_token` with a refresh token → one
/// refresh (same DPoP key; WAL-TOK-04) and a retry; the rotated refresh
/// token is what the wallet keeps, so a later refresh works. Then
/// WAL-NOTIF-03 with an expired access token: deleting the credential
/// sends `credential_deleted` under a token refreshed from the kept grant.
#[tokio::test]
async fn wal_cred_11_invalid_token_refreshes_once_and_retries() {
    let (issuer, proxy) = start(
        behind_proxy,
        first_credential_request(|| error_answer(401, "invalid_token", true)),
        None,
    )
    .await;
    let dir = TempDir::new();
    let wallet = wallet(&issuer, &dir.0);
    let received = code_flow_receive(&issuer, &wallet)
        .await
        .expect("receive after refresh");
    assert_eq!(received.len(), 1);
    issuer.verify_credential(&received[0].stored.credential);
    // (Attempts answered use_dpop_nonce repeat a request: count each once.)
    let mut token_requests = proxy.seen("/token");
    token_requests.dedup_by(|a, b| a.body == b.body);
    let grant_types: Vec<String> = token_requests
        .iter()
        .filter_map(|s| s.form_value("grant_type"))
        .collect();
    assert_eq!(grant_types, ["authorization_code", "refresh_token"]);
    let requests = proxy.seen("/credential");
    assert_eq!(requests.len(), 2, "one retry");
    let bearer = |s: &Seen| {
        s.headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_ne!(
        bearer(&requests[0]),
        bearer(&requests[1]),
        "a new access token"
    );
    // The DPoP key stays the one the tokens are bound to.
    let dpop_jwk = |s: &Seen| {
        let proof = s
            .headers
            .get("dpop")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        common::header_of(proof)["jwk"].clone()
    };
    assert_eq!(dpop_jwk(&token_requests[0]), dpop_jwk(&token_requests[1]));
    assert_eq!(dpop_jwk(&token_requests[1]), dpop_jwk(&requests[1]));

    // The kept refresh token is the rotated one: refreshing works.
    let stored = &received[0].stored;
    let kept = stored.grant.clone().expect("grant kept");
    let refresh_sent = token_requests[1]
        .form_value("refresh_token")
        .expect("refresh_token sent");
    assert_ne!(
        kept.refresh_token, refresh_sent,
        "rotated, not the spent one"
    );
    let refreshed = wallet.refresh(&stored.id).await.expect("later refresh");
    issuer.verify_credential(&refreshed.stored.credential);

    // WAL-NOTIF-03 after the access token expired: via the refresh token.
    issuer.advance(issuer.state.config.policy.access_token_lifetime + 1);
    let notice = wallet.delete_credential(&stored.id).await.expect("delete");
    assert_eq!(notice, DeletionNotice::Sent);
    assert!(wallet.store().list().expect("list").is_empty());
    let events = notification_events(&issuer).await;
    assert!(
        events.iter().any(|e| e == "credential_deleted"),
        "{events:?}"
    );
}

/// WAL-CRED-11: DPoP 401 `invalid_token` without a refresh token (the
/// pre-authorized grant gets none) ends the flow; no token request follows.
#[tokio::test]
async fn wal_cred_11_invalid_token_without_refresh_token_stops() {
    let (issuer, proxy) = start(
        behind_proxy,
        first_credential_request(|| error_answer(401, "invalid_token", true)),
        None,
    )
    .await;
    let dir = TempDir::new();
    let wallet = wallet(&issuer, &dir.0);
    let link = offer_link(&issuer, &[PID]).await;
    let refused = wallet.receive(&link, None).await;
    assert!(
        matches!(&refused, Err(WalletError::Protocol { status: 401, error, .. }) if error == "invalid_token"),
        "{refused:?}"
    );
    assert!(
        proxy
            .seen("/token")
            .iter()
            .all(|t| t.form_value("grant_type").as_deref() != Some("refresh_token")),
        "no refresh without a refresh token"
    );
    assert_eq!(proxy.seen("/credential").len(), 1);
}

// ---------------------------------------------------------------- WAL-VAL-02

/// Serves no JWT VC Issuer Metadata; with `jwks_uri`, publishes the
/// issuer's keys at `/test-jwks` (copied from the issuer's own JWT VC
/// Issuer Metadata) and names it as `jwks_uri` in the AS metadata.
fn jwks_uri_hook(upstream_jwt_vc_issuer: Arc<Mutex<Option<Value>>>) -> Hook {
    Arc::new(move |seen| {
        let keys = upstream_jwt_vc_issuer.clone();
        Box::pin(async move {
            match seen.path.as_str() {
                "/.well-known/jwt-vc-issuer" => Action::Respond {
                    status: 404,
                    headers: vec![],
                    body: vec![],
                },
                "/test-jwks" => Action::Respond {
                    status: 200,
                    headers: vec![("content-type", "application/json".into())],
                    body: serde_json::to_vec(
                        &keys.lock().expect("keys").clone().unwrap_or(Value::Null)["jwks"],
                    )
                    .expect("json"),
                },
                _ => Action::Forward(seen),
            }
        })
    })
}

/// WAL-VAL-02: a `kid`-only SD-JWT VC whose issuer serves no JWT VC Issuer
/// Metadata is verified with the key from the authorization server
/// metadata's `jwks_uri`.
#[tokio::test]
async fn wal_val_02_kid_falls_back_to_the_as_jwks_uri() {
    let published = Arc::new(Mutex::new(None));
    let proxy_url = Arc::new(Mutex::new(String::new()));
    let url_for_hook = proxy_url.clone();
    let response_hook: ResponseHook = Arc::new(move |path, status, body| {
        if path == "/.well-known/oauth-authorization-server" && status == 200 {
            let mut metadata: Value = serde_json::from_slice(body).expect("AS metadata");
            metadata["jwks_uri"] =
                json!(format!("{}/test-jwks", url_for_hook.lock().expect("url")));
            *body = serde_json::to_vec(&metadata).expect("json");
        }
    });
    let (issuer, proxy) = start(
        behind_proxy_kid,
        jwks_uri_hook(published.clone()),
        Some(response_hook),
    )
    .await;
    *proxy_url.lock().expect("url") = proxy.url.clone();
    let own = issuer
        .get(&format!(
            "http://{}/.well-known/jwt-vc-issuer",
            issuer.state.config.server.listen
        ))
        .await;
    own.assert_status(200);
    *published.lock().expect("keys") = Some(own.json());

    let dir = TempDir::new();
    let wallet = wallet(&issuer, &dir.0);
    let link = offer_link(&issuer, &[PID]).await;
    let received = wallet.receive(&link, None).await.expect("receive");
    let credential = &received[0].stored.credential;
    let header = common::header_of(credential.split('~').next().unwrap_or_default());
    assert!(
        header["kid"].is_string() && header.get("x5c").is_none(),
        "{header}"
    );
    assert_eq!(proxy.seen("/.well-known/jwt-vc-issuer").len(), 1);
    assert_eq!(proxy.seen("/test-jwks").len(), 1, "the fallback was used");
}

/// WAL-VAL-02: without JWT VC Issuer Metadata and without `jwks_uri`, a
/// `kid`-only credential is refused, not stored, and reported.
#[tokio::test]
async fn wal_val_02_kid_without_any_published_key_is_refused() {
    let published = Arc::new(Mutex::new(None));
    let (issuer, proxy) = start(behind_proxy_kid, jwks_uri_hook(published), None).await;
    let dir = TempDir::new();
    let wallet = wallet(&issuer, &dir.0);
    let link = offer_link(&issuer, &[PID]).await;
    let refused = wallet.receive(&link, None).await;
    assert!(
        matches!(refused, Err(WalletError::Validation(_))),
        "{refused:?}"
    );
    assert!(wallet.store().list().expect("list").is_empty());
    assert!(proxy.seen("/test-jwks").is_empty());
    assert_eq!(notification_events(&issuer).await, ["credential_failure"]);
}

// ---------------------------------------------------------------- WAL-VAL-03

/// WAL-VAL-03, WAL-VAL-08, WAL-NOTIF-02: the wallet asked for the PID but
/// the request reached the issuer as `other-sd-jwt` (another `vct`, real
/// signature, bound to the wallet's key): refused, nothing stored,
/// `credential_failure` sent.
#[tokio::test]
async fn wal_val_03_other_vct_is_refused() {
    let hook: Hook = Arc::new(|mut seen| {
        Box::pin(async move {
            if seen.path == "/credential" {
                let mut body = seen.json();
                if body["credential_configuration_id"] == PID {
                    body["credential_configuration_id"] = json!(OTHER);
                    seen.body = serde_json::to_vec(&body).expect("json");
                }
            }
            Action::Forward(seen)
        })
    });
    let (issuer, proxy) = start(behind_proxy_other_vct, hook, None).await;
    let dir = TempDir::new();
    let wallet = wallet(&issuer, &dir.0);
    let link = offer_link(&issuer, &[PID, OTHER]).await;
    let refused = wallet.receive(&link, None).await;
    assert!(
        matches!(&refused, Err(WalletError::Validation(m)) if m.contains("vct")),
        "{refused:?}"
    );
    assert_eq!(proxy.seen("/credential").len(), 1, "the flow stopped");
    assert!(wallet.store().list().expect("list").is_empty());
    assert_eq!(notification_events(&issuer).await, ["credential_failure"]);
}

/// WAL-VAL-03, WAL-VAL-08, WAL-NOTIF-02: the key proof was replaced on the
/// way by one of another key (same `c_nonce`, `aud`, `iss`), so the issuer
/// binds the credential (`cnf.jwk`) to a key that is not the wallet's:
/// refused, nothing stored, `credential_failure` sent.
#[tokio::test]
async fn wal_val_03_foreign_cnf_is_refused() {
    let hook: Hook = Arc::new(|mut seen| {
        Box::pin(async move {
            if seen.path == "/credential" {
                let mut body = seen.json();
                let claims = proof_payload(&body);
                let other = SoftwareSigner::generate().expect("key");
                let header = json!({
                    "typ": avow_core::proof::PROOF_TYP,
                    "jwk": other.public_jwk().to_json(),
                });
                body["proofs"]["jwt"] = json!([common::jws(&other, header, &claims).await]);
                seen.body = serde_json::to_vec(&body).expect("json");
            }
            Action::Forward(seen)
        })
    });
    let (issuer, proxy) = start(behind_proxy, hook, None).await;
    let dir = TempDir::new();
    let wallet = wallet(&issuer, &dir.0);
    let link = offer_link(&issuer, &[PID]).await;
    let refused = wallet.receive(&link, None).await;
    assert!(
        matches!(&refused, Err(WalletError::Validation(m)) if m.contains("bound")),
        "{refused:?}"
    );
    assert_eq!(proxy.seen("/credential").len(), 1);
    assert!(wallet.store().list().expect("list").is_empty());
    assert_eq!(notification_events(&issuer).await, ["credential_failure"]);
}

// ---------------------------------------------------------------- WAL-VAL-06

/// WAL-VAL-06, WAL-VAL-08: the issuer metadata declares `nickname`
/// mandatory (rewritten on the way; plain JSON metadata asked for), the
/// issued PID has none: refused, nothing stored, `credential_failure` sent.
/// (Every other test here receives PIDs whose mandatory claims are present.)
#[tokio::test]
async fn wal_val_06_missing_mandatory_claim_is_refused() {
    let hook: Hook = Arc::new(|mut seen| {
        Box::pin(async move {
            if seen.path == "/.well-known/openid-credential-issuer" {
                seen.headers.insert(
                    "accept",
                    reqwest::header::HeaderValue::from_static("application/json"),
                );
            }
            Action::Forward(seen)
        })
    });
    let response_hook: ResponseHook = Arc::new(|path, status, body| {
        if path == "/.well-known/openid-credential-issuer" && status == 200 {
            let mut metadata: Value = serde_json::from_slice(body).expect("issuer metadata");
            let claims = &mut metadata["credential_configurations_supported"][PID]["credential_metadata"]
                ["claims"];
            if let Some(list) = claims.as_array_mut() {
                list.push(json!({ "path": ["nickname"], "mandatory": true }));
            }
            *body = serde_json::to_vec(&metadata).expect("json");
        }
    });
    let (issuer, _proxy) = start(behind_proxy, hook, Some(response_hook)).await;
    let dir = TempDir::new();
    let wallet = wallet(&issuer, &dir.0);
    let link = offer_link(&issuer, &[PID]).await;
    let refused = wallet.receive(&link, None).await;
    assert!(
        matches!(&refused, Err(WalletError::Validation(m)) if m.contains("nickname") && !m.contains("Erika")),
        "{refused:?}"
    );
    assert!(wallet.store().list().expect("list").is_empty());
    assert_eq!(notification_events(&issuer).await, ["credential_failure"]);
}

// ---------------------------------------------------------------- WAL-NOTIF-03

/// WAL-NOTIF-03: the holder deletes (declines) a received credential: it is
/// removed and `credential_deleted` reaches the issuer with the issuance's
/// access token, after the earlier `credential_accepted`.
#[tokio::test]
async fn wal_notif_03_deleting_sends_credential_deleted() {
    let (issuer, proxy) = start(behind_proxy, forward(), None).await;
    let dir = TempDir::new();
    let wallet = wallet(&issuer, &dir.0);
    let link = offer_link(&issuer, &[PID]).await;
    let received = wallet.receive(&link, None).await.expect("receive");
    let stored = &received[0].stored;
    assert!(stored.notification_id.is_some());
    assert_eq!(notification_events(&issuer).await, ["credential_accepted"]);
    let notice = wallet.delete_credential(&stored.id).await.expect("delete");
    assert_eq!(notice, DeletionNotice::Sent);
    assert!(wallet.store().get(&stored.id).expect("get").is_none());
    assert_eq!(
        notification_events(&issuer).await,
        ["credential_accepted", "credential_deleted"]
    );
    let sent = proxy.seen("/notification");
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].json()["event"], "credential_deleted");
    assert_eq!(
        sent[1].json()["notification_id"],
        json!(stored.notification_id)
    );
    // An unknown id is an error; nothing more is sent.
    assert!(wallet.delete_credential(&stored.id).await.is_err());
    assert_eq!(proxy.seen("/notification").len(), 2);
}

/// WAL-NOTIF-03: without a notification endpoint nothing is sent; the
/// credential is deleted all the same.
#[tokio::test]
async fn wal_notif_03_without_notification_endpoint_nothing_is_sent() {
    fn no_notifications(c: &mut IssuerConfig) {
        behind_proxy(c);
        c.notifications.enabled = false;
    }
    let (issuer, proxy) = start(no_notifications, forward(), None).await;
    let dir = TempDir::new();
    let wallet = wallet(&issuer, &dir.0);
    let link = offer_link(&issuer, &[PID]).await;
    let received = wallet.receive(&link, None).await.expect("receive");
    let notice = wallet
        .delete_credential(&received[0].stored.id)
        .await
        .expect("delete");
    assert_eq!(notice, DeletionNotice::NotApplicable);
    assert!(wallet.store().list().expect("list").is_empty());
    assert!(proxy.seen("/notification").is_empty());
}
