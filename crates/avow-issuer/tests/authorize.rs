//! The authorization endpoint with holder login and consent over real HTTP
//! (ISS-AUTHZ-01 … -11, ISS-SEC-06). Pushed requests are inserted straight
//! into the store (as the PAR endpoint would), so these tests exercise only
//! `/authorize`, `/authorize/login` and `/authorize/consent`.

mod common;

use avow_core::authorization::{AuthorizationDetail, PushedAuthorizationRequest};
use avow_crypto::hash::sha256_b64;
use avow_crypto::{Random, SystemRandom};
use avow_issuer::IssuerConfig;
use avow_issuer::authorization_grant::{AuthorizationGrant, PushedRequest};
use avow_issuer::authorize::REQUEST_URI_PREFIX;
use avow_store::{CodeRedemption, ParRecord};
use common::{Backend, HOLDER, NOW, PID, Resp, TestIssuer};
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

const CLIENT: &str = "https://wallet.example/client";
const REDIRECT_URI: &str = "https://wallet.example/cb";
const PASSWORD: &str = "erika-demo-password";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const DPOP_JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
const INSTANCE_JKT: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

// ---------------------------------------------------------------- log capture (ISS-SEC-06)

/// Everything every test in this binary logs.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs() -> &'static LogBuffer {
    static LOGS: OnceLock<LogBuffer> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = LogBuffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
}

fn logged() -> String {
    String::from_utf8_lossy(&logs().0.lock().expect("log buffer")).into_owned()
}

async fn start() -> TestIssuer {
    logs();
    TestIssuer::start(Backend::Sqlite).await
}

// ---------------------------------------------------------------- pushed requests

fn pushed(state: Option<&str>, offer_holder_id: Option<&str>) -> PushedRequest {
    PushedRequest {
        request: PushedAuthorizationRequest {
            client_id: CLIENT.into(),
            redirect_uri: REDIRECT_URI.into(),
            state: state.map(str::to_owned),
            code_challenge: CHALLENGE.into(),
            scopes: vec!["pid".into()],
            authorization_details: Vec::new(),
            issuer_state: None,
            dpop_jkt: Some(DPOP_JKT.into()),
        },
        configuration_ids: vec![PID.into()],
        client_id: CLIENT.into(),
        client_instance_jkt: Some(INSTANCE_JKT.into()),
        dpop_jkt: Some(DPOP_JKT.into()),
        offer_id: offer_holder_id.map(|_| "offer-1".to_owned()),
        offer_holder_id: offer_holder_id.map(str::to_owned),
    }
}

/// Stores `request` as the PAR endpoint would and returns its `request_uri`
/// (valid for `lifetime` seconds).
async fn push(issuer: &TestIssuer, request: &PushedRequest, lifetime: i64) -> String {
    let request_uri = format!("{REQUEST_URI_PREFIX}{}", SystemRandom.token(32));
    issuer
        .state
        .store
        .insert_par_request(&ParRecord {
            request_uri_hash: sha256_b64(request_uri.as_bytes()),
            client_id: request.client_id.clone(),
            request: serde_json::to_value(request).expect("request JSON"),
            created_at: issuer.now(),
            expires_at: issuer.now() + lifetime,
        })
        .await
        .expect("insert PAR request");
    request_uri
}

fn authorize_url(issuer: &TestIssuer, client_id: &str, request_uri: &str) -> String {
    format!(
        "{}/authorize?client_id={}&request_uri={}",
        issuer.url,
        avow_core::percent::encode(client_id),
        avow_core::percent::encode(request_uri)
    )
}

// ---------------------------------------------------------------- the browser side

/// The cookie and CSRF token of a login session, as a browser keeps them.
#[derive(Debug, Clone)]
struct Session {
    cookie: String,
    csrf: String,
}

impl Session {
    /// The raw session id (the cookie's value).
    fn id(&self) -> &str {
        self.cookie
            .strip_prefix("avow_authorize=")
            .expect("the session cookie")
    }
}

/// A form post: path, cookie, fields.
type FormCase<'a> = (&'a str, Option<&'a str>, Vec<(&'a str, &'a str)>);

fn body(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// The value of the hidden `csrf` input of a page.
fn csrf_of(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).expect("csrf input") + marker.len();
    let end = page[start..].find('"').expect("end of csrf value");
    page[start..start + end].to_owned()
}

