//! The holder pages in a real browser: headless Chromium driven through
//! chromedriver's W3C WebDriver HTTP API. Login with the keyboard, the
//! consent page with its claims, Approve reached with Tab and pressed with
//! Enter, and the redirect arriving at the wallet's redirect_uri with
//! `code`, `state` and `iss` (ISS-AUTHZ-04 … -06, -11). A screenshot of
//! the consent page is saved as `<target dir>/avow-consent.png`.
//!
//! Needs Debian's `chromium` and `chromium-driver`; without them the test
//! fails (it never skips).

mod common;

use avow_core::authorization::PushedAuthorizationRequest;
use avow_crypto::hash::sha256_b64;
use avow_crypto::{Random, SystemRandom};
use avow_issuer::authorization_grant::{AuthorizationGrant, PushedRequest};
use avow_issuer::authorize::REQUEST_URI_PREFIX;
use avow_store::{CodeRedemption, ParRecord};
use common::{Backend, HOLDER, PID, TestIssuer};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CLIENT: &str = "browser-wallet";
const STATE: &str = "browser state/1";
const PASSWORD: &str = "erika-demo-password";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// The W3C WebDriver element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";

#[tokio::test]
async fn holder_approves_in_a_real_browser() {
    for binary in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(binary).exists(),
            "{binary} is missing: install Debian's chromium and chromium-driver \
             (apt-get install -y chromium chromium-driver) to run the browser test"
        );
    }
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let wallet = Wallet::start().await;
    let redirect_uri = format!("{}/cb", wallet.url);
    let request_uri = push(&issuer, &redirect_uri).await;
    let authorize = format!(
        "{}/authorize?client_id={}&request_uri={}",
        issuer.url,
        avow_core::percent::encode(CLIENT),
        avow_core::percent::encode(&request_uri)
    );

    let driver = ChromeDriver::start().await;
    let browser = driver.session().await;
    browser.navigate(&authorize).await;

    // Login: type into the labelled fields, submit with Enter.
    let username = browser.find("#username").await;
    browser.type_into(&username, HOLDER).await;
    let password = browser.find("#password").await;
    browser.type_into(&password, PASSWORD).await;
    browser.type_into(&password, ENTER).await;

    // Consent: the issuer, the credential and its claims.
    let approve = browser.wait_for("#approve").await;
    let page = browser.source().await;
    for text in [
        "Avow Demo Issuer",
        "Person Identification Data",
        "Given name",
        "Family name",
        "Date of birth",
        "Street",
        "Nationalities",
    ] {
        assert!(page.contains(text), "the consent page shows {text}: {page}");
    }
    let screenshot = browser.screenshot().await;
    let target = target_dir().join("avow-consent.png");
    std::fs::write(&target, &screenshot).expect("write the screenshot");
    assert!(screenshot.starts_with(b"\x89PNG"), "a PNG screenshot");
    eprintln!("consent page screenshot: {}", target.display());

    // Approve with the keyboard only: Tab until it has focus, then Enter.
    let mut focused = false;
    for _ in 0..10 {
        browser.keys(TAB).await;
        if browser.active_element().await == approve {
            focused = true;
            break;
        }
    }
    assert!(focused, "the Approve button is reachable with Tab");
    browser.keys(ENTER).await;

    // The wallet's redirect_uri receives code, state and iss.
    let target = tokio::time::timeout(Duration::from_secs(30), wallet.received())
        .await
        .expect("the browser reaches the wallet's redirect_uri within 30 s");
    assert!(target.starts_with("/cb?"), "{target}");
    let query = avow_core::percent::parse_query(target.trim_start_matches("/cb?")).expect("query");
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("state").as_deref(), Some(STATE));
    assert_eq!(get("iss").as_deref(), Some(issuer.url.as_str()));
    let code = get("code").expect("code");
    let url = browser.current_url().await;
    assert!(url.starts_with(&redirect_uri), "the browser ends at {url}");

    let redemption = issuer
        .state
        .store
        .redeem_authorization_code(&sha256_b64(code.as_bytes()), issuer.now())
        .await
        .expect("store");
    let CodeRedemption::Redeemed(record) = redemption else {
        panic!("the code is redeemable: {redemption:?}");
    };
    let grant: AuthorizationGrant = serde_json::from_value(record.grant).expect("grant");
    assert_eq!(grant.holder_id, HOLDER);
    assert_eq!(grant.redirect_uri, redirect_uri);
    browser.close().await;
}

/// Stores a pushed request for `redirect_uri` as the PAR endpoint would.
async fn push(issuer: &TestIssuer, redirect_uri: &str) -> String {
    let request = PushedRequest {
        request: PushedAuthorizationRequest {
            client_id: CLIENT.into(),
            redirect_uri: redirect_uri.into(),
            state: Some(STATE.into()),
            code_challenge: CHALLENGE.into(),
            scopes: vec!["pid".into()],
            authorization_details: Vec::new(),
            issuer_state: None,
            dpop_jkt: None,
        },
        configuration_ids: vec![PID.into()],
        client_id: CLIENT.into(),
        client_instance_jkt: None,
        dpop_jkt: None,
        offer_id: None,
        offer_holder_id: None,
    };
    let request_uri = format!("{REQUEST_URI_PREFIX}{}", SystemRandom.token(32));
    issuer
        .state
        .store
        .insert_par_request(&ParRecord {
            request_uri_hash: sha256_b64(request_uri.as_bytes()),
            client_id: CLIENT.into(),
            request: serde_json::to_value(&request).expect("request"),
            created_at: issuer.now(),
            expires_at: issuer.now() + 600,
        })
        .await
        .expect("insert PAR request");
    request_uri
}

