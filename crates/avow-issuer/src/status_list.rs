//! Token Status List of the issuer (draft-ietf-oauth-status-list; TSL):
//! a status entry per issued credential and the public list endpoint
//! (ISS-STAT-01 … -05, -07, -08).
//!
//! * [`allocate_status`]: one random, never reused index per credential
//!   (SD-JWT VC now, mdoc through the same call), as the credential's
//!   `status: {status_list: {idx, uri}}` (ISS-STAT-01, -02; HAIP §6.1).
//! * `GET /status-lists/{id}`: the list as a freshly signed Status List
//!   Token, `Content-Type: application/statuslist+jwt`, header `typ:
//!   statuslist+jwt` and the issuer's `x5c` chain (leaf not self-signed,
//!   anchor excluded), claims `sub` (= the URI), `iat`, `exp`, `ttl` and
//!   `status_list {bits, lst, aggregation_uri}` (ISS-STAT-03, -04). When
//!   the request's `Accept` prefers `application/statuslist+cwt` (HTTP
//!   content negotiation, TSL §8.1, §8.2; RFC 9110 §12.5.1) the same URI
//!   answers the token in CWT format (TSL §5.2): COSE_Sign1_Tagged with
//!   protected `alg` ES256, `typ` `application/statuslist+cwt` and the same
//!   chain as `x5chain`, claims 2 (sub), 6 (iat), 4 (exp), 65534 (ttl) and
//!   65533 (status_list). This is the URI mdoc MSOs name (ISS-MDOC-07). The
//!   JWT is the default; an `Accept` that allows neither form is disregarded
//!   and answered with the JWT (RFC 9110 §12.5.1 lets the server choose
//!   between that and 406; TSL §8 asks for no 406). Every
//!   request builds the token from the store, so a status change is in the
//!   very next token (ISS-STAT-06). CORS is open and the body is gzipped
//!   when the client accepts it (ISS-STAT-07, TSL §8.1, §8.2); a `time`
//!   query (historical resolution, TSL §8.4) answers 501.
//! * `GET /status-lists`: the Status List Aggregation `{status_lists: [uri…]}`
//!   (TSL §9.3; ISS-STAT-08), linked from every token's `aggregation_uri`.
//!
//! Configuration: `[status_list]` ([`StatusListConfig`]).

use crate::error::ApiError;
use crate::state::{AppState, IssuerState};
use avow_core::{ErrorCode, ProtocolError};
use avow_crypto::Random;
use avow_formats::status_list::{
    StatusList, StatusListReference, StatusListToken, StatusListTokenFormat,
};
use avow_store::AllocationRandom;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use std::io::Write;

/// The path of the Status List Aggregation; lists live below it.
pub const STATUS_LISTS_PATH: &str = "/status-lists";
/// Largest uncompressed list the configuration accepts: even incompressible
/// (every entry random) its token stays below the JWS size bound of
/// wallets and verifiers (256 KiB, `avow_crypto::jws::MAX_JWS_LEN`).
pub const MAX_LIST_BYTES: u64 = 128 * 1024;

/// `[status_list]`: Token Status Lists (ISS-STAT). Every key is optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusListConfig {
    /// Give every credential a status list entry (ISS-STAT-01).
    pub enabled: bool,
    /// Entries per list; a new list opens when one is full. Larger lists
    /// hide a credential among more others (TSL §12.5, §13.4).
    pub size: u32,
    /// Bits per entry: 2 (VALID, INVALID, SUSPENDED), 4 or 8 (ISS-STAT-04).
    pub bits: u8,
    /// Validity of a Status List Token (`exp` - `iat`), seconds.
    pub token_lifetime: i64,
    /// `ttl` of a Status List Token: how long a consumer may cache it, seconds.
    pub ttl: i64,
    /// Serve the Status List Aggregation and name it in every token (TSL §9).
    pub aggregation: bool,
}

impl Default for StatusListConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            size: 131_072,
            bits: 2,
            token_lifetime: 86_400,
            ttl: 3_600,
            aggregation: true,
        }
    }
}

