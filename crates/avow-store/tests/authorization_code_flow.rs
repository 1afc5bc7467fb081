//! The state of the authorization-code flow (pushed requests, login
//! sessions, holder passwords, authorization codes, refresh tokens, grant
//! revocation), run against both backends by the harness in `common`.

#[macro_use]
mod common;

use std::future::Future;

use avow_store::{
    AccessTokenRecord, AuthSessionRecord, AuthorizationCodeRecord, CodeRedemption, Holder,
    IssuerStateRecord, NewOffer, ParConsumption, ParRecord, RefreshRotation, RefreshTokenRecord,
    Store, StoreError,
};
use common::{Db, NOW, run};
use serde_json::json;
use sqlx::{Connection, Executor};

suite!(
    par_request_is_consumed_once_by_its_client,
    concurrent_par_consumes_on_two_instances_yield_one_success,
    authorization_code_is_redeemed_once_then_replayed,
    concurrent_code_redeems_on_two_instances_yield_one_success,
    refresh_token_rotates_once_then_is_reused,
    concurrent_rotations_on_two_instances_yield_one_success,
    revoke_grant_revokes_only_that_grant,
    auth_session_lifecycle,
    concurrent_auth_session_steps_on_two_instances,
    holder_password_round_trip,
    purge_expired_covers_the_authorization_code_flow,
    corrupt_flow_rows_are_errors_not_panics,
    issuer_state_is_consumed_once_and_closes_its_offer,
);

// ---------------------------------------------------------------- fixtures

fn par(n: u32, client_id: &str, expires_at: i64) -> ParRecord {
    ParRecord {
        request_uri_hash: format!("request-uri-hash-{n}"),
        client_id: client_id.to_owned(),
        request: json!({
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": "https://wallet.example/cb",
            "code_challenge": format!("challenge-{n}"),
            "code_challenge_method": "S256",
            "authorization_details": [{
                "type": "openid_credential",
                "credential_configuration_id": "pid_sd_jwt"
            }],
            "state": "xyz"
        }),
        created_at: NOW - 10,
        expires_at,
    }
}

fn code(n: u32, grant_id: &str, expires_at: i64) -> AuthorizationCodeRecord {
    AuthorizationCodeRecord {
        code_hash: format!("code-hash-{n}"),
        grant_id: grant_id.to_owned(),
        client_id: "wallet-instance-7".to_owned(),
        grant: json!({
            "redirect_uri": "https://wallet.example/cb",
            "code_challenge": format!("challenge-{n}"),
            "dpop_jkt": "jkt-abc",
            "holder_id": "holder-1",
            "configuration_ids": ["pid_sd_jwt"]
        }),
        issued_at: NOW - 5,
        expires_at,
    }
}

fn refresh(hash: &str, grant_id: &str, expires_at: i64) -> RefreshTokenRecord {
    RefreshTokenRecord {
        token_hash: hash.to_owned(),
        grant_id: grant_id.to_owned(),
        grant: json!({
            "dpop_jkt": "jkt-abc",
            "holder_id": "holder-1",
            "configuration_ids": ["pid_sd_jwt"],
            "authorized_at": NOW - 3_600
        }),
        issued_at: NOW - 60,
        expires_at,
    }
}

fn access(hash: &str, grant_id: Option<&str>, expires_at: i64) -> AccessTokenRecord {
    AccessTokenRecord {
        token_hash: hash.to_owned(),
        holder_id: "holder-1".to_owned(),
        configuration_ids: vec!["pid_sd_jwt".to_owned()],
        client_id: Some("wallet-instance-7".to_owned()),
        dpop_jkt: "jkt-abc".to_owned(),
        offer_id: None,
        grant_id: grant_id.map(str::to_owned),
        authorization_details: None,
        certificate_thumbprint: None,
        issued_at: NOW,
        expires_at,
    }
}

fn session(n: u32, expires_at: i64) -> AuthSessionRecord {
    AuthSessionRecord {
        session_hash: format!("session-hash-{n}"),
        request: par(n, "wallet-instance-7", NOW + 60).request,
        csrf_hash: format!("csrf-hash-{n}"),
        holder_id: None,
        failed_logins: 0,
        created_at: NOW - 10,
        expires_at,
    }
}

