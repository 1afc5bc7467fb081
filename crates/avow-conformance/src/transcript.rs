//! HTTP transcripts of the probes, with every secret redacted before it is
//! stored: tokens, codes, nonces, proofs, attestations, credentials, cookies
//! and passwords become `<redacted:N chars>`, so a report can be shared.
//!
//! Redaction happens when an exchange is recorded ([`Exchange::new`]), never
//! later: an unredacted value never reaches a report.

use serde::Serialize;
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// Headers whose values are always secret.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "dpop",
    "dpop-nonce",
    "cookie",
    "set-cookie",
    "oauth-client-attestation",
    "oauth-client-attestation-pop",
    "oauth-client-attestation-challenge",
];

/// JSON members, form fields and query parameters whose values are secret.
const SECRET_FIELDS: &[&str] = &[
    "access_token",
    "refresh_token",
    "code",
    "pre-authorized_code",
    "tx_code",
    "c_nonce",
    "nonce",
    "code_verifier",
    "code_challenge",
    "password",
    "csrf",
    "request_uri",
    "issuer_state",
    "state",
    "credential",
    "credentials",
    "proof",
    "proofs",
    "jwt",
    "attestation",
    "key_attestation",
    "client_assertion",
    "transaction_id",
    "notification_id",
    "attestation_challenge",
    "credential_offer_uri",
];

/// `<redacted:N chars>`.
pub fn redacted(secret: &str) -> String {
    format!("<redacted:{} chars>", secret.chars().count())
}

fn is_secret_field(name: &str) -> bool {
    SECRET_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(name))
}

/// A compact JWS/JWT or JWE anywhere is treated as a secret.
fn looks_like_jose(text: &str) -> bool {
    text.starts_with("eyJ") && text.matches('.').count() >= 2
}

