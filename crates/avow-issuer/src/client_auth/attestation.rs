//! `attest_jwt_client_auth`: the Client Attestation JWT (WIA) and its PoP JWT
//! in headers (ABCA §4, §5.1, §6, §7.1, §7.2; HAIP §4.4.1; ISS-CATT-01 … -07,
//! -10, -12). A WIA with `status` is checked against its status list once
//! it and its PoP verified (VCI App. E; TSL §8.3; ISS-CATT-10).

use super::{AuthenticatedClient, ClientAuthMethod, algorithms, invalid_client};
use crate::error::ApiError;
use crate::state::IssuerState;
use avow_core::ProtocolError;
use avow_core::client_attestation::{
    ATTESTATION_HEADER, ATTESTATION_POP_HEADER, CLIENT_ATTESTATION_POP_TYP, CLIENT_ATTESTATION_TYP,
    ClientAttestationClaims, ClientAttestationPopClaims,
};
use avow_crypto::error::CryptoError;
use avow_crypto::{CompactJws, EcPublicJwk};
use axum::http::HeaderMap;

/// Replay scope of PoP `jti`s in the store (all instances share it; ISS-CATT-05).
pub const POP_REPLAY_SCOPE: &str = "attestation-pop";

/// The one value of header `name`, or `invalid_client` (ISS-CATT-01).
fn exactly_one<'a>(headers: &'a HeaderMap, name: &str, label: &str) -> Result<&'a str, ApiError> {
    let mut values = headers.get_all(name).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(invalid_client(format!(
            "exactly one {label} header is required"
        )));
    };
    value
        .to_str()
        .map_err(|_| invalid_client(format!("the {label} header is not ASCII")))
}

fn typ_is(jws: &CompactJws, expected: &str) -> bool {
    jws.header_str("typ")
        .is_some_and(|t| t.eq_ignore_ascii_case(expected))
}

/// A verified WIA: its subject and instance key.
pub(super) struct VerifiedAttestation {
    pub claims: ClientAttestationClaims,
    pub instance_key: EcPublicJwk,
}

/// Checks a Client Attestation JWT (ABCA §7.1; ISS-CATT-02 … -04).
pub(super) fn verify_wia(state: &IssuerState, wia: &str) -> Result<VerifiedAttestation, ApiError> {
    let now = state.now();
    let policy = &state.config.policy;
    let config = &state.config.client_authentication;
    let jws = CompactJws::parse(wia)
        .map_err(|_| invalid_client("the client attestation is not a compact JWS"))?;
    if !typ_is(&jws, CLIENT_ATTESTATION_TYP) {
        return Err(invalid_client(format!(
            "the client attestation typ must be {CLIENT_ATTESTATION_TYP}"
        )));
    }
    jws.algorithm(&algorithms()).map_err(|_| {
        invalid_client("the client attestation alg is missing or not allowed (ES256 only)")
    })?;
    let x5c = jws
        .x5c()
        .ok_or_else(|| invalid_client("the client attestation has no x5c header"))?
        .map_err(|_| invalid_client("the client attestation x5c header is malformed"))?;
    if state.client_auth.wallet_providers.is_empty() {
        return Err(invalid_client(
            "no wallet-provider trust anchor is configured on this authorization server",
        ));
    }
    let signer_key = state
        .client_auth
        .wallet_providers
        .validate_chain(&x5c, now)
        .map_err(|e| match e {
            CryptoError::Certificate(reason) => invalid_client(format!(
                "the client attestation x5c does not validate to a trusted wallet provider: {reason}"
            )),
            _ => invalid_client(
                "the client attestation x5c leaf does not carry a P-256 key",
            ),
        })?;
    jws.verify(&signer_key, &algorithms()).map_err(|_| {
        invalid_client("the client attestation signature does not verify with its x5c leaf")
    })?;
    let claims = ClientAttestationClaims::from_payload(jws.payload()).map_err(ApiError::at_as)?;
    claims
        .validate(now, policy.clock_skew, config.attestation_max_age)
        .map_err(ApiError::at_as)?;
    let instance_key = EcPublicJwk::from_json(&claims.cnf.jwk)
        .map_err(|_| invalid_client("the client attestation cnf.jwk is not a public P-256 key"))?;
    Ok(VerifiedAttestation {
        claims,
        instance_key,
    })
}