/// `name=value` of the session cookie.
fn cookie_of(r: &Resp) -> String {
    let set_cookie = r.header("set-cookie").expect("Set-Cookie");
    set_cookie
        .split(';')
        .next()
        .expect("cookie pair")
        .to_owned()
}

/// `GET /authorize` for a fresh pushed request; the login page's session.
async fn begin(issuer: &TestIssuer, request: &PushedRequest) -> (Session, Resp) {
    let request_uri = push(issuer, request, 60).await;
    let r = issuer
        .get(&authorize_url(issuer, &request.client_id, &request_uri))
        .await;
    r.assert_status(200);
    let page = body(&r);
    let session = Session {
        cookie: cookie_of(&r),
        csrf: csrf_of(&page),
    };
    (session, r)
}

async fn post_form(
    issuer: &TestIssuer,
    path: &str,
    cookie: Option<&str>,
    form: &[(&str, &str)],
) -> Resp {
    let mut request = issuer.http.post(format!("{}{path}", issuer.url)).form(form);
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    issuer.send(request).await
}

async fn login(issuer: &TestIssuer, session: &Session, username: &str, password: &str) -> Resp {
    post_form(
        issuer,
        "/authorize/login",
        Some(&session.cookie),
        &[
            ("csrf", &session.csrf),
            ("username", username),
            ("password", password),
        ],
    )
    .await
}

async fn consent(issuer: &TestIssuer, session: &Session, decision: &str) -> Resp {
    post_form(
        issuer,
        "/authorize/consent",
        Some(&session.cookie),
        &[("csrf", &session.csrf), ("decision", decision)],
    )
    .await
}

/// An HTML error page: status, the error code on the page, and no redirect.
#[track_caller]
fn assert_error_page(r: &Resp, status: u16, error: &str) {
    r.assert_status(status);
    assert!(
        r.header("location").is_none(),
        "an error page never redirects"
    );
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "HTML error page: {:?}",
        r.header("content-type")
    );
    let page = body(r);
    assert!(
        page.contains(&format!("<code id=\"error-code\">{error}</code>")),
        "error code {error} on the page: {page}"
    );
    assert_page_headers(r);
}

/// ISS-AUTHZ-11, ISS-SEC-09: framing forbidden, nothing cached or referred.
#[track_caller]
fn assert_page_headers(r: &Resp) {
    let csp = r.header("content-security-policy").expect("CSP");
    for directive in [
        "default-src 'none'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: https:",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "CSP {csp} lacks {directive}");
    }
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
}

/// The decoded query of a `Location` that starts with `prefix`.
#[track_caller]
fn redirect_query(r: &Resp, prefix: &str) -> Vec<(String, String)> {
    r.assert_status(302);
    assert_page_headers(r);
    let location = r.header("location").expect("Location");
    assert!(
        location.starts_with(prefix),
        "{location} starts with {prefix}"
    );
    let query = location.split_once('?').map(|(_, q)| q).unwrap_or("");
    avow_core::percent::parse_query(query).expect("query")
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let mut values = query.iter().filter(|(k, _)| k == name);
    let first = values.next().map(|(_, v)| v.as_str());
    assert!(values.next().is_none(), "{name} appears once");
    first
}

// ---------------------------------------------------------------- ISS-AUTHZ-01, -02, -03

#[tokio::test]
async fn requests_without_request_uri_are_refused_without_redirect() {
    let issuer = start().await;
    // A classic front-channel request (no PAR; C-20).
    let url = format!(
        "{}/authorize?response_type=code&client_id={}&redirect_uri={}&state=s&code_challenge={CHALLENGE}&code_challenge_method=S256&scope=pid",
        issuer.url,
        avow_core::percent::encode(CLIENT),
        avow_core::percent::encode(REDIRECT_URI)
    );
    let r = issuer.get(&url).await;
    assert_error_page(&r, 400, "invalid_request");
    assert!(body(&r).contains("request_uri is required"));
    assert!(r.header("set-cookie").is_none());
    assert_error_page(
        &issuer.get(&format!("{}/authorize", issuer.url)).await,
        400,
        "invalid_request",
    );
    // client_id is required too, and parameters may not repeat.
    let request_uri = push(&issuer, &pushed(None, None), 60).await;
    let r = issuer
        .get(&format!(
            "{}/authorize?request_uri={}",
            issuer.url,
            avow_core::percent::encode(&request_uri)
        ))
        .await;
    assert_error_page(&r, 400, "invalid_request");
    let url = format!(
        "{}&request_uri=x",
        authorize_url(&issuer, CLIENT, &request_uri)
    );
    assert_error_page(&issuer.get(&url).await, 400, "invalid_request");
}

