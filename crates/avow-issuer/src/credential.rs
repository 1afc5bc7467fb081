//! `IssueCredential`: the Credential Endpoint (OID4VCI §8; ISS-CRED, ISS-PROOF, ISS-SDJWT).

use crate::config::CredentialConfigurationConfig;
use crate::dpop::{check_dpop, fresh_nonce};
use crate::error::ApiError;
use crate::state::{AppState, IssuerState};
use avow_core::ProtocolError;
use avow_core::credential::{
    CredentialRequest, CredentialResponse, CredentialSelector, IssuedCredential, Proofs,
};
use avow_core::error::Endpoint;
use avow_core::proof::{PROOF_TYP, ProofClaims, ProofExpectations};
use avow_crypto::hash::sha256_b64;
use avow_crypto::server_nonce::NoncePurpose;
use avow_crypto::{CompactJws, EcPublicJwk};
use avow_formats::sd_jwt::{ClaimPath, PathElement};
use avow_formats::sd_jwt_vc::{IssuerKeyHeader, SdJwtVcClaims};
use avow_store::{AccessTokenRecord, IssuanceRecord};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

fn resource(e: ProtocolError) -> ApiError {
    ApiError::at_resource(e)
}

pub async fn issue_credential(
    State(state): State<AppState>,
    peer: Option<axum::Extension<crate::tls::PeerCertificates>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (token, access) = authorize(&state, &headers).await?;
    check_certificate_binding(&access, peer.as_ref().map(|p| &p.0))?;
    check_dpop(
        &state,
        &headers,
        "POST",
        &state.endpoints.credential,
        Some(&token),
        Endpoint::Resource,
    )
    .await
    .and_then(|key| {
        if key.jkt == access.dpop_jkt {
            Ok(())
        } else {
            Err(resource(ProtocolError::invalid_dpop_proof(
                "the DPoP key is not the one the access token is bound to",
            )))
        }
    })?;
    if !is_json(&headers) {
        return Err(resource(ProtocolError::invalid_credential_request(
            "the body must be application/json",
        )));
    }
    let request = CredentialRequest::from_json(&body).map_err(resource)?;
    let configuration_id =
        select_configuration(&request.selector, access.authorization_details.as_ref())?;
    let configuration = state
        .config
        .credential_configurations
        .get(&configuration_id)
        .ok_or_else(|| {
            resource(ProtocolError::unknown_credential_configuration(format!(
                "unknown credential configuration {configuration_id}"
            )))
        })?;
    if !access.configuration_ids.contains(&configuration_id) {
        return Err(resource(ProtocolError::insufficient_scope(
            "the access token does not cover this credential configuration",
        )));
    }
    let keys = verify_proofs(&state, request.proofs.as_ref(), access.client_id.as_deref()).await?;
    let holder = state
        .store
        .holder(&access.holder_id)
        .await?
        .ok_or_else(|| {
            resource(ProtocolError::credential_request_denied(
                "the holder record no longer exists",
            ))
        })?;
    let subject_claims = subject_claims(configuration, &holder.claims)?;
    let disclosable = disclosable_paths(configuration);
    let now = state.now();
    let mut credentials = Vec::with_capacity(keys.len());
    for key in keys {
        let claims = SdJwtVcClaims {
            iss: state.issuer_id.clone(),
            iat: now,
            exp: now + configuration.lifetime,
            nbf: None,
            vct: configuration.vct.clone(),
            holder_key: Some(key.clone()),
            status: None,
            subject_claims: subject_claims.clone(),
        };
        let credential = avow_formats::sd_jwt_vc::issue(
            state.keys.signer.as_ref(),
            &IssuerKeyHeader::X5c(state.keys.x5c.clone()),
            &claims,
            &disclosable,
            configuration.decoys,
            state.random.as_ref(),
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "credential signing failed");
            resource(ProtocolError::server_error(
                "the credential could not be signed",
            ))
        })?;
        state
            .store
            .record_issuance(&IssuanceRecord {
                id: state.random.token(16),
                holder_id: access.holder_id.clone(),
                configuration_id: configuration_id.clone(),
                key_thumbprint: key.thumbprint(),
                issued_at: now,
                expires_at: claims.exp,
            })
            .await?;
        credentials.push(IssuedCredential {
            credential: serde_json::Value::String(credential),
        });
    }
    tracing::info!(configuration = %configuration_id, count = credentials.len(), "credentials issued");
    let response = CredentialResponse {
        credentials: Some(credentials),
        transaction_id: None,
        interval: None,
        notification_id: None,
    };
    Ok((
        [
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (
                header::HeaderName::from_static("dpop-nonce"),
                fresh_nonce(&state),
            ),
        ],
        Json(response),
    )
        .into_response())
}

