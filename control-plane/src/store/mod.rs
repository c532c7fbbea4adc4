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
mod handle;
pub mod leader;
mod session_tally;
mod sqlite_writer;
#[cfg(test)]
mod tests;
mod tree;
mod types;
mod web_sessions;
mod writer;

pub use dashboard::{
    DailyCalls, DecisionFilter, Overview, PolicyVersion, SessionFilter, SessionSummary,
};
pub use db::{Backend, Sql};
use gatehouse_audit::{SigningKey, StoredCheckpoint, StoredEvent, TreeHead};
use gatehouse_pipeline::Record;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use writer::{listen_for_changes, now, spool_ids_present, writer};

pub use handle::Store;
use handle::Writer;
pub use types::{CHAIN_LOCK, Change, Durability, NewSession, SpooledEvent, StoreError};
use types::{Job, Op};

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

    /// Records events in order (durable on return). It takes only
    /// [`gatehouse_pipeline::Record`]s, which only the pipeline's masker and Gatehouse's
    /// own notes make: unmasked data has no way into the audit log.
    pub async fn record(&self, records: Vec<Record>) -> Result<(), StoreError> {
        self.submit(records.into_iter().map(Op::Event).collect())
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

    /// A transaction that reads and then writes. On SQLite it takes the write lock at
    /// `BEGIN`: a deferred transaction that read first cannot wait for the lock when it
    /// tries to write after the audit writer committed, and fails at once with
    /// "database is locked" (a stale snapshot is never retried by the busy timeout).
    pub async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
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

/// The log's origin when `[audit] origin` is not set.
pub const DEFAULT_ORIGIN: &str = "gatehouse.invalid/audit";

pub use tree::ProofRequestError;

/// The outcome of checking the whole log (the same check `--bundle` runs offline).
pub type ChainReport = gatehouse_audit::LogReport;

impl Store {
    /// Signs a checkpoint over the whole log as it is now (unless the newest checkpoint
    /// already covers it). Returns the head it signed.
    pub async fn write_checkpoint(&self, key: &SigningKey) -> Result<Option<TreeHead>, StoreError> {
        checkpoints::sign(self, key, DEFAULT_ORIGIN).await
    }

    /// [`Store::write_checkpoint`] for the log named `origin` (`[audit] origin`): the
    /// name its checkpoint notes carry and witnesses know it by.
    pub async fn write_checkpoint_as(
        &self,
        key: &SigningKey,
        origin: &str,
    ) -> Result<Option<TreeHead>, StoreError> {
        checkpoints::sign(self, key, origin).await
    }

    /// The log's progress for `/metrics`: newest event, what the newest checkpoint
    /// covers, and how far each of `sinks` has delivered.
    pub async fn audit_progress(
        &self,
        sinks: &[String],
    ) -> Result<crate::metrics::AuditProgress, StoreError> {
        checkpoints::progress(self, sinks).await
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
