//! Holder login sessions of the authorization endpoint (login -> consent),
//! stored by the hash of the session id so any instance can serve any step
//! (ISS-AUTHZ-04, ISS-AUTHZ-11).
//!
//! A session moves from `open` to `consumed` (at consent) by one conditional
//! `UPDATE`, so it is consumed at most once across all instances
//! (ISS-SEC-02).

use sqlx::any::AnyRow;

use crate::store::{column, json_column, to_json_text, u32_column};
use crate::{AuthSessionRecord, Store, StoreError};

impl Store {
    /// Stores a new session in state `open`. A duplicate hash is a
    /// [`StoreError::Database`].
    pub async fn insert_auth_session(&self, record: &AuthSessionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO auth_sessions (session_hash, request_json, csrf_hash, holder_id, \
             failed_logins, state, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, 'open', $6, $7)",
        )
        .bind(&record.session_hash)
        .bind(to_json_text(&record.request)?)
        .bind(&record.csrf_hash)
        .bind(record.holder_id.as_deref())
        .bind(i64::from(record.failed_logins))
        .bind(record.created_at)
        .bind(record.expires_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("insert auth session"))?;
        Ok(())
    }

    /// The session, only while it is unconsumed and `expires_at > now`.
    pub async fn auth_session(
        &self,
        session_hash: &str,
        now: i64,
    ) -> Result<Option<AuthSessionRecord>, StoreError> {
        sqlx::query(
            "SELECT session_hash, request_json, csrf_hash, holder_id, failed_logins, \
             created_at, expires_at FROM auth_sessions \
             WHERE session_hash = $1 AND state = 'open' AND expires_at > $2",
        )
        .bind(session_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::db("read auth session"))?
        .as_ref()
        .map(session_from_row)
        .transpose()
    }

    /// Records the authenticated holder (replacing any earlier one); `false`
    /// if the session is unknown, expired or consumed.
    pub async fn set_auth_session_holder(
        &self,
        session_hash: &str,
        holder_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE auth_sessions SET holder_id = $1 \
             WHERE session_hash = $2 AND state = 'open' AND expires_at > $3",
        )
        .bind(holder_id)
        .bind(session_hash)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("set auth session holder"))?;
        Ok(result.rows_affected() == 1)
    }

    /// Counts one failed login of an unconsumed session, atomically (every
    /// concurrent failure is counted). Returns the new count, or 0 if the
    /// session is unknown or consumed. Expiry is not checked: the caller
    /// read the session first.
    pub async fn record_failed_login(&self, session_hash: &str) -> Result<u32, StoreError> {
        let row = sqlx::query(
            "UPDATE auth_sessions SET failed_logins = failed_logins + 1 \
             WHERE session_hash = $1 AND state = 'open' RETURNING failed_logins",
        )
        .bind(session_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::db("record failed login"))?;
        match row {
            Some(row) => u32_column(&row, "failed_logins"),
            None => Ok(0),
        }
    }

    /// Moves an open, unexpired session to `consumed` and returns it (single
    /// use at consent). One conditional `UPDATE`: of any number of
    /// concurrent callers, on one instance or several, exactly one gets
    /// `Some`.
    pub async fn consume_auth_session(
        &self,
        session_hash: &str,
        now: i64,
    ) -> Result<Option<AuthSessionRecord>, StoreError> {
        sqlx::query(
            "UPDATE auth_sessions SET state = 'consumed' \
             WHERE session_hash = $1 AND state = 'open' AND expires_at > $2 \
             RETURNING session_hash, request_json, csrf_hash, holder_id, failed_logins, \
             created_at, expires_at",
        )
        .bind(session_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::db("consume auth session"))?
        .as_ref()
        .map(session_from_row)
        .transpose()
    }
}

fn session_from_row(row: &AnyRow) -> Result<AuthSessionRecord, StoreError> {
    Ok(AuthSessionRecord {
        session_hash: column(row, "session_hash")?,
        request: json_column(row, "request_json")?,
        csrf_hash: column(row, "csrf_hash")?,
        holder_id: column(row, "holder_id")?,
        failed_logins: u32_column(row, "failed_logins")?,
        created_at: column(row, "created_at")?,
        expires_at: column(row, "expires_at")?,
    })
}