#[tokio::test]
async fn unknown_request_uris_are_refused() {
    let issuer = start().await;
    let unknown = format!("{REQUEST_URI_PREFIX}{}", SystemRandom.token(32));
    let r = issuer.get(&authorize_url(&issuer, CLIENT, &unknown)).await;
    assert_error_page(&r, 400, "invalid_request");
    assert!(body(&r).contains("unknown, expired or already used"));
    // Not a PAR request_uri at all (e.g. a request object URL).
    let r = issuer
        .get(&authorize_url(
            &issuer,
            CLIENT,
            "https://wallet.example/request.jwt",
        ))
        .await;
    assert_error_page(&r, 400, "invalid_request");
}

#[tokio::test]
async fn request_uris_are_single_use() {
    let issuer = start().await;
    let request = pushed(Some("s"), None);
    let request_uri = push(&issuer, &request, 60).await;
    let url = authorize_url(&issuer, CLIENT, &request_uri);
    issuer.get(&url).await.assert_status(200);
    let r = issuer.get(&url).await;
    assert_error_page(&r, 400, "invalid_request");
    assert!(body(&r).contains("unknown, expired or already used"));
}

#[tokio::test]
async fn request_uris_are_bound_to_the_pushing_client() {
    let issuer = start().await;
    let request_uri = push(&issuer, &pushed(None, None), 60).await;
    let r = issuer
        .get(&authorize_url(
            &issuer,
            "https://attacker.example",
            &request_uri,
        ))
        .await;
    assert_error_page(&r, 400, "invalid_request");
    assert!(body(&r).contains("different client"));
    // Another client's attempt does not burn the request.
    issuer
        .get(&authorize_url(&issuer, CLIENT, &request_uri))
        .await
        .assert_status(200);
}

#[tokio::test]
async fn expired_request_uris_are_refused() {
    let issuer = start().await;
    let request_uri = push(&issuer, &pushed(None, None), 60).await;
    issuer.advance(60);
    let r = issuer
        .get(&authorize_url(&issuer, CLIENT, &request_uri))
        .await;
    assert_error_page(&r, 400, "invalid_request");
}

// ---------------------------------------------------------------- login (ISS-AUTHZ-04)

#[tokio::test]
async fn the_login_page_starts_a_session() {
    let issuer = start().await;
    let (session, r) = begin(&issuer, &pushed(Some("s"), None)).await;
    assert_page_headers(&r);
    assert!(
        r.header("content-security-policy")
            .is_some_and(|c| c.contains("form-action 'self' https://wallet.example;")),
        "the client's origin may receive the form's redirect: {:?}",
        r.header("content-security-policy")
    );
    let set_cookie = r.header("set-cookie").expect("Set-Cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/authorize", "Max-Age=600"] {
        assert!(
            set_cookie.contains(attribute),
            "{set_cookie} has {attribute}"
        );
    }
    // dev_mode over plain http: no Secure (the browser would drop the cookie).
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    assert!(
        session.cookie.len() > "avow_authorize=".len() + 40,
        "≥ 256-bit session id"
    );
    assert!(session.csrf.len() >= 43, "≥ 256-bit CSRF token");
    let page = body(&r);
    assert!(page.contains("<html lang=\"en\">"), "{page}");
    assert!(page.contains("<label for=\"username\">") && page.contains("<label for=\"password\">"));
    assert!(page.contains("Person Identification Data"));
    assert!(
        page.contains("Development issuer"),
        "dev users are labelled (ISS-AUTHZ-04)"
    );
    assert!(!page.contains("<script"), "no JavaScript (ISS-AUTHZ-11)");
    // Only the hashes are stored.
    let stored = issuer
        .state
        .store
        .auth_session(&sha256_b64(session.id().as_bytes()), issuer.now())
        .await
        .expect("store")
        .expect("the session is stored by the hash of its id");
    assert_eq!(stored.csrf_hash, sha256_b64(session.csrf.as_bytes()));
    assert_eq!(stored.expires_at, NOW + 600);
    assert_eq!(stored.holder_id, None);
}

