//! HTTP for the wallet: https only (loopback http in development), bounded
//! response sizes, and the latest DPoP nonce per server (WAL-DPOP-02, WAL-GEN-01, -02).

use crate::error::WalletError;
use avow_core::error::ErrorResponse;
use reqwest::header::HeaderMap;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Largest response body the wallet reads (metadata, offers, credentials).
pub const MAX_RESPONSE: usize = 2 * 1024 * 1024;

#[derive(Debug)]
pub struct HttpClient {
    http: reqwest::Client,
    allow_http_loopback: bool,
    dpop_nonces: Mutex<HashMap<String, String>>,
    attestation_challenges: Mutex<HashMap<String, String>>,
}

/// A response read to the end.
#[derive(Debug)]
pub struct Fetched {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Fetched {
    pub fn content_type(&self) -> Option<&str> {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::trim)
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, WalletError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| WalletError::UnexpectedResponse(format!("invalid JSON: {e}")))
    }

    /// The OAuth error body, or a generic one.
    pub fn error(&self) -> WalletError {
        let parsed: Option<ErrorResponse> = serde_json::from_slice(&self.body).ok();
        let (error, description) = match parsed {
            Some(e) => (e.error, e.error_description.unwrap_or_default()),
            None => {
                // RFC 9449 §7.1: resource servers put the code in WWW-Authenticate.
                let challenge = self
                    .headers
                    .get(reqwest::header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                (
                    challenge_param(challenge, "error").unwrap_or_else(|| "unknown".into()),
                    String::new(),
                )
            }
        };
        WalletError::Protocol {
            status: self.status,
            error,
            description,
        }
    }
}

fn challenge_param(challenge: &str, name: &str) -> Option<String> {
    let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = challenge.get(start..)?;
    Some(rest.get(..rest.find('"')?)?.to_owned())
}

impl HttpClient {
    pub fn new(allow_http_loopback: bool) -> Result<Self, WalletError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::limited(3))
            .https_only(!allow_http_loopback)
            .build()
            .map_err(|e| WalletError::Transport(e.to_string()))?;
        Ok(Self {
            http,
            allow_http_loopback,
            dpop_nonces: Mutex::new(HashMap::new()),
            attestation_challenges: Mutex::new(HashMap::new()),
        })
    }

    /// Refuses anything but https, except loopback http when allowed.
    pub fn check_url(&self, url: &str) -> Result<reqwest::Url, WalletError> {
        let parsed =
            reqwest::Url::parse(url).map_err(|_| WalletError::InsecureUrl(url.to_owned()))?;
        let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        match parsed.scheme() {
            "https" => Ok(parsed),
            "http" if self.allow_http_loopback && loopback => Ok(parsed),
            _ => Err(WalletError::InsecureUrl(url.to_owned())),
        }
    }

    pub fn allows_http_loopback(&self) -> bool {
        self.allow_http_loopback
    }

    pub async fn get(&self, url: &str, accept: &str) -> Result<Fetched, WalletError> {
        let url = self.check_url(url)?;
        let request = self.http.get(url).header(reqwest::header::ACCEPT, accept);
        self.send(request).await
    }

    pub fn post(&self, url: &str) -> Result<reqwest::RequestBuilder, WalletError> {
        Ok(self.http.post(self.check_url(url)?))
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<Fetched, WalletError> {
        let mut response = request
            .send()
            .await
            .map_err(|e| WalletError::Transport(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        if let Some(nonce) = headers.get("dpop-nonce").and_then(|v| v.to_str().ok()) {
            let origin = response.url().origin().ascii_serialization();
            if let Ok(mut nonces) = self.dpop_nonces.lock() {
                nonces.insert(origin, nonce.to_owned());
            }
        }
        // ABCA §6.2: the latest challenge the server handed out, for the next PoP.
        if let Some(challenge) = headers
            .get("oauth-client-attestation-challenge")
            .and_then(|v| v.to_str().ok())
        {
            let origin = response.url().origin().ascii_serialization();
            if let Ok(mut challenges) = self.attestation_challenges.lock() {
                challenges.insert(origin, challenge.to_owned());
            }
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| WalletError::Transport(e.without_url().to_string()))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE {
                return Err(WalletError::UnexpectedResponse("response too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            status,
            headers,
            body,
        })
    }

    /// The latest attestation challenge this server handed out, if any (WAL-ATT-03).
    pub fn attestation_challenge(&self, url: &str) -> Option<String> {
        let origin = reqwest::Url::parse(url)
            .ok()?
            .origin()
            .ascii_serialization();
        self.attestation_challenges
            .lock()
            .ok()?
            .get(&origin)
            .cloned()
    }

    /// The latest DPoP nonce this server handed out, if any.
    pub fn dpop_nonce(&self, url: &str) -> Option<String> {
        let origin = reqwest::Url::parse(url)
            .ok()?
            .origin()
            .ascii_serialization();
        self.dpop_nonces.lock().ok()?.get(&origin).cloned()
    }
}
