//! What the wallet under test sends: an axum layer in front of the reference
//! issuer that keeps every request and response in arrival order (raw, for
//! the checks; redacted only when it goes into a report, see
//! [`Observed::exchange`]), decrypts encrypted credential requests with the
//! reference issuer's key so their proofs can be inspected, and applies the
//! runner's deliberate deviations ([`Deviation`]) for the probes that need
//! the reference issuer to misbehave.

use crate::transcript::Exchange;
use avow_crypto::{Signer, SoftwareSigner};
use avow_issuer::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Largest request or response body the observer buffers.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// Where the runner serves the offers it passes by reference.
pub const OFFER_PATH: &str = "/conformance/offers";

/// One request of the wallet under test and the reference issuer's answer.
#[derive(Debug, Clone)]
pub struct Observed {
    /// Arrival order over the whole run.
    pub seq: u64,
    /// Unix milliseconds at arrival.
    pub at_ms: i64,
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Form fields of an `application/x-www-form-urlencoded` body (after a
    /// deviation, the wallet's original fields).
    pub form: Vec<(String, String)>,
    /// The JSON object of a credential, deferred or notification request,
    /// decrypted when it came as a JWE to the reference issuer's key.
    pub json: Option<Value>,
    pub encrypted: bool,
    pub status: u16,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Bytes,
    /// What the runner changed in this exchange, if anything.
    pub deviation: Option<String>,
}

impl Observed {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn response_header(&self, name: &str) -> Option<&str> {
        self.response_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn form_value(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn response_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.response_body).ok()
    }

    /// `POST /path` with a 2xx answer.
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The exchange as a report keeps it (redacted on the way in).
    pub fn exchange(&self, label: &str) -> Exchange {
        let mut url = self.path.clone();
        if !self.query.is_empty() {
            url.push('?');
            url.push_str(
                &self
                    .query
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("&"),
            );
        }
        let secret_path = self.path.starts_with(OFFER_PATH);
        let mut exchange = Exchange::new(
            label,
            &self.method,
            &url,
            secret_path,
            &self.headers,
            self.header("content-type"),
            &self.body,
            Some((self.status, &self.response_headers, &self.response_body)),
            None,
        );
        if let Some(d) = &self.deviation {
            exchange.label = format!("{label} [runner deviation: {d}]");
        }
        exchange
    }
}

/// A deliberate misbehaviour of the reference issuer for one transaction.
#[derive(Debug, Clone, Default)]
pub enum Deviation {
    #[default]
    None,
    /// Partial `tx_code` enforcement (CONF-C09-02): whatever `tx_code` the
    /// wallet sends at the token endpoint is replaced by the right one.
    AcceptAnyTxCode { value: String },
    /// The credential of a 200 credential response is re-signed by a key the
    /// issuer never published, conveyed as a header `jwk` (CONF-C07-06): a
    /// wallet must not tie it to the issuer.
    ResignWithUnpublishedKey,
}

#[derive(Default)]
struct Log {
    entries: Vec<Observed>,
    next_seq: u64,
}

struct Inner {
    log: Mutex<Log>,
    changed: tokio::sync::Notify,
    deviation: Mutex<Deviation>,
    offers: Mutex<HashMap<String, Value>>,
}

/// The shared observer of one reference issuer.
#[derive(Clone)]
pub struct Observer {
    inner: Arc<Inner>,
    issuer: AppState,
}

impl Observer {
    pub fn new(issuer: AppState) -> Self {
        Self {
            inner: Arc::new(Inner {
                log: Mutex::new(Log::default()),
                changed: tokio::sync::Notify::new(),
                deviation: Mutex::new(Deviation::None),
                offers: Mutex::new(HashMap::new()),
            }),
            issuer,
        }
    }

    /// The sequence number the next request gets.
    pub fn mark(&self) -> u64 {
        self.inner.log.lock().map(|l| l.next_seq).unwrap_or(0)
    }

