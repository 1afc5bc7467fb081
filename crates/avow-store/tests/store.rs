//! The store's original suite (offers, access tokens, single-use values,
//! holders, issuances), run against both backends by the harness in
//! `common`.

#[macro_use]
mod common;

use avow_store::{
    AccessTokenRecord, Backend, Holder, IssuanceRecord, NewOffer, PreAuthorizedGrant, StoreError,
};
use common::{Db, NOW, run};
use serde_json::json;
use sqlx::{Connection, Executor, Row};

suite!(
    migrations_are_idempotent,
    shared_secret_is_agreed,
    holder_round_trip,
    offer_json_is_readable_until_redeemed_or_expired,
    pre_authorized_grant_follows_state,
    wrong_tx_codes_are_counted_and_invalidate_at_max,
    redeem_succeeds_exactly_once,
    concurrent_redeems_on_two_instances_yield_one_success,
    access_token_expires,
    consume_once_rejects_replay,
    concurrent_consume_once_on_two_instances_yields_one_success,
    consume_all_once_is_all_or_nothing,
    concurrent_consume_all_once_on_two_instances_yields_one_success,
    purge_expired_removes_only_expired,
    issuance_records,
    corrupt_rows_are_errors_not_panics,
);

// ---------------------------------------------------------------- fixtures

fn offer(n: u32, expires_at: i64, tx_code: bool) -> NewOffer {
    NewOffer {
        offer_id: format!("offer-{n}"),
        offer_json: json!({
            "credential_issuer": "https://issuer.example",
            "credential_configuration_ids": ["pid_sd_jwt"],
            "grants": {"urn:ietf:params:oauth:grant-type:pre-authorized_code": {
                "pre-authorized_code": format!("raw-code-{n}")
            }}
        }),
        holder_id: "holder-1".to_owned(),
        configuration_ids: vec!["pid_sd_jwt".to_owned(), "pid_mdoc".to_owned()],
        pre_authorized_code_hash: format!("code-hash-{n}"),
        tx_code_hash: tx_code.then(|| format!("tx-hash-{n}")),
        created_at: NOW - 10,
        expires_at,
    }
}

fn token(hash: &str, expires_at: i64) -> AccessTokenRecord {
    AccessTokenRecord {
        token_hash: hash.to_owned(),
        holder_id: "holder-1".to_owned(),
        configuration_ids: vec!["pid_sd_jwt".to_owned()],
        client_id: Some("wallet-instance-7".to_owned()),
        dpop_jkt: "jkt-abc".to_owned(),
        offer_id: Some("offer-1".to_owned()),
        grant_id: None,
        authorization_details: None,
        certificate_thumbprint: None,
        issued_at: NOW,
        expires_at,
    }
}

fn issuance(id: &str, holder_id: &str, issued_at: i64) -> IssuanceRecord {
    IssuanceRecord {
        id: id.to_owned(),
        holder_id: holder_id.to_owned(),
        configuration_id: "pid_sd_jwt".to_owned(),
        key_thumbprint: format!("kt-{id}"),
        issued_at,
        expires_at: issued_at + 86_400,
        status_list_id: None,
        status_index: None,
    }
}

// ---------------------------------------------------------------- bodies

async fn migrations_are_idempotent(db: Db) {
    let first = db.store().await;
    first
        .upsert_holder(&Holder {
            id: "h".to_owned(),
            claims: serde_json::Map::new(),
        })
        .await
        .unwrap();
    // A second connect (a restart, or a second instance) runs the
    // migrations again without error and sees the same data.
    let second = db.store().await;
    let third = db.store().await;
    assert_eq!(second.holders().await.unwrap().len(), 1);
    assert_eq!(
        third.holder("h").await.unwrap().map(|h| h.id),
        Some("h".to_owned())
    );

    if db.backend == Backend::Sqlite {
        // The after_connect pragmas took effect (WAL is persistent in the file).
        let mut raw = db.raw().await;
        let row = sqlx::query("PRAGMA journal_mode")
            .fetch_one(&mut raw)
            .await
            .unwrap();
        let mode: String = row.try_get(0).unwrap();
        assert_eq!(mode, "wal");
        raw.close().await.unwrap();
    }
}

