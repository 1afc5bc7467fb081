//! The issuer's `did:web` identifier and DID document (did:web method,
//! W3C DID Core; ISS-SIG-03), for the `did-web` signature profile.

use crate::keys::PublishedKey;
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

/// `did:web` of an https (or dev loopback http) identifier: host with the port
/// percent-encoded, path segments joined by `:`.
pub fn did_web(issuer_id: &str) -> Option<String> {
    let rest = issuer_id
        .strip_prefix("https://")
        .or_else(|| issuer_id.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if host.is_empty() {
        return None;
    }
    let mut did = format!("did:web:{}", host.replace(':', "%3A"));
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        did.push(':');
        did.push_str(segment);
    }
    Some(did)
}

/// The verification method id of the signing key.
pub fn verification_method(did: &str, kid: &str) -> String {
    format!("{did}#{kid}")
}

/// The DID document: one verification method (`publicKeyJwk`) per
/// published key — the signing key first, then the keys retired by a
/// rotation, which stay until the last credential they signed has expired
/// (SD-JWT §9.8; ISS-SIG-06) — each an `assertionMethod`, with its RFC 7638
/// thumbprint as fragment.
pub fn did_document(did: &str, keys: &[PublishedKey]) -> serde_json::Value {
    let methods: Vec<serde_json::Value> = keys
        .iter()
        .map(|key| {
            serde_json::json!({
                "id": verification_method(did, &key.kid),
                "type": "JsonWebKey2020",
                "controller": did,
                "publicKeyJwk": key.jwk.to_json(),
            })
        })
        .collect();
    let assertion: Vec<String> = keys
        .iter()
        .map(|key| verification_method(did, &key.kid))
        .collect();
    serde_json::json!({
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/suites/jws-2020/v1"],
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": assertion,
    })
}

/// `GET /.well-known/did.json`.
pub async fn get_did_document(State(state): State<AppState>) -> impl IntoResponse {
    let did = did_web(&state.issuer_id).unwrap_or_default();
    (
        [(header::CONTENT_TYPE, "application/did+json")],
        axum::Json(did_document(&did, &state.keys.published())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_web_encodes_port_and_path() {
        assert_eq!(
            did_web("https://issuer.example").as_deref(),
            Some("did:web:issuer.example")
        );
        assert_eq!(
            did_web("http://127.0.0.1:8080").as_deref(),
            Some("did:web:127.0.0.1%3A8080")
        );
        assert_eq!(
            did_web("https://issuer.example/tenants/a").as_deref(),
            Some("did:web:issuer.example:tenants:a")
        );
        assert_eq!(did_web("ftp://x"), None);
    }
}
