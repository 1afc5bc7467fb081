//! Token Status List (ISS-STAT-01 … -08, WAL-VAL-07): every credential
//! carries its own entry, the list endpoint serves a signed Status List
//! Token (JWT by default, CWT when `Accept` prefers it, TSL §5.2, §8.1),
//! the admin API revokes, suspends and resumes, and the wallet checks the
//! status before it stores a credential.

mod common;

use avow_crypto::{AlgorithmAllowList, CompactJws};
use avow_formats::status_list::{
    MAX_STATUS_LIST_BYTES, STATUS_LIST_CWT_MEDIA_TYPE, STATUS_LIST_MEDIA_TYPE, StatusListCwt,
    StatusListReference, StatusListToken, StatusListTokenFormat, StatusType, TokenExpectations,
    verify_status_list_cwt, verify_status_list_token,
};
use avow_wallet::{CredentialStore, Wallet, WalletError, WalletOptions};
use common::{Backend, HOLDER, Issued, Resp, TestIssuer, header_of};
use reqwest::Method;
use serde_json::json;
use std::collections::HashSet;
use std::io::Read;

const JWT: StatusListTokenFormat = StatusListTokenFormat::Jwt;
const CWT: StatusListTokenFormat = StatusListTokenFormat::Cwt;

// ---------------------------------------------------------------- helpers

/// A credential with its issuance id and status list reference.
struct Credential {
    issued: Issued,
    issuance_id: String,
    reference: StatusListReference,
}

/// Issues the PID through the wallet library and finds its issuance id
/// through the admin API (the entry whose index the credential carries).
async fn issue(issuer: &TestIssuer) -> Credential {
    let offer = issuer.create_offer(false).await;
    let issued = issuer.run_wallet(&offer).await;
    let (verified, _) = issuer.verify_credential(&issued.credential);
    let reference = StatusListReference::from_status_claim(&verified.claims["status"])
        .expect("a status_list reference")
        .expect("status.status_list");
    let issuances = issuer
        .send(issuer.admin(Method::GET, &format!("/admin/holders/{HOLDER}/issuances")))
        .await;
    issuances.assert_status(200);
    for entry in issuances.json().as_array().expect("a list") {
        let id = entry["id"].as_str().expect("issuance id");
        let status = admin_status(issuer, id).await;
        if status.status == 200
            && status.json()["status_list"] == json!({"idx": reference.idx, "uri": reference.uri})
        {
            return Credential {
                issued,
                issuance_id: id.to_owned(),
                reference,
            };
        }
    }
    panic!("no issuance record names the credential's status entry");
}

async fn admin_status(issuer: &TestIssuer, id: &str) -> Resp {
    issuer
        .send(issuer.admin(Method::GET, &format!("/admin/issuances/{id}/status")))
        .await
}

async fn set_status(issuer: &TestIssuer, id: &str, status: &str) -> Resp {
    issuer
        .send(
            issuer
                .admin(Method::POST, &format!("/admin/issuances/{id}/status"))
                .json(&json!({ "status": status })),
        )
        .await
}

/// GETs the list and verifies the token the way a relying party does:
/// headers, `typ`, `x5c` to the issuer CA, signature, claims.
async fn fetch_token(issuer: &TestIssuer, uri: &str) -> StatusListToken {
    let response = issuer.get(uri).await;
    response.assert_status(200);
    assert_eq!(
        response.header("content-type"),
        Some(STATUS_LIST_MEDIA_TYPE)
    );
    assert_eq!(response.header("access-control-allow-origin"), Some("*"));
    assert_eq!(response.header("content-encoding"), None);
    verify(
        issuer,
        uri,
        std::str::from_utf8(&response.body).expect("text"),
    )
}

