//! Token Status Lists (draft-ietf-oauth-status-list): the lists, the
//! allocation of one random, never reused index per credential, and the
//! status of every allocated index (ISS-STAT-01, -05, -06).
//!
//! * Allocation draws random candidates from the caller's randomness and
//!   inserts them under the `(list_id, idx)` primary key: whichever instance
//!   inserts first owns the index, so no index is handed out twice, on one
//!   instance or many (TSL §13.2, §13.3). When random draws keep hitting
//!   taken indices the free ones are listed and one of them is drawn, so a
//!   list is only closed when it is really full; then the next list opens.
//! * A status change is one conditional `UPDATE`: INVALID (revoked) is
//!   final, no statement moves an entry out of it (TSL §7.1).
//! * Building a token reads only the entries that are not VALID: every
//!   other index of the list is VALID (TSL §13.3, default value).

use sqlx::any::AnyRow;

use crate::store::{column, u32_column};
use crate::{Store, StoreError};

/// VALID (TSL §7.1): the value of every index until it changes.
pub const STATUS_VALID: u8 = 0;
/// INVALID (TSL §7.1): revoked, final.
pub const STATUS_INVALID: u8 = 1;
/// SUSPENDED (TSL §7.1).
pub const STATUS_SUSPENDED: u8 = 2;

/// Random draws before the free indices of a list are listed.
const RANDOM_ATTEMPTS: usize = 24;
/// Lists one allocation may try (each full or taken by other instances).
const MAX_LISTS_PER_ALLOCATION: usize = 16;

/// One status list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusListRecord {
    pub id: String,
    /// 1, 2, 4 or 8 bits per entry.
    pub bits: u8,
    /// Number of entries (indices `0 .. size`).
    pub size: u32,
    pub full: bool,
    pub created_at: i64,
}

/// An allocated index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusAllocation {
    pub list_id: String,
    pub index: u32,
}

/// What allocation needs: the list shape for a new list and randomness
/// (the store has no random source of its own).
pub trait AllocationRandom: Send + Sync {
    /// A uniformly random integer in `0 .. bound` (`bound` > 0),
    /// unpredictable to others (ISS-STAT-01).
    fn index_below(&self, bound: u32) -> u32;
    /// A fresh, unique id for a new list (it becomes part of a public URI).
    fn new_list_id(&self) -> String;
}

/// The outcome of [`Store::set_status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusUpdate {
    /// The entry holds the new value (also when it held it already).
    Updated,
    /// The entry is INVALID: revocation is final, nothing changed.
    Final,
    /// No such list or no allocated index.
    Unknown,
    /// The value does not fit the list's bits; nothing changed.
    DoesNotFit,
}

impl Store {
    /// Allocates a random unused index in the oldest open list of this
    /// shape (`bits`, `size`), opening a new list when there is none or it
    /// is full. The entry starts VALID.
    pub async fn allocate_status_index(
        &self,
        bits: u8,
        size: u32,
        now: i64,
        random: &dyn AllocationRandom,
    ) -> Result<StatusAllocation, StoreError> {
        if !matches!(bits, 1 | 2 | 4 | 8) || size == 0 {
            return Err(StoreError::Database(format!(
                "invalid status list shape: {bits} bits, {size} entries"
            )));
        }
        for _ in 0..MAX_LISTS_PER_ALLOCATION {
            let list = match self.open_status_list(bits, size).await? {
                Some(list) => list,
                None => {
                    self.create_status_list(bits, size, now, random).await?;
                    continue;
                }
            };
            if let Some(index) = self.allocate_in(&list, now, random).await? {
                return Ok(StatusAllocation {
                    list_id: list.id,
                    index,
                });
            }
            sqlx::query("UPDATE status_lists SET is_full = 1 WHERE id = $1")
                .bind(&list.id)
                .execute(&self.pool)
                .await
                .map_err(StoreError::db("close status list"))?;
            tracing::info!(list = %list.id, "status list full, opening the next");
        }
        Err(StoreError::Database(
            "no free status list index after trying several lists".to_owned(),
        ))
    }

