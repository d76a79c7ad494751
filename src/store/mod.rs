//! Inlet's state in SQL (sqlx): API tokens, the search index, the discovery cache and usage.
//! SQLite by default (`inlet.db` in the state directory, WAL), PostgreSQL for shared deployments
//! (`--database-url postgres://...`). The same code paths run on both: statements are written
//! once with `$n` placeholders (which SQLite accepts too) and every value is bound, never
//! spliced into SQL. Search itself runs in memory ([`crate::search`]); SQL keeps its shared parts.

pub mod discovery;
pub mod search;
pub mod tokens;
pub mod usage;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

pub use tokens::{NewToken, TokenCheck, TokenRecord};
pub use usage::{UsageDelta, UsageRow};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// The database file in the state directory when no URL is given.
pub const SQLITE_FILE: &str = "inlet.db";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Config(String),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$p` bound to the pool of either backend: the body is written once and
/// compiled for each (so it must use only what both accept).
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            $crate::store::Pool::Sqlite($p) => $body,
            $crate::store::Pool::Postgres($p) => $body,
        }
    };
}
pub(crate) use on_pool;

/// The handle the service uses; cheap to clone (pools are shared).
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) pool: Pool,
    /// Where it is, for logs and errors (no password).
    shown: String,
}

/// `postgres://user:secret@host/db` -> `postgres://user:***@host/db`.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Store {
    /// Opens (creating when needed) and migrates the database: `url` when given (`postgres://`,
    /// `postgresql://` or `sqlite:`), else `inlet.db` in `state_dir` (made private first).
    pub async fn open(url: Option<&str>, state_dir: &Path) -> Result<Store> {
        let store = match url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                Store::postgres(u).await?
            }
            Some(u) if u.starts_with("sqlite:") => {
                let opts = SqliteConnectOptions::from_str(u).map_err(|e| {
                    StoreError::Config(format!("database URL `{}`: {e}", redact_url(u)))
                })?;
                Store::sqlite(opts, redact_url(u)).await?
            }
            Some(u) => {
                return Err(StoreError::Config(format!(
                    "database URL `{}` is neither postgres://... nor sqlite:...",
                    redact_url(u)
                )))
            }
            None => {
                crate::service::state_dir::ensure_private(state_dir).map_err(StoreError::Config)?;
                let path = state_dir.join(SQLITE_FILE);
                let opts = SqliteConnectOptions::new().filename(&path);
                Store::sqlite(opts, path.display().to_string()).await?
            }
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn sqlite(opts: SqliteConnectOptions, shown: String) -> Result<Store> {
        let opts = opts
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await
            .map_err(|e| {
                StoreError::Config(format!("cannot open the SQLite database `{shown}`: {e}"))
            })?;
        Ok(Store {
            pool: Pool::Sqlite(pool),
            shown,
        })
    }

    async fn postgres(url: &str) -> Result<Store> {
        let shown = redact_url(url);
        let opts = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("database URL `{shown}`: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Config(format!("cannot connect to `{shown}`: {e}")))?;
        Ok(Store {
            pool: Pool::Postgres(pool),
            shown,
        })
    }

    /// A private in-memory SQLite database (tests, tools): one connection that lives as long
    /// as the store.
    pub async fn memory() -> Result<Store> {
        let opts = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts)
            .await?;
        let store = Store {
            pool: Pool::Sqlite(pool),
            shown: "sqlite::memory:".into(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// How write transactions start: SQLite takes the write lock at once (a deferred
    /// transaction that reads first and writes later gets `database is locked` without waiting
    /// when another connection writes).
    pub(crate) fn begin_sql(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "BEGIN IMMEDIATE",
            Pool::Postgres(_) => "BEGIN",
        }
    }

    /// Where the database is (passwords hidden).
    pub fn location(&self) -> &str {
        &self.shown
    }

    fn migrator(&self) -> &'static Migrator {
        match self.pool {
            Pool::Sqlite(_) => &SQLITE_MIGRATIONS,
            Pool::Postgres(_) => &POSTGRES_MIGRATIONS,
        }
    }

    /// The newest schema version applied to the database, if any.
    pub async fn schema_version(&self) -> Result<Option<i64>> {
        let exists: bool = on_pool!(&self.pool, p => {
            let sql = match self.pool {
                Pool::Sqlite(_) => "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
                Pool::Postgres(_) => "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'",
            };
            sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await? > 0
        });
        if !exists {
            return Ok(None);
        }
        let v: Option<i64> = on_pool!(&self.pool, p => {
            sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success").fetch_one(p).await?
        });
        Ok(v)
    }

    /// Applies the migrations this binary knows. A database already migrated by a newer Inlet
    /// is refused: its tables may mean things this version does not know.
    async fn migrate(&self) -> Result<()> {
        let migrator = self.migrator();
        let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
        if let Some(at) = self.schema_version().await? {
            if at > known {
                return Err(StoreError::Config(format!(
                    "the database `{}` has schema version {at}, newer than this inlet knows ({known}): it was migrated by a newer Inlet; run that version (or newer), or point --database-url at another database",
                    self.shown
                )));
            }
        }
        on_pool!(&self.pool, p => migrator.run(p).await?);
        Ok(())
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        let fut = async {
            on_pool!(&self.pool, p => sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(p).await)
        };
        match tokio::time::timeout(Duration::from_secs(2), fut).await {
            Ok(r) => r.map(|_| ()).map_err(StoreError::from),
            Err(_) => Err(StoreError::Config(
                "the database did not answer within 2 s".into(),
            )),
        }
    }

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(&self) {
        on_pool!(&self.pool, p => p.close().await);
    }
}

/// Seconds since the Unix epoch, as stored.
pub fn now() -> i64 {
    i64::try_from(crate::service::tickets::now()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_passwords() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
        assert_eq!(redact_url("sqlite:/tmp/x.db"), "sqlite:/tmp/x.db");
    }

    #[tokio::test]
    async fn sqlite_file_is_created_in_wal_mode_and_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let state = dir.path().join("state");
        let store = Store::open(None, &state).await.expect("open");
        assert!(state.join(SQLITE_FILE).is_file());
        let Pool::Sqlite(p) = &store.pool else {
            panic!("sqlite")
        };
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(p)
            .await
            .expect("pragma");
        assert_eq!(mode, "wal");
        sqlx::query("INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) VALUES (99990101000000, 'from the future', CURRENT_TIMESTAMP, TRUE, X'00', 0)")
            .execute(p)
            .await
            .expect("insert");
        store.close().await;
        let err = Store::open(None, &state).await.expect_err("newer schema");
        let text = err.to_string();
        assert!(text.contains("newer than this inlet knows"), "{text}");
    }
}