fn verify(issuer: &TestIssuer, uri: &str, compact: &str) -> StatusListToken {
    let header = header_of(compact);
    assert_eq!(header["typ"], "statuslist+jwt");
    assert_eq!(header["alg"], "ES256");
    let jws = CompactJws::parse(compact).expect("compact JWS");
    let x5c = jws.x5c().expect("x5c header").expect("x5c certificates");
    // Leaf first, the issuer chain without the anchor (HAIP §6.1).
    assert_eq!(x5c, issuer.state.keys.x5c);
    let key = issuer
        .trust_anchors()
        .validate_chain(&x5c, issuer.now())
        .expect("x5c validates to the issuer CA, anchor excluded, leaf not self-signed");
    verify_status_list_token(
        &jws,
        &key,
        &AlgorithmAllowList::es256(),
        &TokenExpectations {
            uri,
            now: issuer.now(),
            skew: 0,
            max_bytes: MAX_STATUS_LIST_BYTES,
        },
    )
    .expect("the status list token verifies")
}

async fn status_of(issuer: &TestIssuer, credential: &Credential) -> StatusType {
    fetch_token(issuer, &credential.reference.uri)
        .await
        .status_list
        .status(credential.reference.idx)
        .expect("index within the list")
}

// ---------------------------------------------------------------- ISS-STAT-01 … -04

#[tokio::test]
async fn iss_stat_02_04_credential_carries_status_and_list_verifies_sqlite() {
    credential_carries_status_and_list_verifies(Backend::Sqlite).await;
}

#[tokio::test]
async fn iss_stat_02_04_credential_carries_status_and_list_verifies_postgres() {
    credential_carries_status_and_list_verifies(Backend::Postgres).await;
}

async fn credential_carries_status_and_list_verifies(backend: Backend) {
    let issuer = TestIssuer::start(backend).await;
    let credential = issue(&issuer).await;
    let uri = &credential.reference.uri;
    assert!(
        uri.starts_with(&format!("{}/status-lists/", issuer.url)),
        "uri {uri}"
    );
    assert!(credential.reference.idx < 131_072);

    let token = fetch_token(&issuer, uri).await;
    assert_eq!(token.sub, *uri);
    assert_eq!(token.iat, issuer.now());
    assert_eq!(token.exp, Some(issuer.now() + 86_400));
    assert_eq!(token.ttl, Some(3_600));
    assert_eq!(token.status_list.bits(), 2);
    assert!(token.status_list.capacity() >= 131_072);
    assert_eq!(
        token.aggregation_uri.as_deref(),
        Some(format!("{}/status-lists", issuer.url).as_str())
    );
    assert_eq!(
        token.status_list.status(credential.reference.idx),
        Some(StatusType::Valid)
    );

    // The raw claims: exactly what TSL §5.1 names, `ttl` a positive number.
    let response = issuer.get(uri).await;
    let claims = common::payload_of(std::str::from_utf8(&response.body).expect("text"));
    assert_eq!(claims["status_list"]["bits"], 2);
    assert!(claims["status_list"]["lst"].is_string());
    assert!(claims["ttl"].is_u64());

    let admin = admin_status(&issuer, &credential.issuance_id).await;
    admin.assert_status(200);
    assert_eq!(admin.json()["status"], "valid");
    assert_eq!(admin.json()["id"], credential.issuance_id.as_str());
}

