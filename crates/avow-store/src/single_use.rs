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

    /// Consumes every `(value, expires_at)` of `values` under `scope`, all or
    /// nothing: `true` when none of them had been consumed before (all are
    /// now), `false` when at least one had (then none is consumed by this
    /// call). One transaction whose inserts are guarded by the primary key,
    /// so of concurrent callers on any instance sharing a value exactly one
    /// wins (ISS-CRED-16: no partial issuance, a failed request spends no
    /// `c_nonce`; ISS-SEC-02, ISS-NONCE-03; VCI §8.3.1.2, §13.8).
    ///
    /// Values are inserted in sorted order, so two transactions sharing
    /// several values never wait on each other in a cycle. A value listed
    /// twice counts once (with its latest `expires_at`). Each `expires_at`
    /// must be no earlier than the last moment its value could still be
    /// accepted (see [`Store::consume_once`]).
    pub async fn consume_all_once(
        &self,
        scope: &str,
        values: &[(&str, i64)],
    ) -> Result<bool, StoreError> {
        let mut unique: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
        for (value, expires_at) in values {
            let entry = unique.entry(value).or_insert(*expires_at);
            *entry = (*entry).max(*expires_at);
        }
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::db("begin consuming single-use values"))?;
        for (value, expires_at) in unique {
            let inserted = sqlx::query(
                "INSERT INTO consumed_values (scope, value, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(scope)
            .bind(value)
            .bind(expires_at)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("consume single-use values"))?
            .rows_affected();
            if inserted != 1 {
                // One was spent already: undo this call's inserts.
                tx.rollback()
                    .await
                    .map_err(StoreError::db("roll back consuming single-use values"))?;
                return Ok(false);
            }
        }
        tx.commit()
            .await
            .map_err(StoreError::db("commit consuming single-use values"))?;
        Ok(true)
    }

    /// Deletes consumed values, offers (in any state), access tokens (revoked
    /// or not), pushed authorization requests (used or not), authorization
    /// codes (redeemed or not), holder login sessions (consumed or not) and
    /// refresh tokens (in any state) whose `expires_at` is before `now`
    /// (strictly: a record is kept through its last second); then the marks
    /// of revoked grants that no longer have any code or token. Issuance
    /// records are kept (ISS-SEC-07: lifecycle). Returns the number of rows
    /// removed.
    ///
    /// A redeemed code or a rotated refresh token is recognised as replayed
    /// only until it is purged; afterwards it is merely unknown (and still
    /// refused).
    pub async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        const PURGES: [(&str, &str); 8] = [
            (
                "DELETE FROM consumed_values WHERE expires_at < $1",
                "purge consumed values",
            ),
            ("DELETE FROM offers WHERE expires_at < $1", "purge offers"),
            (
                "DELETE FROM issuer_states WHERE expires_at < $1",
                "purge issuer states",
            ),
            (
                "DELETE FROM access_tokens WHERE expires_at < $1",
                "purge access tokens",
            ),
            (
                "DELETE FROM par_requests WHERE expires_at < $1",
                "purge PAR requests",
            ),
            (
                "DELETE FROM authorization_codes WHERE expires_at < $1",
                "purge authorization codes",
            ),
            (
                "DELETE FROM auth_sessions WHERE expires_at < $1",
                "purge auth sessions",
            ),
            (
                "DELETE FROM refresh_tokens WHERE expires_at < $1",
                "purge refresh tokens",
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
        // A revoked grant with no code or token left can produce no new
        // token: its mark is no longer needed.
        removed += sqlx::query(
            "DELETE FROM revoked_grants WHERE \
             NOT EXISTS (SELECT 1 FROM authorization_codes \
             WHERE authorization_codes.grant_id = revoked_grants.grant_id) \
             AND NOT EXISTS (SELECT 1 FROM refresh_tokens \
             WHERE refresh_tokens.grant_id = revoked_grants.grant_id) \
             AND NOT EXISTS (SELECT 1 FROM access_tokens \
             WHERE access_tokens.grant_id = revoked_grants.grant_id)",
        )
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("purge revoked grants"))?
        .rows_affected();
        // Deferred transactions and notifications (crate::deferred).
        removed += self.purge_deferred_and_notifications(now).await?;
        Ok(removed)
    }
}