/// Authenticates by WIA + PoP headers. `client_id`: the request's parameter, if any.
pub(super) async fn authenticate(
    state: &IssuerState,
    headers: &HeaderMap,
    client_id: Option<&str>,
) -> Result<AuthenticatedClient, ApiError> {
    let wia = exactly_one(headers, ATTESTATION_HEADER, "OAuth-Client-Attestation")?;
    let pop = exactly_one(
        headers,
        ATTESTATION_POP_HEADER,
        "OAuth-Client-Attestation-PoP",
    )?;
    let attestation = verify_wia(state, wia)?;
    // ABCA §7.1 step 7, §7.5; ISS-CATT-06.
    if client_id.is_some_and(|id| id != attestation.claims.sub) {
        return Err(invalid_client(
            "the client_id parameter differs from the client attestation sub",
        ));
    }
    let jkt = attestation.instance_key.thumbprint();
    verify_pop(state, pop, &attestation.instance_key, &jkt).await?;
    // ISS-CATT-10; TSL §8.3: after the WIA itself validated.
    crate::attestation_status::check_attestation_status(state, attestation.claims.status.as_ref())
        .await
        .map_err(|e| invalid_client(format!("the client attestation is refused: {e}")))?;
    Ok(AuthenticatedClient {
        client_id: Some(attestation.claims.sub),
        method: ClientAuthMethod::AttestJwtClientAuth,
        instance_jkt: Some(jkt),
        certificate_thumbprint: None,
    })
}

/// Checks the Client Attestation PoP JWT (ABCA §7.2; ISS-CATT-05, -07).
async fn verify_pop(
    state: &IssuerState,
    pop: &str,
    instance_key: &EcPublicJwk,
    jkt: &str,
) -> Result<(), ApiError> {
    let now = state.now();
    let config = &state.config.client_authentication;
    let skew = state.config.policy.clock_skew;
    let jws = CompactJws::parse(pop)
        .map_err(|_| invalid_client("the attestation PoP is not a compact JWS"))?;
    if !typ_is(&jws, CLIENT_ATTESTATION_POP_TYP) {
        return Err(invalid_client(format!(
            "the attestation PoP typ must be {CLIENT_ATTESTATION_POP_TYP}"
        )));
    }
    jws.algorithm(&algorithms()).map_err(|_| {
        invalid_client("the attestation PoP alg is missing or not allowed (ES256 only)")
    })?;
    jws.verify(instance_key, &algorithms()).map_err(|_| {
        invalid_client(
            "the attestation PoP signature does not verify with the client attestation cnf key",
        )
    })?;
    let claims =
        ClientAttestationPopClaims::from_payload(jws.payload()).map_err(ApiError::at_as)?;
    claims
        .validate(&state.issuer_id, now, config.pop_window)
        .map_err(ApiError::at_as)?;
    // ABCA §7.2 steps 5 and 8: once challenges are handed out, every PoP carries a current one.
    if config.challenge_endpoint {
        let current = claims
            .challenge
            .as_deref()
            .is_some_and(|c| crate::challenge::verify_challenge(state, c));
        if !current {
            return Err(ApiError::at_as(ProtocolError::use_attestation_challenge(
                if claims.challenge.is_some() {
                    "the attestation PoP challenge is unknown or expired: use the challenge in OAuth-Client-Attestation-Challenge"
                } else {
                    "the attestation PoP must carry a challenge: use the one in OAuth-Client-Attestation-Challenge"
                },
            )));
        }
    }
    // ABCA §11.1: a jti is accepted once per instance key while its iat is acceptable.
    let replay_key = avow_crypto::hash::sha256_b64(format!("{jkt}.{}", claims.jti).as_bytes());
    let keep_until = now.max(claims.iat) + 2 * config.pop_window + skew;
    if !state
        .store
        .consume_once(POP_REPLAY_SCOPE, &replay_key, keep_until)
        .await?
    {
        return Err(invalid_client("the attestation PoP jti was already used"));
    }
    Ok(())
}
