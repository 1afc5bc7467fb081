//! Credential request and response encryption at the Credential Endpoint
//! (OID4VCI §8.2, §8.3, §10; ISS-META-12, -13, -17, ISS-ENC-01 … -07,
//! CONF-C10-01 … -05, CONF-C11-01): encrypted responses for both `enc`
//! values, encrypted requests, every refusal with its exact status and code,
//! errors never encrypted, and the wallet end to end.

mod common;

use avow_crypto::ecdh::EcdhPrivateKey;
use avow_crypto::jwe::{CompactJwe, ContentEncryption, JweOptions, encrypt_compact};
use avow_crypto::{EcPublicJwk, SoftwareSigner};
use avow_issuer::IssuerConfig;
use common::{Backend, PID, Resp, TestIssuer, Token};
use serde_json::{Value, json};
use std::sync::Arc;

const A128: ContentEncryption = ContentEncryption::A128Gcm;
const A256: ContentEncryption = ContentEncryption::A256Gcm;
const WALLET_KID: &str = "wallet-ephemeral-1";

/// An access token and a fresh, valid key-proof request body.
async fn ready(issuer: &TestIssuer) -> (Token, Value) {
    let token = issuer.fresh_token().await;
    let holder = SoftwareSigner::generate().expect("holder key");
    let c_nonce = issuer.c_nonce().await;
    let body = TestIssuer::pid_request(&issuer.key_proof(&holder, &c_nonce).await);
    (token, body)
}

/// Posts `body` with `content_type` and a valid DPoP proof.
async fn post(issuer: &TestIssuer, token: &Token, content_type: &str, body: Vec<u8>) -> Resp {
    let nonce = issuer.dpop_nonce().await;
    let proof = issuer
        .dpop(
            &token.key,
            "POST",
            &issuer.credential_url(),
            Some(&token.access_token),
            Some(&nonce),
        )
        .await;
    issuer
        .credential_request_raw(&token.access_token, &proof, |r| {
            r.header("Content-Type", content_type).body(body)
        })
        .await
}

/// The issuer's request-encryption key and `kid`, as published.
async fn issuer_key(issuer: &TestIssuer) -> (EcPublicJwk, String) {
    let metadata = issuer
        .get(&format!(
            "{}/.well-known/openid-credential-issuer",
            issuer.url
        ))
        .await
        .json();
    let jwk = &metadata["credential_request_encryption"]["jwks"]["keys"][0];
    let kid = jwk["kid"].as_str().expect("kid").to_owned();
    (EcPublicJwk::from_json(jwk).expect("P-256 key"), kid)
}

/// `body` as a compact JWE to `key` under `kid`.
fn seal(key: &EcPublicJwk, kid: Option<&str>, enc: ContentEncryption, body: &Value) -> Vec<u8> {
    let options = JweOptions {
        kid,
        ..JweOptions::default()
    };
    let json = serde_json::to_vec(body).expect("json");
    encrypt_compact(key, enc, &options, &json)
        .expect("encrypt")
        .into_bytes()
}

/// Posts `body` encrypted to the issuer's published key.
async fn post_encrypted(
    issuer: &TestIssuer,
    token: &Token,
    enc: ContentEncryption,
    body: &Value,
) -> Resp {
    let (key, kid) = issuer_key(issuer).await;
    post(
        issuer,
        token,
        "application/jwt",
        seal(&key, Some(&kid), enc, body),
    )
    .await
}

/// `credential_response_encryption` for `wallet` (P-256, `alg`, `kid`).
fn response_params(wallet: &EcdhPrivateKey, enc: &str) -> Value {
    json!({
        "jwk": wallet.public_jwk().to_json_with(&[("kid", WALLET_KID), ("alg", "ECDH-ES"), ("use", "enc")]),
        "enc": enc,
    })
}

fn with_member(body: &Value, name: &str, value: Value) -> Value {
    let mut copy = body.clone();
    copy[name] = value;
    copy
}

