//! The authorization endpoint (RFC 6749 §4.1.1, RFC 9126 §4) with the
//! holder's login and consent pages (ISS-AUTHZ-01 … -11):
//!
//! 1. `GET /authorize?client_id=…&request_uri=…` consumes the pushed request
//!    (PAR only, C-20), starts a login session and shows the login page;
//! 2. `POST /authorize/login` authenticates the holder through the
//!    configured [`HolderAuthenticator`] and shows the consent page;
//! 3. `POST /authorize/consent` ends the session and redirects to the
//!    client with a code (approve) or `access_denied` (deny), always with
//!    `state` and `iss` (RFC 9207).
//!
//! Problems before the redirect_uri is trusted (a bad or missing
//! request_uri, a dead session, a wrong CSRF token) end on an error page,
//! never in a redirect.

pub mod holder_auth;
pub mod pages;
pub mod session;

pub use holder_auth::{
    HolderAuthError, HolderAuthenticator, StoreHolderAuthenticator, hash_password,
};

use crate::authorization_grant::{AuthorizationGrant, PushedRequest};
use crate::error::LoggedErrorCode;
use crate::state::{AppState, IssuerState};
use askama::Template;
use avow_core::ErrorCode;
use avow_core::authorization::single_param;
use avow_core::percent;
use avow_crypto::hash::sha256_b64;
use avow_store::{AuthSessionRecord, AuthorizationCodeRecord, ParConsumption};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use pages::{Chrome, ConsentPage, LoginPage, error_page, html};
use serde::Deserialize;

/// The `request_uri` prefix of RFC 9126 §2.2.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// `[holder_login]`: the holder's login session at the authorization endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HolderLoginConfig {
    /// Seconds from `GET /authorize` until the consent decision must be
    /// made (login and consent together); default 600, at most 3600.
    pub session_lifetime: i64,
    /// Failed logins allowed in one session; after that the session is
    /// dead and the holder starts again from the wallet. Default 5.
    pub max_failed_logins: u32,
}

impl Default for HolderLoginConfig {
    fn default() -> Self {
        Self {
            session_lifetime: 600,
            max_failed_logins: 5,
        }
    }
}

impl HolderLoginConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=3600).contains(&self.session_lifetime) {
            return Err("holder_login.session_lifetime must be between 1 and 3600 seconds".into());
        }
        if self.max_failed_logins == 0 {
            return Err("holder_login.max_failed_logins must be at least 1".into());
        }
        Ok(())
    }
}

/// The routes of the authorization endpoint, with the page security headers.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/authorize", get(handle_authorization_request))
        .route("/authorize/login", post(handle_login))
        .route("/authorize/consent", post(handle_consent))
        .layer(axum::middleware::map_response(add_page_headers))
}

