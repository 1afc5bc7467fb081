//! `VerifyKeyProofs`: the `proofs` of a credential request (OID4VCI §8.2,
//! App. F.1, F.3; ISS-PROOF-01 … -09, ISS-KATT-01 … -08, ISS-PATT-01 … -03,
//! ISS-NONCE-03, ISS-BATCH-01, -02, -04), and what the configuration says
//! about them: accepted proof types, `key_attestations_required` and the
//! batch size (`[credential_configurations.X.proofs]`, `[batch]`;
//! ISS-META-08, -09, -11).
//!
//! [`verify_proofs`] returns the [`HolderBinding`]: the keys to bind, one
//! credential each, in proof order (attestation order for attested keys),
//! or, for a bearer configuration (`proofs.types = []`), no key and one
//! credential without `cnf` (VCI §8.2, §12.2.4; ISS-META-08). Nothing is
//! consumed before every proof and attestation of the request has
//! verified; then the `c_nonce`s are consumed once each (ISS-CRED-16,
//! ISS-NONCE-03).

use crate::config::{CredentialConfigurationConfig, CredentialFormat};
use crate::error::ApiError;
use crate::key_attestation::{AttestationPolicy, verify_key_attestation};
use crate::state::IssuerState;
use avow_core::ProtocolError;
use avow_core::credential::Proofs;
use avow_core::key_attestation::{
    KEY_ATTESTATION_HEADER, KeyAttestationsRequired, PROOF_TYPE_ATTESTATION, PROOF_TYPE_JWT,
};
use avow_core::metadata::{BatchCredentialIssuance, ProofTypeMetadata};
use avow_core::proof::{PROOF_TYP, ProofClaims, ProofExpectations};
use avow_crypto::hash::sha256_b64;
use avow_crypto::server_nonce::NoncePurpose;
use avow_crypto::{CompactJws, EcPublicJwk};
use serde::Deserialize;
use std::collections::BTreeMap;

fn resource(e: ProtocolError) -> ApiError {
    ApiError::at_resource(e)
}

fn invalid(description: impl Into<String>) -> ApiError {
    resource(ProtocolError::invalid_proof(description))
}

/// The largest accepted `[batch] batch_size`.
pub const MAX_BATCH_SIZE: u32 = 100;

// ---------------------------------------------------------------- configuration

/// `[credential_configurations.X.proofs]`: how holders prove their keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofsConfig {
    /// Accepted proof types, `jwt` and/or `attestation`. Default: `["jwt"]`,
    /// for `mso_mdoc` `["attestation"]` (C-18). An empty list makes the
    /// configuration bearer: credentials bound to no key, requested without
    /// `proofs` (VCI §8.2, §12.2.4; ISS-META-08); `dc+sd-jwt` only.
    #[serde(default)]
    pub types: Option<Vec<String>>,
    /// Demand a key attestation (WUA) with at least one of these values
    /// (empty list = any) (ISS-META-09, ISS-KATT-01, -06).
    #[serde(default)]
    pub key_attestations_required: Option<KeyAttestationsRequired>,
}

/// `[batch]`: batch issuance (VCI §8.2, §12.2.4; ISS-BATCH).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Most keys (and credentials) per request; 1 switches batch issuance off.
    pub batch_size: u32,
    /// Each credential's `iat` and `exp` move back independently by a random
    /// 0 … this many seconds (at most half the lifetime), so credentials of
    /// one batch do not link by time (ISS-BATCH-03). 0 disables it.
    pub validity_jitter: i64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            batch_size: 1,
            validity_jitter: 3600,
        }
    }
}

impl BatchConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_BATCH_SIZE).contains(&self.batch_size) {
            return Err(format!(
                "batch.batch_size must be between 1 (off) and {MAX_BATCH_SIZE}"
            ));
        }
        if !(0..=7 * 86_400).contains(&self.validity_jitter) {
            return Err("batch.validity_jitter must be between 0 and 604800 seconds".into());
        }
        Ok(())
    }

    /// Most keys one request may prove (ISS-BATCH-01, ISS-KATT-08).
    pub fn max_keys(&self) -> usize {
        usize::try_from(self.batch_size.max(1)).unwrap_or(1)
    }
}

