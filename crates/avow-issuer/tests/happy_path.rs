//! The pre-authorized flow end to end over real HTTP, on SQLite and on
//! PostgreSQL: metadata, offer by reference, token, nonce, credential; and
//! the same state after a restart (ISS-TOK-10).

mod common;

use avow_crypto::{EcPublicJwk, Signer, SoftwareSigner};
use common::{Backend, HOLDER, NOW, PID, PRE_AUTH_GRANT, TestIssuer, code_of};
use serde_json::{Value, json};

const VCT: &str = "urn:eudi:pid:1";
const PID_LIFETIME: i64 = 31_536_000;

#[tokio::test]
async fn happy_path_sqlite() {
    happy_path(Backend::Sqlite).await;
}

#[tokio::test]
async fn happy_path_postgres() {
    happy_path(Backend::Postgres).await;
}

#[tokio::test]
async fn restart_sqlite() {
    restart(Backend::Sqlite).await;
}

#[tokio::test]
async fn restart_postgres() {
    restart(Backend::Postgres).await;
}

async fn happy_path(backend: Backend) {
    let issuer = TestIssuer::start(backend).await;
    assert_eq!(issuer.state.store.backend(), store_backend(backend));
    check_metadata(&issuer).await;

    // ISS-OFFER-01, -04, -05, -06, -08: an offer with a transaction code.
    let offer = issuer.create_offer(true).await;
    let url = &issuer.url;
    assert_eq!(
        offer.credential_offer_uri,
        format!("{url}/credential-offer/{}", offer.offer_id)
    );
    assert_eq!(offer.credential_offer.credential_issuer, *url);
    assert_eq!(offer.credential_offer.credential_configuration_ids, [PID]);
    let grant = offer
        .credential_offer
        .grants
        .pre_authorized_code
        .as_ref()
        .expect("pre-authorized grant");
    assert!(
        grant.pre_authorized_code.len() >= 43,
        "≥ 256 bits of entropy"
    );
    assert!(grant.authorization_server.is_none(), "ISS-OFFER-09");
    let tx = grant.tx_code.as_ref().expect("tx_code object");
    assert_eq!(tx.length, Some(6));
    assert_eq!(tx.input_mode, Some(avow_core::offer::InputMode::Numeric));
    let tx_code = offer.tx_code.clone().expect("the tx_code, delivered once");
    assert!(tx_code.len() == 6 && tx_code.bytes().all(|b| b.is_ascii_digit()));
    let offer_json = serde_json::to_string(&offer.credential_offer).expect("json");
    assert!(
        !offer_json.contains(&tx_code),
        "the tx_code is never in the offer"
    );
    for scheme in ["openid-credential-offer", "haip-vci", "eu-eaa-offer"] {
        let links = &offer.links[scheme];
        assert!(
            links
                .by_reference
                .starts_with(&format!("{scheme}://?credential_offer_uri="))
        );
        assert!(
            links
                .by_value
                .starts_with(&format!("{scheme}://?credential_offer="))
        );
    }

    // ISS-OFFER-07: an unknown offer id is 404 …
    issuer
        .get(&format!("{url}/credential-offer/unknown"))
        .await
        .assert_error(404, "not_found");
    // … a live one answers by reference, repeatedly, JSON, no-store.
    for _ in 0..2 {
        let response = issuer.get(&offer.credential_offer_uri).await;
        response.assert_status(200).assert_no_store();
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(
            response.json(),
            serde_json::to_value(&offer.credential_offer).expect("json")
        );
    }

    // Token request (ISS-TOK-01, -04, -05; ISS-DPOP-07).
    let dpop_key = SoftwareSigner::generate().expect("key");
    let response = issuer
        .redeem_with(&dpop_key, code_of(&offer), Some(&tx_code))
        .await;
    response.assert_status(200).assert_no_store();
    assert_eq!(response.header("content-type"), Some("application/json"));
    let dpop_nonce = response
        .header("dpop-nonce")
        .expect("DPoP-Nonce on the token response")
        .to_owned();
    let token = response.json();
    assert_eq!(token["token_type"], "DPoP");
    assert_eq!(token["expires_in"], 300);
    assert!(token.get("refresh_token").is_none());
    assert!(token.get("authorization_details").is_none());
    let access_token = token["access_token"].as_str().expect("access_token");
    assert!(access_token.len() >= 43);

    // ISS-OFFER-07: once redeemed, the offer URI answers 404.
    issuer
        .get(&offer.credential_offer_uri)
        .await
        .assert_error(404, "not_found");

    // Nonce endpoint (ISS-NONCE-01, -04).
    let response = issuer.send(issuer.http.post(issuer.nonce_url())).await;
    response.assert_status(200).assert_no_store();
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert!(response.header("dpop-nonce").is_some(), "ISS-NONCE-04");
    let c_nonce = response.json()["c_nonce"]
        .as_str()
        .expect("c_nonce")
        .to_owned();

    // Credential request with the DPoP nonce of the token response (ISS-CRED-11).
    let holder = SoftwareSigner::generate().expect("holder key");
    let proof = issuer.key_proof(&holder, &c_nonce).await;
    let dpop = issuer
        .dpop(
            &dpop_key,
            "POST",
            &issuer.credential_url(),
            Some(access_token),
            Some(&dpop_nonce),
        )
        .await;
    let response = issuer
        .credential_request_raw(access_token, &dpop, |r| {
            r.json(&TestIssuer::pid_request(&proof))
        })
        .await;
    response.assert_status(200).assert_no_store();
    assert_eq!(response.header("content-type"), Some("application/json"));
    let body = response.json();
    assert!(
        body.get("notification_id").is_none() && body.get("transaction_id").is_none(),
        "{body}"
    );
    let credentials = body["credentials"].as_array().expect("credentials");
    assert_eq!(credentials.len(), 1);
    let credential = credentials[0]["credential"].as_str().expect("a string");
    check_credential(&issuer, credential, &holder);

    // The same flow through avow-wallet, for an offer without a tx_code.
    let offer = issuer.create_offer(false).await;
    assert!(offer.tx_code.is_none());
    let issued = issuer.run_wallet(&offer).await;
    check_credential(&issuer, &issued.credential, &issued.holder);
    issuer
        .get(&offer.credential_offer_uri)
        .await
        .assert_error(404, "not_found");

    // ISS-ADM-02: both issuances are recorded, with the bound keys only.
    let response = issuer
        .send(issuer.admin(
            reqwest::Method::GET,
            &format!("/admin/holders/{HOLDER}/issuances"),
        ))
        .await;
    response.assert_status(200);
    let thumbprints: Vec<Value> = response
        .json()
        .as_array()
        .expect("list")
        .iter()
        .map(|r| r["key_thumbprint"].clone())
        .collect();
    assert_eq!(thumbprints.len(), 2);
    for key in [&holder, &issued.holder] {
        assert!(thumbprints.contains(&json!(key.public_jwk().thumbprint())));
    }
}

