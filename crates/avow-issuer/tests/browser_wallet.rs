//! End to end in a real browser: the real wallet (avow-wallet, with the
//! development wallet provider's attestation, DPoP and PKCE) runs the
//! authorization-code flow against a real issuer, and headless Chromium —
//! driven through chromedriver's W3C WebDriver API — is its user agent: the
//! holder signs in and answers the consent page with the keyboard only, the
//! issuer redirects to the wallet's loopback redirect_uri (RFC 8252 §7.3),
//! and the flow ends with a verified credential in the wallet's store.
//!
//! Screenshots of the login and consent pages are saved as
//! `<target dir>/avow-login.png` and `avow-consent.png`.
//!
//! Needs Debian's `chromium` and `chromium-driver`; without them the tests
//! fail (they never skip).

mod common;
#[path = "common/webdriver.rs"]
mod webdriver;

use avow_crypto::{Signer, SoftwareSigner};
use avow_issuer::offer::CreatedOffer;
use avow_wallet::attestation::DevWalletProvider;
use avow_wallet::authorize::{AgentFuture, UserAgent};
use avow_wallet::{CredentialStore, ReceivedCredential, Wallet, WalletError, WalletOptions};
use common::{Backend, HOLDER, PID, TestIssuer};
use serde_json::json;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use webdriver::{Browser, ChromeDriver, ENTER, TAB};

const PASSWORD: &str = "erika-demo-password";
/// The wallet's OAuth client_id (the `sub` of its wallet attestation).
const CLIENT_ID: &str = "https://wallet.avow.dev/browser-test";
const ISSUER_NAME: &str = "Avow Demo Issuer";
const CREDENTIAL_NAME: &str = "Person Identification Data";
/// The claim labels of the PID configuration the consent page must show
/// (nested claims as `Parent › Child`).
const CLAIM_LABELS: [&str; 8] = [
    "Given name",
    "Family name",
    "Date of birth",
    "Address",
    "Address › Street",
    "Address › Locality",
    "Address › Country",
    "Nationalities",
];

/// Wallet-initiated: the wallet asks for the PID, the holder signs in and
/// approves in Chromium, the wallet stores a verified, holder-bound credential
/// with a refresh grant, and refreshing it works.
#[tokio::test]
async fn wallet_receives_a_credential_through_the_browser() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let holder = WalletHome::new();
    let wallet = holder.wallet(&issuer);
    let driver = ChromeDriver::start().await;
    let agent = ChromiumAgent::new(driver.session().await, Decision::Approve, true).await;

    let info = avow_wallet::issuer::discover(wallet.client(), &issuer.url)
        .await
        .expect("discover the issuer");
    let received = wallet
        .authorize_and_receive(Arc::new(info), &[PID.to_owned()], None, &agent)
        .await
        .expect("the authorization code flow ends with a credential");

    // The browser came back to the wallet with code, state and iss (RFC 9207).
    let callback = agent.callback();
    let query = query_of(&callback);
    assert!(query.iter().any(|(k, v)| k == "code" && !v.is_empty()));
    assert!(query.iter().any(|(k, v)| k == "state" && !v.is_empty()));
    assert!(
        query.iter().any(|(k, v)| k == "iss" && *v == issuer.url),
        "{callback}"
    );
    assert!(!query.iter().any(|(k, _)| k == "error"), "{callback}");

    let credential = assert_one_stored(&issuer, &wallet, &received);
    let grant = credential
        .stored
        .grant
        .clone()
        .expect("the code flow's credential carries a refresh grant");
    assert!(!grant.refresh_token.is_empty());
    assert_eq!(grant.client_id, CLIENT_ID);

    // Refresh: the stored refresh token, the same DPoP and instance keys, a
    // fresh credential in the old one's place.
    let refreshed = wallet
        .refresh(&credential.stored.id)
        .await
        .expect("refresh the credential");
    assert_eq!(refreshed.stored.id, credential.stored.id);
    assert_ne!(refreshed.stored.credential, credential.stored.credential);
    let again = assert_one_stored(&issuer, &wallet, std::slice::from_ref(&refreshed));
    assert!(again.stored.grant.is_some(), "the refresh grant is kept");
    agent.browser.close().await;
}

