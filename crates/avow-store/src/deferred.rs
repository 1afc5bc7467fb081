//! Deferred issuance transactions (OID4VCI 1.0 §9; ISS-DEF-02, -04, -06 …
//! -08): persisted before the `202` leaves the issuer, so any instance can
//! serve the Deferred Credential Endpoint and a restart loses nothing.
//!
//! The `transaction_id` is stored only as a hash computed by the caller;
//! the operator works with the separate, non-secret `id`. Every state change
//! is one `UPDATE` guarded by the current state (and the expiry), so exactly
//! one of any number of concurrent callers on any instance wins.

use sqlx::any::AnyRow;

use crate::store::{column, json_column, to_json_text};
use crate::{Store, StoreError};

/// Where a deferred transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeferredState {
    /// Waiting for the operator.
    Pending,
    /// Approved: the next Deferred Credential Request gets the credentials.
    Approved,
    /// Denied by the operator (terminal).
    Denied,
    /// Approved and fetched: the `transaction_id` is used up (terminal).
    Issued,
}

impl DeferredState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Issued => "issued",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "approved" => Some(Self::Approved),
            "denied" => Some(Self::Denied),
            "issued" => Some(Self::Issued),
            _ => None,
        }
    }
}

/// A deferred issuance transaction: everything validated at the Credential
/// Endpoint that issuing later needs.
#[derive(Debug, Clone, PartialEq)]
pub struct DeferredTransactionRecord {
    /// The operator's handle (not secret).
    pub id: String,
    /// Hash of the `transaction_id`; the raw value is never stored.
    pub transaction_hash: String,
    pub holder_id: String,
    pub configuration_id: String,
    /// The grant whose access tokens may fetch the transaction.
    pub grant_key: String,
    pub client_id: Option<String>,
    /// The proven holder keys (JWK objects), in proof order.
    pub holder_keys: Vec<serde_json::Value>,
    /// Whether the original Credential Request asked for an encrypted response.
    pub response_encrypted: bool,
    /// The `interval` answered to the wallet, seconds.
    pub interval: i64,
    pub state: DeferredState,
    /// The operator's reason of a denial.
    pub reason: Option<String>,
    pub created_at: i64,
    pub decided_at: Option<i64>,
    pub last_polled_at: Option<i64>,
    pub issued_at: Option<i64>,
    /// After this second the transaction is expired: denied to the wallet.
    pub expires_at: i64,
    /// After this second the record is deleted by [`Store::purge_expired`].
    pub purge_at: i64,
}

/// The outcome of [`Store::decide_deferred_transaction`].
#[derive(Debug, Clone, PartialEq)]
pub enum DeferredDecision {
    /// Decided by this call.
    Decided(Box<DeferredTransactionRecord>),
    /// The transaction was no longer pending (already decided or issued).
    NotPending(DeferredState),
    /// The transaction expired while pending.
    Expired,
    /// No such transaction.
    Unknown,
}

const COLUMNS: &str = "id, transaction_hash, holder_id, configuration_id, grant_key, client_id, \
     holder_keys, response_encrypted, poll_interval, state, reason, created_at, decided_at, \
     last_polled_at, issued_at, expires_at, purge_at";