/// ISS-STAT-01: distinct random indices across instances; a full list
/// opens the next one, and the aggregation lists them all (ISS-STAT-08).
#[tokio::test]
async fn iss_stat_01_distinct_indices_and_new_lists_when_full() {
    let issuer = TestIssuer::start_with(Backend::Postgres, |c| c.status_list.size = 4).await;
    let sibling = issuer.sibling().await;
    // The test instances listen on different ports, so their public URLs
    // differ; lists are compared by id (the last path segment).
    let list_id = |uri: &str| uri.rsplit('/').next().unwrap_or_default().to_owned();
    let mut entries = HashSet::new();
    let mut lists = HashSet::new();
    for n in 0..9 {
        let instance = if n % 2 == 0 { &issuer } else { &sibling };
        let credential = issue(instance).await;
        assert!(credential.reference.uri.starts_with(&instance.url));
        assert!(credential.reference.idx < 4);
        let list = list_id(&credential.reference.uri);
        assert!(
            entries.insert((list.clone(), credential.reference.idx)),
            "an index was allocated twice"
        );
        lists.insert(list);
    }
    // 9 credentials in lists of 4: three lists, the first two full.
    assert_eq!(lists.len(), 3);
    let aggregation = issuer.get(&format!("{}/status-lists", issuer.url)).await;
    aggregation.assert_status(200);
    assert_eq!(aggregation.header("content-type"), Some("application/json"));
    assert_eq!(aggregation.header("access-control-allow-origin"), Some("*"));
    let listed: Vec<String> = aggregation.json()["status_lists"]
        .as_array()
        .expect("status_lists")
        .iter()
        .map(|u| u.as_str().expect("uri").to_owned())
        .collect();
    assert_eq!(listed.len(), 3);
    for uri in &listed {
        assert!(uri.starts_with(&format!("{}/status-lists/", issuer.url)));
        assert!(lists.contains(&list_id(uri)));
        let token = fetch_token(&issuer, uri).await;
        assert_eq!(token.sub, *uri);
    }
}

// ---------------------------------------------------------------- ISS-STAT-06

#[tokio::test]
async fn iss_stat_06_revoke_suspend_resume_sqlite() {
    revoke_suspend_resume(Backend::Sqlite).await;
}

#[tokio::test]
async fn iss_stat_06_revoke_suspend_resume_postgres() {
    revoke_suspend_resume(Backend::Postgres).await;
}

async fn revoke_suspend_resume(backend: Backend) {
    let issuer = TestIssuer::start(backend).await;
    let credential = issue(&issuer).await;
    let bystander = issue(&issuer).await;
    let id = credential.issuance_id.as_str();

    let suspended = set_status(&issuer, id, "suspended").await;
    suspended.assert_status(200).assert_no_store();
    assert_eq!(suspended.json()["status"], "suspended");
    assert_eq!(
        suspended.json()["status_list"],
        json!({"idx": credential.reference.idx, "uri": credential.reference.uri})
    );
    assert_eq!(status_of(&issuer, &credential).await, StatusType::Suspended);
    assert_eq!(status_of(&issuer, &bystander).await, StatusType::Valid);
    set_status(&issuer, id, "suspended")
        .await
        .assert_status(200);

    set_status(&issuer, id, "valid").await.assert_status(200);
    assert_eq!(status_of(&issuer, &credential).await, StatusType::Valid);

    let revoked = set_status(&issuer, id, "revoked").await;
    revoked.assert_status(200);
    assert_eq!(revoked.json()["status"], "revoked");
    // The very next token shows it, from any instance.
    assert_eq!(status_of(&issuer, &credential).await, StatusType::Invalid);
    let sibling = issuer.sibling().await;
    assert_eq!(status_of(&sibling, &credential).await, StatusType::Invalid);
    assert_eq!(status_of(&issuer, &bystander).await, StatusType::Valid);

    // Revocation is final.
    for again in ["revoked", "valid", "suspended"] {
        let refused = set_status(&issuer, id, again).await;
        refused.assert_status(409).assert_no_store();
        assert_eq!(refused.json()["error"], "conflict");
    }
    assert_eq!(status_of(&issuer, &credential).await, StatusType::Invalid);
    assert_eq!(admin_status(&issuer, id).await.json()["status"], "revoked");
}

