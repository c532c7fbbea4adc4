//! The store's value types and errors, shared by the store handle and its two writers.

use gatehouse_pipeline::Record;
use tokio::sync::oneshot;

/// The statements both writers (SQLite's thread, PostgreSQL's task) run.
pub(super) mod sql {
    pub const INSERT_SESSION: &str = "INSERT INTO sessions (id, principal, groups_json, server, era, client_name, \
        client_version, protocol_version, started_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    /// A spooled record's session: created on first sight.
    pub const INSERT_SESSION_IF_NEW: &str = "INSERT INTO sessions (id, principal, groups_json, server, era, \
        client_name, client_version, protocol_version, started_at, last_seen_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING";
    pub const INSERT_EVENT: &str = "INSERT INTO audit_events (seq, session_id, at, direction, kind, method, tool, \
        rpc_id, payload, masked, decision, prev_hash, hash) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
    pub const INSERT_SPOOL_RECORD: &str = "INSERT INTO spool_records (id, session_id, seq, captured_at, uploaded_at) \
        VALUES ($1, $2, $3, $4, $5)";
    pub const SESSION_INFO: &str = "UPDATE sessions SET client_name = COALESCE($1, client_name), \
        client_version = COALESCE($2, client_version), protocol_version = COALESCE($3, protocol_version) WHERE id = $4";
    pub const END_SESSION: &str =
        "UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE id = $3 AND ended_at IS NULL";
}

/// The advisory lock (PostgreSQL) every replica's writer holds while it appends to the
/// chain: the key is the text "gatehouse audit chain" hashed to 64 bits, fixed forever.
pub const CHAIN_LOCK: i64 = 0x6761_7465_6368_6e31;

/// Something other parts react to at once rather than at their next poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A policy version was published (here or on another replica).
    Policy,
    /// An approval was opened, voted on, decided or used.
    Approval,
}

/// When a write counts as durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Flushed to disk (fsync) before anything moves on: survives power loss. The default.
    #[default]
    Fsync,
    /// Committed to the operating system before anything moves on: survives a crash (or
    /// kill -9) of Gatehouse; a power loss can take what was committed in the last second
    /// (SQLite: the checkpoint thread flushes every second; PostgreSQL: its WAL writer).
    /// Faster where flushes are slow; for disks that are battery-backed or replicated.
    Os,
}

/// A write could not be made durable.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the session record could not be written: {0}")]
pub struct StoreError(pub String);

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError(e.to_string())
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(e.to_string())
    }
}

/// A new session.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Session id (the gateway's own, never the upstream's).
    pub id: String,
    /// Who.
    pub principal: String,
    /// Their groups.
    pub groups: Vec<String>,
    /// Which server.
    pub server: String,
    /// `legacy` or `current`.
    pub era: String,
    /// Client name and version, when known.
    pub client: Option<(String, String)>,
    /// Protocol version, when known.
    pub protocol_version: Option<String>,
}

/// A record uploaded from a laptop's local capture spool (`POST /api/v1/spool`).
#[derive(Debug, Clone)]
pub struct SpooledEvent {
    /// The laptop's stable record id: stored once, repeats are ignored.
    pub record_id: String,
    /// When the laptop captured it (RFC 3339).
    pub captured_at: String,
    /// The session to create when it does not exist yet (the uploader's, on `local:NAME`).
    pub session: NewSession,
    /// The record itself, as the laptop's capture masked and kept it.
    pub event: Record,
    /// `Some(reason)` when the record ends the session.
    pub ends_session: Option<String>,
}

pub(super) enum Op {
    StartSession(NewSession),
    Event(Record),
    Spooled(Box<SpooledEvent>),
    SessionInfo {
        id: String,
        client: Option<(String, String)>,
        protocol_version: Option<String>,
    },
    EndSession {
        id: String,
        reason: String,
    },
}

pub(super) struct Job {
    pub(super) ops: Vec<Op>,
    pub(super) done: oneshot::Sender<Result<(), StoreError>>,
}

/// Largest number of jobs committed in one transaction.
pub(super) const GROUP_LIMIT: usize = 512;
