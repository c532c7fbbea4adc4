//! The session store (SQLite by default, PostgreSQL in production): sessions and every
//! message of them.
//!
//! All writes of this process go through one writer that commits in groups: every
//! caller waits until its own write is durable (SQLite: WAL, `synchronous = FULL`;
//! PostgreSQL: a synchronous commit), but many callers share one flush. On SQLite an
//! uncontended write commits on the caller's thread ([`sqlite_writer`]). That is what keeps
//! recording off the critical path's bottleneck while the gateway still never forwards
//! anything unrecorded.
//!
//! On PostgreSQL several control planes may write to one database. Each group then takes
//! a transaction-scoped advisory lock ([`CHAIN_LOCK`]) and reads the chain head inside
//! that transaction, so the replicas' groups are serialised and the hash chain stays one
//! line: no fork, no gap in `seq`.

pub mod audit_read;
pub mod authz;
mod checkpoints;
mod dashboard;
mod db;
pub mod leader;
mod sqlite_writer;
mod web_sessions;

use chrono::{DateTime, Utc};
pub use dashboard::{
    DailyCalls, DecisionFilter, Overview, PolicyVersion, SessionFilter, SessionSummary,
};
pub use db::{Backend, Sql};
use gatehouse_audit::{
    ChainRecord, GENESIS, SigningKey, StoredCheckpoint, StoredEvent, TreeHead, chain_hash,
};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Row};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// The statements both writers (SQLite's thread, PostgreSQL's task) run.
mod sql {
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

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the MCP client to the upstream server.
    ClientToServer,
    /// From the upstream server to the client.
    ServerToClient,
    /// Something the gateway itself did or answered.
    Gateway,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::ClientToServer => "client_to_server",
            Direction::ServerToClient => "server_to_client",
            Direction::Gateway => "gateway",
        }
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

/// One recorded message or gateway event.
#[derive(Debug, Clone)]
pub struct Event {
    /// The session it belongs to.
    pub session_id: String,
    /// Direction.
    pub direction: Direction,
    /// `request`, `response`, `error`, `notification`, or a gateway event name.
    pub kind: String,
    /// JSON-RPC method, where there is one.
    pub method: Option<String>,
    /// Tool (or prompt, or resource) the request names.
    pub tool: Option<String>,
    /// JSON-RPC id as text.
    pub rpc_id: Option<String>,
    /// The JSON payload (masked).
    pub payload: String,
    /// How many values of each type masking replaced, as a JSON object; `None` for none.
    pub masked: Option<String>,
    /// The policy decision (JSON) for a client request.
    pub decision: Option<String>,
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
    /// The event itself.
    pub event: Event,
    /// `Some(reason)` when the record ends the session.
    pub ends_session: Option<String>,
}

enum Op {
    StartSession(NewSession),
    Event(Event),
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

struct Job {
    ops: Vec<Op>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// Where writes queue: SQLite's writer thread, or PostgreSQL's writer task.
#[derive(Clone)]
enum Writer {
    Sqlite(sqlite_writer::SqliteWriter),
    Postgres(mpsc::Sender<Job>),
}

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    tx: Writer,
    changes: broadcast::Sender<Change>,
    written: watch::Sender<i64>,
}

/// Largest number of jobs committed in one transaction.
const GROUP_LIMIT: usize = 512;

impl Store {
    /// Opens (creating if needed) the database at a `sqlite://` URL and migrates it, with
    /// every commit flushed to disk.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_with(url, Durability::Fsync).await
    }

    /// Opens the store with the given durability: `sqlite://FILE` (created if missing)
    /// or `postgres://...` (the database must exist; the schema is migrated).
    pub async fn open_with(url: &str, durability: Durability) -> Result<Store, StoreError> {
        let url = &db::resolve_reference(url)?;
        let (pool, backend) = db::open(url, durability).await?;
        let written = watch::Sender::new(0);
        let (changes, _) = broadcast::channel(64);
        let tx = match backend {
            Backend::Sqlite => Writer::Sqlite(sqlite_writer::SqliteWriter::start(
                db::sqlite_file(url)?,
                durability,
                written.clone(),
            )?),
            Backend::Postgres => {
                let (tx, rx) = mpsc::channel(4096);
                tokio::spawn(writer(pool.clone(), rx, written.clone()));
                tokio::spawn(listen_for_changes(url.to_string(), changes.clone()));
                Writer::Postgres(tx)
            }
        };
        Ok(Store {
            pool,
            backend,
            tx,
            changes,
            written,
        })
    }

