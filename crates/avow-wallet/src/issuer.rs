//! Issuer discovery: Credential Issuer Metadata and the Authorization Server
//! Metadata it points to (WAL-META-01, -02, -05, -07).

use crate::client::HttpClient;
use crate::error::WalletError;
use avow_core::metadata::{
    AuthorizationServerMetadata, CredentialIssuerMetadata, SIGNED_METADATA_TYP, well_known_url,
};
use avow_crypto::x509::TrustAnchors;
use avow_crypto::{AlgorithmAllowList, CompactJws};

#[derive(Debug, Clone)]
pub struct IssuerInfo {
    pub metadata: CredentialIssuerMetadata,
    pub authorization_server: AuthorizationServerMetadata,
}

/// Whether the wallet asks for, and insists on, signed metadata (WAL-META-01, -03, -04).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SignedMetadataPolicy {
    /// Plain JSON only.
    #[default]
    Ignore,
    /// Ask for the JWT first; verify it when it comes, accept JSON otherwise.
    Prefer,
    /// The ETSI profile: only verified signed metadata is accepted.
    Require,
}

/// Discovery with plain JSON metadata.
pub async fn discover(
    client: &HttpClient,
    credential_issuer: &str,
) -> Result<IssuerInfo, WalletError> {
    discover_with(
        client,
        credential_issuer,
        SignedMetadataPolicy::Ignore,
        &TrustAnchors::default(),
        0,
    )
    .await
}

/// Discovery under a signed-metadata policy; `anchors` validate the JWT's `x5c`.
pub async fn discover_with(
    client: &HttpClient,
    credential_issuer: &str,
    policy: SignedMetadataPolicy,
    anchors: &TrustAnchors,
    now: i64,
) -> Result<IssuerInfo, WalletError> {
    let url = well_known_url(credential_issuer, "openid-credential-issuer").ok_or_else(|| {
        WalletError::Metadata("the credential issuer identifier is not a URL".into())
    })?;
    let accept = match policy {
        SignedMetadataPolicy::Ignore => "application/json",
        SignedMetadataPolicy::Prefer | SignedMetadataPolicy::Require => {
            "application/jwt, application/json;q=0.5"
        }
    };
    let fetched = client.get(&url, accept).await?;
    if fetched.status != 200 {
        return Err(WalletError::Metadata(format!(
            "issuer metadata answered {}",
            fetched.status
        )));
    }
    let metadata: CredentialIssuerMetadata = match (fetched.content_type(), policy) {
        (Some("application/jwt"), SignedMetadataPolicy::Prefer | SignedMetadataPolicy::Require) => {
            let text = std::str::from_utf8(&fetched.body)
                .map_err(|_| WalletError::Metadata("signed metadata is not text".into()))?;
            verify_signed_metadata(text.trim(), credential_issuer, anchors, now)?
        }
        (_, SignedMetadataPolicy::Require) => {
            return Err(WalletError::Metadata(
                "the issuer did not serve signed metadata, which this wallet requires".into(),
            ));
        }
        _ => fetched.json()?,
    };
    // VCI §12.2.4: identical, character for character.
    if metadata.credential_issuer != credential_issuer {
        return Err(WalletError::Metadata(
            "credential_issuer in metadata differs from the identifier used".into(),
        ));
    }
    let as_id = match metadata.authorization_servers.as_deref() {
        Some([first, ..]) => first.clone(),
        _ => credential_issuer.to_owned(),
    };
    let as_url = well_known_url(&as_id, "oauth-authorization-server").ok_or_else(|| {
        WalletError::Metadata("the authorization server identifier is not a URL".into())
    })?;
    let fetched = client.get(&as_url, "application/json").await?;
    if fetched.status != 200 {
        return Err(WalletError::Metadata(format!(
            "authorization server metadata answered {}",
            fetched.status
        )));
    }
    let authorization_server: AuthorizationServerMetadata = fetched.json()?;
    // RFC 8414 §3.3.
    if authorization_server.issuer != as_id {
        return Err(WalletError::Metadata(
            "the authorization server issuer differs from its identifier".into(),
        ));
    }
    Ok(IssuerInfo {
        metadata,
        authorization_server,
    })
}

/// WAL-META-03: `typ`, allow-listed `alg`, `x5c` chain to a trusted anchor
/// (leaf not self-signed, anchor excluded), signature, `sub` = issuer, `iat`/`exp`.
pub fn verify_signed_metadata(
    jwt: &str,
    credential_issuer: &str,
    anchors: &TrustAnchors,
    now: i64,
) -> Result<CredentialIssuerMetadata, WalletError> {
    let bad = |m: &str| WalletError::Metadata(format!("signed metadata: {m}"));
    let jws = CompactJws::parse(jwt).map_err(|_| bad("not a JWS"))?;
    if jws.header_str("typ") != Some(SIGNED_METADATA_TYP) {
        return Err(bad("wrong typ"));
    }
    let x5c = jws
        .x5c()
        .ok_or_else(|| bad("no x5c"))?
        .map_err(|_| bad("malformed x5c"))?;
    let key = anchors
        .validate_chain(&x5c, now)
        .map_err(|e| bad(&format!("untrusted signer: {e}")))?;
    jws.verify(&key, &AlgorithmAllowList::es256())
        .map_err(|_| bad("bad signature"))?;
    let claims: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(jws.payload()).map_err(|_| bad("payload is not a JSON object"))?;
    if claims.get("sub").and_then(|v| v.as_str()) != Some(credential_issuer) {
        return Err(bad("sub is not the credential issuer"));
    }
    let exp = claims
        .get("exp")
        .and_then(|v| v.as_i64())
        .ok_or_else(|| bad("no exp"))?;
    let iat = claims
        .get("iat")
        .and_then(|v| v.as_i64())
        .ok_or_else(|| bad("no iat"))?;
    if exp < now - 60 || iat > now + 60 {
        return Err(bad("expired or not yet valid"));
    }
    serde_json::from_value(serde_json::Value::Object(claims)).map_err(|e| bad(&e.to_string()))
}
