//! Deferred issuance (OID4VCI 1.0 §8.3, §9; APT §7.6; ISS-DEF-01 … -09,
//! ISS-ENC-08).
//!
//! * Policy ([`requires_deferral`]): with `[deferred] enabled = true`, a
//!   credential configuration with `deferred = true` defers every request;
//!   a holder whose claims carry `"_avow_deferred": true` (every
//!   configuration) or `"_avow_deferred": ["<configuration id>", …]` (those)
//!   is deferred too. The flag is set with the holder import (`PUT
//!   /admin/holders`) and is never put into a credential (claims starting
//!   with `_avow_` cannot be configured).
//! * Credential Endpoint ([`defer`]): after the proofs are verified, the
//!   validated transaction (holder keys, configuration, holder, grant,
//!   whether the response was encrypted) is stored, then answered `202
//!   {transaction_id, interval}`, `Cache-Control: no-store`. The
//!   `transaction_id` is 256 bits of randomness stored only as a hash.
//! * `POST /deferred_credential` ([`handle_deferred_credential_request`]):
//!   a DPoP access token of the same grant (a refreshed one counts: the
//!   grant id, else for the pre-authorized grant the offer, else the holder
//!   must match) and `{transaction_id}`. Pending → `202` (same id, the
//!   interval); approved → `200 {credentials, notification_id}` built then,
//!   through the same builders and status allocation, and the id is used
//!   up; unknown, used or other-grant → `400 invalid_transaction_id`; denied
//!   or expired → `400 credential_request_denied`. Success bodies are
//!   encrypted with *this* request's `credential_response_encryption`
//!   (ISS-ENC-08).
//! * The operator decides through the admin API (`admin_deferred`).
//!
//! Configuration: `[deferred]` ([`DeferredConfig`]) and, per credential
//! configuration, `deferred` and `deferred_interval`.

use crate::build_sd_jwt_vc::subject_claims;
use crate::config::{CredentialConfigurationConfig, CredentialFormat, IssuerConfig};
use crate::credential_encryption::ResponseEncryption;
use crate::dpop::fresh_nonce;
use crate::error::ApiError;
use crate::key_proof::HolderBinding;
use crate::state::{AppState, IssuerState};
use avow_core::credential::{CredentialResponse, IssuedCredential};
use avow_core::{ErrorCode, ProtocolError};
use avow_crypto::EcPublicJwk;
use avow_crypto::hash::sha256_b64;
use avow_store::{AccessTokenRecord, DeferredState, DeferredTransactionRecord, Holder};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;

/// The path of the Deferred Credential Endpoint.
pub const DEFERRED_CREDENTIAL_PATH: &str = "/deferred_credential";
/// The holder claim that asks for deferral (see the module documentation).
pub const HOLDER_FLAG: &str = "_avow_deferred";
/// Claims starting with this are issuer flags, never credential claims.
pub const RESERVED_CLAIM_PREFIX: &str = "_avow_";
/// Longest `transaction_id` looked up (ours are 43 characters).
const MAX_TRANSACTION_ID: usize = 512;

/// `[deferred]`: deferred issuance (ISS-DEF). Every key is optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeferredConfig {
    /// Offer deferred issuance: publish `deferred_credential_endpoint`
    /// (ISS-META-05) and defer what the policy says. Default: false.
    pub enabled: bool,
    /// The `interval` answered with a `202`, seconds (VCI §8.3); a
    /// configuration's `deferred_interval` overrides it. Default: 60.
    pub interval: u64,
    /// How long a transaction can be decided and fetched, seconds; then it
    /// is expired: `credential_request_denied` (ISS-DEF-07, -09).
    /// Default: 30 days.
    pub transaction_lifetime: i64,
    /// How long a finished or expired transaction is remembered after its
    /// lifetime (answers `credential_request_denied` rather than
    /// `invalid_transaction_id`), seconds. Default: 7 days.
    pub retention: i64,
}

impl Default for DeferredConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            interval: 60,
            transaction_lifetime: 30 * 86_400,
            retention: 7 * 86_400,
        }
    }
}

