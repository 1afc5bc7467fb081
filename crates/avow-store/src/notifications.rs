//! Notification ids and the events wallets report for them (OID4VCI 1.0
//! §11; ISS-NOTIF-01, -03, -04, -06).
//!
//! A `notification_id` is stored only as a hash computed by the caller,
//! bound to the grant of the access token the credentials went to. Events
//! are recorded idempotently: an identical repeat updates the one row.

use sqlx::any::AnyRow;

use crate::store::{column, u32_column};
use crate::{Store, StoreError};

/// One `notification_id` handed out with a (Deferred) Credential Response.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationRecord {
    /// The operator's handle (not secret).
    pub id: String,
    /// Hash of the `notification_id`; the raw value is never stored.
    pub notification_hash: String,
    /// The grant whose access tokens may notify.
    pub grant_key: String,
    pub holder_id: String,
    pub configuration_id: String,
    pub credential_count: u32,
    /// The deferred transaction the credentials came from, if any.
    pub deferred_id: Option<String>,
    pub created_at: i64,
    /// After this second the record and its events are purged.
    pub expires_at: i64,
}

/// A received event (ISS-NOTIF-06).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NotificationEventRecord {
    pub event: String,
    pub event_description: Option<String>,
    pub first_received_at: i64,
    pub last_received_at: i64,
    /// How many identical notifications arrived (1 = once).
    pub repeats: u32,
}

/// The key that makes identical repeats one row.
fn description_key(description: Option<&str>) -> String {
    match description {
        None => "n".into(),
        Some(d) => format!("d:{d}"),
    }
}

const COLUMNS: &str = "id, notification_hash, grant_key, holder_id, configuration_id, \
     credential_count, deferred_id, created_at, expires_at";

impl Store {
    /// Stores a new notification id. A duplicate id or hash is a
    /// [`StoreError::Database`].
    pub async fn insert_notification(&self, record: &NotificationRecord) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO notifications ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(&record.id)
        .bind(&record.notification_hash)
        .bind(&record.grant_key)
        .bind(&record.holder_id)
        .bind(&record.configuration_id)
        .bind(i64::from(record.credential_count))
        .bind(record.deferred_id.as_deref())
        .bind(record.created_at)
        .bind(record.expires_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("insert notification"))?;
        Ok(())
    }

    /// The notification with this `notification_id` hash, while unexpired
    /// (`expires_at >= now`).
    pub async fn notification_by_hash(
        &self,
        notification_hash: &str,
        now: i64,
    ) -> Result<Option<NotificationRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM notifications WHERE notification_hash = $1 AND expires_at >= $2"
        ))
        .bind(notification_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::db("read notification"))?
        .as_ref()
        .map(notification_from_row)
        .transpose()
    }

    /// Records an event for the notification `notification_id` (the
    /// operator id). An identical repeat counts up the existing row
    /// (ISS-NOTIF-04).
    pub async fn record_notification_event(
        &self,
        notification_id: &str,
        event: &str,
        event_description: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO notification_events (notification_id, event, description_key, \
             event_description, first_received_at, last_received_at, repeats) \
             VALUES ($1, $2, $3, $4, $5, $6, 1) \
             ON CONFLICT (notification_id, event, description_key) DO UPDATE SET \
             last_received_at = excluded.last_received_at, \
             repeats = notification_events.repeats + 1",
        )
        .bind(notification_id)
        .bind(event)
        .bind(description_key(event_description))
        .bind(event_description)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("record notification event"))?;
        Ok(())
    }

    /// Notifications, newest first (ties by id), optionally only those of
    /// `holder_id`, each with its events (oldest first).
    pub async fn notifications(
        &self,
        holder_id: Option<&str>,
    ) -> Result<Vec<(NotificationRecord, Vec<NotificationEventRecord>)>, StoreError> {
        let rows = match holder_id {
            Some(holder_id) => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM notifications WHERE holder_id = $1 \
                     ORDER BY created_at DESC, id"
                ))
                .bind(holder_id)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM notifications ORDER BY created_at DESC, id"
                ))
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(StoreError::db("list notifications"))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let record = notification_from_row(row)?;
            let events = self.notification_events(&record.id).await?;
            out.push((record, events));
        }
        Ok(out)
    }

    /// The events of one notification (operator id), oldest first.
    pub async fn notification_events(
        &self,
        notification_id: &str,
    ) -> Result<Vec<NotificationEventRecord>, StoreError> {
        sqlx::query(
            "SELECT event, event_description, first_received_at, last_received_at, repeats \
             FROM notification_events WHERE notification_id = $1 \
             ORDER BY first_received_at, event, description_key",
        )
        .bind(notification_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::db("list notification events"))?
        .iter()
        .map(|row| {
            Ok(NotificationEventRecord {
                event: column(row, "event")?,
                event_description: column(row, "event_description")?,
                first_received_at: column(row, "first_received_at")?,
                last_received_at: column(row, "last_received_at")?,
                repeats: u32_column(row, "repeats")?,
            })
        })
        .collect()
    }
}

fn notification_from_row(row: &AnyRow) -> Result<NotificationRecord, StoreError> {
    Ok(NotificationRecord {
        id: column(row, "id")?,
        notification_hash: column(row, "notification_hash")?,
        grant_key: column(row, "grant_key")?,
        holder_id: column(row, "holder_id")?,
        configuration_id: column(row, "configuration_id")?,
        credential_count: u32_column(row, "credential_count")?,
        deferred_id: column(row, "deferred_id")?,
        created_at: column(row, "created_at")?,
        expires_at: column(row, "expires_at")?,
    })
}
