//! Login scripts: the holder's side of the authorization step of a
//! third-party issuer, without a browser (CONF-RUN-05's "login hook").
//!
//! A script is a small declarative TOML file: for each page the holder can
//! meet (matched by URL pattern and, optionally, a text on the page), which
//! form to fill, with what, and which button to press. The interpreter starts
//! at the authorization URL, keeps cookies by hand, follows redirects and
//! submits forms until the authorization server redirects to the
//! `redirect_uri`; that callback URL is the result. See the crate README for
//! the format, and `examples/avow-login.toml` for Avow's own pages.
//!
//! ```toml
//! redirect_uri = "http://127.0.0.1:48555/callback"   # optional
//! max_requests = 20                                    # optional
//!
//! [[page]]
//! url = "/authorize"             # glob; a leading "/" matches the path only
//! contains = "Sign in"           # optional text the page must contain
//! form = "/authorize/login"      # optional: part of the form's action, or its id
//! fill = { username = "demo-erika", password = "${env:AVOW_HOLDER_PASSWORD}" }
//! press = "sign-in"              # optional: button id, name, value or text
//!
//! [[page]]
//! url = "/authorize/login"
//! press = "approve"
//! ```

use crate::error::ConformanceError;
use crate::http::{Body, Http, Request, Response};
use crate::transcript::Recorder;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The default redirect URI of the runner (loopback; never actually served:
/// the interpreter stops at the redirect to it).
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:48555/callback";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginScript {
    #[serde(default)]
    pub redirect_uri: Option<String>,
    #[serde(default = "default_max_requests")]
    pub max_requests: usize,
    #[serde(default, rename = "page")]
    pub pages: Vec<PageRule>,
}

fn default_max_requests() -> usize {
    20
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageRule {
    /// URL glob (`*` = any run of characters); starting with `/` it matches
    /// the path alone, otherwise the whole URL.
    pub url: String,
    #[serde(default)]
    pub contains: Option<String>,
    #[serde(default)]
    pub form: Option<String>,
    #[serde(default)]
    pub fill: BTreeMap<String, String>,
    #[serde(default)]
    pub press: Option<String>,
}

impl LoginScript {
    pub fn from_toml(text: &str) -> Result<Self, ConformanceError> {
        let script: Self =
            toml::from_str(text).map_err(|e| ConformanceError::LoginScript(e.to_string()))?;
        if script.pages.is_empty() {
            return Err(ConformanceError::LoginScript(
                "a login script needs at least one [[page]]".into(),
            ));
        }
        for page in &script.pages {
            for value in page.fill.values() {
                if value.matches("${env:").count() > value.matches('}').count() {
                    return Err(ConformanceError::LoginScript(
                        "unterminated ${env:…}".into(),
                    ));
                }
            }
        }
        Ok(script)
    }

    pub fn load(path: &std::path::Path) -> Result<Self, ConformanceError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConformanceError::LoginScript(format!("{}: {e}", path.display())))?;
        Self::from_toml(&text)
    }

    /// Drives the holder from `authorization_url` to the redirect to
    /// `redirect_uri`; returns the full callback URL.
    pub async fn run(
        &self,
        http: &Http,
        recorder: &Recorder,
        authorization_url: &str,
        redirect_uri: &str,
    ) -> Result<String, ConformanceError> {
        let mut jar = CookieJar::default();
        let mut request = Request::get(authorization_url);
        let mut label = "authorization endpoint (login script)".to_owned();
        let mut last_rule: Option<usize> = None;
        for _ in 0..self.max_requests.max(1) {
            let url = request.url.clone();
            if let Some(cookies) = jar.header() {
                request = request.header("Cookie", cookies);
            }
            let response = http.send(recorder, &label, request).await?;
            jar.update(&response);
            if (300..400).contains(&response.status) {
                let location = response.header("location").ok_or_else(|| {
                    ConformanceError::LoginScript(format!("{} without Location", response.status))
                })?;
                let next = resolve(&url, location)?;
                if next.starts_with(redirect_uri) {
                    return Ok(next);
                }
                request = Request::get(&next);
                label = "redirect (login script)".into();
                last_rule = None;
                continue;
            }
            if response.status != 200 {
                return Err(ConformanceError::LoginScript(format!(
                    "{url} answered {}",
                    response.describe()
                )));
            }
            let html = response.text();
            let Some((index, rule)) = self
                .pages
                .iter()
                .enumerate()
                .find(|(_, r)| r.matches(&url, &html))
            else {
                return Err(ConformanceError::LoginScript(format!(
                    "no [[page]] matches {} (title \"{}\")",
                    crate::transcript::redact_url(&url),
                    title(&html)
                )));
            };
            if last_rule == Some(index) {
                return Err(ConformanceError::LoginScript(format!(
                    "the page matched by rule \"{}\" came back after its form was sent (wrong credentials?)",
                    rule.url
                )));
            }
            last_rule = Some(index);
            let forms = parse_forms(&html);
            let form = match &rule.form {
                Some(wanted) => forms.iter().find(|f| {
                    f.action.contains(wanted.as_str()) || f.id.as_deref() == Some(wanted)
                }),
                None => forms.first(),
            }
            .ok_or_else(|| {
                ConformanceError::LoginScript(format!(
                    "no form {} on the page matched by \"{}\"",
                    rule.form.as_deref().unwrap_or("at all"),
                    rule.url
                ))
            })?;
            let mut fields = form.fields.clone();
            for (name, value) in &rule.fill {
                let value = expand(value)?;
                match fields.iter_mut().find(|(k, _)| k == name) {
                    Some(field) => field.1 = value,
                    None => fields.push((name.clone(), value)),
                }
            }
            if let Some(press) = &rule.press {
                let button = form
                    .buttons
                    .iter()
                    .find(|b| b.matches(press))
                    .ok_or_else(|| {
                        ConformanceError::LoginScript(format!("no button \"{press}\" in the form"))
                    })?;
                if let Some(name) = &button.name {
                    fields.push((name.clone(), button.value.clone().unwrap_or_default()));
                }
            }
            let action = if form.action.is_empty() {
                url.clone()
            } else {
                resolve(&url, &form.action)?
            };
            request = if form.method.eq_ignore_ascii_case("get") {
                let sep = if action.contains('?') { '&' } else { '?' };
                Request::get(&format!(
                    "{action}{sep}{}",
                    crate::http::form_encode(&fields)
                ))
            } else {
                Request::post(&action, Body::Form(fields))
            };
            label = format!("submit form of page \"{}\" (login script)", rule.url);
        }
        Err(ConformanceError::LoginScript(format!(
            "no redirect to the redirect_uri within {} requests",
            self.max_requests
        )))
    }
}