/// Resolves the request's selector against what the token response said
/// (VCI §8.2, §3.3.4; ISS-CRED-04, -05): with `credential_identifiers` only
/// identifiers are accepted, without them only configuration ids.
fn select_configuration(
    selector: &CredentialSelector,
    details: Option<&serde_json::Value>,
) -> Result<String, ApiError> {
    let details: Option<Vec<avow_core::authorization::AuthorizationDetail>> =
        details.map(|d| serde_json::from_value(d.clone()).unwrap_or_default());
    match (selector, details) {
        (CredentialSelector::ConfigurationId(id), None) => Ok(id.clone()),
        (CredentialSelector::ConfigurationId(_), Some(_)) => {
            Err(resource(ProtocolError::invalid_credential_request(
                "the token response carried credential_identifiers: use credential_identifier",
            )))
        }
        (CredentialSelector::Identifier(_), None) => {
            Err(resource(ProtocolError::invalid_credential_request(
                "credential_identifier cannot be used: the token response carried no credential identifiers",
            )))
        }
        (CredentialSelector::Identifier(id), Some(details)) => details
            .iter()
            .find(|d| {
                d.credential_identifiers
                    .as_ref()
                    .is_some_and(|ids| ids.contains(id))
            })
            .map(|d| d.credential_configuration_id.clone())
            .ok_or_else(|| {
                resource(ProtocolError::unknown_credential_identifier(
                    "unknown credential_identifier",
                ))
            }),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// RFC 8705 §3: a certificate-bound token needs the same client certificate (ISS-CLI-03).
pub fn check_certificate_binding(
    access: &AccessTokenRecord,
    peer: Option<&crate::tls::PeerCertificates>,
) -> Result<(), ApiError> {
    let Some(bound) = &access.certificate_thumbprint else {
        return Ok(());
    };
    let presented = peer
        .filter(|p| p.is_verified())
        .and_then(|p| p.thumbprint());
    if presented.as_deref() == Some(bound.as_str()) {
        Ok(())
    } else {
        Err(resource(ProtocolError::invalid_token(
            "the access token is bound to a client certificate this request did not present",
        )))
    }
}

/// `Authorization: DPoP <token>` → the stored grant (ISS-CRED-02, ISS-DPOP-08 … -10).
pub async fn authorize(
    state: &IssuerState,
    headers: &HeaderMap,
) -> Result<(String, AccessTokenRecord), ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(resource(ProtocolError::invalid_token(
            "a DPoP access token is required",
        )));
    };
    let value = value.to_str().map_err(|_| {
        resource(ProtocolError::invalid_token(
            "malformed Authorization header",
        ))
    })?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("DPoP") {
        return Err(resource(ProtocolError::invalid_token(
            "the access token is DPoP-bound; use the DPoP scheme",
        )));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(resource(ProtocolError::invalid_token(
            "the access token is missing",
        )));
    }
    let record = state
        .store
        .access_token(&sha256_b64(token.as_bytes()), state.now())
        .await?
        .ok_or_else(|| {
            resource(ProtocolError::invalid_token(
                "the access token is unknown or expired",
            ))
        })?;
    Ok((token.to_owned(), record))
}

