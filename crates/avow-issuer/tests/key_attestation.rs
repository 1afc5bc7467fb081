//! Key attestations (WUA), the `attestation` proof type and batch issuance
//! at the Credential Endpoint: ISS-META-08, -09, -11, ISS-CRED-08, -16,
//! ISS-PROOF-02, -09, ISS-KATT-01 … -08, ISS-PATT-01 … -03, ISS-BATCH-01 … -04,
//! and APT VCI-CHECK-06A through the wallet (WAL-KEY-03, WAL-CRED-05 … -07,
//! WAL-VAL-05). Every refusal with its exact status and `error`.

mod common;

use avow_core::key_attestation::{
    ISO_18045_BASIC, ISO_18045_HIGH, ISO_18045_MODERATE, KEY_ATTESTATION_TYP,
    KeyAttestationsRequired,
};
use avow_core::proof::PROOF_TYP;
use avow_crypto::x509::{CertificateAuthority, Validity};
use avow_crypto::{EcPublicJwk, Signer, SoftwareSigner, SystemRandom};
use avow_issuer::IssuerConfig;
use avow_issuer::key_proof::ProofsConfig;
use avow_wallet::attestation::DevWalletProvider;
use avow_wallet::{CredentialStore, Wallet, WalletOptions};
use common::{Backend, HOLDER, NOW, PID, Resp, TestIssuer, jws, proof_header};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

const PID_LIFETIME: i64 = 31_536_000;

fn new_key() -> SoftwareSigner {
    SoftwareSigner::generate().expect("key")
}

fn new_keys(n: usize) -> Vec<SoftwareSigner> {
    (0..n).map(|_| new_key()).collect()
}

fn b64_der(der: &[u8]) -> Value {
    Value::String(avow_crypto::b64::encode_standard(der))
}

// ---------------------------------------------------------------- configurations

fn set_proofs(c: &mut IssuerConfig, types: &[&str], required: Option<KeyAttestationsRequired>) {
    let pid = c
        .credential_configurations
        .get_mut(PID)
        .expect("the PID configuration");
    pid.proofs = Some(ProofsConfig {
        types: Some(types.iter().map(|t| (*t).to_owned()).collect()),
        key_attestations_required: required,
    });
}

fn required() -> KeyAttestationsRequired {
    KeyAttestationsRequired {
        key_storage: vec![ISO_18045_HIGH.into(), ISO_18045_MODERATE.into()],
        user_authentication: vec![ISO_18045_HIGH.into(), ISO_18045_MODERATE.into()],
    }
}

/// The PID demands a key attestation; both proof types are accepted.
fn wua_required(c: &mut IssuerConfig) {
    set_proofs(c, &["jwt", "attestation"], Some(required()));
}

fn wua_required_no_batch(c: &mut IssuerConfig) {
    wua_required(c);
    c.batch.batch_size = 1;
}

/// Only the `attestation` proof type (as mdoc configurations by default, C-18).
fn attestation_only(c: &mut IssuerConfig) {
    set_proofs(c, &["attestation"], None);
}

fn no_batch(c: &mut IssuerConfig) {
    c.batch.batch_size = 1;
}

// ---------------------------------------------------------------- a wallet provider under test control

/// Builds key attestations freely: the issuer's DEVELOPMENT wallet-provider
/// CA (trusted by the issuer) and a signer certificate issued by it.
struct Attester {
    ca: CertificateAuthority,
    signer: SoftwareSigner,
    leaf: Vec<u8>,
}

fn validity(issuer: &TestIssuer) -> Validity {
    Validity {
        not_before: issuer.now() - 3600,
        not_after: issuer.now() + 86_400,
    }
}

impl Attester {
    fn new(issuer: &TestIssuer) -> Self {
        let (cert, key) = dev_ca_files(issuer);
        let cert_der = avow_crypto::x509::certs_from_pem(
            &std::fs::read_to_string(cert).expect("read CA cert"),
        )
        .expect("CA PEM")
        .remove(0);
        let key_der = avow_crypto::pem::decode_one(
            "PRIVATE KEY",
            &std::fs::read_to_string(key).expect("read CA key"),
        )
        .expect("CA key PEM");
        let ca = CertificateAuthority::from_der(cert_der, &key_der).expect("CA");
        let signer = new_key();
        let leaf = ca
            .issue_leaf(
                "test key attestation signer",
                signer.public_jwk(),
                validity(issuer),
            )
            .expect("leaf");
        Self { ca, signer, leaf }
    }

    fn header(&self) -> Value {
        json!({ "typ": KEY_ATTESTATION_TYP, "x5c": [b64_der(&self.leaf)] })
    }

    /// A key attestation with these claims, correctly signed and chained.
    async fn wua(&self, claims: &Value) -> String {
        jws(&self.signer, self.header(), claims).await
    }
}

fn dev_ca_files(issuer: &TestIssuer) -> (std::path::PathBuf, std::path::PathBuf) {
    issuer
        .state
        .client_auth
        .dev_wallet_provider
        .clone()
        .expect("dev wallet-provider CA")
}

/// Good WUA claims attesting `keys` in order, with `nonce`.
fn wua_claims(issuer: &TestIssuer, keys: &[SoftwareSigner], nonce: &str) -> Value {
    json!({
        "iss": "urn:test:wallet-provider",
        "iat": issuer.now(),
        "exp": issuer.now() + 3600,
        "attested_keys": keys.iter().map(|k| k.public_jwk().to_json()).collect::<Vec<_>>(),
        "key_storage": [ISO_18045_MODERATE],
        "user_authentication": [ISO_18045_HIGH],
        "nonce": nonce,
    })
}

