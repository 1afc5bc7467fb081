//! `VerifyKeyAttestation`: a key attestation JWT (WUA) as it arrives in a
//! `jwt` proof's `key_attestation` header or as the `attestation` proof
//! (OID4VCI 1.0 App. D.1, F.1, F.3; HAIP §4.5.1; ISS-KATT-02 … -06, -08,
//! ISS-PATT-02).
//!
//! The signer is trusted through its `x5c` chain, which must validate to a
//! configured wallet-provider anchor (`[client_authentication]
//! wallet_provider_anchors`, plus the DEVELOPMENT wallet-provider CA with the
//! dev PKI): the same anchors as Wallet Instance Attestations. The nonce is
//! returned, not consumed: the caller consumes it once every proof of the
//! request has verified (ISS-CRED-16). A key attestation's `status` is
//! checked against its status list by the caller once every proof verified
//! (`crate::attestation_status`; VCI App. D.1; TSL §8.3; ISS-KATT-09).

use crate::error::ApiError;
use crate::state::IssuerState;
use avow_core::ProtocolError;
use avow_core::key_attestation::{
    KEY_ATTESTATION_TYP, KeyAttestationClaims, KeyAttestationExpectations, KeyAttestationsRequired,
};
use avow_crypto::error::CryptoError;
use avow_crypto::{CompactJws, EcPublicJwk};

fn invalid(description: impl Into<String>) -> ApiError {
    ApiError::at_resource(ProtocolError::invalid_proof(description))
}

/// A key attestation whose signature, chain and claims verified.
#[derive(Debug, Clone)]
pub struct VerifiedKeyAttestation {
    /// `attested_keys`, in order, as P-256 public keys.
    pub keys: Vec<EcPublicJwk>,
    /// The JWKs as sent (for `kid` members).
    raw_keys: Vec<serde_json::Value>,
    /// The `nonce` claim, `None` when absent or empty. Not checked here: the
    /// caller compares and consumes it (ISS-KATT-05, ISS-PROOF-06).
    pub nonce: Option<String>,
    pub claims: KeyAttestationClaims,
}

impl VerifiedKeyAttestation {
    /// The index of the attested key a proof's `kid` names: an attested JWK
    /// with that `kid` member, a JWK thumbprint (RFC 7638), or the decimal
    /// index into `attested_keys` (as in OID4VCI App. F.1's example, `"0"`).
    pub fn kid_index(&self, kid: &str) -> Option<usize> {
        if let Some(i) = self
            .raw_keys
            .iter()
            .position(|k| k.get("kid").and_then(serde_json::Value::as_str) == Some(kid))
        {
            return Some(i);
        }
        if let Some(i) = self.keys.iter().position(|k| k.thumbprint() == kid) {
            return Some(i);
        }
        kid.parse::<usize>()
            .ok()
            .filter(|i| *i < self.keys.len() && i.to_string() == kid)
    }
}

/// What a key attestation must satisfy besides its own rules.
#[derive(Debug, Clone, Copy)]
pub struct AttestationPolicy<'a> {
    /// `exp` is mandatory in a `jwt` proof's `key_attestation` (App. D.1).
    pub exp_required: bool,
    /// The configuration's `key_attestations_required`, if any (ISS-KATT-06).
    pub required: Option<&'a KeyAttestationsRequired>,
    /// The batch size, 1 without batch (ISS-KATT-08).
    pub max_keys: usize,
}

/// Verifies one key attestation (ISS-KATT-02 … -04, -06, -08).
pub fn verify_key_attestation(
    state: &IssuerState,
    attestation: &str,
    policy: AttestationPolicy<'_>,
) -> Result<VerifiedKeyAttestation, ApiError> {
    let now = state.now();
    let jws = CompactJws::parse(attestation)
        .map_err(|_| invalid("the key attestation is not a compact JWS"))?;
    // ISS-KATT-02.
    if jws.header_str("typ") != Some(KEY_ATTESTATION_TYP) {
        return Err(invalid(format!(
            "the key attestation typ must be {KEY_ATTESTATION_TYP}"
        )));
    }
    jws.algorithm(&state.algorithms)
        .map_err(|_| invalid("the key attestation alg is missing or not supported"))?;
    let x5c = jws
        .x5c()
        .ok_or_else(|| invalid("the key attestation has no x5c header"))?
        .map_err(|_| invalid("the key attestation x5c header is malformed"))?;
    // ISS-KATT-03: the wallet-provider anchors of client authentication.
    let anchors = &state.client_auth.wallet_providers;
    if anchors.is_empty() {
        return Err(invalid(
            "no wallet-provider trust anchor is configured: key attestations cannot be verified",
        ));
    }
    let signer = anchors.validate_chain(&x5c, now).map_err(|e| match e {
        CryptoError::Certificate(reason) => invalid(format!(
            "the key attestation x5c does not validate to a trusted wallet provider: {reason}"
        )),
        _ => invalid("the key attestation x5c leaf does not carry a P-256 key"),
    })?;
    jws.verify(&signer, &state.algorithms)
        .map_err(|_| invalid("the key attestation signature does not verify with its x5c leaf"))?;
    // ISS-KATT-04, -06, -08.
    let claims =
        KeyAttestationClaims::from_payload(jws.payload()).map_err(ApiError::at_resource)?;
    let nonce = claims
        .validate(&KeyAttestationExpectations {
            now,
            max_skew: state.config.policy.clock_skew,
            exp_required: policy.exp_required,
            // The caller checks the nonce (ISS-KATT-05, ISS-PROOF-06): its
            // error code depends on the proof type.
            nonce_required: false,
            required: policy.required,
            max_keys: policy.max_keys,
        })
        .map_err(ApiError::at_resource)?;
    let nonce = nonce.filter(|n| !n.is_empty());
    let mut keys: Vec<EcPublicJwk> = Vec::with_capacity(claims.attested_keys.len());
    for (i, jwk) in claims.attested_keys.iter().enumerate() {
        let key = EcPublicJwk::from_json(jwk).map_err(|_| {
            invalid(format!(
                "attested_keys[{i}] is not a public P-256 JWK (ISS-PROOF-08)"
            ))
        })?;
        if keys.contains(&key) {
            return Err(invalid(format!(
                "attested_keys[{i}] repeats an earlier attested key"
            )));
        }
        keys.push(key);
    }
    Ok(VerifiedKeyAttestation {
        keys,
        raw_keys: claims.attested_keys.clone(),
        nonce,
        claims,
    })
}