    /// Which database this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Announces a change made through this store (on PostgreSQL every replica,
    /// this one included, also hears it through the database's notification).
    pub(crate) fn changed(&self, what: Change) {
        let _ = self.changes.send(what);
    }

    /// The `seq` of the newest event this process wrote, changing after every group
    /// (streaming sinks wake on it; other replicas' events are found by polling).
    pub fn events_written(&self) -> watch::Receiver<i64> {
        self.written.subscribe()
    }

    /// Changes as they happen. Best effort (a slow reader may miss some): readers keep
    /// polling as well and use this only to react sooner.
    pub fn changes(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    async fn submit(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        let tx = match &self.tx {
            Writer::Sqlite(w) => return w.write(ops).await,
            Writer::Postgres(tx) => tx,
        };
        let (done, wait) = oneshot::channel();
        tx.send(Job { ops, done })
            .await
            .map_err(|_| StoreError("the store writer has stopped".into()))?;
        wait.await
            .map_err(|_| StoreError("the store writer has stopped".into()))?
    }

    /// Records a new session (durable on return).
    pub async fn start_session(&self, s: NewSession) -> Result<(), StoreError> {
        self.submit(vec![Op::StartSession(s)]).await
    }

    /// Records events in order (durable on return).
    pub async fn record(&self, events: Vec<Event>) -> Result<(), StoreError> {
        self.submit(events.into_iter().map(Op::Event).collect())
            .await
    }

    /// Stores records uploaded from a local capture spool, in order, each exactly once:
    /// records whose id is already stored are skipped (durable on return). Missing
    /// sessions are created; the events join the hash chain like the gateway's own.
    pub async fn ingest_spool(&self, records: Vec<SpooledEvent>) -> Result<(), StoreError> {
        self.submit(
            records
                .into_iter()
                .map(|r| Op::Spooled(Box::new(r)))
                .collect(),
        )
        .await
    }

    /// Which of these spool record ids are stored already.
    pub async fn stored_spool_ids(&self, ids: &[String]) -> Result<Vec<String>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        spool_ids_present(&mut conn, ids).await
    }

    /// Fills in what the handshake told us about the client.
    pub async fn session_info(
        &self,
        id: &str,
        client: Option<(String, String)>,
        protocol_version: Option<String>,
    ) -> Result<(), StoreError> {
        self.submit(vec![Op::SessionInfo {
            id: id.to_string(),
            client,
            protocol_version,
        }])
        .await
    }

    /// Records how a session ended.
    pub async fn end_session(&self, id: &str, reason: &str) -> Result<(), StoreError> {
        self.submit(vec![Op::EndSession {
            id: id.to_string(),
            reason: reason.to_string(),
        }])
        .await
    }