impl StatusListConfig {
    /// Start-up checks; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.bits, 2 | 4 | 8) {
            return Err(
                "status_list.bits must be 2, 4 or 8 (SUSPENDED needs at least 2 bits)".into(),
            );
        }
        let bytes = (u64::from(self.size) * u64::from(self.bits)).div_ceil(8);
        if self.size == 0 || bytes > MAX_LIST_BYTES {
            return Err(format!(
                "status_list.size must be between 1 and {} entries at {} bits",
                MAX_LIST_BYTES * 8 / u64::from(self.bits),
                self.bits
            ));
        }
        if !(60..=31 * 86_400).contains(&self.token_lifetime) {
            return Err("status_list.token_lifetime must be between 60 seconds and 31 days".into());
        }
        if self.ttl < 1 || self.ttl > self.token_lifetime {
            return Err("status_list.ttl must be between 1 second and token_lifetime".into());
        }
        Ok(())
    }
}

/// The URI of a Status List Token: `<public_url>/status-lists/<id>`.
pub fn status_list_uri(issuer_id: &str, list_id: &str) -> String {
    format!("{issuer_id}{STATUS_LISTS_PATH}/{list_id}")
}

/// The status entry of one credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEntry {
    pub list_id: String,
    pub index: u32,
    /// `{idx, uri}` as the credential carries it.
    pub reference: StatusListReference,
}

impl StatusEntry {
    /// The `status` claim: `{"status_list": {"idx": …, "uri": …}}` (TSL §6.2).
    pub fn claim(&self) -> serde_json::Value {
        self.reference.to_status_claim()
    }
}

/// The issuer's randomness, as the store's allocation needs it.
struct IssuerRandom<'a>(&'a dyn Random);

impl AllocationRandom for IssuerRandom<'_> {
    fn index_below(&self, bound: u32) -> u32 {
        if bound <= 1 {
            return 0;
        }
        // Rejection sampling: uniform over 0 .. bound.
        let zone = u32::MAX - u32::MAX % bound;
        let mut draw = 0;
        for _ in 0..64 {
            let mut bytes = [0u8; 4];
            self.0.fill(&mut bytes);
            draw = u32::from_le_bytes(bytes);
            if draw < zone {
                break;
            }
        }
        draw % bound
    }

    fn new_list_id(&self) -> String {
        self.0.token(12)
    }
}

/// Allocates the status entry of one credential, or `None` when status
/// lists are off (ISS-STAT-01). An entry whose credential is never issued
/// stays VALID and is never handed out again.
pub async fn allocate_status(state: &IssuerState) -> Result<Option<StatusEntry>, ApiError> {
    let config = &state.config.status_list;
    if !config.enabled {
        return Ok(None);
    }
    let allocation = state
        .store
        .allocate_status_index(
            config.bits,
            config.size,
            state.now(),
            &IssuerRandom(state.random.as_ref()),
        )
        .await?;
    let uri = status_list_uri(&state.issuer_id, &allocation.list_id);
    Ok(Some(StatusEntry {
        reference: StatusListReference {
            idx: u64::from(allocation.index),
            uri,
        },
        list_id: allocation.list_id,
        index: allocation.index,
    }))
}

/// The public routes: the lists and their aggregation.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(STATUS_LISTS_PATH, get(get_status_list_aggregation))
        .route(
            &format!("{STATUS_LISTS_PATH}/{{id}}"),
            get(get_status_list_token),
        )
}