/// Start-up checks of `[deferred]` and the per-configuration keys; the
/// message names the key.
pub fn validate_config(config: &IssuerConfig) -> Result<(), String> {
    let d = &config.deferred;
    if !(60..=365 * 86_400).contains(&d.transaction_lifetime) {
        return Err("deferred.transaction_lifetime must be between 60 seconds and 365 days".into());
    }
    let max_interval = u64::try_from(d.transaction_lifetime).unwrap_or(u64::MAX);
    if d.interval == 0 || d.interval > max_interval {
        return Err("deferred.interval must be between 1 second and transaction_lifetime".into());
    }
    if !(0..=365 * 86_400).contains(&d.retention) {
        return Err("deferred.retention must be between 0 and 365 days".into());
    }
    for (id, c) in &config.credential_configurations {
        if (c.deferred || c.deferred_interval.is_some()) && !d.enabled {
            return Err(format!(
                "credential configuration {id}: deferred and deferred_interval need [deferred] enabled = true"
            ));
        }
        if c.deferred_interval
            .is_some_and(|i| i == 0 || i > max_interval)
        {
            return Err(format!(
                "credential configuration {id}: deferred_interval must be between 1 second and deferred.transaction_lifetime"
            ));
        }
        if let Some(name) = c
            .claims
            .iter()
            .filter_map(|claim| claim.path.first().and_then(serde_json::Value::as_str))
            .find(|name| name.starts_with(RESERVED_CLAIM_PREFIX))
        {
            return Err(format!(
                "credential configuration {id}: claim {name} is reserved for issuer flags ({RESERVED_CLAIM_PREFIX}…)"
            ));
        }
    }
    Ok(())
}

/// The URL of the Deferred Credential Endpoint.
pub fn endpoint(issuer_id: &str) -> String {
    format!("{issuer_id}{DEFERRED_CREDENTIAL_PATH}")
}

/// The public route, mounted only when deferred issuance is enabled.
pub fn routes(config: &IssuerConfig) -> Router<AppState> {
    if config.deferred.enabled {
        Router::new().route(
            DEFERRED_CREDENTIAL_PATH,
            post(handle_deferred_credential_request),
        )
    } else {
        Router::new()
    }
}

/// ISS-DEF-01: whether this request waits for the operator.
pub fn requires_deferral(state: &IssuerState, configuration_id: &str, holder: &Holder) -> bool {
    if !state.config.deferred.enabled {
        return false;
    }
    let by_configuration = state
        .config
        .credential_configurations
        .get(configuration_id)
        .is_some_and(|c| c.deferred);
    by_configuration || holder_flag(holder, configuration_id)
}

/// `_avow_deferred`: `true`, or a list of configuration ids.
fn holder_flag(holder: &Holder, configuration_id: &str) -> bool {
    match holder.claims.get(HOLDER_FLAG) {
        Some(serde_json::Value::Bool(flag)) => *flag,
        Some(serde_json::Value::Array(ids)) => {
            ids.iter().any(|id| id.as_str() == Some(configuration_id))
        }
        _ => false,
    }
}

/// The `interval` of a configuration's deferred responses (ISS-DEF-09).
pub fn interval_for(state: &IssuerState, configuration_id: &str) -> u64 {
    state
        .config
        .credential_configurations
        .get(configuration_id)
        .and_then(|c| c.deferred_interval)
        .unwrap_or(state.config.deferred.interval)
}

/// The grant an access token belongs to, as deferred transactions and
/// notification ids are bound to it: the authorization-code grant (shared
/// by refreshed tokens), else the offer of a pre-authorized code, else the
/// holder.
pub fn grant_key(access: &AccessTokenRecord) -> String {
    match (&access.grant_id, &access.offer_id) {
        (Some(grant), _) => format!("grant:{grant}"),
        (None, Some(offer)) => format!("offer:{offer}"),
        (None, None) => format!("holder:{}", access.holder_id),
    }
}

fn resource(e: ProtocolError) -> ApiError {
    ApiError::at_resource(e)
}