/// Runs `tasks` copies of `op` concurrently, alternating between two store
/// instances, and returns every result.
async fn race<T, F, Fut>(a: &Store, b: &Store, tasks: usize, op: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Store) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let handles: Vec<_> = (0..tasks)
        .map(|i| tokio::spawn(op(if i % 2 == 0 { a.clone() } else { b.clone() })))
        .collect();
    let mut results = Vec::new();
    for handle in handles {
        results.push(handle.await.unwrap());
    }
    results
}

// ---------------------------------------------------------------- bodies

async fn par_request_is_consumed_once_by_its_client(db: Db) {
    let store = db.store().await;
    let pushed = par(1, "wallet-a", NOW + 60);
    store.insert_par_request(&pushed).await.unwrap();

    // Another client cannot use it, and does not burn it (ISS-AUTHZ-01).
    for _ in 0..2 {
        assert_eq!(
            store
                .consume_par_request("request-uri-hash-1", "wallet-b", NOW)
                .await
                .unwrap(),
            ParConsumption::WrongClient
        );
    }
    // The pushing client consumes it, once (ISS-AUTHZ-03, ISS-PAR-11).
    assert_eq!(
        store
            .consume_par_request("request-uri-hash-1", "wallet-a", NOW)
            .await
            .unwrap(),
        ParConsumption::Consumed(pushed.clone())
    );
    let other = db.store().await;
    for client in ["wallet-a", "wallet-b"] {
        assert_eq!(
            other
                .consume_par_request("request-uri-hash-1", client, NOW)
                .await
                .unwrap(),
            ParConsumption::Unknown
        );
    }
    assert_eq!(
        store
            .consume_par_request("request-uri-hash-x", "wallet-a", NOW)
            .await
            .unwrap(),
        ParConsumption::Unknown
    );

    // Expired: unknown to everyone (expires_at is the first invalid second).
    store
        .insert_par_request(&par(2, "wallet-a", NOW + 60))
        .await
        .unwrap();
    for client in ["wallet-a", "wallet-b"] {
        assert_eq!(
            store
                .consume_par_request("request-uri-hash-2", client, NOW + 60)
                .await
                .unwrap(),
            ParConsumption::Unknown
        );
    }
    assert!(matches!(
        other
            .consume_par_request("request-uri-hash-2", "wallet-a", NOW + 59)
            .await
            .unwrap(),
        ParConsumption::Consumed(_)
    ));

    // A duplicate request_uri is refused.
    assert!(matches!(
        store.insert_par_request(&pushed).await,
        Err(StoreError::Database(_))
    ));
}

async fn concurrent_par_consumes_on_two_instances_yield_one_success(db: Db) {
    let a = db.store().await;
    let b = db.store().await;
    for round in 0..3 {
        a.insert_par_request(&par(round, "wallet-a", NOW + 60))
            .await
            .unwrap();
        let hash = format!("request-uri-hash-{round}");
        let results = race(&a, &b, 16, |store| {
            let hash = hash.clone();
            async move {
                store
                    .consume_par_request(&hash, "wallet-a", NOW)
                    .await
                    .unwrap()
            }
        })
        .await;
        let wins = results
            .iter()
            .filter(|r| matches!(r, ParConsumption::Consumed(_)))
            .count();
        assert_eq!(wins, 1, "round {round}: {results:?}");
        assert!(
            results
                .iter()
                .all(|r| matches!(r, ParConsumption::Consumed(_) | ParConsumption::Unknown))
        );
    }
}

async fn authorization_code_is_redeemed_once_then_replayed(db: Db) {
    let store = db.store().await;
    let issued = code(1, "grant-1", NOW + 60);
    store.insert_authorization_code(&issued).await.unwrap();
    store
        .insert_authorization_code(&code(2, "grant-2", NOW + 60))
        .await
        .unwrap();

    assert_eq!(
        store
            .redeem_authorization_code("code-hash-1", NOW)
            .await
            .unwrap(),
        CodeRedemption::Redeemed(issued.clone())
    );
    // A replay, on any instance and even after expiry, names the grant so
    // the caller can revoke it (ISS-TAC-03).
    let replayed = CodeRedemption::Replayed {
        grant_id: "grant-1".to_owned(),
    };
    let other = db.store().await;
    assert_eq!(
        store
            .redeem_authorization_code("code-hash-1", NOW)
            .await
            .unwrap(),
        replayed
    );
    assert_eq!(
        other
            .redeem_authorization_code("code-hash-1", NOW + 3_600)
            .await
            .unwrap(),
        replayed
    );

    // Unknown, and expired before redemption (ISS-TAC-02).
    assert_eq!(
        store
            .redeem_authorization_code("code-hash-x", NOW)
            .await
            .unwrap(),
        CodeRedemption::Unknown
    );
    assert_eq!(
        store
            .redeem_authorization_code("code-hash-2", NOW + 60)
            .await
            .unwrap(),
        CodeRedemption::Unknown
    );
    assert!(matches!(
        other
            .redeem_authorization_code("code-hash-2", NOW + 59)
            .await
            .unwrap(),
        CodeRedemption::Redeemed(_)
    ));

    // A duplicate code is refused.
    assert!(matches!(
        store.insert_authorization_code(&issued).await,
        Err(StoreError::Database(_))
    ));
}

