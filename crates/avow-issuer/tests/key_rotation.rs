//! ISS-SIG-06 (SD-JWT §9.8 "Key Rotation"): a key that stops signing stays
//! published until the last credential it signed has expired. An issuer
//! signs a `kid`-profile credential with key A; restarted with key B and A in
//! `keys.retired_chains`, it still publishes A at `/.well-known/jwt-vc-issuer`
//! (and in its DID document), so the old credential's `kid` resolves and
//! verifies, while new credentials are signed by B. Once the operator removes
//! A, its kid no longer resolves.

mod common;

use avow_crypto::x509::{CertificateAuthority, TrustAnchors, Validity, cert_pem};
use avow_crypto::{AlgorithmAllowList, EcPublicJwk, Signer, SoftwareSigner};
use avow_issuer::IssuerConfig;
use avow_issuer::config::SignatureProfile;
use common::{Backend, NOW, PID, TestIssuer};
use std::cell::RefCell;
use std::path::{Path, PathBuf};

/// The `[keys]` of the next (re)start; read by [`configure`], a plain `fn`.
#[derive(Clone)]
struct Keys {
    signing_key: PathBuf,
    signing_chain: PathBuf,
    retired_chains: Vec<PathBuf>,
    wallet_provider_anchor: PathBuf,
}

thread_local! {
    static KEYS: RefCell<Option<Keys>> = const { RefCell::new(None) };
}

fn configure(config: &mut IssuerConfig) {
    let keys = KEYS
        .with(|k| k.borrow().clone())
        .expect("the test sets KEYS before starting the issuer");
    config.keys.dev_pki = false;
    config.keys.signing_key = Some(keys.signing_key);
    config.keys.signing_chain = Some(keys.signing_chain);
    config.keys.retired_chains = keys.retired_chains;
    // Without the dev PKI, wallet attestation needs an anchor of its own.
    config.client_authentication.wallet_provider_anchors = vec![keys.wallet_provider_anchor];
    if let Some(pid) = config.credential_configurations.get_mut(PID) {
        pid.signature_profile = SignatureProfile::Kid;
    }
}

fn validity() -> Validity {
    Validity {
        not_before: NOW - 3600,
        not_after: NOW + 5 * 365 * 86_400,
    }
}

/// A signing key and its certificate (issued by `ca`), written to `dir`.
fn key_files(
    dir: &Path,
    name: &str,
    ca: &CertificateAuthority,
) -> (SoftwareSigner, PathBuf, PathBuf) {
    let key = SoftwareSigner::generate().expect("key");
    let leaf = ca
        .issue_leaf(
            &format!("Avow test signer {name}"),
            key.public_jwk(),
            validity(),
        )
        .expect("leaf");
    let key_path = dir.join(format!("{name}.key"));
    let chain_path = dir.join(format!("{name}.pem"));
    std::fs::write(
        &key_path,
        avow_crypto::pem::encode("PRIVATE KEY", &key.to_pkcs8().expect("pkcs8")),
    )
    .expect("write key");
    std::fs::write(&chain_path, cert_pem(&leaf)).expect("write chain");
    (key, key_path, chain_path)
}

/// The `kid` of an issued credential's issuer-signed JWT.
fn kid_of(credential: &str) -> String {
    let sd_jwt = avow_formats::sd_jwt_vc::peek(credential).expect("parse SD-JWT");
    sd_jwt
        .jws()
        .header_str("kid")
        .expect("a kid-profile credential has a kid")
        .to_owned()
}

/// The keys of `/.well-known/jwt-vc-issuer`, as (kid, key).
async fn published(issuer: &TestIssuer) -> Vec<(String, EcPublicJwk)> {
    let metadata = issuer
        .get(&format!("{}/.well-known/jwt-vc-issuer", issuer.url))
        .await;
    let metadata = metadata.assert_status(200).json();
    assert_eq!(metadata["issuer"], issuer.url.as_str());
    metadata["jwks"]["keys"]
        .as_array()
        .expect("jwks.keys")
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().expect("kid").to_owned(),
                EcPublicJwk::from_json(k).expect("EC public JWK"),
            )
        })
        .collect()
}

/// The published key under the `kid` of `credential`.
fn resolve(keys: &[(String, EcPublicJwk)], credential: &str) -> Option<EcPublicJwk> {
    let kid = kid_of(credential);
    keys.iter()
        .find(|(published, _)| *published == kid)
        .map(|(_, key)| key.clone())
}