/// ISS-ENC-02: a 200 `application/jwt` compact JWE with `alg`, `enc`, `kid`,
/// `epk`, the usual headers, decrypting to a valid credential response.
#[track_caller]
fn open_response(
    issuer: &TestIssuer,
    response: &Resp,
    wallet: &EcdhPrivateKey,
    enc: ContentEncryption,
) -> Value {
    response.assert_status(200).assert_no_store();
    assert_eq!(response.header("content-type"), Some("application/jwt"));
    assert!(response.header("dpop-nonce").is_some(), "DPoP-Nonce");
    let text = std::str::from_utf8(&response.body).expect("UTF-8");
    let jwe = CompactJwe::parse(text).expect("a compact JWE");
    assert_eq!(jwe.header_str("alg"), Some("ECDH-ES"));
    assert_eq!(jwe.enc(), enc);
    assert_eq!(jwe.kid(), Some(WALLET_KID));
    assert!(jwe.header()["epk"].get("d").is_none());
    let plaintext = jwe.decrypt(wallet).expect("decrypts with the wallet key");
    let body: Value = serde_json::from_slice(&plaintext).expect("JSON plaintext");
    let credential = body["credentials"][0]["credential"]
        .as_str()
        .expect("a credential");
    issuer.verify_credential(credential);
    body
}

/// ISS-META-12, -13, -17, CONF-C10-01: both objects published by default,
/// every request key with `kid` and `alg`, nothing required.
#[tokio::test]
async fn iss_meta_12_13_17_encryption_metadata() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let metadata = issuer
        .get(&format!(
            "{}/.well-known/openid-credential-issuer",
            issuer.url
        ))
        .await
        .json();
    assert_eq!(
        metadata["credential_response_encryption"],
        json!({
            "alg_values_supported": ["ECDH-ES"],
            "enc_values_supported": ["A128GCM", "A256GCM"],
            "encryption_required": false,
        })
    );
    let request = &metadata["credential_request_encryption"];
    assert_eq!(
        request["enc_values_supported"],
        json!(["A128GCM", "A256GCM"])
    );
    assert_eq!(request["encryption_required"], false);
    let keys = request["jwks"]["keys"].as_array().expect("keys");
    assert!(!keys.is_empty());
    for key in keys {
        assert!(key["kid"].is_string(), "kid: {key}");
        assert_eq!(key["alg"], "ECDH-ES");
        assert!(key.get("d").is_none(), "public keys only");
        assert!(EcPublicJwk::from_json(key).is_ok());
    }
    assert_eq!(
        keys[0]["kid"].as_str(),
        issuer.state.encryption.request_kid()
    );
    // The development key is kept across restarts.
    let kid = keys[0]["kid"].clone();
    let issuer = issuer.restart().await;
    let (_, again) = issuer_key(&issuer).await;
    assert_eq!(kid, again);

    // Disabled: neither object, and application/jwt is refused.
    let off = TestIssuer::start_with(Backend::Sqlite, |c: &mut IssuerConfig| {
        c.encryption.enabled = false
    })
    .await;
    let metadata = off
        .get(&format!("{}/.well-known/openid-credential-issuer", off.url))
        .await
        .json();
    assert!(metadata.get("credential_response_encryption").is_none());
    assert!(metadata.get("credential_request_encryption").is_none());
    let (token, body) = ready(&off).await;
    let wallet = EcdhPrivateKey::generate().expect("key");
    post(&off, &token, "application/jwt", b"a.b.c.d.e".to_vec())
        .await
        .assert_error(400, "invalid_credential_request");
    let asking = with_member(
        &body,
        "credential_response_encryption",
        response_params(&wallet, "A128GCM"),
    );
    post(
        &off,
        &token,
        "application/json",
        serde_json::to_vec(&asking).expect("json"),
    )
    .await
    .assert_error(400, "invalid_encryption_parameters");
    // A plaintext request still works.
    post(
        &off,
        &token,
        "application/json",
        serde_json::to_vec(&body).expect("json"),
    )
    .await
    .assert_status(200);
}