/// A `jwt` proof by `signer` carrying `wua` in its `key_attestation` header.
async fn attested_proof(
    issuer: &TestIssuer,
    signer: &SoftwareSigner,
    wua: &str,
    nonce: &str,
) -> String {
    attested_proof_with(issuer, signer, json!({}), wua, nonce).await
}

/// As [`attested_proof`], with extra header members (`jwk`, `kid` …).
async fn attested_proof_with(
    issuer: &TestIssuer,
    signer: &SoftwareSigner,
    extra: Value,
    wua: &str,
    nonce: &str,
) -> String {
    let mut header = json!({ "typ": PROOF_TYP, "key_attestation": wua });
    if let (Some(h), Some(e)) = (header.as_object_mut(), extra.as_object()) {
        h.extend(e.clone());
    }
    jws(signer, header, &issuer.proof_claims(nonce)).await
}

fn jwt_body(proofs: &[String]) -> Value {
    json!({ "credential_configuration_id": PID, "proofs": { "jwt": proofs } })
}

fn attestation_body(attestations: &[String]) -> Value {
    json!({ "credential_configuration_id": PID, "proofs": { "attestation": attestations } })
}

/// The holder keys (`cnf.jwk`) of a response's credentials, in order,
/// each credential verified with the issuer key.
fn bound_keys(issuer: &TestIssuer, response: &Resp) -> Vec<EcPublicJwk> {
    credentials(response)
        .iter()
        .map(|c| issuer.verify_credential(c).0.holder_key.expect("cnf.jwk"))
        .collect()
}

fn credentials(response: &Resp) -> Vec<String> {
    response.json()["credentials"]
        .as_array()
        .expect("credentials")
        .iter()
        .map(|c| c["credential"].as_str().expect("a string").to_owned())
        .collect()
}

fn publics(keys: &[SoftwareSigner]) -> Vec<EcPublicJwk> {
    keys.iter().map(|k| k.public_jwk().clone()).collect()
}

async fn issuance_count(issuer: &TestIssuer) -> usize {
    issuer
        .state
        .store
        .issuances_for_holder(HOLDER)
        .await
        .expect("issuances")
        .len()
}

/// Sends `body` with a fresh token and expects `status` / `error`.
async fn expect_error(issuer: &TestIssuer, body: &Value, status: u16, error: &str) {
    let token = issuer.fresh_token().await;
    issuer
        .credential_request(&token, body)
        .await
        .assert_error(status, error);
}

// ---------------------------------------------------------------- metadata

async fn metadata_of(issuer: &TestIssuer) -> Value {
    let url = format!("{}/.well-known/openid-credential-issuer", issuer.url);
    let response = issuer.get(&url).await;
    response.assert_status(200);
    response.json()
}

/// ISS-META-08, -09, -11: proof types with their key attestation
/// requirements; `batch_credential_issuance` iff batch is on.
#[tokio::test]
async fn iss_meta_08_09_11_proof_types_and_batch_in_metadata() {
    // The defaults: jwt without key attestation, batch of 10.
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let metadata = metadata_of(&issuer).await;
    assert_eq!(
        metadata["credential_configurations_supported"][PID]["proof_types_supported"],
        json!({ "jwt": { "proof_signing_alg_values_supported": ["ES256"] } })
    );
    assert_eq!(
        metadata["batch_credential_issuance"],
        json!({ "batch_size": 10 })
    );
    drop(issuer);

    let issuer = TestIssuer::start_with(Backend::Sqlite, wua_required_no_batch).await;
    let metadata = metadata_of(&issuer).await;
    let required = json!({
        "key_storage": [ISO_18045_HIGH, ISO_18045_MODERATE],
        "user_authentication": [ISO_18045_HIGH, ISO_18045_MODERATE],
    });
    assert_eq!(
        metadata["credential_configurations_supported"][PID]["proof_types_supported"],
        json!({
            "jwt": { "proof_signing_alg_values_supported": ["ES256"], "key_attestations_required": required },
            "attestation": { "proof_signing_alg_values_supported": ["ES256"], "key_attestations_required": required },
        })
    );
    assert!(metadata.get("batch_credential_issuance").is_none());
    drop(issuer);

    let issuer = TestIssuer::start_with(Backend::Sqlite, attestation_only).await;
    let metadata = metadata_of(&issuer).await;
    assert_eq!(
        metadata["credential_configurations_supported"][PID]["proof_types_supported"],
        json!({ "attestation": { "proof_signing_alg_values_supported": ["ES256"], "key_attestations_required": {} } })
    );
}

/// Configuration checks at start-up: unknown proof types, empty or
/// repeated values, a batch size out of range.
#[test]
fn proofs_and_batch_configuration_is_checked() {
    let defaults = avow_issuer::config::DEFAULT_CONFIG;
    for (from, to) in [
        (
            r#"proofs = { types = ["jwt"] }"#,
            r#"proofs = { types = ["ldp_vp"] }"#,
        ),
        (
            // Bearer (no proof types) cannot demand a key attestation.
            r#"proofs = { types = ["jwt"] }"#,
            r#"proofs = { types = [], key_attestations_required = {} }"#,
        ),
        (
            r#"proofs = { types = ["jwt"] }"#,
            r#"proofs = { types = ["jwt", "jwt"] }"#,
        ),
        (
            r#"proofs = { types = ["jwt"] }"#,
            r#"proofs = { key_attestations_required = { key_storage = [""] } }"#,
        ),
        (
            r#"proofs = { types = ["jwt"] }"#,
            r#"proofs = { key_attestations_required = { storage = ["x"] } }"#,
        ),
        ("batch_size = 10", "batch_size = 0"),
        ("batch_size = 10", "batch_size = 1000"),
    ] {
        assert!(defaults.contains(from), "{from}");
        let text = defaults.replace(from, to);
        assert!(
            IssuerConfig::from_toml(&text).is_err(),
            "{to} must be refused"
        );
    }
    let text = defaults.replace(
        r#"proofs = { types = ["jwt"] }"#,
        r#"proofs = { types = ["jwt", "attestation"], key_attestations_required = { key_storage = ["iso_18045_high"] } }"#,
    );
    assert!(IssuerConfig::from_toml(&text).is_ok());
}