    /// Read access for the CLI, API and tests.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// True when the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Sessions, newest first.
    pub async fn list_sessions(&self, limit: i64) -> Result<Vec<SessionRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT id, principal, server, era, client_name, client_version, protocol_version, \
             started_at, ended_at, end_reason, message_count, {} AS masked FROM sessions \
             ORDER BY started_at DESC, rowid DESC LIMIT $1",
            self.masked_by_session()
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(SessionRow::from_row).collect())
    }

    /// One session by id, or by a unique id prefix.
    pub async fn find_session(&self, id: &str) -> Result<Option<SessionRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT id, principal, server, era, client_name, client_version, protocol_version, \
             started_at, ended_at, end_reason, message_count, {} AS masked FROM sessions \
             WHERE id = $1 OR id LIKE $2 || '%' LIMIT 2",
            self.masked_by_session()
        ))
        .bind(id)
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(match rows.as_slice() {
            [one] => Some(SessionRow::from_row(one)),
            _ => rows.iter().map(SessionRow::from_row).find(|r| r.id == id),
        })
    }

    /// A column expression: the values masked in session `sessions.id`, by type, as a
    /// JSON object.
    fn masked_by_session(&self) -> &'static str {
        self.backend.pick(
            "(SELECT json_group_object(k, n) FROM (SELECT j.key AS k, SUM(j.value) AS n FROM audit_events a, \
             json_each(a.masked) j WHERE a.session_id = sessions.id GROUP BY j.key))",
            "(SELECT json_object_agg(k, n)::text FROM (SELECT j.key AS k, SUM(j.value::bigint) AS n FROM audit_events a, \
             jsonb_each_text(a.masked::jsonb) j WHERE a.session_id = sessions.id GROUP BY j.key) m)",
        )
    }

    /// Policy-checked client requests recorded since `since` (RFC 3339), oldest first, with
    /// who sent them: (user, groups, server, payload). Payloads are the masked record.
    pub async fn recorded_requests(
        &self,
        since: &str,
    ) -> Result<Vec<(String, Vec<String>, String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.principal, s.groups_json, s.server, e.payload FROM audit_events e JOIN sessions s ON s.id = e.session_id \
             WHERE e.direction = 'client_to_server' AND e.kind = 'request' \
             AND e.method IN ('tools/call', 'resources/read', 'prompts/get', 'resources/subscribe') AND e.at >= $1 ORDER BY e.seq",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let groups: Vec<String> =
                    serde_json::from_str(&r.get::<String, _>("groups_json")).unwrap_or_default();
                (
                    r.get("principal"),
                    groups,
                    r.get("server"),
                    r.get("payload"),
                )
            })
            .collect())
    }

    /// Publishes a policy document as the next version (unless it equals the newest one);
    /// returns the version in force afterwards.
    pub async fn push_policy(
        &self,
        document: &str,
        digest: &str,
        by: &str,
    ) -> Result<i64, StoreError> {
        if let Some((version, newest)) = self.latest_policy_digest().await?
            && newest == digest
        {
            return Ok(version);
        }
        let row = sqlx::query("INSERT INTO policies (digest, document, pushed_by, pushed_at) VALUES ($1, $2, $3, $4) RETURNING version")
            .bind(digest)
            .bind(document)
            .bind(by)
            .bind(now())
            .fetch_one(&self.pool)
            .await?;
        self.changed(Change::Policy);
        Ok(row.get("version"))
    }

    async fn latest_policy_digest(&self) -> Result<Option<(i64, String)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT version, digest FROM policies ORDER BY version DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The newest published policy: (version, document).
    pub async fn latest_policy(&self) -> Result<Option<(i64, String)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT version, document FROM policies ORDER BY version DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Every event of a session, in order.
    pub async fn session_events(&self, id: &str) -> Result<Vec<EventRow>, StoreError> {
        Ok(self
            .events_where("WHERE session_id = $1", Some(id))
            .await?
            .into_iter()
            .map(EventRow::from)
            .collect())
    }
}

/// The outcome of checking the whole log (the same check `--bundle` runs offline).
pub type ChainReport = gatehouse_audit::LogReport;

impl Store {
    /// Signs a checkpoint over the whole log as it is now (unless the newest checkpoint
    /// already covers it). Returns the head it signed.
    pub async fn write_checkpoint(&self, key: &SigningKey) -> Result<Option<TreeHead>, StoreError> {
        checkpoints::sign(self, key).await
    }

    /// Walks the whole audit log in order and checks the hash chain, then every signed
    /// checkpoint (against `trusted_key` when given, else the key recorded with it).
    pub async fn verify_chain(&self) -> Result<ChainReport, StoreError> {
        self.verify_log(None).await
    }

    /// [`Store::verify_chain`] with a public key (hex) the checkpoints must be signed with.
    /// Streams: memory stays flat whatever the log's length.
    pub async fn verify_log(&self, trusted_key: Option<&str>) -> Result<ChainReport, StoreError> {
        self.verify_streaming(trusted_key).await
    }

    async fn events_where(
        &self,
        filter: &str,
        bind: Option<&str>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!(
            "SELECT seq, session_id, at, direction, kind, method, tool, rpc_id, payload, masked, decision, prev_hash, hash \
             FROM audit_events {filter} ORDER BY seq"
        );
        let mut q = sqlx::query(&sql);
        if let Some(b) = bind {
            q = q.bind(b);
        }
        let rows = q.fetch_all(&self.pool).await?;
        Ok(rows.iter().map(stored_event).collect())
    }

    /// Up to `limit` events after `seq`, in order (what a streaming sink reads next).
    pub async fn events_after(&self, seq: i64, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, session_id, at, direction, kind, method, tool, rpc_id, payload, masked, decision, prev_hash, hash \
             FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(stored_event).collect())
    }

    /// The last `seq` sink `name` delivered (0 before its first delivery).
    pub async fn sink_cursor(&self, name: &str) -> Result<i64, StoreError> {
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM audit_sink_cursors WHERE sink = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        Ok(seq.unwrap_or(0))
    }

    /// Records that sink `name` delivered everything up to `seq`.
    pub async fn set_sink_cursor(&self, name: &str, seq: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_sink_cursors (sink, seq, at) VALUES ($1, $2, $3) \
             ON CONFLICT (sink) DO UPDATE SET seq = excluded.seq, at = excluded.at",
        )
        .bind(name)
        .bind(seq)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every signed checkpoint, oldest first.
    pub async fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let rows: Vec<CheckpointRow> = sqlx::query_as(&format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(stored_checkpoint).collect())
    }
}

