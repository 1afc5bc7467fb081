//! The key proofs of a credential request (OID4VCI §8.2, App. D, F.1, F.3;
//! HAIP §4.5.1; WAL-KEY-01, -03, WAL-CRED-03 … -07).
//!
//! The configuration's `proof_types_supported` decides the method
//! ([`ProofMethod::for_configuration`]):
//!
//! * `attestation` only (mdoc, C-18): `proofs.attestation` = one key
//!   attestation (WUA) of every holder key, carrying the `c_nonce`;
//! * `jwt` with `key_attestations_required`: one `jwt` proof signed by the
//!   first key, its `key_attestation` header the WUA of every key (C-19);
//! * `jwt` otherwise: one `jwt` proof per key;
//! * neither `proof_types_supported` nor `cryptographic_binding_methods_supported`
//!   (a bearer configuration, VCI §12.2.4): no key, no `proofs` in the
//!   request (VCI §8.2; WAL-CRED-03), one credential without `cnf`.
//!
//! Batch (WAL-CRED-07): `n` = the keys wanted, at most the issuer's
//! `batch_size` (1 without batch issuance), each key fresh (WAL-KEY-01), all
//! in one request. The WUA comes from the wallet provider
//! ([`crate::flow::WiaSource::issue_key_attestation`]).

use crate::error::WalletError;
use crate::flow::{IssuanceSession, WiaFuture, WiaSource};
use avow_core::credential::{CredentialResponse, CredentialSelector, Proofs};
use avow_core::key_attestation::{
    KEY_ATTESTATION_HEADER, KeyAttestationsRequired, PROOF_TYPE_ATTESTATION, PROOF_TYPE_JWT,
};
use avow_core::metadata::{CredentialConfiguration, CredentialIssuerMetadata};
use avow_core::proof::PROOF_TYP;
use avow_crypto::jws::sign_compact;
use avow_crypto::{EcPublicJwk, Signer, SoftwareSigner};
use serde_json::{Map, Value, json};

/// The one proof algorithm of this wallet (WAL-KEY-01).
const PROOF_ALG: &str = "ES256";
/// Most keys one key attestation covers (WBE-WUA-06 default).
pub const MAX_KEYS_PER_KEY_ATTESTATION: usize = 32;

/// How the keys of one request are proven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofMethod {
    /// `proofs.jwt`, one proof per key, `jwk` header.
    Jwt,
    /// `proofs.jwt` with one proof carrying a WUA of all keys.
    JwtWithKeyAttestation(KeyAttestationsRequired),
    /// `proofs.attestation` with one WUA of all keys.
    Attestation(KeyAttestationsRequired),
    /// A bearer configuration: no holder key and no `proofs` (VCI §8.2,
    /// §12.2.4; WAL-CRED-03); one credential, bound to nothing.
    Bearer,
}

impl ProofMethod {
    /// The method the configuration asks for (WAL-CRED-03, -05, -06).
    /// Without `proof_types_supported` the configuration is bearer, unless
    /// it names `cryptographic_binding_methods_supported`, which VCI
    /// §12.2.4 forbids without proof types: that is refused.
    pub fn for_configuration(configuration: &CredentialConfiguration) -> Result<Self, WalletError> {
        let types = &configuration.proof_types_supported;
        if types.is_empty() {
            return if configuration.binds_keys() {
                Err(WalletError::Metadata(
                    "the configuration has cryptographic_binding_methods_supported but no proof_types_supported".into(),
                ))
            } else {
                Ok(Self::Bearer)
            };
        }
        let usable = |name: &str| {
            types.get(name).filter(|p| {
                p.proof_signing_alg_values_supported
                    .iter()
                    .any(|a| a == PROOF_ALG)
            })
        };
        if let Some(jwt) = usable(PROOF_TYPE_JWT) {
            return match &jwt.key_attestations_required {
                None => Ok(Self::Jwt),
                Some(value) => Ok(Self::JwtWithKeyAttestation(requirements(value)?)),
            };
        }
        if let Some(attestation) = usable(PROOF_TYPE_ATTESTATION) {
            let required = match &attestation.key_attestations_required {
                Some(value) => requirements(value)?,
                None => KeyAttestationsRequired::default(),
            };
            return Ok(Self::Attestation(required));
        }
        Err(WalletError::Metadata(format!(
            "no proof type this wallet supports (jwt or attestation with {PROOF_ALG})"
        )))
    }