// ---------------------------------------------------------------- jwt + key_attestation

/// ISS-KATT-02 … -08, ISS-PROOF-02, ISS-BATCH-04: a jwt proof signed by
/// attested_keys[0] with the WUA in `key_attestation` → one credential per
/// attested key, in order, each bound to that key. The key reference may be
/// absent, a `jwk` equal to attested_keys[0] or a `kid` naming it.
#[tokio::test]
async fn iss_katt_jwt_proof_with_key_attestation_binds_every_attested_key() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, wua_required).await;
    let attester = Attester::new(&issuer);
    let keys = new_keys(3);
    let variants = [
        json!({}),
        json!({ "jwk": keys[0].public_jwk().to_json() }),
        json!({ "kid": "0" }),
        json!({ "kid": keys[0].public_jwk().thumbprint() }),
    ];
    for extra in variants {
        let before = issuance_count(&issuer).await;
        let nonce = issuer.c_nonce().await;
        let wua = attester.wua(&wua_claims(&issuer, &keys, &nonce)).await;
        let proof = attested_proof_with(&issuer, &keys[0], extra.clone(), &wua, &nonce).await;
        let token = issuer.fresh_token().await;
        let response = issuer.credential_request(&token, &jwt_body(&[proof])).await;
        response.assert_status(200);
        assert_eq!(bound_keys(&issuer, &response), publics(&keys), "{extra}");
        assert_eq!(issuance_count(&issuer).await, before + 3);
    }
}

/// ISS-KATT-07 (C-19): the proof must verify with attested_keys[0]; a `jwk`
/// other than it or a `kid` naming another key → 400 invalid_proof.
#[tokio::test]
async fn iss_katt_07_proof_must_be_signed_by_the_first_attested_key() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, wua_required).await;
    let attester = Attester::new(&issuer);
    let keys = new_keys(2);
    let cases: Vec<(&str, usize, Value)> = vec![
        ("signed by attested_keys[1]", 1, json!({})),
        (
            "jwk = attested_keys[1], signed by it",
            1,
            json!({ "jwk": keys[1].public_jwk().to_json() }),
        ),
        (
            "jwk = attested_keys[1], signed by attested_keys[0]",
            0,
            json!({ "jwk": keys[1].public_jwk().to_json() }),
        ),
        ("kid naming attested_keys[1]", 0, json!({ "kid": "1" })),
        (
            "kid naming attested_keys[1] by thumbprint",
            0,
            json!({ "kid": keys[1].public_jwk().thumbprint() }),
        ),
        (
            "kid naming no attested key",
            0,
            json!({ "kid": "elsewhere" }),
        ),
        (
            "jwk and kid together",
            0,
            json!({ "jwk": keys[0].public_jwk().to_json(), "kid": "0" }),
        ),
    ];
    for (what, signer, extra) in cases {
        let nonce = issuer.c_nonce().await;
        let wua = attester.wua(&wua_claims(&issuer, &keys, &nonce)).await;
        let proof = attested_proof_with(&issuer, &keys[signer], extra, &wua, &nonce).await;
        let token = issuer.fresh_token().await;
        let response = issuer.credential_request(&token, &jwt_body(&[proof])).await;
        assert_eq!(response.status, 400, "{what}");
        response.assert_error(400, "invalid_proof");
    }
    // A proof signed by another, unattested key.
    let nonce = issuer.c_nonce().await;
    let wua = attester.wua(&wua_claims(&issuer, &keys, &nonce)).await;
    let proof = attested_proof(&issuer, &new_key(), &wua, &nonce).await;
    expect_error(&issuer, &jwt_body(&[proof]), 400, "invalid_proof").await;
    assert_eq!(issuance_count(&issuer).await, 0);
}

/// ISS-KATT-01: where key attestations are required, a plain jwt proof → 400 invalid_proof.
#[tokio::test]
async fn iss_katt_01_jwt_without_key_attestation_where_required() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, wua_required).await;
    let nonce = issuer.c_nonce().await;
    let proof = issuer.key_proof(&new_key(), &nonce).await;
    expect_error(
        &issuer,
        &TestIssuer::pid_request(&proof),
        400,
        "invalid_proof",
    )
    .await;
    // The same proof is fine where no key attestation is required.
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let nonce = issuer.c_nonce().await;
    let proof = issuer.key_proof(&new_key(), &nonce).await;
    let token = issuer.fresh_token().await;
    issuer
        .credential_request(&token, &TestIssuer::pid_request(&proof))
        .await
        .assert_status(200);
}