impl Store {
    /// Stores a new transaction. A duplicate id or hash is a
    /// [`StoreError::Database`].
    pub async fn insert_deferred_transaction(
        &self,
        record: &DeferredTransactionRecord,
    ) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO deferred_transactions ({COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
        ))
        .bind(&record.id)
        .bind(&record.transaction_hash)
        .bind(&record.holder_id)
        .bind(&record.configuration_id)
        .bind(&record.grant_key)
        .bind(record.client_id.as_deref())
        .bind(to_json_text(&record.holder_keys)?)
        .bind(i64::from(record.response_encrypted))
        .bind(record.interval)
        .bind(record.state.as_str())
        .bind(record.reason.as_deref())
        .bind(record.created_at)
        .bind(record.decided_at)
        .bind(record.last_polled_at)
        .bind(record.issued_at)
        .bind(record.expires_at)
        .bind(record.purge_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("insert deferred transaction"))?;
        Ok(())
    }

    /// The transaction with this `transaction_id` hash, in any state.
    pub async fn deferred_transaction_by_hash(
        &self,
        transaction_hash: &str,
    ) -> Result<Option<DeferredTransactionRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM deferred_transactions WHERE transaction_hash = $1"
        ))
        .bind(transaction_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::db("read deferred transaction"))?
        .as_ref()
        .map(record_from_row)
        .transpose()
    }

    /// The transaction with this operator id, in any state.
    pub async fn deferred_transaction(
        &self,
        id: &str,
    ) -> Result<Option<DeferredTransactionRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM deferred_transactions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::db("read deferred transaction"))?
        .as_ref()
        .map(record_from_row)
        .transpose()
    }

    /// Transactions, oldest first (ties by id), optionally only those in
    /// `state` and / or of `holder_id`.
    pub async fn deferred_transactions(
        &self,
        state: Option<DeferredState>,
        holder_id: Option<&str>,
    ) -> Result<Vec<DeferredTransactionRecord>, StoreError> {
        // Conditions only for the given filters, placeholders numbered in order.
        let mut conditions = Vec::new();
        if state.is_some() {
            conditions.push(format!("state = ${}", conditions.len() + 1));
        }
        if holder_id.is_some() {
            conditions.push(format!("holder_id = ${}", conditions.len() + 1));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql =
            format!("SELECT {COLUMNS} FROM deferred_transactions {filter} ORDER BY created_at, id");
        let mut query = sqlx::query(&sql);
        if let Some(state) = state {
            query = query.bind(state.as_str());
        }
        if let Some(holder_id) = holder_id {
            query = query.bind(holder_id);
        }
        query
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db("list deferred transactions"))?
            .iter()
            .map(record_from_row)
            .collect()
    }

    /// Approves (`approve`) or denies a pending, unexpired transaction
    /// (ISS-DEF-08): one guarded statement, so a transaction is decided once.
    pub async fn decide_deferred_transaction(
        &self,
        id: &str,
        approve: bool,
        reason: Option<&str>,
        now: i64,
    ) -> Result<DeferredDecision, StoreError> {
        let target = if approve {
            DeferredState::Approved
        } else {
            DeferredState::Denied
        };
        let result = sqlx::query(
            "UPDATE deferred_transactions SET state = $1, reason = $2, decided_at = $3 \
             WHERE id = $4 AND state = 'pending' AND expires_at > $5",
        )
        .bind(target.as_str())
        .bind(reason)
        .bind(now)
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("decide deferred transaction"))?;
        let current = self.deferred_transaction(id).await?;
        Ok(match (result.rows_affected(), current) {
            (_, None) => DeferredDecision::Unknown,
            (1, Some(record)) => DeferredDecision::Decided(Box::new(record)),
            (_, Some(record)) if record.state == DeferredState::Pending => {
                DeferredDecision::Expired
            }
            (_, Some(record)) => DeferredDecision::NotPending(record.state),
        })
    }

    /// Notes a Deferred Credential Request for the operator's view.
    pub async fn touch_deferred_transaction(
        &self,
        transaction_hash: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE deferred_transactions SET last_polled_at = $1 WHERE transaction_hash = $2",
        )
        .bind(now)
        .bind(transaction_hash)
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("touch deferred transaction"))?;
        Ok(())
    }

    /// Claims an approved, unexpired transaction for issuance: `true` for
    /// exactly one caller, after which the `transaction_id` is used up
    /// (ISS-DEF-04).
    pub async fn claim_deferred_transaction(
        &self,
        transaction_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE deferred_transactions SET state = 'issued', issued_at = $1, last_polled_at = $2 \
             WHERE transaction_hash = $3 AND state = 'approved' AND expires_at > $4",
        )
        .bind(now)
        .bind(now)
        .bind(transaction_hash)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("claim deferred transaction"))?;
        Ok(result.rows_affected() == 1)
    }

    /// Undoes [`Store::claim_deferred_transaction`] when building the
    /// credentials failed, so the wallet can try again.
    pub async fn release_deferred_transaction(
        &self,
        transaction_hash: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE deferred_transactions SET state = 'approved', issued_at = NULL \
             WHERE transaction_hash = $1 AND state = 'issued'",
        )
        .bind(transaction_hash)
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("release deferred transaction"))?;
        Ok(())
    }

    /// Ends a claimed transaction whose credentials cannot be issued (e.g.
    /// the holder data no longer satisfies the configuration): denied, with
    /// `reason`, so the wallet stops polling (ISS-DEF-07).
    pub async fn fail_deferred_transaction(
        &self,
        transaction_hash: &str,
        reason: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE deferred_transactions SET state = 'denied', reason = $1, decided_at = $2, \
             issued_at = NULL WHERE transaction_hash = $3 AND state = 'issued'",
        )
        .bind(reason)
        .bind(now)
        .bind(transaction_hash)
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("fail deferred transaction"))?;
        Ok(())
    }

    /// Deletes transactions past their `purge_at`, notifications past their
    /// `expires_at` and the events of deleted notifications. Part of
    /// [`Store::purge_expired`]; returns the number of rows removed.
    pub(crate) async fn purge_deferred_and_notifications(
        &self,
        now: i64,
    ) -> Result<u64, StoreError> {
        let mut removed = 0;
        for (sql, operation) in [
            (
                "DELETE FROM deferred_transactions WHERE purge_at < $1",
                "purge deferred transactions",
            ),
            (
                "DELETE FROM notifications WHERE expires_at < $1",
                "purge notifications",
            ),
        ] {
            removed += sqlx::query(sql)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(StoreError::db(operation))?
                .rows_affected();
        }
        removed += sqlx::query(
            "DELETE FROM notification_events WHERE NOT EXISTS \
             (SELECT 1 FROM notifications WHERE notifications.id = notification_events.notification_id)",
        )
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("purge notification events"))?
        .rows_affected();
        Ok(removed)
    }
}

fn record_from_row(row: &AnyRow) -> Result<DeferredTransactionRecord, StoreError> {
    let state: String = column(row, "state")?;
    let response_encrypted: i64 = column(row, "response_encrypted")?;
    Ok(DeferredTransactionRecord {
        id: column(row, "id")?,
        transaction_hash: column(row, "transaction_hash")?,
        holder_id: column(row, "holder_id")?,
        configuration_id: column(row, "configuration_id")?,
        grant_key: column(row, "grant_key")?,
        client_id: column(row, "client_id")?,
        holder_keys: json_column(row, "holder_keys")?,
        response_encrypted: response_encrypted != 0,
        interval: column(row, "poll_interval")?,
        state: DeferredState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("deferred state {state:?}")))?,
        reason: column(row, "reason")?,
        created_at: column(row, "created_at")?,
        decided_at: column(row, "decided_at")?,
        last_polled_at: column(row, "last_polled_at")?,
        issued_at: column(row, "issued_at")?,
        expires_at: column(row, "expires_at")?,
        purge_at: column(row, "purge_at")?,
    })
}