async fn shared_secret_is_agreed(db: Db) {
    let a = db.store().await;
    let b = db.store().await;
    let secret: Vec<u8> = (0..=255).collect();
    assert_eq!(a.shared_secret("nonce-key", &secret).await.unwrap(), secret);
    // A later candidate never replaces the stored secret.
    assert_eq!(
        b.shared_secret("nonce-key", &[9; 32]).await.unwrap(),
        secret
    );
    assert_eq!(
        a.shared_secret("nonce-key", &[7; 32]).await.unwrap(),
        secret
    );
    // Names are independent.
    assert_eq!(
        b.shared_secret("other", &[1, 2, 3]).await.unwrap(),
        vec![1, 2, 3]
    );

    // Concurrent first use with different candidates: everyone agrees.
    let mut tasks = Vec::new();
    for i in 0..8u8 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            store.shared_secret("race", &[i; 16]).await.unwrap()
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    assert!(results.iter().all(|r| r == &results[0]), "{results:?}");
    assert_eq!(results[0].len(), 16);
}

async fn holder_round_trip(db: Db) {
    let store = db.store().await;
    assert_eq!(store.holder("nobody").await.unwrap(), None);
    assert!(store.holders().await.unwrap().is_empty());

    let claims = json!({
        "given_name": "Erika",
        "family_name": "Mustermann",
        "birthdate": "1964-08-12",
        "address": {"locality": "Köln", "street_address": "Heidestraße 17"},
        "nationalities": ["DE"],
        "age_over_18": true,
        "age_in_years": 60
    });
    let erika = Holder {
        id: "holder-b".to_owned(),
        claims: claims.as_object().unwrap().clone(),
    };
    let max = Holder {
        id: "holder-a".to_owned(),
        claims: json!({"given_name": "Max"}).as_object().unwrap().clone(),
    };
    store.upsert_holder(&erika).await.unwrap();
    store.upsert_holder(&max).await.unwrap();
    assert_eq!(store.holder("holder-b").await.unwrap(), Some(erika.clone()));
    assert_eq!(
        store.holders().await.unwrap(),
        vec![max.clone(), erika.clone()]
    );

    // Upsert replaces the claims.
    let renamed = Holder {
        id: "holder-b".to_owned(),
        claims: json!({"given_name": "Erika", "family_name": "Gabler"})
            .as_object()
            .unwrap()
            .clone(),
    };
    store.upsert_holder(&renamed).await.unwrap();
    assert_eq!(
        store.holder("holder-b").await.unwrap(),
        Some(renamed.clone())
    );
    assert_eq!(store.holders().await.unwrap(), vec![max, renamed]);
}

async fn offer_json_is_readable_until_redeemed_or_expired(db: Db) {
    let store = db.store().await;
    let first = offer(1, NOW + 300, false);
    store.insert_offer(&first).await.unwrap();

    // Readable repeatedly (preview, accept): not consumed by reading.
    for _ in 0..3 {
        assert_eq!(
            store.offer_json("offer-1", NOW).await.unwrap(),
            Some(first.offer_json.clone())
        );
    }
    assert_eq!(store.offer_json("offer-unknown", NOW).await.unwrap(), None);
    // Gone once expired (expires_at is the first second it is invalid).
    assert_eq!(
        store.offer_json("offer-1", NOW + 299).await.unwrap(),
        Some(first.offer_json.clone())
    );
    assert_eq!(store.offer_json("offer-1", NOW + 300).await.unwrap(), None);
    // Gone once redeemed.
    assert!(
        store
            .redeem_pre_authorized_code("code-hash-1", NOW)
            .await
            .unwrap()
    );
    assert_eq!(store.offer_json("offer-1", NOW).await.unwrap(), None);

    // Gone once invalidated by wrong tx_codes.
    store
        .insert_offer(&offer(2, NOW + 300, true))
        .await
        .unwrap();
    assert_eq!(
        store.record_wrong_tx_code("code-hash-2", 1).await.unwrap(),
        1
    );
    assert_eq!(store.offer_json("offer-2", NOW).await.unwrap(), None);

    // A duplicate offer id or code hash is refused.
    assert!(matches!(
        store.insert_offer(&offer(2, NOW + 300, true)).await,
        Err(StoreError::Database(_))
    ));
}