/// ISS-KATT-02, -03: typ, alg, x5c; the chain to a configured wallet-provider
/// anchor (untrusted provider, self-signed leaf, anchor in x5c), the
/// signature by the leaf → 400 invalid_proof.
#[tokio::test]
async fn iss_katt_02_03_header_and_chain_rules() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, wua_required).await;
    let attester = Attester::new(&issuer);
    let keys = new_keys(1);
    // Another wallet provider, unknown to the issuer.
    let dir = std::env::temp_dir().join(format!(
        "avow-untrusted-wp-{}",
        avow_crypto::Random::token(&SystemRandom, 8)
    ));
    let untrusted = DevWalletProvider::generate(&dir, issuer.now()).expect("provider");
    let own_root = CertificateAuthority::generate_root("self-signed WUA signer", validity(&issuer))
        .expect("root");
    let own_key = SoftwareSigner::from_pkcs8(&own_root.key_pkcs8()).expect("root key");

    let nonce = issuer.c_nonce().await;
    let claims = wua_claims(&issuer, &keys, &nonce);
    let leaf = b64_der(&attester.leaf);
    let mut attestations = vec![
        (
            "wrong typ",
            jws(&attester.signer, json!({ "typ": "JWT", "x5c": [leaf] }), &claims).await,
        ),
        (
            "wallet attestation typ",
            jws(
                &attester.signer,
                json!({ "typ": "oauth-client-attestation+jwt", "x5c": [leaf] }),
                &claims,
            )
            .await,
        ),
        (
            "no x5c",
            jws(&attester.signer, json!({ "typ": KEY_ATTESTATION_TYP }), &claims).await,
        ),
        (
            "jwk instead of x5c",
            jws(
                &attester.signer,
                json!({ "typ": KEY_ATTESTATION_TYP, "jwk": attester.signer.public_jwk().to_json() }),
                &claims,
            )
            .await,
        ),
        (
            "self-signed leaf",
            jws(
                &own_key,
                json!({ "typ": KEY_ATTESTATION_TYP, "x5c": [b64_der(&own_root.cert_der)] }),
                &claims,
            )
            .await,
        ),
        (
            "anchor in x5c",
            jws(
                &attester.signer,
                json!({ "typ": KEY_ATTESTATION_TYP, "x5c": [leaf, b64_der(&attester.ca.cert_der)] }),
                &claims,
            )
            .await,
        ),
        (
            "signed by a key other than the x5c leaf",
            jws(&new_key(), attester.header(), &claims).await,
        ),
        (
            "alg none",
            common::forged_jws(
                &json!({ "typ": KEY_ATTESTATION_TYP, "alg": "none", "x5c": [leaf] }),
                &claims,
                b"",
            ),
        ),
    ];
    let request = avow_wallet::key_proofs::KeyAttestationRequest {
        keys: publics(&keys),
        accepted: KeyAttestationsRequired::default(),
        nonce: Some(nonce.clone()),
        now: issuer.now(),
    };
    attestations.push((
        "untrusted wallet provider",
        untrusted
            .claiming_levels(ISO_18045_HIGH, ISO_18045_HIGH)
            .issue_key_attestation(&request, 3600)
            .await
            .expect("WUA"),
    ));
    for (what, wua) in attestations {
        let proof = attested_proof(&issuer, &keys[0], &wua, &nonce).await;
        let token = issuer.fresh_token().await;
        let response = issuer.credential_request(&token, &jwt_body(&[proof])).await;
        assert_eq!(response.status, 400, "{what}");
        response.assert_error(400, "invalid_proof");
    }
    // The key_attestation header must be a JWT string.
    let proof = jws(
        &keys[0],
        json!({ "typ": PROOF_TYP, "key_attestation": { "not": "a jwt" } }),
        &issuer.proof_claims(&nonce),
    )
    .await;
    expect_error(&issuer, &jwt_body(&[proof]), 400, "invalid_proof").await;
    // None of this consumed the c_nonce or issued anything (ISS-CRED-16).
    let wua = attester.wua(&claims).await;
    let proof = attested_proof(&issuer, &keys[0], &wua, &nonce).await;
    let token = issuer.fresh_token().await;
    assert_eq!(issuance_count(&issuer).await, 0);
    issuer
        .credential_request(&token, &jwt_body(&[proof]))
        .await
        .assert_status(200);
    let _ = std::fs::remove_dir_all(dir);
}

type ClaimsChange = Box<dyn Fn(&mut Value)>;

/// ISS-KATT-04: iat, exp (mandatory with jwt, not passed), attested_keys
/// (non-empty public P-256 JWKs, no duplicates) → 400 invalid_proof.
#[tokio::test]
async fn iss_katt_04_claim_rules() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, wua_required).await;
    let attester = Attester::new(&issuer);
    let keys = new_keys(2);
    let now = issuer.now();
    let mut with_private = keys[0].public_jwk().to_json();
    with_private["d"] = json!("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI");
    let cases: Vec<(&str, ClaimsChange)> = vec![
        ("expired", Box::new(move |c| c["exp"] = json!(now - 3600))),
        (
            "missing exp",
            Box::new(|c| drop(c.as_object_mut().map(|o| o.remove("exp")))),
        ),
        (
            "missing iat",
            Box::new(|c| drop(c.as_object_mut().map(|o| o.remove("iat")))),
        ),
        (
            "iat in the future",
            Box::new(move |c| c["iat"] = json!(now + 3600)),
        ),
        (
            "exp not a number",
            Box::new(|c| c["exp"] = json!("tomorrow")),
        ),
        (
            "empty attested_keys",
            Box::new(|c| c["attested_keys"] = json!([])),
        ),
        (
            "attested_keys not an array",
            Box::new(|c| c["attested_keys"] = json!({})),
        ),
        (
            "duplicate attested keys",
            Box::new(|c| {
                let first = c["attested_keys"][0].clone();
                c["attested_keys"][1] = first;
            }),
        ),
        (
            "an attested key with private members",
            Box::new(move |c| c["attested_keys"][1] = with_private.clone()),
        ),
        (
            "an attested key not P-256",
            Box::new(|c| c["attested_keys"][1]["crv"] = json!("P-384")),
        ),
        (
            "empty key_storage",
            Box::new(|c| c["key_storage"] = json!([])),
        ),
    ];
    for (what, change) in cases {
        let nonce = issuer.c_nonce().await;
        let mut claims = wua_claims(&issuer, &keys, &nonce);
        change(&mut claims);
        let wua = attester.wua(&claims).await;
        let proof = attested_proof(&issuer, &keys[0], &wua, &nonce).await;
        let token = issuer.fresh_token().await;
        let response = issuer.credential_request(&token, &jwt_body(&[proof])).await;
        assert_eq!(response.status, 400, "{what}");
        response.assert_error(400, "invalid_proof");
    }
    assert_eq!(issuance_count(&issuer).await, 0);
}