#[tokio::test]
async fn iss_stat_06_admin_errors() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let credential = issue(&issuer).await;
    let id = credential.issuance_id.as_str();

    set_status(&issuer, "no-such-issuance", "revoked")
        .await
        .assert_error(404, "not_found");
    admin_status(&issuer, "no-such-issuance")
        .await
        .assert_error(404, "not_found");
    for body in [
        json!({"status": "deleted"}),
        json!({"status": "INVALID"}),
        json!({"state": "revoked"}),
        json!(["revoked"]),
    ] {
        issuer
            .send(
                issuer
                    .admin(Method::POST, &format!("/admin/issuances/{id}/status"))
                    .json(&body),
            )
            .await
            .assert_error(400, "invalid_request");
    }
    issuer
        .send(
            issuer
                .admin(Method::POST, &format!("/admin/issuances/{id}/status"))
                .body("not json"),
        )
        .await
        .assert_error(400, "invalid_request");
    // ISS-ADM-01: anonymous calls are refused.
    let anonymous = issuer
        .send(
            issuer
                .http
                .post(format!("{}/admin/issuances/{id}/status", issuer.admin_url))
                .json(&json!({"status": "revoked"})),
        )
        .await;
    anonymous.assert_status(401);
    assert_eq!(status_of(&issuer, &credential).await, StatusType::Valid);
}

// ---------------------------------------------------------------- ISS-STAT-07

#[tokio::test]
async fn iss_stat_07_gzip_cors_and_errors() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let credential = issue(&issuer).await;
    let uri = credential.reference.uri.as_str();

    let gzipped = issuer
        .send(issuer.http.get(uri).header("accept-encoding", "gzip"))
        .await;
    gzipped.assert_status(200);
    assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
    assert_eq!(gzipped.header("content-type"), Some(STATUS_LIST_MEDIA_TYPE));
    assert_eq!(gzipped.header("access-control-allow-origin"), Some("*"));
    assert!(gzipped.header("vary").is_some_and(|v| {
        v.split(',')
            .any(|h| h.trim().eq_ignore_ascii_case("accept-encoding"))
    }));
    let mut compact = String::new();
    flate2::read::GzDecoder::new(gzipped.body.as_slice())
        .read_to_string(&mut compact)
        .expect("gzip body");
    let token = verify(&issuer, uri, &compact);
    assert_eq!(
        token.status_list.status(credential.reference.idx),
        Some(StatusType::Valid)
    );
    let refused = issuer
        .send(
            issuer
                .http
                .get(uri)
                .header("accept-encoding", "gzip;q=0, br"),
        )
        .await;
    assert_eq!(refused.header("content-encoding"), None);

    let unknown = issuer
        .get(&format!("{}/status-lists/no-such-list", issuer.url))
        .await;
    unknown.assert_error(404, "not_found");
    assert_eq!(unknown.header("access-control-allow-origin"), Some("*"));

    // TSL §8.4: historical resolution is not offered.
    let historical = issuer.get(&format!("{uri}?time=1700000000")).await;
    assert_eq!(historical.status, 501);
    assert_eq!(historical.header("access-control-allow-origin"), Some("*"));
}

// ---------------------------------------------------------------- CWT (TSL §5.2, §8.1)

/// GETs the list with `accept` and returns the response.
async fn get_with_accept(issuer: &TestIssuer, uri: &str, accept: &str) -> Resp {
    issuer
        .send(issuer.http.get(uri).header("accept", accept))
        .await
}

/// Verifies a CWT body the way an mdoc relying party does: tag 18,
/// protected `typ`, `x5chain` to the issuer CA, signature, claims.
fn verify_cwt(issuer: &TestIssuer, uri: &str, body: &[u8]) -> StatusListToken {
    // COSE_Sign1_Tagged (tag 18), not the CWT tag (TSL §5.2).
    assert_eq!(body.first(), Some(&0xd2));
    let cwt = StatusListCwt::parse(body).expect("a COSE_Sign1_Tagged status list token");
    // The same chain as the JWT: leaf first, anchor excluded (HAIP §6.1).
    assert_eq!(cwt.x5chain(), issuer.state.keys.x5c.as_slice());
    let key = issuer
        .trust_anchors()
        .validate_chain(cwt.x5chain(), issuer.now())
        .expect("x5chain validates to the issuer CA");
    verify_status_list_cwt(
        &cwt,
        &key,
        &TokenExpectations {
            uri,
            now: issuer.now(),
            skew: 0,
            max_bytes: MAX_STATUS_LIST_BYTES,
        },
    )
    .expect("the CWT status list token verifies")
}