/// Issuer-initiated: an authorization-code offer, previewed by the wallet,
/// its `issuer_state` passed through PAR; the holder approves in Chromium.
#[tokio::test]
async fn wallet_accepts_an_authorization_code_offer_through_the_browser() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let holder = WalletHome::new();
    let wallet = holder.wallet(&issuer);
    let driver = ChromeDriver::start().await;
    let agent = ChromiumAgent::new(driver.session().await, Decision::Approve, false).await;

    let response = issuer
        .create_offer_request(&json!({
            "holder_id": HOLDER,
            "credential_configuration_ids": [PID],
            "grants": ["authorization_code"],
        }))
        .await;
    response.assert_status(201);
    let created: CreatedOffer = serde_json::from_slice(&response.body).expect("created offer");
    let link = &created.links["openid-credential-offer"].by_reference;
    let (offer, info) = wallet.preview(link).await.expect("preview the offer");
    assert_eq!(offer.credential_issuer, issuer.url);
    assert_eq!(offer.credential_configuration_ids, [PID]);
    assert!(
        offer.grants.pre_authorized_code.is_none(),
        "an authorization-code-only offer"
    );
    let issuer_state = offer
        .grants
        .authorization_code
        .as_ref()
        .and_then(|g| g.issuer_state.clone())
        .expect("the offer carries issuer_state");

    let received = wallet
        .authorize_and_receive(
            Arc::new(info),
            &offer.credential_configuration_ids,
            Some(&issuer_state),
            &agent,
        )
        .await
        .expect("the offer's code flow ends with a credential");
    let credential = assert_one_stored(&issuer, &wallet, &received);
    assert!(credential.stored.grant.is_some(), "a refresh grant");
    agent.browser.close().await;
}

/// The holder presses Deny: the wallet gets `access_denied` back through
/// the browser and stores nothing.
#[tokio::test]
async fn holder_denies_in_the_browser_and_the_wallet_stores_nothing() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let holder = WalletHome::new();
    let wallet = holder.wallet(&issuer);
    let driver = ChromeDriver::start().await;
    let agent = ChromiumAgent::new(driver.session().await, Decision::Deny, false).await;

    let info = avow_wallet::issuer::discover(wallet.client(), &issuer.url)
        .await
        .expect("discover the issuer");
    let error = wallet
        .authorize_and_receive(Arc::new(info), &[PID.to_owned()], None, &agent)
        .await
        .expect_err("a denied authorization yields no credential");
    assert!(
        matches!(&error, WalletError::Protocol { error, .. } if error == "access_denied"),
        "a Protocol access_denied error, not {error:?}"
    );
    let callback = agent.callback();
    let query = query_of(&callback);
    assert!(
        query
            .iter()
            .any(|(k, v)| k == "error" && v == "access_denied"),
        "{callback}"
    );
    assert!(!query.iter().any(|(k, _)| k == "code"), "{callback}");
    assert!(
        query.iter().any(|(k, v)| k == "iss" && *v == issuer.url),
        "{callback}"
    );
    assert!(
        wallet.store().list().expect("list").is_empty(),
        "nothing is stored"
    );
    agent.browser.close().await;
}

// ---------------------------------------------------------------- checks

