//! The authorization-code flow over real HTTP, with wallet attestation
//! (WIA + PoP from the issuer's development wallet provider) and DPoP:
//! the PAR endpoint (ISS-PAR-01 … -12), the `authorization_code` grant
//! (ISS-TOK-01 … -06, -10, ISS-TAC-01 … -07, ISS-AUTHZ-08), the credential
//! endpoint after it (ISS-CRED-04, -05, ISS-DPOP-08), the `refresh_token`
//! grant (ISS-TRT-01 … -05), and the whole flow driven by avow-wallet with
//! its scripted login (ISS-ASMETA-*), on SQLite and PostgreSQL.
//!
//! Time only moves through the issuer's `FixedClock`, which the wallet shares.

#[path = "common/code_flow.rs"]
mod code_flow;
mod common;

use avow_crypto::{Signer, SoftwareSigner, SystemRandom};
use avow_issuer::IssuerConfig;
use avow_issuer::offer::CreatedOffer;
use avow_wallet::attestation::DevWalletProvider;
use avow_wallet::authorize::{Pkce, ScriptedLogin};
use avow_wallet::{CredentialStore, Wallet, WalletOptions};
use code_flow::*;
use common::{Backend, HOLDER, PID, Resp, TestIssuer};
use serde_json::{Value, json};
use std::sync::Arc;

async fn start() -> TestIssuer {
    TestIssuer::start(Backend::Sqlite).await
}

fn with_challenges(c: &mut IssuerConfig) {
    c.client_authentication.challenge_endpoint = true;
    c.client_authentication.challenge_lifetime = 120;
}

/// A refresh token lives 1000 s, but the family at most 1500 s (ISS-TRT-05).
fn short_family(c: &mut IssuerConfig) {
    c.authorization.refresh_token_lifetime = 1000;
    c.authorization.refresh_token_max_age = 1500;
}

fn no_refresh_tokens(c: &mut IssuerConfig) {
    c.authorization.refresh_tokens = false;
}

/// An offer for the demo holder with the authorization-code grant only; its `issuer_state`.
async fn code_offer(issuer: &TestIssuer) -> (CreatedOffer, String) {
    let response = issuer
        .create_offer_request(&json!({
            "holder_id": HOLDER,
            "credential_configuration_ids": [PID],
            "grants": ["authorization_code"],
        }))
        .await;
    response.assert_status(201);
    let offer: CreatedOffer = serde_json::from_slice(&response.body).expect("created offer");
    let issuer_state = offer
        .credential_offer
        .grants
        .authorization_code
        .as_ref()
        .and_then(|g| g.issuer_state.clone())
        .expect("issuer_state");
    (offer, issuer_state)
}

/// Authorizes (scope `pid`, code bound to `dpop` at PAR) and redeems the code.
async fn tokens(issuer: &TestIssuer, client: &Client, dpop: &SoftwareSigner) -> Tokens {
    let authorized = authorize(issuer, client, dpop).await;
    tokens_of(&exchange(issuer, client, dpop, &authorized).await, dpop)
}

/// As [`tokens`] with `authorization_details`.
async fn tokens_with_details(
    issuer: &TestIssuer,
    client: &Client,
    dpop: &SoftwareSigner,
) -> Tokens {
    let authorized = authorize_details(issuer, client, dpop).await;
    tokens_of(&exchange(issuer, client, dpop, &authorized).await, dpop)
}

#[track_caller]
fn assert_description_contains(response: &Resp, text: &str) {
    let body = response.json();
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(
        description.contains(text),
        "error_description {description:?} should mention {text:?}"
    );
}

// ================================================================ PAR

/// ISS-PAR-02, -11, -08, ISS-AUTHZ-08: 201 with a random request_uri and
/// expires_in, no-store; unknown parameters and unknown scopes next to a
/// known one are ignored.
#[tokio::test]
async fn par_success() {
    let issuer = start().await;
    let client = Client::new(&issuer, CLIENT_ID);
    let pkce = Pkce::generate(&SystemRandom);
    let par = Par::new(&client.client_id, &pkce)
        .set("scope", "unknown-scope pid")
        .set("unrecognized_parameter", "ignored");
    let response = push(&issuer, Some(&client), &par, None).await;
    response.assert_status(201).assert_no_store();
    assert!(
        response
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "JSON body"
    );
    let body = response.json();
    assert_eq!(body["expires_in"], 60, "default par_lifetime");
    let request_uri = body["request_uri"].as_str().expect("request_uri");
    let random = request_uri
        .strip_prefix(PAR_PREFIX)
        .expect("urn:ietf:params:oauth:request_uri: prefix");
    assert!(random.len() >= 22, "at least 128 random bits: {random}");
    let other = push(&issuer, Some(&client), &par, None).await;
    other.assert_status(201);
    assert_ne!(other.json()["request_uri"], body["request_uri"]);

    // The pushed request leads to the login page, and on to a code.
    let location = login_and_consent(&issuer, CLIENT_ID, request_uri).await;
    let code = callback_param(&location, "code").expect("code");
    assert!(code.len() >= 22, "ISS-AUTHZ-08: >= 128 bits: {code}");
    assert_eq!(
        callback_param(&location, "state").as_deref(),
        Some("state-1")
    );
    assert_eq!(
        callback_param(&location, "iss").as_deref(),
        Some(issuer.url.as_str())
    );
}

/// ISS-PAR-01: no (or a broken) client authentication → 401 invalid_client.
#[tokio::test]
async fn par_requires_client_authentication() {
    let issuer = start().await;
    let pkce = Pkce::generate(&SystemRandom);
    let par = Par::new(CLIENT_ID, &pkce);
    let response = push(&issuer, None, &par, None).await;
    response.assert_error(401, "invalid_client");

    let broken = issuer
        .send(
            issuer
                .http
                .post(par_url(&issuer))
                .header("OAuth-Client-Attestation", "not.a.jwt")
                .header("OAuth-Client-Attestation-PoP", "not.a.jwt")
                .form(&par.params),
        )
        .await;
    broken.assert_error(401, "invalid_client");
}