fn with_cors(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

fn not_found(description: &str) -> Response {
    with_cors(ApiError::at_as(ProtocolError::new(ErrorCode::NotFound, description)).into_response())
}

fn server_error(what: &str, error: &dyn std::fmt::Display) -> Response {
    tracing::error!(%error, "{what}");
    with_cors(
        ApiError::at_as(ProtocolError::server_error(
            "the status list token could not be built",
        ))
        .into_response(),
    )
}

/// `GET /status-lists/{id}`: the current Status List Token (ISS-STAT-03, -04).
pub async fn get_status_list_token(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    // TSL §8.4: historical resolution is not supported.
    if query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|p| p == "time" || p.starts_with("time=")))
    {
        return with_cors(
            (
                StatusCode::NOT_IMPLEMENTED,
                axum::Json(serde_json::json!({
                    "error": "not_implemented",
                    "error_description": "historical status resolution (time) is not supported"
                })),
            )
                .into_response(),
        );
    }
    let record = match state.store.status_list(&id).await {
        Ok(Some(record)) => record,
        Ok(None) => return not_found("no such status list"),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let values = match state.store.status_list_values(&record.id).await {
        Ok(values) => values,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let size = usize::try_from(record.size).unwrap_or(usize::MAX);
    let mut list = match StatusList::new(record.bits, size) {
        Ok(list) => list,
        Err(e) => return server_error("status list shape", &e),
    };
    for (index, value) in values {
        if let Err(e) = list.set(u64::from(index), value) {
            return server_error("stored status entry does not fit its list", &e);
        }
    }
    let config = &state.config.status_list;
    let now = state.now();
    let token = StatusListToken {
        sub: status_list_uri(&state.issuer_id, &record.id),
        iat: now,
        exp: Some(now.saturating_add(config.token_lifetime)),
        ttl: u64::try_from(config.ttl).ok(),
        status_list: list,
        aggregation_uri: config
            .aggregation
            .then(|| format!("{}{STATUS_LISTS_PATH}", state.issuer_id)),
    };
    let format = negotiate_format(&headers);
    let signer = state.keys.signer.as_ref();
    let signed = match format {
        StatusListTokenFormat::Jwt => token
            .sign(signer, &state.keys.x5c)
            .await
            .map(String::into_bytes),
        StatusListTokenFormat::Cwt => token.sign_cwt(signer, &state.keys.x5c).await,
    };
    let body = match signed {
        Ok(body) => body,
        Err(e) => return server_error("signing the status list token failed", &e),
    };
    let mut response = encoded(&headers, body);
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.media_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("max-age={}", config.ttl)) {
        h.insert(header::CACHE_CONTROL, v);
    }
    with_cors(response)
}

/// The body, gzipped when `Accept-Encoding` allows it (TSL §8.2; ISS-STAT-07).
fn encoded(headers: &HeaderMap, body: Vec<u8>) -> Response {
    let mut response = if accepts_gzip(headers) {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        match encoder.write_all(&body).and_then(|()| encoder.finish()) {
            Ok(gzipped) => {
                let mut response = Response::new(Body::from(gzipped));
                response
                    .headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                response
            }
            Err(_) => Response::new(Body::from(body)),
        }
    } else {
        Response::new(Body::from(body))
    };
    response.headers_mut().insert(
        header::VARY,
        HeaderValue::from_static("accept, accept-encoding"),
    );
    response
}

/// The form of the Status List Token a request asks for (TSL §8.1, §8.2):
/// the CWT when `Accept` gives `application/statuslist+cwt` a higher
/// quality than `application/statuslist+jwt`, the JWT otherwise (no
/// `Accept`, a tie, or neither acceptable). Each media type takes the
/// quality of the most specific range that matches it (`type/subtype`, then
/// `type/*`, then `*/*`; RFC 9110 §12.5.1); parameters other than `q` are
/// ignored.
pub fn negotiate_format(headers: &HeaderMap) -> StatusListTokenFormat {
    let quality = |media_type: &str| -> Option<f32> {
        let (kind, _) = media_type.split_once('/')?;
        let mut best: Option<(u8, f32)> = None;
        for range in headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
        {
            let mut parts = range.split(';');
            let name = parts.next().unwrap_or("").trim();
            let specificity = if name.eq_ignore_ascii_case(media_type) {
                3
            } else if name
                .strip_suffix("/*")
                .is_some_and(|k| k.eq_ignore_ascii_case(kind))
            {
                2
            } else if name == "*/*" {
                1
            } else {
                continue;
            };
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0)
                .clamp(0.0, 1.0);
            if best.is_none_or(|(s, _)| specificity > s) {
                best = Some((specificity, q));
            } else if let Some((s, b)) = best
                && specificity == s
                && q > b
            {
                best = Some((s, q));
            }
        }
        best.map(|(_, q)| q)
    };
    let cwt = quality(StatusListTokenFormat::Cwt.media_type()).unwrap_or(0.0);
    let jwt = quality(StatusListTokenFormat::Jwt.media_type()).unwrap_or(0.0);
    if cwt > 0.0 && cwt > jwt {
        StatusListTokenFormat::Cwt
    } else {
        StatusListTokenFormat::Jwt
    }
}

/// Whether `Accept-Encoding` lists `gzip` (or `x-gzip`, or `*`) with a
/// non-zero quality (RFC 9110 §12.5.3).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let zero_quality = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            !zero_quality
                && ["gzip", "x-gzip", "*"]
                    .iter()
                    .any(|c| coding.eq_ignore_ascii_case(c))
        })
}

