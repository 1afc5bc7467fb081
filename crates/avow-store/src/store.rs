//! Connecting, migrating, and the helpers every table module shares.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Decode, Executor, Row, Type};

use crate::StoreError;

/// The embedded migrations: one set, run on both backends.
static MIGRATOR: Migrator = sqlx::migrate!();

/// Per-connection settings for SQLite: wait for the write lock instead of
/// failing at once, write-ahead logging so readers never block the writer,
/// and enforced foreign keys.
const SQLITE_PRAGMAS: [&str; 4] = [
    "PRAGMA busy_timeout = 5000",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
];

/// The database behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite: the default, for one issuer instance.
    Sqlite,
    /// PostgreSQL: shared by several issuer instances.
    Postgres,
}

impl Backend {
    fn from_url(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            // The URL itself is not echoed: it may carry a password.
            Err(StoreError::Database(
                "unsupported database URL: expected sqlite:… or postgres://…".to_owned(),
            ))
        }
    }

    /// SQLite has one writer at a time, so a few connections suffice (WAL lets
    /// readers run beside it); PostgreSQL serves many concurrent requests.
    fn max_connections(self) -> u32 {
        match self {
            Backend::Sqlite => 4,
            Backend::Postgres => 10,
        }
    }
}

/// Every piece of issuer transaction state, on SQLite or PostgreSQL.
///
/// Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects to `sqlite://PATH` (the file and its directory are created
    /// when missing) or `postgres://…`, and applies the embedded migrations
    /// (idempotent; PostgreSQL serialises concurrent instances with an
    /// advisory lock).
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let options = AnyPoolOptions::new().max_connections(backend.max_connections());
        let pool = match backend {
            Backend::Sqlite => {
                let url = prepare_sqlite_url(url).await?;
                options
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            for pragma in SQLITE_PRAGMAS {
                                conn.execute(pragma).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await
            }
            Backend::Postgres => options.connect(url).await,
        }
        .map_err(StoreError::db("connect"))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        tracing::debug!(?backend, "store connected and migrated");
        Ok(Store { pool, backend })
    }

    /// Which database this store uses.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Returns the secret stored under `name`, storing `candidate` first if
    /// there is none. Insert-if-absent then read, so concurrent instances all
    /// end up with the same secret (ISS-NONCE-02: values every instance can
    /// verify). Stored as lowercase hex.
    pub async fn shared_secret(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        sqlx::query(
            "INSERT INTO shared_secrets (name, secret) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(name)
        .bind(hex_encode(candidate))
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("insert shared secret"))?;
        let row = sqlx::query("SELECT secret FROM shared_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::db("read shared secret"))?;
        let text: String = column(&row, "secret")?;
        hex_decode(&text)
            .ok_or_else(|| StoreError::Corrupt(format!("shared secret {name:?} is not hex")))
    }
}

/// Adds `mode=rwc` (create the file if missing) unless the URL chooses a
/// mode, and creates the database file's directory.
async fn prepare_sqlite_url(url: &str) -> Result<String, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, params) = match rest.split_once('?') {
        Some((path, params)) => (path, Some(params)),
        None => (rest, None),
    };
    let has_mode =
        params.is_some_and(|params| params.split('&').any(|pair| pair.starts_with("mode=")));
    let in_memory = path.is_empty() || path == ":memory:";
    if !in_memory
        && let Some(dir) = Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| StoreError::Database(format!("create {}: {e}", dir.display())))?;
    }
    Ok(match (has_mode || in_memory, params) {
        (true, _) => url.to_owned(),
        (false, Some(_)) => format!("{url}&mode=rwc"),
        (false, None) => format!("{url}?mode=rwc"),
    })
}

/// Reads one column; a missing column or an undecodable value is corrupt
/// data, never a panic.
pub(crate) fn column<'r, T>(row: &'r AnyRow, name: &str) -> Result<T, StoreError>
where
    T: Decode<'r, Any> + Type<Any>,
{
    row.try_get(name)
        .map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))
}

/// Reads a TEXT column holding JSON.
pub(crate) fn json_column<T: DeserializeOwned>(row: &AnyRow, name: &str) -> Result<T, StoreError> {
    let text: String = column(row, name)?;
    serde_json::from_str(&text)
        .map_err(|e| StoreError::Corrupt(format!("column {name} is not the expected JSON: {e}")))
}

/// Reads a BIGINT column holding a count that must fit a `u32`.
pub(crate) fn u32_column(row: &AnyRow, name: &str) -> Result<u32, StoreError> {
    let value: i64 = column(row, name)?;
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("column {name} = {value}")))
}

/// Serialises a value for a TEXT column holding JSON.
pub(crate) fn to_json_text<T: Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("encode JSON: {e}")))
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => Some(nibble(*hi)? << 4 | nibble(*lo)?),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(hex_decode(&hex_encode(&bytes)), Some(bytes));
        assert_eq!(hex_decode("0"), None);
        assert_eq!(hex_decode("zz"), None);
        assert_eq!(hex_decode(""), Some(vec![]));
    }

    #[test]
    fn backend_from_url() {
        assert_eq!(
            Backend::from_url("sqlite://x.db").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("postgres://h/db").ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::from_url("postgresql://h/db").ok(),
            Some(Backend::Postgres)
        );
        assert!(Backend::from_url("mysql://h/db").is_err());
    }
}
