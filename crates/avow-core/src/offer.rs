//! Credential Offer (OID4VCI 1.0 §4.1) and the links that carry it.

use crate::percent;
use serde::{Deserialize, Serialize};

/// Grant type of the Pre-Authorized Code Flow (OID4VCI §4.1.1, §6.1).
pub const PRE_AUTHORIZED_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:pre-authorized_code";

/// The Credential Offer object (OID4VCI §4.1.1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CredentialOffer {
    pub credential_issuer: String,
    pub credential_configuration_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Grants::is_empty")]
    pub grants: Grants,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Grants {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_code: Option<AuthorizationCodeGrant>,
    #[serde(
        rename = "urn:ietf:params:oauth:grant-type:pre-authorized_code",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub pre_authorized_code: Option<PreAuthorizedCodeGrant>,
}

impl Grants {
    pub fn is_empty(&self) -> bool {
        self.authorization_code.is_none() && self.pre_authorized_code.is_none()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuthorizationCodeGrant {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_server: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PreAuthorizedCodeGrant {
    #[serde(rename = "pre-authorized_code")]
    pub pre_authorized_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_code: Option<TxCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_server: Option<String>,
}

/// Describes the Transaction Code the holder must enter (OID4VCI §4.1.1).
/// Present, even empty, means a code is required.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TxCode {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_mode: Option<InputMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum InputMode {
    Numeric,
    Text,
}

/// Maximum length of `tx_code.description` (OID4VCI §4.1.1).
pub const TX_CODE_DESCRIPTION_MAX: usize = 300;

/// Why an offer or offer link was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfferError {
    #[error("the link is not a credential offer link")]
    NotAnOfferLink,
    #[error("the link must carry exactly one of credential_offer and credential_offer_uri")]
    AmbiguousLink,
    #[error("the credential offer is not valid JSON: {0}")]
    Json(String),
    #[error("credential_issuer must be an https URL without query or fragment")]
    BadIssuer,
    #[error("credential_configuration_ids must be a non-empty list of unique strings")]
    BadConfigurationIds,
    #[error("tx_code.description exceeds 300 characters")]
    TxCodeDescriptionTooLong,
    #[error("credential_offer_uri must be an https URL")]
    BadOfferUri,
}

impl CredentialOffer {
    /// Checks the rules of OID4VCI §4.1.1 that a receiver must enforce.
    /// `allow_http_loopback` admits `http://127.0.0.1`/`localhost` issuers (dev only).
    pub fn validate(&self, allow_http_loopback: bool) -> Result<(), OfferError> {
        if !is_issuer_identifier(&self.credential_issuer, allow_http_loopback) {
            return Err(OfferError::BadIssuer);
        }
        let ids = &self.credential_configuration_ids;
        if ids.is_empty() || ids.iter().any(String::is_empty) {
            return Err(OfferError::BadConfigurationIds);
        }
        let mut seen = std::collections::BTreeSet::new();
        if !ids.iter().all(|id| seen.insert(id)) {
            return Err(OfferError::BadConfigurationIds);
        }
        if let Some(tx) = self
            .grants
            .pre_authorized_code
            .as_ref()
            .and_then(|g| g.tx_code.as_ref())
            && tx
                .description
                .as_ref()
                .is_some_and(|d| d.chars().count() > TX_CODE_DESCRIPTION_MAX)
        {
            return Err(OfferError::TxCodeDescriptionTooLong);
        }
        Ok(())
    }
}

/// An https URL without query or fragment (OID4VCI §12.2.1); plain http only
/// for loopback hosts when the caller allows it (development).
pub fn is_issuer_identifier(id: &str, allow_http_loopback: bool) -> bool {
    if id.contains('?') || id.contains('#') {
        return false;
    }
    if let Some(rest) = id.strip_prefix("https://") {
        return !rest.is_empty() && !rest.starts_with('/');
    }
    if allow_http_loopback && let Some(rest) = id.strip_prefix("http://") {
        let host = rest.split(['/', ':']).next().unwrap_or("");
        return matches!(host, "127.0.0.1" | "localhost");
    }
    false
}

/// The schemes an offer link may use (OID4VCI §4.1, HAIP §4.2, APT §5; C-03).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferScheme {
    OpenIdCredentialOffer,
    HaipVci,
    EuEaaOffer,
}

