//! Single-use values (c_nonce, DPoP jti, key proof jti, attestation PoP jti,
//! …) and the purge of everything expired.

use crate::{Store, StoreError};

impl Store {
    /// Consumes `(scope, value)`: `true` the first time, `false` on every
    /// later call until the record is purged after `expires_at`. Guarded by a
    /// primary key, so exactly one of any number of concurrent callers on any
    /// instance wins (ISS-SEC-02, ISS-NONCE-03, ISS-DPOP-04; RFC 9449 §11.1).
    ///
    /// `expires_at` must be no earlier than the last moment the value could
    /// still be accepted, or a replay after the purge would succeed.
    pub async fn consume_once(
        &self,
        scope: &str,
        value: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO consumed_values (scope, value, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(scope)
        .bind(value)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("consume single-use value"))?;
        Ok(result.rows_affected() == 1)
    }

    /// Deletes consumed values, offers (in any state) and access tokens whose
    /// `expires_at` is before `now` (strictly: a record is kept through its
    /// last second). Issuance records are kept (ISS-SEC-07: lifecycle).
    /// Returns the number of rows removed.
    pub async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        const PURGES: [(&str, &str); 3] = [
            (
                "DELETE FROM consumed_values WHERE expires_at < $1",
                "purge consumed values",
            ),
            ("DELETE FROM offers WHERE expires_at < $1", "purge offers"),
            (
                "DELETE FROM access_tokens WHERE expires_at < $1",
                "purge access tokens",
            ),
        ];
        let mut removed = 0;
        for (sql, operation) in PURGES {
            removed += sqlx::query(sql)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(StoreError::db(operation))?
                .rows_affected();
        }
        Ok(removed)
    }
}