/// Verifies every key proof (OID4VCI App. F.1) and consumes their shared
/// `c_nonce` once (ISS-NONCE-03). Returns the proven keys in proof order.
async fn verify_proofs(
    state: &IssuerState,
    proofs: Option<&Proofs>,
    client_id: Option<&str>,
) -> Result<Vec<EcPublicJwk>, ApiError> {
    let proofs = match proofs {
        None => {
            return Err(resource(ProtocolError::invalid_proof(
                "proofs is required for this credential configuration",
            )));
        }
        Some(Proofs::Attestation(_)) => {
            return Err(resource(ProtocolError::invalid_proof(
                "the attestation proof type is not supported by this configuration",
            )));
        }
        Some(Proofs::Jwt(list)) => list,
    };
    // Without batch issuance a request carries exactly one proof (ISS-BATCH-01).
    if proofs.len() > 1 {
        return Err(resource(ProtocolError::invalid_proof(
            "batch issuance is not enabled: send exactly one proof",
        )));
    }
    let now = state.now();
    let policy = &state.config.policy;
    let expect = ProofExpectations {
        credential_issuer: &state.issuer_id,
        now,
        max_skew: policy.clock_skew,
        max_age: policy.c_nonce_lifetime + policy.clock_skew,
        nonce_required: true,
        client_id,
    };
    let mut keys: Vec<EcPublicJwk> = Vec::with_capacity(proofs.len());
    let mut nonces = Vec::with_capacity(proofs.len());
    for proof in proofs {
        let (key, nonce) = verify_jwt_proof(state, proof, &expect)?;
        if keys.contains(&key) {
            return Err(resource(ProtocolError::invalid_proof(
                "the same key is proven twice (ISS-PROOF-09)",
            )));
        }
        keys.push(key);
        nonces.push(nonce);
    }
    // Every proof of one request may share a c_nonce; each nonce is usable once.
    nonces.sort();
    nonces.dedup();
    for nonce in nonces {
        let issued = state
            .nonces
            .verify(
                NoncePurpose::CNonce,
                &nonce,
                now,
                policy.c_nonce_lifetime,
                policy.clock_skew,
            )
            .ok_or_else(|| {
                resource(ProtocolError::invalid_nonce(
                    "the c_nonce is unknown or expired",
                ))
            })?;
        let keep_until = issued + policy.c_nonce_lifetime + policy.clock_skew;
        if !state
            .store
            .consume_once("c_nonce", &sha256_b64(nonce.as_bytes()), keep_until)
            .await?
        {
            return Err(resource(ProtocolError::invalid_nonce(
                "the c_nonce was already used",
            )));
        }
    }
    Ok(keys)
}

fn verify_jwt_proof(
    state: &IssuerState,
    proof: &str,
    expect: &ProofExpectations<'_>,
) -> Result<(EcPublicJwk, String), ApiError> {
    let invalid = |d: &str| resource(ProtocolError::invalid_proof(d));
    let jws =
        CompactJws::parse(proof).map_err(|_| invalid("the key proof is not a compact JWS"))?;
    if jws.header_str("typ") != Some(PROOF_TYP) {
        return Err(invalid("the key proof typ must be openid4vci-proof+jwt"));
    }
    jws.algorithm(&state.algorithms)
        .map_err(|_| invalid("the key proof alg is not supported"))?;
    let header = jws.header();
    let references = ["jwk", "kid", "x5c"]
        .iter()
        .filter(|k| header.contains_key(**k))
        .count();
    if references != 1 {
        return Err(invalid(
            "the key proof header must carry exactly one of jwk, kid, x5c",
        ));
    }
    let key = match avow_crypto::jwk::header_jwk(header) {
        Some(Ok(key)) => key,
        Some(Err(_)) => return Err(invalid("the key proof jwk is not a public P-256 key")),
        None => {
            return Err(invalid(
                "only jwk key references are supported by this configuration",
            ));
        }
    };
    jws.verify(&key, &state.algorithms)
        .map_err(|_| invalid("the key proof signature is invalid"))?;
    let claims = ProofClaims::from_payload(jws.payload()).map_err(resource)?;
    let nonce = claims
        .validate(expect)
        .map_err(resource)?
        .unwrap_or_default();
    Ok((key, nonce))
}

/// The holder's claims this configuration covers; mandatory ones must exist (ISS-SDJWT-10).
fn subject_claims(
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
