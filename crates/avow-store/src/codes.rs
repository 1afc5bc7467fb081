//! Authorization codes (ISS-AUTHZ-08, ISS-TAC-02, ISS-TAC-03), stored by hash
//! with the grant they carry.
//!
//! A code moves from `issued` to `redeemed` by one conditional `UPDATE`, so
//! it is redeemed at most once across all instances (ISS-SEC-02). A
//! redeemed code is kept until it is purged, so a replay is recognised and
//! the caller can revoke the grant.

use sqlx::any::AnyRow;

use crate::store::{column, json_column, to_json_text};
use crate::{AuthorizationCodeRecord, CodeRedemption, Store, StoreError};

impl Store {
    /// Stores an issued code in state `issued`. A duplicate hash is a
    /// [`StoreError::Database`].
    pub async fn insert_authorization_code(
        &self,
        record: &AuthorizationCodeRecord,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO authorization_codes (code_hash, grant_id, client_id, grant_json, state, \
             issued_at, expires_at) VALUES ($1, $2, $3, $4, 'issued', $5, $6)",
        )
        .bind(&record.code_hash)
        .bind(&record.grant_id)
        .bind(&record.client_id)
        .bind(to_json_text(&record.grant)?)
        .bind(record.issued_at)
        .bind(record.expires_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("insert authorization code"))?;
        Ok(())
    }

    /// Atomically moves the code from `issued` to `redeemed` when
    /// `expires_at > now`: of any number of concurrent callers, on one
    /// instance or several, exactly one gets [`CodeRedemption::Redeemed`].
    /// Any later call for the redeemed code (expired or not) gets
    /// [`CodeRedemption::Replayed`] with its grant id, until the code is
    /// purged; an unknown code, or one that expired unredeemed, is
    /// [`CodeRedemption::Unknown`].
    pub async fn redeem_authorization_code(
        &self,
        code_hash: &str,
        now: i64,
    ) -> Result<CodeRedemption, StoreError> {
        let redeemed = sqlx::query(
            "UPDATE authorization_codes SET state = 'redeemed' \
             WHERE code_hash = $1 AND state = 'issued' AND expires_at > $2 \
             RETURNING code_hash, grant_id, client_id, grant_json, issued_at, expires_at",
        )
        .bind(code_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::db("redeem authorization code"))?;
        if let Some(row) = redeemed {
            return code_from_row(&row).map(CodeRedemption::Redeemed);
        }
        let replayed = sqlx::query(
            "SELECT grant_id FROM authorization_codes \
             WHERE code_hash = $1 AND state = 'redeemed'",
        )
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::db("read authorization code"))?;
        match replayed {
            Some(row) => Ok(CodeRedemption::Replayed {
                grant_id: column(&row, "grant_id")?,
            }),
            None => Ok(CodeRedemption::Unknown),
        }
    }
}

fn code_from_row(row: &AnyRow) -> Result<AuthorizationCodeRecord, StoreError> {
    Ok(AuthorizationCodeRecord {
        code_hash: column(row, "code_hash")?,
        grant_id: column(row, "grant_id")?,
        client_id: column(row, "client_id")?,
        grant: json_column(row, "grant_json")?,
        issued_at: column(row, "issued_at")?,
        expires_at: column(row, "expires_at")?,
    })
}