impl PageRule {
    fn matches(&self, url: &str, html: &str) -> bool {
        let subject = if self.url.starts_with('/') {
            reqwest::Url::parse(url)
                .map(|u| u.path().to_owned())
                .unwrap_or_default()
        } else {
            url.to_owned()
        };
        glob(&self.url, &subject) && self.contains.as_deref().is_none_or(|t| html.contains(t))
    }
}

/// `${env:NAME}` is replaced by the environment variable (so passwords need
/// not sit in the script).
fn expand(value: &str) -> Result<String, ConformanceError> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${env:") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 6..];
        let end = after
            .find('}')
            .ok_or_else(|| ConformanceError::LoginScript("unterminated ${env:…}".into()))?;
        let name = &after[..end];
        let var = std::env::var(name).map_err(|_| {
            ConformanceError::LoginScript(format!("environment variable {name} is not set"))
        })?;
        out.push_str(&var);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `*` matches any run of characters; everything else literally.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

fn resolve(base: &str, reference: &str) -> Result<String, ConformanceError> {
    let base = reqwest::Url::parse(base)
        .map_err(|_| ConformanceError::LoginScript(format!("bad URL {base}")))?;
    base.join(reference)
        .map(|u| u.to_string())
        .map_err(|_| ConformanceError::LoginScript("bad redirect or form action".into()))
}

fn title(html: &str) -> String {
    let Some(start) = html.find("<title>") else {
        return String::new();
    };
    let rest = &html[start + 7..];
    rest.find("</title>")
        .map(|end| decode_entities(rest[..end].trim()))
        .unwrap_or_default()
}

/// A cookie jar just big enough for one login: name → value, sent back on
/// every request of the flow (one authorization server, one host).
#[derive(Debug, Default)]
struct CookieJar(BTreeMap<String, String>);

impl CookieJar {
    fn update(&mut self, response: &Response) {
        for set in response.header_all("set-cookie") {
            let pair = set.split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                let expired = set.to_ascii_lowercase().contains("max-age=0");
                if expired || value.is_empty() {
                    self.0.remove(name.trim());
                } else {
                    self.0
                        .insert(name.trim().to_owned(), value.trim().to_owned());
                }
            }
        }
    }

    fn header(&self) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        Some(
            self.0
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

// ---------------------------------------------------------------- a tolerant HTML form reader

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    pub id: Option<String>,
    pub action: String,
    pub method: String,
    /// Successful controls with their current values (hidden, text, password, checked boxes, textareas, selects).
    pub fields: Vec<(String, String)>,
    pub buttons: Vec<Button>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Button {
    pub id: Option<String>,
    pub name: Option<String>,
    pub value: Option<String>,
    pub text: String,
}

impl Button {
    fn matches(&self, wanted: &str) -> bool {
        self.id.as_deref() == Some(wanted)
            || self.name.as_deref() == Some(wanted)
            || self.value.as_deref() == Some(wanted)
            || self.text.trim().eq_ignore_ascii_case(wanted)
    }
}

fn decode_entities(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The attributes of a start tag's inner text (`input type="text" name=a`).
fn attributes(tag: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let bytes = tag.as_bytes();
    // Skip the element name.
    let mut i = bytes
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    while i < bytes.len() {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        let start = i;
        while i < bytes.len()
            && !bytes[i].is_ascii_whitespace()
            && bytes[i] != b'='
            && bytes[i] != b'/'
        {
            i += 1;
        }
        if start == i {
            break;
        }
        let name = tag[start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            let value = if i < bytes.len() && (bytes[i] == b'"' || bytes[i] == b'\'') {
                let quote = bytes[i];
                i += 1;
                let vstart = i;
                while i < bytes.len() && bytes[i] != quote {
                    i += 1;
                }
                let v = &tag[vstart..i.min(tag.len())];
                i += 1;
                v
            } else {
                let vstart = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                &tag[vstart..i]
            };
            out.insert(name, decode_entities(value));
        } else {
            out.insert(name, String::new());
        }
    }
    out
}

/// Start tags `<name …>` of `html` in order, with their byte range.
fn tags(html: &str) -> Vec<(String, BTreeMap<String, String>, usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(open) = html[at..].find('<') {
        let start = at + open;
        let Some(close) = html[start..].find('>') else {
            break;
        };
        let end = start + close;
        let inner = &html[start + 1..end];
        let name: String = inner
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '/')
            .collect::<String>()
            .to_ascii_lowercase();
        out.push((name, attributes(inner), start, end + 1));
        at = end + 1;
    }
    out
}

/// The forms of a page with their controls.
pub fn parse_forms(html: &str) -> Vec<Form> {
    let mut forms = Vec::new();
    let mut current: Option<Form> = None;
    let all = tags(html);
    let mut i = 0;
    while i < all.len() {
        let (name, attrs, _, end) = &all[i];
        match name.as_str() {
            "form" => {
                current = Some(Form {
                    id: attrs.get("id").cloned(),
                    action: attrs.get("action").cloned().unwrap_or_default(),
                    method: attrs.get("method").cloned().unwrap_or_else(|| "get".into()),
                    ..Form::default()
                });
            }
            "/form" => {
                if let Some(f) = current.take() {
                    forms.push(f);
                }
            }
            "input" => {
                if let Some(form) = current.as_mut() {
                    let kind = attrs
                        .get("type")
                        .map(|t| t.to_ascii_lowercase())
                        .unwrap_or_else(|| "text".into());
                    let field_name = attrs.get("name").cloned();
                    let value = attrs.get("value").cloned();
                    match kind.as_str() {
                        "submit" | "image" => form.buttons.push(Button {
                            id: attrs.get("id").cloned(),
                            name: field_name,
                            value: value.clone(),
                            text: value.unwrap_or_default(),
                        }),
                        "checkbox" | "radio" => {
                            if let (Some(n), true) = (field_name, attrs.contains_key("checked")) {
                                form.fields.push((n, value.unwrap_or_else(|| "on".into())));
                            }
                        }
                        "button" | "reset" | "file" => {}
                        _ => {
                            if let Some(n) = field_name {
                                form.fields.push((n, value.unwrap_or_default()));
                            }
                        }
                    }
                }
            }
            "button" => {
                if let Some(form) = current.as_mut() {
                    let text_end = html[*end..]
                        .find("</button")
                        .map(|p| end + p)
                        .unwrap_or(*end);
                    let kind = attrs
                        .get("type")
                        .map(|t| t.to_ascii_lowercase())
                        .unwrap_or_else(|| "submit".into());
                    if kind == "submit" {
                        form.buttons.push(Button {
                            id: attrs.get("id").cloned(),
                            name: attrs.get("name").cloned(),
                            value: attrs.get("value").cloned(),
                            text: decode_entities(html[*end..text_end].trim()),
                        });
                    }
                }
            }
            "textarea" => {
                if let Some(form) = current.as_mut() {
                    let text_end = html[*end..]
                        .find("</textarea")
                        .map(|p| end + p)
                        .unwrap_or(*end);
                    if let Some(n) = attrs.get("name") {
                        form.fields
                            .push((n.clone(), decode_entities(&html[*end..text_end])));
                    }
                }
            }
            "select" => {
                if let Some(form) = current.as_mut() {
                    let select_name = attrs.get("name").cloned();
                    let mut chosen: Option<String> = None;
                    let mut first: Option<String> = None;
                    let mut j = i + 1;
                    while j < all.len() && all[j].0 != "/select" {
                        if all[j].0 == "option" {
                            let v = all[j].1.get("value").cloned().unwrap_or_default();
                            if first.is_none() {
                                first = Some(v.clone());
                            }
                            if all[j].1.contains_key("selected") {
                                chosen = Some(v);
                            }
                        }
                        j += 1;
                    }
                    if let Some(n) = select_name {
                        form.fields.push((n, chosen.or(first).unwrap_or_default()));
                    }
                    i = j;
                }
            }
            _ => {}
        }
        i += 1;
    }
    if let Some(f) = current {
        forms.push(f);
    }
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOGIN: &str = r#"<html><head><title>Sign in – Avow</title></head><body>
<form method="post" action="http://127.0.0.1:9/authorize/login">
  <input type="hidden" name="csrf" value="a&amp;b">
  <input type="text" id="username" name="username" value="" required autofocus>
  <input type=password name=password>
  <input type="checkbox" name="remember">
  <select name="lang"><option value="de">DE</option><option value="en" selected>EN</option></select>
  <button type="submit" class="primary" id="sign-in">Sign in</button>
</form>
<form id="other" action="/x"><button name="decision" value="deny">Deny</button></form></body></html>"#;

    #[test]
    fn reads_forms_fields_and_buttons() {
        let forms = parse_forms(LOGIN);
        assert_eq!(forms.len(), 2);
        let login = &forms[0];
        assert_eq!(login.action, "http://127.0.0.1:9/authorize/login");
        assert_eq!(login.method, "post");
        assert_eq!(
            login.fields,
            vec![
                ("csrf".to_owned(), "a&b".to_owned()),
                ("username".to_owned(), String::new()),
                ("password".to_owned(), String::new()),
                ("lang".to_owned(), "en".to_owned()),
            ]
        );
        assert!(login.buttons[0].matches("sign-in") && login.buttons[0].matches("Sign in"));
        assert_eq!(forms[1].id.as_deref(), Some("other"));
        assert!(forms[1].buttons[0].matches("deny"));
        assert_eq!(title(LOGIN), "Sign in – Avow");
    }

    #[test]
    fn globs_and_rules() {
        assert!(glob("/authorize", "/authorize"));
        assert!(!glob("/authorize", "/authorize/login"));
        assert!(glob("/authorize*", "/authorize/login"));
        assert!(glob(
            "https://*.example/login*",
            "https://id.example/login?x=1"
        ));
        assert!(!glob("https://*.example/login", "https://id.example/other"));
        let rule = PageRule {
            url: "/authorize".into(),
            contains: Some("Sign in".into()),
            form: None,
            fill: BTreeMap::new(),
            press: None,
        };
        assert!(rule.matches("http://h/authorize?client_id=x", LOGIN));
        assert!(!rule.matches("http://h/authorize?client_id=x", "<p>consent</p>"));
    }

    #[test]
    fn parses_the_example_script_and_env_values() {
        let text = include_str!("../examples/avow-login.toml");
        let script = LoginScript::from_toml(text).expect("example parses");
        assert_eq!(script.pages.len(), 2);
        assert!(LoginScript::from_toml("max_requests = 3").is_err());
        assert!(LoginScript::from_toml("[[page]]\nurl = \"/a\"\nbogus = 1").is_err());
        assert!(expand("${env:AVOW_CONFORMANCE_SURELY_UNSET_VAR}").is_err());
        assert_eq!(expand("plain").ok().as_deref(), Some("plain"));
    }
}