/// Exactly one credential was received and it is the one (and only one) in
/// the store: a PID for Erika that verifies to the dev CA and is bound to
/// the holder key the wallet keeps.
#[track_caller]
fn assert_one_stored<'r>(
    issuer: &TestIssuer,
    wallet: &Wallet,
    received: &'r [ReceivedCredential],
) -> &'r ReceivedCredential {
    assert_eq!(received.len(), 1, "exactly one credential");
    let credential = &received[0];
    let listed = wallet
        .store()
        .list()
        .expect("list the wallet's credentials");
    assert_eq!(
        listed,
        std::slice::from_ref(&credential.stored),
        "stored in the wallet"
    );
    let stored = &listed[0];
    assert_eq!(stored.credential_configuration_id, PID);
    assert_eq!(stored.credential_issuer, issuer.url);
    assert_eq!(stored.issuer_display_name.as_deref(), Some(ISSUER_NAME));
    assert_eq!(
        stored.credential_display_name.as_deref(),
        Some(CREDENTIAL_NAME)
    );

    // The wallet's own validation result …
    let verified = credential.verified.sd_jwt_vc().expect("an SD-JWT VC");
    assert_eq!(verified.vct, "urn:eudi:pid:1");
    assert_eq!(verified.iss, issuer.url);
    assert_eq!(verified.claims["given_name"], "Erika");
    assert_eq!(verified.claims["family_name"], "Mustermann");
    let holder_key = SoftwareSigner::from_pkcs8(
        &avow_crypto::b64::decode(&stored.holder_key_pkcs8).expect("holder key base64"),
    )
    .expect("holder key");
    assert_eq!(
        verified.holder_key.as_ref(),
        Some(holder_key.public_jwk()),
        "cnf binds the stored holder key"
    );
    assert_eq!(
        stored.holder_key_thumbprint,
        holder_key.public_jwk().thumbprint()
    );

    // … and an independent check of what is stored.
    let (again, _) = issuer.verify_credential(&stored.credential);
    assert_eq!(again.vct, "urn:eudi:pid:1");
    assert_eq!(again.claims["given_name"], "Erika");
    assert_eq!(again.holder_key.as_ref(), Some(holder_key.public_jwk()));
    credential
}

fn query_of(url: &str) -> Vec<(String, String)> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    avow_core::percent::parse_query(query).expect("callback query")
}

// ---------------------------------------------------------------- the wallet

/// The wallet's data directory, removed at the end.
struct WalletHome {
    dir: PathBuf,
}

impl WalletHome {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "avow-browser-wallet-{}",
            uuid::Uuid::new_v4().simple()
        ));
        Self { dir }
    }

    /// The real wallet: attested by the issuer's development wallet provider,
    /// trusting the issuer's dev CA, on the test clock.
    fn wallet(&self, issuer: &TestIssuer) -> Wallet {
        let (cert, key) = issuer
            .state
            .client_auth
            .dev_wallet_provider
            .clone()
            .expect("the dev wallet provider of the dev PKI");
        let provider = DevWalletProvider::load(&cert, &key).expect("load the dev wallet provider");
        let options = WalletOptions {
            allow_http_loopback: true,
            trust_anchors: issuer.trust_anchors(),
            clock_skew: 60,
            client_id: CLIENT_ID.into(),
            wia_source: Some(Arc::new(provider)),
            prefer_anonymous: false,
            encryption: None,
        };
        let store = CredentialStore::open(&self.dir).expect("open the credential store");
        Wallet::with_clock(options, store, issuer.clock.clone()).expect("wallet")
    }
}

impl Drop for WalletHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------- the browser as user agent

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Approve,
    Deny,
}

/// The wallet's user agent: Chromium under WebDriver plays the holder, a
/// loopback listener is the redirect_uri.
struct ChromiumAgent {
    browser: Browser,
    listener: TcpListener,
    redirect_uri: String,
    decision: Decision,
    /// Save screenshots of the login and consent pages.
    screenshots: bool,
    /// The callback URL last returned to the wallet.
    callback: Mutex<Option<String>>,
}

impl ChromiumAgent {
    async fn new(browser: Browser, decision: Decision, screenshots: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the redirect listener");
        let port = listener.local_addr().expect("listener addr").port();
        Self {
            browser,
            listener,
            redirect_uri: format!("http://127.0.0.1:{port}/callback"),
            decision,
            screenshots,
            callback: Mutex::new(None),
        }
    }

