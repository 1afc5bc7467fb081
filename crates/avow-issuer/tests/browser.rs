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
#[path = "common/webdriver.rs"]
mod webdriver;

use avow_core::authorization::PushedAuthorizationRequest;
use avow_crypto::hash::sha256_b64;
use avow_crypto::{Random, SystemRandom};
use avow_issuer::authorization_grant::{AuthorizationGrant, PushedRequest};
use avow_issuer::authorize::REQUEST_URI_PREFIX;
use avow_store::{CodeRedemption, ParRecord};
use common::{Backend, HOLDER, PID, TestIssuer};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use webdriver::{ChromeDriver, ENTER};

const CLIENT: &str = "browser-wallet";
const STATE: &str = "browser state/1";
const PASSWORD: &str = "erika-demo-password";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

#[tokio::test]
async fn holder_approves_in_a_real_browser() {
    webdriver::require_chromium();
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
    browser.save_screenshot("avow-consent.png").await;

    // Approve with the keyboard only: Tab until it has focus, then Enter.
    browser.tab_to(&approve).await;
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