async fn cwt_status_of(issuer: &TestIssuer, credential: &Credential) -> StatusType {
    let uri = credential.reference.uri.as_str();
    let response = get_with_accept(issuer, uri, STATUS_LIST_CWT_MEDIA_TYPE).await;
    response.assert_status(200);
    assert_eq!(
        response.header("content-type"),
        Some(STATUS_LIST_CWT_MEDIA_TYPE)
    );
    verify_cwt(issuer, uri, &response.body)
        .status_list
        .status(credential.reference.idx)
        .expect("index within the list")
}

/// TSL §5.2, §8.1, §8.2: `Accept` chooses the form at the same URI; the
/// CWT carries the same list and claims as the JWT and follows the admin
/// API like the JWT (ISS-STAT-06); CORS and gzip apply to both.
#[tokio::test]
async fn tsl_cwt_form_by_content_negotiation() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let credential = issue(&issuer).await;
    let uri = credential.reference.uri.as_str();

    let response = get_with_accept(&issuer, uri, STATUS_LIST_CWT_MEDIA_TYPE).await;
    response.assert_status(200);
    assert_eq!(
        response.header("content-type"),
        Some(STATUS_LIST_CWT_MEDIA_TYPE)
    );
    assert_eq!(response.header("access-control-allow-origin"), Some("*"));
    assert!(response.header("vary").is_some_and(|v| {
        v.split(',')
            .any(|h| h.trim().eq_ignore_ascii_case("accept"))
    }));
    let cwt = verify_cwt(&issuer, uri, &response.body);
    assert_eq!(cwt.sub, uri);
    assert_eq!(cwt.iat, issuer.now());
    assert_eq!(cwt.exp, Some(issuer.now() + 86_400));
    assert_eq!(cwt.ttl, Some(3_600));
    assert_eq!(cwt.status_list.bits(), 2);
    assert_eq!(
        cwt.aggregation_uri.as_deref(),
        Some(format!("{}/status-lists", issuer.url).as_str())
    );
    // The same list as the JWT form.
    let jwt = fetch_token(&issuer, uri).await;
    assert_eq!(cwt, jwt);

    // Negotiation: the JWT is the default, the CWT needs a higher quality.
    for (accept, expected) in [
        ("application/statuslist+jwt", STATUS_LIST_MEDIA_TYPE),
        (
            "application/statuslist+cwt;q=0.8, application/statuslist+jwt;q=0.5",
            STATUS_LIST_CWT_MEDIA_TYPE,
        ),
        (
            "application/statuslist+jwt, application/statuslist+cwt",
            STATUS_LIST_MEDIA_TYPE,
        ),
        ("*/*", STATUS_LIST_MEDIA_TYPE),
        (
            "application/statuslist+jwt;q=0, */*",
            STATUS_LIST_CWT_MEDIA_TYPE,
        ),
        // Neither acceptable: disregarded (RFC 9110 §12.5.1), the JWT.
        ("application/json", STATUS_LIST_MEDIA_TYPE),
    ] {
        let response = get_with_accept(&issuer, uri, accept).await;
        response.assert_status(200);
        assert_eq!(response.header("content-type"), Some(expected), "{accept}");
        if expected == STATUS_LIST_MEDIA_TYPE {
            verify(
                &issuer,
                uri,
                std::str::from_utf8(&response.body).expect("text"),
            );
        } else {
            verify_cwt(&issuer, uri, &response.body);
        }
    }

    // gzip applies to the CWT as well.
    let gzipped = issuer
        .send(
            issuer
                .http
                .get(uri)
                .header("accept", STATUS_LIST_CWT_MEDIA_TYPE)
                .header("accept-encoding", "gzip"),
        )
        .await;
    gzipped.assert_status(200);
    assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
    let mut body = Vec::new();
    flate2::read::GzDecoder::new(gzipped.body.as_slice())
        .read_to_end(&mut body)
        .expect("gzip body");
    verify_cwt(&issuer, uri, &body);

    // A revocation by the admin API is in the next CWT.
    let bystander = issue(&issuer).await;
    assert_eq!(cwt_status_of(&issuer, &credential).await, StatusType::Valid);
    set_status(&issuer, &credential.issuance_id, "suspended")
        .await
        .assert_status(200);
    assert_eq!(
        cwt_status_of(&issuer, &credential).await,
        StatusType::Suspended
    );
    set_status(&issuer, &credential.issuance_id, "revoked")
        .await
        .assert_status(200);
    assert_eq!(
        cwt_status_of(&issuer, &credential).await,
        StatusType::Invalid
    );
    assert_eq!(cwt_status_of(&issuer, &bystander).await, StatusType::Valid);

    // The wallet resolves the CWT form too (WAL-VAL-07 for mdoc).
    let client = avow_wallet::HttpClient::new(true).expect("client");
    let anchors = issuer.trust_anchors();
    let now = issuer.now();
    assert_eq!(
        avow_wallet::status::resolve_status(&client, &anchors, &credential.reference, CWT, now, 60)
            .await,
        Ok(StatusType::Invalid)
    );
    assert_eq!(
        avow_wallet::status::resolve_status(&client, &anchors, &bystander.reference, CWT, now, 60)
            .await,
        Ok(StatusType::Valid)
    );
    let later = now + 86_400 + 61;
    assert!(matches!(
        avow_wallet::status::resolve_status(
            &client,
            &anchors,
            &bystander.reference,
            CWT,
            later,
            60
        )
        .await,
        Err(avow_wallet::status::StatusCheckError::Invalid(_))
    ));
    let stranger = avow_crypto::x509::TrustAnchors::default();
    assert!(matches!(
        avow_wallet::status::resolve_status(&client, &stranger, &bystander.reference, CWT, now, 60)
            .await,
        Err(avow_wallet::status::StatusCheckError::Invalid(_))
    ));
}

