//! The status of wallet-provider attestations: a Wallet Instance
//! Attestation (client attestation, VCI App. E) or a key attestation (WUA,
//! VCI App. D.1) that carries `status: {status_list: {idx, uri}}` (TSL
//! §6.2) is checked against its Status List Token (TSL §8.3) when
//! `[client_authentication] check_status` is on (ISS-CATT-10, ISS-KATT-09).
//!
//! * The token is fetched from `uri` over HTTPS (plain `http` only to a
//!   loopback host in `server.dev_mode`) with `Accept:
//!   application/statuslist+jwt` (TSL §8.1), within [`FETCH_TIMEOUT`],
//!   following at most [`MAX_REDIRECTS`] redirects (TSL §11.4), reading at
//!   most [`MAX_TOKEN_LEN`] bytes.
//! * It must be a Status List Token in JWT format (TSL §5.1) whose `x5c`
//!   chain validates to the configured wallet-provider trust anchors (the
//!   anchors of the attestations themselves; TSL §11.3), signed ES256, with
//!   `sub` = `uri`, `exp` not passed and `iat` not in the future (TSL §8.3
//!   steps 3 and 4).
//! * Verified lists are cached per `uri` (at most [`MAX_CACHED_LISTS`]
//!   entries) until `ttl` passes (TSL §8.3 step 4d, §13.7), and never beyond
//!   `exp` or [`MAX_CACHE_SECONDS`] (TSL §11.5: bounds on `ttl`); a token
//!   without `ttl` is kept [`DEFAULT_CACHE_SECONDS`]. A busy issuer thus
//!   fetches each list about once per `ttl`, not per request.
//! * Fail closed: an attestation whose status cannot be established (list
//!   unreachable, token invalid, index outside the list) is refused, as is
//!   one whose status is not VALID (TSL §8.3: "If any of these checks
//!   fails, no statement about the status of the Referenced Token can be
//!   made and the Referenced Token SHOULD be rejected").
//!
//! The callers map a refusal to the exact error of their endpoint: `401
//! invalid_client` for a WIA, `400 invalid_proof` for a key attestation.

use crate::state::IssuerState;
use avow_crypto::x509::TrustAnchors;
use avow_crypto::{AlgorithmAllowList, CompactJws};
use avow_formats::status_list::{
    MAX_STATUS_LIST_BYTES, STATUS_LIST_MEDIA_TYPE, StatusList, StatusListReference, StatusType,
    TokenExpectations, verify_status_list_token,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Longest time one status list fetch may take, connection included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest time to establish the connection of a fetch.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Redirects followed at most (TSL §11.4, RFC 9110 §15.4).
pub const MAX_REDIRECTS: usize = 3;
/// Largest Status List Token read: the JWS bound of `avow_crypto`.
pub const MAX_TOKEN_LEN: usize = avow_crypto::jws::MAX_JWS_LEN;
/// Most status lists kept in the cache at once.
pub const MAX_CACHED_LISTS: usize = 256;
/// How long a token without `ttl` is kept, seconds.
pub const DEFAULT_CACHE_SECONDS: i64 = 300;
/// Upper bound on the caching time a token's `ttl` may ask for, seconds
/// (TSL §11.5: consumers bound `ttl`).
pub const MAX_CACHE_SECONDS: i64 = 86_400;

/// Why an attestation's status check refused it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusRejection {
    /// The entry is not VALID (INVALID, SUSPENDED or another value; TSL §7.1).
    #[error("its status is {0}")]
    NotValid(StatusType),
    /// No statement about the status can be made (TSL §8.3): the claim is
    /// malformed, the list unreachable or not valid, or the index outside it.
    #[error("its status cannot be established: {0}")]
    Unverifiable(String),
}

/// One verified list and until when it may be used.
struct Cached {
    list: Arc<StatusList>,
    fresh_until: i64,
}

/// The HTTP client and the cache of wallet-provider status lists; cheap
/// to clone (shared).
#[derive(Clone, Default)]
pub struct AttestationStatusLists {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Built on first use; a build failure makes every check fail closed.
    http: OnceLock<Result<reqwest::Client, String>>,
    cache: Mutex<HashMap<String, Cached>>,
}

impl std::fmt::Debug for AttestationStatusLists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cached = self.inner.cache.lock().map(|c| c.len()).unwrap_or(0);
        f.debug_struct("AttestationStatusLists")
            .field("cached", &cached)
            .finish()
    }
}