    /// Everything observed from `from` on.
    pub fn since(&self, from: u64) -> Vec<Observed> {
        self.inner
            .log
            .lock()
            .map(|l| {
                l.entries
                    .iter()
                    .filter(|o| o.seq >= from)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn set_deviation(&self, deviation: Deviation) {
        if let Ok(mut d) = self.inner.deviation.lock() {
            *d = deviation;
        }
    }

    fn deviation(&self) -> Deviation {
        self.inner
            .deviation
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default()
    }

    /// Serves `offer` by reference under a fresh unguessable path; returns the path.
    pub fn publish_offer(&self, id: &str, offer: Value) -> String {
        if let Ok(mut offers) = self.inner.offers.lock() {
            offers.insert(id.to_owned(), offer);
        }
        format!("{OFFER_PATH}/{id}")
    }

    /// Waits until an observation from `from` on satisfies `pred`, at most `limit`.
    pub async fn wait_for(
        &self,
        from: u64,
        limit: Duration,
        pred: impl Fn(&Observed) -> bool,
    ) -> Option<Observed> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let changed = self.inner.changed.notified();
            if let Some(found) = self.since(from).into_iter().find(|o| pred(o)) {
                return Some(found);
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return None;
            }
        }
    }

    fn record(&self, mut observed: Observed) {
        if let Ok(mut log) = self.inner.log.lock() {
            observed.seq = log.next_seq;
            log.next_seq += 1;
            log.entries.push(observed);
        }
        self.inner.changed.notify_waiters();
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
}

/// The request body as JSON: plain, or decrypted with the reference issuer's request key.
fn request_json(issuer: &AppState, headers: &HeaderMap, body: &[u8]) -> (Option<Value>, bool) {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with("application/jwt") {
        return match issuer.encryption.decode_body(headers, body) {
            Ok(decoded) => (Some(decoded.body), true),
            Err(_) => (None, true),
        };
    }
    (serde_json::from_slice(body).ok(), false)
}

/// Serves the offers published by reference (`GET /conformance/offers/{id}`).
fn offer_response(observer: &Observer, path: &str) -> Option<Response> {
    let id = path.strip_prefix(OFFER_PATH)?.strip_prefix('/')?;
    let offer = observer.inner.offers.lock().ok()?.get(id).cloned();
    Some(match offer {
        Some(offer) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            offer.to_string(),
        )
            .into_response(),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    })
}

/// The middleware: record, apply the deviation, answer the runner's own offers.
pub async fn observe(State(observer): State<Observer>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let at_ms = now_ms();
    let path = parts.uri.path().to_owned();
    let method = parts.method.as_str().to_owned();
    let query = parts
        .uri
        .query()
        .and_then(avow_core::percent::parse_query)
        .unwrap_or_default();
    let headers = header_pairs(&parts.headers);
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => Bytes::new(),
    };
    let form = if is_form(&parts.headers) {
        std::str::from_utf8(&body)
            .ok()
            .and_then(avow_core::percent::parse_query)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let (json, encrypted) = if matches!(
        path.as_str(),
        "/credential" | "/deferred_credential" | "/notification"
    ) {
        request_json(&observer.issuer, &parts.headers, &body)
    } else {
        (None, false)
    };
    let deviation = observer.deviation();
    let mut deviated = None;
    let mut forwarded = body.clone();
    if let Deviation::AcceptAnyTxCode { value } = &deviation
        && path == "/token"
        && form.iter().any(|(k, _)| k == "tx_code")
    {
        let replaced: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| {
                if k == "tx_code" {
                    (k.clone(), value.clone())
                } else {
                    (k.clone(), v.clone())
                }
            })
            .collect();
        forwarded = Bytes::from(crate::http::form_encode(&replaced));
        if let Ok(len) = HeaderValue::from_str(&forwarded.len().to_string()) {
            parts.headers.insert(header::CONTENT_LENGTH, len);
        }
        deviated = Some("tx_code not enforced (replaced by the issued one)".to_owned());
    }
    let response = match offer_response(&observer, &path) {
        Some(r) if parts.method == axum::http::Method::GET => r,
        _ => {
            next.run(Request::from_parts(parts, Body::from(forwarded)))
                .await
        }
    };
    let (mut response_parts, response_body) = response.into_parts();
    let mut response_body = axum::body::to_bytes(response_body, MAX_BODY)
        .await
        .unwrap_or_default();
    if matches!(deviation, Deviation::ResignWithUnpublishedKey)
        && path == "/credential"
        && response_parts.status.as_u16() == 200
        && let Some(resigned) = resign_credentials(&response_body).await
    {
        response_body = Bytes::from(resigned);
        if let Ok(len) = HeaderValue::from_str(&response_body.len().to_string()) {
            response_parts.headers.insert(header::CONTENT_LENGTH, len);
        }
        deviated = Some("credential re-signed with an unpublished key".to_owned());
    }
    observer.record(Observed {
        seq: 0,
        at_ms,
        method,
        path,
        query,
        headers,
        body,
        form,
        json,
        encrypted,
        status: response_parts.status.as_u16(),
        response_headers: header_pairs(&response_parts.headers),
        response_body: response_body.clone(),
        deviation: deviated,
    });
    Response::from_parts(response_parts, Body::from(response_body))
}

/// Re-signs every SD-JWT VC of a plain JSON credential response with a fresh
/// key in the header `jwk` (and no `x5c`/`kid`), keeping claims and disclosures.
async fn resign_credentials(body: &[u8]) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(body).ok()?;
    let rogue = SoftwareSigner::generate().ok()?;
    let credentials = value.get_mut("credentials")?.as_array_mut()?;
    for entry in credentials {
        let credential = entry.get_mut("credential")?;
        let text = credential.as_str()?.to_owned();
        let (jwt, rest) = text.split_once('~')?;
        let parsed = avow_crypto::CompactJws::parse(jwt).ok()?;
        let mut header = parsed.header().clone();
        header.remove("x5c");
        header.remove("kid");
        header.insert("jwk".into(), rogue.public_jwk().to_json());
        let signed = avow_crypto::jws::sign_compact(&rogue, header, parsed.payload())
            .await
            .ok()?;
        *credential = Value::String(format!("{signed}~{rest}"));
    }
    serde_json::to_vec(&value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use avow_crypto::{AlgorithmAllowList, CompactJws, EcPublicJwk};

    #[test]
    fn a_replaced_form_keeps_every_other_field_byte_for_byte() {
        let pairs = vec![
            (
                "grant_type".to_owned(),
                avow_core::offer::PRE_AUTHORIZED_CODE_GRANT.to_owned(),
            ),
            ("tx_code".to_owned(), "12 34&=".to_owned()),
        ];
        let encoded = crate::http::form_encode(&pairs);
        assert_eq!(avow_core::percent::parse_query(&encoded), Some(pairs));
    }

    #[tokio::test]
    async fn resigning_keeps_claims_and_disclosures_but_not_the_issuer_key() {
        let issuer = SoftwareSigner::generate().expect("key");
        let mut header = serde_json::Map::new();
        header.insert("typ".into(), Value::String("dc+sd-jwt".into()));
        header.insert("x5c".into(), serde_json::json!(["MIIB"]));
        let payload = br#"{"iss":"https://issuer.example","vct":"urn:eudi:pid:1"}"#;
        let jwt = avow_crypto::jws::sign_compact(&issuer, header, payload)
            .await
            .expect("sign");
        let body = serde_json::json!({
            "credentials": [{"credential": format!("{jwt}~WyJzYWx0IiwiYSIsMV0~")}],
            "notification_id": "n-1"
        });
        let out = resign_credentials(body.to_string().as_bytes())
            .await
            .expect("re-signed");
        let out: Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(out["notification_id"], "n-1");
        let credential = out["credentials"][0]["credential"]
            .as_str()
            .expect("string");
        let (resigned, rest) = credential.split_once('~').expect("SD-JWT");
        assert_eq!(rest, "WyJzYWx0IiwiYSIsMV0~", "disclosures kept");
        let parsed = CompactJws::parse(resigned).expect("JWS");
        assert_eq!(parsed.payload(), payload, "claims kept");
        assert!(parsed.header().get("x5c").is_none());
        let rogue = EcPublicJwk::from_json(&parsed.header()["jwk"]).expect("jwk");
        assert!(parsed.verify(&rogue, &AlgorithmAllowList::es256()).is_ok());
        assert!(
            parsed
                .verify(issuer.public_jwk(), &AlgorithmAllowList::es256())
                .is_err(),
            "no longer the issuer's signature"
        );
    }
}
