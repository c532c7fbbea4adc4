//! The two databases behind one pool: SQLite (embedded default) and PostgreSQL
//! (production, shared by several control-plane replicas).
//!
//! Every query runs through sqlx's `Any` driver, so the store, approvals, pins, agents and
//! dashboard code is written once. The queries use `$1, $2, ...` placeholders, which
//! both databases accept (sqlx binds SQLite's `$NNN` by number). The few places where the
//! SQL itself differs (JSON functions, the chain lock) ask [`Backend`] for their variant.
//! Values cross the driver as the types `Any` supports (i64, text, bool); timestamps are
//! RFC 3339 text and JSON is text on both sides, so the stored bytes (and therefore the
//! hash chain) are identical whichever database holds them.

use super::types::{Durability, StoreError};
use sqlx::any::{AnyArguments, AnyPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{AnyPool, Arguments, ConnectOptions, Connection, Executor};
use std::str::FromStr;
use std::time::Duration;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One file, one process.
    Sqlite,
    /// One server, any number of control-plane replicas.
    Postgres,
}

impl Backend {
    /// The backend a `database` URL names.
    pub fn of(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError(format!(
                "`{}` is not a database URL Gatehouse knows: use sqlite://FILE or postgres://USER@HOST/DB",
                redact(url)
            )))
        }
    }

    /// `sqlite` when on SQLite, else `postgres`: for the few statements that differ.
    pub fn pick<'a>(self, sqlite: &'a str, postgres: &'a str) -> &'a str {
        match self {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        }
    }
}

/// The channel PostgreSQL triggers notify on when a policy version or an approval changes
/// (see `migrations/postgres`); every replica listens.
pub const CHANGES_CHANNEL: &str = "gatehouse_changes";

/// Opens the pool and migrates the schema.
pub async fn open(url: &str, durability: Durability) -> Result<(AnyPool, Backend), StoreError> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of(url)?;
    let pool = match backend {
        Backend::Sqlite => open_sqlite(url, durability).await?,
        Backend::Postgres => open_postgres(url, durability).await?,
    };
    let migrated = match backend {
        Backend::Sqlite => sqlx::migrate!("../migrations/sqlite").run(&pool).await,
        // Replicas starting together: sqlx takes an advisory lock around the migration.
        Backend::Postgres => sqlx::migrate!("../migrations/postgres").run(&pool).await,
    };
    migrated.map_err(|e| StoreError(format!("migrating {} failed: {e}", redact(url))))?;
    Ok((pool, backend))
}

async fn open_sqlite(url: &str, durability: Durability) -> Result<AnyPool, StoreError> {
    if url.contains(":memory:") || url.trim_end_matches('/') == "sqlite:" {
        return Err(StoreError(format!(
            "`{url}` is an in-memory database, which would lose every record on exit; give a file, e.g. sqlite://gatehouse.db"
        )));
    }
    // The Any driver takes its SQLite options from the URL only: create the file and
    // switch it to WAL (which persists in the file) with the native options first.
    let native = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError(format!("`{url}` is not a valid sqlite:// URL: {e}")))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(10));
    native
        .connect()
        .await
        .map_err(|e| StoreError(format!("cannot open {url}: {e}")))?
        .close()
        .await
        .map_err(|e| StoreError(format!("cannot open {url}: {e}")))?;
    let pragmas = match durability {
        Durability::Fsync => "PRAGMA synchronous = FULL",
        Durability::Os => "PRAGMA synchronous = NORMAL",
    };
    AnyPoolOptions::new()
        .max_connections(4)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                conn.execute(pragmas).await?;
                conn.execute("PRAGMA busy_timeout = 10000").await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                Ok(())
            })
        })
        .connect(url)
        .await
        .map_err(|e| StoreError(format!("cannot open {url}: {e}")))
}

/// The file a `sqlite://` URL names.
pub fn sqlite_file(url: &str) -> Result<std::path::PathBuf, StoreError> {
    let opts = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError(format!("`{url}` is not a valid sqlite:// URL: {e}")))?;
    Ok(opts.get_filename().to_path_buf())
}

async fn open_postgres(url: &str, durability: Durability) -> Result<AnyPool, StoreError> {
    AnyPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if durability == Durability::Os {
                    // Acknowledged once PostgreSQL has it in memory; its WAL writer flushes
                    // within a fraction of a second.
                    conn.execute("SET synchronous_commit = off").await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
        .map_err(|e| {
            StoreError(format!(
                "cannot connect to {}: {e}; check that PostgreSQL runs and the URL, user and password are right",
                redact(url)
            ))
        })
}

/// The URL without its password (or query values), for messages and logs.
pub fn redact(url: &str) -> String {
    gatehouse_proxy_core::redact::url(url)
}

/// The database URL `database` names: the URL itself, or read from `env:NAME` or
/// `file:PATH`, so the password need not be written in the config file.
pub fn resolve_reference(database: &str) -> Result<String, StoreError> {
    if let Some(name) = database.strip_prefix("env:") {
        std::env::var(name).map_err(|_| {
            StoreError(format!(
                "database = \"env:{name}\" but the environment variable `{name}` is not set"
            ))
        })
    } else if let Some(path) = database.strip_prefix("file:") {
        std::fs::read_to_string(path)
            .map(|s| s.trim().to_string())
            .map_err(|e| StoreError(format!("database = \"file:{path}\" cannot be read: {e}")))
    } else {
        Ok(database.to_string())
    }
}

/// A statement built at run time with numbered placeholders (sqlx's `QueryBuilder` for
/// `Any` writes `?`, which PostgreSQL refuses).
#[derive(Default)]
pub struct Sql {
    text: String,
    args: AnyArguments<'static>,
    n: usize,
}

impl Sql {
    /// Starts with this text.
    pub fn new(text: impl Into<String>) -> Sql {
        Sql {
            text: text.into(),
            ..Sql::default()
        }
    }

    /// Appends SQL text.
    pub fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind<T>(&mut self, value: T) -> &mut Sql
    where
        T: 'static + Send + sqlx::Encode<'static, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        self.n += 1;
        self.text.push('$');
        self.text.push_str(&self.n.to_string());
        // Encoding into `AnyArguments` only fails for types `Any` does not carry, which
        // `T: Type<Any>` already rules out.
        let _ = self.args.add(value);
        self
    }

    /// The statement, ready to run.
    pub fn query(&mut self) -> sqlx::query::Query<'_, sqlx::Any, AnyArguments<'_>> {
        let args: AnyArguments<'_> = std::mem::take(&mut self.args);
        sqlx::query_with(&self.text, args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_and_bad_urls() {
        assert_eq!(Backend::of("sqlite://a.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::of("postgres://u@h/db").unwrap(), Backend::Postgres);
        let e = Backend::of("mysql://h/db").unwrap_err().to_string();
        assert!(e.contains("sqlite://FILE or postgres://"), "{e}");
    }

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact("postgres://gh:s3cret@db:5432/gh"),
            "postgres://gh:***@db:5432/gh"
        );
        assert_eq!(redact("postgres://gh@db/gh"), "postgres://gh@db/gh");
    }
}
