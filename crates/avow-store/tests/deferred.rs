//! Deferred transactions and notifications in the store (ISS-DEF-02, -04,
//! -06 … -08, ISS-NOTIF-03, -04, -06), run against both backends by the
//! harness in `common`.

#[macro_use]
mod common;

use avow_store::{
    DeferredDecision, DeferredState, DeferredTransactionRecord, NotificationRecord, StoreError,
};
use common::{Db, NOW, run};
use serde_json::json;
use sqlx::Executor;

suite!(
    transaction_round_trip_and_survives_reconnect,
    listing_filters_by_state_and_holder,
    decisions_happen_once,
    expired_transactions_cannot_be_decided,
    claim_succeeds_exactly_once_and_release_undoes_it,
    concurrent_claims_on_two_instances_yield_one_success,
    notification_round_trip_and_expiry,
    notification_events_are_idempotent,
    purge_removes_expired_transactions_and_notifications,
    corrupt_deferred_rows_are_errors,
);

fn transaction(n: u32, holder: &str, expires_at: i64) -> DeferredTransactionRecord {
    DeferredTransactionRecord {
        id: format!("tx-{n}"),
        transaction_hash: format!("hash-{n}"),
        holder_id: holder.to_owned(),
        configuration_id: "pid".to_owned(),
        grant_key: format!("offer:offer-{n}"),
        client_id: Some("wallet".to_owned()),
        holder_keys: vec![json!({"kty": "EC", "crv": "P-256", "x": "x", "y": "y"})],
        response_encrypted: n.is_multiple_of(2),
        interval: 30,
        state: DeferredState::Pending,
        reason: None,
        created_at: NOW + i64::from(n),
        decided_at: None,
        last_polled_at: None,
        issued_at: None,
        expires_at,
        purge_at: expires_at + 100,
    }
}

fn notification(n: u32, holder: &str, expires_at: i64) -> NotificationRecord {
    NotificationRecord {
        id: format!("n-{n}"),
        notification_hash: format!("nhash-{n}"),
        grant_key: format!("grant:g-{n}"),
        holder_id: holder.to_owned(),
        configuration_id: "pid".to_owned(),
        credential_count: 2,
        deferred_id: (n.is_multiple_of(2)).then(|| format!("tx-{n}")),
        created_at: NOW + i64::from(n),
        expires_at,
    }
}

/// ISS-DEF-02: what is stored is read back whole, by hash and by id, from a
/// fresh connection (a restarted instance).
async fn transaction_round_trip_and_survives_reconnect(db: Db) {
    let store = db.store().await;
    let record = transaction(1, "alice", NOW + 1000);
    store
        .insert_deferred_transaction(&record)
        .await
        .expect("insert");
    assert!(
        store.insert_deferred_transaction(&record).await.is_err(),
        "duplicate"
    );
    let restarted = db.store().await;
    assert_eq!(
        restarted
            .deferred_transaction_by_hash("hash-1")
            .await
            .expect("read"),
        Some(record.clone())
    );
    assert_eq!(
        restarted.deferred_transaction("tx-1").await.expect("read"),
        Some(record.clone())
    );
    assert_eq!(
        restarted
            .deferred_transaction_by_hash("tx-1")
            .await
            .expect("read"),
        None,
        "the operator id is not the transaction_id"
    );
    restarted
        .touch_deferred_transaction("hash-1", NOW + 5)
        .await
        .expect("touch");
    let touched = restarted
        .deferred_transaction("tx-1")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(touched.last_polled_at, Some(NOW + 5));
}

