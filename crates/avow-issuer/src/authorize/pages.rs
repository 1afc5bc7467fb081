//! The holder-facing HTML pages (askama templates under `templates/`,
//! checked at compile time): login, consent and error. Plain forms, no
//! JavaScript, every input labelled, readable without CSS (ISS-AUTHZ-05, -11).

use crate::config::{ClaimConfig, IssuerConfig};
use crate::error::LoggedErrorCode;
use crate::state::IssuerState;
use askama::Template;
use avow_core::ErrorCode;
use avow_core::metadata::{ClaimDisplay, Display};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// What every page shows around its content.
pub struct Chrome {
    pub lang: String,
    pub issuer_name: String,
    pub logo_uri: Option<String>,
    pub dev_mode: bool,
}

impl Chrome {
    pub fn new(state: &IssuerState) -> Self {
        let display = &state.config.display;
        Self {
            lang: display.locale.clone().unwrap_or_else(|| "en".into()),
            issuer_name: display
                .name
                .clone()
                .unwrap_or_else(|| state.issuer_id.clone()),
            logo_uri: display.logo_uri.clone(),
            dev_mode: state.config.server.dev_mode,
        }
    }
}

/// A requested credential as the holder sees it.
pub struct CredentialView {
    pub name: String,
    /// Claim labels, nested claims as `Parent › Child`.
    pub claims: Vec<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub chrome: &'a Chrome,
    pub client_id: &'a str,
    pub credentials: &'a [CredentialView],
    pub csrf: &'a str,
    /// Absolute URL of `POST /authorize/login` (under `server.public_url`).
    pub action: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub chrome: &'a Chrome,
    pub client_id: &'a str,
    pub holder_id: &'a str,
    pub credentials: &'a [CredentialView],
    pub csrf: &'a str,
    /// Absolute URL of `POST /authorize/consent` (under `server.public_url`).
    pub action: &'a str,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: &'a Chrome,
    error: &'a str,
    description: &'a str,
}

/// The credentials of `configuration_ids` with their claims, in the
/// issuer's display locale.
pub fn credential_views(
    config: &IssuerConfig,
    configuration_ids: &[String],
) -> Vec<CredentialView> {
    let locale = config.display.locale.as_deref();
    configuration_ids
        .iter()
        .map(|id| match config.credential_configurations.get(id) {
            Some(c) => CredentialView {
                name: localized_display(&c.display, locale).unwrap_or_else(|| id.clone()),
                claims: claim_labels(&c.claims, locale),
            },
            None => CredentialView {
                name: id.clone(),
                claims: Vec::new(),
            },
        })
        .collect()
}

/// The display name in `locale`, else one without locale, else the first.
fn localized_display(display: &[Display], locale: Option<&str>) -> Option<String> {
    let named = || display.iter().filter(|d| d.name.is_some());
    named()
        .find(|d| locale.is_some() && d.locale.as_deref() == locale)
        .or_else(|| named().find(|d| d.locale.is_none()))
        .or_else(|| named().next())
        .and_then(|d| d.name.clone())
}

fn localized_claim(display: &[ClaimDisplay], locale: Option<&str>) -> Option<String> {
    let named = || display.iter().filter(|d| d.name.is_some());
    named()
        .find(|d| locale.is_some() && d.locale.as_deref() == locale)
        .or_else(|| named().find(|d| d.locale.is_none()))
        .or_else(|| named().next())
        .and_then(|d| d.name.clone())
}

/// One label per claim: the display names along its path (`Address › Street`);
/// a claim without a name of its own whose parent is listed (array
/// elements, say) is covered by the parent and left out.
fn claim_labels(claims: &[ClaimConfig], locale: Option<&str>) -> Vec<String> {
    let name_of = |path: &[serde_json::Value]| {
        claims
            .iter()
            .find(|c| c.path == path)
            .and_then(|c| localized_claim(&c.display, locale))
    };
    let mut labels = Vec::new();
    for claim in claims {
        let own = localized_claim(&claim.display, locale);
        let parent_listed = claim.path.len() > 1
            && claim
                .path
                .split_last()
                .is_some_and(|(_, parent)| claims.iter().any(|c| c.path == parent));
        if own.is_none() && parent_listed {
            continue;
        }
        let parts: Vec<String> = (1..=claim.path.len())
            .filter_map(|n| {
                let prefix = claim.path.get(..n)?;
                let element = prefix.last()?;
                Some(name_of(prefix).unwrap_or_else(|| path_element(element)))
            })
            .collect();
        labels.push(parts.join(" › "));
    }
    labels
}

fn path_element(element: &serde_json::Value) -> String {
    match element {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "(every element)".into(),
        other => other.to_string(),
    }
}

/// The Content-Security-Policy of the pages. `form_target` adds the origin
/// the forms may end up at through the issuer's redirect (the client's
/// redirect_uri): browsers check `form-action` on redirects too.
pub fn content_security_policy(form_target: Option<&str>) -> String {
    let extra = form_target.map(|t| format!(" {t}")).unwrap_or_default();
    format!(
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; form-action 'self'{extra}; frame-ancestors 'none'"
    )
}

/// A rendered page with the given status.
pub fn html(status: StatusCode, rendered: Result<String, askama::Error>) -> Response {
    match rendered {
        Ok(body) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            let mut response = (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error: the page could not be rendered",
            )
                .into_response();
            response
                .extensions_mut()
                .insert(LoggedErrorCode(ErrorCode::ServerError));
            response
        }
    }
}

/// The error page: no redirect, the error code and what went wrong
/// (ISS-AUTHZ-01, -02). The code is logged with the request (ISS-SEC-10).
pub fn error_page(
    state: &IssuerState,
    status: StatusCode,
    error: ErrorCode,
    description: &str,
) -> Response {
    let chrome = Chrome::new(state);
    let page = ErrorPage {
        chrome: &chrome,
        error: error.as_str(),
        description,
    };
    let mut response = html(status, page.render());
    response.extensions_mut().insert(LoggedErrorCode(error));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_labels_follow_the_configured_names() {
        let config = IssuerConfig::defaults().expect("defaults");
        let views = credential_views(&config, &["pid-sd-jwt".to_owned(), "other".to_owned()]);
        assert_eq!(views.len(), 2);
        let pid = &views[0];
        assert_eq!(pid.name, "Person Identification Data");
        assert!(
            pid.claims.contains(&"Given name".to_owned()),
            "{:?}",
            pid.claims
        );
        assert!(
            pid.claims.contains(&"Address › Street".to_owned()),
            "{:?}",
            pid.claims
        );
        assert!(pid.claims.contains(&"Nationalities".to_owned()));
        assert!(!pid.claims.iter().any(|c| c.contains("every element")));
        assert_eq!(views[1].name, "other");
    }

    #[test]
    fn csp_forbids_framing() {
        let csp = content_security_policy(Some("https://wallet.example"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(csp.contains("form-action 'self' https://wallet.example;"));
    }
}
