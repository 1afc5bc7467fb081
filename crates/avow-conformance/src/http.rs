//! The runner's HTTP: every request is described as a [`Request`] value, so
//! it can be recorded exactly as sent (redacted, [`crate::transcript`]);
//! redirects are never followed automatically (the login interpreter and the
//! probes look at them); response bodies are bounded.

use crate::error::ConformanceError;
use crate::transcript::{Exchange, Recorder};
use serde_json::Value;
use std::time::Duration;

/// Largest response body read.
pub const MAX_RESPONSE: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone)]
pub enum Body {
    None,
    Form(Vec<(String, String)>),
    Json(Value),
    Raw {
        content_type: String,
        bytes: Vec<u8>,
    },
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// The URL path is itself a secret (offer URIs).
    pub secret_path: bool,
}

impl Request {
    pub fn get(url: &str) -> Self {
        Self {
            method: "GET".into(),
            url: url.to_owned(),
            headers: Vec::new(),
            body: Body::None,
            secret_path: false,
        }
    }

    pub fn post(url: &str, body: Body) -> Self {
        Self {
            method: "POST".into(),
            url: url.to_owned(),
            headers: Vec::new(),
            body,
            secret_path: false,
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub fn secret_path(mut self) -> Self {
        self.secret_path = true;
        self
    }
}

/// A response read to the end. Header names are lower case.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated header (`Set-Cookie`).
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
            .and_then(|c| c.split(';').next())
            .map(str::trim)
    }

    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The OAuth `error` code: from the JSON body, else from a
    /// `WWW-Authenticate` challenge (RFC 6750 §3, RFC 9449 §7.1).
    pub fn error_code(&self) -> Option<String> {
        if let Some(code) = self
            .json()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
        {
            return Some(code);
        }
        let challenge = self.header("www-authenticate")?;
        let start = challenge.find("error=\"")? + 7;
        let rest = challenge.get(start..)?;
        Some(rest.get(..rest.find('"')?)?.to_owned())
    }

    /// `HTTP 400 invalid_proof (description)`, for observations.
    pub fn describe(&self) -> String {
        let description = self
            .json()
            .and_then(|v| {
                v.get("error_description")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        match self.error_code() {
            Some(code) => format!("HTTP {} {code}{description}", self.status),
            None => format!("HTTP {}", self.status),
        }
    }
}

/// The HTTP client of the runner.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    allow_http_loopback: bool,
}

impl Http {
    pub fn new(allow_http_loopback: bool) -> Result<Self, ConformanceError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConformanceError::Transport(e.to_string()))?;
        Ok(Self {
            client,
            allow_http_loopback,
        })
    }

    pub fn allows_http_loopback(&self) -> bool {
        self.allow_http_loopback
    }

    /// https, or http on a loopback host when allowed (development).
    pub fn check_url(&self, url: &str) -> Result<reqwest::Url, ConformanceError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|_| ConformanceError::Unexpected(format!("not a URL: {url}")))?;
        let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        match parsed.scheme() {
            "https" => Ok(parsed),
            "http" if self.allow_http_loopback && loopback => Ok(parsed),
            _ => Err(ConformanceError::Unexpected(format!(
                "refused URL {url}: only https (or http on loopback with --allow-http-loopback)"
            ))),
        }
    }

    /// Sends `request`, records it under `label`, and reads the response.
    pub async fn send(
        &self,
        recorder: &Recorder,
        label: &str,
        request: Request,
    ) -> Result<Response, ConformanceError> {
        let (content_type, bytes) = match &request.body {
            Body::None => (None, Vec::new()),
            Body::Form(pairs) => (
                Some("application/x-www-form-urlencoded".to_owned()),
                form_encode(pairs).into_bytes(),
            ),
            Body::Json(v) => (
                Some("application/json".to_owned()),
                serde_json::to_vec(v).map_err(|e| ConformanceError::unexpected(e.to_string()))?,
            ),
            Body::Raw {
                content_type,
                bytes,
            } => (Some(content_type.clone()), bytes.clone()),
        };
        let mut headers = request.headers.clone();
        if let Some(ct) = &content_type
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            headers.push(("Content-Type".into(), ct.clone()));
        }
        let record = |response: Option<&Response>, error: Option<String>| {
            let response_headers = response.map(|r| r.headers.clone()).unwrap_or_default();
            recorder.push(Exchange::new(
                label,
                &request.method,
                &request.url,
                request.secret_path,
                &headers,
                content_type.as_deref(),
                &bytes,
                response.map(|r| (r.status, response_headers.as_slice(), r.body.as_slice())),
                error,
            ));
        };
        let url = match self.check_url(&request.url) {
            Ok(u) => u,
            Err(e) => {
                record(None, Some(e.to_string()));
                return Err(e);
            }
        };
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|e| ConformanceError::unexpected(e.to_string()))?;
        let mut builder = self.client.request(method, url);
        for (k, v) in &headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        if !bytes.is_empty() {
            builder = builder.body(bytes.clone());
        }
        let result = read(builder).await;
        match result {
            Ok(response) => {
                record(Some(&response), None);
                Ok(response)
            }
            Err(e) => {
                record(None, Some(e.to_string()));
                Err(e)
            }
        }
    }
}

async fn read(builder: reqwest::RequestBuilder) -> Result<Response, ConformanceError> {
    let mut response = builder
        .send()
        .await
        .map_err(|e| ConformanceError::Transport(e.without_url().to_string()))?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_owned())))
        .collect();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ConformanceError::Transport(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE {
            return Err(ConformanceError::unexpected("response too large"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// `application/x-www-form-urlencoded` encoding.
pub fn form_encode(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                avow_core::percent::encode(k),
                avow_core::percent::encode(v)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The query parameters of a URL.
pub fn query_params(url: &str) -> Vec<(String, String)> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    let query = query.split('#').next().unwrap_or("");
    avow_core::percent::parse_query(query).unwrap_or_default()
}

pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
