//! Signing checkpoints without re-reading the log: the tree rows ([`super::tree`]) keep
//! the Merkle frontier where they reach (starting at the newest retention anchor for a
//! pruned log), so each checkpoint hashes only the events after the last one. That
//! keeps a checkpoint every minute cheap on a log of any length, and lets a pruned log
//! go on being checkpointed over the whole tree, pruned events included. Each
//! checkpoint still records its frontier, as retention's anchors read it.

use super::handle::Store;
use super::types::StoreError;
use super::writer::now;
use gatehouse_audit::{Checkpoint, NoteSigner, SigningKey, TreeHead, public_key_hex};

/// Signs a checkpoint over the whole log as it is now, unless the newest checkpoint
/// already covers it; returns the head it signed. The tree rows are brought up to the
/// log first (hashing only the events since the last time), and the head is written
/// twice: in Gatehouse's own signed form, and as a C2SP checkpoint note for `origin`
/// signed by the same key (what witnesses receive).
pub(crate) async fn sign(
    store: &Store,
    key: &SigningKey,
    origin: &str,
) -> Result<Option<TreeHead>, StoreError> {
    let tree = super::tree::extend(store).await?;
    let after = tree.frontier.size() as i64;
    let Some(head) = tree.chain_head.filter(|_| after > 0) else {
        return Ok(None);
    };
    let last: Option<i64> = sqlx::query_scalar("SELECT MAX(tree_size) FROM checkpoints")
        .fetch_one(store.pool())
        .await?;
    if last == Some(after) {
        return Ok(None);
    }
    let root = tree.frontier.root();
    let signer = NoteSigner::new(origin, key.clone()).map_err(|e| {
        StoreError(format!(
            "audit.origin `{origin}` cannot name a checkpoint key: {e}"
        ))
    })?;
    let note = Checkpoint::new(origin, after as u64, root).sign(&signer);
    let head = TreeHead {
        tree_size: after,
        root: hex::encode(root),
        chain_head: head,
        at: now(),
    };
    sqlx::query(
        "INSERT INTO checkpoints (tree_size, root_hash, chain_head, at, public_key, signature, frontier, note, key_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(head.tree_size)
    .bind(&head.root)
    .bind(&head.chain_head)
    .bind(&head.at)
    .bind(public_key_hex(key))
    .bind(head.sign(key))
    .bind(serde_json::to_string(&tree.frontier.to_hex()).unwrap_or_default())
    .bind(note.to_string())
    .bind(format!("{:08x}", signer.verifier().key_id()))
    .execute(store.pool())
    .await?;
    Ok(Some(head))
}

/// How far the log, its checkpoints and its sinks have got: the newest event, the
/// newest event the newest checkpoint covers, and each of `sinks`' cursors. Three small
/// reads, made when `/metrics` is scraped.
pub(crate) async fn progress(
    store: &Store,
    sinks: &[String],
) -> Result<crate::metrics::AuditProgress, StoreError> {
    let newest: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, at FROM audit_events ORDER BY seq DESC LIMIT 1")
            .fetch_optional(store.pool())
            .await?;
    // The covered event's own time; its signing time when retention pruned it.
    let covered: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT c.at, e.at FROM checkpoints c LEFT JOIN audit_events e ON e.seq = c.tree_size \
         ORDER BY c.id DESC LIMIT 1",
    )
    .fetch_optional(store.pool())
    .await?;
    let mut sink_cursors = Vec::with_capacity(sinks.len());
    for sink in sinks {
        sink_cursors.push((sink.clone(), store.sink_cursor(sink).await?));
    }
    Ok(crate::metrics::AuditProgress {
        newest_seq: newest.as_ref().map_or(0, |(seq, _)| *seq),
        newest_at: newest.and_then(|(_, at)| epoch_seconds(&at)),
        covered_at: covered
            .and_then(|(signed, event)| epoch_seconds(event.as_deref().unwrap_or(&signed))),
        sink_cursors,
    })
}

fn epoch_seconds(rfc3339: &str) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.timestamp_micros() as f64 / 1e6)
}
