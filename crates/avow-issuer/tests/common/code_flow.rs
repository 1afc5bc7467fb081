//! Helpers of the authorization-code flow tests: an attested wallet client
//! (WIA + PoP from the issuer's development wallet provider), pushed
//! authorization requests, the holder's login and consent over the
//! issuer's own forms, and token requests with DPoP.

// Each test binary uses a different part of the harness.
#![allow(dead_code)]

use crate::common::{HOLDER, PID, Resp, TestIssuer, Token};
use avow_crypto::{Random, Signer, SoftwareSigner, SystemRandom};
use avow_wallet::attestation::{ClientAttestation, DevWalletProvider};
use avow_wallet::authorize::{Pkce, hidden_input};
use serde_json::{Value, json};
use std::sync::Arc;

/// The wallet's OAuth client_id (= WIA `sub`).
pub const CLIENT_ID: &str = "https://wallet.example/code-flow";
pub const OTHER_CLIENT_ID: &str = "https://other-wallet.example/code-flow";
/// Allowed by the embedded defaults (`http://127.0.0.1:*`, RFC 8252).
pub const REDIRECT_URI: &str = "http://127.0.0.1:7777/callback";
pub const PASSWORD: &str = "erika-demo-password";
pub const PAR_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
pub const AUTHORIZATION_CODE: &str = "authorization_code";

/// A copy of an ES256 key (SoftwareSigner is not `Clone`).
pub fn clone_key(key: &SoftwareSigner) -> SoftwareSigner {
    SoftwareSigner::from_pkcs8(&key.to_pkcs8().expect("pkcs8")).expect("key copy")
}

pub fn new_key() -> SoftwareSigner {
    SoftwareSigner::generate().expect("key")
}

/// `[{"type":"openid_credential","credential_configuration_id": PID}]`.
pub fn pid_details() -> String {
    json!([{ "type": "openid_credential", "credential_configuration_id": PID }]).to_string()
}

// ---------------------------------------------------------------- the client

/// One wallet instance: a client_id and an instance key, attested by the
/// issuer's DEVELOPMENT wallet provider with a fresh WIA on every request.
pub struct Client {
    pub client_id: String,
    pub instance: SoftwareSigner,
    provider: Arc<DevWalletProvider>,
}

impl Client {
    pub fn new(issuer: &TestIssuer, client_id: &str) -> Self {
        let (cert, key) = issuer
            .state
            .client_auth
            .dev_wallet_provider
            .clone()
            .expect("dev wallet-provider CA");
        let provider = DevWalletProvider::load(&cert, &key).expect("dev wallet provider");
        Self {
            client_id: client_id.to_owned(),
            instance: new_key(),
            provider: Arc::new(provider),
        }
    }

    /// The same client_id on another wallet instance (another `cnf` key).
    pub fn other_instance(&self) -> Self {
        Self {
            client_id: self.client_id.clone(),
            instance: new_key(),
            provider: self.provider.clone(),
        }
    }

    /// Another client (another WIA `sub`) from the same wallet provider.
    pub fn other_client(&self, client_id: &str) -> Self {
        Self {
            client_id: client_id.to_owned(),
            instance: new_key(),
            provider: self.provider.clone(),
        }
    }