/// Framing, caching, referrer and content policy of every page and redirect (ISS-AUTHZ-11).
async fn add_page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY)
        && let Ok(v) = HeaderValue::from_str(&pages::content_security_policy(None))
    {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

// ------------------------------------------------------------------ GET /authorize

/// `GET /authorize`: only pushed requests (ISS-AUTHZ-01, -02, -03; C-20).
async fn handle_authorization_request(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Response {
    let bad = |description: &str| {
        error_page(
            &state,
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            description,
        )
    };
    let params = match query.as_deref().map(percent::parse_query) {
        None => Vec::new(),
        Some(Some(params)) => params,
        Some(None) => return bad("the query string is not valid percent-encoding"),
    };
    let (request_uri, client_id) = match (
        single_param(&params, "request_uri"),
        single_param(&params, "client_id"),
    ) {
        (Ok(r), Ok(c)) => (r, c),
        (Err(e), _) | (_, Err(e)) => return bad(&e.description),
    };
    let Some(request_uri) = request_uri else {
        return bad(
            "request_uri is required: this authorization server accepts only pushed authorization requests (RFC 9126)",
        );
    };
    let Some(client_id) = client_id else {
        return bad("client_id is required");
    };
    if !request_uri.starts_with(REQUEST_URI_PREFIX) {
        return bad("request_uri is not a request_uri issued by the pushed authorization endpoint");
    }
    let now = state.now();
    let consumed = state
        .store
        .consume_par_request(&sha256_b64(request_uri.as_bytes()), &client_id, now)
        .await;
    let record = match consumed {
        Ok(ParConsumption::Consumed(record)) => record,
        Ok(ParConsumption::WrongClient) => {
            return bad("request_uri was pushed by a different client");
        }
        Ok(ParConsumption::Unknown) => {
            return bad("request_uri is unknown, expired or already used");
        }
        Err(e) => return storage_failure(&state, &e),
    };
    let request: PushedRequest = match serde_json::from_value(record.request.clone()) {
        Ok(r) => r,
        Err(e) => return broken_request(&state, &e),
    };
    let session = session::new_session(&state, record.request, now);
    if let Err(e) = state.store.insert_auth_session(&session.record).await {
        return storage_failure(&state, &e);
    }
    tracing::info!(
        client_id = %request.client_id,
        configurations = request.configuration_ids.len(),
        "authorization request accepted; holder login started"
    );
    let mut response = login_page(&state, &request, &session.csrf_token, "", None);
    set_header(
        &mut response,
        header::SET_COOKIE,
        &session::set_cookie(&state, &session.session_id),
    );
    response
}

// ------------------------------------------------------------------ POST /authorize/login

/// `POST /authorize/login` (form: `csrf`, `username`, `password`; ISS-AUTHZ-04).
async fn handle_login(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = match parse_form(&state, &body) {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let (session_hash, _, request) = match open_session(&state, &headers, &form).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let username = field(&form, "username").unwrap_or("").trim();
    let password = field(&form, "password").unwrap_or("");
    let holder = match state
        .holder_authenticator
        .authenticate(username, password)
        .await
    {
        Ok(holder) => holder,
        Err(e) => {
            tracing::error!(error = %e, "holder authentication failed to run");
            return error_page(
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::ServerError,
                "holder authentication is temporarily unavailable",
            );
        }
    };
    let Some(holder_id) = holder else {
        let failures = match state.store.record_failed_login(&session_hash).await {
            Ok(n) => n,
            Err(e) => return storage_failure(&state, &e),
        };
        tracing::info!(failures, "holder login failed");
        if failures >= state.config.holder_login.max_failed_logins {
            return locked_out(&state);
        }
        // The CSRF token stays valid for the next attempt; only its hash is stored.
        let csrf = field(&form, "csrf").unwrap_or("");
        return login_page(
            &state,
            &request,
            csrf,
            username,
            Some("Wrong username or password."),
        );
    };
    if offer_for_another_holder(&request, &holder_id) {
        return match state
            .store
            .consume_auth_session(&session_hash, state.now())
            .await
        {
            Ok(_) => deny_redirect(
                &state,
                &request,
                "the authenticated holder may not use this credential offer",
            ),
            Err(e) => storage_failure(&state, &e),
        };
    }
    match state
        .store
        .set_auth_session_holder(&session_hash, &holder_id, state.now())
        .await
    {
        Ok(true) => {}
        Ok(false) => return session_gone(&state),
        Err(e) => return storage_failure(&state, &e),
    }
    tracing::info!("holder authenticated; consent requested");
    let csrf = field(&form, "csrf").unwrap_or("");
    let chrome = Chrome::new(&state);
    let credentials = pages::credential_views(&state.config, &request.configuration_ids);
    let action = format!("{}/authorize/consent", state.issuer_id);
    let page = ConsentPage {
        chrome: &chrome,
        client_id: &request.client_id,
        holder_id: &holder_id,
        credentials: &credentials,
        csrf,
        action: &action,
    };
    let mut response = html(StatusCode::OK, page.render());
    set_form_target_csp(&mut response, &request.request.redirect_uri);
    response
}

// ------------------------------------------------------------------ POST /authorize/consent

/// `POST /authorize/consent` (form: `csrf`, `decision` = `approve` | `deny`;
/// ISS-AUTHZ-06, -07, -08, -09). Ends the session (single use).
async fn handle_consent(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match parse_form(&state, &body) {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let (session_hash, record, _) = match open_session(&state, &headers, &form).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let approve = match field(&form, "decision") {
        Some("approve") => true,
        Some("deny") => false,
        _ => {
            return error_page(
                &state,
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidRequest,
                "decision must be approve or deny",
            );
        }
    };
    if record.holder_id.is_none() {
        return error_page(
            &state,
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            "the holder has not signed in in this session",
        );
    }
    let now = state.now();
    let consumed = match state.store.consume_auth_session(&session_hash, now).await {
        Ok(Some(consumed)) => consumed,
        Ok(None) => return session_gone(&state),
        Err(e) => return storage_failure(&state, &e),
    };
    let request: PushedRequest = match serde_json::from_value(consumed.request.clone()) {
        Ok(r) => r,
        Err(e) => return broken_request(&state, &e),
    };
    let Some(holder_id) = consumed.holder_id else {
        return session_gone(&state);
    };
    if offer_for_another_holder(&request, &holder_id) {
        return deny_redirect(
            &state,
            &request,
            "the authenticated holder may not use this credential offer",
        );
    }
    if !approve {
        tracing::info!(client_id = %request.client_id, "holder denied the authorization request");
        return deny_redirect(&state, &request, "the holder denied the request");
    }
    let code = state.random.token(32);
    let grant_id = state.random.token(16);
    let grant = AuthorizationGrant {
        holder_id,
        configuration_ids: request.configuration_ids.clone(),
        authorization_details: request.request.authorization_details.clone(),
        client_id: request.client_id.clone(),
        client_instance_jkt: request.client_instance_jkt.clone(),
        redirect_uri: request.request.redirect_uri.clone(),
        code_challenge: request.request.code_challenge.clone(),
        dpop_jkt: request.dpop_jkt.clone(),
        offer_id: request.offer_id.clone(),
        // The store keeps no login time; consent follows the login within
        // the session lifetime.
        auth_time: now,
    };
    let grant = match serde_json::to_value(&grant) {
        Ok(v) => v,
        Err(e) => return broken_request(&state, &e),
    };
    let record = AuthorizationCodeRecord {
        code_hash: sha256_b64(code.as_bytes()),
        grant_id: grant_id.clone(),
        client_id: request.client_id.clone(),
        grant,
        issued_at: now,
        expires_at: now.saturating_add(state.config.policy.authorization_code_lifetime),
    };
    if let Err(e) = state.store.insert_authorization_code(&record).await {
        return storage_failure(&state, &e);
    }
    tracing::info!(client_id = %request.client_id, grant_id = %grant_id, "authorization code issued");
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = request.request.state.as_deref() {
        params.push(("state", s));
    }
    params.push(("iss", state.issuer_id.as_str()));
    redirect(&state, &request.request.redirect_uri, &params)
}

// ------------------------------------------------------------------ helpers

type Form = Vec<(String, String)>;

/// An `application/x-www-form-urlencoded` body, or the error page.
fn parse_form(state: &IssuerState, body: &[u8]) -> Result<Form, Box<Response>> {
    std::str::from_utf8(body)
        .ok()
        .and_then(percent::parse_query)
        .ok_or_else(|| {
            Box::new(error_page(
                state,
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidRequest,
                "the form is not valid application/x-www-form-urlencoded UTF-8",
            ))
        })
}

/// The first value of a form field.
fn field<'a>(form: &'a Form, name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The live session of the request's cookie, its CSRF token checked and
/// not locked out: `(session hash, record, pushed request)`.
async fn open_session(
    state: &IssuerState,
    headers: &HeaderMap,
    form: &Form,
) -> Result<(String, AuthSessionRecord, PushedRequest), Response> {
    let Some(session_hash) = session::session_hash(headers) else {
        return Err(error_page(
            state,
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            "no authorization session: cookies must be enabled; start again from your wallet",
        ));
    };
    let record = match state.store.auth_session(&session_hash, state.now()).await {
        Ok(Some(record)) => record,
        Ok(None) => return Err(session_gone(state)),
        Err(e) => return Err(storage_failure(state, &e)),
    };
    if !session::csrf_matches(&record, field(form, "csrf")) {
        return Err(error_page(
            state,
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            "the form's CSRF token is missing or wrong; start again from your wallet",
        ));
    }
    if record.failed_logins >= state.config.holder_login.max_failed_logins {
        return Err(locked_out(state));
    }
    let request =
        serde_json::from_value(record.request.clone()).map_err(|e| broken_request(state, &e))?;
    Ok((session_hash, record, request))
}

/// ISS-AUTHZ-09: an offer made for one holder cannot be used by another.
fn offer_for_another_holder(request: &PushedRequest, holder_id: &str) -> bool {
    request
        .offer_holder_id
        .as_deref()
        .is_some_and(|h| h != holder_id)
}

fn login_page(
    state: &IssuerState,
    request: &PushedRequest,
    csrf: &str,
    username: &str,
    error: Option<&str>,
) -> Response {
    let chrome = Chrome::new(state);
    let credentials = pages::credential_views(&state.config, &request.configuration_ids);
    let action = format!("{}/authorize/login", state.issuer_id);
    let page = LoginPage {
        chrome: &chrome,
        client_id: &request.client_id,
        credentials: &credentials,
        csrf,
        action: &action,
        username,
        error,
    };
    let mut response = html(StatusCode::OK, page.render());
    set_form_target_csp(&mut response, &request.request.redirect_uri);
    response
}

/// Pages whose forms may end in a redirect to the client name its origin in
/// `form-action` (browsers apply `form-action` to the redirect target too).
fn set_form_target_csp(response: &mut Response, redirect_uri: &str) {
    let csp = pages::content_security_policy(csp_source(redirect_uri).as_deref());
    set_header(response, header::CONTENT_SECURITY_POLICY, &csp);
}

/// The CSP source expression of a redirect URI: its origin for
/// hierarchical URIs (`https://wallet.example:8443`), else its scheme
/// (`com.example.wallet:`). `None` when the URI has no valid scheme.
pub fn csp_source(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once(':')?;
    let mut chars = scheme.chars();
    let valid_scheme = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid_scheme {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.strip_prefix("//").map(|r| {
        let end = r.find(['/', '?', '#']).unwrap_or(r.len());
        let authority = r.get(..end).unwrap_or("");
        authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host)
    });
    match authority {
        Some(a)
            if !a.is_empty()
                && a.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_')
                }) =>
        {
            Some(format!("{scheme}://{}", a.to_ascii_lowercase()))
        }
        _ => Some(format!("{scheme}:")),
    }
}

/// `redirect_uri` with `params` appended to its query (RFC 6749 §4.1.2:
/// existing query components are kept).
pub fn redirect_location(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let base = redirect_uri
        .split_once('#')
        .map_or(redirect_uri, |(b, _)| b);
    let mut out = base.to_owned();
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", percent::encode(k), percent::encode(v)))
        .collect();
    if query.is_empty() {
        return out;
    }
    if !out.contains('?') {
        out.push('?');
    } else if !(out.ends_with('?') || out.ends_with('&')) {
        out.push('&');
    }
    out.push_str(&query.join("&"));
    out
}

/// A `302` to the client that also removes the session cookie.
fn redirect(state: &IssuerState, redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let location = redirect_location(redirect_uri, params);
    let Ok(location) = HeaderValue::from_str(&location) else {
        return error_page(
            state,
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::ServerError,
            "the redirect_uri cannot be used in a Location header",
        );
    };
    let mut response = (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
    set_header(
        &mut response,
        header::SET_COOKIE,
        &session::clear_cookie(state),
    );
    response
}

/// `error=access_denied` with `state` and `iss` (RFC 6749 §4.1.2.1, RFC 9207).
fn deny_redirect(state: &IssuerState, request: &PushedRequest, description: &str) -> Response {
    let mut params = vec![
        ("error", ErrorCode::AccessDenied.as_str()),
        ("error_description", description),
    ];
    if let Some(s) = request.request.state.as_deref() {
        params.push(("state", s));
    }
    params.push(("iss", state.issuer_id.as_str()));
    let mut response = redirect(state, &request.request.redirect_uri, &params);
    response
        .extensions_mut()
        .insert(LoggedErrorCode(ErrorCode::AccessDenied));
    response
}

fn set_header(response: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, v);
    }
}

fn session_gone(state: &IssuerState) -> Response {
    error_page(
        state,
        StatusCode::BAD_REQUEST,
        ErrorCode::InvalidRequest,
        "the authorization session is unknown, expired or already finished; start again from your wallet",
    )
}

fn locked_out(state: &IssuerState) -> Response {
    error_page(
        state,
        StatusCode::FORBIDDEN,
        ErrorCode::AccessDenied,
        "too many failed sign-in attempts; start again from your wallet",
    )
}

fn storage_failure(state: &IssuerState, e: &avow_store::StoreError) -> Response {
    tracing::error!(error = %e, "store failure");
    error_page(
        state,
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::ServerError,
        "temporary storage failure",
    )
}

fn broken_request(state: &IssuerState, e: &serde_json::Error) -> Response {
    tracing::error!(error = %e, "stored authorization request is unreadable");
    error_page(
        state,
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::ServerError,
        "the stored authorization request is unreadable",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_keeps_an_existing_query_and_encodes() {
        let p = [("code", "a b&c"), ("iss", "https://issuer.example")];
        assert_eq!(
            redirect_location("https://w.example/cb", &p),
            "https://w.example/cb?code=a%20b%26c&iss=https%3A%2F%2Fissuer.example"
        );
        assert_eq!(
            redirect_location("https://w.example/cb?x=1", &p[..1]),
            "https://w.example/cb?x=1&code=a%20b%26c"
        );
        assert_eq!(
            redirect_location("https://w.example/cb?", &p[..1]),
            "https://w.example/cb?code=a%20b%26c"
        );
    }

    #[test]
    fn csp_sources() {
        assert_eq!(
            csp_source("https://Wallet.example:8443/cb?x").as_deref(),
            Some("https://wallet.example:8443")
        );
        assert_eq!(
            csp_source("com.example.wallet:/cb").as_deref(),
            Some("com.example.wallet:")
        );
        assert_eq!(
            csp_source("http://u@127.0.0.1:5/cb").as_deref(),
            Some("http://127.0.0.1:5")
        );
        assert_eq!(csp_source("https://a b/").as_deref(), Some("https:"));
        assert_eq!(csp_source("/relative"), None);
    }
}