async fn concurrent_code_redeems_on_two_instances_yield_one_success(db: Db) {
    // ISS-SEC-02: two instances share one database.
    let a = db.store().await;
    let b = db.store().await;
    for round in 0..3 {
        let grant_id = format!("grant-{round}");
        a.insert_authorization_code(&code(round, &grant_id, NOW + 60))
            .await
            .unwrap();
        let hash = format!("code-hash-{round}");
        let results = race(&a, &b, 16, |store| {
            let hash = hash.clone();
            async move { store.redeem_authorization_code(&hash, NOW).await.unwrap() }
        })
        .await;
        let wins = results
            .iter()
            .filter(|r| matches!(r, CodeRedemption::Redeemed(_)))
            .count();
        assert_eq!(wins, 1, "round {round}: {results:?}");
        // Every loser sees a replay of this grant.
        let replays = results
            .iter()
            .filter(|r| {
                **r == CodeRedemption::Replayed {
                    grant_id: grant_id.clone(),
                }
            })
            .count();
        assert_eq!(replays, 15, "round {round}: {results:?}");
    }
}

async fn refresh_token_rotates_once_then_is_reused(db: Db) {
    let store = db.store().await;
    let first = refresh("rt-1", "grant-1", NOW + 3_600);
    store.insert_refresh_token(&first).await.unwrap();

    assert_eq!(
        store.rotate_refresh_token("rt-1", NOW).await.unwrap(),
        RefreshRotation::Rotated(first.clone())
    );
    // Its successor rotates in turn; the old one is a reuse (ISS-TRT-03).
    store
        .insert_refresh_token(&refresh("rt-2", "grant-1", NOW + 3_600))
        .await
        .unwrap();
    let reused = RefreshRotation::Reused {
        grant_id: "grant-1".to_owned(),
    };
    let other = db.store().await;
    assert_eq!(
        other.rotate_refresh_token("rt-1", NOW).await.unwrap(),
        reused
    );
    assert!(matches!(
        other.rotate_refresh_token("rt-2", NOW + 1).await.unwrap(),
        RefreshRotation::Rotated(_)
    ));
    assert_eq!(
        store.rotate_refresh_token("rt-2", NOW + 2).await.unwrap(),
        reused
    );
    // A rotated token stays a reuse after its expiry, until purged.
    assert_eq!(
        store
            .rotate_refresh_token("rt-1", NOW + 7_200)
            .await
            .unwrap(),
        reused
    );

    // Unknown, and expired while active (ISS-TRT-05: the caller caps
    // expires_at at the family's maximum age).
    store
        .insert_refresh_token(&refresh("rt-3", "grant-3", NOW + 60))
        .await
        .unwrap();
    assert_eq!(
        store.rotate_refresh_token("rt-x", NOW).await.unwrap(),
        RefreshRotation::Unknown
    );
    assert_eq!(
        store.rotate_refresh_token("rt-3", NOW + 60).await.unwrap(),
        RefreshRotation::Unknown
    );
    assert!(matches!(
        store.rotate_refresh_token("rt-3", NOW + 59).await.unwrap(),
        RefreshRotation::Rotated(_)
    ));

    assert!(matches!(
        store.insert_refresh_token(&first).await,
        Err(StoreError::Database(_))
    ));
}

