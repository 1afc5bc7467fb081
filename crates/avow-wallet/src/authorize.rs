//! The front-channel step of the authorization-code flow (RFC 6749 §4.1,
//! RFC 9126 §4, RFC 9207; WAL-AUTH-01 … -07): PKCE, the authorization URL,
//! a pluggable user agent that brings the holder through the issuer's pages,
//! and the checks on the callback.

use crate::error::WalletError;
use avow_crypto::Random;
use std::future::Future;
use std::pin::Pin;

pub type AgentFuture<'a> = Pin<Box<dyn Future<Output = Result<String, WalletError>> + Send + 'a>>;

/// Takes the holder through the authorization endpoint and returns the full
/// callback URL the authorization server redirected to.
pub trait UserAgent: Send + Sync {
    /// The redirect URI this agent can receive (sent at PAR).
    fn redirect_uri(&self) -> String;
    fn authorize<'a>(&'a self, authorization_url: &'a str) -> AgentFuture<'a>;
}

/// PKCE values of one flow (RFC 7636 §4.1, §4.2; WAL-AUTH-02).
#[derive(Clone)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    /// 256 random bits → a 43-character verifier; S256 challenge.
    pub fn generate(random: &dyn Random) -> Self {
        let verifier = random.token(32);
        let challenge = avow_crypto::hash::sha256_b64(verifier.as_bytes());
        Self {
            verifier,
            challenge,
        }
    }
}

/// The authorization URL carries only `client_id` and `request_uri` (RFC 9126 §4; WAL-AUTH-06).
pub fn authorization_url(endpoint: &str, client_id: &str, request_uri: &str) -> String {
    let sep = if endpoint.contains('?') { '&' } else { '?' };
    format!(
        "{endpoint}{sep}client_id={}&request_uri={}",
        avow_core::percent::encode(client_id),
        avow_core::percent::encode(request_uri)
    )
}

/// Checks the callback: `state` first, then `iss` (RFC 9207 §2.4), then the
/// outcome (WAL-AUTH-07). Returns the authorization code.
pub fn parse_callback(
    callback: &str,
    expected_state: &str,
    expected_issuer: &str,
) -> Result<String, WalletError> {
    let query = callback.split_once('?').map(|(_, q)| q).unwrap_or("");
    let query = query.split('#').next().unwrap_or("");
    let params = avow_core::percent::parse_query(query)
        .ok_or_else(|| WalletError::UnexpectedResponse("the callback query is malformed".into()))?;
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if get("state") != Some(expected_state) {
        return Err(WalletError::UnexpectedResponse(
            "the callback state does not match; flow aborted".into(),
        ));
    }
    if get("iss") != Some(expected_issuer) {
        return Err(WalletError::UnexpectedResponse(
            "the callback iss is not the authorization server; flow aborted".into(),
        ));
    }
    if let Some(error) = get("error") {
        return Err(WalletError::Protocol {
            status: 302,
            error: error.to_owned(),
            description: get("error_description")
                .unwrap_or("the authorization was not granted")
                .to_owned(),
        });
    }
    get("code")
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            WalletError::UnexpectedResponse("the callback carries neither code nor error".into())
        })
}

/// A user agent for tests and the demo that fills in the issuer's own login
/// and consent forms over HTTP (no browser). It knows Avow's form fields:
/// `csrf`, `username`, `password`, `decision`.
pub struct ScriptedLogin {
    http: reqwest::Client,
    redirect_uri: String,
    username: String,
    password: String,
    approve: bool,
}

impl ScriptedLogin {
    pub fn new(
        redirect_uri: &str,
        username: &str,
        password: &str,
        approve: bool,
    ) -> Result<Self, WalletError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| WalletError::Transport(e.to_string()))?;
        Ok(Self {
            http,
            redirect_uri: redirect_uri.to_owned(),
            username: username.to_owned(),
            password: password.to_owned(),
            approve,
        })
    }

    async fn page(
        &self,
        request: reqwest::RequestBuilder,
        cookie: &mut Option<String>,
    ) -> Result<(u16, Option<String>, String), WalletError> {
        let request = match cookie.as_deref() {
            Some(c) => request.header(reqwest::header::COOKIE, c),
            None => request,
        };
        let response = request
            .send()
            .await
            .map_err(|e| WalletError::Transport(e.without_url().to_string()))?;
        if let Some(set) = response
            .headers()
            .get(reqwest::header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
        {
            *cookie = set.split(';').next().map(str::to_owned);
        }
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .text()
            .await
            .map_err(|e| WalletError::Transport(e.without_url().to_string()))?;
        Ok((status, location, body))
    }
}

