//! Access tokens, stored by hash with the grant they carry, so any instance
//! can serve the credential request and a restart loses nothing
//! (ISS-TOK-10).

use sqlx::any::AnyRow;

use crate::store::{column, json_column, to_json_text};
use crate::{AccessTokenRecord, Store, StoreError};

impl Store {
    /// Stores an issued access token. A duplicate hash is a
    /// [`StoreError::Database`].
    pub async fn insert_access_token(&self, token: &AccessTokenRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO access_tokens (token_hash, holder_id, configuration_ids, client_id, \
             dpop_jkt, offer_id, issued_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&token.token_hash)
        .bind(&token.holder_id)
        .bind(to_json_text(&token.configuration_ids)?)
        .bind(token.client_id.as_deref())
        .bind(&token.dpop_jkt)
        .bind(token.offer_id.as_deref())
        .bind(token.issued_at)
        .bind(token.expires_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("insert access token"))?;
        Ok(())
    }

    /// The token with this hash, only while `expires_at > now`.
    pub async fn access_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<AccessTokenRecord>, StoreError> {
        sqlx::query(
            "SELECT token_hash, holder_id, configuration_ids, client_id, dpop_jkt, offer_id, \
             issued_at, expires_at FROM access_tokens \
             WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::db("read access token"))?
        .as_ref()
        .map(token_from_row)
        .transpose()
    }
}

fn token_from_row(row: &AnyRow) -> Result<AccessTokenRecord, StoreError> {
    Ok(AccessTokenRecord {
        token_hash: column(row, "token_hash")?,
        holder_id: column(row, "holder_id")?,
        configuration_ids: json_column(row, "configuration_ids")?,
        client_id: column(row, "client_id")?,
        dpop_jkt: column(row, "dpop_jkt")?,
        offer_id: column(row, "offer_id")?,
        issued_at: column(row, "issued_at")?,
        expires_at: column(row, "expires_at")?,
    })
}