// ---------------------------------------------------------------- configuration

#[tokio::test]
async fn status_lists_can_be_turned_off() {
    let issuer = TestIssuer::start_with(Backend::Sqlite, |c| {
        c.status_list.enabled = false;
        c.status_list.aggregation = false;
    })
    .await;
    let offer = issuer.create_offer(false).await;
    let issued = issuer.run_wallet(&offer).await;
    let (verified, _) = issuer.verify_credential(&issued.credential);
    assert!(!verified.claims.contains_key("status"));
    let issuances = issuer
        .send(issuer.admin(Method::GET, &format!("/admin/holders/{HOLDER}/issuances")))
        .await
        .json();
    let id = issuances[0]["id"].as_str().expect("issuance id").to_owned();
    let refused = set_status(&issuer, &id, "revoked").await;
    refused.assert_status(409);
    assert_eq!(refused.json()["error"], "conflict");
    issuer
        .get(&format!("{}/status-lists", issuer.url))
        .await
        .assert_status(404);
}

// ---------------------------------------------------------------- WAL-VAL-07

fn wallet(issuer: &TestIssuer, dir: &std::path::Path) -> Wallet {
    let options = WalletOptions {
        allow_http_loopback: true,
        trust_anchors: issuer.trust_anchors(),
        clock_skew: 60,
        client_id: "https://wallet.example".into(),
        wia_source: None,
        prefer_anonymous: true,
        encryption: None,
    };
    let store = CredentialStore::open(dir).expect("credential store");
    Wallet::with_clock(options, store, issuer.clock.clone()).expect("wallet")
}

