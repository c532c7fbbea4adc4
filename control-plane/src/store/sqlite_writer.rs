//! The SQLite writer: one OS thread that owns the only writing connection and commits
//! the queued jobs in groups.
//!
//! Why a thread of its own and not sqlx: every write sits on the gateway's critical path
//! twice per call (the request before it is forwarded, the answer before it is released).
//! Through sqlx a write crossed four threads (caller, writer task, sqlx's worker, back);
//! here it crosses two (caller to this thread and back), statements are prepared once and
//! kept, and values go to SQLite without the `Any` conversions. Group commit is kept:
//! whatever queued while a commit was being flushed goes into the next one.
//!
//! Checkpoints (copying the WAL into the database file) run on a second thread with its
//! own connection, so a commit never waits for one; with `durability = "os"` that thread
//! is also what puts commits on disk, within [`CHECKPOINT_EVERY`].

use super::session_tally::SessionTally;
use super::types::{Durability, Job, Op, StoreError, sql};
use super::writer::now;
use super::writer::{ChainHead, Chained, head_of};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, watch};

/// How often the WAL is checkpointed when something was written. With
/// `durability = "os"` this is how long a commit may sit in the operating system's cache
/// before it is on disk: the most a power loss can take.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Under continuous writing a checkpoint on another connection never catches up with the
/// writer, so the WAL would never start over and would grow without end. Past this size
/// the writer itself finishes the checkpoint between two groups (the checkpointer has
/// already copied nearly everything), after which the WAL starts over and is cut back to
/// this size.
const WAL_LIMIT: u64 = 64 * 1024 * 1024;

/// How often the checkpointer looks at the WAL's size.
const WAL_CHECK_EVERY: Duration = Duration::from_millis(100);

/// The writing side of a SQLite store; cheap to clone.
#[derive(Clone)]
pub(super) struct SqliteWriter {
    shared: Arc<Shared>,
    queue: Sender<Job>,
}

/// What the callers and the writer thread share.
struct Shared {
    /// The writing connection and the chain head (none after a failed group: the next
    /// one reopens and re-reads the head).
    conn: Mutex<Option<(Connection, ChainHead)>>,
    open: Box<dyn Fn() -> Result<Connection, StoreError> + Send + Sync>,
    /// Jobs handed to the thread and not yet committed.
    queued: AtomicUsize,
    /// Set by the checkpointer when the WAL is past [`WAL_LIMIT`].
    wal_full: Arc<AtomicBool>,
    written: watch::Sender<i64>,
}

impl SqliteWriter {
    /// Opens the writing connection (the schema is migrated already) and starts the
    /// writer and checkpoint threads.
    pub(super) fn start(
        file: PathBuf,
        durability: Durability,
        written: watch::Sender<i64>,
    ) -> Result<SqliteWriter, StoreError> {
        let wal = PathBuf::from(format!("{}-wal", file.display()));
        let open = move |role: Role| -> Result<Connection, StoreError> {
            let c = Connection::open(&file)
                .map_err(|e| StoreError(format!("cannot open {}: {e}", file.display())))?;
            c.busy_timeout(Duration::from_secs(10))?;
            c.pragma_update(None, "journal_mode", "WAL")?;
            c.pragma_update(
                None,
                "synchronous",
                match durability {
                    Durability::Fsync => "FULL",
                    Durability::Os => "NORMAL",
                },
            )?;
            c.pragma_update(None, "foreign_keys", "ON")?;
            if role == Role::Writer {
                // The checkpointer thread does it, off the commit path.
                c.pragma_update(None, "wal_autocheckpoint", 0)?;
                c.pragma_update(None, "journal_size_limit", WAL_LIMIT as i64)?;
                c.set_prepared_statement_cache_capacity(32);
            }
            Ok(c)
        };
        // Open both here so that a file we cannot write is reported by `Store::open`.
        let first = open(Role::Writer)?;
        let head = read_head(&first)?;
        let checkpointer = open(Role::Checkpointer)?;
        let changes = written.subscribe();
        let wal_full = Arc::new(AtomicBool::new(false));
        let full = wal_full.clone();
        std::thread::Builder::new()
            .name("gatehouse-store-checkpoints".into())
            .spawn(move || checkpoints(checkpointer, &wal, &full, changes))
            .map_err(|e| StoreError(format!("cannot start the store checkpointer: {e}")))?;
        let shared = Arc::new(Shared {
            conn: Mutex::new(Some((first, head))),
            open: Box::new(move || open(Role::Writer)),
            queued: AtomicUsize::new(0),
            wal_full,
            written,
        });
        let (queue, jobs) = std::sync::mpsc::channel();
        let for_thread = shared.clone();
        std::thread::Builder::new()
            .name("gatehouse-store-writer".into())
            .spawn(move || run(&for_thread, jobs))
            .map_err(|e| StoreError(format!("cannot start the store writer: {e}")))?;
        Ok(SqliteWriter { shared, queue })
    }

