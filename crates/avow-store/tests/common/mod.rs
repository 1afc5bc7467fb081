//! The harness shared by the test suites: every test body runs against both
//! backends, SQLite in a fresh temporary directory, and PostgreSQL at
//! `DATABASE_URL` (default `postgres://postgres@127.0.0.1/test`) in a fresh
//! schema per test.
//!
//! Time is passed in as fixed Unix seconds, so every test is deterministic.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;

use avow_store::{Backend, Store};
use sqlx::{AnyConnection, Connection, Executor, Row};

pub const NOW: i64 = 1_700_000_000;
const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1/test";

/// One test's database: its URL and what to remove afterwards.
#[derive(Clone)]
pub struct Db {
    pub backend: Backend,
    pub url: String,
}

impl Db {
    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url).await.expect("connect store");
        assert_eq!(store.backend(), self.backend);
        store
    }

    /// A plain connection to the same database (and schema), to write rows
    /// the API would never write.
    pub async fn raw(&self) -> AnyConnection {
        AnyConnection::connect(&self.url)
            .await
            .expect("raw connection")
    }
}

pub enum Cleanup {
    Dir(PathBuf),
    Schema { admin_url: String, schema: String },
}

pub async fn setup(backend: Backend) -> (Db, Cleanup) {
    sqlx::any::install_default_drivers();
    let id = uuid::Uuid::new_v4().simple().to_string();
    match backend {
        Backend::Sqlite => {
            // The directory does not exist yet: `connect` creates it.
            let dir = std::env::temp_dir().join(format!("avow-store-test-{id}"));
            let url = format!("sqlite://{}/avow.db", dir.display());
            (Db { backend, url }, Cleanup::Dir(dir))
        }
        Backend::Postgres => {
            let admin_url =
                std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned());
            let schema = format!("avow_test_{id}");
            let mut admin = AnyConnection::connect(&admin_url)
                .await
                .expect("connect to PostgreSQL (set DATABASE_URL)");
            admin
                .execute(format!("CREATE SCHEMA {schema}").as_str())
                .await
                .expect("create schema");
            admin.close().await.expect("close admin connection");
            let separator = if admin_url.contains('?') { '&' } else { '?' };
            let url = format!("{admin_url}{separator}options=-c%20search_path%3D{schema}");
            (Db { backend, url }, Cleanup::Schema { admin_url, schema })
        }
    }
}

pub async fn cleanup(cleanup: Cleanup) {
    match cleanup {
        Cleanup::Dir(dir) => {
            let _ = std::fs::remove_dir_all(dir);
        }
        Cleanup::Schema { admin_url, schema } => {
            let mut admin = AnyConnection::connect(&admin_url)
                .await
                .expect("connect to PostgreSQL");
            admin
                .execute(format!("DROP SCHEMA {schema} CASCADE").as_str())
                .await
                .expect("drop schema");
            admin.close().await.expect("close admin connection");
        }
    }
}

/// Checks that the migrations went into the test's own schema, i.e. that
/// the `options=-c search_path=…` URL parameter took effect.
pub async fn assert_isolated(cleanup: &Cleanup) {
    if let Cleanup::Schema { admin_url, schema } = cleanup {
        let mut admin = AnyConnection::connect(admin_url)
            .await
            .expect("connect to PostgreSQL");
        let row = sqlx::query(
            "SELECT count(*) AS n FROM information_schema.tables \
             WHERE table_schema = $1 AND table_name IN ('_sqlx_migrations', 'offers')",
        )
        .bind(schema.as_str())
        .fetch_one(&mut admin)
        .await
        .expect("query information_schema");
        let tables: i64 = row.try_get("n").expect("count");
        assert_eq!(tables, 2, "migrations did not run in schema {schema}");
        admin.close().await.expect("close admin connection");
    }
}

/// Runs one test body against a fresh database and always cleans up, even
/// when the body panics.
pub async fn run<F, Fut>(backend: Backend, body: F)
where
    F: FnOnce(Db) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (db, to_clean) = setup(backend).await;
    let outcome = tokio::spawn(body(db)).await;
    if outcome.is_ok() {
        assert_isolated(&to_clean).await;
    }
    cleanup(to_clean).await;
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

/// Declares every body once per backend (the bodies and `run` must be in
/// scope at the crate root of the test binary).
macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::run(avow_store::Backend::Sqlite, super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::run(avow_store::Backend::Postgres, super::$name).await;
                }
            )*
        }
    };
}