fn store_backend(backend: Backend) -> avow_store::Backend {
    match backend {
        Backend::Sqlite => avow_store::Backend::Sqlite,
        Backend::Postgres => avow_store::Backend::Postgres,
    }
}

/// ISS-META-01 … -11, -18, ISS-ASMETA-01, -04, -07, ISS-SIG-02.
async fn check_metadata(issuer: &TestIssuer) {
    let url = &issuer.url;
    let get_json = |path: &'static str| async move {
        let response = issuer.get(&format!("{url}{path}")).await;
        response.assert_status(200);
        assert_eq!(response.header("content-type"), Some("application/json"));
        response.json()
    };

    let metadata = get_json("/.well-known/openid-credential-issuer").await;
    assert_eq!(metadata["credential_issuer"], *url);
    assert_eq!(metadata["credential_endpoint"], format!("{url}/credential"));
    assert_eq!(metadata["nonce_endpoint"], format!("{url}/nonce"));
    for absent in [
        "authorization_servers",
        "deferred_credential_endpoint",
        "notification_endpoint",
    ] {
        assert!(metadata.get(absent).is_none(), "{absent} must be absent");
    }
    // ISS-META-11: batch issuance is on in the defaults (tests/key_attestation.rs has the details).
    assert_eq!(
        metadata["batch_credential_issuance"],
        json!({ "batch_size": 10 })
    );
    // ISS-META-12, -13, -17: offered by default (tests/encryption.rs has the details).
    for present in [
        "credential_response_encryption",
        "credential_request_encryption",
    ] {
        assert!(metadata.get(present).is_some(), "{present} must be present");
    }
    assert_eq!(
        metadata["display"],
        json!([{ "name": "Avow Demo Issuer", "locale": "en" }])
    );
    let configurations = metadata["credential_configurations_supported"]
        .as_object()
        .expect("configurations");
    // The embedded defaults: the PID as SD-JWT VC and as mdoc.
    assert_eq!(
        configurations
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["pid-mdoc", PID]
    );
    let pid = &configurations[PID];
    assert_eq!(pid["format"], "dc+sd-jwt");
    assert_eq!(pid["scope"], "pid");
    assert_eq!(pid["vct"], VCT);
    assert_eq!(
        pid["cryptographic_binding_methods_supported"],
        json!(["jwk"])
    );
    assert_eq!(
        pid["credential_signing_alg_values_supported"],
        json!(["ES256"])
    );
    assert_eq!(
        pid["proof_types_supported"],
        json!({ "jwt": { "proof_signing_alg_values_supported": ["ES256"] } })
    );
    let credential_metadata = &pid["credential_metadata"];
    assert_eq!(
        credential_metadata["display"],
        json!([{ "name": "Person Identification Data", "locale": "en" }])
    );
    let claims = credential_metadata["claims"].as_array().expect("claims");
    assert_eq!(claims.len(), 9);
    assert_eq!(
        claims[0],
        json!({ "path": ["given_name"], "mandatory": true,
                "display": [{ "name": "Given name", "locale": "en" }] })
    );
    assert_eq!(claims[8], json!({ "path": ["nationalities", null] }));

    let authorization_server = get_json("/.well-known/oauth-authorization-server").await;
    assert_eq!(authorization_server["issuer"], *url);
    assert_eq!(
        authorization_server["token_endpoint"],
        format!("{url}/token")
    );
    // ISS-ASMETA-02 … -06, -09.
    assert_eq!(
        authorization_server["grant_types_supported"],
        json!(["authorization_code", PRE_AUTH_GRANT, "refresh_token"])
    );
    assert_eq!(
        authorization_server["authorization_endpoint"],
        format!("{url}/authorize")
    );
    assert_eq!(
        authorization_server["pushed_authorization_request_endpoint"],
        format!("{url}/par")
    );
    assert_eq!(
        authorization_server["require_pushed_authorization_requests"],
        true
    );
    assert_eq!(
        authorization_server["response_types_supported"],
        json!(["code"])
    );
    assert_eq!(
        authorization_server["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(
        authorization_server["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(
        authorization_server["authorization_details_types_supported"],
        json!(["openid_credential"])
    );
    assert_eq!(
        authorization_server["token_endpoint_auth_methods_supported"],
        json!(["attest_jwt_client_auth"])
    );
    assert_eq!(
        authorization_server["client_attestation_signing_alg_values_supported"],
        json!(["ES256"])
    );
    assert_eq!(
        authorization_server["client_attestation_pop_signing_alg_values_supported"],
        json!(["ES256"])
    );
    assert!(
        authorization_server.get("challenge_endpoint").is_none(),
        "challenges are off by default"
    );
    assert_eq!(
        authorization_server["dpop_signing_alg_values_supported"],
        json!(["ES256"])
    );
    assert_eq!(
        authorization_server["pre-authorized_grant_anonymous_access_supported"],
        true
    );

    // ISS-SIG-02: the signing key, under its RFC 7638 thumbprint.
    let jwt_vc_issuer = get_json("/.well-known/jwt-vc-issuer").await;
    assert_eq!(jwt_vc_issuer["issuer"], *url);
    assert!(jwt_vc_issuer.get("jwks_uri").is_none());
    let keys = jwt_vc_issuer["jwks"]["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    let leaf = avow_crypto::x509::leaf_public_key(&issuer.state.keys.x5c[0]).expect("leaf key");
    assert_eq!(keys[0]["kid"], leaf.thumbprint());
    assert_eq!(keys[0]["alg"], "ES256");
    assert_eq!(keys[0]["use"], "sig");
    let published = EcPublicJwk::from_json(&json!({
        "kty": keys[0]["kty"], "crv": keys[0]["crv"], "x": keys[0]["x"], "y": keys[0]["y"]
    }))
    .expect("a P-256 public key");
    assert_eq!(published, leaf);
}

/// ISS-SDJWT-01 … -05, -08, -10, ISS-SIG: the credential verifies with the
/// key of its x5c leaf (validated to the dev CA) and is bound to `holder`.
fn check_credential(issuer: &TestIssuer, credential: &str, holder: &SoftwareSigner) {
    assert!(credential.ends_with('~'), "compact SD-JWT without KB-JWT");
    let (verified, issuer_key) = issuer.verify_credential(credential);
    assert_eq!(&issuer_key, issuer.state.keys.signer.public_jwk());
    assert_eq!(verified.header["typ"], "dc+sd-jwt");
    assert_eq!(verified.header["alg"], "ES256");
    assert_eq!(verified.iss, issuer.url);
    assert_eq!(verified.vct, VCT);
    assert_eq!(verified.holder_key.as_ref(), Some(holder.public_jwk()));
    let claims = &verified.claims;
    // ISS-BATCH-03: iat and exp move back by up to 1 h each, independently.
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap_or_default(),
        claims["exp"].as_i64().unwrap_or_default(),
    );
    assert!((NOW - 3600..=NOW).contains(&iat), "iat {iat}");
    assert!(
        (NOW + PID_LIFETIME - 3600..=NOW + PID_LIFETIME).contains(&exp),
        "exp {exp}"
    );
    assert_eq!(claims["given_name"], "Erika");
    assert_eq!(claims["family_name"], "Mustermann");
    assert_eq!(claims["birthdate"], "1964-08-12");
    assert_eq!(
        claims["address"],
        json!({ "street_address": "Heidestrasse 17", "locality": "Koeln", "country": "DE" })
    );
    assert_eq!(claims["nationalities"], json!(["DE"]));

    // Registered claims are in the signed payload, never in a Disclosure.
    let sd_jwt = avow_formats::sd_jwt_vc::peek(credential).expect("parse");
    let raw = sd_jwt.unverified_payload().expect("payload");
    for name in ["iss", "iat", "exp", "vct", "cnf"] {
        assert!(raw.contains_key(name), "{name} is not disclosable");
    }
    assert_eq!(
        raw["cnf"],
        json!({ "jwk": holder.public_jwk().to_json() }),
        "cnf.jwk is the proven key"
    );
    assert_eq!(raw["_sd_alg"], "sha-256");
    for name in [
        "given_name",
        "family_name",
        "birthdate",
        "address",
        "nationalities",
    ] {
        assert!(!raw.contains_key(name), "{name} is selectively disclosable");
    }
    // Five disclosable top-level claims plus two decoys (ISS-SDJWT-08).
    assert_eq!(raw["_sd"].as_array().map(Vec::len), Some(7));
    let names: Vec<Option<&str>> = sd_jwt.disclosures().iter().map(|d| d.name()).collect();
    for registered in ["iss", "iat", "nbf", "exp", "cnf", "vct", "status"] {
        assert!(!names.contains(&Some(registered)), "{registered} disclosed");
    }
    for name in [
        "given_name",
        "family_name",
        "birthdate",
        "address",
        "street_address",
        "locality",
        "country",
        "nationalities",
    ] {
        assert!(names.contains(&Some(name)), "{name} has a Disclosure");
    }
    assert!(names.contains(&None), "array elements have Disclosures");
}

/// ISS-TOK-10: offers, codes, tokens, nonces, keys and the admin token
/// survive a restart on the same data directory and database.
async fn restart(backend: Backend) {
    let issuer = TestIssuer::start(backend).await;
    let offer = issuer.create_offer(true).await;
    let token = issuer.fresh_token().await;
    let c_nonce = issuer.c_nonce().await;
    let dpop_nonce = issuer.dpop_nonce().await;
    let (admin_token, kid) = (issuer.admin_token.clone(), issuer.state.keys.kid.clone());

    let issuer = issuer.restart().await;
    assert_eq!(issuer.admin_token, admin_token, "dev admin token kept");
    assert_eq!(issuer.state.keys.kid, kid, "dev PKI reused");

    // The offer is still readable, and its code redeemable, on the new instance.
    let response = issuer
        .get(&format!(
            "{}/credential-offer/{}",
            issuer.url, offer.offer_id
        ))
        .await;
    response.assert_status(200);
    let response = issuer
        .redeem(code_of(&offer), offer.tx_code.as_deref())
        .await;
    response.assert_status(200);
    assert_eq!(response.json()["token_type"], "DPoP");

    // A token, a c_nonce and a DPoP nonce issued before the restart still work.
    let holder = SoftwareSigner::generate().expect("holder key");
    let proof = issuer.key_proof(&holder, &c_nonce).await;
    let dpop = issuer
        .dpop(
            &token.key,
            "POST",
            &issuer.credential_url(),
            Some(&token.access_token),
            Some(&dpop_nonce),
        )
        .await;
    let response = issuer
        .credential_request_raw(&token.access_token, &dpop, |r| {
            r.json(&TestIssuer::pid_request(&proof))
        })
        .await;
    response.assert_status(200);
    let credential = response.json()["credentials"][0]["credential"]
        .as_str()
        .expect("credential")
        .to_owned();
    check_credential(&issuer, &credential, &holder);

    // And the holders imported before the restart are still there.
    let offer = issuer.create_offer(false).await;
    let issued = issuer.run_wallet(&offer).await;
    check_credential(&issuer, &issued.credential, &issued.holder);
}
