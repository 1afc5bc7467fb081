//! `CreateCredentialOffer` (admin, ISS-OFFER-01 … -08) and
//! `HandleCredentialOfferRequest` (by-reference fetch, OID4VCI §4.1.3).

use crate::error::ApiError;
use crate::state::{AppState, IssuerState};
use avow_core::ProtocolError;
use avow_core::offer::{
    AuthorizationCodeGrant, CredentialOffer, Grants, InputMode, OfferPayload, OfferScheme,
    PreAuthorizedCodeGrant, TX_CODE_DESCRIPTION_MAX, TxCode,
};
use avow_crypto::hash::sha256_b64;
use avow_store::{IssuerStateRecord, NewOffer};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Admin request to create a pre-authorized offer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOfferRequest {
    pub holder_id: String,
    pub credential_configuration_ids: Vec<String>,
    /// Require a transaction code; the issuer generates it and returns it once, for out-of-band delivery.
    #[serde(default)]
    pub tx_code: Option<TxCodeSpec>,
    /// The grants the offer carries (default: the pre-authorized code only).
    #[serde(default = "default_grants")]
    pub grants: Vec<OfferGrant>,
}

/// A grant type an offer can carry (OID4VCI §4.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferGrant {
    PreAuthorizedCode,
    /// With an `issuer_state` that ties the authorization to this offer and holder (ISS-OFFER-03).
    AuthorizationCode,
}

