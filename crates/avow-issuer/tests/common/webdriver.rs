//! A minimal W3C WebDriver client for the browser tests: a chromedriver
//! process driving headless Debian Chromium, spoken to over HTTP with
//! reqwest. Included by each browser test with
//! `#[path = "common/webdriver.rs"] mod webdriver;`.
//!
//! Needs Debian's `chromium` and `chromium-driver`; without them the tests
//! fail with an install hint (they never skip).

// Each browser test uses a different part of the client.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C WebDriver element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// WebDriver key codes.
pub const TAB: &str = "\u{E004}";
pub const ENTER: &str = "\u{E007}";

/// Fails (never skips) when Chromium or chromedriver is missing.
pub fn require_chromium() {
    for binary in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(binary).exists(),
            "{binary} is missing: install Debian's chromium and chromium-driver \
             (apt-get install -y chromium chromium-driver) to run the browser tests"
        );
    }
}

/// `CARGO_TARGET_DIR` (the parent of the integration tests' tmp dir).
pub fn target_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).to_path_buf()
}

/// A chromedriver process on a free loopback port, killed on drop.
pub struct ChromeDriver {
    child: Child,
    url: String,
    http: reqwest::Client,
    profile: PathBuf,
}

impl ChromeDriver {
    pub async fn start() -> Self {
        require_chromium();
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

    /// A new session: one headless Chromium on a fresh profile.
    pub async fn session(&self) -> Browser {
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
            .unwrap_or_else(|| panic!("no WebDriver session: {value}"));
        Browser {
            session: format!("{}/session/{id}", self.url),
            http: self.http.clone(),
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// One WebDriver session (one browser). Valid while its [`ChromeDriver`] lives.
pub struct Browser {
    /// `<driver>/session/<id>`.
    session: String,
    http: reqwest::Client,
}

impl Browser {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.session);
        let mut request = self.http.request(method.clone(), &url);
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

    pub async fn navigate(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    pub async fn current_url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits (up to 20 s) until the browser's URL starts with `prefix`.
    pub async fn wait_for_url(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let url = self.current_url().await;
            if url.starts_with(prefix) {
                return url;
            }
            assert!(
                Instant::now() < deadline,
                "the browser did not reach {prefix} in 20 s; it is at {url}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn find(&self, css: &str) -> String {
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
    pub async fn wait_for(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let response = self
                .http
                .post(format!("{}/element", self.session))
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
    pub async fn type_into(&self, element: &str, text: &str) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Presses and releases each key of `keys` at whatever has focus.
    pub async fn keys(&self, keys: &str) {
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

    pub async fn active_element(&self) -> String {
        let value = self
            .call(reqwest::Method::GET, "/element/active", None)
            .await;
        value[ELEMENT].as_str().unwrap_or_default().to_owned()
    }

    /// Moves the focus with Tab (at most ten presses) until `element` has
    /// it: the way a keyboard user reaches a control.
    pub async fn tab_to(&self, element: &str) {
        for _ in 0..10 {
            self.keys(TAB).await;
            if self.active_element().await == element {
                return;
            }
        }
        panic!("element {element} is not reachable with Tab");
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        let value = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let b64 = value.as_str().expect("base64 screenshot");
        let png = avow_crypto::b64::decode_standard(b64).expect("standard base64 screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        png
    }

    /// Saves a screenshot as `<target dir>/<name>` and returns the path.
    pub async fn save_screenshot(&self, name: &str) -> PathBuf {
        let png = self.screenshot().await;
        let path = target_dir().join(name);
        std::fs::write(&path, &png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        eprintln!("screenshot: {}", path.display());
        path
    }

    pub async fn close(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}