async fn pre_authorized_grant_follows_state(db: Db) {
    let store = db.store().await;
    store
        .insert_offer(&offer(1, NOW + 300, true))
        .await
        .unwrap();
    store
        .insert_offer(&offer(2, NOW + 300, false))
        .await
        .unwrap();

    assert_eq!(
        store
            .pre_authorized_grant("code-hash-1", NOW)
            .await
            .unwrap(),
        Some(PreAuthorizedGrant {
            offer_id: "offer-1".to_owned(),
            holder_id: "holder-1".to_owned(),
            configuration_ids: vec!["pid_sd_jwt".to_owned(), "pid_mdoc".to_owned()],
            tx_code_hash: Some("tx-hash-1".to_owned()),
            wrong_tx_code_attempts: 0,
            expires_at: NOW + 300,
        })
    );
    let no_tx = store
        .pre_authorized_grant("code-hash-2", NOW)
        .await
        .unwrap();
    assert_eq!(no_tx.map(|g| g.tx_code_hash), Some(None));

    // Unknown and expired (ISS-TPA-02).
    assert_eq!(
        store
            .pre_authorized_grant("code-hash-x", NOW)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .pre_authorized_grant("code-hash-1", NOW + 300)
            .await
            .unwrap(),
        None
    );
    // Redeemed.
    assert!(
        store
            .redeem_pre_authorized_code("code-hash-2", NOW)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .pre_authorized_grant("code-hash-2", NOW)
            .await
            .unwrap(),
        None
    );
    // The other code is unaffected.
    assert!(
        store
            .pre_authorized_grant("code-hash-1", NOW)
            .await
            .unwrap()
            .is_some()
    );
}

async fn wrong_tx_codes_are_counted_and_invalidate_at_max(db: Db) {
    let store = db.store().await;
    store
        .insert_offer(&offer(1, NOW + 300, true))
        .await
        .unwrap();

    // Mistakes below the maximum do not burn the code.
    assert_eq!(
        store.record_wrong_tx_code("code-hash-1", 3).await.unwrap(),
        1
    );
    assert_eq!(
        store.record_wrong_tx_code("code-hash-1", 3).await.unwrap(),
        2
    );
    let grant = store
        .pre_authorized_grant("code-hash-1", NOW)
        .await
        .unwrap();
    assert_eq!(grant.map(|g| g.wrong_tx_code_attempts), Some(2));

    // Reaching the maximum invalidates the code: even the right tx_code is
    // refused afterwards (ISS-TPA-05).
    assert_eq!(
        store.record_wrong_tx_code("code-hash-1", 3).await.unwrap(),
        3
    );
    assert_eq!(
        store
            .pre_authorized_grant("code-hash-1", NOW)
            .await
            .unwrap(),
        None
    );
    assert!(
        !store
            .redeem_pre_authorized_code("code-hash-1", NOW)
            .await
            .unwrap()
    );
    assert_eq!(
        store.record_wrong_tx_code("code-hash-1", 3).await.unwrap(),
        0
    );

    // Inactive codes are not counted.
    assert_eq!(
        store.record_wrong_tx_code("code-hash-x", 3).await.unwrap(),
        0
    );
    store
        .insert_offer(&offer(2, NOW + 300, true))
        .await
        .unwrap();
    assert!(
        store
            .redeem_pre_authorized_code("code-hash-2", NOW)
            .await
            .unwrap()
    );
    assert_eq!(
        store.record_wrong_tx_code("code-hash-2", 3).await.unwrap(),
        0
    );

    // Concurrent mistakes are all counted, and the code is invalidated once.
    store
        .insert_offer(&offer(3, NOW + 300, true))
        .await
        .unwrap();
    let other = db.store().await;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = if i % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            store.record_wrong_tx_code("code-hash-3", 5).await.unwrap()
        }));
    }
    let mut counts = Vec::new();
    for task in tasks {
        counts.push(task.await.unwrap());
    }
    counts.sort_unstable();
    assert_eq!(counts, vec![0, 0, 0, 0, 0, 1, 2, 3, 4, 5]);
    assert_eq!(
        store
            .pre_authorized_grant("code-hash-3", NOW)
            .await
            .unwrap(),
        None
    );
}

