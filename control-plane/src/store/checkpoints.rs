//! Signing checkpoints without re-reading the log: each checkpoint stores the Merkle
//! frontier it was computed from, so the next one starts there (or at the newest
//! retention anchor, whichever is further) and hashes only the events after it. That
//! keeps a checkpoint every minute cheap on a log of any length, and lets a pruned log
//! go on being checkpointed over the whole tree, pruned events included.

use super::{Store, StoreError, now};
use gatehouse_audit::{Frontier, SigningKey, TreeHead, hash_bytes, public_key_hex};

/// Event hashes read per page.
const PAGE: i64 = 10_000;

/// Signs a checkpoint over the whole log as it is now, unless the newest checkpoint
/// already covers it; returns the head it signed.
pub(crate) async fn sign(store: &Store, key: &SigningKey) -> Result<Option<TreeHead>, StoreError> {
    let (mut frontier, mut head) = start(store).await?;
    let mut after = frontier.size() as i64;
    loop {
        let rows: Vec<(i64, Option<String>)> = sqlx::query_as(
            "SELECT seq, hash FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(PAGE)
        .fetch_all(store.pool())
        .await?;
        for (seq, hash) in &rows {
            let leaf = hash.as_deref().and_then(hash_bytes);
            match leaf {
                Some(leaf) if *seq == after + 1 => frontier.push(&leaf),
                _ => {
                    return Err(StoreError(format!(
                        "cannot sign a checkpoint: event #{seq} does not follow #{after} with a valid hash; run `gatehouse audit verify`"
                    )));
                }
            }
            after = *seq;
            head = hash.clone();
        }
        if (rows.len() as i64) < PAGE {
            break;
        }
    }
    let Some(head) = head.filter(|_| after > 0) else {
        return Ok(None);
    };
    let last: Option<i64> = sqlx::query_scalar("SELECT MAX(tree_size) FROM checkpoints")
        .fetch_one(store.pool())
        .await?;
    if last == Some(after) {
        return Ok(None);
    }
    let tree = TreeHead {
        tree_size: after,
        root: hex::encode(frontier.root()),
        chain_head: head,
        at: now(),
    };
    sqlx::query(
        "INSERT INTO checkpoints (tree_size, root_hash, chain_head, at, public_key, signature, frontier) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tree.tree_size)
    .bind(&tree.root)
    .bind(&tree.chain_head)
    .bind(&tree.at)
    .bind(public_key_hex(key))
    .bind(tree.sign(key))
    .bind(serde_json::to_string(&frontier.to_hex()).unwrap_or_default())
    .execute(store.pool())
    .await?;
    Ok(Some(tree))
}

/// Where to start hashing: the furthest of the newest checkpoint that kept its frontier
/// and the newest retention anchor (the empty tree when neither exists).
async fn start(store: &Store) -> Result<(Frontier, Option<String>), StoreError> {
    let stored: Option<(i64, String, String)> = sqlx::query_as(
        "SELECT tree_size, chain_head, frontier FROM checkpoints WHERE frontier IS NOT NULL \
         ORDER BY tree_size DESC LIMIT 1",
    )
    .fetch_optional(store.pool())
    .await?;
    let anchor = store.newest_anchor().await?;
    let unreadable = |size: i64, e: String| {
        StoreError(format!(
            "the stored Merkle frontier at event #{size} is unreadable ({e}); run `gatehouse audit verify`"
        ))
    };
    match (stored, anchor) {
        (Some((size, head, nodes)), a) if a.as_ref().is_none_or(|a| a.tree_size < size) => {
            let nodes: Vec<String> =
                serde_json::from_str(&nodes).map_err(|e| unreadable(size, e.to_string()))?;
            let f = Frontier::from_hex(size, &nodes).map_err(|e| unreadable(size, e))?;
            Ok((f, Some(head)))
        }
        (_, Some(a)) => {
            let f = Frontier::from_hex(a.tree_size, &a.frontier)
                .map_err(|e| unreadable(a.tree_size, e))?;
            Ok((f, Some(a.chain_head)))
        }
        _ => Ok((Frontier::new(), None)),
    }
}