/// ISS-PAR-05: the client_id parameter must be the WIA `sub`.
#[tokio::test]
async fn par_client_id_must_be_the_attested_client() {
    let issuer = start().await;
    let client = Client::new(&issuer, CLIENT_ID);
    let pkce = Pkce::generate(&SystemRandom);
    let par = Par::new(OTHER_CLIENT_ID, &pkce);
    push(&issuer, Some(&client), &par, None)
        .await
        .assert_error(401, "invalid_client");
}

/// ISS-PAR-03, -04, -06, -07, -08: malformed requests, each with its code.
#[tokio::test]
async fn par_rejects_malformed_requests() {
    let issuer = start().await;
    let client = Client::new(&issuer, CLIENT_ID);
    let pkce = Pkce::generate(&SystemRandom);
    let base = Par::new(&client.client_id, &pkce);
    let details = |d: &Value| d.to_string();
    let cases: Vec<(&str, Par, &str)> = vec![
        (
            "response_type token",
            base.clone().set("response_type", "token"),
            "unsupported_response_type",
        ),
        (
            "missing response_type",
            base.clone().remove("response_type"),
            "invalid_request",
        ),
        (
            "missing redirect_uri",
            base.clone().remove("redirect_uri"),
            "invalid_request",
        ),
        (
            "redirect_uri not allowed",
            base.clone().set("redirect_uri", "https://evil.example/cb"),
            "invalid_request",
        ),
        (
            "missing code_challenge",
            base.clone().remove("code_challenge"),
            "invalid_request",
        ),
        (
            "code_challenge_method plain",
            base.clone()
                .set("code_challenge", &pkce.verifier)
                .set("code_challenge_method", "plain"),
            "invalid_request",
        ),
        (
            "code_challenge_method absent",
            base.clone().remove("code_challenge_method"),
            "invalid_request",
        ),
        (
            "request_uri inside PAR",
            base.clone()
                .set("request_uri", &format!("{PAR_PREFIX}abc")),
            "invalid_request",
        ),
        (
            "repeated parameter",
            base.clone().add("state", "state-2"),
            "invalid_request",
        ),
        (
            "authorization_details not JSON",
            base.clone().set("authorization_details", "not json"),
            "invalid_authorization_details",
        ),
        (
            "authorization_details an object",
            base.clone().set(
                "authorization_details",
                &details(&json!({ "type": "openid_credential", "credential_configuration_id": PID })),
            ),
            "invalid_authorization_details",
        ),
        (
            "authorization_details of another type",
            base.clone().set(
                "authorization_details",
                &details(&json!([{ "type": "payment_initiation", "credential_configuration_id": PID }])),
            ),
            "invalid_authorization_details",
        ),
        (
            "authorization_details without configuration",
            base.clone().set(
                "authorization_details",
                &details(&json!([{ "type": "openid_credential" }])),
            ),
            "invalid_authorization_details",
        ),
        (
            "authorization_details of an unknown configuration",
            base.clone().set(
                "authorization_details",
                &details(&json!([{ "type": "openid_credential", "credential_configuration_id": "no-such-credential" }])),
            ),
            "invalid_authorization_details",
        ),
        (
            "only unknown scopes",
            base.clone().set("scope", "unknown other"),
            "invalid_scope",
        ),
        (
            "neither scope nor authorization_details",
            base.clone().remove("scope"),
            "invalid_scope",
        ),
    ];
    for (label, par, error) in cases {
        let response = push(&issuer, Some(&client), &par, None).await;
        assert_eq!(response.status, 400, "{label}: {:?}", response.json());
        response.assert_error(400, error);
    }
    // The same client and base request are fine.
    push(&issuer, Some(&client), &base, None)
        .await
        .assert_status(201);
}

/// ISS-PAR-09: issuer_state must be known, unexpired and unused.
#[tokio::test]
async fn par_issuer_state_must_be_known_unexpired_and_unused() {
    let issuer = start().await;
    let client = Client::new(&issuer, CLIENT_ID);
    let pkce = Pkce::generate(&SystemRandom);
    let base = Par::new(&client.client_id, &pkce);

    let unknown = base.clone().set("issuer_state", "no-such-issuer-state");
    let response = push(&issuer, Some(&client), &unknown, None).await;
    response.assert_error(400, "invalid_request");
    assert_description_contains(&response, "issuer_state");

    let (_, issuer_state) = code_offer(&issuer).await;
    let with_state = base.clone().set("issuer_state", &issuer_state);
    push(&issuer, Some(&client), &with_state, None)
        .await
        .assert_status(201);
    let used = push(&issuer, Some(&client), &with_state, None).await;
    used.assert_error(400, "invalid_request");
    assert_description_contains(&used, "issuer_state");

    let (offer, issuer_state) = code_offer(&issuer).await;
    issuer.advance(offer.expires_at - issuer.now());
    let expired = push(
        &issuer,
        Some(&client),
        &base.set("issuer_state", &issuer_state),
        None,
    )
    .await;
    expired.assert_error(400, "invalid_request");
}

/// ISS-PAR-10: a DPoP header and a dpop_jkt of another key → 400 invalid_dpop_proof;
/// the same key in both is fine.
#[tokio::test]
async fn par_dpop_header_and_dpop_jkt_must_agree() {
    let issuer = start().await;
    let client = Client::new(&issuer, CLIENT_ID);
    let pkce = Pkce::generate(&SystemRandom);
    let dpop = new_key();
    let other = new_key();
    let mismatch =
        Par::new(&client.client_id, &pkce).set("dpop_jkt", &other.public_jwk().thumbprint());
    push(&issuer, Some(&client), &mismatch, Some(&dpop))
        .await
        .assert_error(400, "invalid_dpop_proof");
    let same = mismatch.set("dpop_jkt", &dpop.public_jwk().thumbprint());
    push(&issuer, Some(&client), &same, Some(&dpop))
        .await
        .assert_status(201);
}