#[tokio::test]
async fn a_good_login_shows_the_consent_page() {
    let issuer = start().await;
    let (session, _) = begin(&issuer, &pushed(Some("s"), None)).await;
    let r = login(&issuer, &session, HOLDER, PASSWORD).await;
    r.assert_status(200);
    assert_page_headers(&r);
    let page = body(&r);
    // ISS-AUTHZ-05: issuer, credential and the claims it will contain.
    assert!(page.contains("Avow Demo Issuer"), "{page}");
    assert!(page.contains("Person Identification Data"));
    for claim in [
        "Given name",
        "Family name",
        "Date of birth",
        "Address › Street",
        "Address › Locality",
        "Address › Country",
        "Nationalities",
    ] {
        assert!(
            page.contains(&format!("<li>{claim}</li>")),
            "claim {claim}: {page}"
        );
    }
    assert!(page.contains("value=\"approve\"") && page.contains("value=\"deny\""));
    assert!(page.contains(&format!("action=\"{}/authorize/consent\"", issuer.url)));
    assert!(
        !page.contains("Erika"),
        "no claim values on the page or in logs"
    );
    assert!(!page.contains("<script"));
    assert_eq!(csrf_of(&page), session.csrf);
}

#[tokio::test]
async fn a_wrong_login_shows_the_login_page_again() {
    let issuer = start().await;
    let (session, _) = begin(&issuer, &pushed(None, None)).await;
    for (user, password) in [(HOLDER, "wrong"), ("nobody", PASSWORD), ("", "")] {
        let r = login(&issuer, &session, user, password).await;
        r.assert_status(200);
        let page = body(&r);
        assert!(page.contains("Wrong username or password."), "{page}");
        assert!(page.contains(&format!("action=\"{}/authorize/login\"", issuer.url)));
        assert!(!page.contains("value=\"approve\""));
    }
    // The session is still usable.
    login(&issuer, &session, HOLDER, PASSWORD)
        .await
        .assert_status(200);
}

#[tokio::test]
async fn five_failed_logins_end_the_session() {
    let issuer = start().await;
    let (session, _) = begin(&issuer, &pushed(None, None)).await;
    for _ in 0..4 {
        login(&issuer, &session, HOLDER, "wrong")
            .await
            .assert_status(200);
    }
    assert_error_page(
        &login(&issuer, &session, HOLDER, "wrong").await,
        403,
        "access_denied",
    );
    // Even the right password no longer helps, nor does consent.
    assert_error_page(
        &login(&issuer, &session, HOLDER, PASSWORD).await,
        403,
        "access_denied",
    );
    assert_error_page(
        &consent(&issuer, &session, "approve").await,
        403,
        "access_denied",
    );
}

#[tokio::test]
async fn holder_login_is_configurable() {
    logs();
    let issuer = TestIssuer::start_with(Backend::Sqlite, |c| {
        c.holder_login.max_failed_logins = 2;
        c.holder_login.session_lifetime = 120;
    })
    .await;
    let (session, r) = begin(&issuer, &pushed(None, None)).await;
    assert!(
        r.header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=120"))
    );
    login(&issuer, &session, HOLDER, "wrong")
        .await
        .assert_status(200);
    assert_error_page(
        &login(&issuer, &session, HOLDER, "wrong").await,
        403,
        "access_denied",
    );

    let (session, _) = begin(&issuer, &pushed(None, None)).await;
    issuer.advance(120);
    assert_error_page(
        &login(&issuer, &session, HOLDER, PASSWORD).await,
        400,
        "invalid_request",
    );

    // The keys, their defaults and their limits.
    let base = avow_issuer::config::DEFAULT_CONFIG;
    let defaults = IssuerConfig::from_toml(base).expect("defaults");
    assert_eq!(defaults.holder_login.session_lifetime, 600);
    assert_eq!(defaults.holder_login.max_failed_logins, 5);
    assert_eq!(defaults.policy.authorization_code_lifetime, 60);
    let c = IssuerConfig::from_toml(&format!(
        "{base}\n[holder_login]\nsession_lifetime = 300\nmax_failed_logins = 3\n"
    ))
    .expect("holder_login keys");
    assert_eq!(
        (
            c.holder_login.session_lifetime,
            c.holder_login.max_failed_logins
        ),
        (300, 3)
    );
    for bad in ["max_failed_logins = 0", "session_lifetime = 0", "other = 1"] {
        assert!(
            IssuerConfig::from_toml(&format!("{base}\n[holder_login]\n{bad}\n")).is_err(),
            "{bad} is refused"
        );
    }
    let bad = base.replace(
        "offer_lifetime = 600",
        "offer_lifetime = 600\nauthorization_code_lifetime = 0",
    );
    assert!(IssuerConfig::from_toml(&bad).is_err());
}