/// ISS-ENC-02, -03, -05, CONF-C10-02, -03, CONF-C11-01: an encrypted request
/// asking for an encrypted response, for A128GCM and A256GCM both ways.
#[tokio::test]
async fn iss_enc_02_03_05_encrypted_request_and_response() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    for (request_enc, response_enc) in [(A128, A128), (A256, A256), (A128, A256), (A256, A128)] {
        let (token, body) = ready(&issuer).await;
        let wallet = EcdhPrivateKey::generate().expect("key");
        let body = with_member(
            &body,
            "credential_response_encryption",
            response_params(&wallet, response_enc.name()),
        );
        let response = post_encrypted(&issuer, &token, request_enc, &body).await;
        let plain = open_response(&issuer, &response, &wallet, response_enc);
        assert_eq!(plain["credentials"].as_array().map(Vec::len), Some(1));
    }
}

/// ISS-ENC-05: an encrypted request without response encryption gets a
/// plain JSON response; a media type with parameters is accepted.
#[tokio::test]
async fn iss_enc_05_encrypted_request_plain_response() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let (token, body) = ready(&issuer).await;
    let (key, kid) = issuer_key(&issuer).await;
    let response = post(
        &issuer,
        &token,
        "application/jwt; charset=us-ascii",
        seal(&key, Some(&kid), A256, &body),
    )
    .await;
    response.assert_status(200).assert_no_store();
    assert_eq!(response.header("content-type"), Some("application/json"));
    let credential = response.json()["credentials"][0]["credential"]
        .as_str()
        .expect("credential")
        .to_owned();
    issuer.verify_credential(&credential);
}

/// ISS-ENC-05, ISS-CRED-03, CONF-C10-04: what cannot be decrypted, is to
/// another key or `kid`, or uses an unsupported `enc` is refused — in plain
/// JSON — and other media types are `invalid_credential_request`.
#[tokio::test]
async fn iss_enc_05_request_refusals() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let (token, body) = ready(&issuer).await;
    let (key, kid) = issuer_key(&issuer).await;
    let stranger = EcdhPrivateKey::generate().expect("key");
    for content_type in [
        "text/plain",
        "application/jose",
        "application/x-www-form-urlencoded",
    ] {
        post(
            &issuer,
            &token,
            content_type,
            serde_json::to_vec(&body).expect("json"),
        )
        .await
        .assert_error(400, "invalid_credential_request");
    }
    let good = seal(&key, Some(&kid), A128, &body);
    let good = String::from_utf8(good).expect("ascii");
    let parts: Vec<&str> = good.split('.').collect();
    let forged_header = |header: Value| {
        let mut p = parts.clone();
        let h = avow_crypto::b64::encode(serde_json::to_vec(&header).expect("json"));
        p[0] = &h;
        p.join(".").into_bytes()
    };
    let epk = CompactJwe::parse(&good).expect("jwe").header()["epk"].clone();
    let mut tampered_tag = parts.clone();
    let flipped = avow_crypto::b64::encode([0u8; 16]);
    tampered_tag[4] = &flipped;
    let refusals: Vec<(&str, Vec<u8>)> = vec![
        ("not a JWE", b"definitely not a JWE".to_vec()),
        ("a JWS", b"eyJhbGciOiJFUzI1NiJ9.e30.AAAA".to_vec()),
        ("no kid", seal(&key, None, A128, &body)),
        ("wrong kid", seal(&key, Some("another-key"), A128, &body)),
        (
            "another key",
            seal(stranger.public_jwk(), Some(&kid), A128, &body),
        ),
        ("tampered tag", tampered_tag.join(".").into_bytes()),
        (
            "unsupported enc",
            forged_header(json!({"alg": "ECDH-ES", "enc": "A192GCM", "kid": kid, "epk": epk})),
        ),
        (
            "CBC enc",
            forged_header(
                json!({"alg": "ECDH-ES", "enc": "A128CBC-HS256", "kid": kid, "epk": epk}),
            ),
        ),
        (
            "key wrapping",
            forged_header(
                json!({"alg": "ECDH-ES+A128KW", "enc": "A128GCM", "kid": kid, "epk": epk}),
            ),
        ),
        (
            "zip",
            forged_header(
                json!({"alg": "ECDH-ES", "enc": "A128GCM", "kid": kid, "epk": epk, "zip": "DEF"}),
            ),
        ),
    ];
    for (what, jwe) in refusals {
        let response = post(&issuer, &token, "application/jwt", jwe).await;
        assert_eq!(response.status, 400, "{what}");
        response.assert_error(400, "invalid_encryption_parameters");
    }
    // A JWE whose plaintext is not a request is a request error, not an encryption one.
    let (key, kid) = issuer_key(&issuer).await;
    post(
        &issuer,
        &token,
        "application/jwt",
        seal(&key, Some(&kid), A128, &json!([1])),
    )
    .await
    .assert_error(400, "invalid_credential_request");
    // The token and proof were not used up: the same request still succeeds.
    post_encrypted(&issuer, &token, A128, &body)
        .await
        .assert_status(200);
}

