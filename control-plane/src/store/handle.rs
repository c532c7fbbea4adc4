//! The handle to the store: its pool, its writer and its change notifications.

use super::db::Backend;
use super::sqlite_writer;
use super::types::{Change, Job};
use sqlx::AnyPool;
use tokio::sync::{broadcast, mpsc, watch};

/// Where writes queue: SQLite's writer thread, or PostgreSQL's writer task.
#[derive(Clone)]
pub(super) enum Writer {
    Sqlite(sqlite_writer::SqliteWriter),
    Postgres(mpsc::Sender<Job>),
}

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(super) pool: AnyPool,
    pub(super) backend: Backend,
    pub(super) tx: Writer,
    pub(super) changes: broadcast::Sender<Change>,
    pub(super) written: watch::Sender<i64>,
}