impl OfferScheme {
    pub const ALL: [OfferScheme; 3] =
        [Self::OpenIdCredentialOffer, Self::HaipVci, Self::EuEaaOffer];

    pub fn prefix(self) -> &'static str {
        match self {
            Self::OpenIdCredentialOffer => "openid-credential-offer://",
            Self::HaipVci => "haip-vci://",
            Self::EuEaaOffer => "eu-eaa-offer://",
        }
    }
}

/// What an offer link carries: the offer itself or where to fetch it (OID4VCI §4.1.2, §4.1.3).
#[derive(Debug, Clone, PartialEq)]
pub enum OfferPayload {
    ByValue(Box<CredentialOffer>),
    ByReference(String),
}

impl OfferPayload {
    /// Builds a link in the given scheme (`prefix` may also be an https URL ending in `?`-less path).
    pub fn to_link(&self, prefix: &str) -> String {
        let query = match self {
            Self::ByValue(offer) => {
                let json = serde_json::to_string(offer).unwrap_or_default();
                format!("credential_offer={}", percent::encode(&json))
            }
            Self::ByReference(uri) => format!("credential_offer_uri={}", percent::encode(uri)),
        };
        format!("{prefix}?{query}")
    }

    /// Parses an offer link of any accepted scheme, an https link, or the raw
    /// text of a QR code (WAL-OFFER-01, -02). The legacy `haip://` is accepted too.
    pub fn parse_link(link: &str) -> Result<Self, OfferError> {
        let link = link.trim();
        let accepted = [
            "openid-credential-offer://",
            "haip-vci://",
            "eu-eaa-offer://",
            "haip://",
            "https://",
            "http://",
        ];
        if !accepted.iter().any(|p| link.starts_with(p)) {
            return Err(OfferError::NotAnOfferLink);
        }
        let query = link
            .split_once('?')
            .map(|(_, q)| q)
            .ok_or(OfferError::NotAnOfferLink)?;
        let query = query.split('#').next().unwrap_or("");
        let pairs = percent::parse_query(query).ok_or(OfferError::NotAnOfferLink)?;
        let value: Vec<&String> = pairs
            .iter()
            .filter(|(k, _)| k == "credential_offer")
            .map(|(_, v)| v)
            .collect();
        let reference: Vec<&String> = pairs
            .iter()
            .filter(|(k, _)| k == "credential_offer_uri")
            .map(|(_, v)| v)
            .collect();
        match (value.as_slice(), reference.as_slice()) {
            ([json], []) => {
                let mut offer: serde_json::Value =
                    serde_json::from_str(json).map_err(|e| OfferError::Json(e.to_string()))?;
                legacy_user_pin(&mut offer);
                let offer: CredentialOffer =
                    serde_json::from_value(offer).map_err(|e| OfferError::Json(e.to_string()))?;
                Ok(Self::ByValue(Box::new(offer)))
            }
            ([], [uri]) => Ok(Self::ByReference((*uri).clone())),
            _ => Err(OfferError::AmbiguousLink),
        }
    }
}

/// Parses an offer object fetched by reference.
pub fn parse_offer_json(body: &[u8]) -> Result<CredentialOffer, OfferError> {
    let mut offer: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| OfferError::Json(e.to_string()))?;
    legacy_user_pin(&mut offer);
    serde_json::from_value(offer).map_err(|e| OfferError::Json(e.to_string()))
}