/// `GET /status-lists`: the Status List Aggregation (TSL §9.3; ISS-STAT-08).
pub async fn get_status_list_aggregation(State(state): State<AppState>) -> Response {
    if !state.config.status_list.aggregation {
        return not_found("status list aggregation is not offered");
    }
    match state.store.status_lists().await {
        Ok(lists) => {
            let uris: Vec<String> = lists
                .iter()
                .map(|l| status_list_uri(&state.issuer_id, &l.id))
                .collect();
            let mut response =
                axum::Json(serde_json::json!({ "status_lists": uris })).into_response();
            if let Ok(v) =
                HeaderValue::from_str(&format!("max-age={}", state.config.status_list.ttl))
            {
                response.headers_mut().insert(header::CACHE_CONTROL, v);
            }
            with_cors(response)
        }
        Err(e) => with_cors(ApiError::from(e).into_response()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bounds_hold() {
        let config = StatusListConfig::default();
        assert_eq!(config.validate(), Ok(()));
        assert!((config.enabled, config.bits, config.size) == (true, 2, 131_072));
        for bad in [
            StatusListConfig {
                bits: 1,
                ..StatusListConfig::default()
            },
            StatusListConfig {
                bits: 3,
                ..StatusListConfig::default()
            },
            StatusListConfig {
                size: 0,
                ..StatusListConfig::default()
            },
            StatusListConfig {
                size: 524_289,
                ..StatusListConfig::default()
            },
            StatusListConfig {
                ttl: 0,
                ..StatusListConfig::default()
            },
            StatusListConfig {
                ttl: 90_000,
                ..StatusListConfig::default()
            },
            StatusListConfig {
                token_lifetime: 10,
                ..StatusListConfig::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        let largest = StatusListConfig {
            size: 524_288,
            ..StatusListConfig::default()
        };
        assert_eq!(largest.validate(), Ok(()));
    }

    #[test]
    fn gzip_negotiation() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(v) {
                h.insert(header::ACCEPT_ENCODING, v);
            }
            accepts_gzip(&h)
        };
        assert!(with("gzip"));
        assert!(with("br, gzip;q=0.5"));
        assert!(with("GZIP"));
        assert!(with("*"));
        assert!(!with("gzip;q=0"));
        assert!(!with("br, deflate"));
        assert!(!with("identity"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn accept_negotiation() {
        let with = |v: Option<&str>| {
            let mut h = HeaderMap::new();
            if let Some(Ok(v)) = v.map(HeaderValue::from_str) {
                h.insert(header::ACCEPT, v);
            }
            negotiate_format(&h)
        };
        let (jwt, cwt) = (StatusListTokenFormat::Jwt, StatusListTokenFormat::Cwt);
        assert_eq!(with(None), jwt);
        assert_eq!(with(Some("application/statuslist+jwt")), jwt);
        assert_eq!(with(Some("application/statuslist+cwt")), cwt);
        assert_eq!(with(Some("Application/StatusList+CWT")), cwt);
        assert_eq!(
            with(Some("application/statuslist+cwt; q=0.9, */*;q=0.1")),
            cwt
        );
        assert_eq!(
            with(Some(
                "application/statuslist+jwt;q=0.5, application/statuslist+cwt"
            )),
            cwt
        );
        assert_eq!(
            with(Some(
                "application/statuslist+jwt, application/statuslist+cwt;q=0.5"
            )),
            jwt
        );
        // A tie goes to the JWT, the default.
        assert_eq!(
            with(Some(
                "application/statuslist+cwt, application/statuslist+jwt"
            )),
            jwt
        );
        assert_eq!(with(Some("*/*")), jwt);
        assert_eq!(with(Some("application/*")), jwt);
        // The most specific range decides.
        assert_eq!(
            with(Some("application/statuslist+jwt;q=0, application/*")),
            cwt
        );
        assert_eq!(with(Some("application/statuslist+cwt;q=0, */*")), jwt);
        // Neither acceptable: the header is disregarded (RFC 9110 §12.5.1).
        assert_eq!(with(Some("application/json")), jwt);
        assert_eq!(with(Some("application/statuslist+cwt;q=0")), jwt);
    }

    #[test]
    fn uniform_indices_stay_in_range() {
        let random = IssuerRandom(&avow_crypto::SystemRandom);
        for bound in [1u32, 2, 3, 7, 131_072, u32::MAX] {
            for _ in 0..200 {
                assert!(random.index_below(bound) < bound);
            }
        }
        assert_ne!(random.new_list_id(), random.new_list_id());
    }
}
