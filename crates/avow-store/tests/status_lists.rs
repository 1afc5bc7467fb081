//! Token Status Lists in the store (ISS-STAT-01, -05, -06), run against
//! both backends by the harness in `common`.

#[macro_use]
mod common;

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use avow_store::{
    AllocationRandom, IssuanceRecord, STATUS_INVALID, STATUS_SUSPENDED, STATUS_VALID,
    StatusAllocation, StatusUpdate, Store,
};
use common::{Db, NOW, run};
use sqlx::Executor;

suite!(
    indices_are_random_distinct_and_start_valid,
    a_full_list_opens_the_next,
    concurrent_allocations_on_two_instances_never_collide,
    concurrent_first_allocations_agree_on_one_list,
    status_changes_and_invalid_is_final,
    values_feed_the_token,
    issuance_records_carry_the_status_entry,
    corrupt_status_rows_are_errors,
);

// ---------------------------------------------------------------- randomness

/// A xorshift generator seeded per test: deterministic, but spread over the
/// whole range like real randomness.
struct TestRandom {
    state: Mutex<u64>,
    lists: AtomicU64,
}

impl TestRandom {
    fn new(seed: u64) -> Self {
        Self {
            state: Mutex::new(seed | 1),
            lists: AtomicU64::new(0),
        }
    }

    fn next(&self) -> u64 {
        let mut state = self.state.lock().unwrap();
        let mut x = *state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *state = x;
        x
    }
}

impl AllocationRandom for TestRandom {
    fn index_below(&self, bound: u32) -> u32 {
        (self.next() % u64::from(bound)) as u32
    }

    fn new_list_id(&self) -> String {
        format!(
            "list-{:x}-{}",
            self.next(),
            self.lists.fetch_add(1, Ordering::Relaxed)
        )
    }
}

/// Always draws the same index: every draw after the first collides.
struct StuckRandom(AtomicU64);

impl AllocationRandom for StuckRandom {
    fn index_below(&self, _bound: u32) -> u32 {
        0
    }

    fn new_list_id(&self) -> String {
        format!("stuck-{}", self.0.fetch_add(1, Ordering::Relaxed))
    }
}

async fn allocate(store: &Store, size: u32, random: &dyn AllocationRandom) -> StatusAllocation {
    store
        .allocate_status_index(2, size, NOW, random)
        .await
        .unwrap()
}

// ---------------------------------------------------------------- bodies

async fn indices_are_random_distinct_and_start_valid(db: Db) {
    let store = db.store().await;
    let random = TestRandom::new(0x5eed);
    let mut seen = HashSet::new();
    let mut list_ids = HashSet::new();
    for _ in 0..300 {
        let a = allocate(&store, 131_072, &random).await;
        assert!(a.index < 131_072);
        assert!(seen.insert(a.index), "index {} handed out twice", a.index);
        list_ids.insert(a.list_id.clone());
        assert_eq!(
            store.status_value(&a.list_id, a.index).await.unwrap(),
            Some(STATUS_VALID)
        );
    }
    // One list serves them all, and the indices are spread, not sequential.
    assert_eq!(list_ids.len(), 1);
    let sequential = seen.iter().filter(|i| **i < 300).count();
    assert!(sequential < 10, "{sequential} of 300 indices below 300");
    let list_id = list_ids.into_iter().next().unwrap();
    let list = store.status_list(&list_id).await.unwrap().unwrap();
    assert_eq!((list.bits, list.size, list.full), (2, 131_072, false));
    assert_eq!(list.created_at, NOW);
    assert_eq!(store.status_list("nope").await.unwrap(), None);
    assert_eq!(store.status_value(&list_id, 131_071).await.unwrap(), None);
    // Bad shapes are refused.
    assert!(
        store
            .allocate_status_index(3, 8, NOW, &random)
            .await
            .is_err()
    );
    assert!(
        store
            .allocate_status_index(2, 0, NOW, &random)
            .await
            .is_err()
    );
}