impl CredentialConfigurationConfig {
    /// The accepted proof types, defaults applied.
    pub fn proof_types(&self) -> Vec<String> {
        match self.proofs.as_ref().and_then(|p| p.types.clone()) {
            Some(types) => types,
            None if self.format == crate::config::CredentialFormat::MsoMdoc => {
                vec![PROOF_TYPE_ATTESTATION.to_owned()]
            }
            None => vec![PROOF_TYPE_JWT.to_owned()],
        }
    }

    /// Whether the configuration issues bearer credentials: `proofs.types =
    /// []` (VCI §12.2.4: no `cryptographic_binding_methods_supported`, no
    /// `proof_types_supported`; ISS-META-08).
    pub fn is_bearer(&self) -> bool {
        self.proofs
            .as_ref()
            .and_then(|p| p.types.as_ref())
            .is_some_and(Vec::is_empty)
    }

    /// `key_attestations_required`, when the configuration demands one.
    pub fn key_attestations_required(&self) -> Option<&KeyAttestationsRequired> {
        self.proofs
            .as_ref()
            .and_then(|p| p.key_attestations_required.as_ref())
    }
}

/// Start-up checks of one configuration's `proofs` table. `types = []`
/// (bearer, VCI §12.2.4) is refused for `mso_mdoc` (the MSO needs a
/// `deviceKeyInfo`, ISO 18013-5), for `jwt_vc_json` (its builder
/// always binds `cnf.jwk`) and together with `key_attestations_required`
/// (nothing to attest).
pub fn validate_configuration(id: &str, c: &CredentialConfigurationConfig) -> Result<(), String> {
    if c.is_bearer() {
        return match c.format {
            CredentialFormat::DcSdJwt if c.key_attestations_required().is_some() => Err(format!(
                "credential configuration {id}: proofs.key_attestations_required needs proof types: a bearer configuration (proofs.types = []) binds no key to attest"
            )),
            CredentialFormat::DcSdJwt => Ok(()),
            CredentialFormat::MsoMdoc => Err(format!(
                "credential configuration {id}: an mso_mdoc configuration cannot be bearer (proofs.types = []): the mdoc needs a deviceKey"
            )),
            CredentialFormat::JwtVcJson => Err(format!(
                "credential configuration {id}: bearer jwt_vc_json (proofs.types = []) is not supported: only dc+sd-jwt credentials are issued without cnf"
            )),
        };
    }
    let types = c.proof_types();
    if types.is_empty() {
        return Err(format!(
            "credential configuration {id}: proofs.types is empty"
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for t in &types {
        if t != PROOF_TYPE_JWT && t != PROOF_TYPE_ATTESTATION {
            return Err(format!(
                "credential configuration {id}: proof type {t} is not supported (jwt, attestation)"
            ));
        }
        if !seen.insert(t.as_str()) {
            return Err(format!(
                "credential configuration {id}: proof type {t} is listed twice"
            ));
        }
    }
    if let Some(required) = c.key_attestations_required() {
        required
            .check()
            .map_err(|m| format!("credential configuration {id}: proofs.{m}"))?;
    }
    Ok(())
}

/// `cryptographic_binding_methods_supported` of one configuration (VCI
/// §12.2.4; ISS-META-08): `jwk` for `dc+sd-jwt` and `jwt_vc_json`,
/// `cose_key` for `mso_mdoc`; empty (omitted) for a bearer configuration.
pub fn cryptographic_binding_methods_supported(c: &CredentialConfigurationConfig) -> Vec<String> {
    if c.is_bearer() {
        return Vec::new();
    }
    vec![match c.format {
        CredentialFormat::DcSdJwt | CredentialFormat::JwtVcJson => "jwk".into(),
        CredentialFormat::MsoMdoc => "cose_key".into(),
    }]
}

/// `proof_types_supported` of one configuration (ISS-META-08, -09): the
/// `attestation` type always names its (possibly empty) requirements, `jwt`
/// only when the configuration demands a key attestation; empty (omitted)
/// for a bearer configuration (VCI §12.2.4).
pub fn proof_types_supported(
    c: &CredentialConfigurationConfig,
) -> BTreeMap<String, ProofTypeMetadata> {
    if c.is_bearer() {
        return BTreeMap::new();
    }
    let required = c.key_attestations_required();
    c.proof_types()
        .into_iter()
        .map(|t| {
            let key_attestations_required = if t == PROOF_TYPE_ATTESTATION {
                Some(required.cloned().unwrap_or_default().to_metadata())
            } else {
                required.map(KeyAttestationsRequired::to_metadata)
            };
            let metadata = ProofTypeMetadata {
                proof_signing_alg_values_supported: vec!["ES256".into()],
                key_attestations_required,
            };
            (t, metadata)
        })
        .collect()
}

/// `batch_credential_issuance`: present iff batch issuance is on (ISS-META-11).
pub fn batch_credential_issuance(batch: &BatchConfig) -> Option<BatchCredentialIssuance> {
    (batch.batch_size >= 2).then_some(BatchCredentialIssuance {
        batch_size: batch.batch_size,
    })
}

/// `(iat, exp)` of one credential issued at `now` (ISS-BATCH-03): each moved
/// back independently by a random 0 … `validity_jitter` seconds (capped at
/// half the lifetime), so `iat` is never in the future and `exp` never
/// beyond `now + lifetime`.
pub fn credential_validity(state: &IssuerState, lifetime: i64, now: i64) -> (i64, i64) {
    let jitter = state.config.batch.validity_jitter.min(lifetime / 2).max(0);
    let draw = || -> i64 {
        if jitter == 0 {
            return 0;
        }
        let mut bytes = [0u8; 8];
        state.random.fill(&mut bytes);
        let span = u64::try_from(jitter).unwrap_or(0) + 1;
        i64::try_from(u64::from_le_bytes(bytes) % span).unwrap_or(0)
    };
    (now - draw(), now + lifetime - draw())
}

// ---------------------------------------------------------------- verification

/// Keys proven by one `jwt` proof, and its `c_nonce`.
struct ProvenKeys {
    keys: Vec<EcPublicJwk>,
    nonce: String,
    /// The `status` claim of its key attestation, to check (ISS-KATT-09).
    attestation_status: Option<serde_json::Value>,
    attested: bool,
}

/// What the credentials of one request are bound to (VCI §8.2, §12.2.4;
/// ISS-META-08). A bound configuration always yields at least one key
/// ([`verify_proofs`] refuses otherwise); only a bearer configuration
/// yields [`HolderBinding::Bearer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HolderBinding {
    /// One credential per key, in proof order, each with `cnf` (never empty).
    Keys(Vec<EcPublicJwk>),
    /// A bearer configuration: one credential, no `cnf`.
    Bearer,
}

impl HolderBinding {
    /// The keys to bind; none for [`HolderBinding::Bearer`] (the form the
    /// deferred transaction stores).
    pub fn keys(&self) -> &[EcPublicJwk] {
        match self {
            Self::Keys(keys) => keys,
            Self::Bearer => &[],
        }
    }

    /// Restores a stored binding (a deferred transaction's keys) for
    /// `configuration` as it is now: no keys for a bearer configuration, at
    /// least one for a bound one; `Err` if the configuration changed its
    /// binding since the request.
    pub fn from_stored(
        configuration: &CredentialConfigurationConfig,
        keys: Vec<EcPublicJwk>,
    ) -> Result<Self, &'static str> {
        match (configuration.is_bearer(), keys.is_empty()) {
            (true, true) => Ok(Self::Bearer),
            (false, false) => Ok(Self::Keys(keys)),
            (true, false) => {
                Err("the credential configuration is bearer now, the request proved keys")
            }
            (false, true) => {
                Err("the credential configuration binds keys now, the request proved none")
            }
        }
    }
}

/// Verifies the request's `proofs` against `configuration` (ISS-CRED-07,
/// -08, ISS-PROOF, ISS-KATT, ISS-PATT, ISS-BATCH-01, -02) and consumes their
/// `c_nonce`s once (ISS-NONCE-03). Returns the keys to bind, in order.
///
/// A bearer configuration publishes no `proof_types_supported`, so the
/// wallet omits `proofs` (VCI §8.2; WAL-CRED-03): without `proofs` it is
/// [`HolderBinding::Bearer`]; with them `400 invalid_credential_request`
/// (the legacy `proof` is refused alike when the request is parsed).
pub async fn verify_proofs(
    state: &IssuerState,
    configuration: &CredentialConfigurationConfig,
    proofs: Option<&Proofs>,
    client_id: Option<&str>,
) -> Result<HolderBinding, ApiError> {
    if configuration.is_bearer() {
        return match proofs {
            None => Ok(HolderBinding::Bearer),
            Some(_) => Err(resource(ProtocolError::invalid_credential_request(
                "this configuration issues bearer credentials: send no proofs",
            ))),
        };
    }
    let Some(proofs) = proofs else {
        return Err(invalid(
            "proofs is required for this credential configuration",
        ));
    };
    let kind = proofs.type_name();
    if !configuration.proof_types().iter().any(|t| t == kind) {
        return Err(invalid(format!(
            "the {kind} proof type is not supported by this credential configuration"
        )));
    }
    let max_keys = state.config.batch.max_keys();
    let required = configuration.key_attestations_required();
    let (keys, nonces, statuses) = match proofs {
        Proofs::Jwt(list) => {
            let proven = verify_jwt_proofs(state, list, required, max_keys, client_id)?;
            (proven.keys, proven.nonces, proven.statuses)
        }
        Proofs::Attestation(list) => {
            // ISS-PATT-01: exactly one key attestation.
            let [attestation] = list.as_slice() else {
                return Err(invalid(
                    "proofs.attestation must hold exactly one key attestation",
                ));
            };
            // ISS-PATT-02: validated as ISS-KATT-02 … -06; no separate PoP.
            let verified = verify_key_attestation(
                state,
                attestation,
                AttestationPolicy {
                    exp_required: false,
                    required,
                    max_keys,
                },
            )?;
            // VCI §8.3.1.2 (3), App. F.3; ISS-PROOF-06, ISS-PATT-02: here the
            // key attestation is the key proof, so one without a c_nonce is
            // an invalid_proof; a present but unknown, expired or used one is
            // an invalid_nonce (ISS-KATT-05, in consume_nonces).
            let Some(nonce) = verified.nonce.clone() else {
                return Err(invalid(
                    "the key attestation has no nonce: it must carry a c_nonce from the Nonce Endpoint",
                ));
            };
            let statuses = verified.claims.status.clone().into_iter().collect();
            (verified.keys, vec![nonce], statuses)
        }
    };
    // A bound configuration never issues without a key (VCI §8.2).
    if keys.is_empty() {
        return Err(invalid("the proofs prove no key"));
    }
    // ISS-BATCH-01, ISS-KATT-08 (a last guard: each path checked already).
    if keys.len() > max_keys {
        return Err(invalid(format!(
            "{} keys exceed the batch size {max_keys}",
            keys.len()
        )));
    }
    // ISS-KATT-09; TSL §8.3: the status of each verified key attestation.
    for status in &statuses {
        crate::attestation_status::check_attestation_status(state, Some(status))
            .await
            .map_err(|e| invalid(format!("the key attestation is refused: {e}")))?;
    }
    consume_nonces(state, nonces).await?;
    Ok(HolderBinding::Keys(keys))
}

/// `proofs.jwt` (App. F.1): plain proofs, one key each, or one proof
/// carrying a key attestation whose every key gets a credential.
fn verify_jwt_proofs(
    state: &IssuerState,
    list: &[String],
    required: Option<&KeyAttestationsRequired>,
    max_keys: usize,
    client_id: Option<&str>,
) -> Result<ProvenJwtProofs, ApiError> {
    // ISS-BATCH-01: without batch issuance exactly one proof.
    if list.len() > max_keys {
        return Err(invalid(if max_keys == 1 {
            "batch issuance is not enabled: send exactly one proof".to_owned()
        } else {
            format!("{} proofs exceed the batch size {max_keys}", list.len())
        }));
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
    let mut keys: Vec<EcPublicJwk> = Vec::new();
    let mut nonces = Vec::with_capacity(list.len());
    let mut statuses = Vec::new();
    let mut attested = false;
    for proof in list {
        let proven = verify_jwt_proof(state, proof, &expect, required, max_keys)?;
        attested |= proven.attested;
        statuses.extend(proven.attestation_status);
        for key in proven.keys {
            // ISS-PROOF-09, ISS-BATCH-02: never two credentials to one key.
            if keys.contains(&key) {
                return Err(invalid("the same key is proven twice (ISS-PROOF-09)"));
            }
            keys.push(key);
        }
        nonces.push(proven.nonce);
    }
    // APT §7.5.1, HAIP §4.5.1: all keys of a request in one key attestation.
    if attested && list.len() > 1 {
        return Err(invalid(
            "a jwt proof with key_attestation must be the only element of proofs.jwt: attest all keys in one key attestation",
        ));
    }
    Ok(ProvenJwtProofs {
        keys,
        nonces,
        statuses,
    })
}

/// What the `jwt` proofs of a request proved: the keys in order, the
/// `c_nonce`s to consume, and the `status` claims of their key
/// attestations (ISS-KATT-09).
struct ProvenJwtProofs {
    keys: Vec<EcPublicJwk>,
    nonces: Vec<String>,
    statuses: Vec<serde_json::Value>,
}

fn verify_jwt_proof(
    state: &IssuerState,
    proof: &str,
    expect: &ProofExpectations<'_>,
    required: Option<&KeyAttestationsRequired>,
    max_keys: usize,
) -> Result<ProvenKeys, ApiError> {
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
    let Some(attestation) = header.get(KEY_ATTESTATION_HEADER) else {
        // ISS-KATT-01.
        if required.is_some() {
            return Err(invalid(
                "this credential configuration requires a key attestation: the jwt proof has no key_attestation header",
            ));
        }
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
        return Ok(ProvenKeys {
            keys: vec![key],
            nonce,
            attestation_status: None,
            attested: false,
        });
    };
    // ISS-PROOF-02: with key_attestation at most one reference; none = attested_keys[0].
    if references > 1 {
        return Err(invalid(
            "the key proof header must carry at most one of jwk, kid, x5c",
        ));
    }
    let attestation = attestation
        .as_str()
        .ok_or_else(|| invalid("the key_attestation header must be a compact JWT"))?;
    let verified = verify_key_attestation(
        state,
        attestation,
        AttestationPolicy {
            exp_required: true,
            required,
            max_keys,
        },
    )?;
    // C-19, ISS-KATT-07: the proof is signed by attested_keys[0].
    let Some(signer) = verified.keys.first() else {
        return Err(invalid("the key attestation attested_keys is empty"));
    };
    match avow_crypto::jwk::header_jwk(header) {
        Some(Ok(jwk)) if &jwk == signer => {}
        Some(Ok(_)) => {
            return Err(invalid(
                "the key proof jwk is not attested_keys[0] of its key attestation",
            ));
        }
        Some(Err(_)) => return Err(invalid("the key proof jwk is not a public P-256 key")),
        None => {}
    }
    if let Some(kid) = header.get("kid") {
        let index = kid.as_str().and_then(|kid| verified.kid_index(kid));
        match index {
            Some(0) => {}
            Some(_) => {
                return Err(invalid(
                    "the key proof kid names an attested key other than attested_keys[0]",
                ));
            }
            None => {
                return Err(invalid(
                    "the key proof kid names no key of its key attestation",
                ));
            }
        }
    }
    if header.contains_key("x5c") {
        return Err(invalid(
            "x5c key references are not supported in key proofs: use jwk or kid",
        ));
    }
    jws.verify(signer, &state.algorithms).map_err(|_| {
        invalid(
            "the key proof signature does not verify with attested_keys[0] of its key attestation",
        )
    })?;
    let claims = ProofClaims::from_payload(jws.payload()).map_err(resource)?;
    let nonce = claims
        .validate(expect)
        .map_err(resource)?
        .unwrap_or_default();
    // ISS-KATT-05 (VCI App. D.1, F.1): the key attestation's nonce must be
    // the c_nonce of its key proof (which has one: ProofClaims::validate);
    // a different or missing one → 400 invalid_nonce.
    match verified.nonce.as_deref() {
        Some(attested) if attested == nonce => {}
        Some(_) => {
            return Err(resource(ProtocolError::invalid_nonce(
                "the key attestation nonce is not the c_nonce of its key proof",
            )));
        }
        None => {
            return Err(resource(ProtocolError::invalid_nonce(
                "the key attestation has no nonce: it must carry the c_nonce of its key proof",
            )));
        }
    }
    Ok(ProvenKeys {
        keys: verified.keys,
        nonce,
        attestation_status: verified.claims.status,
        attested: true,
    })
}

/// Verifies every distinct `c_nonce` of the request, then consumes them all
/// in one store operation (ISS-PROOF-06, ISS-KATT-05, ISS-NONCE-03): proofs
/// of one request may share one. All or nothing (ISS-CRED-16; VCI §8.3.1.2):
/// if any of them is unknown, expired or already used, the request fails with
/// `400 invalid_nonce` and none of its `c_nonce`s is spent.
async fn consume_nonces(state: &IssuerState, mut nonces: Vec<String>) -> Result<(), ApiError> {
    let now = state.now();
    let policy = &state.config.policy;
    nonces.sort();
    nonces.dedup();
    let mut records = Vec::with_capacity(nonces.len());
    for nonce in &nonces {
        let issued = state
            .nonces
            .verify(
                NoncePurpose::CNonce,
                nonce,
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
        records.push((sha256_b64(nonce.as_bytes()), keep_until));
    }
    let values: Vec<(&str, i64)> = records
        .iter()
        .map(|(hash, keep_until)| (hash.as_str(), *keep_until))
        .collect();
    if !state.store.consume_all_once("c_nonce", &values).await? {
        return Err(resource(ProtocolError::invalid_nonce(
            "a c_nonce of this request was already used",
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use avow_crypto::Signer;

    /// A configuration of `format` with the `proofs` table `proofs` (TOML).
    fn configuration(format: &str, proofs: &str) -> CredentialConfigurationConfig {
        let (kind, value) = match format {
            "mso_mdoc" => ("doctype", "\"org.iso.18013.5.1.mDL\""),
            "jwt_vc_json" => ("credential_definition_type", "[\"VerifiableCredential\"]"),
            _ => ("vct", "\"urn:example:vct\""),
        };
        toml::from_str(&format!(
            "format = \"{format}\"\nscope = \"s\"\nlifetime = 3600\n{kind} = {value}\nproofs = {proofs}\n"
        ))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// VCI §12.2.4, ISS-META-08: `types = []` is a bearer SD-JWT VC
    /// configuration, publishing neither binding methods nor proof types.
    #[test]
    fn bearer_sd_jwt_vc_is_accepted_and_publishes_neither() {
        let c = configuration("dc+sd-jwt", "{ types = [] }");
        assert!(c.is_bearer());
        assert_eq!(validate_configuration("b", &c), Ok(()));
        assert!(cryptographic_binding_methods_supported(&c).is_empty());
        assert!(proof_types_supported(&c).is_empty());
        let bound = configuration("dc+sd-jwt", "{ types = [\"jwt\"] }");
        assert!(!bound.is_bearer());
        assert_eq!(cryptographic_binding_methods_supported(&bound), ["jwk"]);
        assert_eq!(
            proof_types_supported(&bound).keys().collect::<Vec<_>>(),
            ["jwt"]
        );
        // No proofs table at all keeps the default binding.
        let mut default = bound.clone();
        default.proofs = None;
        assert!(!default.is_bearer());
    }

    /// An mdoc needs a deviceKey; a bearer configuration has no key to
    /// attest; the jwt_vc_json builder always binds `cnf.jwk`.
    #[test]
    fn bearer_is_refused_for_mdoc_jwt_vc_and_key_attestations() {
        for c in [
            configuration("mso_mdoc", "{ types = [] }"),
            configuration("jwt_vc_json", "{ types = [] }"),
            configuration(
                "dc+sd-jwt",
                "{ types = [], key_attestations_required = {} }",
            ),
            configuration(
                "dc+sd-jwt",
                "{ types = [], key_attestations_required = { key_storage = [\"iso_18045_high\"] } }",
            ),
        ] {
            assert!(
                validate_configuration("b", &c).is_err(),
                "{:?} {:?} must be refused",
                c.format,
                c.proofs
            );
        }
        // The same through the start-up check of the whole file.
        let text = crate::config::DEFAULT_CONFIG.replace(
            r#"proofs = { types = ["attestation"] }"#,
            r#"proofs = { types = [] }"#,
        );
        assert_ne!(text, crate::config::DEFAULT_CONFIG);
        let refused = crate::config::IssuerConfig::from_toml(&text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(refused.contains("deviceKey"), "{refused}");
    }

    /// A deferred transaction's stored keys against the configuration now.
    #[test]
    fn holder_binding_from_stored_keys() {
        let bearer = configuration("dc+sd-jwt", "{ types = [] }");
        let bound = configuration("dc+sd-jwt", "{ types = [\"jwt\"] }");
        let key = avow_crypto::SoftwareSigner::generate()
            .unwrap_or_else(|e| panic!("{e}"))
            .public_jwk()
            .clone();
        assert_eq!(
            HolderBinding::from_stored(&bearer, vec![]),
            Ok(HolderBinding::Bearer)
        );
        assert_eq!(
            HolderBinding::from_stored(&bound, vec![key.clone()]),
            Ok(HolderBinding::Keys(vec![key.clone()]))
        );
        assert!(HolderBinding::from_stored(&bearer, vec![key.clone()]).is_err());
        assert!(HolderBinding::from_stored(&bound, vec![]).is_err());
        assert!(HolderBinding::Bearer.keys().is_empty());
        assert_eq!(HolderBinding::Keys(vec![key.clone()]).keys(), [key]);
    }
}
