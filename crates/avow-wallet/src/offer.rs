//! Resolving a credential offer link (OID4VCI §4.1; WAL-OFFER-01 … -04).

use crate::client::HttpClient;
use crate::error::WalletError;
use avow_core::offer::{CredentialOffer, OfferError, OfferPayload, parse_offer_json};

/// Parses `link` and, for an offer by reference, fetches it. The result is
/// validated but still untrusted: the caller checks it against metadata.
pub async fn resolve_offer(
    client: &HttpClient,
    link: &str,
) -> Result<CredentialOffer, WalletError> {
    let offer = match OfferPayload::parse_link(link)? {
        OfferPayload::ByValue(offer) => *offer,
        OfferPayload::ByReference(uri) => {
            client
                .check_url(&uri)
                .map_err(|_| OfferError::BadOfferUri)?;
            let fetched = client.get(&uri, "application/json").await?;
            if fetched.status != 200 {
                return Err(WalletError::UnexpectedResponse(format!(
                    "credential_offer_uri answered {}",
                    fetched.status
                )));
            }
            // VCI §4.1.3: the offer object is JSON; a signed (application/jwt) answer is refused.
            if fetched.content_type() != Some("application/json") {
                return Err(WalletError::UnexpectedResponse(
                    "credential_offer_uri did not answer application/json".into(),
                ));
            }
            parse_offer_json(&fetched.body)?
        }
    };
    offer.validate(client.allows_http_loopback())?;
    Ok(offer)
}
