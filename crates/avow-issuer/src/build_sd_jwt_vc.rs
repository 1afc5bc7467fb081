//! `BuildSdJwtVc`: an SD-JWT VC for one holder key from the holder's data
//! and the configuration's claims (SD-JWT VC; ISS-SDJWT-01 … -10).

use crate::config::{CredentialConfigurationConfig, SignatureProfile};
use crate::error::ApiError;
use crate::state::IssuerState;
use avow_core::ProtocolError;
use avow_crypto::EcPublicJwk;
use avow_formats::sd_jwt::{ClaimPath, PathElement};
use avow_formats::sd_jwt_vc::{IssuerKeyHeader, SdJwtVcClaims};

fn resource(e: ProtocolError) -> ApiError {
    ApiError::at_resource(e)
}

/// What the issuer decided to put in one credential. `K` is its holder
/// binding: `&EcPublicJwk` (the default) for the formats that always bind a
/// key (`mso_mdoc`, `jwt_vc_json`), `Option<&EcPublicJwk>` for SD-JWT VC,
/// `None` being a bearer credential without `cnf` (VCI §12.2.4;
/// ISS-META-08).
pub struct CredentialContent<'a, K = &'a EcPublicJwk> {
    pub configuration: &'a CredentialConfigurationConfig,
    pub subject_claims: serde_json::Map<String, serde_json::Value>,
    pub holder_key: K,
    pub issued_at: i64,
    pub expires_at: i64,
    /// The `status` claim (Token Status List), when status is on.
    pub status: Option<crate::status_list::StatusEntry>,
}

impl<'a> CredentialContent<'a, Option<&'a EcPublicJwk>> {
    /// The same content for a format that needs a holder key; a bearer
    /// slot here is a configuration start-up validation let through
    /// (`key_proof::validate_configuration`), answered `500 server_error`.
    pub fn with_required_key(self) -> Result<CredentialContent<'a>, ApiError> {
        let Some(holder_key) = self.holder_key else {
            tracing::error!("a bearer credential was requested of a format that binds a key");
            return Err(resource(ProtocolError::server_error(
                "this credential format cannot be issued without a holder key",
            )));
        };
        Ok(CredentialContent {
            configuration: self.configuration,
            subject_claims: self.subject_claims,
            holder_key,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            status: self.status,
        })
    }
}

/// `iss` and the key header of the configuration's signature profile (ISS-SIG-01).
pub(crate) fn key_conveyance(
    state: &IssuerState,
    profile: SignatureProfile,
) -> (String, IssuerKeyHeader) {
    match profile {
        SignatureProfile::X5c => (
            state.issuer_id.clone(),
            IssuerKeyHeader::X5c(state.keys.x5c.clone()),
        ),
        SignatureProfile::Jwk => (state.issuer_id.clone(), IssuerKeyHeader::Jwk),
        SignatureProfile::Kid => (
            state.issuer_id.clone(),
            IssuerKeyHeader::Kid(state.keys.kid.clone()),
        ),
        SignatureProfile::DidWeb => {
            let did = crate::did_web::did_web(&state.issuer_id)
                .unwrap_or_else(|| state.issuer_id.clone());
            let kid = crate::did_web::verification_method(&did, &state.keys.kid);
            (did, IssuerKeyHeader::Kid(kid))
        }
    }
}

/// Signs one SD-JWT VC through the issuer's `Signer`: `cnf.jwk` is the
/// holder key, none for a bearer credential (SD-JWT VC §2.2.2: `cnf` is
/// present only with key binding; VCI §12.2.4, ISS-META-08).
pub async fn build_sd_jwt_vc(
    state: &IssuerState,
    content: &CredentialContent<'_, Option<&EcPublicJwk>>,
) -> Result<String, ApiError> {
    let configuration = content.configuration;
    let (iss, key_header) = key_conveyance(state, configuration.signature_profile);
    let claims = SdJwtVcClaims {
        iss,
        iat: content.issued_at,
        exp: content.expires_at,
        nbf: None,
        vct: configuration.vct.clone().unwrap_or_default(),
        holder_key: content.holder_key.cloned(),
        status: content
            .status
            .as_ref()
            .map(crate::status_list::StatusEntry::claim),
        subject_claims: content.subject_claims.clone(),
    };
    avow_formats::sd_jwt_vc::issue(
        state.keys.signer.as_ref(),
        &key_header,
        &claims,
        &disclosable_paths(configuration),
        configuration.decoys,
        state.random.as_ref(),
    )
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "credential signing failed");
        resource(ProtocolError::server_error(
            "the credential could not be signed",
        ))
    })
}

/// The holder's claims this configuration covers; mandatory ones must exist (ISS-SDJWT-10).
pub fn subject_claims(
    configuration: &CredentialConfigurationConfig,
    holder_claims: &serde_json::Map<String, serde_json::Value>,
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    let mut out = serde_json::Map::new();
    for claim in &configuration.claims {
        let Some(serde_json::Value::String(top)) = claim.path.first() else {
            continue;
        };
        if claim.mandatory && lookup(holder_claims, &claim.path).is_none() {
            return Err(resource(ProtocolError::credential_request_denied(
                "the holder data lacks a claim this credential requires",
            )));
        }
        if let Some(value) = holder_claims.get(top)
            && !crate::config::RESERVED_CLAIMS.contains(&top.as_str())
        {
            out.insert(top.clone(), value.clone());
        }
    }
    Ok(out)
}

fn lookup<'a>(
    claims: &'a serde_json::Map<String, serde_json::Value>,
    path: &[serde_json::Value],
) -> Option<&'a serde_json::Value> {
    let (first, rest) = path.split_first()?;
    let mut current = claims.get(first.as_str()?)?;
    for element in rest {
        current = match element {
            serde_json::Value::String(k) => current.get(k)?,
            serde_json::Value::Number(n) => current.get(usize::try_from(n.as_u64()?).ok()?)?,
            _ => current.as_array()?.first()?,
        };
    }
    Some(current)
}

fn disclosable_paths(configuration: &CredentialConfigurationConfig) -> Vec<ClaimPath> {
    configuration
        .claims
        .iter()
        .filter(|c| c.selectively_disclosable)
        .filter_map(|c| {
            c.path
                .iter()
                .map(|e| match e {
                    serde_json::Value::String(k) => Some(PathElement::Key(k.clone())),
                    serde_json::Value::Null => Some(PathElement::AllElements),
                    serde_json::Value::Number(n) => n
                        .as_u64()
                        .and_then(|i| usize::try_from(i).ok())
                        .map(PathElement::Index),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
        })
        .collect()
}
