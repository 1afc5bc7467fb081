//! Signed Credential Issuer Metadata (OID4VCI §12.2.2, §12.2.3; HAIP §4.1;
//! APT §5, §7.7; ISS-SMETA-01 … -05) and the ETSI `issuer_info` parameter.

use crate::config::IssuerConfig;
use crate::state::AppState;
use avow_core::metadata::{IssuerInfoEntry, SIGNED_METADATA_TYP};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// `[metadata]`: signing the Credential Issuer Metadata and the ETSI profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataConfig {
    /// Serve signed metadata on `Accept: application/jwt` (ISS-SMETA-01).
    pub signed: bool,
    /// `exp` − `iat` of the signed metadata, seconds (ISS-SMETA-03).
    pub signed_lifetime: i64,
    /// ETSI TS 119 472-3 profile: signed metadata always available, `issuer_info` required (ISS-SMETA-04).
    pub etsi: bool,
    /// The issuer's registration certificate, verbatim (published as `issuer_info` `registration_cert`).
    pub registration_certificate: Option<String>,
    /// The registrar's dataset about the issuer (published as `issuer_info` `registrar_dataset`).
    pub registrar_dataset: Option<serde_json::Map<String, serde_json::Value>>,
    /// PKCS#8 private key (PEM or DER) of the issuer access certificate that
    /// signs the metadata (ISS-SMETA-02). Unset: the credential signing key.
    /// Required with `etsi` outside dev mode.
    pub access_key: Option<std::path::PathBuf>,
    /// PEM chain of the access certificate, leaf first, trust anchor excluded.
    pub access_chain: Option<std::path::PathBuf>,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        Self {
            signed: true,
            signed_lifetime: 86_400,
            etsi: false,
            registration_certificate: None,
            registrar_dataset: None,
            access_key: None,
            access_chain: None,
        }
    }
}

impl MetadataConfig {
    pub fn validate(&self, dev_mode: bool) -> Result<(), String> {
        if self.access_key.is_some() != self.access_chain.is_some() {
            return Err("metadata.access_key and metadata.access_chain go together".into());
        }
        // ETSI TS 119 472-3: the metadata is signed with the issuer's access
        // certificate, not the document-signing key (ISS-SMETA-02).
        if self.etsi && !dev_mode && self.access_key.is_none() {
            return Err(
                "metadata.etsi needs the issuer access certificate: metadata.access_key and metadata.access_chain"
                    .into(),
            );
        }
        if !(60..=31 * 86_400).contains(&self.signed_lifetime) {
            return Err("metadata.signed_lifetime must be between 60 seconds and 31 days".into());
        }
        if self.etsi
            && (self.registration_certificate.is_none() || self.registrar_dataset.is_none())
        {
            return Err(
                "metadata.etsi needs registration_certificate and registrar_dataset (issuer_info)"
                    .into(),
            );
        }
        Ok(())
    }

    fn signs(&self) -> bool {
        self.signed || self.etsi
    }
}

/// `issuer_info` entries, when configured (ISS-SMETA-05).
pub fn issuer_info(config: &IssuerConfig) -> Option<Vec<IssuerInfoEntry>> {
    let m = &config.metadata;
    let mut entries = Vec::new();
    if let Some(cert) = &m.registration_certificate {
        entries.push(IssuerInfoEntry {
            format: "registration_cert".into(),
            data: serde_json::Value::String(cert.clone()),
        });
    }
    if let Some(dataset) = &m.registrar_dataset {
        entries.push(IssuerInfoEntry {
            format: "registrar_dataset".into(),
            data: serde_json::Value::Object(dataset.clone()),
        });
    }
    (!entries.is_empty()).then_some(entries)
}

/// Whether the client asks for the JWT form: `application/jwt` listed with a
/// quality not below that of JSON.
fn wants_jwt(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let quality = |media: &str| -> Option<f32> {
        accept.split(',').find_map(|part| {
            let mut pieces = part.split(';');
            let name = pieces.next()?.trim();
            if !name.eq_ignore_ascii_case(media) {
                return None;
            }
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse().ok())
                .unwrap_or(1.0);
            Some(q)
        })
    };
    match (quality("application/jwt"), quality("application/json")) {
        (Some(jwt), Some(json)) => jwt > 0.0 && jwt >= json,
        (Some(jwt), None) => jwt > 0.0,
        _ => false,
    }
}

/// `GET /.well-known/openid-credential-issuer`: JSON always; the signed JWT
/// when asked for and signing is on. `Content-Type` names what is returned.
pub async fn get_credential_issuer_metadata(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Response {
    let vary = [(header::VARY, HeaderValue::from_static("Accept"))];
    if !(state.config.metadata.signs() && wants_jwt(&headers)) {
        return (
            vary,
            [(header::CONTENT_TYPE, "application/json")],
            state.credential_issuer_metadata.clone(),
        )
            .into_response();
    }
    match sign(&state).await {
        Ok(jwt) => (vary, [(header::CONTENT_TYPE, "application/jwt")], jwt).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "signing the metadata failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "metadata signing failed").into_response()
        }
    }
}

/// The metadata as a JWT: every parameter a top-level claim, `sub` = the
/// issuer identifier, `iat`, `exp`, `iss`; header `typ`, `x5c` (ISS-SMETA-02, -03).
async fn sign(state: &AppState) -> Result<String, avow_crypto::CryptoError> {
    let mut claims: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&state.credential_issuer_metadata).unwrap_or_default();
    let now = state.now();
    claims.insert("sub".into(), state.issuer_id.clone().into());
    claims.insert("iss".into(), state.issuer_id.clone().into());
    claims.insert("iat".into(), now.into());
    claims.insert(
        "exp".into(),
        (now + state.config.metadata.signed_lifetime).into(),
    );
    // The access certificate when configured, else the credential signing key.
    let (signer, x5c) = match &state.keys.metadata {
        Some(key) => (key.signer.as_ref(), &key.x5c),
        None => (state.keys.signer.as_ref(), &state.keys.x5c),
    };
    let mut header = serde_json::Map::new();
    header.insert("typ".into(), SIGNED_METADATA_TYP.into());
    header.insert(
        "x5c".into(),
        x5c.iter()
            .map(|c| serde_json::Value::String(avow_crypto::b64::encode_standard(c)))
            .collect(),
    );
    let payload =
        serde_json::to_vec(&claims).map_err(|_| avow_crypto::CryptoError::SigningFailed)?;
    avow_crypto::jws::sign_compact(signer, header, &payload).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(header::ACCEPT, v);
        }
        h
    }

    #[test]
    fn content_negotiation() {
        assert!(wants_jwt(&accept("application/jwt")));
        assert!(wants_jwt(&accept(
            "application/jwt, application/json;q=0.9"
        )));
        assert!(!wants_jwt(&accept(
            "application/json, application/jwt;q=0.5"
        )));
        assert!(!wants_jwt(&accept("application/json")));
        assert!(!wants_jwt(&accept("*/*")));
        assert!(!wants_jwt(&accept("application/jwt;q=0")));
    }
}