/// ISS-PAR-12: only POST.
#[tokio::test]
async fn par_endpoint_is_post_only() {
    let issuer = start().await;
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let response = issuer
            .send(issuer.http.request(method.clone(), par_url(&issuer)))
            .await;
        assert_eq!(response.status, 405, "{method} /par");
    }
}

/// ISS-PAR-11: a request_uri opens the authorization endpoint once.
#[tokio::test]
async fn request_uri_is_single_use() {
    let issuer = start().await;
    let client = Client::new(&issuer, CLIENT_ID);
    let pkce = Pkce::generate(&SystemRandom);
    let request_uri = push_ok(&issuer, &client, &Par::new(CLIENT_ID, &pkce), None).await;
    open_authorize(&issuer, CLIENT_ID, &request_uri)
        .await
        .assert_status(200);
    let again = open_authorize(&issuer, CLIENT_ID, &request_uri).await;
    assert_error_page(&again, 400, "invalid_request");
}

/// ISS-PAR-11: a request_uri expires after expires_in (par_lifetime).
#[tokio::test]
async fn request_uri_expires_after_par_lifetime() {
    let issuer = start().await;
    let client = Client::new(&issuer, CLIENT_ID);
    let pkce = Pkce::generate(&SystemRandom);
    let par = Par::new(CLIENT_ID, &pkce);
    let response = push(&issuer, Some(&client), &par, None).await;
    response.assert_status(201);
    let body = response.json();
    let expires_in = body["expires_in"].as_i64().expect("expires_in");
    let request_uri = body["request_uri"].as_str().expect("request_uri");

    // Still usable one second before the end.
    let alive = push_ok(&issuer, &client, &par, None).await;
    issuer.advance(expires_in - 1);
    open_authorize(&issuer, CLIENT_ID, &alive)
        .await
        .assert_status(200);
    issuer.advance(1);
    let expired = open_authorize(&issuer, CLIENT_ID, request_uri).await;
    assert_error_page(&expired, 400, "invalid_request");
}

// ================================================================ authorization_code grant

/// ISS-TOK-01, -04, -05, -08, -09, ISS-TRT-01, ISS-CRED-04, -05: scopes only
/// → a DPoP token with a refresh token and no authorization_details; the
/// credential is requested by configuration id, never by identifier.
#[tokio::test]
async fn code_flow_with_scope() {
    let issuer = start().await;
    let client = Client::new(&issuer, CLIENT_ID);
    let dpop = new_key();
    let a = authorize(&issuer, &client, &dpop).await;
    // ISS-TOK-09: unrecognized parameters are ignored.
    let form = [
        ("grant_type", AUTHORIZATION_CODE),
        ("code", a.code.as_str()),
        ("redirect_uri", a.redirect_uri.as_str()),
        ("code_verifier", a.pkce.verifier.as_str()),
        ("client_id", CLIENT_ID),
        ("unrecognized_parameter", "ignored"),
    ];
    let response = token_request(&issuer, Some(&client), &dpop, &form).await;
    assert!(
        response.header("dpop-nonce").is_some(),
        "a fresh DPoP nonce"
    );
    let tokens = tokens_of(&response, &dpop);
    assert!(tokens.refresh_token.is_some(), "ISS-TRT-01: refresh token");
    assert!(
        tokens.body.get("authorization_details").is_none(),
        "ISS-TOK-08: off by default: {}",
        tokens.body
    );
    let (response, _) = credential_with(
        &issuer,
        &tokens.token,
        ("credential_identifier", "anything"),
    )
    .await;
    response.assert_error(400, "invalid_credential_request");
    let (response, _) = credential_with(
        &issuer,
        &tokens.token,
        ("credential_configuration_id", "no-such-credential"),
    )
    .await;
    response.assert_error(400, "unknown_credential_configuration");
    credential_ok(&issuer, &tokens.token, ("credential_configuration_id", PID)).await;
}

/// ISS-TOK-05, -06, ISS-CRED-04, -05: authorization_details are answered
/// with credential_identifiers; the credential endpoint then takes only
/// identifiers.
#[tokio::test]
async fn code_flow_with_authorization_details() {
    let issuer = start().await;
    let client = Client::new(&issuer, CLIENT_ID);
    let dpop = new_key();
    let tokens = tokens_with_details(&issuer, &client, &dpop).await;
    assert!(tokens.refresh_token.is_some());
    let details = tokens.body["authorization_details"]
        .as_array()
        .expect("authorization_details");
    assert_eq!(details.len(), 1, "{}", tokens.body);
    assert_eq!(details[0]["type"], "openid_credential");
    assert_eq!(details[0]["credential_configuration_id"], PID);
    let identifiers = details[0]["credential_identifiers"]
        .as_array()
        .expect("credential_identifiers");
    assert!(!identifiers.is_empty());
    assert!(
        identifiers
            .iter()
            .all(|i| i.as_str().is_some_and(|s| !s.is_empty())),
        "non-empty strings: {identifiers:?}"
    );
    let identifier = tokens.credential_identifier();

    let (response, _) =
        credential_with(&issuer, &tokens.token, ("credential_configuration_id", PID)).await;
    response.assert_error(400, "invalid_credential_request");
    let (response, _) = credential_with(
        &issuer,
        &tokens.token,
        ("credential_identifier", "no-such-identifier"),
    )
    .await;
    response.assert_error(400, "unknown_credential_identifier");
    credential_ok(
        &issuer,
        &tokens.token,
        ("credential_identifier", &identifier),
    )
    .await;
}

