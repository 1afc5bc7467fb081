//! Token Request and Response (OID4VCI 1.0 §6, RFC 6749 §4.1.3, §5).

use crate::authorization::{AuthorizationDetail, parse_authorization_details};
use crate::error::ProtocolError;
use crate::offer::PRE_AUTHORIZED_CODE_GRANT;
use serde::{Deserialize, Serialize};

/// A parsed Token Request. Unknown parameters are ignored (ISS-TOK-09).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRequest {
    /// OID4VCI §6.1.
    PreAuthorizedCode {
        pre_authorized_code: String,
        tx_code: Option<String>,
        client_id: Option<String>,
        /// May narrow the offered configurations (VCI §6.1.1; ISS-TPA-08, ISS-TOK-07).
        authorization_details: Option<Vec<AuthorizationDetail>>,
    },
    /// RFC 6749 §4.1.3, RFC 7636 §4.5.
    AuthorizationCode {
        code: String,
        redirect_uri: String,
        code_verifier: String,
        client_id: Option<String>,
        /// May narrow what was authorized (VCI §6.1.1; ISS-TOK-07).
        authorization_details: Option<Vec<AuthorizationDetail>>,
    },
    /// RFC 6749 §6; `scope` may only narrow (ISS-TRT-04).
    RefreshToken {
        refresh_token: String,
        scope: Option<String>,
        client_id: Option<String>,
    },
}

impl TokenRequest {
    /// Parses form parameters. A parameter given twice is an `invalid_request`
    /// (RFC 6749 §3.2: parameters MUST NOT be included more than once).
    pub fn from_form(params: &[(String, String)]) -> Result<Self, ProtocolError> {
        let single = |name: &str| -> Result<Option<String>, ProtocolError> {
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
            Ok(first)
        };
        let details = || -> Result<Option<Vec<AuthorizationDetail>>, ProtocolError> {
            single("authorization_details")?
                .map(|json| parse_authorization_details(&json))
                .transpose()
        };
        let grant_type = single("grant_type")?
            .ok_or_else(|| ProtocolError::invalid_request("grant_type is missing"))?;
        match grant_type.as_str() {
            PRE_AUTHORIZED_CODE_GRANT => {
                let pre_authorized_code = single("pre-authorized_code")?
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| {
                        ProtocolError::invalid_request("pre-authorized_code is missing")
                    })?;
                Ok(Self::PreAuthorizedCode {
                    pre_authorized_code,
                    tx_code: single("tx_code")?,
                    client_id: single("client_id")?,
                    authorization_details: details()?,
                })
            }
            "authorization_code" => {
                let required = |name: &str| -> Result<String, ProtocolError> {
                    single(name)?
                        .filter(|v| !v.is_empty())
                        .ok_or_else(|| ProtocolError::invalid_request(format!("{name} is missing")))
                };
                Ok(Self::AuthorizationCode {
                    code: required("code")?,
                    redirect_uri: required("redirect_uri")?,
                    code_verifier: required("code_verifier")?,
                    client_id: single("client_id")?,
                    authorization_details: details()?,
                })
            }
            "refresh_token" => {
                let refresh_token = single("refresh_token")?
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| ProtocolError::invalid_request("refresh_token is missing"))?;
                Ok(Self::RefreshToken {
                    refresh_token,
                    scope: single("scope")?,
                    client_id: single("client_id")?,
                })
            }
            other => Err(ProtocolError::unsupported_grant_type(format!(
                "grant_type {other} is not supported"
            ))),
        }
    }
}

/// The Token Response (OID4VCI §6.2, RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_details: Option<Vec<serde_json::Value>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn parses_pre_authorized_code_request() {
        let r = TokenRequest::from_form(&form(&[
            ("grant_type", PRE_AUTHORIZED_CODE_GRANT),
            ("pre-authorized_code", "c"),
            ("tx_code", "1234"),
            ("unknown", "ignored"),
        ]));
        assert_eq!(
            r,
            Ok(TokenRequest::PreAuthorizedCode {
                pre_authorized_code: "c".into(),
                tx_code: Some("1234".into()),
                client_id: None,
                authorization_details: None,
            })
        );
    }

    #[test]
    fn errors_carry_the_rfc_codes() {
        let code =
            |pairs: &[(&str, &str)]| TokenRequest::from_form(&form(pairs)).err().map(|e| e.code);
        assert_eq!(code(&[]), Some(ErrorCode::InvalidRequest));
        assert_eq!(
            code(&[("grant_type", "password")]),
            Some(ErrorCode::UnsupportedGrantType)
        );
        assert_eq!(
            code(&[("grant_type", PRE_AUTHORIZED_CODE_GRANT)]),
            Some(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            code(&[
                ("grant_type", PRE_AUTHORIZED_CODE_GRANT),
                ("pre-authorized_code", "a"),
                ("pre-authorized_code", "b")
            ]),
            Some(ErrorCode::InvalidRequest)
        );
        // ISS-TAC-01: each of code, redirect_uri, code_verifier is required.
        let full = [
            ("grant_type", "authorization_code"),
            ("code", "c"),
            ("redirect_uri", "https://w/cb"),
            ("code_verifier", "v"),
        ];
        for missing in ["code", "redirect_uri", "code_verifier"] {
            let pairs: Vec<(&str, &str)> = full
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            assert_eq!(code(&pairs), Some(ErrorCode::InvalidRequest), "{missing}");
        }
        assert_eq!(code(&full), None);
        assert_eq!(
            code(&[("grant_type", "refresh_token")]),
            Some(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            code(&[("grant_type", "refresh_token"), ("refresh_token", "r")]),
            None
        );
    }
}