    /// Whether the wallet provider must attest the keys (WAL-KEY-03).
    pub fn needs_key_attestation(&self) -> bool {
        !matches!(self, Self::Jwt | Self::Bearer)
    }
}

fn requirements(value: &Value) -> Result<KeyAttestationsRequired, WalletError> {
    KeyAttestationsRequired::from_metadata(value)
        .ok_or_else(|| WalletError::Metadata("key_attestations_required is not understood".into()))
}

/// How many keys (and credentials) to ask for: `wanted`, at most the
/// issuer's `batch_size` (1 without batch issuance), at least 1
/// (WAL-CRED-07); a bearer request asks for one credential and no key, so
/// it counts as 1.
pub fn key_count(
    metadata: &CredentialIssuerMetadata,
    method: &ProofMethod,
    wanted: usize,
) -> usize {
    if *method == ProofMethod::Bearer {
        return 1;
    }
    let batch = metadata
        .batch_credential_issuance
        .as_ref()
        .and_then(|b| usize::try_from(b.batch_size).ok())
        .unwrap_or(1);
    let mut n = wanted.clamp(1, batch.max(1));
    if method.needs_key_attestation() {
        n = n.min(MAX_KEYS_PER_KEY_ATTESTATION);
    }
    n
}

/// What the wallet provider is asked to attest (WBE-WUA-01 … -04).
#[derive(Debug, Clone)]
pub struct KeyAttestationRequest {
    /// The keys, in order: the `jwt` proof key first.
    pub keys: Vec<EcPublicJwk>,
    /// The issuer's accepted `key_storage` / `user_authentication` (empty = any).
    pub accepted: KeyAttestationsRequired,
    /// The issuer's `c_nonce`, copied into the WUA `nonce` (WBE-WUA-03).
    pub nonce: Option<String>,
    pub now: i64,
}

/// The default of [`WiaSource::issue_key_attestation`]: providers that
/// attest no keys cannot serve configurations that demand it.
pub fn no_key_attestations<'a>() -> WiaFuture<'a> {
    Box::pin(async {
        Err(WalletError::Metadata(
            "the credential configuration needs a key attestation and the wallet provider issues none".into(),
        ))
    })
}

/// Who proves and for whom.
pub struct ProofContext<'a> {
    /// `aud` of every proof: the Credential Issuer Identifier.
    pub credential_issuer: &'a str,
    /// `iss` of every proof; `None` for anonymous access (VCI App. F.1).
    pub client_id: Option<&'a str>,
    pub now: i64,
    /// The wallet provider, for key attestations.
    pub provider: Option<&'a dyn WiaSource>,
}

/// A `jwt` key proof (App. F.1; WAL-CRED-04): `typ`, `alg` ES256, the `jwk`
/// header or, with a key attestation, the `key_attestation` header instead
/// (the key is then `attested_keys[0]`, C-19); `aud`, `iat`, `nonce` and
/// `iss` unless anonymous.
pub async fn jwt_proof(
    holder_key: &dyn Signer,
    ctx: &ProofContext<'_>,
    c_nonce: &str,
    key_attestation: Option<&str>,
) -> Result<String, WalletError> {
    let mut header = Map::new();
    header.insert("typ".into(), PROOF_TYP.into());
    match key_attestation {
        Some(wua) => header.insert(KEY_ATTESTATION_HEADER.into(), wua.into()),
        None => header.insert("jwk".into(), holder_key.public_jwk().to_json()),
    };
    let mut claims = json!({
        "aud": ctx.credential_issuer,
        "iat": ctx.now,
        "nonce": c_nonce,
    });
    if let Some(client_id) = ctx.client_id {
        claims["iss"] = Value::String(client_id.to_owned());
    }
    let payload =
        serde_json::to_vec(&claims).map_err(|e| WalletError::UnexpectedResponse(e.to_string()))?;
    Ok(sign_compact(holder_key, header, &payload).await?)
}