async fn listing_filters_by_state_and_holder(db: Db) {
    let store = db.store().await;
    for (n, holder) in [(3, "bob"), (1, "alice"), (2, "alice")] {
        store
            .insert_deferred_transaction(&transaction(n, holder, NOW + 1000))
            .await
            .expect("insert");
    }
    store
        .decide_deferred_transaction("tx-2", true, None, NOW)
        .await
        .expect("approve");
    let ids = |list: Vec<DeferredTransactionRecord>| -> Vec<String> {
        list.into_iter().map(|r| r.id).collect()
    };
    assert_eq!(
        ids(store.deferred_transactions(None, None).await.expect("all")),
        ["tx-1", "tx-2", "tx-3"]
    );
    assert_eq!(
        ids(store
            .deferred_transactions(Some(DeferredState::Pending), None)
            .await
            .expect("pending")),
        ["tx-1", "tx-3"]
    );
    assert_eq!(
        ids(store
            .deferred_transactions(None, Some("alice"))
            .await
            .expect("alice")),
        ["tx-1", "tx-2"]
    );
    assert_eq!(
        ids(store
            .deferred_transactions(Some(DeferredState::Approved), Some("alice"))
            .await
            .expect("both")),
        ["tx-2"]
    );
    assert!(
        store
            .deferred_transactions(Some(DeferredState::Denied), Some("bob"))
            .await
            .expect("none")
            .is_empty()
    );
}