    /// The oldest list of this shape that is not full.
    async fn open_status_list(
        &self,
        bits: u8,
        size: u32,
    ) -> Result<Option<StatusListRecord>, StoreError> {
        sqlx::query(
            "SELECT id, bits, size, is_full, created_at FROM status_lists \
             WHERE bits = $1 AND size = $2 AND is_full = 0 ORDER BY seq LIMIT 1",
        )
        .bind(i64::from(bits))
        .bind(i64::from(size))
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::db("find open status list"))?
        .as_ref()
        .map(status_list_from_row)
        .transpose()
    }

    /// Inserts a list after the last one unless an open list of this shape
    /// exists, in one statement. Instances racing here read the same last
    /// `seq` and insert the same `seq + 1`: one insert wins, the others
    /// insert nothing (`seq` is UNIQUE) and then find the winner's list.
    async fn create_status_list(
        &self,
        bits: u8,
        size: u32,
        now: i64,
        random: &dyn AllocationRandom,
    ) -> Result<(), StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO status_lists (id, seq, bits, size, is_full, created_at) \
             SELECT $1, m.last + 1, $2, $3, 0, $4 \
             FROM (SELECT COALESCE(MAX(seq), 0) AS last FROM status_lists) AS m \
             WHERE NOT EXISTS (SELECT 1 FROM status_lists \
             WHERE bits = $5 AND size = $6 AND is_full = 0) \
             ON CONFLICT DO NOTHING",
        )
        .bind(random.new_list_id())
        .bind(i64::from(bits))
        .bind(i64::from(size))
        .bind(now)
        .bind(i64::from(bits))
        .bind(i64::from(size))
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("create status list"))?
        .rows_affected();
        if inserted == 1 {
            tracing::info!(bits, size, "status list created");
        }
        Ok(())
    }

    /// A random free index of `list`, inserted; `None` when the list is full.
    async fn allocate_in(
        &self,
        list: &StatusListRecord,
        now: i64,
        random: &dyn AllocationRandom,
    ) -> Result<Option<u32>, StoreError> {
        for _ in 0..RANDOM_ATTEMPTS {
            let index = random.index_below(list.size);
            if index < list.size && self.claim_index(&list.id, index, now).await? {
                return Ok(Some(index));
            }
        }
        // Dense list: draw among the indices still free.
        let taken: Vec<u32> = sqlx::query("SELECT idx FROM status_entries WHERE list_id = $1")
            .bind(&list.id)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db("read taken status indices"))?
            .iter()
            .map(|row| u32_column(row, "idx"))
            .collect::<Result<_, _>>()?;
        let mut is_taken = vec![false; usize::try_from(list.size).unwrap_or(0)];
        for index in taken {
            if let Some(slot) = usize::try_from(index)
                .ok()
                .and_then(|i| is_taken.get_mut(i))
            {
                *slot = true;
            }
        }
        let mut free: Vec<u32> = (0..list.size)
            .zip(is_taken)
            .filter_map(|(index, taken)| (!taken).then_some(index))
            .collect();
        while !free.is_empty() {
            let bound = u32::try_from(free.len()).unwrap_or(u32::MAX);
            let pick = usize::try_from(random.index_below(bound))
                .unwrap_or(0)
                .min(free.len() - 1);
            let index = free.swap_remove(pick);
            if self.claim_index(&list.id, index, now).await? {
                return Ok(Some(index));
            }
        }
        Ok(None)
    }

    /// Inserts a VALID entry; `false` when the index is taken already.
    async fn claim_index(&self, list_id: &str, index: u32, now: i64) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO status_entries (list_id, idx, status, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(list_id)
        .bind(i64::from(index))
        .bind(i64::from(STATUS_VALID))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("allocate status index"))?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// One list, by id.
    pub async fn status_list(&self, id: &str) -> Result<Option<StatusListRecord>, StoreError> {
        sqlx::query("SELECT id, bits, size, is_full, created_at FROM status_lists WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::db("read status list"))?
            .as_ref()
            .map(status_list_from_row)
            .transpose()
    }

    /// Every list, oldest first.
    pub async fn status_lists(&self) -> Result<Vec<StatusListRecord>, StoreError> {
        sqlx::query("SELECT id, bits, size, is_full, created_at FROM status_lists ORDER BY seq")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db("list status lists"))?
            .iter()
            .map(status_list_from_row)
            .collect()
    }

    /// The entries of a list that are not VALID, as `(index, value)` by
    /// index: with the list's size, everything a Status List Token needs.
    pub async fn status_list_values(&self, list_id: &str) -> Result<Vec<(u32, u8)>, StoreError> {
        sqlx::query(
            "SELECT idx, status FROM status_entries WHERE list_id = $1 AND status <> $2 \
             ORDER BY idx",
        )
        .bind(list_id)
        .bind(i64::from(STATUS_VALID))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::db("read status list values"))?
        .iter()
        .map(|row| Ok((u32_column(row, "idx")?, status_column(row)?)))
        .collect()
    }

    /// The value of one allocated index; `None` when it was never allocated.
    pub async fn status_value(&self, list_id: &str, index: u32) -> Result<Option<u8>, StoreError> {
        sqlx::query("SELECT status FROM status_entries WHERE list_id = $1 AND idx = $2")
            .bind(list_id)
            .bind(i64::from(index))
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::db("read status value"))?
            .as_ref()
            .map(status_column)
            .transpose()
    }

    /// Sets the value of an allocated index in one statement that never
    /// leaves INVALID (TSL §7.1: revocation is final; ISS-STAT-06).
    pub async fn set_status(
        &self,
        list_id: &str,
        index: u32,
        value: u8,
        now: i64,
    ) -> Result<StatusUpdate, StoreError> {
        let Some(list) = self.status_list(list_id).await? else {
            return Ok(StatusUpdate::Unknown);
        };
        if u16::from(value) >= 1u16 << list.bits {
            return Ok(StatusUpdate::DoesNotFit);
        }
        let updated = sqlx::query(
            "UPDATE status_entries SET status = $1, updated_at = $2 \
             WHERE list_id = $3 AND idx = $4 AND status <> $5",
        )
        .bind(i64::from(value))
        .bind(now)
        .bind(list_id)
        .bind(i64::from(index))
        .bind(i64::from(STATUS_INVALID))
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("set status"))?
        .rows_affected();
        if updated == 1 {
            return Ok(StatusUpdate::Updated);
        }
        // Nothing matched: the index was never allocated, or it is INVALID
        // (no statement leaves INVALID, so it cannot have changed since).
        match self.status_value(list_id, index).await? {
            Some(STATUS_INVALID) => Ok(StatusUpdate::Final),
            None => Ok(StatusUpdate::Unknown),
            Some(_) => Err(StoreError::Database(
                "status entry changed during the update".to_owned(),
            )),
        }
    }
}

fn status_column(row: &AnyRow) -> Result<u8, StoreError> {
    let value: i64 = column(row, "status")?;
    u8::try_from(value).map_err(|_| StoreError::Corrupt(format!("column status = {value}")))
}

fn status_list_from_row(row: &AnyRow) -> Result<StatusListRecord, StoreError> {
    let bits: i64 = column(row, "bits")?;
    let bits = u8::try_from(bits)
        .ok()
        .filter(|b| matches!(b, 1 | 2 | 4 | 8))
        .ok_or_else(|| StoreError::Corrupt(format!("column bits = {bits}")))?;
    let full: i64 = column(row, "is_full")?;
    Ok(StatusListRecord {
        id: column(row, "id")?,
        bits,
        size: u32_column(row, "size")?,
        full: full != 0,
        created_at: column(row, "created_at")?,
    })
}