/// The columns of a `checkpoints` row read as a [`CheckpointRow`].
pub(crate) const CHECKPOINT_COLUMNS: &str =
    "id, tree_size, root_hash, chain_head, at, public_key, signature";

/// A `checkpoints` row, [`CHECKPOINT_COLUMNS`] in order.
pub(crate) type CheckpointRow = (i64, i64, String, String, String, String, String);

/// A checkpoint read with [`CHECKPOINT_COLUMNS`], as the audit verifier takes it.
pub(crate) fn stored_checkpoint(
    (id, tree_size, root_hash, chain_head, at, public_key, signature): CheckpointRow,
) -> StoredCheckpoint {
    StoredCheckpoint {
        id,
        tree_size,
        root_hash,
        chain_head,
        at,
        public_key,
        signature,
    }
}

fn stored_event(r: &AnyRow) -> StoredEvent {
    StoredEvent {
        seq: r.get("seq"),
        session_id: r.get("session_id"),
        at: r.get("at"),
        direction: r.get("direction"),
        kind: r.get("kind"),
        method: r.get("method"),
        tool: r.get("tool"),
        rpc_id: r.get("rpc_id"),
        payload: r.get("payload"),
        masked: r.get("masked"),
        decision: r.get("decision"),
        prev_hash: r.get("prev_hash"),
        hash: r.get("hash"),
    }
}

/// A session as stored.
#[derive(Debug, Clone, Serialize)]
pub struct SessionRow {
    /// Id.
    pub id: String,
    /// Who.
    pub principal: String,
    /// Server.
    pub server: String,
    /// Era.
    pub era: String,
    /// Client name.
    pub client_name: Option<String>,
    /// Client version.
    pub client_version: Option<String>,
    /// Protocol version.
    pub protocol_version: Option<String>,
    /// Start (RFC 3339).
    pub started_at: String,
    /// End (RFC 3339).
    pub ended_at: Option<String>,
    /// How it ended.
    pub end_reason: Option<String>,
    /// Messages recorded.
    pub message_count: i64,
    /// Values masked in the session, by type.
    pub masked: gatehouse_mask::MaskCounts,
}

impl SessionRow {
    fn from_row(r: &AnyRow) -> SessionRow {
        SessionRow {
            id: r.get("id"),
            principal: r.get("principal"),
            server: r.get("server"),
            era: r.get("era"),
            client_name: r.get("client_name"),
            client_version: r.get("client_version"),
            protocol_version: r.get("protocol_version"),
            started_at: r.get("started_at"),
            ended_at: r.get("ended_at"),
            end_reason: r.get("end_reason"),
            message_count: r.get("message_count"),
            masked: r
                .get::<Option<String>, _>("masked")
                .and_then(|j| serde_json::from_str(&j).ok())
                .unwrap_or_default(),
        }
    }
}

/// An event as stored.
#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    /// Global order.
    pub seq: i64,
    /// When (RFC 3339).
    pub at: String,
    /// Direction.
    pub direction: String,
    /// Kind.
    pub kind: String,
    /// Method.
    pub method: Option<String>,
    /// Tool.
    pub tool: Option<String>,
    /// JSON-RPC id.
    pub rpc_id: Option<String>,
    /// JSON payload (masked).
    pub payload: String,
    /// Values masked in this message, by type (JSON object).
    pub masked: Option<String>,
    /// The policy decision (JSON), for client requests.
    pub decision: Option<String>,
}

impl From<StoredEvent> for EventRow {
    fn from(e: StoredEvent) -> EventRow {
        EventRow {
            seq: e.seq,
            at: e.at,
            direction: e.direction,
            kind: e.kind,
            method: e.method,
            tool: e.tool,
            rpc_id: e.rpc_id,
            payload: e.payload,
            masked: e.masked,
            decision: e.decision,
        }
    }
}