/// ISS-CRED-06 (VCI §8.3.1.1, RFC 6750 §3.1), ISS-CRED-05: a
/// credential_identifier the issuer handed out with another grant's token
/// is known but not authorized by this token → DPoP 403 insufficient_scope;
/// one never handed out (LIKE wildcards included) → 400
/// unknown_credential_identifier. Each token keeps its own identifier.
async fn iss_cred_06_identifier_of_another_grant(backend: Backend) {
    let issuer = TestIssuer::start(backend).await;
    let client = Client::new(&issuer, CLIENT_ID);
    let first = tokens_with_details(&issuer, &client, &new_key()).await;
    let second = tokens_with_details(&issuer, &client, &new_key()).await;
    let (mine, theirs) = (
        first.credential_identifier(),
        second.credential_identifier(),
    );
    assert_ne!(mine, theirs, "identifiers are per grant");
    let (response, _) =
        credential_with(&issuer, &first.token, ("credential_identifier", &theirs)).await;
    response.assert_dpop_challenge(403, "insufficient_scope");
    for unknown in ["no-such-identifier", "%", "______________________"] {
        let (response, _) =
            credential_with(&issuer, &first.token, ("credential_identifier", unknown)).await;
        response.assert_error(400, "unknown_credential_identifier");
    }
    credential_ok(&issuer, &first.token, ("credential_identifier", &mine)).await;
    credential_ok(&issuer, &second.token, ("credential_identifier", &theirs)).await;
}

#[tokio::test]
async fn iss_cred_06_identifier_of_another_grant_sqlite() {
    iss_cred_06_identifier_of_another_grant(Backend::Sqlite).await;
}

#[tokio::test]
async fn iss_cred_06_identifier_of_another_grant_postgres() {
    iss_cred_06_identifier_of_another_grant(Backend::Postgres).await;
}

/// ISS-TAC-01, ISS-TOK-02: a missing code, redirect_uri or code_verifier →
/// 400 invalid_request, an unknown grant_type → 400 unsupported_grant_type;
/// the code survives such requests.
#[tokio::test]
async fn missing_token_parameters_are_invalid_request() {
    let issuer = start().await;
    let client = Client::new(&issuer, CLIENT_ID);
    let dpop = new_key();
    let a = authorize(&issuer, &client, &dpop).await;
    let full = [
        ("grant_type", AUTHORIZATION_CODE),
        ("code", a.code.as_str()),
        ("redirect_uri", a.redirect_uri.as_str()),
        ("code_verifier", a.pkce.verifier.as_str()),
    ];
    for missing in ["code", "redirect_uri", "code_verifier"] {
        let form: Vec<(&str, &str)> = full
            .iter()
            .copied()
            .filter(|(k, _)| *k != missing)
            .collect();
        let response = token_request(&issuer, Some(&client), &dpop, &form).await;
        response.assert_error(400, "invalid_request");
        assert_description_contains(&response, missing);
    }
    // ISS-TOK-02: an unsupported grant_type.
    let mut unsupported = full;
    unsupported[0] = ("grant_type", "password");
    token_request(&issuer, Some(&client), &dpop, &unsupported)
        .await
        .assert_error(400, "unsupported_grant_type");
    let response = token_request(&issuer, Some(&client), &dpop, &full).await;
    tokens_of(&response, &dpop);
}

/// ISS-TAC-04: a verifier that does not hash to the challenge, or one
/// outside 43–128 unreserved characters → 400 invalid_grant.
#[tokio::test]
async fn pkce_failures_are_invalid_grant() {
    let issuer = start().await;
    let client = Client::new(&issuer, CLIENT_ID);
    let dpop = new_key();
    let bad_verifiers = [
        random_verifier(43),
        random_verifier(42),
        random_verifier(129),
        format!("{}+", random_verifier(42)),
    ];
    for verifier in &bad_verifiers {
        let mut a = authorize(&issuer, &client, &dpop).await;
        a.pkce.verifier = verifier.clone();
        let response = exchange(&issuer, &client, &dpop, &a).await;
        response.assert_error(400, "invalid_grant");
    }
    // A 42-character verifier whose S256 hash is the challenge is refused too.
    let verifier = random_verifier(42);
    let pkce = Pkce {
        challenge: avow_crypto::hash::sha256_b64(verifier.as_bytes()),
        verifier,
    };
    let par = Par::new(CLIENT_ID, &pkce);
    let a = authorize_with(&issuer, &client, pkce, &par, Some(&dpop)).await;
    exchange(&issuer, &client, &dpop, &a)
        .await
        .assert_error(400, "invalid_grant");
}

/// ISS-TAC-02: the redirect_uri must equal the pushed one.
#[tokio::test]
async fn redirect_uri_mismatch_is_invalid_grant() {
    let issuer = start().await;
    let client = Client::new(&issuer, CLIENT_ID);
    let dpop = new_key();
    let mut a = authorize(&issuer, &client, &dpop).await;
    a.redirect_uri = "http://127.0.0.1:7777/other".into();
    let response = exchange(&issuer, &client, &dpop, &a).await;
    response.assert_error(400, "invalid_grant");
    assert_description_contains(&response, "redirect_uri");
}

/// ISS-TAC-02: an unknown code.
#[tokio::test]
async fn unknown_code_is_invalid_grant() {
    let issuer = start().await;
    let client = Client::new(&issuer, CLIENT_ID);
    let dpop = new_key();
    let mut a = authorize(&issuer, &client, &dpop).await;
    a.code = random_verifier(43);
    exchange(&issuer, &client, &dpop, &a)
        .await
        .assert_error(400, "invalid_grant");
}