/// `CARGO_TARGET_DIR` (the parent of the integration tests' tmp dir).
fn target_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).to_path_buf()
}

// ---------------------------------------------------------------- the wallet's redirect_uri

/// A tiny HTTP listener standing in for the wallet: records the request
/// target of the first request and answers with a small page.
struct Wallet {
    url: String,
    target: tokio::sync::oneshot::Receiver<String>,
}

impl Wallet {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind wallet");
        let url = format!("http://{}", listener.local_addr().expect("wallet addr"));
        let (sender, target) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut sender = Some(sender);
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&request);
                let target = text
                    .lines()
                    .next()
                    .and_then(|line| line.split(' ').nth(1))
                    .unwrap_or("")
                    .to_owned();
                let body = "<!DOCTYPE html><title>Wallet</title><p>Back in the wallet.</p>";
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
                // The favicon request and the like are answered but not recorded.
                if target.starts_with("/cb")
                    && let Some(s) = sender.take()
                {
                    let _ = s.send(target);
                }
            }
        });
        Self { url, target }
    }

    async fn received(self) -> String {
        self.target.await.expect("wallet listener")
    }
}

// ---------------------------------------------------------------- WebDriver

/// A chromedriver process on a free loopback port, killed on drop.
struct ChromeDriver {
    child: Child,
    url: String,
    http: reqwest::Client,
    profile: PathBuf,
}

impl ChromeDriver {
    async fn start() -> Self {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            probe.local_addr().expect("probe addr").port()
        };
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {CHROMEDRIVER}: {e}"));
        let profile =
            std::env::temp_dir().join(format!("avow-chromium-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&profile).expect("profile dir");
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("WebDriver client"),
            profile,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = driver
                .http
                .get(format!("{}/status", driver.url))
                .send()
                .await
                .ok()
                .map(|r| r.json::<Value>());
            if let Some(status) = ready
                && let Ok(status) = status.await
                && status["value"]["ready"] == true
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        driver
    }

    async fn session(&self) -> Browser<'_> {
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--window-size=900,1100",
                        format!("--user-data-dir={}", self.profile.display()),
                    ]
                }
            }}
        });
        let response = self
            .http
            .post(format!("{}/session", self.url))
            .json(&capabilities)
            .send()
            .await
            .expect("new WebDriver session");
        let value: Value = response.json().await.expect("session JSON");
        let id = value["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {value}"))
            .to_owned();
        Browser { driver: self, id }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// One WebDriver session (one browser).
struct Browser<'a> {
    driver: &'a ChromeDriver,
    id: String,
}

impl Browser<'_> {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.driver.url, self.id);
        let mut request = self.driver.http.request(method.clone(), &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let status = response.status();
        let value: Value = response.json().await.expect("WebDriver JSON");
        assert!(
            status.is_success(),
            "WebDriver {method} {path}: {status} {value}"
        );
        value["value"].clone()
    }

    async fn navigate(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn current_url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn find(&self, css: &str) -> String {
        let value = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        value[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("element {css}: {value}"))
            .to_owned()
    }

    /// Waits (up to 20 s) for an element to appear, e.g. after a form post.
    async fn wait_for(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let url = format!("{}/session/{}/element", self.driver.url, self.id);
            let response = self
                .driver
                .http
                .post(&url)
                .json(&json!({ "using": "css selector", "value": css }))
                .send()
                .await
                .expect("WebDriver find element");
            if response.status().is_success() {
                let value: Value = response.json().await.expect("WebDriver JSON");
                if let Some(id) = value["value"][ELEMENT].as_str() {
                    return id.to_owned();
                }
            }
            if Instant::now() > deadline {
                let page = self.source().await;
                panic!("{css} did not appear in 20 s; the page is: {page}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Types `text` into an element (WebDriver Element Send Keys: focus, then keys).
    async fn type_into(&self, element: &str, text: &str) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Presses and releases each key of `keys` at whatever has focus.
    async fn keys(&self, keys: &str) {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|k| {
                let k = k.to_string();
                [
                    json!({ "type": "keyDown", "value": k }),
                    json!({ "type": "keyUp", "value": k }),
                ]
            })
            .collect();
        self.call(
            reqwest::Method::POST,
            "/actions",
            Some(json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] })),
        )
        .await;
        self.call(reqwest::Method::DELETE, "/actions", None).await;
    }

    async fn active_element(&self) -> String {
        let value = self
            .call(reqwest::Method::GET, "/element/active", None)
            .await;
        value[ELEMENT].as_str().unwrap_or_default().to_owned()
    }

    async fn screenshot(&self) -> Vec<u8> {
        let value = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let b64 = value.as_str().expect("base64 screenshot");
        avow_crypto::b64::decode_standard(b64).expect("standard base64 screenshot")
    }

    async fn close(self) {
        let url = format!("{}/session/{}", self.driver.url, self.id);
        let _ = self.driver.http.delete(&url).send().await;
    }
}
