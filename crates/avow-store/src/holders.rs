//! Holder data: the claims the issuer may put in a holder's credentials.

use sqlx::any::AnyRow;

use crate::store::{column, json_column, to_json_text};
use crate::{Holder, Store, StoreError};

impl Store {
    /// Inserts the holder, or replaces the claims of an existing one.
    pub async fn upsert_holder(&self, holder: &Holder) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO holders (id, claims) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET claims = excluded.claims",
        )
        .bind(&holder.id)
        .bind(to_json_text(&holder.claims)?)
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("upsert holder"))?;
        Ok(())
    }

    /// The holder with this id, if any.
    pub async fn holder(&self, id: &str) -> Result<Option<Holder>, StoreError> {
        sqlx::query("SELECT id, claims FROM holders WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::db("read holder"))?
            .as_ref()
            .map(holder_from_row)
            .transpose()
    }

    /// Every holder, ordered by id.
    pub async fn holders(&self) -> Result<Vec<Holder>, StoreError> {
        sqlx::query("SELECT id, claims FROM holders ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db("list holders"))?
            .iter()
            .map(holder_from_row)
            .collect()
    }
}

fn holder_from_row(row: &AnyRow) -> Result<Holder, StoreError> {
    Ok(Holder {
        id: column(row, "id")?,
        claims: json_column(row, "claims")?,
    })
}
