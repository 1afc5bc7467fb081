//! What the issuer keeps after issuance: lifecycle data, never the signed
//! credential (ISS-SEC-07, OID4VCI 1.0 §15.3, §15.4.1).

use sqlx::any::AnyRow;

use crate::store::column;
use crate::{IssuanceRecord, Store, StoreError};

impl Store {
    /// Records one issued credential. A duplicate id is a
    /// [`StoreError::Database`].
    pub async fn record_issuance(&self, record: &IssuanceRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO issuances (id, holder_id, configuration_id, key_thumbprint, \
             issued_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&record.id)
        .bind(&record.holder_id)
        .bind(&record.configuration_id)
        .bind(&record.key_thumbprint)
        .bind(record.issued_at)
        .bind(record.expires_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("record issuance"))?;
        Ok(())
    }

    /// The holder's issuance records, oldest first (ties by id).
    pub async fn issuances_for_holder(
        &self,
        holder_id: &str,
    ) -> Result<Vec<IssuanceRecord>, StoreError> {
        sqlx::query(
            "SELECT id, holder_id, configuration_id, key_thumbprint, issued_at, expires_at \
             FROM issuances WHERE holder_id = $1 ORDER BY issued_at, id",
        )
        .bind(holder_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::db("list issuances"))?
        .iter()
        .map(issuance_from_row)
        .collect()
    }
}

fn issuance_from_row(row: &AnyRow) -> Result<IssuanceRecord, StoreError> {
    Ok(IssuanceRecord {
        id: column(row, "id")?,
        holder_id: column(row, "holder_id")?,
        configuration_id: column(row, "configuration_id")?,
        key_thumbprint: column(row, "key_thumbprint")?,
        issued_at: column(row, "issued_at")?,
        expires_at: column(row, "expires_at")?,
    })
}