/// ISS-DEF-08: a pending transaction is approved or denied exactly once.
async fn decisions_happen_once(db: Db) {
    let store = db.store().await;
    store
        .insert_deferred_transaction(&transaction(1, "alice", NOW + 1000))
        .await
        .expect("insert");
    store
        .insert_deferred_transaction(&transaction(2, "alice", NOW + 1000))
        .await
        .expect("insert");
    match store
        .decide_deferred_transaction("tx-1", true, None, NOW)
        .await
        .expect("approve")
    {
        DeferredDecision::Decided(record) => {
            assert_eq!(record.state, DeferredState::Approved);
            assert_eq!(record.decided_at, Some(NOW));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store
            .decide_deferred_transaction("tx-1", false, Some("late"), NOW + 1)
            .await
            .expect("deny"),
        DeferredDecision::NotPending(DeferredState::Approved)
    );
    match store
        .decide_deferred_transaction("tx-2", false, Some("no documents"), NOW)
        .await
        .expect("deny")
    {
        DeferredDecision::Decided(record) => {
            assert_eq!(record.state, DeferredState::Denied);
            assert_eq!(record.reason.as_deref(), Some("no documents"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store
            .decide_deferred_transaction("tx-2", true, None, NOW)
            .await
            .expect("approve"),
        DeferredDecision::NotPending(DeferredState::Denied)
    );
    assert_eq!(
        store
            .decide_deferred_transaction("tx-9", true, None, NOW)
            .await
            .expect("unknown"),
        DeferredDecision::Unknown
    );
}

async fn expired_transactions_cannot_be_decided(db: Db) {
    let store = db.store().await;
    store
        .insert_deferred_transaction(&transaction(1, "alice", NOW + 10))
        .await
        .expect("insert");
    assert_eq!(
        store
            .decide_deferred_transaction("tx-1", true, None, NOW + 10)
            .await
            .expect("approve"),
        DeferredDecision::Expired
    );
    // An approved transaction that expires cannot be claimed either.
    store
        .insert_deferred_transaction(&transaction(2, "alice", NOW + 10))
        .await
        .expect("insert");
    store
        .decide_deferred_transaction("tx-2", true, None, NOW)
        .await
        .expect("approve");
    assert!(
        !store
            .claim_deferred_transaction("hash-2", NOW + 10)
            .await
            .expect("claim")
    );
}

/// ISS-DEF-04, -06: an approved transaction is claimed once; pending or
/// denied ones never; a release makes it claimable again.
async fn claim_succeeds_exactly_once_and_release_undoes_it(db: Db) {
    let store = db.store().await;
    store
        .insert_deferred_transaction(&transaction(1, "alice", NOW + 1000))
        .await
        .expect("insert");
    assert!(
        !store
            .claim_deferred_transaction("hash-1", NOW)
            .await
            .expect("pending")
    );
    store
        .decide_deferred_transaction("tx-1", true, None, NOW)
        .await
        .expect("approve");
    assert!(
        store
            .claim_deferred_transaction("hash-1", NOW + 1)
            .await
            .expect("claim")
    );
    assert!(
        !store
            .claim_deferred_transaction("hash-1", NOW + 2)
            .await
            .expect("again")
    );
    let issued = store
        .deferred_transaction("tx-1")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(issued.state, DeferredState::Issued);
    assert_eq!(issued.issued_at, Some(NOW + 1));
    store
        .release_deferred_transaction("hash-1")
        .await
        .expect("release");
    assert!(
        store
            .claim_deferred_transaction("hash-1", NOW + 3)
            .await
            .expect("claim after release")
    );
    store
        .insert_deferred_transaction(&transaction(2, "alice", NOW + 1000))
        .await
        .expect("insert");
    store
        .decide_deferred_transaction("tx-2", false, None, NOW)
        .await
        .expect("deny");
    assert!(
        !store
            .claim_deferred_transaction("hash-2", NOW)
            .await
            .expect("denied")
    );
    // A claimed transaction that cannot be issued ends denied.
    store
        .insert_deferred_transaction(&transaction(3, "alice", NOW + 1000))
        .await
        .expect("insert");
    store
        .decide_deferred_transaction("tx-3", true, None, NOW)
        .await
        .expect("approve");
    assert!(
        store
            .claim_deferred_transaction("hash-3", NOW)
            .await
            .expect("claim")
    );
    store
        .fail_deferred_transaction("hash-3", "holder data incomplete", NOW + 1)
        .await
        .expect("fail");
    let failed = store
        .deferred_transaction("tx-3")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        (failed.state, failed.reason.as_deref(), failed.issued_at),
        (DeferredState::Denied, Some("holder data incomplete"), None)
    );
    // Releasing a denied transaction changes nothing.
    store
        .release_deferred_transaction("hash-2")
        .await
        .expect("release");
    assert_eq!(
        store
            .deferred_transaction("tx-2")
            .await
            .expect("read")
            .map(|r| r.state),
        Some(DeferredState::Denied)
    );
}

async fn concurrent_claims_on_two_instances_yield_one_success(db: Db) {
    let first = db.store().await;
    let second = db.store().await;
    first
        .insert_deferred_transaction(&transaction(1, "alice", NOW + 1000))
        .await
        .expect("insert");
    first
        .decide_deferred_transaction("tx-1", true, None, NOW)
        .await
        .expect("approve");
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        tasks.push(tokio::spawn(async move {
            store
                .claim_deferred_transaction("hash-1", NOW + 1)
                .await
                .expect("claim")
        }));
    }
    let mut wins = 0;
    for task in tasks {
        if task.await.expect("task") {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}

/// ISS-NOTIF-03, -06: stored by hash, readable until it expires, listed per holder.
async fn notification_round_trip_and_expiry(db: Db) {
    let store = db.store().await;
    let record = notification(1, "alice", NOW + 100);
    store.insert_notification(&record).await.expect("insert");
    assert!(
        store.insert_notification(&record).await.is_err(),
        "duplicate"
    );
    store
        .insert_notification(&notification(2, "bob", NOW + 100))
        .await
        .expect("insert");
    assert_eq!(
        store
            .notification_by_hash("nhash-1", NOW + 100)
            .await
            .expect("read"),
        Some(record.clone())
    );
    assert_eq!(
        store
            .notification_by_hash("nhash-1", NOW + 101)
            .await
            .expect("read"),
        None
    );
    assert_eq!(
        store.notification_by_hash("n-1", NOW).await.expect("read"),
        None
    );
    let alice = store.notifications(Some("alice")).await.expect("list");
    assert_eq!(alice.len(), 1);
    assert_eq!(alice[0].0, record);
    assert!(alice[0].1.is_empty());
    let all = store.notifications(None).await.expect("list");
    let ids: Vec<&str> = all.iter().map(|(n, _)| n.id.as_str()).collect();
    assert_eq!(ids, ["n-2", "n-1"], "newest first");
}

/// ISS-NOTIF-04: identical repeats count up one row; another event or
/// description is a row of its own.
async fn notification_events_are_idempotent(db: Db) {
    let store = db.store().await;
    store
        .insert_notification(&notification(1, "alice", NOW + 100))
        .await
        .expect("insert");
    for at in [NOW, NOW + 1, NOW + 2] {
        store
            .record_notification_event("n-1", "credential_accepted", None, at)
            .await
            .expect("record");
    }
    store
        .record_notification_event(
            "n-1",
            "credential_deleted",
            Some("holder declined"),
            NOW + 3,
        )
        .await
        .expect("record");
    store
        .record_notification_event("n-1", "credential_deleted", Some(""), NOW + 4)
        .await
        .expect("record");
    let events = store.notification_events("n-1").await.expect("events");
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[0].event, "credential_accepted");
    assert_eq!(events[0].event_description, None);
    assert_eq!(
        (
            events[0].first_received_at,
            events[0].last_received_at,
            events[0].repeats
        ),
        (NOW, NOW + 2, 3)
    );
    assert_eq!(
        events[1].event_description.as_deref(),
        Some("holder declined")
    );
    assert_eq!(events[2].event_description.as_deref(), Some(""));
    let listed = store.notifications(Some("alice")).await.expect("list");
    assert_eq!(listed[0].1, events);
}

async fn purge_removes_expired_transactions_and_notifications(db: Db) {
    let store = db.store().await;
    // purge_at = expires_at + 100.
    store
        .insert_deferred_transaction(&transaction(1, "alice", NOW))
        .await
        .expect("insert");
    store
        .insert_deferred_transaction(&transaction(2, "alice", NOW + 1000))
        .await
        .expect("insert");
    store
        .insert_notification(&notification(1, "alice", NOW + 100))
        .await
        .expect("insert");
    store
        .insert_notification(&notification(2, "alice", NOW + 5000))
        .await
        .expect("insert");
    for id in ["n-1", "n-2"] {
        store
            .record_notification_event(id, "credential_accepted", None, NOW)
            .await
            .expect("record");
    }
    store.purge_expired(NOW + 100).await.expect("purge");
    assert!(
        store
            .deferred_transaction("tx-1")
            .await
            .expect("read")
            .is_some(),
        "kept through purge_at"
    );
    let removed = store.purge_expired(NOW + 101).await.expect("purge");
    assert!(
        removed >= 3,
        "transaction, notification and its event: {removed}"
    );
    assert!(
        store
            .deferred_transaction("tx-1")
            .await
            .expect("read")
            .is_none()
    );
    assert!(
        store
            .deferred_transaction("tx-2")
            .await
            .expect("read")
            .is_some()
    );
    assert!(
        store
            .notification_events("n-1")
            .await
            .expect("events")
            .is_empty()
    );
    assert_eq!(
        store
            .notification_events("n-2")
            .await
            .expect("events")
            .len(),
        1
    );
}

async fn corrupt_deferred_rows_are_errors(db: Db) {
    let store = db.store().await;
    store
        .insert_deferred_transaction(&transaction(1, "alice", NOW + 1000))
        .await
        .expect("insert");
    let mut raw = db.raw().await;
    raw.execute("UPDATE deferred_transactions SET state = 'limbo'")
        .await
        .expect("corrupt state");
    assert!(matches!(
        store.deferred_transaction("tx-1").await,
        Err(StoreError::Corrupt(_))
    ));
    raw.execute("UPDATE deferred_transactions SET state = 'pending', holder_keys = 'not json'")
        .await
        .expect("corrupt keys");
    assert!(matches!(
        store.deferred_transaction_by_hash("hash-1").await,
        Err(StoreError::Corrupt(_))
    ));
}
