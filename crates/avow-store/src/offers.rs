//! Credential offers and their pre-authorized code grant (OID4VCI 1.0 §4.1).
//!
//! An offer moves from `offered` to `redeemed` (the code was exchanged for a
//! token) or `invalidated` (too many wrong tx_codes). Every transition is one
//! conditional `UPDATE`, so it happens at most once across all instances.

use sqlx::any::AnyRow;

use crate::store::{column, json_column, to_json_text, u32_column};
use crate::{IssuerStateRecord, NewOffer, PreAuthorizedGrant, Store, StoreError};

impl Store {
    /// Stores a new offer in state `offered`. A duplicate offer id or code
    /// hash is a [`StoreError::Database`].
    pub async fn insert_offer(&self, offer: &NewOffer) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO offers (offer_id, offer_json, holder_id, configuration_ids, \
             pre_authorized_code_hash, tx_code_hash, state, wrong_tx_code_attempts, \
             created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'offered', 0, $7, $8)",
        )
        .bind(&offer.offer_id)
        .bind(to_json_text(&offer.offer_json)?)
        .bind(&offer.holder_id)
        .bind(to_json_text(&offer.configuration_ids)?)
        .bind(&offer.pre_authorized_code_hash)
        .bind(offer.tx_code_hash.as_deref())
        .bind(offer.created_at)
        .bind(offer.expires_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("insert offer"))?;
        Ok(())
    }

    /// The Credential Offer for a fetch by reference (`credential_offer_uri`):
    /// readable any number of times while the offer is `offered` and
    /// `expires_at > now`, then `None` (ISS-OFFER-07, OID4VCI 1.0 §4.1.3).
    pub async fn offer_json(
        &self,
        offer_id: &str,
        now: i64,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        sqlx::query(
            "SELECT offer_json FROM offers \
             WHERE offer_id = $1 AND state = 'offered' AND expires_at > $2",
        )
        .bind(offer_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::db("read offer"))?
        .map(|row| json_column(&row, "offer_json"))
        .transpose()
    }

    /// The active grant for a pre-authorized code hash: `None` when the code
    /// is unknown, expired, redeemed or invalidated (ISS-TPA-02).
    pub async fn pre_authorized_grant(
        &self,
        code_hash: &str,
        now: i64,
    ) -> Result<Option<PreAuthorizedGrant>, StoreError> {
        sqlx::query(
            "SELECT offer_id, holder_id, configuration_ids, tx_code_hash, \
             wrong_tx_code_attempts, expires_at FROM offers \
             WHERE pre_authorized_code_hash = $1 AND state = 'offered' AND expires_at > $2",
        )
        .bind(code_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::db("read pre-authorized grant"))?
        .as_ref()
        .map(grant_from_row)
        .transpose()
    }

    /// Counts one wrong tx_code for an active code, atomically; when the
    /// count reaches `max_attempts` the code becomes `invalidated`, so even
    /// the right tx_code is refused afterwards (ISS-TPA-05, OID4VCI 1.0
    /// §13.6.3). Returns the new count, or 0 if the code was not active.
    pub async fn record_wrong_tx_code(
        &self,
        code_hash: &str,
        max_attempts: u32,
    ) -> Result<u32, StoreError> {
        let row = sqlx::query(
            "UPDATE offers SET wrong_tx_code_attempts = wrong_tx_code_attempts + 1, \
             state = CASE WHEN wrong_tx_code_attempts + 1 >= $1 THEN 'invalidated' ELSE state END \
             WHERE pre_authorized_code_hash = $2 AND state = 'offered' \
             RETURNING wrong_tx_code_attempts",
        )
        .bind(i64::from(max_attempts))
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::db("record wrong tx_code"))?;
        match row {
            Some(row) => u32_column(&row, "wrong_tx_code_attempts"),
            None => Ok(0),
        }
    }

    /// Moves an active, unexpired code from `offered` to `redeemed`. One
    /// conditional `UPDATE`: of any number of concurrent callers, on one
    /// instance or several, exactly one gets `true` (ISS-TPA-09, ISS-SEC-02,
    /// OID4VCI 1.0 §4.1.1).
    pub async fn redeem_pre_authorized_code(
        &self,
        code_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE offers SET state = 'redeemed' \
             WHERE pre_authorized_code_hash = $1 AND state = 'offered' AND expires_at > $2",
        )
        .bind(code_hash)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("redeem pre-authorized code"))?;
        Ok(result.rows_affected() == 1)
    }
}

fn grant_from_row(row: &AnyRow) -> Result<PreAuthorizedGrant, StoreError> {
    Ok(PreAuthorizedGrant {
        offer_id: column(row, "offer_id")?,
        holder_id: column(row, "holder_id")?,
        configuration_ids: json_column(row, "configuration_ids")?,
        tx_code_hash: column(row, "tx_code_hash")?,
        wrong_tx_code_attempts: u32_column(row, "wrong_tx_code_attempts")?,
        expires_at: column(row, "expires_at")?,
    })
}

impl Store {
    /// Records the `issuer_state` of an authorization-code offer (ISS-OFFER-03).
    pub async fn insert_issuer_state(&self, record: &IssuerStateRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO issuer_states (issuer_state_hash, offer_id, holder_id, configuration_ids, used, expires_at) \
             VALUES ($1, $2, $3, $4, 0, $5)",
        )
        .bind(&record.issuer_state_hash)
        .bind(&record.offer_id)
        .bind(&record.holder_id)
        .bind(to_json_text(&record.configuration_ids)?)
        .bind(record.expires_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("insert issuer state"))?;
        Ok(())
    }

    /// Atomically consumes an unused, unexpired `issuer_state` (ISS-PAR-09);
    /// its offer is then no longer readable by reference (ISS-OFFER-07).
    pub async fn consume_issuer_state(
        &self,
        issuer_state_hash: &str,
        now: i64,
    ) -> Result<Option<IssuerStateRecord>, StoreError> {
        let row = sqlx::query(
            "UPDATE issuer_states SET used = 1 \
             WHERE issuer_state_hash = $1 AND used = 0 AND expires_at > $2 \
             RETURNING issuer_state_hash, offer_id, holder_id, configuration_ids, expires_at",
        )
        .bind(issuer_state_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::db("consume issuer state"))?;
        let Some(row) = row else { return Ok(None) };
        let record = IssuerStateRecord {
            issuer_state_hash: column(&row, "issuer_state_hash")?,
            offer_id: column(&row, "offer_id")?,
            holder_id: column(&row, "holder_id")?,
            configuration_ids: json_column(&row, "configuration_ids")?,
            expires_at: column(&row, "expires_at")?,
        };
        sqlx::query(
            "UPDATE offers SET state = 'redeemed' WHERE offer_id = $1 AND state = 'offered'",
        )
        .bind(&record.offer_id)
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("close offer"))?;
        Ok(Some(record))
    }
}