/// ISS-TAC-02, -05: a code is redeemable only by the client (WIA `sub`)
/// and the wallet instance (WIA `cnf` key) that pushed the request.
#[tokio::test]
async fn code_of_another_client_or_instance_is_invalid_grant() {
    let issuer = start().await;
    let client = Client::new(&issuer, CLIENT_ID);
    let dpop = new_key();

    let a = authorize(&issuer, &client, &dpop).await;
    let other_client = client.other_client(OTHER_CLIENT_ID);
    let response = exchange(&issuer, &other_client, &dpop, &a).await;
    response.assert_error(400, "invalid_grant");
    assert_description_contains(&response, "another client");

    let a = authorize(&issuer, &client, &dpop).await;
    let other_instance = client.other_instance();
    let response = exchange(&issuer, &other_instance, &dpop, &a).await;
    response.assert_error(400, "invalid_grant");
    assert_description_contains(&response, "instance");

    // ISS-TOK-03: without client authentication → 401 invalid_client.
    let a = authorize(&issuer, &client, &dpop).await;
    let form = [
        ("grant_type", AUTHORIZATION_CODE),
        ("code", a.code.as_str()),
        ("redirect_uri", a.redirect_uri.as_str()),
        ("code_verifier", a.pkce.verifier.as_str()),
    ];
    token_request(&issuer, None, &dpop, &form)
        .await
        .assert_error(401, "invalid_client");
    // … which did not consume the code.
    tokens_of(&exchange(&issuer, &client, &dpop, &a).await, &dpop);
}

/// ISS-TAC-06: a code bound to a DPoP key at PAR (DPoP header or dpop_jkt)
/// needs that key at the token endpoint; an unbound code takes any key.
#[tokio::test]
async fn code_bound_to_a_dpop_key_needs_that_key() {
    let issuer = start().await;
    let client = Client::new(&issuer, CLIENT_ID);
    let dpop = new_key();
    let other = new_key();

    // Bound through the DPoP header at PAR.
    let a = authorize(&issuer, &client, &dpop).await;
    let response = exchange(&issuer, &client, &other, &a).await;
    response.assert_error(400, "invalid_grant");
    assert_description_contains(&response, "DPoP");

    // Bound through dpop_jkt.
    let pkce = Pkce::generate(&SystemRandom);
    let par = Par::new(CLIENT_ID, &pkce).set("dpop_jkt", &dpop.public_jwk().thumbprint());
    let a = authorize_with(&issuer, &client, pkce, &par, None).await;
    exchange(&issuer, &client, &other, &a)
        .await
        .assert_error(400, "invalid_grant");
    let pkce = Pkce::generate(&SystemRandom);
    let par = Par::new(CLIENT_ID, &pkce).set("dpop_jkt", &dpop.public_jwk().thumbprint());
    let a = authorize_with(&issuer, &client, pkce, &par, None).await;
    tokens_of(&exchange(&issuer, &client, &dpop, &a).await, &dpop);

    // Not bound at PAR: the token endpoint's key is the binding.
    let pkce = Pkce::generate(&SystemRandom);
    let par = Par::new(CLIENT_ID, &pkce);
    let a = authorize_with(&issuer, &client, pkce, &par, None).await;
    let tokens = tokens_of(&exchange(&issuer, &client, &other, &a).await, &other);
    credential_ok(&issuer, &tokens.token, ("credential_configuration_id", PID)).await;
}

/// ISS-AUTHZ-08, ISS-TAC-02: a code lives authorization_code_lifetime (60 s).
#[tokio::test]
async fn expired_code_is_invalid_grant() {
    let issuer = start().await;
    let client = Client::new(&issuer, CLIENT_ID);
    let dpop = new_key();
    let lifetime = issuer.state.config.policy.authorization_code_lifetime;
    assert!(lifetime <= 60, "ISS-AUTHZ-08: at most 60 s by default");

    let a = authorize(&issuer, &client, &dpop).await;
    issuer.advance(lifetime - 1);
    tokens_of(&exchange(&issuer, &client, &dpop, &a).await, &dpop);

    let a = authorize(&issuer, &client, &dpop).await;
    issuer.advance(lifetime);
    let response = exchange(&issuer, &client, &dpop, &a).await;
    response.assert_error(400, "invalid_grant");
    assert_description_contains(&response, "expired");
}

/// ISS-TAC-03: a replayed code is refused and revokes every access and
/// refresh token issued from it (also those refreshed since), nothing else.
#[tokio::test]
async fn code_replay_revokes_its_tokens() {
    let issuer = start().await;
    let client = Client::new(&issuer, CLIENT_ID);
    let dpop = new_key();
    let a = authorize(&issuer, &client, &dpop).await;
    let first = tokens_of(&exchange(&issuer, &client, &dpop, &a).await, &dpop);
    credential_ok(&issuer, &first.token, ("credential_configuration_id", PID)).await;
    // A second token pair of the same grant, through the refresh token.
    let refreshed = tokens_of(
        &refresh(&issuer, &client, &dpop, first.refresh_token(), None).await,
        &dpop,
    );
    // An unrelated grant of the same client and key.
    let unrelated = tokens(&issuer, &client, &dpop).await;

    let replay = exchange(&issuer, &client, &dpop, &a).await;
    replay.assert_error(400, "invalid_grant");
    assert_description_contains(&replay, "already used");

    for token in [&first.token, &refreshed.token] {
        let (response, _) =
            credential_with(&issuer, token, ("credential_configuration_id", PID)).await;
        response.assert_dpop_challenge(401, "invalid_token");
    }
    for refresh_token in [first.refresh_token(), refreshed.refresh_token()] {
        refresh(&issuer, &client, &dpop, refresh_token, None)
            .await
            .assert_error(400, "invalid_grant");
    }
    credential_ok(
        &issuer,
        &unrelated.token,
        ("credential_configuration_id", PID),
    )
    .await;
    // A third attempt is refused as well.
    exchange(&issuer, &client, &dpop, &a)
        .await
        .assert_error(400, "invalid_grant");
}

