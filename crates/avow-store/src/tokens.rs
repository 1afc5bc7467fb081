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
             dpop_jkt, offer_id, grant_id, revoked, issued_at, expires_at, authorization_details, certificate_thumbprint) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10, $11)",
        )
        .bind(&token.token_hash)
        .bind(&token.holder_id)
        .bind(to_json_text(&token.configuration_ids)?)
        .bind(token.client_id.as_deref())
        .bind(&token.dpop_jkt)
        .bind(token.offer_id.as_deref())
        .bind(token.grant_id.as_deref())
        .bind(token.issued_at)
        .bind(token.expires_at)
        .bind(
            token
                .authorization_details
                .as_ref()
                .map(to_json_text)
                .transpose()?,
        )
        .bind(token.certificate_thumbprint.as_deref())
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("insert access token"))?;
        Ok(())
    }

    /// The token with this hash, only while `expires_at > now` and neither
    /// the token nor its grant is revoked ([`Store::revoke_grant`]).
    pub async fn access_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<AccessTokenRecord>, StoreError> {
        sqlx::query(
            "SELECT token_hash, holder_id, configuration_ids, client_id, dpop_jkt, offer_id, \
             grant_id, issued_at, expires_at, authorization_details, certificate_thumbprint FROM access_tokens \
             WHERE token_hash = $1 AND expires_at > $2 AND revoked = 0 \
             AND NOT EXISTS (SELECT 1 FROM revoked_grants \
             WHERE revoked_grants.grant_id = access_tokens.grant_id)",
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
        grant_id: column(row, "grant_id")?,
        authorization_details: {
            let text: Option<String> = column(row, "authorization_details")?;
            text.map(|t| serde_json::from_str(&t))
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("column authorization_details: {e}")))?
        },
        certificate_thumbprint: column(row, "certificate_thumbprint")?,
        issued_at: column(row, "issued_at")?,
        expires_at: column(row, "expires_at")?,
    })
}