    /// Makes `ops` durable. When nothing else is being written, the caller commits them
    /// itself (no thread hand-off: a commit in WAL mode is tens of microseconds, a flush
    /// a hundred or two); otherwise they join the writer thread's next group.
    pub(super) async fn write(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        if self.shared.queued.load(Ordering::Acquire) == 0
            && let Ok(mut conn) = self.shared.conn.try_lock()
        {
            return self.shared.commit_group(&mut conn, ops.iter());
        }
        let (done, wait) = oneshot::channel();
        self.shared.queued.fetch_add(1, Ordering::AcqRel);
        if self.queue.send(Job { ops, done }).is_err() {
            self.shared.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(StoreError("the store writer has stopped".into()));
        }
        wait.await
            .map_err(|_| StoreError("the store writer has stopped".into()))?
    }
}

impl Shared {
    /// Commits one group on the writing connection (opening it first if needed) and
    /// announces the new chain head.
    fn commit_group<'a>(
        &self,
        conn: &mut Option<(Connection, ChainHead)>,
        ops: impl Iterator<Item = &'a Op>,
    ) -> Result<(), StoreError> {
        let result = (|| {
            if conn.is_none() {
                let c = (self.open)()?;
                let head = read_head(&c)?;
                *conn = Some((c, head));
            }
            let (c, head) = conn.as_mut().unwrap_or_else(|| unreachable!());
            commit(c, head, ops)?;
            if self.wal_full.swap(false, Ordering::AcqRel) {
                // No other writer now: this checkpoint completes, and the next commit
                // starts the WAL over.
                checkpoint(c)?;
            }
            Ok(head.seq)
        })();
        match result {
            Ok(seq) => {
                self.written
                    .send_if_modified(|s| std::mem::replace(s, seq) != seq);
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "recording failed; the affected requests fail closed");
                *conn = None;
                Err(e)
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Writer,
    Checkpointer,
}

/// Every [`CHECKPOINT_EVERY`] that something was written, a passive checkpoint: it syncs
/// the WAL to disk, then copies what no reader still needs into the database file,
/// without blocking the writer. Past [`WAL_LIMIT`] it checkpoints at once and asks the
/// writer to finish the job. Ends (after a last checkpoint) with the store.
fn checkpoints(
    c: Connection,
    wal: &Path,
    wal_full: &AtomicBool,
    mut written: watch::Receiver<i64>,
) {
    let mut last = std::time::Instant::now();
    loop {
        std::thread::sleep(WAL_CHECK_EVERY);
        let closed = written.has_changed().is_err();
        let due = last.elapsed() >= CHECKPOINT_EVERY && written.has_changed().unwrap_or(true);
        let over = std::fs::metadata(wal).is_ok_and(|m| m.len() > WAL_LIMIT);
        if !(due || over || closed) {
            continue;
        }
        written.mark_unchanged();
        last = std::time::Instant::now();
        if let Err(e) = checkpoint(&c) {
            tracing::warn!(error = %e, "checkpointing the session record failed; retrying in a second");
        }
        if over {
            wal_full.store(true, Ordering::Release);
        }
        if closed {
            return;
        }
    }
}

/// A passive checkpoint: copies what it can without waiting for anyone.
fn checkpoint(c: &Connection) -> Result<(), StoreError> {
    c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    Ok(())
}

/// The writer thread: commits what queued while others were writing, in groups, until
/// every [`SqliteWriter`] is gone.
fn run(shared: &Shared, jobs: Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(super::types::GROUP_LIMIT);
    while let Ok(job) = jobs.recv() {
        batch.push(job);
        // Everything that queued meanwhile joins this group.
        while batch.len() < super::types::GROUP_LIMIT {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let result = {
            let mut conn = shared.conn.lock().unwrap_or_else(|e| e.into_inner());
            shared.commit_group(&mut conn, batch.iter().flat_map(|j| &j.ops))
        };
        shared.queued.fetch_sub(batch.len(), Ordering::AcqRel);
        for job in batch.drain(..) {
            let _ = job.done.send(result.clone());
        }
    }
}

fn read_head(c: &Connection) -> Result<ChainHead, StoreError> {
    let last: Option<(i64, Option<String>)> = c
        .query_row(
            "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    head_of(last)
}

/// One group in one transaction: sessions, events in chain order, spooled records (each
/// once), then updates, in the order they were submitted, and last what the events add
/// to their sessions' summaries. The chain head moves only when the transaction is durable.
fn commit<'a>(
    conn: &mut Connection,
    head: &mut ChainHead,
    ops: impl Iterator<Item = &'a Op>,
) -> Result<(), StoreError> {
    let at = now();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut cur = head.clone();
    let mut spooled_seen: HashSet<&str> = HashSet::new();
    let mut tally = SessionTally::default();
    for op in ops {
        match op {
            Op::StartSession(s) => insert_session(&tx, sql::INSERT_SESSION, s, &at)?,
            Op::Event(e) => {
                insert_event(&tx, &cur.append(e, &at), &at)?;
                tally.add(e);
            }
            Op::Spooled(s) => {
                // Stored before (an earlier upload) or repeated within this group: skip.
                // The single writer makes this check-then-insert race-free; the unique key
                // backs it.
                let stored = tx
                    .prepare_cached("SELECT 1 FROM spool_records WHERE id = $1")?
                    .exists(params![s.record_id])?;
                if stored || !spooled_seen.insert(&s.record_id) {
                    continue;
                }
                let n = &s.session;
                insert_session(&tx, sql::INSERT_SESSION_IF_NEW, n, &s.captured_at)?;
                let c = cur.append(&s.event, &at);
                insert_event(&tx, &c, &at)?;
                tally.add(&s.event);
                tx.prepare_cached(sql::INSERT_SPOOL_RECORD)?
                    .execute(params![s.record_id, n.id, c.seq, s.captured_at, at])?;
                if let Some(reason) = &s.ends_session {
                    end_session(&tx, &n.id, reason, &s.captured_at)?;
                }
            }
            Op::SessionInfo {
                id,
                client,
                protocol_version,
            } => {
                tx.prepare_cached(sql::SESSION_INFO)?.execute(params![
                    client.as_ref().map(|c| &c.0),
                    client.as_ref().map(|c| &c.1),
                    protocol_version,
                    id,
                ])?;
            }
            Op::EndSession { id, reason } => end_session(&tx, id, reason, &at)?,
        }
    }
    tally.apply(&tx, &at)?;
    tx.commit()?;
    *head = cur;
    Ok(())
}

/// A session row (`sql` says whether an existing one is an error or left alone).
fn insert_session(
    tx: &rusqlite::Transaction<'_>,
    sql: &str,
    n: &super::types::NewSession,
    started: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(sql)?.execute(params![
        n.id,
        n.principal,
        serde_json::to_string(&n.groups).unwrap_or_else(|_| "[]".into()),
        n.server,
        n.era,
        n.client.as_ref().map(|c| &c.0),
        n.client.as_ref().map(|c| &c.1),
        n.protocol_version,
        started,
        started,
    ])?;
    Ok(())
}

fn insert_event(
    tx: &rusqlite::Transaction<'_>,
    c: &Chained<'_>,
    at: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(sql::INSERT_EVENT)?.execute(params![
        c.seq,
        c.e.session_id,
        at,
        c.e.direction.as_str(),
        c.e.kind,
        c.e.method,
        c.e.tool,
        c.e.rpc_id,
        c.e.payload(),
        c.e.masked(),
        c.e.decision,
        c.prev,
        c.hash,
    ])?;
    Ok(())
}

fn end_session(
    tx: &rusqlite::Transaction<'_>,
    id: &str,
    reason: &str,
    at: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(sql::END_SESSION)?
        .execute(params![at, reason, id])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewSession, Store, Writer};
    use gatehouse_pipeline::{Direction, Record};
    use gatehouse_proxy_core::jsonrpc::{Id, Message};

    /// Past the WAL's limit the writer finishes a checkpoint between groups, so the WAL
    /// starts over instead of growing.
    #[tokio::test]
    async fn the_wal_starts_over_once_past_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("g.db");
        let store = Store::open(&format!("sqlite://{}", file.display()))
            .await
            .unwrap();
        store
            .start_session(NewSession {
                id: "s".into(),
                principal: "p".into(),
                groups: vec![],
                server: "x".into(),
                era: "legacy".into(),
                client: None,
                protocol_version: None,
            })
            .await
            .unwrap();
        let wal = dir.path().join("g.db-wal");
        let size = || std::fs::metadata(&wal).unwrap().len();
        // A server's answer of 1 kB, masked and recorded as the gateway records it.
        let event = |n: usize| {
            let answer = Message::result(
                Id::Number(n.to_string()),
                serde_json::json!({ "text": "x".repeat(1000) }),
            );
            let masked = crate::store::tests::masking().from_server(answer, None);
            Record::message("s", Direction::ServerToClient, &masked)
        };
        // The file keeps its high-water mark (the migrations' writes): grow past it.
        let limit = size() + 256 * 1024;
        let mut n = 0;
        while size() <= limit {
            n += 1;
            store.record(vec![event(n)]).await.unwrap();
        }
        // What the checkpointer does once the WAL is past the limit: raise the flag.
        let Writer::Sqlite(w) = &store.tx else {
            unreachable!("a SQLite store")
        };
        w.shared.wal_full.store(true, Ordering::Release);
        // The writer checkpoints after its next group, and the commits after that start
        // the WAL over: as many again fit in what the file already has (had it not
        // started over, they would have grown it).
        store.record(vec![event(n + 1)]).await.unwrap();
        let grown = size();
        for m in 2..=n {
            store.record(vec![event(n + m)]).await.unwrap();
        }
        assert_eq!(size(), grown, "the WAL went on growing");
        assert_eq!(store.session_events("s").await.unwrap().len(), 2 * n);
    }
}
