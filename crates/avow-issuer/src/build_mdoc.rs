//! `BuildMdoc`: an ISO 18013-5 mdoc for one holder key (VCI A.2; HAIP §8;
//! ISS-MDOC-01 … -04, -07, ISS-SIG-05).

use crate::build_sd_jwt_vc::CredentialContent;
use crate::error::ApiError;
use crate::state::IssuerState;
use avow_core::ProtocolError;
use avow_formats::mdoc::{CborValue, MdocContent, element_from_json};
use std::collections::BTreeMap;

fn resource(e: ProtocolError) -> ApiError {
    ApiError::at_resource(e)
}

/// The data elements of the configuration from the holder's data: a claim
/// path `[namespace, element]` takes the holder claim named `element`.
/// Mandatory elements must exist (ISS-SDJWT-10's rule, for mdoc).
fn namespaces(
    content: &CredentialContent<'_>,
) -> Result<BTreeMap<String, Vec<(String, CborValue)>>, ApiError> {
    let mut out: BTreeMap<String, Vec<(String, CborValue)>> = BTreeMap::new();
    for claim in &content.configuration.claims {
        let (Some(namespace), Some(element)) = (
            claim.path.first().and_then(|v| v.as_str()),
            claim.path.get(1).and_then(|v| v.as_str()),
        ) else {
            continue;
        };
        match content.subject_claims.get(element) {
            Some(value) => {
                let cbor = element_from_json(element, value).map_err(|e| {
                    tracing::error!(error = %e, "holder data does not convert to an mdoc element");
                    resource(ProtocolError::credential_request_denied(
                        "the holder data does not fit this credential",
                    ))
                })?;
                out.entry(namespace.to_owned())
                    .or_default()
                    .push((element.to_owned(), cbor));
            }
            None if claim.mandatory => {
                return Err(resource(ProtocolError::credential_request_denied(
                    "the holder data lacks a claim this credential requires",
                )));
            }
            None => {}
        }
    }
    Ok(out)
}

/// Signs one mdoc (COSE_Sign1 MSO, `x5chain` = the issuer chain, never the root).
pub async fn build_mdoc(
    state: &IssuerState,
    content: &CredentialContent<'_>,
) -> Result<String, ApiError> {
    let doctype = content.configuration.doctype.clone().unwrap_or_default();
    let mdoc = MdocContent {
        doctype,
        namespaces: namespaces(content)?,
        device_key: content.holder_key.clone(),
        signed: content.issued_at,
        valid_from: content.issued_at,
        valid_until: content.expires_at,
        status: content.status.as_ref().map(|s| s.reference.clone()),
    };
    avow_formats::mdoc::issue(
        state.keys.signer.as_ref(),
        &state.keys.x5c,
        &mdoc,
        state.random.as_ref(),
    )
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "mdoc signing failed");
        resource(ProtocolError::server_error(
            "the credential could not be signed",
        ))
    })
}