/// ISS-KATT-05 (VCI App. D.1, F.1): the WUA nonce in a `jwt` proof's
/// key_attestation must be the proof's c_nonce → else 400 invalid_nonce, a
/// missing nonce included (the proof itself carries a c_nonce); nothing is
/// consumed.
#[tokio::test]
async fn iss_katt_05_wua_nonce_must_be_the_proof_nonce() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, wua_required).await;
    let attester = Attester::new(&issuer);
    let keys = new_keys(1);
    let nonce = issuer.c_nonce().await;
    let other = issuer.c_nonce().await;
    let wua = attester.wua(&wua_claims(&issuer, &keys, &other)).await;
    let proof = attested_proof(&issuer, &keys[0], &wua, &nonce).await;
    expect_error(&issuer, &jwt_body(&[proof]), 400, "invalid_nonce").await;
    let mut claims = wua_claims(&issuer, &keys, &nonce);
    claims.as_object_mut().map(|o| o.remove("nonce"));
    let wua = attester.wua(&claims).await;
    let proof = attested_proof(&issuer, &keys[0], &wua, &nonce).await;
    expect_error(&issuer, &jwt_body(&[proof]), 400, "invalid_nonce").await;
    // An empty nonce is no nonce.
    let mut claims = wua_claims(&issuer, &keys, &nonce);
    claims["nonce"] = json!("");
    let wua = attester.wua(&claims).await;
    let proof = attested_proof(&issuer, &keys[0], &wua, &nonce).await;
    expect_error(&issuer, &jwt_body(&[proof]), 400, "invalid_nonce").await;
    // Both nonces are still unused: the request with them succeeds, and a replay fails.
    for nonce in [&nonce, &other] {
        let wua = attester.wua(&wua_claims(&issuer, &keys, nonce)).await;
        let proof = attested_proof(&issuer, &keys[0], &wua, nonce).await;
        let token = issuer.fresh_token().await;
        let body = jwt_body(&[proof]);
        issuer
            .credential_request(&token, &body)
            .await
            .assert_status(200);
        expect_error(&issuer, &body, 400, "invalid_nonce").await;
    }
}

/// ISS-KATT-06: key_storage and user_authentication must each hold a value
/// the configuration accepts → else 400 invalid_proof.
#[tokio::test]
async fn iss_katt_06_accepted_key_storage_and_user_authentication() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, wua_required).await;
    let attester = Attester::new(&issuer);
    let keys = new_keys(1);
    let cases: Vec<(&str, &str, Value)> = vec![
        ("key_storage basic", "key_storage", json!([ISO_18045_BASIC])),
        ("key_storage missing", "key_storage", Value::Null),
        (
            "user_authentication basic",
            "user_authentication",
            json!([ISO_18045_BASIC]),
        ),
        (
            "user_authentication missing",
            "user_authentication",
            Value::Null,
        ),
    ];
    for (what, member, value) in cases {
        let nonce = issuer.c_nonce().await;
        let mut claims = wua_claims(&issuer, &keys, &nonce);
        if value.is_null() {
            claims.as_object_mut().map(|o| o.remove(member));
        } else {
            claims[member] = value;
        }
        let wua = attester.wua(&claims).await;
        let proof = attested_proof(&issuer, &keys[0], &wua, &nonce).await;
        let token = issuer.fresh_token().await;
        let response = issuer.credential_request(&token, &jwt_body(&[proof])).await;
        assert_eq!(response.status, 400, "{what}");
        response.assert_error(400, "invalid_proof");
    }
    // One accepted value among others is enough.
    let nonce = issuer.c_nonce().await;
    let mut claims = wua_claims(&issuer, &keys, &nonce);
    claims["key_storage"] = json!([ISO_18045_BASIC, ISO_18045_HIGH]);
    let wua = attester.wua(&claims).await;
    let proof = attested_proof(&issuer, &keys[0], &wua, &nonce).await;
    let token = issuer.fresh_token().await;
    issuer
        .credential_request(&token, &jwt_body(&[proof]))
        .await
        .assert_status(200);
}

/// ISS-KATT-08: more attested keys than the batch size (1 without batch)
/// → 400 invalid_proof; exactly the batch size is fine.
#[tokio::test]
async fn iss_katt_08_no_more_attested_keys_than_the_batch_size() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, wua_required_no_batch).await;
    let attester = Attester::new(&issuer);
    let keys = new_keys(2);
    let nonce = issuer.c_nonce().await;
    let wua = attester.wua(&wua_claims(&issuer, &keys, &nonce)).await;
    let proof = attested_proof(&issuer, &keys[0], &wua, &nonce).await;
    expect_error(&issuer, &jwt_body(&[proof]), 400, "invalid_proof").await;
    let wua = attester.wua(&wua_claims(&issuer, &keys[..1], &nonce)).await;
    let proof = attested_proof(&issuer, &keys[0], &wua, &nonce).await;
    let token = issuer.fresh_token().await;
    issuer
        .credential_request(&token, &jwt_body(&[proof]))
        .await
        .assert_status(200);

    let issuer = TestIssuer::start_with(Backend::Sqlite, wua_required).await;
    let attester = Attester::new(&issuer);
    let keys = new_keys(11);
    let nonce = issuer.c_nonce().await;
    let wua = attester.wua(&wua_claims(&issuer, &keys, &nonce)).await;
    let proof = attested_proof(&issuer, &keys[0], &wua, &nonce).await;
    expect_error(&issuer, &jwt_body(&[proof]), 400, "invalid_proof").await;
    let wua = attester
        .wua(&wua_claims(&issuer, &keys[..10], &nonce))
        .await;
    let proof = attested_proof(&issuer, &keys[0], &wua, &nonce).await;
    let token = issuer.fresh_token().await;
    let response = issuer.credential_request(&token, &jwt_body(&[proof])).await;
    response.assert_status(200);
    assert_eq!(bound_keys(&issuer, &response), publics(&keys[..10]));
}

