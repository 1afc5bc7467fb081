//! Authorization requests pushed to the PAR endpoint (RFC 9126 §2.1,
//! RFC 6749 §4.1.1, RFC 7636 §4.3, OID4VCI §5.1; ISS-PAR-03 … -11).

use crate::error::ProtocolError;
use crate::pkce;
use serde::{Deserialize, Serialize};

/// The `authorization_details` type of OID4VCI (§5.1.1).
pub const OPENID_CREDENTIAL: &str = "openid_credential";

/// One `authorization_details` entry of type `openid_credential` (OID4VCI §5.1.1, §6.2).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuthorizationDetail {
    #[serde(rename = "type")]
    pub kind: String,
    pub credential_configuration_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locations: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<serde_json::Value>,
    /// Only in token responses (OID4VCI §6.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_identifiers: Option<Vec<String>>,
}

/// A validated pushed authorization request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PushedAuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    #[serde(default)]
    pub state: Option<String>,
    pub code_challenge: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub authorization_details: Vec<AuthorizationDetail>,
    #[serde(default)]
    pub issuer_state: Option<String>,
    #[serde(default)]
    pub dpop_jkt: Option<String>,
}

/// Reads one parameter; a repeated one is `invalid_request` (RFC 6749 §3.1).
pub fn single_param(
    params: &[(String, String)],
    name: &str,
) -> Result<Option<String>, ProtocolError> {
    let mut values = params
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.clone());
    let first = values.next();
    if values.next().is_some() {
        return Err(ProtocolError::invalid_request(format!(
            "parameter {name} is repeated"
        )));
    }
    Ok(first.filter(|v| !v.is_empty()))
}