/// CONF-C10-04: an `enc` the issuer does not list is refused, unencrypted.
#[tokio::test]
async fn conf_c10_04_unlisted_enc_is_refused() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, |c: &mut IssuerConfig| {
        c.encryption.enc_values_supported = vec!["A256GCM".into()]
    })
    .await;
    let (token, body) = ready(&issuer).await;
    let wallet = EcdhPrivateKey::generate().expect("key");
    // The request encrypted with an unlisted enc.
    post_encrypted(&issuer, &token, A128, &body)
        .await
        .assert_error(400, "invalid_encryption_parameters");
    // A response asked with an unlisted enc.
    let asking = with_member(
        &body,
        "credential_response_encryption",
        response_params(&wallet, "A128GCM"),
    );
    post_encrypted(&issuer, &token, A256, &asking)
        .await
        .assert_error(400, "invalid_encryption_parameters");
    let asking = with_member(
        &body,
        "credential_response_encryption",
        response_params(&wallet, "A256GCM"),
    );
    let response = post_encrypted(&issuer, &token, A256, &asking).await;
    open_response(&issuer, &response, &wallet, A256);
}

/// ISS-ENC-01: every malformed or unsupported `credential_response_encryption`
/// is `400 invalid_encryption_parameters`, in plain JSON.
#[tokio::test]
async fn iss_enc_01_response_parameter_refusals() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let (token, body) = ready(&issuer).await;
    let wallet = EcdhPrivateKey::generate().expect("key");
    let good = response_params(&wallet, "A128GCM");
    let jwk = good["jwk"].clone();
    let jwk_with = |name: &str, value: Value| {
        let mut j = jwk.clone();
        j[name] = value;
        json!({ "jwk": j, "enc": "A128GCM" })
    };
    let mut no_alg = jwk.clone();
    no_alg.as_object_mut().map(|o| o.remove("alg"));
    let refusals = [
        json!("A128GCM"),
        json!({ "enc": "A128GCM" }),
        json!({ "jwk": jwk }),
        json!({ "jwk": "not a JWK", "enc": "A128GCM" }),
        json!({ "jwk": no_alg, "enc": "A128GCM" }),
        json!({ "jwk": jwk, "enc": "A192GCM" }),
        json!({ "jwk": jwk, "enc": "A128CBC-HS256" }),
        json!({ "jwk": jwk, "enc": 128 }),
        json!({ "jwk": jwk, "enc": "A128GCM", "zip": "DEF" }),
        jwk_with("alg", json!("ECDH-ES+A128KW")),
        jwk_with("alg", json!("RSA-OAEP-256")),
        jwk_with("d", json!("VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw")),
        jwk_with("crv", json!("P-384")),
        jwk_with("kty", json!("OKP")),
        jwk_with("y", json!("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a1")),
        jwk_with("use", json!("sig")),
    ];
    for params in refusals {
        let request = with_member(&body, "credential_response_encryption", params.clone());
        let response = post_encrypted(&issuer, &token, A128, &request).await;
        assert_eq!(response.status, 400, "{params}");
        response.assert_error(400, "invalid_encryption_parameters");
    }
}