/// APT §7.5.1: all keys in one key attestation; a second jwt proof next to
/// one with key_attestation → 400 invalid_proof, nothing issued.
#[tokio::test]
async fn iss_katt_one_attested_proof_per_request() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, wua_required).await;
    let attester = Attester::new(&issuer);
    let keys = new_keys(2);
    let nonce = issuer.c_nonce().await;
    let first = attester.wua(&wua_claims(&issuer, &keys[..1], &nonce)).await;
    let second = attester.wua(&wua_claims(&issuer, &keys[1..], &nonce)).await;
    let proofs = [
        attested_proof(&issuer, &keys[0], &first, &nonce).await,
        attested_proof(&issuer, &keys[1], &second, &nonce).await,
    ];
    expect_error(&issuer, &jwt_body(&proofs), 400, "invalid_proof").await;
    assert_eq!(issuance_count(&issuer).await, 0);
}

// ---------------------------------------------------------------- proofs.attestation

/// ISS-PATT-01 … -03, ISS-BATCH-04: exactly one WUA, no PoP; one
/// credential per attested key, in attestation order.
#[tokio::test]
async fn iss_patt_attestation_proof_type() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, attestation_only).await;
    let attester = Attester::new(&issuer);
    let keys = new_keys(3);
    let nonce = issuer.c_nonce().await;
    // exp is optional with the attestation proof type (App. D.1).
    let mut claims = wua_claims(&issuer, &keys, &nonce);
    claims.as_object_mut().map(|o| o.remove("exp"));
    let wua = attester.wua(&claims).await;
    let token = issuer.fresh_token().await;
    let body = attestation_body(std::slice::from_ref(&wua));
    let response = issuer.credential_request(&token, &body).await;
    response.assert_status(200);
    assert_eq!(bound_keys(&issuer, &response), publics(&keys));
    assert_eq!(issuance_count(&issuer).await, 3);
    // ISS-KATT-05: the c_nonce is used now.
    expect_error(&issuer, &body, 400, "invalid_nonce").await;

    // ISS-PATT-01: exactly one element.
    let nonce = issuer.c_nonce().await;
    let one = attester.wua(&wua_claims(&issuer, &keys[..1], &nonce)).await;
    let two = attester
        .wua(&wua_claims(&issuer, &keys[1..2], &nonce))
        .await;
    expect_error(
        &issuer,
        &attestation_body(&[one.clone(), two]),
        400,
        "invalid_proof",
    )
    .await;
    // ISS-KATT-05: an unknown nonce → invalid_nonce; none at all → invalid_proof,
    // since here the attestation is the key proof (VCI §8.3.1.2 (3), ISS-PROOF-06).
    let made_up = avow_crypto::Random::token(&SystemRandom, 32);
    let unknown = attester.wua(&wua_claims(&issuer, &keys, &made_up)).await;
    expect_error(&issuer, &attestation_body(&[unknown]), 400, "invalid_nonce").await;
    let mut claims = wua_claims(&issuer, &keys, &nonce);
    claims.as_object_mut().map(|o| o.remove("nonce"));
    let without = attester.wua(&claims).await;
    expect_error(&issuer, &attestation_body(&[without]), 400, "invalid_proof").await;
    // ISS-PATT-02: validated like any key attestation (here: expired).
    let mut claims = wua_claims(&issuer, &keys, &nonce);
    claims["exp"] = json!(issuer.now() - 3600);
    let expired = attester.wua(&claims).await;
    expect_error(&issuer, &attestation_body(&[expired]), 400, "invalid_proof").await;
    // ISS-CRED-08, C-18: a jwt proof where only attestation is accepted.
    let proof = issuer.key_proof(&new_key(), &nonce).await;
    expect_error(
        &issuer,
        &TestIssuer::pid_request(&proof),
        400,
        "invalid_proof",
    )
    .await;
    assert_eq!(issuance_count(&issuer).await, 3);
    // The nonce survived every refusal.
    let token = issuer.fresh_token().await;
    issuer
        .credential_request(&token, &attestation_body(&[one]))
        .await
        .assert_status(200);

    // An attestation proof where the configuration accepts only jwt.
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let attester = Attester::new(&issuer);
    let nonce = issuer.c_nonce().await;
    let wua = attester.wua(&wua_claims(&issuer, &keys, &nonce)).await;
    expect_error(&issuer, &attestation_body(&[wua]), 400, "invalid_proof").await;
}