/// Redacts every string under a secret member, and every JOSE-looking string.
pub fn redact_json(value: &Value) -> Value {
    fn all_strings(value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(redacted(s)),
            Value::Array(a) => Value::Array(a.iter().map(all_strings).collect()),
            Value::Object(o) => {
                Value::Object(o.iter().map(|(k, v)| (k.clone(), all_strings(v))).collect())
            }
            other => other.clone(),
        }
    }
    match value {
        Value::String(s) if looks_like_jose(s) => Value::String(redacted(s)),
        Value::Array(a) => Value::Array(a.iter().map(redact_json).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    let v = if is_secret_field(k) {
                        all_strings(v)
                    } else {
                        redact_json(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Redacts secret pairs of an `application/x-www-form-urlencoded` body or a query.
pub fn redact_pairs(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let v = if is_secret_field(k) || looks_like_jose(v) {
                redacted(v)
            } else if let Ok(json @ Value::Object(_)) = serde_json::from_str::<Value>(v) {
                // An offer by value or authorization_details: keep the shape.
                redact_json(&json).to_string()
            } else {
                v.clone()
            };
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Redacts the secret query parameters of a URL (the rest stays readable).
pub fn redact_url(url: &str) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let Some((path, query)) = base.split_once('?') else {
        return url.to_owned();
    };
    let pairs = avow_core::percent::parse_query(query).unwrap_or_default();
    let mut out = format!("{path}?{}", redact_pairs(&pairs));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(&redacted(f));
    }
    out
}

/// A URL whose path itself is a secret (an offer URI): only the origin stays.
pub fn redact_url_path(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => {
            let origin = parsed.origin().ascii_serialization();
            let rest = url.get(origin.len()..).unwrap_or_default();
            format!("{origin}{}", redacted(rest))
        }
        Err(_) => redacted(url),
    }
}

/// Largest body text kept in a transcript.
const MAX_BODY: usize = 4000;

fn truncate(text: &str) -> String {
    if text.len() <= MAX_BODY {
        return text.to_owned();
    }
    let mut end = MAX_BODY;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… <{} more bytes>", &text[..end], text.len() - end)
}

/// A body as it is kept in the transcript.
pub fn redact_body(content_type: Option<&str>, body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    let ct = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let text = match std::str::from_utf8(body) {
        Ok(t) => t,
        Err(_) => return Some(format!("<binary: {} bytes>", body.len())),
    };
    if (ct.ends_with("json") || (ct.is_empty() && text.trim_start().starts_with(['{', '['])))
        && let Ok(value) = serde_json::from_str::<Value>(text)
    {
        return Some(truncate(&redact_json(&value).to_string()));
    }
    if ct == "application/x-www-form-urlencoded"
        && let Some(pairs) = avow_core::percent::parse_query(text)
    {
        return Some(truncate(&redact_pairs(&pairs)));
    }
    if ct == "text/html" {
        let title = text
            .find("<title>")
            .and_then(|i| {
                let rest = &text[i + 7..];
                rest.find("</title>").map(|j| rest[..j].trim().to_owned())
            })
            .unwrap_or_default();
        return Some(format!(
            "<HTML page \"{title}\": {} bytes, not kept (forms carry secrets)>",
            body.len()
        ));
    }
    if looks_like_jose(text.trim()) {
        return Some(redacted(text.trim()));
    }
    Some(truncate(text))
}

fn redact_header(name: &str, value: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if SECRET_HEADERS.contains(&lower.as_str()) {
        // Keep the scheme of Authorization (it is part of what is checked).
        if lower == "authorization"
            && let Some((scheme, token)) = value.split_once(' ')
        {
            return format!("{scheme} {}", redacted(token));
        }
        return redacted(value);
    }
    if lower == "location" {
        return redact_url(value);
    }
    value.to_owned()
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RecordedResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// One HTTP request and what came back (or why nothing did), redacted.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Exchange {
    /// What the runner meant to do, e.g. "PAR without code_challenge".
    pub label: String,
    pub request: RecordedRequest,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<RecordedResponse>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Status, headers and body of a response to record.
pub type ResponseParts<'a> = (u16, &'a [(String, String)], &'a [u8]);

/// Response headers worth keeping (the rest is noise in a report).
const KEPT_RESPONSE_HEADERS: &[&str] = &[
    "content-type",
    "cache-control",
    "location",
    "www-authenticate",
    "dpop-nonce",
    "set-cookie",
    "oauth-client-attestation-challenge",
];

impl Exchange {
    /// Records an exchange, redacting on the way in. `secret_path` hides the
    /// URL path too (offer URIs, whose path is the secret).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        label: &str,
        method: &str,
        url: &str,
        secret_path: bool,
        request_headers: &[(String, String)],
        request_content_type: Option<&str>,
        request_body: &[u8],
        response: Option<ResponseParts<'_>>,
        error: Option<String>,
    ) -> Self {
        let url = if secret_path {
            redact_url_path(url)
        } else {
            redact_url(url)
        };
        let request = RecordedRequest {
            method: method.to_owned(),
            url,
            headers: request_headers
                .iter()
                .map(|(k, v)| (k.clone(), redact_header(k, v)))
                .collect(),
            body: redact_body(request_content_type, request_body),
        };
        let response = response.map(|(status, headers, body)| {
            let content_type = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| v.as_str());
            RecordedResponse {
                status,
                headers: headers
                    .iter()
                    .filter(|(k, _)| {
                        KEPT_RESPONSE_HEADERS.contains(&k.to_ascii_lowercase().as_str())
                    })
                    .map(|(k, v)| (k.clone(), redact_header(k, v)))
                    .collect(),
                body: redact_body(content_type, body),
            }
        });
        Self {
            label: label.to_owned(),
            request,
            response,
            error,
        }
    }
}

/// Collects the exchanges of one assertion; cheap to clone, so a probe that
/// aborts half-way still leaves what it sent in the report.
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Exchange>>>);

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&self, exchange: Exchange) {
        if let Ok(mut log) = self.0.lock() {
            log.push(exchange);
        }
    }

    pub fn take(&self) -> Vec<Exchange> {
        self.0
            .lock()
            .map(|mut log| std::mem::take(&mut *log))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_in_json_are_redacted_with_their_length() {
        let body = json!({
            "access_token": "abcd",
            "token_type": "DPoP",
            "proofs": { "jwt": ["eyJa.b.c"] },
            "credentials": [{ "credential": "xyz~" }],
            "other": "eyJhbGciOi.e30.sig",
            "error": "invalid_proof",
        });
        let r = redact_json(&body);
        assert_eq!(r["access_token"], "<redacted:4 chars>");
        assert_eq!(r["token_type"], "DPoP");
        assert_eq!(r["proofs"]["jwt"][0], "<redacted:8 chars>");
        assert_eq!(r["credentials"][0]["credential"], "<redacted:4 chars>");
        assert_eq!(r["other"], "<redacted:18 chars>");
        assert_eq!(r["error"], "invalid_proof");
    }

    #[test]
    fn forms_urls_and_headers_are_redacted() {
        let pairs = vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), "secret".to_owned()),
            ("password".to_owned(), "pw".to_owned()),
        ];
        assert_eq!(
            redact_pairs(&pairs),
            "grant_type=authorization_code&code=<redacted:6 chars>&password=<redacted:2 chars>"
        );
        assert_eq!(
            redact_url("http://x/cb?code=abc&state=s&iss=http%3A%2F%2Fi"),
            "http://x/cb?code=<redacted:3 chars>&state=<redacted:1 chars>&iss=http://i"
        );
        assert_eq!(
            redact_url_path("https://i.example/offers/secret-id"),
            "https://i.example<redacted:17 chars>"
        );
        assert_eq!(
            redact_header("Authorization", "DPoP tok"),
            "DPoP <redacted:3 chars>"
        );
        assert_eq!(redact_header("Cookie", "sid=1"), "<redacted:5 chars>");
        assert_eq!(redact_header("Content-Type", "text/plain"), "text/plain");
    }

    #[test]
    fn html_pages_are_summarised() {
        let body = b"<html><title>Sign in</title><input name=csrf value=x></html>";
        let kept = redact_body(Some("text/html; charset=utf-8"), body).unwrap_or_default();
        assert!(kept.contains("Sign in") && !kept.contains("csrf"), "{kept}");
    }
}