    fn callback(&self) -> String {
        self.callback
            .lock()
            .expect("callback lock")
            .clone()
            .expect("the agent returned a callback")
    }

    /// The holder's part, keyboard only: sign in, read the consent page,
    /// Tab to the decision, press Enter.
    async fn holder(&self, authorization_url: &str) {
        let browser = &self.browser;
        browser.navigate(authorization_url).await;

        // Login: the username field has the focus; Tab to the password, Enter submits.
        let username = browser.wait_for("#username").await;
        let page = browser.source().await;
        for text in [ISSUER_NAME, CREDENTIAL_NAME, CLIENT_ID, "Sign in"] {
            assert!(page.contains(text), "the login page shows {text}: {page}");
        }
        if self.screenshots {
            browser.save_screenshot("avow-login.png").await;
        }
        assert_eq!(
            browser.active_element().await,
            username,
            "the username field has the focus"
        );
        browser.keys(HOLDER).await;
        browser.keys(TAB).await;
        let password = browser.find("#password").await;
        assert_eq!(
            browser.active_element().await,
            password,
            "Tab moves to the password"
        );
        browser.keys(PASSWORD).await;
        browser.keys(ENTER).await;

        // Consent: the issuer, the credential and its claims.
        let approve = browser.wait_for("#approve").await;
        let deny = browser.find("#deny").await;
        let page = browser.source().await;
        for text in [ISSUER_NAME, CREDENTIAL_NAME, HOLDER, CLIENT_ID]
            .into_iter()
            .chain(CLAIM_LABELS)
        {
            assert!(page.contains(text), "the consent page shows {text}: {page}");
        }
        if self.screenshots {
            browser.save_screenshot("avow-consent.png").await;
        }
        let button = match self.decision {
            Decision::Approve => approve,
            Decision::Deny => deny,
        };
        browser.tab_to(&button).await;
        browser.keys(ENTER).await;
    }

    /// Accepts connections on the redirect listener until the callback
    /// arrives; answers it with a small page and returns its full URL.
    async fn receive_callback(&self) -> Result<String, WalletError> {
        let transport = |e: std::io::Error| WalletError::Transport(e.to_string());
        loop {
            let (mut stream, _) = self.listener.accept().await.map_err(transport)?;
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await.map_err(transport)? {
                    0 => break,
                    n => request.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&request);
            let target = head
                .lines()
                .next()
                .and_then(|line| line.split(' ').nth(1))
                .unwrap_or("")
                .to_owned();
            if !target.starts_with("/callback?") {
                // The favicon and the like.
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    )
                    .await;
                continue;
            }
            let body = "<!DOCTYPE html><title>Wallet</title><p id=\"done\">Back in the wallet.</p>";
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nCache-Control: no-store\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
            let origin = self.redirect_uri.trim_end_matches("/callback");
            return Ok(format!("{origin}{target}"));
        }
    }
}

impl UserAgent for ChromiumAgent {
    fn redirect_uri(&self) -> String {
        self.redirect_uri.clone()
    }

    fn authorize<'a>(&'a self, authorization_url: &'a str) -> AgentFuture<'a> {
        Box::pin(async move {
            // The listener runs alongside the browser: the redirect may
            // arrive while WebDriver is still answering the key press.
            let flow = async {
                let (callback, ()) =
                    tokio::join!(self.receive_callback(), self.holder(authorization_url));
                callback
            };
            let callback = tokio::time::timeout(Duration::from_secs(30), flow)
                .await
                .map_err(|_| {
                    WalletError::Transport(
                        "the browser did not reach the redirect_uri in 30 s".into(),
                    )
                })??;
            // The browser shows the wallet's page at the redirect_uri.
            let url = self.browser.wait_for_url(&self.redirect_uri).await;
            assert_eq!(url, callback, "the browser ends at the callback");
            self.browser.wait_for("#done").await;
            *self.callback.lock().expect("callback lock") = Some(callback.clone());
            Ok(callback)
        })
    }
}