async fn concurrent_rotations_on_two_instances_yield_one_success(db: Db) {
    let a = db.store().await;
    let b = db.store().await;
    for round in 0..3 {
        let hash = format!("rt-{round}");
        a.insert_refresh_token(&refresh(&hash, "grant-1", NOW + 3_600))
            .await
            .unwrap();
        let results = race(&a, &b, 16, |store| {
            let hash = hash.clone();
            async move { store.rotate_refresh_token(&hash, NOW).await.unwrap() }
        })
        .await;
        let wins = results
            .iter()
            .filter(|r| matches!(r, RefreshRotation::Rotated(_)))
            .count();
        assert_eq!(wins, 1, "round {round}: {results:?}");
        assert!(results.iter().all(|r| matches!(
            r,
            RefreshRotation::Rotated(_) | RefreshRotation::Reused { .. }
        )));
    }
}

async fn revoke_grant_revokes_only_that_grant(db: Db) {
    let store = db.store().await;
    // Grant A: two access tokens, a rotated and an active refresh token.
    let a1 = access("at-a1", Some("grant-a"), NOW + 300);
    store.insert_access_token(&a1).await.unwrap();
    store
        .insert_access_token(&access("at-a2", Some("grant-a"), NOW + 300))
        .await
        .unwrap();
    store
        .insert_refresh_token(&refresh("rt-a1", "grant-a", NOW + 3_600))
        .await
        .unwrap();
    assert!(matches!(
        store.rotate_refresh_token("rt-a1", NOW).await.unwrap(),
        RefreshRotation::Rotated(_)
    ));
    store
        .insert_refresh_token(&refresh("rt-a2", "grant-a", NOW + 3_600))
        .await
        .unwrap();
    // Grant B and a pre-authorized token (no grant id).
    store
        .insert_access_token(&access("at-b1", Some("grant-b"), NOW + 300))
        .await
        .unwrap();
    store
        .insert_refresh_token(&refresh("rt-b1", "grant-b", NOW + 3_600))
        .await
        .unwrap();
    store
        .insert_access_token(&access("at-p1", None, NOW + 300))
        .await
        .unwrap();

    assert_eq!(
        store.access_token("at-a1", NOW).await.unwrap(),
        Some(a1.clone())
    );
    // Two access tokens and the one active refresh token.
    assert_eq!(store.revoke_grant("grant-a").await.unwrap(), 3);

    let other = db.store().await;
    for hash in ["at-a1", "at-a2"] {
        assert_eq!(other.access_token(hash, NOW).await.unwrap(), None, "{hash}");
    }
    let reused = RefreshRotation::Reused {
        grant_id: "grant-a".to_owned(),
    };
    for hash in ["rt-a1", "rt-a2"] {
        assert_eq!(
            other.rotate_refresh_token(hash, NOW).await.unwrap(),
            reused,
            "{hash}"
        );
    }
    // Grant B and the pre-authorized token are untouched.
    assert!(other.access_token("at-b1", NOW).await.unwrap().is_some());
    assert!(other.access_token("at-p1", NOW).await.unwrap().is_some());
    assert!(matches!(
        other.rotate_refresh_token("rt-b1", NOW).await.unwrap(),
        RefreshRotation::Rotated(_)
    ));

    // Idempotent; an unknown grant changes nothing.
    assert_eq!(store.revoke_grant("grant-a").await.unwrap(), 0);
    assert_eq!(store.revoke_grant("grant-x").await.unwrap(), 0);

    // A token of the grant stored after the revocation (a token request in
    // flight when the replay was detected) is refused too.
    store
        .insert_access_token(&access("at-a3", Some("grant-a"), NOW + 300))
        .await
        .unwrap();
    store
        .insert_refresh_token(&refresh("rt-a3", "grant-a", NOW + 3_600))
        .await
        .unwrap();
    assert_eq!(store.access_token("at-a3", NOW).await.unwrap(), None);
    assert_eq!(
        store.rotate_refresh_token("rt-a3", NOW).await.unwrap(),
        reused
    );
}

