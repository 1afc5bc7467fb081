//! `VerifyKeyProofs`: the `proofs` of a credential request (OID4VCI §8.2,
//! App. F.1; ISS-PROOF-01 … -09, ISS-NONCE-03, ISS-BATCH-01).

use crate::error::ApiError;
use crate::state::IssuerState;
use avow_core::ProtocolError;
use avow_core::credential::Proofs;
use avow_core::proof::{PROOF_TYP, ProofClaims, ProofExpectations};
use avow_crypto::hash::sha256_b64;
use avow_crypto::server_nonce::NoncePurpose;
use avow_crypto::{CompactJws, EcPublicJwk};

fn resource(e: ProtocolError) -> ApiError {
    ApiError::at_resource(e)
}

/// Verifies every key proof (OID4VCI App. F.1) and consumes their shared
/// `c_nonce` once (ISS-NONCE-03). Returns the proven keys in proof order.
pub async fn verify_proofs(
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