pub(crate) fn now() -> String {
    let t: DateTime<Utc> = Utc::now();
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// PostgreSQL's writer (SQLite's is [`sqlite_writer`]).
async fn writer(pool: AnyPool, mut rx: mpsc::Receiver<Job>, written: watch::Sender<i64>) {
    let mut batch = Vec::with_capacity(GROUP_LIMIT);
    // The writer keeps one connection (no pool round trip per group) and re-reads the
    // chain head under the chain lock in every group, since other replicas append too.
    let mut conn: Option<(PoolConnection<Any>, ChainHead)> = None;
    while rx.recv_many(&mut batch, GROUP_LIMIT).await > 0 {
        let result = match &mut conn {
            Some((c, head)) => commit(c, head, &batch).await,
            None => match open_writer(&pool).await {
                Ok(w) => {
                    let (c, head) = conn.insert(w);
                    commit(c, head, &batch).await
                }
                Err(e) => Err(e),
            },
        };
        if let (Ok(()), Some((_, head))) = (&result, &conn) {
            written.send_if_modified(|seq| std::mem::replace(seq, head.seq) != head.seq);
        }
        if let Err(e) = &result {
            tracing::error!(error = %e, jobs = batch.len(), "recording failed; the affected requests fail closed");
            // Start the next group on a fresh connection in case this one is broken.
            conn = None;
        }
        for job in batch.drain(..) {
            let _ = job.done.send(result.clone());
        }
    }
}

/// The last event written: where the next one links to.
#[derive(Debug, Clone)]
struct ChainHead {
    seq: i64,
    hash: String,
}

async fn open_writer(pool: &AnyPool) -> Result<(PoolConnection<Any>, ChainHead), StoreError> {
    let mut c = pool.acquire().await?;
    let head = read_head(&mut c).await?;
    Ok((c, head))
}

async fn read_head(c: &mut AnyConnection) -> Result<ChainHead, StoreError> {
    let last: Option<(i64, Option<String>)> =
        sqlx::query_as("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *c)
            .await?;
    head_of(last)
}

/// The chain head given the newest event's `seq` and hash (none: the log is empty).
fn head_of(last: Option<(i64, Option<String>)>) -> Result<ChainHead, StoreError> {
    match last {
        Some((seq, Some(hash))) => Ok(ChainHead { seq, hash }),
        Some((seq, None)) => Err(StoreError(format!(
            "audit event #{seq} has no hash: the log was written without the hash chain or altered; run `gatehouse audit verify`"
        ))),
        None => Ok(ChainHead {
            seq: 0,
            hash: GENESIS.to_string(),
        }),
    }
}

/// Relays PostgreSQL's change notifications (from any replica) to this process until the
/// runtime stops. `PgListener` reconnects by itself; while it cannot, readers still poll.
async fn listen_for_changes(url: String, changes: broadcast::Sender<Change>) {
    loop {
        let listener = async {
            let mut l = sqlx::postgres::PgListener::connect(&url).await?;
            l.listen(db::CHANGES_CHANNEL).await?;
            Ok::<_, sqlx::Error>(l)
        };
        let mut listener = match listener.await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for changes from other replicas; polling only, retrying in 5 s");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        loop {
            match listener.recv().await {
                Ok(n) => {
                    let what = match n.payload() {
                        "policy" => Change::Policy,
                        _ => Change::Approval,
                    };
                    let _ = changes.send(what);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "lost the change notifications; reconnecting");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    break;
                }
            }
        }
    }
}

/// A chained event: its position and hashes.
struct Chained<'a> {
    e: &'a Event,
    seq: i64,
    prev: String,
    hash: String,
}

impl ChainHead {
    /// Links `e` onto the chain and moves this head past it.
    fn append<'a>(&mut self, e: &'a Event, at: &str) -> Chained<'a> {
        let seq = self.seq + 1;
        let hash = chain_hash(
            &self.hash,
            &ChainRecord {
                seq,
                session_id: &e.session_id,
                at,
                direction: e.direction.as_str(),
                kind: &e.kind,
                method: e.method.as_deref(),
                tool: e.tool.as_deref(),
                rpc_id: e.rpc_id.as_deref(),
                payload: &e.payload,
                masked: e.masked.as_deref(),
                decision: e.decision.as_deref(),
            },
        );
        self.seq = seq;
        Chained {
            e,
            seq,
            prev: std::mem::replace(&mut self.hash, hash.clone()),
            hash,
        }
    }
}

