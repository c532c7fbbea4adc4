//! Audit retention (`[audit] retention_days`, `archive_dir`): events older than the
//! retention period are archived, then pruned, and the log that remains still verifies.
//!
//! One run:
//! 1. finds the newest signed checkpoint whose events are all older than the cut-off
//!    (pruning stops exactly at a checkpoint, so what is pruned is pinned by a signature);
//! 2. writes those events — from the previous anchor on — to an archive bundle in
//!    `archive_dir` (the evidence-export format: the events, bracketed by the checkpoint
//!    at the previous anchor and the one pruning stops at, verifiable offline with
//!    `gatehouse audit verify --bundle`), verifying them against those checkpoints on
//!    the way, flushed to disk (files and folder fsynced, then renamed into place);
//! 3. signs a retention anchor (the tree head there, the Merkle frontier to go on
//!    extending it, and the archive's manifest digest) and stores it;
//! 4. only then deletes the events up to the anchor, in small batches (the database
//!    itself refuses to delete an event no anchor covers), except the newest event of
//!    the whole log, which the writers link the next event to; and the sessions that
//!    have ended before the cut-off and have no event left, with their approvals, and
//!    the checkpoints before the anchor (all of these are in the archive).
//!
//! Sessions still open, or with any event left, are kept: the log's remaining events
//! refer to them, and a long session is still being recorded. Spool record ids of
//! deleted sessions go with them, so a laptop re-uploading a record older than the
//! retention period would store it again as a new event.
//!
//! Events a configured sink (`[[audit.sinks]]`) has not delivered yet are never due: a
//! SIEM that is down for longer than the retention period still gets every event when
//! it is back.
//!
//! On PostgreSQL only one replica prunes at a time (an advisory lock).

use crate::evidence::{Range, Signing, Written, write_range};
use crate::store::{CHECKPOINT_COLUMNS, CheckpointRow, Store, StoreError, stored_checkpoint};
use gatehouse_audit::{Anchor, SigningKey, StoredCheckpoint};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Why a retention run stopped; whatever it says, nothing was deleted that was not archived.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RetentionError(String);

/// Events deleted per statement: short write transactions, so the gateway's recording
/// never waits long behind a prune.
const DELETE_BATCH: i64 = 5_000;

/// What one retention run would do (or did).
#[derive(Debug, Clone)]
pub struct Plan {
    /// Events older than this (RFC 3339) are due.
    pub cutoff: String,
    /// The log starts after this event (the current anchor; 0 for none).
    pub after: i64,
    /// The last event to prune: the newest checkpoint's tree size before the cut-off.
    pub upto: i64,
    /// That checkpoint.
    pub checkpoint: StoredCheckpoint,
    /// Ended sessions that will have no event left.
    pub sessions: i64,
    /// Their approvals.
    pub approvals: i64,
}

impl Plan {
    /// The archive folder's name.
    pub fn archive_name(&self) -> String {
        format!("gatehouse-archive-{:012}-{:012}", self.after + 1, self.upto)
    }

    /// Says what it covers, for people.
    pub fn describe(&self, archive_dir: &Path) -> String {
        format!(
            "events #{}..#{} ({} events, all older than {}, up to checkpoint #{}) archived to {} then pruned, with {} ended sessions and {} approvals",
            self.after + 1,
            self.upto,
            self.upto - self.after,
            self.cutoff,
            self.checkpoint.id,
            archive_dir.join(self.archive_name()).display(),
            self.sessions,
            self.approvals
        )
    }
}

/// The events due for pruning with `days` of retention at `now`, if any, and not
/// waiting for delivery to any of `sinks` (their names).
pub async fn plan(
    store: &Store,
    days: u32,
    sinks: &[String],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<Plan>, StoreError> {
    let cutoff = (now - chrono::Duration::days(i64::from(days)))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let after = store.newest_anchor().await?.map_or(0, |a| a.tree_size);
    // The first event young enough to keep bounds what may go.
    let young: Option<i64> =
        sqlx::query_scalar("SELECT MIN(seq) FROM audit_events WHERE seq > $1 AND at >= $2")
            .bind(after)
            .bind(&cutoff)
            .fetch_one(store.pool())
            .await?;
    let mut limit = match young {
        Some(seq) => seq - 1,
        None => sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(seq) FROM audit_events")
            .fetch_one(store.pool())
            .await?
            .unwrap_or(0),
    };
    for sink in sinks {
        limit = limit.min(store.sink_cursor(sink).await?);
    }
    let checkpoint: Option<CheckpointRow> = sqlx::query_as(&format!(
        "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints \
         WHERE tree_size > $1 AND tree_size <= $2 ORDER BY tree_size DESC, id DESC LIMIT 1"
    ))
    .bind(after)
    .bind(limit)
    .fetch_optional(store.pool())
    .await?;
    let Some(checkpoint) = checkpoint.map(stored_checkpoint) else {
        return Ok(None);
    };
    let gone = GONE_SESSIONS;
    let sessions: i64 =
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM sessions s WHERE {gone}"))
            .bind(&cutoff)
            .bind(checkpoint.tree_size)
            .fetch_one(store.pool())
            .await?;
    let approvals: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM approvals WHERE session_id IN (SELECT s.id FROM sessions s WHERE {gone})"
    ))
    .bind(&cutoff)
    .bind(checkpoint.tree_size)
    .fetch_one(store.pool())
    .await?;
    Ok(Some(Plan {
        cutoff,
        after,
        upto: checkpoint.tree_size,
        checkpoint,
        sessions,
        approvals,
    }))
}