async fn redeem_succeeds_exactly_once(db: Db) {
    let store = db.store().await;
    store
        .insert_offer(&offer(1, NOW + 300, false))
        .await
        .unwrap();
    store
        .insert_offer(&offer(2, NOW + 300, false))
        .await
        .unwrap();

    assert!(
        !store
            .redeem_pre_authorized_code("code-hash-x", NOW)
            .await
            .unwrap()
    );
    // Expired codes cannot be redeemed.
    assert!(
        !store
            .redeem_pre_authorized_code("code-hash-1", NOW + 300)
            .await
            .unwrap()
    );
    assert!(
        store
            .redeem_pre_authorized_code("code-hash-1", NOW + 299)
            .await
            .unwrap()
    );
    assert!(
        !store
            .redeem_pre_authorized_code("code-hash-1", NOW)
            .await
            .unwrap()
    );
    // From another instance too.
    let other = db.store().await;
    assert!(
        !other
            .redeem_pre_authorized_code("code-hash-1", NOW)
            .await
            .unwrap()
    );
    assert!(
        other
            .redeem_pre_authorized_code("code-hash-2", NOW)
            .await
            .unwrap()
    );
    assert!(
        !store
            .redeem_pre_authorized_code("code-hash-2", NOW)
            .await
            .unwrap()
    );
}

async fn concurrent_redeems_on_two_instances_yield_one_success(db: Db) {
    // ISS-TPA-09, ISS-SEC-02: two instances share one database.
    let a = db.store().await;
    let b = db.store().await;
    for round in 0..3 {
        a.insert_offer(&offer(round, NOW + 300, false))
            .await
            .unwrap();
        let code = format!("code-hash-{round}");
        let mut tasks = Vec::new();
        for i in 0..16 {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let code = code.clone();
            tasks.push(tokio::spawn(async move {
                store.redeem_pre_authorized_code(&code, NOW).await.unwrap()
            }));
        }
        let mut wins = 0;
        for task in tasks {
            if task.await.unwrap() {
                wins += 1;
            }
        }
        assert_eq!(wins, 1, "round {round}");
    }
}

async fn access_token_expires(db: Db) {
    let store = db.store().await;
    let full = AccessTokenRecord {
        grant_id: Some("grant-1".to_owned()),
        certificate_thumbprint: Some("x5t-s256".to_owned()),
        authorization_details: Some(
            serde_json::json!([{"type": "openid_credential", "credential_configuration_id": "pid", "credential_identifiers": ["x"]}]),
        ),
        ..token("token-hash-1", NOW + 60)
    };
    let minimal = AccessTokenRecord {
        client_id: None,
        offer_id: None,
        configuration_ids: vec![],
        ..token("token-hash-2", NOW + 60)
    };
    store.insert_access_token(&full).await.unwrap();
    store.insert_access_token(&minimal).await.unwrap();

    // Any instance can serve the credential request (ISS-TOK-10).
    let other = db.store().await;
    assert_eq!(
        other.access_token("token-hash-1", NOW).await.unwrap(),
        Some(full.clone())
    );
    assert_eq!(
        other.access_token("token-hash-2", NOW + 59).await.unwrap(),
        Some(minimal)
    );
    assert_eq!(
        store.access_token("token-hash-1", NOW + 60).await.unwrap(),
        None
    );
    assert_eq!(store.access_token("token-hash-x", NOW).await.unwrap(), None);
    assert!(matches!(
        store.insert_access_token(&full).await,
        Err(StoreError::Database(_))
    ));
}

async fn consume_once_rejects_replay(db: Db) {
    let store = db.store().await;
    assert!(
        store
            .consume_once("c_nonce", "n-1", NOW + 300)
            .await
            .unwrap()
    );
    assert!(
        !store
            .consume_once("c_nonce", "n-1", NOW + 300)
            .await
            .unwrap()
    );
    // A later expiry does not reopen it.
    assert!(
        !store
            .consume_once("c_nonce", "n-1", NOW + 900)
            .await
            .unwrap()
    );
    // Scopes are independent.
    assert!(
        store
            .consume_once("dpop_jti", "n-1", NOW + 10)
            .await
            .unwrap()
    );
    assert!(
        store
            .consume_once("c_nonce", "n-2", NOW + 300)
            .await
            .unwrap()
    );
    // Another instance sees the consumption.
    let other = db.store().await;
    assert!(
        !other
            .consume_once("c_nonce", "n-1", NOW + 300)
            .await
            .unwrap()
    );
    assert!(
        !other
            .consume_once("dpop_jti", "n-1", NOW + 10)
            .await
            .unwrap()
    );
}