impl PushedAuthorizationRequest {
    pub fn from_form(params: &[(String, String)]) -> Result<Self, ProtocolError> {
        let get = |name: &str| single_param(params, name);
        if get("request_uri")?.is_some() {
            return Err(ProtocolError::invalid_request(
                "request_uri must not be sent to the PAR endpoint",
            ));
        }
        if get("request")?.is_some() {
            return Err(ProtocolError::invalid_request(
                "request objects are not supported",
            ));
        }
        match get("response_type")?.as_deref() {
            Some("code") => {}
            Some(_) => {
                return Err(ProtocolError::unsupported_response_type(
                    "only response_type code is supported",
                ));
            }
            None => return Err(ProtocolError::invalid_request("response_type is required")),
        }
        let client_id = get("client_id")?
            .ok_or_else(|| ProtocolError::invalid_request("client_id is required"))?;
        let redirect_uri = get("redirect_uri")?
            .ok_or_else(|| ProtocolError::invalid_request("redirect_uri is required"))?;
        if redirect_uri.contains('#') {
            return Err(ProtocolError::invalid_request(
                "redirect_uri must not contain a fragment",
            ));
        }
        let code_challenge = pkce::check_challenge(
            get("code_challenge")?.as_deref(),
            get("code_challenge_method")?.as_deref(),
        )?;
        let scopes = get("scope")?
            .map(|s| {
                s.split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let authorization_details = match get("authorization_details")? {
            Some(json) => parse_authorization_details(&json)?,
            None => Vec::new(),
        };
        Ok(Self {
            client_id,
            redirect_uri,
            state: get("state")?,
            code_challenge,
            scopes,
            authorization_details,
            issuer_state: get("issuer_state")?,
            dpop_jkt: get("dpop_jkt")?,
        })
    }

    /// The credential configurations this request asks for. Details name
    /// configurations directly; scopes map through `scope_to_configuration`
    /// and unknown scopes are ignored (VCI §5.1.2); an entry in details wins
    /// over a scope for the same configuration (ISS-AUTHZ-10).
    pub fn requested_configurations(
        &self,
        is_known: impl Fn(&str) -> bool,
        scope_to_configuration: impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<String>, ProtocolError> {
        let mut out: Vec<String> = Vec::new();
        for detail in &self.authorization_details {
            if !is_known(&detail.credential_configuration_id) {
                return Err(ProtocolError::invalid_authorization_details(format!(
                    "unknown credential_configuration_id {}",
                    detail.credential_configuration_id
                )));
            }
            if !out.contains(&detail.credential_configuration_id) {
                out.push(detail.credential_configuration_id.clone());
            }
        }
        for scope in &self.scopes {
            if let Some(id) = scope_to_configuration(scope)
                && !out.contains(&id)
            {
                out.push(id);
            }
        }
        if out.is_empty() {
            return Err(ProtocolError::invalid_scope(
                "neither a known scope nor authorization_details name a credential",
            ));
        }
        Ok(out)
    }
}

/// `authorization_details`: a JSON array of `openid_credential` objects (RFC 9396 §2, §5).
pub fn parse_authorization_details(json: &str) -> Result<Vec<AuthorizationDetail>, ProtocolError> {
    let bad = |m: &str| ProtocolError::invalid_authorization_details(m);
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|_| bad("authorization_details is not JSON"))?;
    let list = value
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| bad("authorization_details must be a non-empty array"))?;
    list.iter()
        .map(|entry| {
            if entry.get("type").and_then(|t| t.as_str()) != Some(OPENID_CREDENTIAL) {
                return Err(bad(
                    "every authorization_details entry must have type openid_credential",
                ));
            }
            let detail: AuthorizationDetail =
                serde_json::from_value(entry.clone()).map_err(|_| {
                    bad("an openid_credential entry needs a string credential_configuration_id")
                })?;
            if detail.credential_identifiers.is_some() {
                return Err(bad("credential_identifiers cannot be requested"));
            }
            Ok(detail)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use proptest::prelude::*;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn form(extra: &[(&str, &str)], without: &[&str]) -> Vec<(String, String)> {
        let base = [
            ("response_type", "code"),
            ("client_id", "wallet"),
            ("redirect_uri", "https://wallet.example/cb"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("state", "s"),
            ("scope", "pid other"),
        ];
        base.iter()
            .filter(|(k, _)| !without.contains(k))
            .chain(extra.iter())
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn code(extra: &[(&str, &str)], without: &[&str]) -> Option<ErrorCode> {
        PushedAuthorizationRequest::from_form(&form(extra, without))
            .err()
            .map(|e| e.code)
    }

    #[test]
    fn parses_a_good_request() {
        let r = PushedAuthorizationRequest::from_form(&form(&[], &[]));
        assert_eq!(
            r.as_ref().map(|r| r.scopes.clone()).ok(),
            Some(vec!["pid".to_owned(), "other".to_owned()])
        );
    }

    #[test]
    fn errors_per_rfc() {
        assert_eq!(
            code(&[("request_uri", "urn:x")], &[]),
            Some(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            code(&[("response_type", "token")], &["response_type"]),
            Some(ErrorCode::UnsupportedResponseType)
        );
        assert_eq!(code(&[], &["client_id"]), Some(ErrorCode::InvalidRequest));
        assert_eq!(
            code(&[], &["redirect_uri"]),
            Some(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            code(&[], &["code_challenge"]),
            Some(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            code(&[], &["code_challenge_method"]),
            Some(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            code(
                &[("code_challenge_method", "plain")],
                &["code_challenge_method"]
            ),
            Some(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            code(&[("state", "t")], &[]),
            Some(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            code(&[("authorization_details", "{}")], &[]),
            Some(ErrorCode::InvalidAuthorizationDetails)
        );
        assert_eq!(
            code(
                &[(
                    "authorization_details",
                    r#"[{"type":"other","credential_configuration_id":"a"}]"#
                )],
                &[]
            ),
            Some(ErrorCode::InvalidAuthorizationDetails)
        );
    }

    #[test]
    fn configurations_from_details_and_scopes() {
        let details =
            r#"[{"type":"openid_credential","credential_configuration_id":"pid-sd-jwt"}]"#;
        let r = PushedAuthorizationRequest::from_form(&form(
            &[("authorization_details", details)],
            &[],
        ))
        .ok();
        let known = |id: &str| id == "pid-sd-jwt" || id == "mdl";
        let scope = |s: &str| (s == "pid").then(|| "pid-sd-jwt".to_owned());
        assert_eq!(
            r.as_ref().map(|r| r.requested_configurations(known, scope)),
            Some(Ok(vec!["pid-sd-jwt".to_owned()]))
        );
        let r =
            PushedAuthorizationRequest::from_form(&form(&[("scope", "nothing")], &["scope"])).ok();
        assert_eq!(
            r.map(|r| r
                .requested_configurations(known, scope)
                .err()
                .map(|e| e.code)),
            Some(Some(ErrorCode::InvalidScope))
        );
        let unknown = r#"[{"type":"openid_credential","credential_configuration_id":"nope"}]"#;
        let r = PushedAuthorizationRequest::from_form(&form(
            &[("authorization_details", unknown)],
            &[],
        ))
        .ok();
        assert_eq!(
            r.map(|r| r
                .requested_configurations(known, scope)
                .err()
                .map(|e| e.code)),
            Some(Some(ErrorCode::InvalidAuthorizationDetails))
        );
    }

    proptest! {
        #[test]
        fn never_panics(s in ".*") {
            let _ = parse_authorization_details(&s);
            let _ = PushedAuthorizationRequest::from_form(&[("authorization_details".into(), s.clone()), ("response_type".into(), "code".into())]);
        }
    }
}