async fn a_full_list_opens_the_next(db: Db) {
    let store = db.store().await;
    // A generator stuck on index 0: the dense path must still find every
    // free index, and only a really full list is closed.
    let random = StuckRandom(AtomicU64::new(0));
    let mut first = Vec::new();
    for _ in 0..8 {
        first.push(allocate(&store, 8, &random).await);
    }
    let list_id = first[0].list_id.clone();
    assert!(first.iter().all(|a| a.list_id == list_id));
    let mut indices: Vec<u32> = first.iter().map(|a| a.index).collect();
    indices.sort_unstable();
    assert_eq!(indices, (0..8).collect::<Vec<_>>());

    let next = allocate(&store, 8, &random).await;
    assert_ne!(next.list_id, list_id, "a full list must open the next");
    let lists = store.status_lists().await.unwrap();
    assert_eq!(lists.len(), 2);
    assert_eq!(lists[0].id, list_id);
    assert!(lists[0].full);
    assert_eq!(lists[1].id, next.list_id);
    assert!(!lists[1].full);

    // Another shape gets its own list.
    let other = store
        .allocate_status_index(4, 8, NOW, &TestRandom::new(3))
        .await
        .unwrap();
    assert_ne!(other.list_id, next.list_id);
    assert_eq!(
        store
            .status_list(&other.list_id)
            .await
            .unwrap()
            .unwrap()
            .bits,
        4
    );
}

async fn concurrent_allocations_on_two_instances_never_collide(db: Db) {
    let first = db.store().await;
    let second = db.store().await;
    // Warm up: the list exists, so this measures index allocation.
    let warm = allocate(&first, 1024, &TestRandom::new(1)).await;
    let mut tasks = Vec::new();
    for n in 0..200u64 {
        let store = if n % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        tasks.push(tokio::spawn(async move {
            // Each task has its own generator, as instances do.
            let random = TestRandom::new(0x9e37_79b9_7f4a_7c15 ^ ((n + 1) * 0x1000_0001));
            allocate(&store, 1024, &random).await
        }));
    }
    let mut seen = HashSet::from([(warm.list_id.clone(), warm.index)]);
    for task in tasks {
        let a = task.await.unwrap();
        assert_eq!(a.list_id, warm.list_id);
        assert!(
            seen.insert((a.list_id, a.index)),
            "an index was handed out twice"
        );
    }
    assert_eq!(seen.len(), 201);
}

async fn concurrent_first_allocations_agree_on_one_list(db: Db) {
    let first = db.store().await;
    let second = db.store().await;
    let mut tasks = Vec::new();
    for n in 0..40u64 {
        let store = if n % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        tasks.push(tokio::spawn(async move {
            allocate(&store, 4096, &TestRandom::new(n * 7919 + 13)).await
        }));
    }
    let mut seen = HashSet::new();
    for task in tasks {
        let a = task.await.unwrap();
        assert!(seen.insert((a.list_id, a.index)));
    }
    // Racing creators insert the same seq: exactly one list exists.
    assert_eq!(first.status_lists().await.unwrap().len(), 1);
}