async fn concurrent_consume_once_on_two_instances_yields_one_success(db: Db) {
    let a = db.store().await;
    let b = db.store().await;
    for round in 0..3 {
        let value = format!("jti-{round}");
        let mut tasks = Vec::new();
        for i in 0..16 {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let value = value.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .consume_once("dpop_jti", &value, NOW + 10)
                    .await
                    .unwrap()
            }));
        }
        let mut wins = 0;
        for task in tasks {
            if task.await.unwrap() {
                wins += 1;
            }
        }
        assert_eq!(wins, 1, "round {round}");
    }
}

/// ISS-CRED-16, ISS-SEC-02: a batch of values is consumed all or nothing.
async fn consume_all_once_is_all_or_nothing(db: Db) {
    let store = db.store().await;
    assert!(store.consume_all_once("c_nonce", &[]).await.unwrap());
    assert!(
        store
            .consume_all_once("c_nonce", &[("a", NOW + 300), ("b", NOW + 300)])
            .await
            .unwrap()
    );
    // A value listed twice counts once.
    assert!(
        store
            .consume_all_once("c_nonce", &[("c", NOW + 300), ("c", NOW + 300)])
            .await
            .unwrap()
    );
    // One spent value: nothing of the batch is consumed.
    assert!(
        store
            .consume_once("c_nonce", "spent", NOW + 300)
            .await
            .unwrap()
    );
    assert!(
        !store
            .consume_all_once("c_nonce", &[("fresh-1", NOW + 300), ("spent", NOW + 300)])
            .await
            .unwrap()
    );
    assert!(
        !store
            .consume_all_once("c_nonce", &[("spent", NOW + 300), ("fresh-2", NOW + 300)])
            .await
            .unwrap()
    );
    let other = db.store().await;
    assert!(
        other
            .consume_once("c_nonce", "fresh-1", NOW + 300)
            .await
            .unwrap()
    );
    assert!(
        other
            .consume_once("c_nonce", "fresh-2", NOW + 300)
            .await
            .unwrap()
    );
    // The consumed ones are seen by every instance and every method.
    assert!(!other.consume_once("c_nonce", "a", NOW + 300).await.unwrap());
    assert!(
        !other
            .consume_all_once("c_nonce", &[("b", NOW + 300)])
            .await
            .unwrap()
    );
    // Scopes are independent.
    assert!(
        other
            .consume_all_once("dpop_jti", &[("a", NOW + 10), ("b", NOW + 10)])
            .await
            .unwrap()
    );
}

async fn concurrent_consume_all_once_on_two_instances_yields_one_success(db: Db) {
    let a = db.store().await;
    let b = db.store().await;
    for round in 0..3 {
        let shared = format!("shared-{round}");
        let mut tasks = Vec::new();
        for i in 0..8 {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let shared = shared.clone();
            // Each batch has its own value and the shared one, in either order.
            let own = format!("own-{round}-{i}");
            tasks.push(tokio::spawn(async move {
                let batch = if i % 4 < 2 {
                    [(own.as_str(), NOW + 300), (shared.as_str(), NOW + 300)]
                } else {
                    [(shared.as_str(), NOW + 300), (own.as_str(), NOW + 300)]
                };
                let won = store.consume_all_once("c_nonce", &batch).await.unwrap();
                (won, own)
            }));
        }
        let mut wins = 0;
        for task in tasks {
            let (won, own) = task.await.unwrap();
            if won {
                wins += 1;
            } else {
                // A loser spent nothing: its own value is still fresh.
                assert!(a.consume_once("c_nonce", &own, NOW + 300).await.unwrap());
            }
        }
        assert_eq!(wins, 1, "round {round}");
    }
}