/// The `proofs` for `holder_keys` under `method` (WAL-CRED-03 … -07).
pub async fn build_proofs(
    method: &ProofMethod,
    holder_keys: &[SoftwareSigner],
    c_nonce: &str,
    ctx: &ProofContext<'_>,
) -> Result<Proofs, WalletError> {
    let Some(first) = holder_keys.first() else {
        return Err(WalletError::UnexpectedResponse(
            "no holder key to prove".into(),
        ));
    };
    let accepted = match method {
        ProofMethod::Jwt => {
            let mut proofs = Vec::with_capacity(holder_keys.len());
            for key in holder_keys {
                proofs.push(jwt_proof(key, ctx, c_nonce, None).await?);
            }
            return Ok(Proofs::Jwt(proofs));
        }
        ProofMethod::JwtWithKeyAttestation(accepted) | ProofMethod::Attestation(accepted) => {
            accepted
        }
        ProofMethod::Bearer => {
            return Err(WalletError::Metadata(
                "a bearer configuration takes no proofs (WAL-CRED-03)".into(),
            ));
        }
    };
    let provider = ctx.provider.ok_or_else(|| {
        WalletError::Metadata(
            "the credential configuration needs a key attestation and no wallet provider is configured".into(),
        )
    })?;
    // WAL-KEY-03: one WUA covering every key of the request, with the c_nonce.
    let request = KeyAttestationRequest {
        keys: holder_keys.iter().map(|k| k.public_jwk().clone()).collect(),
        accepted: accepted.clone(),
        nonce: Some(c_nonce.to_owned()),
        now: ctx.now,
    };
    let wua = provider.issue_key_attestation(&request).await?;
    Ok(match method {
        ProofMethod::Attestation(_) => Proofs::Attestation(vec![wua]),
        _ => Proofs::Jwt(vec![jwt_proof(first, ctx, c_nonce, Some(&wua)).await?]),
    })
}

/// `proofs` as JSON: `{"jwt": [...]}` or `{"attestation": [...]}` (VCI §8.2).
pub fn proofs_json(proofs: &Proofs) -> Value {
    let list = match proofs {
        Proofs::Jwt(list) | Proofs::Attestation(list) => list,
    };
    let mut object = Map::new();
    object.insert(proofs.type_name().to_owned(), json!(list));
    Value::Object(object)
}

/// Fresh holder keys, a `c_nonce`, the proofs and the Credential Request;
/// one retry with a fresh nonce on `invalid_nonce`, and one after a token
/// refresh on DPoP 401 `invalid_token` (VCI §8.3.1.2; WAL-CRED-11). Returns
/// the response and the keys in the order they were proven. For a bearer
/// configuration ([`ProofMethod::Bearer`]) no key, no `c_nonce` and no
/// `proofs` (VCI §8.2; WAL-CRED-03): the keys returned are none.
pub async fn request_credentials(
    session: &IssuanceSession<'_>,
    configuration: &CredentialConfiguration,
    selector: &CredentialSelector,
    wanted: usize,
    provider: Option<&dyn WiaSource>,
    now: i64,
) -> Result<(CredentialResponse, Vec<SoftwareSigner>), WalletError> {
    let method = ProofMethod::for_configuration(configuration)?;
    let bearer = method == ProofMethod::Bearer;
    // WAL-KEY-01: a fresh key per credential instance; none for bearer.
    let n = if bearer {
        0
    } else {
        key_count(&session.info.metadata, &method, wanted)
    };
    let holder_keys = (0..n)
        .map(|_| SoftwareSigner::generate())
        .collect::<Result<Vec<_>, _>>()?;
    let ctx = ProofContext {
        credential_issuer: &session.info.metadata.credential_issuer,
        client_id: session.client_id(),
        now,
        provider,
    };
    let mut nonce_retry = false;
    let mut token_retry = false;
    loop {
        let proofs = if bearer {
            None
        } else {
            let c_nonce = session.fetch_c_nonce().await?;
            Some(build_proofs(&method, &holder_keys, &c_nonce, &ctx).await?)
        };
        match session
            .request_credential_proving(selector, proofs.as_ref())
            .await
        {
            Err(e) if e.protocol_error() == Some("invalid_nonce") && !nonce_retry => {
                nonce_retry = true;
            }
            // VCI §8.3.1.2, RFC 9449 §7.1: the access token was refused;
            // with a refresh token, renew it once (same DPoP key, same
            // client authentication; WAL-TOK-04) and retry with fresh proofs.
            Err(e) if is_invalid_token(&e) && !token_retry => {
                let Some(refresh_token) = session.refresh_token() else {
                    return Err(e);
                };
                token_retry = true;
                session.refresh_shared(&refresh_token).await?;
            }
            other => return Ok((other?, holder_keys)),
        }
    }
}