#[tokio::test]
async fn expired_sessions_are_refused() {
    let issuer = start().await;
    let (session, _) = begin(&issuer, &pushed(None, None)).await;
    login(&issuer, &session, HOLDER, PASSWORD)
        .await
        .assert_status(200);
    issuer.advance(600);
    assert_error_page(
        &consent(&issuer, &session, "approve").await,
        400,
        "invalid_request",
    );
}

// ---------------------------------------------------------------- CSRF (ISS-AUTHZ-11)

#[tokio::test]
async fn forms_need_the_session_and_its_csrf_token() {
    let issuer = start().await;
    let (session, _) = begin(&issuer, &pushed(None, None)).await;
    let (other, _) = begin(&issuer, &pushed(None, None)).await;
    let cookie = Some(session.cookie.as_str());
    let cases: [FormCase; 6] = [
        (
            "/authorize/login",
            cookie,
            vec![("username", HOLDER), ("password", PASSWORD)],
        ),
        (
            "/authorize/login",
            cookie,
            vec![
                ("csrf", "wrong"),
                ("username", HOLDER),
                ("password", PASSWORD),
            ],
        ),
        (
            "/authorize/login",
            cookie,
            vec![
                ("csrf", &other.csrf),
                ("username", HOLDER),
                ("password", PASSWORD),
            ],
        ),
        (
            "/authorize/login",
            None,
            vec![
                ("csrf", &session.csrf),
                ("username", HOLDER),
                ("password", PASSWORD),
            ],
        ),
        ("/authorize/consent", cookie, vec![("decision", "approve")]),
        (
            "/authorize/consent",
            cookie,
            vec![("csrf", ""), ("decision", "approve")],
        ),
    ];
    for (path, cookie, form) in &cases {
        let r = post_form(&issuer, path, *cookie, form).await;
        assert_error_page(&r, 400, "invalid_request");
    }
    // A CSRF failure does not count as a failed login and nothing was consumed.
    let r = login(&issuer, &session, HOLDER, PASSWORD).await;
    r.assert_status(200);
    let r = post_form(
        &issuer,
        "/authorize/consent",
        Some(&session.cookie),
        &[("csrf", &other.csrf), ("decision", "approve")],
    )
    .await;
    assert_error_page(&r, 400, "invalid_request");
    let r = consent(&issuer, &session, "maybe").await;
    assert_error_page(&r, 400, "invalid_request");
    consent(&issuer, &session, "approve")
        .await
        .assert_status(302);
}

#[tokio::test]
async fn consent_needs_a_login_first() {
    let issuer = start().await;
    let (session, _) = begin(&issuer, &pushed(None, None)).await;
    let r = consent(&issuer, &session, "approve").await;
    assert_error_page(&r, 400, "invalid_request");
    assert!(body(&r).contains("not signed in"));
}

// ---------------------------------------------------------------- approve and deny (ISS-AUTHZ-06 … -09)

#[tokio::test]
async fn approval_redirects_with_a_bound_code() {
    approval_redirects_with_a_bound_code_on(Backend::Sqlite).await;
}

#[tokio::test]
async fn approval_redirects_with_a_bound_code_postgres() {
    approval_redirects_with_a_bound_code_on(Backend::Postgres).await;
}

