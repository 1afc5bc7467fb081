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
             issued_at, expires_at, status_list_id, status_index) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&record.id)
        .bind(&record.holder_id)
        .bind(&record.configuration_id)
        .bind(&record.key_thumbprint)
        .bind(record.issued_at)
        .bind(record.expires_at)
        .bind(record.status_list_id.as_deref())
        .bind(record.status_index.map(i64::from))
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
            "SELECT id, holder_id, configuration_id, key_thumbprint, issued_at, expires_at, \
             status_list_id, status_index FROM issuances WHERE holder_id = $1 \
             ORDER BY issued_at, id",
        )
        .bind(holder_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::db("list issuances"))?
        .iter()
        .map(issuance_from_row)
        .collect()
    }

    /// One issuance record, by id.
    pub async fn issuance(&self, id: &str) -> Result<Option<IssuanceRecord>, StoreError> {
        sqlx::query(
            "SELECT id, holder_id, configuration_id, key_thumbprint, issued_at, expires_at, \
             status_list_id, status_index FROM issuances WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::db("read issuance"))?
        .as_ref()
        .map(issuance_from_row)
        .transpose()
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
        status_list_id: column(row, "status_list_id")?,
        status_index: column::<Option<i64>>(row, "status_index")?
            .map(|i| {
                u32::try_from(i)
                    .map_err(|_| StoreError::Corrupt(format!("column status_index = {i}")))
            })
            .transpose()?,
    })
}