/// The `value` of the hidden input named `name` in an HTML page.
pub fn hidden_input(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\"");
    let at = html.find(&marker)?;
    let tag_start = html.get(..at)?.rfind('<')?;
    let tag_end = at + html.get(at..)?.find('>')?;
    let tag = html.get(tag_start..tag_end)?;
    let value_at = tag.find("value=\"")? + 7;
    let rest = tag.get(value_at..)?;
    Some(
        rest.get(..rest.find('"')?)?
            .replace("&amp;", "&")
            .replace("&quot;", "\""),
    )
}

/// The `action` of the first form in a page, resolved against `base`.
fn form_action(html: &str, base: &str) -> Option<String> {
    let at = html.find("<form")?;
    let tag = html.get(at..at + html.get(at..)?.find('>')?)?;
    let value_at = tag.find("action=\"")? + 8;
    let rest = tag.get(value_at..)?;
    let action = rest.get(..rest.find('"')?)?.replace("&amp;", "&");
    if action.starts_with("http") {
        return Some(action);
    }
    let origin = reqwest::Url::parse(base).ok()?.join(&action).ok()?;
    Some(origin.to_string())
}

impl UserAgent for ScriptedLogin {
    fn redirect_uri(&self) -> String {
        self.redirect_uri.clone()
    }

    fn authorize<'a>(&'a self, authorization_url: &'a str) -> AgentFuture<'a> {
        Box::pin(async move {
            let mut cookie = None;
            let (status, _, login) = self
                .page(self.http.get(authorization_url), &mut cookie)
                .await?;
            if status != 200 {
                return Err(WalletError::UnexpectedResponse(format!(
                    "the authorization endpoint answered {status}"
                )));
            }
            let csrf = hidden_input(&login, "csrf")
                .ok_or_else(|| WalletError::UnexpectedResponse("no login form".into()))?;
            let action = form_action(&login, authorization_url)
                .ok_or_else(|| WalletError::UnexpectedResponse("no login form action".into()))?;
            let form = [
                ("csrf", csrf.as_str()),
                ("username", &self.username),
                ("password", &self.password),
            ];
            let (status, _, consent) = self
                .page(self.http.post(&action).form(&form), &mut cookie)
                .await?;
            let csrf = hidden_input(&consent, "csrf")
                .filter(|_| status == 200 && consent.contains("name=\"decision\""))
                .ok_or_else(|| {
                    WalletError::UnexpectedResponse("login failed: no consent page".into())
                })?;
            let action = form_action(&consent, authorization_url)
                .ok_or_else(|| WalletError::UnexpectedResponse("no consent form action".into()))?;
            let decision = if self.approve { "approve" } else { "deny" };
            let (status, location, _) = self
                .page(
                    self.http
                        .post(&action)
                        .form(&[("csrf", csrf.as_str()), ("decision", decision)]),
                    &mut cookie,
                )
                .await?;
            match (status, location) {
                (302 | 303, Some(location)) => Ok(location),
                (status, _) => Err(WalletError::UnexpectedResponse(format!(
                    "consent answered {status} without a redirect"
                ))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_checks_state_then_iss() {
        let ok = "http://127.0.0.1:1/cb?code=abc&state=s1&iss=https%3A%2F%2Fas.example";
        assert_eq!(
            parse_callback(ok, "s1", "https://as.example")
                .ok()
                .as_deref(),
            Some("abc")
        );
        assert!(parse_callback(ok, "s2", "https://as.example").is_err());
        assert!(parse_callback(ok, "s1", "https://other.example").is_err());
        let denied =
            "http://127.0.0.1:1/cb?error=access_denied&state=s1&iss=https%3A%2F%2Fas.example";
        assert_eq!(
            parse_callback(denied, "s1", "https://as.example")
                .err()
                .and_then(|e| e.protocol_error().map(str::to_owned))
                .as_deref(),
            Some("access_denied")
        );
    }

    #[test]
    fn pkce_is_s256_of_a_43_char_verifier() {
        let p = Pkce::generate(&avow_crypto::SystemRandom);
        assert_eq!(p.verifier.len(), 43);
        assert_eq!(
            p.challenge,
            avow_crypto::hash::sha256_b64(p.verifier.as_bytes())
        );
    }

    #[test]
    fn reads_hidden_inputs_and_actions() {
        let html = r#"<form method="post" action="/authorize/login"><input type="hidden" name="csrf" value="a&amp;b"><input name="username"></form>"#;
        assert_eq!(hidden_input(html, "csrf").as_deref(), Some("a&b"));
        assert_eq!(
            form_action(html, "http://127.0.0.1:9/authorize?x=1").as_deref(),
            Some("http://127.0.0.1:9/authorize/login")
        );
    }
}