async fn approval_redirects_with_a_bound_code_on(backend: Backend) {
    logs();
    let issuer = TestIssuer::start(backend).await;
    let mut request = pushed(Some("st ate&=ü"), None);
    request.request.redirect_uri = format!("{REDIRECT_URI}?tenant=a%20b");
    request.request.authorization_details = vec![AuthorizationDetail {
        kind: "openid_credential".into(),
        credential_configuration_id: PID.into(),
        locations: None,
        claims: None,
        credential_identifiers: None,
    }];
    let (session, _) = begin(&issuer, &request).await;
    login(&issuer, &session, HOLDER, PASSWORD)
        .await
        .assert_status(200);
    issuer.advance(5);
    let r = consent(&issuer, &session, "approve").await;
    let query = redirect_query(&r, &format!("{REDIRECT_URI}?tenant=a%20b&"));
    assert_eq!(
        param(&query, "tenant"),
        Some("a b"),
        "the existing query is kept"
    );
    assert_eq!(param(&query, "state"), Some("st ate&=ü"));
    assert_eq!(param(&query, "iss"), Some(issuer.url.as_str()), "RFC 9207");
    assert_eq!(param(&query, "error"), None);
    let code = param(&query, "code").expect("code").to_owned();
    assert!(code.len() >= 43, "≥ 256 bits (ISS-AUTHZ-08)");
    let set_cookie = r
        .header("set-cookie")
        .expect("the session cookie is removed");
    assert!(set_cookie.contains("Max-Age=0"), "{set_cookie}");

    // The session is single use.
    assert_error_page(
        &consent(&issuer, &session, "approve").await,
        400,
        "invalid_request",
    );
    assert_error_page(
        &consent(&issuer, &session, "deny").await,
        400,
        "invalid_request",
    );

    // The code is stored by hash, bound to everything the token endpoint checks.
    let now = issuer.now();
    let redemption = issuer
        .state
        .store
        .redeem_authorization_code(&sha256_b64(code.as_bytes()), now)
        .await
        .expect("store");
    let CodeRedemption::Redeemed(record) = redemption else {
        panic!("the code is redeemable: {redemption:?}");
    };
    assert_eq!(record.client_id, CLIENT);
    assert_eq!(record.issued_at, now);
    assert_eq!(
        record.expires_at,
        now + 60,
        "policy.authorization_code_lifetime"
    );
    assert!(!record.grant_id.is_empty());
    let grant: AuthorizationGrant = serde_json::from_value(record.grant).expect("grant");
    assert_eq!(
        grant,
        AuthorizationGrant {
            holder_id: HOLDER.into(),
            configuration_ids: vec![PID.into()],
            authorization_details: request.request.authorization_details.clone(),
            client_id: CLIENT.into(),
            client_instance_jkt: Some(INSTANCE_JKT.into()),
            redirect_uri: request.request.redirect_uri.clone(),
            code_challenge: CHALLENGE.into(),
            dpop_jkt: Some(DPOP_JKT.into()),
            offer_id: None,
            auth_time: now,
        }
    );
    assert!(matches!(
        issuer
            .state
            .store
            .redeem_authorization_code(&sha256_b64(code.as_bytes()), now)
            .await,
        Ok(CodeRedemption::Replayed { .. })
    ));
    // ISS-SEC-06: neither the code nor the session secrets are logged.
    let logs = logged();
    assert!(
        logs.contains("authorization code issued"),
        "the log capture works"
    );
    for secret in [&code, &session.csrf, &session.id().to_owned()] {
        assert!(!logs.contains(secret.as_str()), "a secret was logged");
    }
    assert!(!logs.contains(PASSWORD) && !logs.contains("Mustermann"));
}

#[tokio::test]
async fn codes_expire_after_the_configured_lifetime() {
    let issuer = start().await;
    let (session, _) = begin(&issuer, &pushed(None, None)).await;
    login(&issuer, &session, HOLDER, PASSWORD)
        .await
        .assert_status(200);
    let r = consent(&issuer, &session, "approve").await;
    let query = redirect_query(&r, &format!("{REDIRECT_URI}?"));
    assert_eq!(
        param(&query, "state"),
        None,
        "no state pushed, none returned"
    );
    let code = param(&query, "code").expect("code");
    issuer.advance(60);
    assert!(matches!(
        issuer
            .state
            .store
            .redeem_authorization_code(&sha256_b64(code.as_bytes()), issuer.now())
            .await,
        Ok(CodeRedemption::Unknown)
    ));
}