/// ISS-DEF-01, -02: stores the validated transaction, then answers `202`.
/// `response_encryption` is the Credential Request's: the `202` is a
/// Credential Response and is encrypted like any other (VCI §8.3). A
/// bearer transaction stores no holder key (VCI §12.2.4; ISS-META-08).
pub async fn defer(
    state: &IssuerState,
    access: &AccessTokenRecord,
    configuration_id: &str,
    binding: &HolderBinding,
    response_encryption: Option<&ResponseEncryption>,
) -> Result<Response, ApiError> {
    let now = state.now();
    let transaction_id = state.random.token(32);
    let interval = interval_for(state, configuration_id);
    let expires_at = now.saturating_add(state.config.deferred.transaction_lifetime);
    let record = DeferredTransactionRecord {
        id: state.random.token(12),
        transaction_hash: sha256_b64(transaction_id.as_bytes()),
        holder_id: access.holder_id.clone(),
        configuration_id: configuration_id.to_owned(),
        grant_key: grant_key(access),
        client_id: access.client_id.clone(),
        holder_keys: binding.keys().iter().map(EcPublicJwk::to_json).collect(),
        response_encrypted: response_encryption.is_some(),
        interval: i64::try_from(interval).unwrap_or(i64::MAX),
        state: DeferredState::Pending,
        reason: None,
        created_at: now,
        decided_at: None,
        last_polled_at: None,
        issued_at: None,
        expires_at,
        purge_at: expires_at.saturating_add(state.config.deferred.retention),
    };
    // Persisted before the 202 leaves (ISS-DEF-02).
    state.store.insert_deferred_transaction(&record).await?;
    tracing::info!(
        transaction = %record.id,
        configuration = %configuration_id,
        keys = binding.keys().len(),
        "credential issuance deferred"
    );
    pending_response(state, &transaction_id, interval, response_encryption)
}

/// `202 {transaction_id, interval}`, no-store (VCI §8.3, §9.2; ISS-DEF-05).
fn pending_response(
    state: &IssuerState,
    transaction_id: &str,
    interval: u64,
    encryption: Option<&ResponseEncryption>,
) -> Result<Response, ApiError> {
    let body = CredentialResponse {
        credentials: None,
        transaction_id: Some(transaction_id.to_owned()),
        interval: Some(interval),
        notification_id: None,
    };
    Ok((
        StatusCode::ACCEPTED,
        [
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (HeaderName::from_static("dpop-nonce"), fresh_nonce(state)),
        ],
        crate::credential_encryption::encode_response(encryption, &body)?,
    )
        .into_response())
}

/// `POST /deferred_credential` (VCI §9; ISS-DEF-03 … -07, ISS-ENC-08).
pub async fn handle_deferred_credential_request(
    State(state): State<AppState>,
    peer: Option<axum::Extension<crate::tls::PeerCertificates>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let access = crate::credential::authorize_resource_request(
        &state,
        &headers,
        peer.as_ref().map(|p| &p.0),
        &endpoint(&state.issuer_id),
    )
    .await?;
    // application/json or encrypted application/jwt; the response is
    // encrypted as THIS request asks (ISS-ENC-08).
    let decoded = state
        .encryption
        .decode_body(&headers, &body)
        .map_err(resource)?;
    let transaction_id = match decoded.body.get("transaction_id") {
        None => {
            return Err(resource(ProtocolError::invalid_credential_request(
                "transaction_id is required",
            )));
        }
        Some(serde_json::Value::String(id)) if !id.is_empty() => id.clone(),
        Some(_) => {
            return Err(resource(ProtocolError::invalid_credential_request(
                "transaction_id must be a non-empty string",
            )));
        }
    };
    let unknown = || {
        resource(ProtocolError::invalid_transaction_id(
            "the transaction_id is unknown or was issued to another grant",
        ))
    };
    if transaction_id.len() > MAX_TRANSACTION_ID {
        return Err(unknown());
    }
    let hash = sha256_b64(transaction_id.as_bytes());
    let record = state
        .store
        .deferred_transaction_by_hash(&hash)
        .await?
        .filter(|r| r.grant_key == grant_key(&access) && r.holder_id == access.holder_id)
        .ok_or_else(unknown)?;
    if !access.configuration_ids.contains(&record.configuration_id) {
        return Err(resource(ProtocolError::insufficient_scope(
            "the access token does not cover this credential configuration",
        )));
    }
    let now = state.now();
    let encryption = decoded.response_encryption.as_ref();
    match record.state {
        DeferredState::Issued => Err(resource(ProtocolError::invalid_transaction_id(
            "the transaction_id was already used",
        ))),
        DeferredState::Denied => Err(resource(ProtocolError::credential_request_denied(
            "the issuer denied this credential request",
        ))),
        _ if record.expires_at <= now => Err(resource(ProtocolError::credential_request_denied(
            "the deferred transaction expired",
        ))),
        DeferredState::Pending => {
            state.store.touch_deferred_transaction(&hash, now).await?;
            let interval = u64::try_from(record.interval).unwrap_or(1).max(1);
            pending_response(&state, &transaction_id, interval, encryption)
        }
        DeferredState::Approved => issue_approved(&state, &record, &hash, encryption).await,
    }
}

