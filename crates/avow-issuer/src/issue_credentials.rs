//! `IssueCredentials`: one credential per proven key, or one bearer
//! credential, for the credential endpoint and the deferred endpoint alike
//! (VCI §8.3, §9.2, §12.2.4): subject claims, a status list entry
//! (ISS-STAT-01), randomized validity (ISS-BATCH-03), the format's builder,
//! and the issuance record (ISS-SEC-07: no credential bytes).

use crate::build_sd_jwt_vc::{CredentialContent, build_sd_jwt_vc, subject_claims};
use crate::config::{CredentialConfigurationConfig, CredentialFormat};
use crate::error::ApiError;
use crate::key_proof::HolderBinding;
use crate::state::IssuerState;
use avow_core::credential::IssuedCredential;
use avow_crypto::EcPublicJwk;
use avow_store::{Holder, IssuanceRecord};

/// Builds and records one credential per key of `binding` (every proof was
/// verified before), or exactly one without `cnf` for
/// [`HolderBinding::Bearer`] (VCI §12.2.4; ISS-META-08). A bearer
/// credential's issuance record has an empty `key_thumbprint`.
pub async fn issue_credentials(
    state: &IssuerState,
    holder_id: &str,
    configuration_id: &str,
    configuration: &CredentialConfigurationConfig,
    holder: &Holder,
    binding: &HolderBinding,
) -> Result<Vec<IssuedCredential>, ApiError> {
    let subject_claims = match configuration.format {
        CredentialFormat::DcSdJwt | CredentialFormat::JwtVcJson => {
            subject_claims(configuration, &holder.claims)?
        }
        CredentialFormat::MsoMdoc => holder.claims.clone(),
    };
    let slots: Vec<Option<&EcPublicJwk>> = match binding {
        HolderBinding::Keys(keys) => keys.iter().map(Some).collect(),
        HolderBinding::Bearer => vec![None],
    };
    let now = state.now();
    let mut credentials = Vec::with_capacity(slots.len());
    for key in slots {
        let status = crate::status_list::allocate_status(state).await?;
        let (issued_at, expires_at) =
            crate::key_proof::credential_validity(state, configuration.lifetime, now);
        let content = CredentialContent {
            configuration,
            subject_claims: subject_claims.clone(),
            holder_key: key,
            issued_at,
            expires_at,
            status: status.clone(),
        };
        let credential = match configuration.format {
            CredentialFormat::DcSdJwt => build_sd_jwt_vc(state, &content).await?,
            CredentialFormat::MsoMdoc => {
                crate::build_mdoc::build_mdoc(state, &content.with_required_key()?).await?
            }
            CredentialFormat::JwtVcJson => {
                crate::build_jwt_vc::build_jwt_vc(state, &content.with_required_key()?).await?
            }
        };
        state
            .store
            .record_issuance(&IssuanceRecord {
                id: state.random.token(16),
                holder_id: holder_id.to_owned(),
                configuration_id: configuration_id.to_owned(),
                key_thumbprint: key.map(EcPublicJwk::thumbprint).unwrap_or_default(),
                issued_at: now,
                expires_at,
                status_list_id: status.as_ref().map(|s| s.list_id.clone()),
                status_index: status.as_ref().map(|s| s.index),
            })
            .await?;
        credentials.push(IssuedCredential {
            credential: serde_json::Value::String(credential),
        });
    }
    Ok(credentials)
}