#[tokio::test]
async fn denial_redirects_with_access_denied() {
    let issuer = start().await;
    let (session, _) = begin(&issuer, &pushed(Some("xyz"), None)).await;
    login(&issuer, &session, HOLDER, PASSWORD)
        .await
        .assert_status(200);
    let r = consent(&issuer, &session, "deny").await;
    let query = redirect_query(&r, &format!("{REDIRECT_URI}?"));
    assert_eq!(param(&query, "error"), Some("access_denied"));
    assert_eq!(param(&query, "state"), Some("xyz"));
    assert_eq!(param(&query, "iss"), Some(issuer.url.as_str()));
    assert_eq!(param(&query, "code"), None);
    assert_error_page(
        &consent(&issuer, &session, "approve").await,
        400,
        "invalid_request",
    );
}

#[tokio::test]
async fn offers_for_another_holder_are_denied() {
    let issuer = start().await;
    let (session, _) = begin(&issuer, &pushed(Some("s"), Some("someone-else"))).await;
    let r = login(&issuer, &session, HOLDER, PASSWORD).await;
    let query = redirect_query(&r, &format!("{REDIRECT_URI}?"));
    assert_eq!(param(&query, "error"), Some("access_denied"));
    assert_eq!(param(&query, "state"), Some("s"));
    assert_eq!(param(&query, "iss"), Some(issuer.url.as_str()));
    assert_error_page(
        &consent(&issuer, &session, "approve").await,
        400,
        "invalid_request",
    );

    // The offer's own holder continues, and the code carries the offer.
    let (session, _) = begin(&issuer, &pushed(Some("s"), Some(HOLDER))).await;
    login(&issuer, &session, HOLDER, PASSWORD)
        .await
        .assert_status(200);
    let r = consent(&issuer, &session, "approve").await;
    let query = redirect_query(&r, &format!("{REDIRECT_URI}?"));
    let code = param(&query, "code").expect("code");
    let redemption = issuer
        .state
        .store
        .redeem_authorization_code(&sha256_b64(code.as_bytes()), issuer.now())
        .await
        .expect("store");
    let CodeRedemption::Redeemed(record) = redemption else {
        panic!("redeemable: {redemption:?}");
    };
    assert_eq!(record.grant["offer_id"], "offer-1");
}

// ---------------------------------------------------------------- admin password import

#[tokio::test]
async fn admin_imports_hashed_passwords() {
    let issuer = start().await;
    let holders =
        json!([{ "id": "alice", "password": "alice-pw-123", "claims": { "given_name": "Alice" } }]);
    issuer.import_holders(&holders).await.assert_status(200);
    let phc = issuer
        .state
        .store
        .holder_password("alice")
        .await
        .expect("store")
        .expect("password stored");
    assert!(phc.starts_with("$argon2id$"), "{phc}");
    assert!(!phc.contains("alice-pw-123"));
    let r = issuer
        .send(issuer.admin(reqwest::Method::GET, "/admin/holders/alice"))
        .await;
    r.assert_status(200);
    assert!(!body(&r).contains("argon2"), "the hash is not served");

    let (session, _) = begin(&issuer, &pushed(None, None)).await;
    let r = login(&issuer, &session, "alice", "alice-pw-123").await;
    r.assert_status(200);
    assert!(body(&r).contains("Signed in as <strong>alice</strong>"));

    // Re-importing without a password keeps it; an empty one is refused.
    issuer
        .import_holders(&json!([{ "id": "alice", "claims": {} }]))
        .await
        .assert_status(200);
    assert!(
        issuer
            .state
            .store
            .holder_password("alice")
            .await
            .expect("store")
            .is_some()
    );
    issuer
        .import_holders(&json!([{ "id": "bob", "password": "", "claims": {} }]))
        .await
        .assert_error(400, "invalid_request");
}

// ---------------------------------------------------------------- headers everywhere

#[tokio::test]
async fn every_response_forbids_framing_and_caching() {
    let issuer = start().await;
    // A method the endpoint does not serve still carries the headers.
    let r = issuer
        .send(issuer.http.put(format!("{}/authorize/login", issuer.url)))
        .await;
    r.assert_status(405);
    assert_page_headers(&r);
    let r = post_form(&issuer, "/authorize/login", None, &[]).await;
    assert_error_page(&r, 400, "invalid_request");
    let r = issuer
        .send(
            issuer
                .http
                .post(format!("{}/authorize/login", issuer.url))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(vec![0xff, 0xfe]),
        )
        .await;
    assert_error_page(&r, 400, "invalid_request");
}