async fn purge_expired_removes_only_expired(db: Db) {
    let store = db.store().await;
    assert_eq!(store.purge_expired(NOW).await.unwrap(), 0);

    assert!(store.consume_once("c_nonce", "old", NOW - 1).await.unwrap());
    assert!(store.consume_once("c_nonce", "edge", NOW).await.unwrap());
    assert!(
        store
            .consume_once("c_nonce", "new", NOW + 300)
            .await
            .unwrap()
    );
    store.insert_offer(&offer(1, NOW - 5, false)).await.unwrap();
    store
        .insert_offer(&offer(2, NOW + 300, false))
        .await
        .unwrap();
    store.insert_offer(&offer(3, NOW - 5, false)).await.unwrap();
    assert!(
        store
            .redeem_pre_authorized_code("code-hash-3", NOW - 10)
            .await
            .unwrap()
    );
    store
        .insert_access_token(&token("t-old", NOW - 1))
        .await
        .unwrap();
    store
        .insert_access_token(&token("t-new", NOW + 60))
        .await
        .unwrap();
    store
        .record_issuance(&issuance("i-1", "holder-1", NOW - 100_000))
        .await
        .unwrap();

    // old value, offers 1 and 3 (any state), old token.
    assert_eq!(store.purge_expired(NOW).await.unwrap(), 4);
    assert_eq!(store.purge_expired(NOW).await.unwrap(), 0);

    // Purged values can be recorded again; the others are still consumed.
    assert!(store.consume_once("c_nonce", "old", NOW - 1).await.unwrap());
    assert!(!store.consume_once("c_nonce", "edge", NOW).await.unwrap());
    assert!(
        !store
            .consume_once("c_nonce", "new", NOW + 300)
            .await
            .unwrap()
    );
    // The live offer and token remain; purged offer ids are free again.
    assert!(store.offer_json("offer-2", NOW).await.unwrap().is_some());
    assert!(store.access_token("t-new", NOW).await.unwrap().is_some());
    store
        .insert_offer(&offer(1, NOW + 300, false))
        .await
        .unwrap();
    // Issuance records are lifecycle data, never purged.
    assert_eq!(
        store.issuances_for_holder("holder-1").await.unwrap().len(),
        1
    );
}

async fn issuance_records(db: Db) {
    let store = db.store().await;
    assert!(
        store
            .issuances_for_holder("holder-1")
            .await
            .unwrap()
            .is_empty()
    );
    let later = issuance("i-2", "holder-1", NOW + 10);
    let earlier = issuance("i-1", "holder-1", NOW);
    let same_time = issuance("i-3", "holder-1", NOW + 10);
    let elsewhere = issuance("i-4", "holder-2", NOW);
    for record in [&later, &earlier, &same_time, &elsewhere] {
        store.record_issuance(record).await.unwrap();
    }
    assert_eq!(
        store.issuances_for_holder("holder-1").await.unwrap(),
        vec![earlier.clone(), later, same_time]
    );
    assert_eq!(
        store.issuances_for_holder("holder-2").await.unwrap(),
        vec![elsewhere]
    );
    assert!(matches!(
        store.record_issuance(&earlier).await,
        Err(StoreError::Database(_))
    ));
}

async fn corrupt_rows_are_errors_not_panics(db: Db) {
    let store = db.store().await;
    let mut raw = db.raw().await;
    for sql in [
        "INSERT INTO holders (id, claims) VALUES ('bad-json', 'not json')",
        "INSERT INTO holders (id, claims) VALUES ('not-object', '[1, 2]')",
        "INSERT INTO offers (offer_id, offer_json, holder_id, configuration_ids, \
         pre_authorized_code_hash, tx_code_hash, state, wrong_tx_code_attempts, \
         created_at, expires_at) \
         VALUES ('o', '{', 'h', '{\"not\": \"a list\"}', 'c', NULL, 'offered', -1, 0, 1800000000)",
        "INSERT INTO shared_secrets (name, secret) VALUES ('s', 'not hex')",
    ] {
        raw.execute(sql).await.expect(sql);
    }
    raw.close().await.unwrap();

    assert!(matches!(
        store.holder("bad-json").await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        store.holder("not-object").await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(store.holders().await, Err(StoreError::Corrupt(_))));
    assert!(matches!(
        store.offer_json("o", NOW).await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        store.pre_authorized_grant("c", NOW).await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        store.shared_secret("s", &[1]).await,
        Err(StoreError::Corrupt(_))
    ));
}