/// ISS-TAC-07: a request refused for use_dpop_nonce does not consume the code.
#[tokio::test]
async fn use_dpop_nonce_does_not_consume_the_code() {
    let issuer = start().await;
    let client = Client::new(&issuer, CLIENT_ID);
    let dpop = new_key();
    let a = authorize(&issuer, &client, &dpop).await;
    let form = [
        ("grant_type", AUTHORIZATION_CODE),
        ("code", a.code.as_str()),
        ("redirect_uri", a.redirect_uri.as_str()),
        ("code_verifier", a.pkce.verifier.as_str()),
        ("client_id", CLIENT_ID),
    ];
    let proof = issuer
        .dpop(&dpop, "POST", &issuer.token_url(), None, None)
        .await;
    let refused = token_request_raw(&issuer, Some(&client), None, Some(&proof), &form).await;
    refused.assert_error(400, "use_dpop_nonce");
    let nonce = refused.header("dpop-nonce").expect("DPoP-Nonce").to_owned();
    let proof = issuer
        .dpop(&dpop, "POST", &issuer.token_url(), None, Some(&nonce))
        .await;
    let response = token_request_raw(&issuer, Some(&client), None, Some(&proof), &form).await;
    tokens_of(&response, &dpop);
}

/// ISS-TAC-07: a request refused for use_attestation_challenge does not consume the code.
#[tokio::test]
async fn use_attestation_challenge_does_not_consume_the_code() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, with_challenges).await;
    let client = Client::new(&issuer, CLIENT_ID);
    let dpop = new_key();
    let a = authorize(&issuer, &client, &dpop).await;
    let form = [
        ("grant_type", AUTHORIZATION_CODE),
        ("code", a.code.as_str()),
        ("redirect_uri", a.redirect_uri.as_str()),
        ("code_verifier", a.pkce.verifier.as_str()),
        ("client_id", CLIENT_ID),
    ];
    let proof = issuer.token_dpop(&dpop).await;
    let refused = token_request_raw(&issuer, Some(&client), None, Some(&proof), &form).await;
    refused.assert_error(400, "use_attestation_challenge");
    let challenge = refused
        .header("oauth-client-attestation-challenge")
        .expect("a fresh challenge")
        .to_owned();
    let proof = issuer.token_dpop(&dpop).await;
    let response = token_request_raw(
        &issuer,
        Some(&client),
        Some(&challenge),
        Some(&proof),
        &form,
    )
    .await;
    tokens_of(&response, &dpop);
}

/// ISS-DPOP-08, ISS-TOK-04: the access token is bound to the token
/// request's key; a proof by another key at the credential endpoint → 401
/// invalid_dpop_proof.
#[tokio::test]
async fn credential_request_with_another_dpop_key_is_refused() {
    let issuer = start().await;
    let client = Client::new(&issuer, CLIENT_ID);
    let dpop = new_key();
    let tokens = tokens(&issuer, &client, &dpop).await;
    let switched = common::Token {
        access_token: tokens.token.access_token.clone(),
        key: new_key(),
    };
    let (response, _) =
        credential_with(&issuer, &switched, ("credential_configuration_id", PID)).await;
    response.assert_dpop_challenge(401, "invalid_dpop_proof");
    credential_ok(&issuer, &tokens.token, ("credential_configuration_id", PID)).await;
}

/// ISS-TOK-10: the grant is persisted: after a restart the access token and
/// the refresh token still work.
#[tokio::test]
async fn tokens_survive_a_restart() {
    let issuer = start().await;
    let client = Client::new(&issuer, CLIENT_ID);
    let dpop = new_key();
    let tokens = tokens_with_details(&issuer, &client, &dpop).await;
    let issuer = issuer.restart().await;
    let identifier = tokens.credential_identifier();
    credential_ok(
        &issuer,
        &tokens.token,
        ("credential_identifier", &identifier),
    )
    .await;
    let refreshed = tokens_of(
        &refresh(&issuer, &client, &dpop, tokens.refresh_token(), None).await,
        &dpop,
    );
    credential_ok(
        &issuer,
        &refreshed.token,
        ("credential_identifier", &identifier),
    )
    .await;
}

// ================================================================ refresh_token grant

/// ISS-TRT-01 … -04: a refresh rotates the refresh token, issues a new
/// access token with the same authorization (same credential identifiers)
/// that obtains a fresh credential; the previous access token stays valid.
#[tokio::test]
async fn refresh_rotates_and_obtains_a_fresh_credential() {
    let issuer = start().await;
    let client = Client::new(&issuer, CLIENT_ID);
    let dpop = new_key();
    let first = tokens_with_details(&issuer, &client, &dpop).await;
    let response = refresh(&issuer, &client, &dpop, first.refresh_token(), None).await;
    let second = tokens_of(&response, &dpop);
    assert_ne!(second.token.access_token, first.token.access_token);
    assert_ne!(second.refresh_token(), first.refresh_token(), "rotated");
    assert_eq!(
        second.body["authorization_details"], first.body["authorization_details"],
        "ISS-TRT-04: the same authorization"
    );
    let identifier = second.credential_identifier();
    credential_ok(
        &issuer,
        &second.token,
        ("credential_identifier", &identifier),
    )
    .await;
    credential_ok(
        &issuer,
        &first.token,
        ("credential_identifier", &identifier),
    )
    .await;

    // The rotated token refreshes again.
    let third = tokens_of(
        &refresh(&issuer, &client, &dpop, second.refresh_token(), None).await,
        &dpop,
    );
    credential_ok(
        &issuer,
        &third.token,
        ("credential_identifier", &identifier),
    )
    .await;
}