/// ISS-DEF-04: claims the approved transaction (once, on any instance),
/// builds and answers the credentials with a `notification_id`.
async fn issue_approved(
    state: &IssuerState,
    record: &DeferredTransactionRecord,
    hash: &str,
    encryption: Option<&ResponseEncryption>,
) -> Result<Response, ApiError> {
    let now = state.now();
    if !state.store.claim_deferred_transaction(hash, now).await? {
        // Another request (on any instance) got it first.
        return Err(resource(ProtocolError::invalid_transaction_id(
            "the transaction_id was already used",
        )));
    }
    let outcome = async {
        let credentials = build_for_transaction(state, record).await?;
        let notification_id = crate::notification::register(
            state,
            &crate::notification::Issued {
                grant_key: &record.grant_key,
                holder_id: &record.holder_id,
                configuration_id: &record.configuration_id,
                credential_count: credentials.len(),
                deferred_id: Some(&record.id),
            },
        )
        .await?;
        Ok::<_, ApiError>((credentials, notification_id))
    }
    .await;
    let (credentials, notification_id) = match outcome {
        Ok(done) => done,
        Err(e) if e.error.code == ErrorCode::CredentialRequestDenied => {
            // Terminal: the wallet stops polling (ISS-DEF-07).
            state
                .store
                .fail_deferred_transaction(hash, &e.error.description, now)
                .await?;
            tracing::info!(transaction = %record.id, "deferred credential could not be issued; transaction denied");
            return Err(e);
        }
        Err(e) => {
            // Transient: the wallet may try again.
            state.store.release_deferred_transaction(hash).await?;
            return Err(e);
        }
    };
    tracing::info!(
        transaction = %record.id,
        configuration = %record.configuration_id,
        count = credentials.len(),
        "deferred credentials issued"
    );
    let response = CredentialResponse {
        credentials: Some(credentials),
        transaction_id: None,
        interval: None,
        notification_id,
    };
    Ok((
        [
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (HeaderName::from_static("dpop-nonce"), fresh_nonce(state)),
        ],
        crate::credential_encryption::encode_response(encryption, &response)?,
    )
        .into_response())
}

async fn build_for_transaction(
    state: &IssuerState,
    record: &DeferredTransactionRecord,
) -> Result<Vec<IssuedCredential>, ApiError> {
    let configuration = state
        .config
        .credential_configurations
        .get(&record.configuration_id)
        .ok_or_else(|| {
            resource(ProtocolError::credential_request_denied(
                "the credential configuration is no longer offered",
            ))
        })?;
    let keys = record
        .holder_keys
        .iter()
        .map(EcPublicJwk::from_json)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            tracing::error!(transaction = %record.id, "stored holder key is unreadable");
            resource(ProtocolError::server_error(
                "the deferred transaction is unreadable",
            ))
        })?;
    // No keys for a bearer configuration, at least one otherwise; a
    // configuration that changed its binding since the request is terminal.
    let binding = HolderBinding::from_stored(configuration, keys).map_err(|reason| {
        tracing::warn!(transaction = %record.id, reason, "deferred transaction no longer fits its configuration");
        resource(ProtocolError::credential_request_denied(reason))
    })?;
    let holder = state
        .store
        .holder(&record.holder_id)
        .await?
        .ok_or_else(|| {
            resource(ProtocolError::credential_request_denied(
                "the holder record no longer exists",
            ))
        })?;
    crate::issue_credentials::issue_credentials(
        state,
        &record.holder_id,
        &record.configuration_id,
        configuration,
        &holder,
        &binding,
    )
    .await
}

