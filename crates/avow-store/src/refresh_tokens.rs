//! Refresh tokens with rotation and reuse detection (RFC 9700 §4.14.2;
//! ISS-TRT-01, ISS-TRT-03), and the revocation of a whole grant (token
//! family) on a code replay or a refresh-token reuse (ISS-TAC-03).
//!
//! A refresh token moves from `active` to `rotated` (used once; its
//! successor is a new row with the same grant id) or `revoked`, each by one
//! conditional `UPDATE`, so it is rotated at most once across all instances
//! (ISS-SEC-02).
//!
//! A revoked grant is also recorded in `revoked_grants`, which every read of
//! an access token and every rotation checks: a token stored by a request
//! that was still in flight when the grant was revoked is refused too.

use sqlx::any::AnyRow;

use crate::store::{column, json_column, to_json_text};
use crate::{RefreshRotation, RefreshTokenRecord, Store, StoreError};

impl Store {
    /// Stores an issued refresh token in state `active`. A duplicate hash is
    /// a [`StoreError::Database`].
    pub async fn insert_refresh_token(
        &self,
        record: &RefreshTokenRecord,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, grant_id, grant_json, state, issued_at, \
             expires_at) VALUES ($1, $2, $3, 'active', $4, $5)",
        )
        .bind(&record.token_hash)
        .bind(&record.grant_id)
        .bind(to_json_text(&record.grant)?)
        .bind(record.issued_at)
        .bind(record.expires_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("insert refresh token"))?;
        Ok(())
    }

    /// Atomically moves the token from `active` to `rotated` when
    /// `expires_at > now` and its grant is not revoked: of any number of
    /// concurrent callers, on one instance or several, exactly one gets
    /// [`RefreshRotation::Rotated`]. A rotated or revoked token (or one of a
    /// revoked grant) gets [`RefreshRotation::Reused`] with its grant id,
    /// until it is purged; an unknown token, or one that expired while
    /// active, is [`RefreshRotation::Unknown`].
    pub async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<RefreshRotation, StoreError> {
        let rotated = sqlx::query(
            "UPDATE refresh_tokens SET state = 'rotated' \
             WHERE token_hash = $1 AND state = 'active' AND expires_at > $2 \
             AND NOT EXISTS (SELECT 1 FROM revoked_grants \
             WHERE revoked_grants.grant_id = refresh_tokens.grant_id) \
             RETURNING token_hash, grant_id, grant_json, issued_at, expires_at",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::db("rotate refresh token"))?;
        if let Some(row) = rotated {
            return refresh_token_from_row(&row).map(RefreshRotation::Rotated);
        }
        let reused = sqlx::query(
            "SELECT grant_id FROM refresh_tokens \
             WHERE token_hash = $1 AND (state <> 'active' OR EXISTS (SELECT 1 FROM revoked_grants \
             WHERE revoked_grants.grant_id = refresh_tokens.grant_id))",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::db("read refresh token"))?;
        match reused {
            Some(row) => Ok(RefreshRotation::Reused {
                grant_id: column(&row, "grant_id")?,
            }),
            None => Ok(RefreshRotation::Unknown),
        }
    }

    /// The active, unexpired refresh token with this hash, without changing
    /// it: the issuer checks the DPoP and client-instance binding first, so a
    /// thief without the keys cannot burn the holder's token (ISS-TRT-02).
    pub async fn active_refresh_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        sqlx::query(
            "SELECT token_hash, grant_id, grant_json, issued_at, expires_at FROM refresh_tokens \
             WHERE token_hash = $1 AND state = 'active' AND expires_at > $2 \
             AND NOT EXISTS (SELECT 1 FROM revoked_grants \
             WHERE revoked_grants.grant_id = refresh_tokens.grant_id)",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::db("read refresh token"))?
        .as_ref()
        .map(refresh_token_from_row)
        .transpose()
    }

    /// Revokes the grant: every access token and every active refresh token
    /// issued under it, and, through `revoked_grants`, any token of the
    /// grant stored later (ISS-TAC-03, ISS-TRT-03). Idempotent. Returns how
    /// many tokens changed (access tokens revoked plus refresh tokens moved
    /// from `active` to `revoked`); 0 on a repeated call.
    pub async fn revoke_grant(&self, grant_id: &str) -> Result<u64, StoreError> {
        // The mark first: from here on no token of the grant is honoured,
        // even if one of the updates below fails.
        sqlx::query("INSERT INTO revoked_grants (grant_id) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(grant_id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::db("mark grant revoked"))?;
        let access_tokens =
            sqlx::query("UPDATE access_tokens SET revoked = 1 WHERE grant_id = $1 AND revoked = 0")
                .bind(grant_id)
                .execute(&self.pool)
                .await
                .map_err(StoreError::db("revoke access tokens"))?
                .rows_affected();
        let refresh_tokens = sqlx::query(
            "UPDATE refresh_tokens SET state = 'revoked' WHERE grant_id = $1 AND state = 'active'",
        )
        .bind(grant_id)
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("revoke refresh tokens"))?
        .rows_affected();
        Ok(access_tokens + refresh_tokens)
    }
}

fn refresh_token_from_row(row: &AnyRow) -> Result<RefreshTokenRecord, StoreError> {
    Ok(RefreshTokenRecord {
        token_hash: column(row, "token_hash")?,
        grant_id: column(row, "grant_id")?,
        grant: json_column(row, "grant_json")?,
        issued_at: column(row, "issued_at")?,
        expires_at: column(row, "expires_at")?,
    })
}