async fn auth_session_lifecycle(db: Db) {
    let store = db.store().await;
    let opened = session(1, NOW + 600);
    store.insert_auth_session(&opened).await.unwrap();

    // Any instance serves any step.
    let other = db.store().await;
    assert_eq!(
        other.auth_session("session-hash-1", NOW).await.unwrap(),
        Some(opened.clone())
    );
    assert_eq!(
        store.auth_session("session-hash-x", NOW).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .auth_session("session-hash-1", NOW + 600)
            .await
            .unwrap(),
        None
    );

    // Failed logins are counted (ISS-AUTHZ-04).
    assert_eq!(
        store.record_failed_login("session-hash-1").await.unwrap(),
        1
    );
    assert_eq!(
        other.record_failed_login("session-hash-1").await.unwrap(),
        2
    );
    assert_eq!(
        store.record_failed_login("session-hash-x").await.unwrap(),
        0
    );

    // Login records the holder.
    assert!(
        other
            .set_auth_session_holder("session-hash-1", "holder-1", NOW)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_auth_session_holder("session-hash-x", "holder-1", NOW)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_auth_session_holder("session-hash-1", "holder-2", NOW + 600)
            .await
            .unwrap()
    );
    let logged_in = AuthSessionRecord {
        holder_id: Some("holder-1".to_owned()),
        failed_logins: 2,
        ..opened.clone()
    };
    assert_eq!(
        store.auth_session("session-hash-1", NOW).await.unwrap(),
        Some(logged_in.clone())
    );

    // Consent consumes it, once.
    assert_eq!(
        store
            .consume_auth_session("session-hash-1", NOW + 1)
            .await
            .unwrap(),
        Some(logged_in)
    );
    assert_eq!(
        other
            .consume_auth_session("session-hash-1", NOW + 1)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        other.auth_session("session-hash-1", NOW).await.unwrap(),
        None
    );
    assert!(
        !other
            .set_auth_session_holder("session-hash-1", "holder-1", NOW)
            .await
            .unwrap()
    );
    assert_eq!(
        store.record_failed_login("session-hash-1").await.unwrap(),
        0
    );

    // An expired session cannot be consumed.
    store
        .insert_auth_session(&session(2, NOW + 600))
        .await
        .unwrap();
    assert_eq!(
        store
            .consume_auth_session("session-hash-2", NOW + 600)
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .consume_auth_session("session-hash-2", NOW + 599)
            .await
            .unwrap()
            .is_some()
    );

    assert!(matches!(
        store.insert_auth_session(&opened).await,
        Err(StoreError::Database(_))
    ));
}

async fn concurrent_auth_session_steps_on_two_instances(db: Db) {
    let a = db.store().await;
    let b = db.store().await;
    a.insert_auth_session(&session(1, NOW + 600)).await.unwrap();

    // Every concurrent failure is counted.
    let mut counts = race(&a, &b, 10, |store| async move {
        store.record_failed_login("session-hash-1").await.unwrap()
    })
    .await;
    counts.sort_unstable();
    assert_eq!(counts, (1..=10).collect::<Vec<u32>>());

    // Exactly one concurrent consent wins.
    for round in 0..3 {
        let hash = format!("session-hash-{}", round + 10);
        a.insert_auth_session(&AuthSessionRecord {
            session_hash: hash.clone(),
            ..session(round, NOW + 600)
        })
        .await
        .unwrap();
        let results = race(&a, &b, 16, |store| {
            let hash = hash.clone();
            async move { store.consume_auth_session(&hash, NOW).await.unwrap() }
        })
        .await;
        let wins = results.iter().filter(|r| r.is_some()).count();
        assert_eq!(wins, 1, "round {round}");
    }
}

async fn holder_password_round_trip(db: Db) {
    let store = db.store().await;
    let phc = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
    assert!(!store.set_holder_password("nobody", phc).await.unwrap());
    assert_eq!(store.holder_password("nobody").await.unwrap(), None);

    let holder = Holder {
        id: "holder-1".to_owned(),
        claims: json!({"given_name": "Erika"}).as_object().unwrap().clone(),
    };
    store.upsert_holder(&holder).await.unwrap();
    assert_eq!(store.holder_password("holder-1").await.unwrap(), None);
    assert!(store.set_holder_password("holder-1", phc).await.unwrap());
    let other = db.store().await;
    assert_eq!(
        other.holder_password("holder-1").await.unwrap(),
        Some(phc.to_owned())
    );
    // Holder data is unaffected, and replacing the claims keeps the password.
    assert_eq!(
        other.holder("holder-1").await.unwrap(),
        Some(holder.clone())
    );
    store
        .upsert_holder(&Holder {
            claims: json!({"given_name": "Erika", "family_name": "Gabler"})
                .as_object()
                .unwrap()
                .clone(),
            ..holder
        })
        .await
        .unwrap();
    assert_eq!(
        store.holder_password("holder-1").await.unwrap(),
        Some(phc.to_owned())
    );
    // A new password replaces the old one.
    assert!(other.set_holder_password("holder-1", "$new").await.unwrap());
    assert_eq!(
        store.holder_password("holder-1").await.unwrap(),
        Some("$new".to_owned())
    );
}