/// Whether the holder's data lets this configuration be issued now: the
/// operator's approval checks it (SD-JWT VC mandatory claims).
pub fn holder_data_ready(
    configuration: &CredentialConfigurationConfig,
    holder: &Holder,
) -> Result<(), String> {
    match configuration.format {
        CredentialFormat::DcSdJwt | CredentialFormat::JwtVcJson => {
            subject_claims(configuration, &holder.claims)
                .map(|_| ())
                .map_err(|e| e.error.description)
        }
        CredentialFormat::MsoMdoc => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> IssuerConfig {
        IssuerConfig::defaults().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn defaults_are_valid_and_off() {
        let c = config();
        assert_eq!(validate_config(&c), Ok(()));
        assert!(!c.deferred.enabled);
        assert_eq!(c.deferred.interval, 60);
        assert_eq!(c.deferred.transaction_lifetime, 30 * 86_400);
    }

    #[test]
    fn bad_values_are_refused() {
        let mut c = config();
        c.deferred.interval = 0;
        assert!(validate_config(&c).is_err());
        let mut c = config();
        c.deferred.transaction_lifetime = 10;
        assert!(validate_config(&c).is_err());
        let mut c = config();
        c.deferred.retention = -1;
        assert!(validate_config(&c).is_err());
        // A deferred configuration needs the feature.
        let mut c = config();
        for configuration in c.credential_configurations.values_mut() {
            configuration.deferred = true;
        }
        assert!(validate_config(&c).is_err());
        c.deferred.enabled = true;
        assert_eq!(validate_config(&c), Ok(()));
        for configuration in c.credential_configurations.values_mut() {
            configuration.deferred_interval = Some(0);
        }
        assert!(validate_config(&c).is_err());
        let text = crate::config::DEFAULT_CONFIG.replace(
            "{ path = [\"birthdate\"]",
            "{ path = [\"_avow_deferred\"] }, { path = [\"birthdate\"]",
        );
        assert!(IssuerConfig::from_toml(&text).is_err());
    }

    #[test]
    fn holder_flag_forms() {
        let holder = |flag: serde_json::Value| Holder {
            id: "h".into(),
            claims: serde_json::json!({ HOLDER_FLAG: flag })
                .as_object()
                .cloned()
                .unwrap_or_default(),
        };
        assert!(holder_flag(&holder(serde_json::json!(true)), "pid"));
        assert!(!holder_flag(&holder(serde_json::json!(false)), "pid"));
        assert!(holder_flag(&holder(serde_json::json!(["x", "pid"])), "pid"));
        assert!(!holder_flag(&holder(serde_json::json!(["x"])), "pid"));
        assert!(!holder_flag(&holder(serde_json::json!("pid")), "pid"));
    }

    #[test]
    fn grant_keys() {
        let mut access = AccessTokenRecord {
            token_hash: "t".into(),
            holder_id: "h".into(),
            configuration_ids: vec![],
            client_id: None,
            dpop_jkt: "j".into(),
            offer_id: Some("o".into()),
            grant_id: Some("g".into()),
            authorization_details: None,
            certificate_thumbprint: None,
            issued_at: 0,
            expires_at: 1,
        };
        assert_eq!(grant_key(&access), "grant:g");
        access.grant_id = None;
        assert_eq!(grant_key(&access), "offer:o");
        access.offer_id = None;
        assert_eq!(grant_key(&access), "holder:h");
    }
}