/// ISS-PATT-02, ISS-KATT-06, -08 with proofs.attestation: requirements and
/// the batch size apply.
#[tokio::test]
async fn iss_patt_02_requirements_and_batch_size_apply() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, wua_required_no_batch).await;
    let attester = Attester::new(&issuer);
    let keys = new_keys(2);
    let nonce = issuer.c_nonce().await;
    let two = attester.wua(&wua_claims(&issuer, &keys, &nonce)).await;
    expect_error(&issuer, &attestation_body(&[two]), 400, "invalid_proof").await;
    let mut claims = wua_claims(&issuer, &keys[..1], &nonce);
    claims["key_storage"] = json!([ISO_18045_BASIC]);
    let weak = attester.wua(&claims).await;
    expect_error(&issuer, &attestation_body(&[weak]), 400, "invalid_proof").await;
    let good = attester.wua(&wua_claims(&issuer, &keys[..1], &nonce)).await;
    let token = issuer.fresh_token().await;
    let response = issuer
        .credential_request(&token, &attestation_body(&[good]))
        .await;
    response.assert_status(200);
    assert_eq!(bound_keys(&issuer, &response), publics(&keys[..1]));
}

// ---------------------------------------------------------------- batch of jwt proofs

/// ISS-BATCH-02 … -04, ISS-STAT-02: three jwt proofs → three credentials in
/// proof order, each bound to its key, with distinct salts, signatures and
/// status indices, and independently randomized iat/exp within the window.
#[tokio::test]
async fn iss_batch_02_03_04_three_jwt_proofs() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let keys = new_keys(3);
    let nonce = issuer.c_nonce().await;
    let mut proofs = Vec::new();
    for key in &keys {
        proofs.push(issuer.key_proof(key, &nonce).await);
    }
    let token = issuer.fresh_token().await;
    let response = issuer.credential_request(&token, &jwt_body(&proofs)).await;
    response.assert_status(200).assert_no_store();
    let credentials = credentials(&response);
    assert_eq!(credentials.len(), 3);
    assert_eq!(bound_keys(&issuer, &response), publics(&keys));

    let mut disclosures = BTreeSet::new();
    let mut signatures = BTreeSet::new();
    let mut indices = BTreeSet::new();
    let mut times = BTreeSet::new();
    for credential in &credentials {
        let (verified, _) = issuer.verify_credential(credential);
        assert_eq!(verified.claims["given_name"], "Erika", "same dataset");
        for d in &verified.disclosures {
            assert!(disclosures.insert(d.salt().to_owned()), "salts differ");
        }
        let jwt = credential.split('~').next().unwrap_or_default();
        signatures.insert(jwt.rsplit('.').next().unwrap_or_default().to_owned());
        let status = &verified.claims["status"]["status_list"];
        indices.insert((
            status["uri"].as_str().unwrap_or_default().to_owned(),
            status["idx"].as_u64().expect("idx"),
        ));
        let iat = verified.claims["iat"].as_i64().expect("iat");
        let exp = verified.claims["exp"].as_i64().expect("exp");
        assert!(
            (NOW - 3600..=NOW).contains(&iat),
            "iat {iat} within the window"
        );
        assert!(
            (NOW + PID_LIFETIME - 3600..=NOW + PID_LIFETIME).contains(&exp),
            "exp {exp} within the lifetime"
        );
        times.insert((iat, exp));
    }
    assert_eq!(signatures.len(), 3);
    assert_eq!(indices.len(), 3, "distinct status indices");
    assert_eq!(times.len(), 3, "iat/exp randomized per credential");
    let records = issuer
        .state
        .store
        .issuances_for_holder(HOLDER)
        .await
        .expect("issuances");
    let thumbprints: BTreeSet<String> = records.iter().map(|r| r.key_thumbprint.clone()).collect();
    let expected: BTreeSet<String> = keys.iter().map(|k| k.public_jwk().thumbprint()).collect();
    assert_eq!(thumbprints, expected);
}

/// ISS-BATCH-01, ISS-PROOF-09, ISS-CRED-16: more proofs than batch_size,
/// the same key twice, or one bad proof in a batch → 400 invalid_proof and
/// nothing issued or consumed.
#[tokio::test]
async fn iss_batch_01_limits_and_no_partial_issuance() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let nonce = issuer.c_nonce().await;
    let keys = new_keys(11);
    let mut proofs = Vec::new();
    for key in &keys {
        proofs.push(issuer.key_proof(key, &nonce).await);
    }
    expect_error(&issuer, &jwt_body(&proofs), 400, "invalid_proof").await;
    // The same key proven twice (ISS-PROOF-09).
    let twice = [proofs[0].clone(), issuer.key_proof(&keys[0], &nonce).await];
    expect_error(&issuer, &jwt_body(&twice), 400, "invalid_proof").await;
    // Two good proofs and a bad one (wrong aud).
    let mut claims = issuer.proof_claims(&nonce);
    claims["aud"] = json!("https://elsewhere.example");
    let bad = jws(&keys[2], proof_header(&keys[2]), &claims).await;
    let mixed = [proofs[0].clone(), proofs[1].clone(), bad];
    expect_error(&issuer, &jwt_body(&mixed), 400, "invalid_proof").await;
    assert_eq!(
        issuance_count(&issuer).await,
        0,
        "nothing issued (ISS-CRED-16)"
    );
    // Ten are fine, and the c_nonce was never consumed before.
    let token = issuer.fresh_token().await;
    let response = issuer
        .credential_request(&token, &jwt_body(&proofs[..10]))
        .await;
    response.assert_status(200);
    assert_eq!(credentials(&response).len(), 10);

    // Without batch issuance: exactly one proof.
    let issuer = TestIssuer::start_with(Backend::Sqlite, no_batch).await;
    let nonce = issuer.c_nonce().await;
    let two = [
        issuer.key_proof(&keys[0], &nonce).await,
        issuer.key_proof(&keys[1], &nonce).await,
    ];
    expect_error(&issuer, &jwt_body(&two), 400, "invalid_proof").await;
    let url = format!("{}/.well-known/openid-credential-issuer", issuer.url);
    let metadata = issuer.get(&url).await.json();
    assert!(metadata.get("batch_credential_issuance").is_none());
}