/// ISS-TRT-03: reusing a rotated refresh token → 400 invalid_grant and the
/// whole family is revoked: the newest refresh token and every access token.
#[tokio::test]
async fn refresh_token_reuse_revokes_the_family() {
    let issuer = start().await;
    let client = Client::new(&issuer, CLIENT_ID);
    let dpop = new_key();
    let first = tokens(&issuer, &client, &dpop).await;
    let second = tokens_of(
        &refresh(&issuer, &client, &dpop, first.refresh_token(), None).await,
        &dpop,
    );
    let reuse = refresh(&issuer, &client, &dpop, first.refresh_token(), None).await;
    reuse.assert_error(400, "invalid_grant");
    assert_description_contains(&reuse, "already used");

    refresh(&issuer, &client, &dpop, second.refresh_token(), None)
        .await
        .assert_error(400, "invalid_grant");
    for token in [&second.token, &first.token] {
        let (response, _) =
            credential_with(&issuer, token, ("credential_configuration_id", PID)).await;
        response.assert_dpop_challenge(401, "invalid_token");
    }
    // Other grants are untouched.
    let other = tokens(&issuer, &client, &dpop).await;
    credential_ok(&issuer, &other.token, ("credential_configuration_id", PID)).await;
}

/// ISS-TRT-02: only the bound DPoP key refreshes.
#[tokio::test]
async fn refresh_with_another_dpop_key_is_invalid_grant() {
    let issuer = start().await;
    let client = Client::new(&issuer, CLIENT_ID);
    let dpop = new_key();
    let first = tokens(&issuer, &client, &dpop).await;
    let response = refresh(&issuer, &client, &new_key(), first.refresh_token(), None).await;
    response.assert_error(400, "invalid_grant");
    assert_description_contains(&response, "DPoP");
}

/// ISS-TRT-02: only the same client and wallet instance refresh.
#[tokio::test]
async fn refresh_by_another_client_instance_is_invalid_grant() {
    let issuer = start().await;
    let client = Client::new(&issuer, CLIENT_ID);
    let dpop = new_key();

    let first = tokens(&issuer, &client, &dpop).await;
    let response = refresh(
        &issuer,
        &client.other_instance(),
        &dpop,
        first.refresh_token(),
        None,
    )
    .await;
    response.assert_error(400, "invalid_grant");
    assert_description_contains(&response, "client instance");

    let first = tokens(&issuer, &client, &dpop).await;
    refresh(
        &issuer,
        &client.other_client(OTHER_CLIENT_ID),
        &dpop,
        first.refresh_token(),
        None,
    )
    .await
    .assert_error(400, "invalid_grant");
}

/// ISS-TRT-04: a scope parameter may only narrow; a scope outside the grant
/// (here: unknown) → 400 invalid_scope.
#[tokio::test]
async fn refresh_scope_may_only_narrow() {
    let issuer = start().await;
    let client = Client::new(&issuer, CLIENT_ID);
    let dpop = new_key();
    let first = tokens(&issuer, &client, &dpop).await;
    let response = refresh(
        &issuer,
        &client,
        &dpop,
        first.refresh_token(),
        Some("unknown-scope"),
    )
    .await;
    response.assert_error(400, "invalid_scope");

    let first = tokens(&issuer, &client, &dpop).await;
    let narrowed = tokens_of(
        &refresh(&issuer, &client, &dpop, first.refresh_token(), Some("pid")).await,
        &dpop,
    );
    credential_ok(
        &issuer,
        &narrowed.token,
        ("credential_configuration_id", PID),
    )
    .await;
}

/// ISS-TRT-05: a family ends refresh_token_max_age after the holder's
/// authorization, however recently its last token was issued.
#[tokio::test]
async fn refresh_family_has_a_maximum_age() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, short_family).await;
    let client = Client::new(&issuer, CLIENT_ID);
    let dpop = new_key();
    let first = tokens(&issuer, &client, &dpop).await;

    issuer.advance(800);
    let second = tokens_of(
        &refresh(&issuer, &client, &dpop, first.refresh_token(), None).await,
        &dpop,
    );
    credential_ok(&issuer, &second.token, ("credential_configuration_id", PID)).await;
    issuer.advance(699);
    let third = tokens_of(
        &refresh(&issuer, &client, &dpop, second.refresh_token(), None).await,
        &dpop,
    );
    // 1501 s after the authorization; the last token is 2 s old (lifetime 1000 s).
    issuer.advance(2);
    refresh(&issuer, &client, &dpop, third.refresh_token(), None)
        .await
        .assert_error(400, "invalid_grant");
}

/// ISS-TRT-01, ISS-ASMETA-02: refresh tokens follow the configuration; the
/// pre-authorized code flow gets none.
#[tokio::test]
async fn refresh_tokens_follow_the_policy() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, no_refresh_tokens).await;
    let client = Client::new(&issuer, CLIENT_ID);
    let dpop = new_key();
    let tokens = tokens(&issuer, &client, &dpop).await;
    assert!(
        tokens.refresh_token.is_none(),
        "refresh tokens are off: {}",
        tokens.body
    );
    let metadata = issuer
        .get(&format!(
            "{}/.well-known/oauth-authorization-server",
            issuer.url
        ))
        .await;
    metadata.assert_status(200);
    let grant_types = metadata.json()["grant_types_supported"].clone();
    assert_eq!(
        grant_types,
        json!(["authorization_code", common::PRE_AUTH_GRANT]),
        "no refresh_token grant advertised"
    );

    let issuer = start().await;
    let offer = issuer.create_offer(false).await;
    let response = issuer.redeem(common::code_of(&offer), None).await;
    response.assert_status(200);
    assert!(
        response.json().get("refresh_token").is_none(),
        "default: authorization-code flow only"
    );
}