/// What a verifier does with a `kid`-profile credential: resolves the `kid`
/// at the issuer's `/.well-known/jwt-vc-issuer` (avow-wallet, over HTTP).
async fn wallet_validates(
    issuer: &TestIssuer,
    credential: &str,
    holder: &SoftwareSigner,
) -> Result<(), String> {
    let client = avow_wallet::HttpClient::new(true).expect("client");
    let anchors = TrustAnchors::default();
    let ctx = avow_wallet::validate::ValidationContext {
        trust_anchors: &anchors,
        credential_issuer: &issuer.url,
        expected_vct: "urn:eudi:pid:1",
        holder_key: holder.public_jwk(),
        now: issuer.now(),
        skew: 60,
    };
    avow_wallet::validate::validate_sd_jwt_vc(&client, credential, &ctx)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn iss_sig_06_a_retired_key_stays_published_and_old_credentials_verify() {
    let dir = std::env::temp_dir().join(format!("avow-key-rotation-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ca = CertificateAuthority::generate_root("Avow test issuer CA", validity()).expect("CA");
    let (key_a, key_a_path, chain_a) = key_files(&dir, "a", &ca);
    let (key_b, key_b_path, chain_b) = key_files(&dir, "b", &ca);
    let wallet_provider =
        CertificateAuthority::generate_root("Avow test wallet provider CA", validity())
            .expect("wallet provider CA");
    let wallet_provider_anchor = dir.join("wallet-provider-ca.pem");
    std::fs::write(&wallet_provider_anchor, cert_pem(&wallet_provider.cert_der))
        .expect("write anchor");
    let kid_a = key_a.public_jwk().thumbprint();
    let kid_b = key_b.public_jwk().thumbprint();

    // Key A signs.
    let keys_a = Keys {
        signing_key: key_a_path,
        signing_chain: chain_a.clone(),
        retired_chains: Vec::new(),
        wallet_provider_anchor,
    };
    KEYS.with(|k| *k.borrow_mut() = Some(keys_a.clone()));
    let issuer = TestIssuer::start_with(Backend::Sqlite, configure).await;
    assert_eq!(issuer.state.keys.kid, kid_a);
    let old = issuer.run_wallet(&issuer.create_offer(false).await).await;
    assert_eq!(kid_of(&old.credential), kid_a);
    assert_eq!(
        published(&issuer).await,
        vec![(kid_a.clone(), key_a.public_jwk().clone())]
    );
    wallet_validates(&issuer, &old.credential, &old.holder)
        .await
        .expect("the credential of key A verifies");

    // Rotation: key B signs, key A is retired but still published.
    let keys_b = Keys {
        signing_key: key_b_path,
        signing_chain: chain_b,
        retired_chains: vec![chain_a],
        ..keys_a
    };
    KEYS.with(|k| *k.borrow_mut() = Some(keys_b.clone()));
    issuer.advance(3600);
    let issuer = issuer.restart().await;
    assert_eq!(issuer.state.keys.kid, kid_b);
    let keys = published(&issuer).await;
    assert_eq!(
        keys,
        vec![
            (kid_b.clone(), key_b.public_jwk().clone()),
            (kid_a.clone(), key_a.public_jwk().clone()),
        ],
        "the signing key first, then the retired key, each under its RFC 7638 thumbprint"
    );

    // The old credential's kid resolves to key A, which verifies its
    // signature. (The harness restarts on a new port, so the old `iss` URL is
    // gone: the kid is resolved at the restarted issuer's metadata, as a
    // verifier does at the unchanged URL of a real deployment.)
    let key = resolve(&keys, &old.credential).expect("the old kid is still published");
    avow_formats::sd_jwt_vc::verify(
        &old.credential,
        &key,
        &AlgorithmAllowList::es256(),
        issuer.now(),
        60,
        false,
    )
    .expect("the old credential verifies with the retired key");

    // New credentials are signed by key B.
    let new = issuer.run_wallet(&issuer.create_offer(false).await).await;
    assert_eq!(kid_of(&new.credential), kid_b);
    wallet_validates(&issuer, &new.credential, &new.holder)
        .await
        .expect("the credential of key B verifies");

    // The DID document lists both keys as assertion methods.
    let document = issuer
        .get(&format!("{}/.well-known/did.json", issuer.url))
        .await;
    let document = document.assert_status(200).json();
    let did = avow_issuer::did_web::did_web(&issuer.url).expect("did");
    let methods: Vec<(String, EcPublicJwk)> = document["verificationMethod"]
        .as_array()
        .expect("verificationMethod")
        .iter()
        .map(|m| {
            (
                m["id"].as_str().expect("id").to_owned(),
                EcPublicJwk::from_json(&m["publicKeyJwk"]).expect("publicKeyJwk"),
            )
        })
        .collect();
    assert_eq!(
        methods,
        vec![
            (format!("{did}#{kid_b}"), key_b.public_jwk().clone()),
            (format!("{did}#{kid_a}"), key_a.public_jwk().clone()),
        ]
    );
    assert_eq!(
        document["assertionMethod"],
        serde_json::json!([format!("{did}#{kid_b}"), format!("{did}#{kid_a}")])
    );

    // Once the operator removes A (its credentials expired), it is gone.
    KEYS.with(|k| {
        *k.borrow_mut() = Some(Keys {
            retired_chains: Vec::new(),
            ..keys_b
        })
    });
    let issuer = issuer.restart().await;
    assert_eq!(
        published(&issuer).await,
        vec![(kid_b.clone(), key_b.public_jwk().clone())]
    );
    assert_eq!(resolve(&published(&issuer).await, &old.credential), None);
    drop(issuer);
    let _ = std::fs::remove_dir_all(dir);
}