async fn status_changes_and_invalid_is_final(db: Db) {
    let store = db.store().await;
    let random = TestRandom::new(42);
    let a = allocate(&store, 64, &random).await;
    let set = |value| store.set_status(&a.list_id, a.index, value, NOW + 1);

    assert_eq!(set(STATUS_SUSPENDED).await.unwrap(), StatusUpdate::Updated);
    assert_eq!(
        store.status_value(&a.list_id, a.index).await.unwrap(),
        Some(STATUS_SUSPENDED)
    );
    // Suspending twice is not an error.
    assert_eq!(set(STATUS_SUSPENDED).await.unwrap(), StatusUpdate::Updated);
    assert_eq!(set(STATUS_VALID).await.unwrap(), StatusUpdate::Updated);
    assert_eq!(
        store.status_value(&a.list_id, a.index).await.unwrap(),
        Some(STATUS_VALID)
    );
    // 2 bits: 4 does not fit.
    assert_eq!(set(4).await.unwrap(), StatusUpdate::DoesNotFit);

    assert_eq!(set(STATUS_INVALID).await.unwrap(), StatusUpdate::Updated);
    for value in [STATUS_VALID, STATUS_SUSPENDED, STATUS_INVALID] {
        assert_eq!(set(value).await.unwrap(), StatusUpdate::Final);
        assert_eq!(
            store.status_value(&a.list_id, a.index).await.unwrap(),
            Some(STATUS_INVALID)
        );
    }

    // Unknown list, or an index never allocated.
    assert_eq!(
        store
            .set_status("nope", 0, STATUS_INVALID, NOW)
            .await
            .unwrap(),
        StatusUpdate::Unknown
    );
    let free = (0..64).find(|i| *i != a.index).unwrap();
    assert_eq!(
        store
            .set_status(&a.list_id, free, STATUS_INVALID, NOW)
            .await
            .unwrap(),
        StatusUpdate::Unknown
    );
    assert_eq!(store.status_value(&a.list_id, free).await.unwrap(), None);

    // Concurrent revoke and resume on two instances: the entry ends
    // INVALID whatever the order, because nothing leaves INVALID.
    let other = db.store().await;
    let b = allocate(&store, 64, &random).await;
    let mut tasks = Vec::new();
    for n in 0..20 {
        let store = if n % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        let b = b.clone();
        let value = if n == 7 { STATUS_INVALID } else { STATUS_VALID };
        tasks.push(tokio::spawn(async move {
            store
                .set_status(&b.list_id, b.index, value, NOW)
                .await
                .unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        store.status_value(&b.list_id, b.index).await.unwrap(),
        Some(STATUS_INVALID)
    );
}

async fn values_feed_the_token(db: Db) {
    let store = db.store().await;
    let random = TestRandom::new(7);
    let mut allocations = Vec::new();
    for _ in 0..10 {
        allocations.push(allocate(&store, 256, &random).await);
    }
    let list_id = allocations[0].list_id.clone();
    assert!(store.status_list_values(&list_id).await.unwrap().is_empty());
    store
        .set_status(&list_id, allocations[3].index, STATUS_INVALID, NOW)
        .await
        .unwrap();
    store
        .set_status(&list_id, allocations[5].index, STATUS_SUSPENDED, NOW)
        .await
        .unwrap();
    store
        .set_status(&list_id, allocations[6].index, STATUS_SUSPENDED, NOW)
        .await
        .unwrap();
    store
        .set_status(&list_id, allocations[6].index, STATUS_VALID, NOW)
        .await
        .unwrap();
    let mut expected = vec![
        (allocations[3].index, STATUS_INVALID),
        (allocations[5].index, STATUS_SUSPENDED),
    ];
    expected.sort_unstable();
    assert_eq!(store.status_list_values(&list_id).await.unwrap(), expected);
    assert!(store.status_list_values("nope").await.unwrap().is_empty());
}

async fn issuance_records_carry_the_status_entry(db: Db) {
    let store = db.store().await;
    let a = allocate(&store, 64, &TestRandom::new(9)).await;
    let with_status = IssuanceRecord {
        id: "i-status".to_owned(),
        holder_id: "holder-1".to_owned(),
        configuration_id: "pid_sd_jwt".to_owned(),
        key_thumbprint: "kt".to_owned(),
        issued_at: NOW,
        expires_at: NOW + 86_400,
        status_list_id: Some(a.list_id.clone()),
        status_index: Some(a.index),
    };
    let without = IssuanceRecord {
        id: "i-plain".to_owned(),
        status_list_id: None,
        status_index: None,
        issued_at: NOW + 1,
        ..with_status.clone()
    };
    store.record_issuance(&with_status).await.unwrap();
    store.record_issuance(&without).await.unwrap();
    assert_eq!(
        store.issuance("i-status").await.unwrap(),
        Some(with_status.clone())
    );
    assert_eq!(
        store.issuance("i-plain").await.unwrap(),
        Some(without.clone())
    );
    assert_eq!(store.issuance("i-none").await.unwrap(), None);
    assert_eq!(
        store.issuances_for_holder("holder-1").await.unwrap(),
        vec![with_status, without]
    );
}

async fn corrupt_status_rows_are_errors(db: Db) {
    let store = db.store().await;
    let mut raw = db.raw().await;
    for sql in [
        "INSERT INTO status_lists (id, seq, bits, size, is_full, created_at) \
         VALUES ('bad-bits', 100, 3, 8, 0, 0)",
        "INSERT INTO status_lists (id, seq, bits, size, is_full, created_at) \
         VALUES ('ok-list', 101, 2, 8, 0, 0)",
        "INSERT INTO status_entries (list_id, idx, status, updated_at) \
         VALUES ('ok-list', 1, 300, 0)",
        "INSERT INTO status_entries (list_id, idx, status, updated_at) \
         VALUES ('ok-list', -2, 1, 0)",
        "INSERT INTO issuances (id, holder_id, configuration_id, key_thumbprint, issued_at, \
         expires_at, status_list_id, status_index) VALUES ('i-bad', 'h', 'c', 'k', 0, 1, 'ok-list', -1)",
    ] {
        raw.execute(sql).await.expect(sql);
    }
    assert!(store.status_list("bad-bits").await.is_err());
    assert!(store.status_lists().await.is_err());
    assert!(store.status_list_values("ok-list").await.is_err());
    assert!(store.status_value("ok-list", 1).await.is_err());
    assert!(store.issuance("i-bad").await.is_err());
}