#[tokio::test]
async fn wal_val_07_wallet_checks_the_status() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let dir = std::env::temp_dir().join(format!("avow-status-wallet-{}", uuid::Uuid::new_v4()));
    let wallet = wallet(&issuer, &dir);

    // Received through the whole wallet: checked VALID before storing.
    let offer = issuer.create_offer(false).await;
    let link = &offer.links["openid-credential-offer"].by_reference;
    let received = wallet.receive(link, None).await.expect("receive");
    let stored = &received[0].stored;
    assert_eq!(stored.status_checked, Some(true));
    let client = wallet.client();
    let anchors = issuer.trust_anchors();
    let now = issuer.now();
    let status = avow_wallet::status::stored_credential_status(client, &anchors, stored, now, 60)
        .await
        .expect("status");
    assert_eq!(status, Some(StatusType::Valid));

    // Revoked and suspended credentials are refused when checked.
    let issuances = issuer
        .send(issuer.admin(Method::GET, &format!("/admin/holders/{HOLDER}/issuances")))
        .await
        .json();
    let id = issuances[0]["id"].as_str().expect("issuance id").to_owned();
    let claims = received[0]
        .verified
        .sd_jwt_vc()
        .expect("SD-JWT VC")
        .claims
        .clone();
    set_status(&issuer, &id, "suspended")
        .await
        .assert_status(200);
    let refused =
        avow_wallet::status::check_at_receipt(client, &anchors, &claims, JWT, now, 60).await;
    assert!(
        matches!(&refused, Err(WalletError::Validation(m)) if m.contains("SUSPENDED")),
        "{refused:?}"
    );
    set_status(&issuer, &id, "revoked").await.assert_status(200);
    let refused =
        avow_wallet::status::check_at_receipt(client, &anchors, &claims, JWT, now, 60).await;
    assert!(
        matches!(&refused, Err(WalletError::Validation(m)) if m.contains("INVALID")),
        "{refused:?}"
    );
    let status = avow_wallet::status::stored_credential_status(client, &anchors, stored, now, 60)
        .await
        .expect("status");
    assert_eq!(status, Some(StatusType::Invalid));

    // A token that does not verify is refused, not treated as unreachable:
    // an index beyond the list, another URI, or an expired token.
    let reference = StatusListReference::from_status_claim(&claims["status"])
        .expect("reference")
        .expect("status_list");
    let beyond = StatusListReference {
        idx: 10_000_000,
        ..reference.clone()
    };
    assert!(matches!(
        avow_wallet::status::resolve_status(client, &anchors, &beyond, JWT, now, 60).await,
        Err(avow_wallet::status::StatusCheckError::Invalid(_))
    ));
    let missing = StatusListReference {
        uri: format!("{}/status-lists/missing", issuer.url),
        ..reference.clone()
    };
    assert!(matches!(
        avow_wallet::status::resolve_status(client, &anchors, &missing, JWT, now, 60).await,
        Err(avow_wallet::status::StatusCheckError::Invalid(_))
    ));
    let later = now + 86_400 + 61;
    assert!(matches!(
        avow_wallet::status::resolve_status(client, &anchors, &reference, JWT, later, 60).await,
        Err(avow_wallet::status::StatusCheckError::Invalid(_))
    ));
    let stranger = avow_crypto::x509::TrustAnchors::default();
    assert!(matches!(
        avow_wallet::status::resolve_status(client, &stranger, &reference, JWT, now, 60).await,
        Err(avow_wallet::status::StatusCheckError::Invalid(_))
    ));
    let _ = std::fs::remove_dir_all(dir);
}

/// The issued credential keeps `status` out of the Disclosures (ISS-SDJWT-04).
#[tokio::test]
async fn status_is_never_disclosable() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let credential = issue(&issuer).await;
    let payload = common::payload_of(
        credential
            .issued
            .credential
            .split('~')
            .next()
            .expect("issuer-signed JWT"),
    );
    assert_eq!(
        payload["status"],
        json!({"status_list": {"idx": credential.reference.idx, "uri": credential.reference.uri}})
    );
}