/// WAL-OFFER-11 / C-12: a legacy `user_pin_required: true` reads as `tx_code: {}`.
fn legacy_user_pin(offer: &mut serde_json::Value) {
    if let Some(grant) = offer.pointer_mut(&format!(
        "/grants/{}",
        PRE_AUTHORIZED_CODE_GRANT.replace('/', "~1")
    )) && let Some(obj) = grant.as_object_mut()
        && obj.get("user_pin_required") == Some(&serde_json::Value::Bool(true))
        && !obj.contains_key("tx_code")
    {
        obj.insert("tx_code".into(), serde_json::json!({}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> CredentialOffer {
        CredentialOffer {
            credential_issuer: "https://issuer.example".into(),
            credential_configuration_ids: vec!["pid".into()],
            grants: Grants {
                authorization_code: None,
                pre_authorized_code: Some(PreAuthorizedCodeGrant {
                    pre_authorized_code: "abc".into(),
                    tx_code: Some(TxCode {
                        input_mode: Some(InputMode::Numeric),
                        length: Some(6),
                        description: None,
                    }),
                    authorization_server: None,
                }),
            },
        }
    }

    #[test]
    fn by_value_round_trips_in_every_scheme() {
        for scheme in OfferScheme::ALL {
            let link = OfferPayload::ByValue(Box::new(sample())).to_link(scheme.prefix());
            assert!(link.starts_with(scheme.prefix()));
            assert_eq!(
                OfferPayload::parse_link(&link),
                Ok(OfferPayload::ByValue(Box::new(sample())))
            );
        }
    }

    #[test]
    fn by_reference_round_trips() {
        let p = OfferPayload::ByReference("https://issuer.example/offers/1?x=y".into());
        assert_eq!(OfferPayload::parse_link(&p.to_link("haip://")), Ok(p));
    }

    #[test]
    fn spec_example_parses() {
        // OID4VCI §4.1.2 example, by value with an empty tx_code.
        let link = "openid-credential-offer://?credential_offer=%7B%22credential_issuer%22:%22https://credential-issuer.example.com%22,%22credential_configuration_ids%22:%5B%22org.iso.18013.5.1.mDL%22%5D,%22grants%22:%7B%22urn:ietf:params:oauth:grant-type:pre-authorized_code%22:%7B%22pre-authorized_code%22:%22oaKazRN8I0IbtZ0C7JuMn5%22,%22tx_code%22:%7B%7D%7D%7D%7D";
        let Ok(OfferPayload::ByValue(offer)) = OfferPayload::parse_link(link) else {
            panic!("did not parse")
        };
        assert_eq!(
            offer.grants.pre_authorized_code.and_then(|g| g.tx_code),
            Some(TxCode::default())
        );
    }

    #[test]
    fn both_or_neither_parameter_is_refused() {
        assert_eq!(
            OfferPayload::parse_link("openid-credential-offer://?x=1"),
            Err(OfferError::AmbiguousLink)
        );
        assert_eq!(
            OfferPayload::parse_link(
                "openid-credential-offer://?credential_offer=%7B%7D&credential_offer_uri=https%3A%2F%2Fa"
            ),
            Err(OfferError::AmbiguousLink)
        );
        assert_eq!(
            OfferPayload::parse_link("mailto:x"),
            Err(OfferError::NotAnOfferLink)
        );
    }

    #[test]
    fn legacy_user_pin_maps_to_tx_code() {
        let body = br#"{"credential_issuer":"https://i.example","credential_configuration_ids":["a"],"grants":{"urn:ietf:params:oauth:grant-type:pre-authorized_code":{"pre-authorized_code":"c","user_pin_required":true}}}"#;
        let offer = parse_offer_json(body).ok();
        assert_eq!(
            offer
                .and_then(|o| o.grants.pre_authorized_code)
                .and_then(|g| g.tx_code),
            Some(TxCode::default())
        );
    }

    #[test]
    fn validation_rules() {
        let mut o = sample();
        assert_eq!(o.validate(false), Ok(()));
        o.credential_issuer = "https://issuer.example?x".into();
        assert_eq!(o.validate(false), Err(OfferError::BadIssuer));
        o.credential_issuer = "http://127.0.0.1:8080".into();
        assert_eq!(o.validate(false), Err(OfferError::BadIssuer));
        assert_eq!(o.validate(true), Ok(()));
        o.credential_configuration_ids = vec!["a".into(), "a".into()];
        assert_eq!(o.validate(true), Err(OfferError::BadConfigurationIds));
        o.credential_configuration_ids = vec![];
        assert_eq!(o.validate(true), Err(OfferError::BadConfigurationIds));
    }

    proptest! {
        #[test]
        fn parse_link_never_panics(s in ".*") {
            let _ = OfferPayload::parse_link(&s);
            let _ = OfferPayload::parse_link(&format!("openid-credential-offer://?{s}"));
            let _ = parse_offer_json(s.as_bytes());
        }
    }
}