/// Links every event of the group onto the chain (without moving the head: that happens
/// only once the group is durable).
fn link<'a>(
    head: &ChainHead,
    events: impl Iterator<Item = &'a Event>,
    at: &str,
) -> (Vec<Chained<'a>>, ChainHead) {
    let mut cur = head.clone();
    let chained = events.map(|e| cur.append(e, at)).collect();
    (chained, cur)
}

async fn commit(
    conn: &mut AnyConnection,
    head: &mut ChainHead,
    batch: &[Job],
) -> Result<(), StoreError> {
    let at = now();
    let ops = || batch.iter().flat_map(|j| &j.ops);
    // Spooled records already stored (or repeated within this group) are skipped: the
    // single writer makes this check-then-insert race-free, and the unique key backs it.
    let spooled: Vec<String> = ops()
        .filter_map(|op| match op {
            Op::Spooled(s) => Some(s.record_id.clone()),
            _ => None,
        })
        .collect();
    let mut seen: std::collections::HashSet<String> = if spooled.is_empty() {
        Default::default()
    } else {
        spool_ids_present(conn, &spooled)
            .await?
            .into_iter()
            .collect()
    };
    let keep: Vec<bool> = ops()
        .map(|op| match op {
            Op::Spooled(s) => seen.insert(s.record_id.clone()),
            _ => true,
        })
        .collect();
    // The ops that become events, in chain order.
    let chained_ops: Vec<&Op> = ops()
        .zip(&keep)
        .filter(|(op, keep)| matches!(op, Op::Event(_)) || (matches!(op, Op::Spooled(_)) && **keep))
        .map(|(op, _)| op)
        .collect();
    let events = || {
        chained_ops.iter().filter_map(|op| match op {
            Op::Event(e) => Some(e),
            Op::Spooled(s) => Some(&s.event),
            _ => None,
        })
    };
    let mut tx = conn.begin().await?;
    // Serialise with the other replicas' writers until this transaction ends, then link
    // onto whatever the chain head is now.
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(CHAIN_LOCK)
        .execute(&mut *tx)
        .await?;
    *head = read_head(&mut tx).await?;
    let (chained, new_head) = link(head, events(), &at);
    // Sessions first (events refer to them), then the events in one statement, spooled
    // records (each with its session), then the updates (an end of session comes after
    // its last message in the same group).
    for op in ops().filter(|op| matches!(op, Op::StartSession(_))) {
        apply(&mut tx, op, &at).await?;
    }
    let (plain, spooled): (Vec<_>, Vec<_>) = chained
        .into_iter()
        .zip(&chained_ops)
        .partition(|(_, op)| matches!(op, Op::Event(_)));
    let plain: Vec<Chained<'_>> = plain.into_iter().map(|(c, _)| c).collect();
    if !plain.is_empty() {
        insert_events(&mut tx, &plain, &at).await?;
    }
    for (c, op) in &spooled {
        if let Op::Spooled(s) = op {
            insert_spooled(&mut tx, s, c, &at).await?;
        }
    }
    for op in ops().filter(|op| !matches!(op, Op::StartSession(_) | Op::Event(_) | Op::Spooled(_)))
    {
        apply(&mut tx, op, &at).await?;
    }
    tx.commit().await?;
    *head = new_head;
    Ok(())
}

async fn spool_ids_present(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<Vec<String>, StoreError> {
    let mut found = Vec::new();
    for chunk in ids.chunks(500) {
        let mut q = Sql::new("SELECT id FROM spool_records WHERE id IN (");
        for (i, id) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.bind(id.clone());
        }
        q.push(")");
        let rows = q.query().fetch_all(&mut *conn).await?;
        found.extend(rows.iter().map(|r| r.get::<String, _>(0)));
    }
    Ok(found)
}

/// One spooled record: its session (created on first sight), its chained event, its id
/// under the unique key, and the session's end when it says so.
async fn insert_spooled(
    tx: &mut AnyConnection,
    s: &SpooledEvent,
    c: &Chained<'_>,
    at: &str,
) -> Result<(), StoreError> {
    let n = &s.session;
    insert_session(tx, sql::INSERT_SESSION_IF_NEW, n, &s.captured_at).await?;
    insert_events(tx, std::slice::from_ref(c), at).await?;
    sqlx::query(sql::INSERT_SPOOL_RECORD)
        .bind(&s.record_id)
        .bind(&n.id)
        .bind(c.seq)
        .bind(&s.captured_at)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    if let Some(reason) = &s.ends_session {
        end_session(tx, &n.id, reason, &s.captured_at).await?;
    }
    Ok(())
}