/// What a fetch needs besides the URI.
struct FetchContext<'a> {
    anchors: &'a TrustAnchors,
    now: i64,
    skew: i64,
    allow_http_loopback: bool,
}

fn is_loopback(url: &reqwest::Url) -> bool {
    matches!(
        url.host_str(),
        Some("127.0.0.1" | "localhost" | "[::1]" | "::1")
    )
}

impl AttestationStatusLists {
    fn http(&self) -> Result<&reqwest::Client, String> {
        self.inner
            .http
            .get_or_init(|| {
                reqwest::Client::builder()
                    .timeout(FETCH_TIMEOUT)
                    .connect_timeout(CONNECT_TIMEOUT)
                    .redirect(reqwest::redirect::Policy::custom(|attempt| {
                        if attempt.previous().len() >= MAX_REDIRECTS {
                            attempt.error("too many redirects")
                        } else if attempt.url().scheme() == "https"
                            || (attempt.previous().iter().all(is_loopback)
                                && is_loopback(attempt.url()))
                        {
                            attempt.follow()
                        } else {
                            attempt.error("a redirect leaves https")
                        }
                    }))
                    .build()
                    .map_err(|e| format!("the HTTP client cannot be built: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The cached list of `uri`, if still fresh at `now`.
    fn cached(&self, uri: &str, now: i64) -> Option<Arc<StatusList>> {
        let cache = self.inner.cache.lock().ok()?;
        cache
            .get(uri)
            .filter(|c| c.fresh_until > now)
            .map(|c| c.list.clone())
    }

    fn remember(&self, uri: &str, list: Arc<StatusList>, fresh_until: i64, now: i64) {
        let Ok(mut cache) = self.inner.cache.lock() else {
            return;
        };
        if cache.len() >= MAX_CACHED_LISTS && !cache.contains_key(uri) {
            cache.retain(|_, c| c.fresh_until > now);
        }
        if cache.len() >= MAX_CACHED_LISTS && !cache.contains_key(uri) {
            // Still full of fresh lists: drop the one that expires first.
            let first = cache
                .iter()
                .min_by_key(|(_, c)| c.fresh_until)
                .map(|(k, _)| k.clone());
            if let Some(first) = first {
                cache.remove(&first);
            }
        }
        cache.insert(uri.to_owned(), Cached { list, fresh_until });
    }

    /// The verified list at `uri`: from the cache while fresh, else fetched
    /// and verified (TSL §8.3 steps 2 to 5).
    async fn list(&self, uri: &str, ctx: &FetchContext<'_>) -> Result<Arc<StatusList>, String> {
        if let Some(list) = self.cached(uri, ctx.now) {
            return Ok(list);
        }
        let body = self.fetch(uri, ctx).await?;
        let text = std::str::from_utf8(&body)
            .map_err(|_| "the status list token is not text".to_owned())?;
        let jws = CompactJws::parse(text.trim())
            .map_err(|e| format!("the status list token is not a JWS: {e}"))?;
        let x5c = jws
            .x5c()
            .ok_or_else(|| "the status list token has no x5c header".to_owned())?
            .map_err(|e| format!("the status list token x5c is malformed: {e}"))?;
        let key = ctx.anchors.validate_chain(&x5c, ctx.now).map_err(|e| {
            format!("the status list token x5c does not validate to a trusted wallet provider: {e}")
        })?;
        let token = verify_status_list_token(
            &jws,
            &key,
            &AlgorithmAllowList::es256(),
            &TokenExpectations {
                uri,
                now: ctx.now,
                skew: ctx.skew,
                max_bytes: MAX_STATUS_LIST_BYTES,
            },
        )
        .map_err(|e| format!("the status list token is not valid: {e}"))?;
        let keep = token
            .ttl
            .and_then(|t| i64::try_from(t).ok())
            .unwrap_or(DEFAULT_CACHE_SECONDS)
            .clamp(0, MAX_CACHE_SECONDS);
        let mut fresh_until = ctx.now.saturating_add(keep);
        if let Some(exp) = token.exp {
            fresh_until = fresh_until.min(exp);
        }
        let list = Arc::new(token.status_list);
        self.remember(uri, list.clone(), fresh_until, ctx.now);
        Ok(list)
    }

    /// GETs the token: https (or loopback http in dev mode), 2xx,
    /// `Content-Type: application/statuslist+jwt`, bounded body.
    async fn fetch(&self, uri: &str, ctx: &FetchContext<'_>) -> Result<Vec<u8>, String> {
        let url =
            reqwest::Url::parse(uri).map_err(|_| "the status list uri is not a URL".to_owned())?;
        match url.scheme() {
            "https" => {}
            "http" if ctx.allow_http_loopback && is_loopback(&url) => {}
            _ => return Err("the status list uri is not an https URL".into()),
        }
        let mut response = self
            .http()?
            .get(url)
            .header(reqwest::header::ACCEPT, STATUS_LIST_MEDIA_TYPE)
            .send()
            .await
            .map_err(|e| format!("the status list cannot be fetched: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("the status list answered {}", status.as_u16()));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::trim)
            .unwrap_or("");
        if !content_type.eq_ignore_ascii_case(STATUS_LIST_MEDIA_TYPE) {
            return Err(format!(
                "the status list is not {STATUS_LIST_MEDIA_TYPE} (TSL §8.2)"
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("the status list cannot be read: {e}"))?
        {
            if body.len().saturating_add(chunk.len()) > MAX_TOKEN_LEN {
                return Err(format!(
                    "the status list token exceeds {MAX_TOKEN_LEN} bytes"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Checks the `status` claim of a verified WIA or key attestation (TSL
/// §8.3; ISS-CATT-10, ISS-KATT-09): `Ok` when checking is off
/// (`client_authentication.check_status = false`), when there is no
/// `status`, when `status` names another mechanism only, or when the entry
/// is VALID; otherwise the reason for refusing the attestation.
pub async fn check_attestation_status(
    state: &IssuerState,
    status: Option<&serde_json::Value>,
) -> Result<(), StatusRejection> {
    if !state.config.client_authentication.check_status {
        return Ok(());
    }
    let Some(status) = status else {
        return Ok(());
    };
    // TSL §8.3 step 1.
    let reference = match StatusListReference::from_status_claim(status) {
        Ok(Some(reference)) => reference,
        Ok(None) => return Ok(()),
        Err(e) => return Err(StatusRejection::Unverifiable(e.to_string())),
    };
    let ctx = FetchContext {
        anchors: &state.client_auth.wallet_providers,
        now: state.now(),
        skew: state.config.policy.clock_skew,
        allow_http_loopback: state.config.server.dev_mode,
    };
    let list = state
        .client_auth
        .status_lists
        .list(&reference.uri, &ctx)
        .await
        .map_err(|reason| {
            tracing::warn!(uri = %reference.uri, %reason, "attestation status list refused");
            StatusRejection::Unverifiable(reason)
        })?;
    // TSL §8.3 steps 6 and 7.
    match list.status(reference.idx) {
        None => Err(StatusRejection::Unverifiable(format!(
            "index {} is outside the status list",
            reference.idx
        ))),
        Some(StatusType::Valid) => Ok(()),
        Some(other) => Err(StatusRejection::NotValid(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_is_bounded_and_honours_freshness() {
        let lists = AttestationStatusLists::default();
        let list = Arc::new(StatusList::new(2, 8).unwrap_or_else(|e| panic!("{e}")));
        lists.remember("https://a.example/1", list.clone(), 100, 0);
        assert!(lists.cached("https://a.example/1", 99).is_some());
        assert!(lists.cached("https://a.example/1", 100).is_none());
        for i in 0..(MAX_CACHED_LISTS + 10) {
            let fresh_until = 1_000 + i64::try_from(i).unwrap_or(0);
            lists.remember(
                &format!("https://b.example/{i}"),
                list.clone(),
                fresh_until,
                50,
            );
        }
        let len = lists.inner.cache.lock().map(|c| c.len()).unwrap_or(0);
        assert_eq!(len, MAX_CACHED_LISTS);
        // The entries that expire first went first.
        assert!(lists.cached("https://b.example/0", 60).is_none());
        let last = format!("https://b.example/{}", MAX_CACHED_LISTS + 9);
        assert!(lists.cached(&last, 60).is_some());
    }

    #[test]
    fn loopback_hosts() {
        let url = |u: &str| reqwest::Url::parse(u).unwrap_or_else(|e| panic!("{e}"));
        assert!(is_loopback(&url("http://127.0.0.1:8080/x")));
        assert!(is_loopback(&url("http://localhost/x")));
        assert!(is_loopback(&url("http://[::1]/x")));
        assert!(!is_loopback(&url("http://status.example/x")));
    }
}