/// ISS-ENC-07: with request encryption offered, a plaintext request that asks
/// for an encrypted response is refused (its key could have been swapped).
#[tokio::test]
async fn iss_enc_07_plaintext_request_with_response_encryption() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let (token, body) = ready(&issuer).await;
    let wallet = EcdhPrivateKey::generate().expect("key");
    let asking = with_member(
        &body,
        "credential_response_encryption",
        response_params(&wallet, "A128GCM"),
    );
    issuer
        .credential_request(&token, &asking)
        .await
        .assert_error(400, "invalid_encryption_parameters");
    // A plaintext request without it is fine (encryption is not required).
    issuer
        .credential_request(&token, &body)
        .await
        .assert_status(200);
}

/// ISS-ENC-04, -06: required response encryption without parameters, and
/// required request encryption with a plaintext request, are refused.
#[tokio::test]
async fn iss_enc_04_06_required_encryption() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, |c: &mut IssuerConfig| {
        c.encryption.response_required = true;
        c.encryption.request_required = true;
    })
    .await;
    let metadata = issuer
        .get(&format!(
            "{}/.well-known/openid-credential-issuer",
            issuer.url
        ))
        .await
        .json();
    assert_eq!(
        metadata["credential_response_encryption"]["encryption_required"],
        true
    );
    assert_eq!(
        metadata["credential_request_encryption"]["encryption_required"],
        true
    );
    let (token, body) = ready(&issuer).await;
    // ISS-ENC-06: plaintext.
    issuer
        .credential_request(&token, &body)
        .await
        .assert_error(400, "invalid_encryption_parameters");
    // ISS-ENC-04: encrypted, but no credential_response_encryption.
    post_encrypted(&issuer, &token, A128, &body)
        .await
        .assert_error(400, "invalid_encryption_parameters");
    // Both present: success.
    let wallet = EcdhPrivateKey::generate().expect("key");
    let asking = with_member(
        &body,
        "credential_response_encryption",
        response_params(&wallet, "A256GCM"),
    );
    let response = post_encrypted(&issuer, &token, A128, &asking).await;
    open_response(&issuer, &response, &wallet, A256);
}

/// ISS-CRED-12 with encryption asked: errors after the encryption checks
/// (a bad key proof, an unknown configuration) are plain JSON.
#[tokio::test]
async fn iss_cred_12_errors_are_never_encrypted() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let (token, body) = ready(&issuer).await;
    let wallet = EcdhPrivateKey::generate().expect("key");
    let params = response_params(&wallet, "A128GCM");
    let stale = with_member(
        &TestIssuer::pid_request(
            &issuer
                .key_proof(&SoftwareSigner::generate().expect("key"), "not-a-c-nonce")
                .await,
        ),
        "credential_response_encryption",
        params.clone(),
    );
    post_encrypted(&issuer, &token, A128, &stale)
        .await
        .assert_error(400, "invalid_nonce");
    let unknown = with_member(
        &json!({ "credential_configuration_id": "no-such-configuration", "proofs": body["proofs"] }),
        "credential_response_encryption",
        params.clone(),
    );
    post_encrypted(&issuer, &token, A128, &unknown)
        .await
        .assert_error(400, "unknown_credential_configuration");
    let no_proof = with_member(
        &json!({ "credential_configuration_id": PID }),
        "credential_response_encryption",
        params,
    );
    let response = post_encrypted(&issuer, &token, A128, &no_proof).await;
    assert_eq!(response.status, 400);
    response.assert_error(400, "invalid_proof");
}

