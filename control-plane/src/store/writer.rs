//! The store's one writer: a task that takes batches of operations (sessions, events,
//! spooled uploads), links each event into the hash chain and commits them in groups.

use super::db;
use super::db::Sql;
use super::types::{
    CHAIN_LOCK, Change, GROUP_LIMIT, Job, NewSession, Op, SpooledEvent, StoreError, sql,
};
use chrono::{DateTime, Utc};
use gatehouse_audit::{ChainRecord, GENESIS, chain_hash};
use gatehouse_pipeline::Record;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Row};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};

pub(crate) fn now() -> String {
    let t: DateTime<Utc> = Utc::now();
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// PostgreSQL's writer (SQLite's is [`sqlite_writer`]).
pub(super) async fn writer(
    pool: AnyPool,
    mut rx: mpsc::Receiver<Job>,
    written: watch::Sender<i64>,
) {
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
pub(super) struct ChainHead {
    pub(super) seq: i64,
    pub(super) hash: String,
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
pub(super) fn head_of(last: Option<(i64, Option<String>)>) -> Result<ChainHead, StoreError> {
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
pub(super) async fn listen_for_changes(url: String, changes: broadcast::Sender<Change>) {
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
pub(super) struct Chained<'a> {
    pub(super) e: &'a Record,
    pub(super) seq: i64,
    pub(super) prev: String,
    pub(super) hash: String,
}

impl ChainHead {
    /// Links `e` onto the chain and moves this head past it.
    pub(super) fn append<'a>(&mut self, e: &'a Record, at: &str) -> Chained<'a> {
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
                payload: e.payload(),
                masked: e.masked(),
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
    events: impl Iterator<Item = &'a Record>,
    at: &str,
) -> (Vec<Chained<'a>>, ChainHead) {
    let mut cur = head.clone();
    let chained = events.map(|e| cur.append(e, at)).collect();
    (chained, cur)
}

pub(super) async fn commit(
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

pub(super) async fn spool_ids_present(
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

pub(super) async fn end_session(
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
            .bind(c.e.payload().to_string())
            .push(", ")
            .bind(c.e.masked().map(String::from))
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
