//! Holder data: the claims the issuer may put in a holder's credentials.

use sqlx::any::AnyRow;

use crate::store::{column, json_column, to_json_text};
use crate::{Holder, Store, StoreError};

impl Store {
    /// Inserts the holder, or replaces the claims of an existing one (its
    /// password, if any, is kept).
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

    /// Sets the holder's password, a PHC string computed by the caller (e.g.
    /// argon2id; ISS-AUTHZ-04). `false` if there is no such holder.
    pub async fn set_holder_password(
        &self,
        holder_id: &str,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query("UPDATE holders SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(holder_id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::db("set holder password"))?;
        Ok(result.rows_affected() == 1)
    }

    /// The holder's password PHC string: `None` if there is no such holder
    /// or it has no password.
    pub async fn holder_password(&self, holder_id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT password_hash FROM holders WHERE id = $1")
            .bind(holder_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::db("read holder password"))?;
        match row {
            Some(row) => column(&row, "password_hash"),
            None => Ok(None),
        }
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