/// DPoP 401 `invalid_token` (RFC 9449 §7.1, VCI §8.3.1.2; WAL-CRED-11).
pub(crate) fn is_invalid_token(error: &WalletError) -> bool {
    matches!(error, WalletError::Protocol { status: 401, error, .. } if error == "invalid_token")
}

/// WAL-VAL-05: no more credentials than keys sent; the caller validates
/// credential `i` against key `i` (proof order, VCI §8.3, ISS-BATCH-04).
pub fn check_count(received: usize, keys: usize) -> Result<(), WalletError> {
    if received == 0 {
        return Err(WalletError::UnexpectedResponse(
            "the response carries no credential".into(),
        ));
    }
    if received > keys {
        return Err(WalletError::Validation(format!(
            "the issuer returned {received} credentials for {keys} keys"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use avow_core::metadata::{BatchCredentialIssuance, ProofTypeMetadata};
    use avow_crypto::{AlgorithmAllowList, CompactJws};
    use std::collections::BTreeMap;

    fn configuration(types: &[(&str, Option<Value>)]) -> CredentialConfiguration {
        let proof_types_supported: BTreeMap<String, ProofTypeMetadata> = types
            .iter()
            .map(|(name, required)| {
                (
                    (*name).to_owned(),
                    ProofTypeMetadata {
                        proof_signing_alg_values_supported: vec!["ES256".into()],
                        key_attestations_required: required.clone(),
                    },
                )
            })
            .collect();
        serde_json::from_value(json!({
            "format": "dc+sd-jwt",
            "cryptographic_binding_methods_supported": ["jwk"],
            "proof_types_supported": proof_types_supported,
        }))
        .expect("configuration")
    }

    #[test]
    fn the_configuration_decides_the_method() {
        let m = |c| ProofMethod::for_configuration(&c).ok();
        assert_eq!(m(configuration(&[("jwt", None)])), Some(ProofMethod::Jwt));
        assert_eq!(
            m(configuration(&[
                ("jwt", None),
                ("attestation", Some(json!({})))
            ])),
            Some(ProofMethod::Jwt)
        );
        let required = json!({ "key_storage": ["iso_18045_high"] });
        assert_eq!(
            m(configuration(&[("jwt", Some(required.clone()))])),
            Some(ProofMethod::JwtWithKeyAttestation(
                KeyAttestationsRequired {
                    key_storage: vec!["iso_18045_high".into()],
                    user_authentication: vec![],
                }
            ))
        );
        assert_eq!(
            m(configuration(&[("attestation", None)])),
            Some(ProofMethod::Attestation(KeyAttestationsRequired::default()))
        );
        assert_eq!(m(configuration(&[("di_vp", None)])), None);
        assert_eq!(m(configuration(&[])), None);
    }

    /// VCI §12.2.4, WAL-CRED-03: neither member → bearer, no proofs, one
    /// credential; binding methods without proof types are refused.
    #[test]
    fn a_configuration_without_proof_types_is_bearer() {
        let bearer: CredentialConfiguration =
            serde_json::from_value(json!({ "format": "dc+sd-jwt", "vct": "urn:x" }))
                .expect("configuration");
        assert_eq!(
            ProofMethod::for_configuration(&bearer).ok(),
            Some(ProofMethod::Bearer)
        );
        assert!(!ProofMethod::Bearer.needs_key_attestation());
        let mut metadata: CredentialIssuerMetadata = serde_json::from_value(json!({
            "credential_issuer": "https://i.example",
            "credential_endpoint": "https://i.example/credential",
            "credential_configurations_supported": {},
            "batch_credential_issuance": { "batch_size": 10 },
        }))
        .expect("metadata");
        assert_eq!(key_count(&metadata, &ProofMethod::Bearer, 5), 1);
        metadata.batch_credential_issuance = None;
        assert_eq!(key_count(&metadata, &ProofMethod::Bearer, 0), 1);
        // Binding methods without proof types contradict VCI §12.2.4.
        assert!(ProofMethod::for_configuration(&configuration(&[])).is_err());
    }

    #[tokio::test]
    async fn a_bearer_configuration_builds_no_proofs() {
        let keys = [SoftwareSigner::generate().expect("key")];
        let ctx = ProofContext {
            credential_issuer: "https://i.example",
            client_id: None,
            now: 1_800_000_000,
            provider: None,
        };
        assert!(
            build_proofs(&ProofMethod::Bearer, &keys, "n", &ctx)
                .await
                .is_err()
        );
    }

    #[test]
    fn key_count_respects_the_batch_size() {
        let mut metadata: CredentialIssuerMetadata = serde_json::from_value(json!({
            "credential_issuer": "https://i.example",
            "credential_endpoint": "https://i.example/credential",
            "credential_configurations_supported": {},
        }))
        .expect("metadata");
        assert_eq!(key_count(&metadata, &ProofMethod::Jwt, 5), 1);
        metadata.batch_credential_issuance = Some(BatchCredentialIssuance { batch_size: 3 });
        assert_eq!(key_count(&metadata, &ProofMethod::Jwt, 5), 3);
        assert_eq!(key_count(&metadata, &ProofMethod::Jwt, 0), 1);
        metadata.batch_credential_issuance = Some(BatchCredentialIssuance { batch_size: 50 });
        let attested = ProofMethod::Attestation(KeyAttestationsRequired::default());
        assert_eq!(key_count(&metadata, &attested, 50), 32);
    }

    #[tokio::test]
    async fn plain_jwt_proofs_one_per_key_with_iss_when_attested() {
        let keys = [
            SoftwareSigner::generate().expect("key"),
            SoftwareSigner::generate().expect("key"),
        ];
        let ctx = ProofContext {
            credential_issuer: "https://i.example",
            client_id: Some("wallet"),
            now: 1_800_000_000,
            provider: None,
        };
        let proofs = build_proofs(&ProofMethod::Jwt, &keys, "n", &ctx)
            .await
            .expect("proofs");
        let Proofs::Jwt(list) = &proofs else {
            panic!("jwt proofs expected")
        };
        assert_eq!(list.len(), 2);
        for (proof, key) in list.iter().zip(&keys) {
            let jws = CompactJws::parse(proof).expect("jws");
            assert_eq!(jws.header_str("typ"), Some(PROOF_TYP));
            jws.verify(key.public_jwk(), &AlgorithmAllowList::es256())
                .expect("signed by its key");
            let claims: Value = serde_json::from_slice(jws.payload()).expect("claims");
            assert_eq!(claims["iss"], "wallet");
            assert_eq!(claims["nonce"], "n");
        }
        assert_eq!(
            proofs_json(&proofs)["jwt"].as_array().map(Vec::len),
            Some(2)
        );
        // Key attestations need a provider.
        let attested = ProofMethod::Attestation(KeyAttestationsRequired::default());
        assert!(build_proofs(&attested, &keys, "n", &ctx).await.is_err());
    }

    /// WAL-CRED-11: only DPoP 401 `invalid_token` triggers the refresh.
    #[test]
    fn wal_cred_11_invalid_token_is_a_401() {
        let error = |status, code: &str| WalletError::Protocol {
            status,
            error: code.into(),
            description: String::new(),
        };
        assert!(is_invalid_token(&error(401, "invalid_token")));
        assert!(!is_invalid_token(&error(400, "invalid_token")));
        assert!(!is_invalid_token(&error(401, "use_dpop_nonce")));
        assert!(!is_invalid_token(&WalletError::Transport("x".into())));
    }

    #[test]
    fn count_rules() {
        assert!(check_count(0, 1).is_err());
        assert!(check_count(2, 1).is_err());
        assert!(check_count(1, 2).is_ok());
    }
}