    /// `OAuth-Client-Attestation` and `-PoP` for this issuer at its current time.
    pub async fn headers(
        &self,
        issuer: &TestIssuer,
        challenge: Option<&str>,
    ) -> [(&'static str, String); 2] {
        let wia = self
            .provider
            .issue_wia(
                &self.client_id,
                self.instance.public_jwk(),
                issuer.now(),
                3600,
            )
            .await
            .expect("WIA");
        ClientAttestation::new(self.client_id.clone(), wia, clone_key(&self.instance))
            .headers(&issuer.url, challenge, issuer.now())
            .await
            .expect("attestation headers")
    }
}

// ---------------------------------------------------------------- attestation challenges

/// A fresh challenge from `POST /challenge` (ABCA §6.1).
pub async fn fetch_challenge(issuer: &TestIssuer) -> String {
    let response = issuer
        .send(issuer.http.post(format!("{}/challenge", issuer.url)))
        .await;
    response.assert_status(200);
    response.json()["attestation_challenge"]
        .as_str()
        .expect("attestation_challenge")
        .to_owned()
}

/// A challenge when the issuer hands them out, else `None`.
pub async fn current_challenge(issuer: &TestIssuer) -> Option<String> {
    if issuer.state.config.client_authentication.challenge_endpoint {
        Some(fetch_challenge(issuer).await)
    } else {
        None
    }
}

// ---------------------------------------------------------------- PAR

pub fn par_url(issuer: &TestIssuer) -> String {
    format!("{}/par", issuer.url)
}

/// The form of a pushed authorization request, editable parameter by parameter.
#[derive(Debug, Clone)]
pub struct Par {
    pub params: Vec<(String, String)>,
}

impl Par {
    /// `response_type=code`, `client_id`, `redirect_uri`, `state`, PKCE S256
    /// and `scope=pid`.
    pub fn new(client_id: &str, pkce: &Pkce) -> Self {
        let params = [
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT_URI),
            ("state", "state-1"),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
            ("scope", "pid"),
        ];
        Self {
            params: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    /// Sets `name` (replacing every earlier value).
    pub fn set(mut self, name: &str, value: &str) -> Self {
        self = self.remove(name);
        self.params.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds one more `name` (for repeated parameters).
    pub fn add(mut self, name: &str, value: &str) -> Self {
        self.params.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn remove(mut self, name: &str) -> Self {
        self.params.retain(|(k, _)| k != name);
        self
    }

    /// Only `authorization_details` for the PID, no scope.
    pub fn with_details(self) -> Self {
        self.remove("scope")
            .set("authorization_details", &pid_details())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `POST /par` with `client`'s attestation (if any) and a DPoP proof by `dpop` (if any).
pub async fn push(
    issuer: &TestIssuer,
    client: Option<&Client>,
    par: &Par,
    dpop: Option<&SoftwareSigner>,
) -> Resp {
    let mut request = issuer.http.post(par_url(issuer)).form(&par.params);
    if let Some(client) = client {
        let challenge = current_challenge(issuer).await;
        for (name, value) in client.headers(issuer, challenge.as_deref()).await {
            request = request.header(name, value);
        }
    }
    if let Some(key) = dpop {
        let nonce = issuer.dpop_nonce().await;
        let proof = issuer
            .dpop(key, "POST", &par_url(issuer), None, Some(&nonce))
            .await;
        request = request.header("DPoP", proof);
    }
    issuer.send(request).await
}

/// A successful push: the `request_uri`.
pub async fn push_ok(
    issuer: &TestIssuer,
    client: &Client,
    par: &Par,
    dpop: Option<&SoftwareSigner>,
) -> String {
    let response = push(issuer, Some(client), par, dpop).await;
    response.assert_status(201).assert_no_store();
    response.json()["request_uri"]
        .as_str()
        .expect("request_uri")
        .to_owned()
}

// ---------------------------------------------------------------- authorization endpoint

pub fn authorize_url(issuer: &TestIssuer, client_id: &str, request_uri: &str) -> String {
    avow_wallet::authorize::authorization_url(
        &format!("{}/authorize", issuer.url),
        client_id,
        request_uri,
    )
}

/// `GET /authorize` for a pushed request.
pub async fn open_authorize(issuer: &TestIssuer, client_id: &str, request_uri: &str) -> Resp {
    issuer
        .get(&authorize_url(issuer, client_id, request_uri))
        .await
}

/// An HTML error page (no redirect) showing `error`.
#[track_caller]
pub fn assert_error_page(response: &Resp, status: u16, error: &str) {
    response.assert_status(status);
    assert!(
        response.header("location").is_none(),
        "an error page never redirects"
    );
    let page = String::from_utf8_lossy(&response.body);
    assert!(
        page.contains(&format!("<code id=\"error-code\">{error}</code>")),
        "error code {error} on the page: {page}"
    );
}

fn page_text(response: &Resp) -> String {
    String::from_utf8_lossy(&response.body).into_owned()
}

fn session_cookie(response: &Resp) -> String {
    response
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_owned()
}

/// The holder logs in and approves, as a browser would; returns the
/// `Location` of the redirect to the client.
pub async fn login_and_consent(issuer: &TestIssuer, client_id: &str, request_uri: &str) -> String {
    let login = open_authorize(issuer, client_id, request_uri).await;
    login.assert_status(200);
    let cookie = session_cookie(&login);
    let csrf = hidden_input(&page_text(&login), "csrf").expect("login csrf");
    let consent = issuer
        .send(
            issuer
                .http
                .post(format!("{}/authorize/login", issuer.url))
                .header("Cookie", &cookie)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("username", HOLDER),
                    ("password", PASSWORD),
                ]),
        )
        .await;
    consent.assert_status(200);
    let csrf = hidden_input(&page_text(&consent), "csrf").expect("consent csrf");
    let redirect = issuer
        .send(
            issuer
                .http
                .post(format!("{}/authorize/consent", issuer.url))
                .header("Cookie", &cookie)
                .form(&[("csrf", csrf.as_str()), ("decision", "approve")]),
        )
        .await;
    redirect.assert_status(302);
    redirect.header("location").expect("Location").to_owned()
}

/// The query parameters of a redirect.
pub fn callback_params(location: &str) -> Vec<(String, String)> {
    let query = location.split_once('?').map(|(_, q)| q).unwrap_or("");
    avow_core::percent::parse_query(query).expect("callback query")
}

pub fn callback_param(location: &str, name: &str) -> Option<String> {
    callback_params(location)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// What a completed front channel gives the wallet.
pub struct Authorized {
    pub code: String,
    pub pkce: Pkce,
    pub redirect_uri: String,
}

/// PAR (with `dpop` as the DPoP header when given), login and consent; the code.
pub async fn authorize_with(
    issuer: &TestIssuer,
    client: &Client,
    pkce: Pkce,
    par: &Par,
    dpop: Option<&SoftwareSigner>,
) -> Authorized {
    let request_uri = push_ok(issuer, client, par, dpop).await;
    let location = login_and_consent(issuer, &client.client_id, &request_uri).await;
    assert!(
        location.starts_with(par.get("redirect_uri").expect("redirect_uri")),
        "redirect to the pushed redirect_uri: {location}"
    );
    assert_eq!(
        callback_param(&location, "state").as_deref(),
        par.get("state")
    );
    assert_eq!(
        callback_param(&location, "iss").as_deref(),
        Some(issuer.url.as_str())
    );
    let code = callback_param(&location, "code").expect("code in the callback");
    Authorized {
        code,
        pkce,
        redirect_uri: par.get("redirect_uri").unwrap_or_default().to_owned(),
    }
}

/// The default request (scope `pid`), its code bound to `dpop` at PAR.
pub async fn authorize(issuer: &TestIssuer, client: &Client, dpop: &SoftwareSigner) -> Authorized {
    let pkce = Pkce::generate(&SystemRandom);
    let par = Par::new(&client.client_id, &pkce);
    authorize_with(issuer, client, pkce, &par, Some(dpop)).await
}

/// As [`authorize`] with `authorization_details` instead of a scope.
pub async fn authorize_details(
    issuer: &TestIssuer,
    client: &Client,
    dpop: &SoftwareSigner,
) -> Authorized {
    let pkce = Pkce::generate(&SystemRandom);
    let par = Par::new(&client.client_id, &pkce).with_details();
    authorize_with(issuer, client, pkce, &par, Some(dpop)).await
}

// ---------------------------------------------------------------- token endpoint

/// A token request with `client`'s attestation (if any, and an optional
/// challenge) and a DPoP proof by `dpop` with a current nonce.
pub async fn token_request(
    issuer: &TestIssuer,
    client: Option<&Client>,
    dpop: &SoftwareSigner,
    form: &[(&str, &str)],
) -> Resp {
    let proof = issuer.token_dpop(dpop).await;
    let challenge = current_challenge(issuer).await;
    token_request_raw(issuer, client, challenge.as_deref(), Some(&proof), form).await
}

/// A token request with exactly the given DPoP proof and attestation challenge.
pub async fn token_request_raw(
    issuer: &TestIssuer,
    client: Option<&Client>,
    challenge: Option<&str>,
    dpop_proof: Option<&str>,
    form: &[(&str, &str)],
) -> Resp {
    let mut request = issuer.http.post(issuer.token_url()).form(form);
    if let Some(client) = client {
        for (name, value) in client.headers(issuer, challenge).await {
            request = request.header(name, value);
        }
    }
    if let Some(proof) = dpop_proof {
        request = request.header("DPoP", proof);
    }
    issuer.send(request).await
}

/// The `authorization_code` token request for `authorized`.
pub async fn exchange(
    issuer: &TestIssuer,
    client: &Client,
    dpop: &SoftwareSigner,
    authorized: &Authorized,
) -> Resp {
    token_request(
        issuer,
        Some(client),
        dpop,
        &[
            ("grant_type", AUTHORIZATION_CODE),
            ("code", &authorized.code),
            ("redirect_uri", &authorized.redirect_uri),
            ("code_verifier", &authorized.pkce.verifier),
            ("client_id", &client.client_id),
        ],
    )
    .await
}

/// The `refresh_token` token request.
pub async fn refresh(
    issuer: &TestIssuer,
    client: &Client,
    dpop: &SoftwareSigner,
    refresh_token: &str,
    scope: Option<&str>,
) -> Resp {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", &client.client_id),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    token_request(issuer, Some(client), dpop, &form).await
}

/// A successful token response.
pub struct Tokens {
    pub token: Token,
    pub refresh_token: Option<String>,
    pub body: Value,
}

impl Tokens {
    pub fn refresh_token(&self) -> &str {
        self.refresh_token.as_deref().expect("a refresh token")
    }

    /// The first `credential_identifiers` entry of the first `authorization_details`.
    pub fn credential_identifier(&self) -> String {
        self.body["authorization_details"][0]["credential_identifiers"][0]
            .as_str()
            .expect("a credential identifier")
            .to_owned()
    }
}

/// Checks a successful token response (ISS-TOK-01, -04, -05) and keeps its tokens.
#[track_caller]
pub fn tokens_of(response: &Resp, dpop: &SoftwareSigner) -> Tokens {
    response.assert_status(200).assert_no_store();
    let body = response.json();
    assert_eq!(body["token_type"], "DPoP", "ISS-TOK-04: {body}");
    assert_eq!(body["expires_in"], 300, "ISS-TOK-05: default lifetime");
    let access_token = body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let refresh_token = body["refresh_token"].as_str().map(str::to_owned);
    Tokens {
        token: Token {
            access_token,
            key: clone_key(dpop),
        },
        refresh_token,
        body,
    }
}

// ---------------------------------------------------------------- credential endpoint

/// A credential request selecting by `selector` (a JSON member) with a
/// fresh key proof; returns the response and the holder key.
pub async fn credential_with(
    issuer: &TestIssuer,
    token: &Token,
    selector: (&str, &str),
) -> (Resp, SoftwareSigner) {
    let holder = new_key();
    let c_nonce = issuer.c_nonce().await;
    let proof = issuer.key_proof(&holder, &c_nonce).await;
    let mut body = json!({ "proofs": { "jwt": [proof] } });
    body[selector.0] = Value::String(selector.1.to_owned());
    (issuer.credential_request(token, &body).await, holder)
}

/// A credential obtained with `selector`; checks it verifies, is bound to the
/// proven key and carries the authenticated holder's data.
pub async fn credential_ok(issuer: &TestIssuer, token: &Token, selector: (&str, &str)) {
    let (response, holder) = credential_with(issuer, token, selector).await;
    response.assert_status(200).assert_no_store();
    let credential = response.json()["credentials"][0]["credential"]
        .as_str()
        .expect("an SD-JWT VC")
        .to_owned();
    let (verified, _) = issuer.verify_credential(&credential);
    assert_eq!(verified.iss, issuer.url);
    assert_eq!(
        verified.holder_key.as_ref(),
        Some(holder.public_jwk()),
        "bound to the proven key"
    );
    assert_eq!(
        verified.claims["given_name"], "Erika",
        "the demo holder's data"
    );
}

/// A random string of `len` unreserved characters.
pub fn random_verifier(len: usize) -> String {
    let mut s = String::new();
    while s.len() < len {
        s.push_str(&SystemRandom.token(32));
    }
    s.truncate(len);
    s
}
