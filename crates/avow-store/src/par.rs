//! Pushed authorization requests (RFC 9126): single use, short-lived, bound
//! to the client that pushed them (ISS-PAR-11, ISS-AUTHZ-01, ISS-AUTHZ-03).
//!
//! A request moves from `pushed` to `used` by one conditional `UPDATE`, so it
//! is consumed at most once across all instances (ISS-SEC-02).

use sqlx::any::AnyRow;

use crate::store::{column, json_column, to_json_text};
use crate::{ParConsumption, ParRecord, Store, StoreError};

impl Store {
    /// Stores a pushed request in state `pushed`. A duplicate hash is a
    /// [`StoreError::Database`].
    pub async fn insert_par_request(&self, record: &ParRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO par_requests (request_uri_hash, client_id, request_json, state, \
             created_at, expires_at) VALUES ($1, $2, $3, 'pushed', $4, $5)",
        )
        .bind(&record.request_uri_hash)
        .bind(&record.client_id)
        .bind(to_json_text(&record.request)?)
        .bind(record.created_at)
        .bind(record.expires_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("insert PAR request"))?;
        Ok(())
    }

    /// Atomically consumes the request if it exists, is unused,
    /// `expires_at > now` and `client_id` matches. Of any number of
    /// concurrent callers, on one instance or several, at most one gets
    /// [`ParConsumption::Consumed`]. A request pushed by another client is
    /// left untouched ([`ParConsumption::WrongClient`]), so a guessed or
    /// leaked `request_uri` cannot burn it.
    pub async fn consume_par_request(
        &self,
        request_uri_hash: &str,
        client_id: &str,
        now: i64,
    ) -> Result<ParConsumption, StoreError> {
        let consumed = sqlx::query(
            "UPDATE par_requests SET state = 'used' \
             WHERE request_uri_hash = $1 AND client_id = $2 AND state = 'pushed' \
             AND expires_at > $3 \
             RETURNING request_uri_hash, client_id, request_json, created_at, expires_at",
        )
        .bind(request_uri_hash)
        .bind(client_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::db("consume PAR request"))?;
        if let Some(row) = consumed {
            return par_from_row(&row).map(ParConsumption::Consumed);
        }
        // Not consumed: tell a live request of another client from the rest.
        let live = sqlx::query(
            "SELECT client_id FROM par_requests \
             WHERE request_uri_hash = $1 AND state = 'pushed' AND expires_at > $2",
        )
        .bind(request_uri_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::db("read PAR request"))?;
        match live {
            Some(row) if column::<String>(&row, "client_id")? != client_id => {
                Ok(ParConsumption::WrongClient)
            }
            _ => Ok(ParConsumption::Unknown),
        }
    }
}

fn par_from_row(row: &AnyRow) -> Result<ParRecord, StoreError> {
    Ok(ParRecord {
        request_uri_hash: column(row, "request_uri_hash")?,
        client_id: column(row, "client_id")?,
        request: json_column(row, "request_json")?,
        created_at: column(row, "created_at")?,
        expires_at: column(row, "expires_at")?,
    })
}
