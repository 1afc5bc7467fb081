//! `BuildJwtVc`: a W3C VC signed as a JWT (`jwt_vc_json`, VCI A.1.1;
//! ISS-JWTVC-01) for one holder key; the issuer key is conveyed per the
//! configuration's signature profile, like SD-JWT VC (ISS-SIG-01). Always
//! bound (`cnf.jwk`): a bearer `jwt_vc_json` configuration is refused at
//! start-up (`key_proof::validate_configuration`; VCI §12.2.4).

use crate::build_sd_jwt_vc::{CredentialContent, key_conveyance};
use crate::error::ApiError;
use crate::state::IssuerState;
use avow_core::ProtocolError;
use avow_formats::jwt_vc::JwtVcClaims;

/// Signs one JWT VC through the issuer's `Signer`; the response carries the
/// compact JWT as is (VCI A.1.1.3).
pub async fn build_jwt_vc(
    state: &IssuerState,
    content: &CredentialContent<'_>,
) -> Result<String, ApiError> {
    let configuration = content.configuration;
    let (iss, key_header) = key_conveyance(state, configuration.signature_profile);
    let claims = JwtVcClaims {
        iss,
        iat: content.issued_at,
        exp: content.expires_at,
        types: configuration
            .credential_definition_type
            .clone()
            .unwrap_or_default(),
        credential_subject: content.subject_claims.clone(),
        holder_key: content.holder_key.clone(),
        status: content
            .status
            .as_ref()
            .map(crate::status_list::StatusEntry::claim),
    };
    avow_formats::jwt_vc::issue(
        state.keys.signer.as_ref(),
        &key_header,
        &claims,
        state.random.as_ref(),
    )
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "JWT VC signing failed");
        ApiError::at_resource(ProtocolError::server_error(
            "the credential could not be signed",
        ))
    })
}