// ================================================================ the whole flow, wallet-driven

/// A wallet data directory removed at the end of the test.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self(std::env::temp_dir().join(format!("avow-wallet-test-{id}")))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// ISS-ASMETA-01 … -06, the whole flow as avow-wallet runs it: discovery,
/// an offer's issuer_state, PAR with PKCE + WIA + DPoP, the scripted login
/// and consent, code exchange, credential, refresh with the stored keys;
/// then a hand-driven authorization_details flow with refresh-token reuse
/// and code replay, so every store statement runs on `backend`.
async fn complete_code_flow(backend: Backend) {
    let issuer = TestIssuer::start(backend).await;

    // ISS-ASMETA: what the wallet discovers.
    let metadata = issuer
        .get(&format!(
            "{}/.well-known/oauth-authorization-server",
            issuer.url
        ))
        .await;
    metadata.assert_status(200);
    let metadata = metadata.json();
    assert_eq!(metadata["issuer"], issuer.url);
    assert_eq!(
        metadata["pushed_authorization_request_endpoint"],
        par_url(&issuer)
    );
    assert_eq!(metadata["require_pushed_authorization_requests"], true);
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(
        metadata["grant_types_supported"],
        json!([
            "authorization_code",
            common::PRE_AUTH_GRANT,
            "refresh_token"
        ])
    );
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        json!(["attest_jwt_client_auth"])
    );

    let (cert, key) = issuer
        .state
        .client_auth
        .dev_wallet_provider
        .clone()
        .expect("dev wallet provider");
    let provider = DevWalletProvider::load(&cert, &key).expect("provider");
    let options = WalletOptions {
        allow_http_loopback: true,
        trust_anchors: issuer.trust_anchors(),
        clock_skew: 60,
        client_id: CLIENT_ID.into(),
        wia_source: Some(Arc::new(provider)),
        prefer_anonymous: false,
        encryption: None,
    };
    let dir = TempDir::new();
    let wallet = Wallet::with_clock(
        options,
        CredentialStore::open(&dir.0).expect("wallet store"),
        issuer.clock.clone(),
    )
    .expect("wallet");
    let (offer, issuer_state) = code_offer(&issuer).await;
    let link = &offer.links["openid-credential-offer"].by_reference;
    let (resolved, info) = wallet.preview(link).await.expect("preview");
    assert_eq!(
        resolved
            .grants
            .authorization_code
            .as_ref()
            .and_then(|g| g.issuer_state.as_deref()),
        Some(issuer_state.as_str())
    );
    let agent = ScriptedLogin::new(REDIRECT_URI, HOLDER, PASSWORD, true).expect("agent");
    let received = wallet
        .authorize_and_receive(
            Arc::new(info),
            &resolved.credential_configuration_ids,
            Some(&issuer_state),
            &agent,
        )
        .await
        .expect("authorization code flow");
    assert_eq!(received.len(), 1);
    let stored = &received[0].stored;
    assert_eq!(stored.credential_configuration_id, PID);
    let (verified, _) = issuer.verify_credential(&stored.credential);
    assert_eq!(verified.claims["given_name"], "Erika");
    let grant = stored.grant.clone().expect("a refresh grant is kept");

    // The issuer_state is spent.
    let client = Client::new(&issuer, CLIENT_ID);
    let pkce = Pkce::generate(&SystemRandom);
    let reused = Par::new(CLIENT_ID, &pkce).set("issuer_state", &issuer_state);
    push(&issuer, Some(&client), &reused, None)
        .await
        .assert_error(400, "invalid_request");

    let refreshed = wallet.refresh(&stored.id).await.expect("refresh");
    assert_eq!(
        refreshed.stored.id, stored.id,
        "replaces the old credential"
    );
    assert_ne!(refreshed.stored.credential, stored.credential);
    issuer.verify_credential(&refreshed.stored.credential);
    let rotated = refreshed.stored.grant.clone().expect("rotated grant");
    assert_ne!(rotated.refresh_token, grant.refresh_token, "rotated");

    // Hand-driven: authorization_details, refresh, reuse, code replay.
    let dpop = new_key();
    let a = authorize_details(&issuer, &client, &dpop).await;
    let first = tokens_of(&exchange(&issuer, &client, &dpop, &a).await, &dpop);
    let identifier = first.credential_identifier();
    credential_ok(
        &issuer,
        &first.token,
        ("credential_identifier", &identifier),
    )
    .await;
    let second = tokens_of(
        &refresh(&issuer, &client, &dpop, first.refresh_token(), None).await,
        &dpop,
    );
    credential_ok(
        &issuer,
        &second.token,
        ("credential_identifier", &identifier),
    )
    .await;
    refresh(&issuer, &client, &dpop, first.refresh_token(), None)
        .await
        .assert_error(400, "invalid_grant");
    let (response, _) = credential_with(
        &issuer,
        &second.token,
        ("credential_identifier", &identifier),
    )
    .await;
    response.assert_dpop_challenge(401, "invalid_token");

    let a = authorize(&issuer, &client, &dpop).await;
    let tokens = tokens_of(&exchange(&issuer, &client, &dpop, &a).await, &dpop);
    exchange(&issuer, &client, &dpop, &a)
        .await
        .assert_error(400, "invalid_grant");
    let (response, _) =
        credential_with(&issuer, &tokens.token, ("credential_configuration_id", PID)).await;
    response.assert_dpop_challenge(401, "invalid_token");
}

#[tokio::test]
async fn complete_code_flow_on_sqlite() {
    complete_code_flow(Backend::Sqlite).await;
}

#[tokio::test]
async fn complete_code_flow_on_postgres() {
    complete_code_flow(Backend::Postgres).await;
}