async fn purge_expired_covers_the_authorization_code_flow(db: Db) {
    let store = db.store().await;
    assert_eq!(store.purge_expired(NOW).await.unwrap(), 0);

    // Pushed requests: expired unused, expired used, edge, live.
    store
        .insert_par_request(&par(1, "wallet-a", NOW - 1))
        .await
        .unwrap();
    store
        .insert_par_request(&par(2, "wallet-a", NOW - 5))
        .await
        .unwrap();
    assert!(matches!(
        store
            .consume_par_request("request-uri-hash-2", "wallet-a", NOW - 10)
            .await
            .unwrap(),
        ParConsumption::Consumed(_)
    ));
    store
        .insert_par_request(&par(3, "wallet-a", NOW))
        .await
        .unwrap();
    store
        .insert_par_request(&par(4, "wallet-a", NOW + 60))
        .await
        .unwrap();
    // Codes: expired unredeemed, expired redeemed, live.
    store
        .insert_authorization_code(&code(1, "grant-old", NOW - 1))
        .await
        .unwrap();
    store
        .insert_authorization_code(&code(2, "grant-old", NOW - 5))
        .await
        .unwrap();
    assert!(matches!(
        store
            .redeem_authorization_code("code-hash-2", NOW - 10)
            .await
            .unwrap(),
        CodeRedemption::Redeemed(_)
    ));
    store
        .insert_authorization_code(&code(3, "grant-new", NOW + 60))
        .await
        .unwrap();
    // Sessions: expired, consumed but live (kept until expiry), live.
    store
        .insert_auth_session(&session(1, NOW - 1))
        .await
        .unwrap();
    store
        .insert_auth_session(&session(2, NOW + 600))
        .await
        .unwrap();
    assert!(
        store
            .consume_auth_session("session-hash-2", NOW)
            .await
            .unwrap()
            .is_some()
    );
    store
        .insert_auth_session(&session(3, NOW + 600))
        .await
        .unwrap();
    // Refresh tokens: expired rotated, live; an expired access token.
    store
        .insert_refresh_token(&refresh("rt-old", "grant-old", NOW - 1))
        .await
        .unwrap();
    assert!(matches!(
        store.rotate_refresh_token("rt-old", NOW - 2).await.unwrap(),
        RefreshRotation::Rotated(_)
    ));
    store
        .insert_refresh_token(&refresh("rt-new", "grant-new", NOW + 3_600))
        .await
        .unwrap();
    store
        .insert_access_token(&access("at-old", Some("grant-old"), NOW - 1))
        .await
        .unwrap();
    // Both grants revoked: only grant-old loses every row.
    assert_eq!(store.revoke_grant("grant-old").await.unwrap(), 1);
    assert_eq!(store.revoke_grant("grant-new").await.unwrap(), 1);

    // 2 requests, 2 codes, 1 session, 1 refresh token, 1 access token and
    // the mark of grant-old.
    assert_eq!(store.purge_expired(NOW).await.unwrap(), 8);
    assert_eq!(store.purge_expired(NOW).await.unwrap(), 0);

    // Purged values are unknown, and their hashes are free again.
    assert_eq!(
        store
            .redeem_authorization_code("code-hash-2", NOW)
            .await
            .unwrap(),
        CodeRedemption::Unknown
    );
    assert_eq!(
        store.rotate_refresh_token("rt-old", NOW).await.unwrap(),
        RefreshRotation::Unknown
    );
    store
        .insert_par_request(&par(1, "wallet-a", NOW + 60))
        .await
        .unwrap();
    store
        .insert_authorization_code(&code(1, "grant-1", NOW + 60))
        .await
        .unwrap();
    store
        .insert_auth_session(&session(1, NOW + 600))
        .await
        .unwrap();
    // grant-old is no longer marked: a new token of that id would be live.
    store
        .insert_access_token(&access("at-old-2", Some("grant-old"), NOW + 60))
        .await
        .unwrap();
    assert!(store.access_token("at-old-2", NOW).await.unwrap().is_some());

    // The rest remains.
    assert!(matches!(
        store
            .consume_par_request("request-uri-hash-4", "wallet-a", NOW)
            .await
            .unwrap(),
        ParConsumption::Consumed(_)
    ));
    assert!(matches!(
        store
            .redeem_authorization_code("code-hash-3", NOW)
            .await
            .unwrap(),
        CodeRedemption::Redeemed(_)
    ));
    assert!(
        store
            .auth_session("session-hash-3", NOW - 1)
            .await
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        store.insert_auth_session(&session(2, NOW + 600)).await,
        Err(StoreError::Database(_))
    ));
    // grant-new keeps its mark while it has rows.
    assert_eq!(
        store.rotate_refresh_token("rt-new", NOW).await.unwrap(),
        RefreshRotation::Reused {
            grant_id: "grant-new".to_owned()
        }
    );
    // The edge request (expires_at == now) is kept, though no longer usable.
    assert!(matches!(
        store.insert_par_request(&par(3, "wallet-a", NOW)).await,
        Err(StoreError::Database(_))
    ));
}