/// Sessions `s` that go once events up to `$2` are pruned with cut-off `$1`: ended
/// before the cut-off, no event after `$2`, no approval newer than the cut-off (every
/// one of their approvals is then in the archive).
const GONE_SESSIONS: &str = "s.ended_at IS NOT NULL AND s.ended_at < $1 AND s.started_at < $1 \
     AND NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.session_id = s.id AND e.seq > $2) \
     AND NOT EXISTS (SELECT 1 FROM approvals a WHERE a.session_id = s.id AND a.created_at > $1)";

/// What a retention run did.
#[derive(Debug, Clone)]
pub struct Pruned {
    /// The plan it carried out.
    pub plan: Plan,
    /// The archive bundle written.
    pub archive: PathBuf,
    /// The anchor signed.
    pub anchor: Anchor,
}

/// Archives and prunes what `plan` says is due; `None` when nothing is (no signed
/// checkpoint covers events older than the cut-off yet) or another replica is pruning.
pub async fn prune(
    store: &Store,
    days: u32,
    sinks: &[String],
    archive_dir: &Path,
    key: &SigningKey,
) -> Result<Option<Pruned>, RetentionError> {
    prune_at(store, days, sinks, archive_dir, key, chrono::Utc::now()).await
}

/// [`prune`] as if it were `now` (tests and tools that replay a retention schedule).
pub async fn prune_at(
    store: &Store,
    days: u32,
    sinks: &[String],
    archive_dir: &Path,
    key: &SigningKey,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<Pruned>, RetentionError> {
    let runtime = |e: StoreError| RetentionError(e.to_string());
    let Some(lead) = store.try_lead("audit retention").await.map_err(runtime)? else {
        tracing::info!("another replica is pruning the audit log");
        return Ok(None);
    };
    // Held for the whole run, released whatever the outcome.
    let result = async {
        let Some(plan) = plan(store, days, sinks, now).await.map_err(runtime)? else {
            return Ok(None);
        };
        let previous = store.newest_anchor().await.map_err(runtime)?;
        let archive = write_archive(store, &plan, previous, archive_dir).await?;
        let (dir, written) = archive;
        if written.head != plan.checkpoint.chain_head
            || hex::encode(written.frontier.root()) != plan.checkpoint.root_hash
        {
            return Err(RetentionError(format!(
                "the archived events do not match checkpoint #{}; nothing was pruned. Run `gatehouse audit verify`",
                plan.checkpoint.id
            )));
        }
        let anchor = Anchor {
            tree_size: plan.upto,
            root_hash: plan.checkpoint.root_hash.clone(),
            chain_head: written.head.clone(),
            frontier: written.frontier.to_hex(),
            pruned_before: plan.cutoff.clone(),
            archive: plan.archive_name(),
            archive_digest: written.manifest_digest.clone(),
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            public_key: String::new(),
            signature: String::new(),
        }
        .sign(key);
        delete(store, &plan, &anchor).await.map_err(runtime)?;
        Ok(Some(Pruned {
            plan,
            archive: dir,
            anchor,
        }))
    }
    .await;
    lead.release().await;
    result
}

/// Writes the archive bundle into `archive_dir` durably: into a `.partial` folder first,
/// fsynced, then renamed into place and the parent folder fsynced.
async fn write_archive(
    store: &Store,
    plan: &Plan,
    previous: Option<Anchor>,
    archive_dir: &Path,
) -> Result<(PathBuf, Written), RetentionError> {
    let io = |what: &str, p: &Path, e: std::io::Error| {
        RetentionError(format!(
            "cannot {what} {}: {e}; nothing was pruned",
            p.display()
        ))
    };
    std::fs::create_dir_all(archive_dir).map_err(|e| io("create", archive_dir, e))?;
    let name = plan.archive_name();
    let (partial, done) = (
        archive_dir.join(format!("{name}.partial")),
        archive_dir.join(&name),
    );
    // Left over from a run that stopped before its anchor was stored: no anchor names
    // them, so they are rewritten.
    for stale in [&partial, &done] {
        if stale.exists() {
            std::fs::remove_dir_all(stale).map_err(|e| io("remove", stale, e))?;
        }
    }
    std::fs::create_dir_all(&partial).map_err(|e| io("create", &partial, e))?;
    let written = write_range(
        store,
        &Range {
            from: "1970-01-01T00:00:00.000000Z".into(),
            to: plan.cutoff.clone(),
            first: plan.after + 1,
            anchor: previous,
            upto: plan.upto,
            archive: true,
        },
        &partial,
        Signing::none(),
    )
    .await
    .map_err(|e| RetentionError(format!("archiving failed, nothing was pruned: {e}")))?;
    std::fs::rename(&partial, &done).map_err(|e| io("rename", &partial, e))?;
    std::fs::File::open(archive_dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("flush", archive_dir, e))?;
    Ok((done, written))
}

/// Stores the anchor, then deletes what it covers: events in batches, then the sessions
/// left without events and their approvals.
async fn delete(store: &Store, plan: &Plan, anchor: &Anchor) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_anchors (tree_size, root_hash, chain_head, frontier, pruned_before, archive, archive_digest, at, public_key, signature) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(anchor.tree_size)
    .bind(&anchor.root_hash)
    .bind(&anchor.chain_head)
    .bind(serde_json::to_string(&anchor.frontier).unwrap_or_default())
    .bind(&anchor.pruned_before)
    .bind(&anchor.archive)
    .bind(&anchor.archive_digest)
    .bind(&anchor.at)
    .bind(&anchor.public_key)
    .bind(&anchor.signature)
    .execute(store.pool())
    .await?;
    // From the oldest event still stored: a run that stopped half-way left some. The
    // newest event always stays: it is the chain head every replica's writer links the
    // next event to (the verifier skips it as covered by the anchor).
    let (first, last): (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT MIN(seq), MAX(seq) FROM audit_events")
            .fetch_one(store.pool())
            .await?;
    let end = if last == Some(plan.upto) {
        plan.upto - 1
    } else {
        plan.upto
    };
    let mut lo = first.map_or(end, |f| f - 1);
    while lo < end {
        let hi = (lo + DELETE_BATCH).min(end);
        sqlx::query("DELETE FROM audit_events WHERE seq > $1 AND seq <= $2")
            .bind(lo)
            .bind(hi)
            .execute(store.pool())
            .await?;
        lo = hi;
    }
    // Checkpoints inside the pruned range are in the archive; the one at the anchor stays.
    sqlx::query("DELETE FROM checkpoints WHERE tree_size < $1")
        .bind(plan.upto)
        .execute(store.pool())
        .await?;
    let mut tx = store.write_tx().await?;
    let gone = format!("SELECT s.id FROM sessions s WHERE {GONE_SESSIONS}");
    for sql in [
        format!(
            "DELETE FROM approval_votes WHERE approval_id IN (SELECT id FROM approvals WHERE session_id IN ({gone}))"
        ),
        format!("DELETE FROM approvals WHERE session_id IN ({gone})"),
        format!("DELETE FROM spool_records WHERE session_id IN ({gone})"),
        format!("DELETE FROM session_tools WHERE session_id IN ({gone})"),
        format!("DELETE FROM sessions WHERE id IN ({gone})"),
    ] {
        sqlx::query(&sql)
            .bind(&plan.cutoff)
            .bind(plan.upto)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Prunes every `every` until `stop` is cancelled (the first run a minute after start,
/// once a checkpoint may have been signed).
pub async fn run(
    store: Store,
    days: u32,
    sinks: Vec<String>,
    archive_dir: PathBuf,
    key: SigningKey,
    every: Duration,
    stop: CancellationToken,
) {
    let mut wait = Duration::from_secs(60).min(every);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = every;
        match prune(&store, days, &sinks, &archive_dir, &key).await {
            Ok(Some(p)) => tracing::info!(
                from = p.plan.after + 1,
                to = p.plan.upto,
                archive = %p.archive.display(),
                sessions = p.plan.sessions,
                "audit retention: archived and pruned"
            ),
            Ok(None) => tracing::debug!("audit retention: nothing due"),
            Err(e) => {
                tracing::error!(error = %e, "audit retention failed; nothing was deleted that was not archived")
            }
        }
    }
}