fn default_grants() -> Vec<OfferGrant> {
    vec![OfferGrant::PreAuthorizedCode]
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxCodeSpec {
    /// Digits (numeric) or characters (text); default 6.
    #[serde(default)]
    pub length: Option<u32>,
    #[serde(default)]
    pub input_mode: Option<InputMode>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedOffer {
    pub offer_id: String,
    pub credential_offer: CredentialOffer,
    pub credential_offer_uri: String,
    /// The transaction code to deliver to the holder out of band; shown once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_code: Option<String>,
    /// Links per scheme: `by_value` and `by_reference`.
    pub links: BTreeMap<String, OfferLinks>,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OfferLinks {
    pub by_value: String,
    pub by_reference: String,
}

fn admin_error(description: impl Into<String>) -> ApiError {
    ApiError::at_as(ProtocolError::invalid_request(description))
}

pub async fn create_credential_offer(
    State(state): State<AppState>,
    Json(request): Json<CreateOfferRequest>,
) -> Result<Response, ApiError> {
    let created = create_offer(&state, &request).await?;
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(created),
    )
        .into_response())
}

pub async fn create_offer(
    state: &IssuerState,
    request: &CreateOfferRequest,
) -> Result<CreatedOffer, ApiError> {
    if request.credential_configuration_ids.is_empty() {
        return Err(admin_error(
            "credential_configuration_ids must not be empty",
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for id in &request.credential_configuration_ids {
        if !state.config.credential_configurations.contains_key(id) {
            return Err(admin_error(format!(
                "unknown credential configuration {id}"
            )));
        }
        if !seen.insert(id) {
            return Err(admin_error(format!(
                "credential configuration {id} is listed twice"
            )));
        }
    }
    let pre_authorized = request.grants.contains(&OfferGrant::PreAuthorizedCode);
    let authorization_code = request.grants.contains(&OfferGrant::AuthorizationCode);
    if !pre_authorized && !authorization_code {
        return Err(admin_error("an offer needs at least one grant"));
    }
    if request.tx_code.is_some() && !pre_authorized {
        return Err(admin_error(
            "a transaction code only applies to the pre-authorized code grant",
        ));
    }
    if state.store.holder(&request.holder_id).await?.is_none() {
        return Err(admin_error("unknown holder"));
    }
    let (tx_code_value, tx_code) = match &request.tx_code {
        None => (None, None),
        Some(spec) => {
            let length = spec.length.unwrap_or(6);
            if !(4..=12).contains(&length) {
                return Err(admin_error("tx_code length must be between 4 and 12"));
            }
            if spec
                .description
                .as_ref()
                .is_some_and(|d| d.chars().count() > TX_CODE_DESCRIPTION_MAX)
            {
                return Err(admin_error(
                    "tx_code description must be at most 300 characters",
                ));
            }
            let mode = spec.input_mode.unwrap_or(InputMode::Numeric);
            let len = usize::try_from(length).unwrap_or(6);
            let value = match mode {
                InputMode::Numeric => state.random.digits(len),
                InputMode::Text => state.random.token(len).chars().take(len).collect(),
            };
            (
                Some(value),
                Some(TxCode {
                    input_mode: Some(mode),
                    length: Some(length),
                    description: spec.description.clone(),
                }),
            )
        }
    };
    let now = state.now();
    let offer_id = state.random.token(16);
    let code = state.random.token(32);
    let issuer_state = authorization_code.then(|| state.random.token(32));
    // Without a pre-authorized grant the row still needs a unique code hash:
    // one no code can ever hash to.
    let code_hash = if pre_authorized {
        sha256_b64(code.as_bytes())
    } else {
        format!("unusable:{offer_id}")
    };
    let offer = CredentialOffer {
        credential_issuer: state.issuer_id.clone(),
        credential_configuration_ids: request.credential_configuration_ids.clone(),
        grants: Grants {
            authorization_code: issuer_state
                .clone()
                .map(|issuer_state| AuthorizationCodeGrant {
                    issuer_state: Some(issuer_state),
                    authorization_server: None,
                }),
            pre_authorized_code: pre_authorized.then(|| PreAuthorizedCodeGrant {
                pre_authorized_code: code.clone(),
                tx_code,
                authorization_server: None,
            }),
        },
    };
    let lifetime = state
        .config
        .policy
        .offer_lifetime
        .min(state.config.policy.pre_authorized_code_lifetime);
    let expires_at = now + lifetime;
    state
        .store
        .insert_offer(&NewOffer {
            offer_id: offer_id.clone(),
            offer_json: serde_json::to_value(&offer)
                .map_err(|_| ApiError::at_as(ProtocolError::server_error("offer encoding")))?,
            holder_id: request.holder_id.clone(),
            configuration_ids: request.credential_configuration_ids.clone(),
            pre_authorized_code_hash: code_hash,
            tx_code_hash: tx_code_value.as_deref().map(|t| sha256_b64(t.as_bytes())),
            created_at: now,
            expires_at,
        })
        .await?;
    if let Some(issuer_state) = &issuer_state {
        state
            .store
            .insert_issuer_state(&IssuerStateRecord {
                issuer_state_hash: sha256_b64(issuer_state.as_bytes()),
                offer_id: offer_id.clone(),
                holder_id: request.holder_id.clone(),
                configuration_ids: request.credential_configuration_ids.clone(),
                expires_at,
            })
            .await?;
    }
    let offer_uri = format!("{}/{offer_id}", state.endpoints.credential_offer);
    let by_value = OfferPayload::ByValue(Box::new(offer.clone()));
    let by_reference = OfferPayload::ByReference(offer_uri.clone());
    let links = OfferScheme::ALL
        .iter()
        .map(|s| {
            let prefix = s.prefix();
            (
                prefix.trim_end_matches("://").to_owned(),
                OfferLinks {
                    by_value: by_value.to_link(prefix),
                    by_reference: by_reference.to_link(prefix),
                },
            )
        })
        .collect();
    tracing::info!(offer = %offer_id, configurations = ?request.credential_configuration_ids, tx_code = tx_code_value.is_some(), "credential offer created");
    Ok(CreatedOffer {
        offer_id,
        credential_offer: offer,
        credential_offer_uri: offer_uri,
        tx_code: tx_code_value,
        links,
        expires_at,
    })
}

/// `GET /credential-offer/{id}`: readable repeatedly until the grant is
/// redeemed or expires, then 404 (ISS-OFFER-07).
pub async fn handle_credential_offer_request(
    State(state): State<AppState>,
    Path(offer_id): Path<String>,
) -> Result<Response, ApiError> {
    match state.store.offer_json(&offer_id, state.now()).await? {
        Some(offer) => Ok(([(header::CACHE_CONTROL, "no-store")], Json(offer)).into_response()),
        None => Err(ApiError::at_as(ProtocolError::new(
            avow_core::ErrorCode::NotFound,
            "no such credential offer",
        ))),
    }
}