/// The wallet: encrypted request, encrypted response, decrypted and valid.
async fn wallet_receives(issuer: &TestIssuer, preference: Option<ContentEncryption>) -> String {
    let client = avow_wallet::HttpClient::new(true).expect("wallet client");
    let offer = issuer.create_offer(false).await;
    let info = avow_wallet::issuer::discover(&client, &issuer.url)
        .await
        .expect("discover");
    let mut session =
        avow_wallet::flow::IssuanceSession::new(&client, Arc::new(info), issuer.clock.as_ref())
            .expect("session")
            .with_encryption(preference);
    session
        .redeem_pre_authorized_code(common::code_of(&offer), None)
        .await
        .expect("token");
    let holder = SoftwareSigner::generate().expect("holder key");
    let c_nonce = session.fetch_c_nonce().await.expect("c_nonce");
    let proof = session.key_proof(&holder, &c_nonce).await.expect("proof");
    let response = session
        .request_credential(PID, &proof)
        .await
        .expect("credential");
    let credential = response.credentials.expect("credentials")[0]
        .credential
        .as_str()
        .expect("string")
        .to_owned();
    issuer.verify_credential(&credential);
    credential
}

/// WAL-CRED-08 … -10, -12, CONF-C10-05, CONF-C11-01: against issuers that
/// require encryption with only A128GCM or only A256GCM, the wallet sends
/// matching parameters, encrypts its request and decrypts the credential.
#[tokio::test]
async fn conf_c10_05_c11_01_wallet_end_to_end() {
    for only in [A128, A256] {
        let configure: fn(&mut IssuerConfig) = match only {
            ContentEncryption::A128Gcm => |c| {
                c.encryption.response_required = true;
                c.encryption.request_required = true;
                c.encryption.enc_values_supported = vec!["A128GCM".into()];
            },
            ContentEncryption::A256Gcm => |c| {
                c.encryption.response_required = true;
                c.encryption.request_required = true;
                c.encryption.enc_values_supported = vec!["A256GCM".into()];
            },
        };
        let issuer = TestIssuer::start_with(Backend::Sqlite, configure).await;
        wallet_receives(&issuer, None).await;
        // A preference the issuer does not list falls back to what it lists.
        wallet_receives(&issuer, Some(if only == A128 { A256 } else { A128 })).await;
    }
    // Default issuer (optional encryption): the wallet asks by policy.
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    for enc in [A128, A256] {
        wallet_receives(&issuer, Some(enc)).await;
    }
    wallet_receives(&issuer, None).await;
}

/// A whole wallet (`Wallet::receive`) with `encryption` set.
fn wallet_asking(issuer: &TestIssuer, dir: &std::path::Path) -> avow_wallet::Wallet {
    let options = avow_wallet::WalletOptions {
        allow_http_loopback: true,
        trust_anchors: issuer.trust_anchors(),
        clock_skew: 60,
        client_id: "https://wallet.example".into(),
        wia_source: None,
        prefer_anonymous: true,
        encryption: Some(A256),
    };
    let store = avow_wallet::CredentialStore::open(dir).expect("store");
    avow_wallet::Wallet::with_clock(options, store, issuer.clock.clone()).expect("wallet")
}

/// WalletOptions.encryption: the wallet encrypts by policy (the issuer does
/// not require it), and refuses an issuer that offers no encryption.
#[tokio::test]
async fn wallet_receive_with_encryption_option() {
    let dir =
        std::env::temp_dir().join(format!("avow-enc-wallet-{}", uuid::Uuid::new_v4().simple()));
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let offer = issuer.create_offer(false).await;
    let link = &offer.links["openid-credential-offer"].by_reference;
    let received = wallet_asking(&issuer, &dir)
        .receive(link, None)
        .await
        .expect("receive");
    assert_eq!(received.len(), 1);

    let plain = TestIssuer::start_with(Backend::Sqlite, |c: &mut IssuerConfig| {
        c.encryption.enabled = false
    })
    .await;
    let offer = plain.create_offer(false).await;
    let link = &offer.links["openid-credential-offer"].by_reference;
    let refused = wallet_asking(&plain, &dir.join("second"))
        .receive(link, None)
        .await;
    assert!(
        matches!(refused, Err(avow_wallet::WalletError::Metadata(_))),
        "{refused:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