/// A session row (`sql` says whether an existing one is an error or left alone).
async fn insert_session(
    tx: &mut AnyConnection,
    sql: &str,
    n: &NewSession,
    started: &str,
) -> Result<(), StoreError> {
    sqlx::query(sql)
        .bind(&n.id)
        .bind(&n.principal)
        .bind(serde_json::to_string(&n.groups).unwrap_or_else(|_| "[]".into()))
        .bind(&n.server)
        .bind(&n.era)
        .bind(n.client.as_ref().map(|c| &c.0))
        .bind(n.client.as_ref().map(|c| &c.1))
        .bind(&n.protocol_version)
        .bind(started)
        .bind(started)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

async fn end_session(
    tx: &mut AnyConnection,
    id: &str,
    reason: &str,
    at: &str,
) -> Result<(), StoreError> {
    sqlx::query(sql::END_SESSION)
        .bind(at)
        .bind(reason)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Appends chained events in one statement.
async fn insert_events(
    conn: &mut AnyConnection,
    chained: &[Chained<'_>],
    at: &str,
) -> Result<(), StoreError> {
    let mut q = Sql::new(
        "INSERT INTO audit_events (seq, session_id, at, direction, kind, method, tool, rpc_id, payload, masked, decision, prev_hash, hash) VALUES ",
    );
    for (i, c) in chained.iter().enumerate() {
        q.push(if i == 0 { "(" } else { ", (" });
        q.bind(c.seq)
            .push(", ")
            .bind(c.e.session_id.clone())
            .push(", ")
            .bind(at.to_string())
            .push(", ")
            .bind(c.e.direction.as_str())
            .push(", ")
            .bind(c.e.kind.clone())
            .push(", ")
            .bind(c.e.method.clone())
            .push(", ")
            .bind(c.e.tool.clone())
            .push(", ")
            .bind(c.e.rpc_id.clone())
            .push(", ")
            .bind(c.e.payload.clone())
            .push(", ")
            .bind(c.e.masked.clone())
            .push(", ")
            .bind(c.e.decision.clone())
            .push(", ")
            .bind(c.prev.clone())
            .push(", ")
            .bind(c.hash.clone())
            .push(")");
    }
    q.query().execute(&mut *conn).await?;
    Ok(())
}

async fn apply(tx: &mut AnyConnection, op: &Op, at: &str) -> Result<(), StoreError> {
    match op {
        Op::StartSession(s) => insert_session(tx, sql::INSERT_SESSION, s, at).await?,
        Op::Event(_) | Op::Spooled(_) => {
            unreachable!("events are inserted with their chain links")
        }
        Op::SessionInfo {
            id,
            client,
            protocol_version,
        } => {
            sqlx::query(sql::SESSION_INFO)
                .bind(client.as_ref().map(|c| &c.0))
                .bind(client.as_ref().map(|c| &c.1))
                .bind(protocol_version)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        Op::EndSession { id, reason } => end_session(tx, id, reason, at).await?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_audit::public_key_hex;

    async fn temp_store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        (Store::open(&url).await.unwrap(), dir)
    }

    fn event(session: &str, n: usize) -> Event {
        Event {
            session_id: session.into(),
            direction: Direction::ClientToServer,
            kind: "request".into(),
            method: Some("tools/call".into()),
            tool: Some("echo".into()),
            rpc_id: Some(n.to_string()),
            payload: format!("{{\"n\":{n}}}"),
            masked: (n == 0).then(|| "{\"email\":2}".to_string()),
            decision: None,
        }
    }

    fn session(id: &str) -> NewSession {
        NewSession {
            id: id.into(),
            principal: "alice".into(),
            groups: vec!["eng".into()],
            server: "db".into(),
            era: "legacy".into(),
            client: None,
            protocol_version: None,
        }
    }

    #[tokio::test]
    async fn concurrent_writers_all_land_in_order_per_caller() {
        let (store, _dir) = temp_store().await;
        store.start_session(session("s1")).await.unwrap();
        let tasks: Vec<_> = (0..200)
            .map(|n| {
                let s = store.clone();
                tokio::spawn(async move { s.record(vec![event("s1", n)]).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        store.end_session("s1", "client_closed").await.unwrap();
        let row = store.find_session("s1").await.unwrap().unwrap();
        assert_eq!(row.message_count, 200);
        assert_eq!(row.end_reason.as_deref(), Some("client_closed"));
        assert_eq!(store.session_events("s1").await.unwrap().len(), 200);
    }

    #[tokio::test]
    async fn a_failed_write_is_reported_and_the_store_recovers() {
        let (store, _dir) = temp_store().await;
        // An event for a session that does not exist violates the foreign key.
        let err = store.record(vec![event("missing", 1)]).await.unwrap_err();
        assert!(err.to_string().contains("could not be written"), "{err}");
        store.start_session(session("s2")).await.unwrap();
        store.record(vec![event("s2", 1)]).await.unwrap();
        assert_eq!(store.session_events("s2").await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn recorded_events_cannot_be_changed() {
        let (store, _dir) = temp_store().await;
        store.start_session(session("s3")).await.unwrap();
        store.record(vec![event("s3", 1)]).await.unwrap();
        let e = sqlx::query("UPDATE audit_events SET payload = '{}'")
            .execute(store.pool())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("append-only"));
        assert!(
            sqlx::query("DELETE FROM audit_events")
                .execute(store.pool())
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn the_chain_verifies_and_finds_a_changed_event() {
        let (store, _dir) = temp_store().await;
        store.start_session(session("c1")).await.unwrap();
        for n in 0..20 {
            store
                .record(vec![event("c1", n), event("c1", n + 100)])
                .await
                .unwrap();
        }
        store.end_session("c1", "done").await.unwrap();
        match store.verify_chain().await.unwrap() {
            ChainReport::Intact { events, .. } => assert_eq!(events, 40),
            broken => panic!("{broken:?}"),
        }
        // Someone with write access to the file drops the guard and edits a payload.
        sqlx::query("DROP TRIGGER audit_events_append_only_update")
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::query("UPDATE audit_events SET payload = '{\"n\":-1}' WHERE seq = 17")
            .execute(store.pool())
            .await
            .unwrap();
        match store.verify_chain().await.unwrap() {
            ChainReport::Broken { events, reason } => {
                assert_eq!(events, 16);
                assert!(reason.contains("#17 was changed"), "{reason}");
            }
            intact => panic!("tampering went unnoticed: {intact:?}"),
        }
    }

    #[tokio::test]
    async fn checkpoints_catch_a_truncated_or_rewritten_tail() {
        let (store, _dir) = temp_store().await;
        let key = gatehouse_audit::signing_key_from_hex(&"42".repeat(32)).unwrap();
        store.start_session(session("k1")).await.unwrap();
        for n in 0..10 {
            store.record(vec![event("k1", n)]).await.unwrap();
        }
        let head = store.write_checkpoint(&key).await.unwrap().unwrap();
        assert_eq!(head.tree_size, 10);
        assert!(
            store.write_checkpoint(&key).await.unwrap().is_none(),
            "nothing new to sign"
        );
        let public = public_key_hex(&key);
        assert!(matches!(
            store.verify_log(Some(&public)).await.unwrap(),
            ChainReport::Intact { checkpoints: 1, .. }
        ));
        let other =
            public_key_hex(&gatehouse_audit::signing_key_from_hex(&"43".repeat(32)).unwrap());
        assert!(matches!(
            store.verify_log(Some(&other)).await.unwrap(),
            ChainReport::Broken { .. }
        ));

        // Cutting the last events keeps the chain itself consistent; the checkpoint catches it.
        sqlx::query("DROP TRIGGER audit_events_append_only_delete")
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::query("DELETE FROM audit_events WHERE seq > 7")
            .execute(store.pool())
            .await
            .unwrap();
        match store.verify_chain().await.unwrap() {
            ChainReport::Broken { reason, .. } => {
                assert!(reason.contains("truncated tail"), "{reason}")
            }
            intact => panic!("truncation went unnoticed: {intact:?}"),
        }
    }

    #[tokio::test]
    async fn in_memory_databases_are_refused() {
        let err = Store::open("sqlite::memory:").await.err().unwrap();
        assert!(err.to_string().contains("lose every record"), "{err}");
    }

    #[tokio::test]
    async fn find_by_unique_prefix() {
        let (store, _dir) = temp_store().await;
        store.start_session(session("abc123")).await.unwrap();
        store.start_session(session("abd456")).await.unwrap();
        assert_eq!(
            store.find_session("abc").await.unwrap().unwrap().id,
            "abc123"
        );
        assert!(store.find_session("ab").await.unwrap().is_none());
    }
}
