//! The holder's browser session between the steps of one authorization
//! (authorize → login → consent): a random id in a cookie and a CSRF token
//! in every form, both stored only as hashes (ISS-AUTHZ-11). The session
//! lives in the store, so any instance serves any step.

use crate::state::IssuerState;
use avow_crypto::hash::{constant_time_eq, sha256_b64};
use avow_store::AuthSessionRecord;
use axum::http::HeaderMap;
use axum::http::header::COOKIE;

/// The session cookie; scoped to the authorization endpoint's paths.
pub const COOKIE_NAME: &str = "avow_authorize";

/// `<path of server.public_url>/authorize`: `/authorize`, or e.g.
/// `/issuer/authorize` behind a reverse proxy that serves the issuer under a path.
fn cookie_path(issuer_id: &str) -> String {
    let after_scheme = issuer_id
        .split_once("://")
        .map_or(issuer_id, |(_, rest)| rest);
    let path = after_scheme
        .find('/')
        .and_then(|i| after_scheme.get(i..))
        .unwrap_or("");
    format!("{}/authorize", path.trim_end_matches('/'))
}

/// The raw values handed to the browser when a session starts.
pub struct NewSession {
    pub session_id: String,
    pub csrf_token: String,
    pub record: AuthSessionRecord,
}

/// A fresh session for `request` (a serialized `PushedRequest`).
pub fn new_session(state: &IssuerState, request: serde_json::Value, now: i64) -> NewSession {
    let session_id = state.random.token(32);
    let csrf_token = state.random.token(32);
    let record = AuthSessionRecord {
        session_hash: sha256_b64(session_id.as_bytes()),
        request,
        csrf_hash: sha256_b64(csrf_token.as_bytes()),
        holder_id: None,
        failed_logins: 0,
        created_at: now,
        expires_at: now.saturating_add(state.config.holder_login.session_lifetime),
    };
    NewSession {
        session_id,
        csrf_token,
        record,
    }
}

/// `Secure` everywhere except a dev-mode issuer on plain-http loopback.
fn secure(state: &IssuerState) -> bool {
    !(state.config.server.dev_mode && state.issuer_id.starts_with("http://"))
}

/// The `Set-Cookie` value that starts the session.
pub fn set_cookie(state: &IssuerState, session_id: &str) -> String {
    let lifetime = state.config.holder_login.session_lifetime;
    let secure = if secure(state) { "; Secure" } else { "" };
    let path = cookie_path(&state.issuer_id);
    format!(
        "{COOKIE_NAME}={session_id}; Max-Age={lifetime}; Path={path}; HttpOnly; SameSite=Lax{secure}"
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(state: &IssuerState) -> String {
    let secure = if secure(state) { "; Secure" } else { "" };
    let path = cookie_path(&state.issuer_id);
    format!("{COOKIE_NAME}=; Max-Age=0; Path={path}; HttpOnly; SameSite=Lax{secure}")
}

/// The hash of the session id in the request's cookie, if there is one.
pub fn session_hash(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == COOKIE_NAME && !value.is_empty())
        .map(|(_, value)| sha256_b64(value.trim().as_bytes()))
}

/// Whether `presented` is the session's CSRF token (constant-time compare of hashes).
pub fn csrf_matches(record: &AuthSessionRecord, presented: Option<&str>) -> bool {
    match presented {
        Some(token) if !token.is_empty() => constant_time_eq(
            sha256_b64(token.as_bytes()).as_bytes(),
            record.csrf_hash.as_bytes(),
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn finds_the_session_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=b; avow_authorize=xyz"));
        assert_eq!(session_hash(&headers), Some(sha256_b64(b"xyz")));
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("avow_authorize="));
        assert_eq!(session_hash(&headers), None);
        assert_eq!(session_hash(&HeaderMap::new()), None);
    }

    #[test]
    fn the_cookie_path_follows_the_public_url() {
        assert_eq!(cookie_path("https://issuer.example"), "/authorize");
        assert_eq!(
            cookie_path("https://example.com/issuer"),
            "/issuer/authorize"
        );
        assert_eq!(cookie_path("http://127.0.0.1:8080/"), "/authorize");
    }
}
