//! Issuer discovery: Credential Issuer Metadata and the Authorization Server
//! Metadata it points to (WAL-META-01, -02, -05, -07).

use crate::client::HttpClient;
use crate::error::WalletError;
use avow_core::metadata::{AuthorizationServerMetadata, CredentialIssuerMetadata, well_known_url};

#[derive(Debug, Clone)]
pub struct IssuerInfo {
    pub metadata: CredentialIssuerMetadata,
    pub authorization_server: AuthorizationServerMetadata,
}

pub async fn discover(
    client: &HttpClient,
    credential_issuer: &str,
) -> Result<IssuerInfo, WalletError> {
    let url = well_known_url(credential_issuer, "openid-credential-issuer").ok_or_else(|| {
        WalletError::Metadata("the credential issuer identifier is not a URL".into())
    })?;
    let fetched = client.get(&url, "application/json").await?;
    if fetched.status != 200 {
        return Err(WalletError::Metadata(format!(
            "issuer metadata answered {}",
            fetched.status
        )));
    }
    let metadata: CredentialIssuerMetadata = fetched.json()?;
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