async fn corrupt_flow_rows_are_errors_not_panics(db: Db) {
    let store = db.store().await;
    let mut raw = db.raw().await;
    for sql in [
        "INSERT INTO par_requests (request_uri_hash, client_id, request_json, state, \
         created_at, expires_at) VALUES ('p', 'c', '{', 'pushed', 0, 1800000000)",
        "INSERT INTO authorization_codes (code_hash, grant_id, client_id, grant_json, state, \
         issued_at, expires_at) VALUES ('a', 'g', 'c', 'not json', 'issued', 0, 1800000000)",
        "INSERT INTO refresh_tokens (token_hash, grant_id, grant_json, state, issued_at, \
         expires_at) VALUES ('r', 'g', '[', 'active', 0, 1800000000)",
        "INSERT INTO auth_sessions (session_hash, request_json, csrf_hash, holder_id, \
         failed_logins, state, created_at, expires_at) \
         VALUES ('s', '{}', 'x', NULL, -1, 'open', 0, 1800000000)",
    ] {
        raw.execute(sql).await.expect(sql);
    }
    raw.close().await.unwrap();

    assert!(matches!(
        store.consume_par_request("p", "c", NOW).await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        store.redeem_authorization_code("a", NOW).await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        store.rotate_refresh_token("r", NOW).await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        store.auth_session("s", NOW).await,
        Err(StoreError::Corrupt(_))
    ));
}

/// ISS-OFFER-03, ISS-PAR-09: an authorization-code offer's issuer_state is
/// single use and expires; consuming it closes the offer's by-reference URI.
async fn issuer_state_is_consumed_once_and_closes_its_offer(db: Db) {
    let store = db.store().await;
    store
        .insert_offer(&NewOffer {
            offer_id: "offer-az".to_owned(),
            offer_json: json!({"credential_issuer": "https://i.example"}),
            holder_id: "holder-1".to_owned(),
            configuration_ids: vec!["pid".to_owned()],
            pre_authorized_code_hash: "unusable:offer-az".to_owned(),
            tx_code_hash: None,
            created_at: NOW,
            expires_at: NOW + 600,
        })
        .await
        .unwrap();
    let record = IssuerStateRecord {
        issuer_state_hash: "state-hash".to_owned(),
        offer_id: "offer-az".to_owned(),
        holder_id: "holder-1".to_owned(),
        configuration_ids: vec!["pid".to_owned()],
        expires_at: NOW + 600,
    };
    store.insert_issuer_state(&record).await.unwrap();
    store
        .insert_issuer_state(&IssuerStateRecord {
            issuer_state_hash: "old".to_owned(),
            expires_at: NOW - 1,
            ..record.clone()
        })
        .await
        .unwrap();
    assert!(store.offer_json("offer-az", NOW).await.unwrap().is_some());
    assert_eq!(store.consume_issuer_state("old", NOW).await.unwrap(), None);
    assert_eq!(
        store.consume_issuer_state("state-hash", NOW).await.unwrap(),
        Some(record)
    );
    assert_eq!(
        store.consume_issuer_state("state-hash", NOW).await.unwrap(),
        None
    );
    assert_eq!(store.offer_json("offer-az", NOW).await.unwrap(), None);
    assert_eq!(
        store.consume_issuer_state("unknown", NOW).await.unwrap(),
        None
    );
}
