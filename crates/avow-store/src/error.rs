//! The one error type of the store.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or rejected a statement (including
    /// constraint violations such as a duplicate offer id).
    #[error("database error: {0}")]
    Database(String),
    /// The embedded migrations could not be applied.
    #[error("migration error: {0}")]
    Migration(String),
    /// A stored row could not be decoded (bad JSON, out-of-range number,
    /// unknown state). Never a panic.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Maps a sqlx error, naming the operation that failed.
    pub(crate) fn db(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |e| StoreError::Database(format!("{operation}: {e}"))
    }
}