// ---------------------------------------------------------------- the wallet (APT VCI-CHECK-06A)

fn wallet(
    issuer: &TestIssuer,
    dir: &std::path::Path,
    provider: DevWalletProvider,
    anonymous: bool,
) -> Wallet {
    let options = WalletOptions {
        allow_http_loopback: true,
        trust_anchors: issuer.trust_anchors(),
        clock_skew: 60,
        client_id: "https://wallet.example".into(),
        wia_source: Some(Arc::new(provider)),
        prefer_anonymous: anonymous,
        encryption: None,
    };
    let store = CredentialStore::open(dir).expect("credential store");
    Wallet::with_clock(options, store, issuer.clock.clone()).expect("wallet")
}

fn dev_provider(issuer: &TestIssuer) -> DevWalletProvider {
    let (cert, key) = dev_ca_files(issuer);
    DevWalletProvider::load(&cert, &key).expect("dev wallet provider")
}

/// Receives an offer of the PID with `wallet` and checks WAL-VAL-05: `n`
/// credentials, each bound to a distinct key of its own, all stored.
async fn receive_and_check(issuer: &TestIssuer, wallet: &Wallet, n: usize) {
    let before = wallet.store().list().expect("list").len();
    let offer = issuer.create_offer(false).await;
    let link = &offer.links["openid-credential-offer"].by_reference;
    let received = wallet.receive(link, None).await.expect("receive");
    assert_eq!(received.len(), n);
    let mut thumbprints = BTreeSet::new();
    for credential in &received {
        let key = credential
            .verified
            .sd_jwt_vc()
            .expect("SD-JWT VC")
            .holder_key
            .as_ref()
            .expect("cnf.jwk");
        assert_eq!(key.thumbprint(), credential.stored.holder_key_thumbprint);
        assert!(thumbprints.insert(key.thumbprint()), "distinct keys");
        issuer.verify_credential(&credential.stored.credential);
    }
    assert_eq!(wallet.store().list().expect("list").len(), before + n);
}

/// VCI-CHECK-06A, WAL-KEY-03, WAL-CRED-05, -07: where key attestations are
/// required the wallet sends one jwt proof with a WUA of all its keys (here
/// a batch of 3, through an attested client), and is refused when its
/// provider cannot reach the required key storage.
#[tokio::test]
async fn vci_check_06a_wallet_with_key_attestation() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, wua_required).await;
    let dir = std::env::temp_dir().join(format!("avow-katt-wallet-{}", uuid::Uuid::new_v4()));
    // The development store reaches only iso_18045_basic (WBE-WUA-04): refused early.
    let honest = wallet(&issuer, &dir.join("honest"), dev_provider(&issuer), false);
    let offer = issuer.create_offer(false).await;
    let link = &offer.links["openid-credential-offer"].by_reference;
    let refused = honest.receive(link, None).await;
    assert!(
        refused
            .as_ref()
            .err()
            .is_some_and(|e| e.to_string().contains("key_storage")),
        "{refused:?}"
    );
    // A provider claiming what the issuer asks (tests only).
    let provider = dev_provider(&issuer).claiming_levels(ISO_18045_HIGH, ISO_18045_MODERATE);
    let attested =
        wallet(&issuer, &dir.join("attested"), provider, false).with_batch_size_wanted(3);
    receive_and_check(&issuer, &attested, 3).await;
    let provider = dev_provider(&issuer).claiming_levels(ISO_18045_HIGH, ISO_18045_MODERATE);
    let single = wallet(&issuer, &dir.join("single"), provider, true);
    receive_and_check(&issuer, &single, 1).await;
    let _ = std::fs::remove_dir_all(dir);
}

/// VCI-CHECK-06A, WAL-CRED-06: a configuration with only the attestation
/// proof type gets proofs.attestation from the wallet; batch of 4.
#[tokio::test]
async fn vci_check_06a_wallet_with_attestation_proof_type() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, attestation_only).await;
    let dir = std::env::temp_dir().join(format!("avow-patt-wallet-{}", uuid::Uuid::new_v4()));
    let wallet = wallet(&issuer, &dir, dev_provider(&issuer), true).with_batch_size_wanted(4);
    receive_and_check(&issuer, &wallet, 4).await;
    let _ = std::fs::remove_dir_all(dir);
}

/// WAL-CRED-07, WAL-VAL-05: plain jwt batch (no key attestation), capped
/// at the issuer's batch size; without batch issuance one credential.
#[tokio::test]
async fn wal_cred_07_wallet_batch_of_jwt_proofs() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let dir = std::env::temp_dir().join(format!("avow-batch-wallet-{}", uuid::Uuid::new_v4()));
    let batch =
        wallet(&issuer, &dir.join("a"), dev_provider(&issuer), false).with_batch_size_wanted(3);
    receive_and_check(&issuer, &batch, 3).await;
    let capped =
        wallet(&issuer, &dir.join("b"), dev_provider(&issuer), true).with_batch_size_wanted(50);
    receive_and_check(&issuer, &capped, 10).await;
    drop(issuer);
    let issuer = TestIssuer::start_with(Backend::Sqlite, no_batch).await;
    let single =
        wallet(&issuer, &dir.join("c"), dev_provider(&issuer), true).with_batch_size_wanted(3);
    receive_and_check(&issuer, &single, 1).await;
    let _ = std::fs::remove_dir_all(dir);
}
