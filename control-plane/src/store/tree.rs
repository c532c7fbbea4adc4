//! The audit log's Merkle tree, kept as rows: every perfect subtree once complete
//! (`audit_tree_nodes`), and how far the rows reach (`audit_tree`). Extending reads only
//! the events after that point, so it runs before each checkpoint at the cost of the new
//! events; a proof then reads O(log n) node rows in one query, never the log.
//!
//! Several replicas may extend at once (PostgreSQL): nodes are deterministic, so a
//! second insert of the same node is ignored, and the reach only ever moves forward.

use super::db::Sql;
use super::handle::Store;
use super::types::StoreError;
use gatehouse_audit::{
    ConsistencyProof, Frontier, Hash, InclusionProof, NodeId, ProofPlan, empty_root, hash_bytes,
};

/// Events read (and nodes written) per transaction.
const PAGE: i64 = 5_000;
/// Node rows per INSERT statement (two placeholders each).
const NODES_PER_INSERT: usize = 400;

/// How far the tree rows reach.
#[derive(Debug, Clone)]
pub(crate) struct TreeState {
    /// The frontier at `frontier.size()`.
    pub frontier: Frontier,
    /// The chain hash of the last event covered.
    pub chain_head: Option<String>,
}

fn unreadable(size: i64, e: impl std::fmt::Display) -> StoreError {
    StoreError(format!(
        "the stored Merkle tree at event #{size} is unreadable ({e}); run `gatehouse audit verify`"
    ))
}

/// Where the rows reach now: the stored state, else the newest retention anchor (a
/// pruned log whose tree was never indexed), else the empty tree.
pub(crate) async fn state(store: &Store) -> Result<TreeState, StoreError> {
    let row: Option<(i64, String, Option<String>)> =
        sqlx::query_as("SELECT size, frontier, chain_head FROM audit_tree WHERE id = 1")
            .fetch_optional(store.pool())
            .await?;
    if let Some((size, nodes, head)) = row {
        let nodes: Vec<String> = serde_json::from_str(&nodes).map_err(|e| unreadable(size, e))?;
        let frontier = Frontier::from_hex(size, &nodes).map_err(|e| unreadable(size, e))?;
        return Ok(TreeState {
            frontier,
            chain_head: head,
        });
    }
    if let Some(a) = store.newest_anchor().await? {
        let frontier =
            Frontier::from_hex(a.tree_size, &a.frontier).map_err(|e| unreadable(a.tree_size, e))?;
        return Ok(TreeState {
            frontier,
            chain_head: Some(a.chain_head),
        });
    }
    Ok(TreeState {
        frontier: Frontier::new(),
        chain_head: None,
    })
}

/// Adds every event recorded since the rows' reach to the tree; returns the new reach.
pub(crate) async fn extend(store: &Store) -> Result<TreeState, StoreError> {
    let mut st = state(store).await?;
    loop {
        let after = st.frontier.size() as i64;
        let rows: Vec<(i64, Option<String>)> = sqlx::query_as(
            "SELECT seq, hash FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(PAGE)
        .fetch_all(store.pool())
        .await?;
        if rows.is_empty() {
            return Ok(st);
        }
        let mut nodes: Vec<(NodeId, Hash)> = Vec::with_capacity(rows.len() * 2);
        let mut last = after;
        for (seq, hash) in &rows {
            let leaf = hash.as_deref().and_then(hash_bytes);
            match leaf {
                Some(leaf) if *seq == last + 1 => {
                    st.frontier
                        .push_completing(&leaf, |id, h| nodes.push((id, *h)));
                }
                _ => {
                    return Err(StoreError(format!(
                        "cannot extend the Merkle tree: event #{seq} does not follow #{last} with a valid hash; run `gatehouse audit verify`"
                    )));
                }
            }
            last = *seq;
            st.chain_head = hash.clone();
        }
        let mut tx = store.write_tx().await?;
        for chunk in nodes.chunks(NODES_PER_INSERT) {
            let mut q = Sql::new("INSERT INTO audit_tree_nodes (id, hash) VALUES ");
            for (i, (id, h)) in chunk.iter().enumerate() {
                q.push(if i == 0 { "(" } else { ", (" });
                q.bind(id.key()).push(", ").bind(h.to_vec()).push(")");
            }
            q.push(" ON CONFLICT (id) DO NOTHING");
            q.query().execute(&mut *tx).await?;
        }
        // Only forward: another replica may have gone further meanwhile.
        sqlx::query(
            "INSERT INTO audit_tree (id, size, frontier, chain_head) VALUES (1, $1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET size = excluded.size, frontier = excluded.frontier, \
             chain_head = excluded.chain_head WHERE audit_tree.size < excluded.size",
        )
        .bind(last)
        .bind(serde_json::to_string(&st.frontier.to_hex()).unwrap_or_default())
        .bind(st.chain_head.clone())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
}

/// Why a proof cannot be served: the request (bad sizes) or the store.
#[derive(Debug, thiserror::Error)]
pub enum ProofRequestError {
    /// The sizes asked for cannot be proven: a client error, nothing changed.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// The hashes of stored tree nodes, in the order asked.
    pub async fn tree_nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = Sql::new("SELECT id, hash FROM audit_tree_nodes WHERE id IN (");
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.bind(id.key());
        }
        q.push(")");
        let rows = q.query().fetch_all(self.pool()).await?;
        let mut found = std::collections::HashMap::with_capacity(rows.len());
        for r in rows {
            use sqlx::Row;
            let id: i64 = r.try_get(0)?;
            let hash: Vec<u8> = r.try_get(1)?;
            found.insert(id, hash);
        }
        ids.iter()
            .map(|id| {
                found
                    .get(&id.key())
                    .and_then(|h| Hash::try_from(h.as_slice()).ok())
                    .ok_or_else(|| {
                        StoreError(format!(
                            "the Merkle tree node for events #{}..#{} is missing (pruned, or the tree table was altered); run `gatehouse audit verify`",
                            id.first_leaf() + 1,
                            id.end_leaf()
                        ))
                    })
            })
            .collect()
    }

    /// Brings the tree rows up to the log and returns how many events they cover.
    pub async fn extend_tree(&self) -> Result<u64, StoreError> {
        Ok(extend(self).await?.frontier.size())
    }

    async fn prove(&self, plan: &ProofPlan) -> Result<Vec<Hash>, ProofRequestError> {
        let mut proofs = self.prove_all(&[plan]).await?;
        Ok(proofs.pop().unwrap_or_default())
    }

    /// Several proofs over the tree with one look at its size and one read of its nodes
    /// (each round trip to the database counts in a proof's latency).
    async fn prove_all(&self, plans: &[&ProofPlan]) -> Result<Vec<Vec<Hash>>, ProofRequestError> {
        let needs = plans.iter().map(|p| p.needs_leaves()).max().unwrap_or(0);
        let mut reach = state(self).await?.frontier.size();
        if reach < needs {
            reach = self.extend_tree().await?;
        }
        if reach < needs {
            return Err(ProofRequestError::Invalid(format!(
                "the log has {reach} events; a tree of {needs} cannot be proven (ask for a size up to {reach})"
            )));
        }
        let ids: Vec<NodeId> = plans
            .iter()
            .flat_map(|p| p.nodes().iter().copied())
            .collect();
        let mut hashes = &self.tree_nodes(&ids).await?[..];
        let mut proofs = Vec::with_capacity(plans.len());
        for plan in plans {
            let (mine, rest) = hashes.split_at(plan.nodes().len());
            hashes = rest;
            proofs.push(
                plan.assemble(mine)
                    .map_err(|e| ProofRequestError::Store(StoreError(e.to_string())))?,
            );
        }
        Ok(proofs)
    }

    /// The signed checkpoint notes at exactly these sizes, in one query.
    async fn checkpoint_notes(&self, sizes: [u64; 2]) -> Result<[Option<String>; 2], StoreError> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT tree_size, note FROM checkpoints WHERE tree_size IN ($1, $2) AND note IS NOT NULL ORDER BY id DESC",
        )
        .bind(sizes[0] as i64)
        .bind(sizes[1] as i64)
        .fetch_all(self.pool())
        .await?;
        // Newest first: the first row of a size is its note.
        let note = |size: u64| {
            rows.iter()
                .find(|(s, _)| *s == size as i64)
                .map(|(_, n)| n.clone())
        };
        Ok([note(sizes[0]), note(sizes[1])])
    }

    /// The root of the tree of `size` events.
    pub async fn tree_root(&self, size: u64) -> Result<Hash, ProofRequestError> {
        let root = self.prove(&ProofPlan::root(size)).await?;
        Ok(root.first().copied().unwrap_or_else(empty_root))
    }

    /// The signed checkpoint note at exactly `size`, when one was signed there.
    pub async fn checkpoint_note(&self, size: u64) -> Result<Option<String>, StoreError> {
        let note: Option<Option<String>> = sqlx::query_scalar(
            "SELECT note FROM checkpoints WHERE tree_size = $1 AND note IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .bind(size as i64)
        .fetch_optional(self.pool())
        .await?;
        Ok(note.flatten())
    }

    /// The size of the newest checkpoint with a note (what proofs default to).
    pub async fn latest_checkpoint_size(&self) -> Result<Option<u64>, StoreError> {
        let size: Option<i64> =
            sqlx::query_scalar("SELECT MAX(tree_size) FROM checkpoints WHERE note IS NOT NULL")
                .fetch_one(self.pool())
                .await?;
        Ok(size.map(|s| s as u64))
    }

    /// Proves event `seq` is in the tree of `size` events (the newest checkpoint's size
    /// when `None`).
    pub async fn inclusion_proof(
        &self,
        seq: u64,
        size: Option<u64>,
    ) -> Result<InclusionProof, ProofRequestError> {
        let size = match size {
            Some(s) => s,
            None => self.latest_checkpoint_size().await?.ok_or_else(|| {
                ProofRequestError::Invalid(
                    "no checkpoint has been signed yet: give a tree size, or wait for the first checkpoint".into(),
                )
            })?,
        };
        let plan = ProofPlan::inclusion(seq.wrapping_sub(1), size).map_err(|_| {
            ProofRequestError::Invalid(format!(
                "event #{seq} is not in a tree of {size} events: seq must be between 1 and the tree size"
            ))
        })?;
        // The proof's nodes, the root's and the event's leaf: one read.
        let root_plan = ProofPlan::root(size);
        let leaf_plan = ProofPlan::leaf(seq - 1);
        let mut proofs = self.prove_all(&[&plan, &root_plan, &leaf_plan]).await?;
        let leaf = proofs.pop().unwrap_or_default();
        let root = proofs.pop().unwrap_or_default();
        let proof = proofs.pop().unwrap_or_default();
        // The event's stored hash and the checkpoint at `size`: one query.
        let row: (Option<String>, Option<String>) = sqlx::query_as(
            "SELECT (SELECT hash FROM audit_events WHERE seq = $1), \
             (SELECT note FROM checkpoints WHERE tree_size = $2 AND note IS NOT NULL ORDER BY id DESC LIMIT 1)",
        )
        .bind(seq as i64)
        .bind(size as i64)
        .fetch_one(self.pool())
        .await
        .map_err(StoreError::from)?;
        let (event_hash, checkpoint) = row;
        let event_hash = event_hash.ok_or_else(|| {
            ProofRequestError::Invalid(format!(
                "event #{seq} was pruned under retention: its archive bundle holds it"
            ))
        })?;
        if hash_bytes(&event_hash).map(|h| gatehouse_audit::leaf_hash(&h)) != leaf.first().copied()
        {
            return Err(ProofRequestError::Store(StoreError(format!(
                "event #{seq} no longer matches the Merkle tree: run `gatehouse audit verify`"
            ))));
        }
        Ok(InclusionProof {
            seq,
            event_hash,
            tree_size: size,
            root_hash: hex::encode(root.first().copied().unwrap_or_else(empty_root)),
            proof: proof.iter().map(hex::encode).collect(),
            checkpoint,
        })
    }

    /// Proves the tree of `from` events is a prefix of the tree of `to`.
    pub async fn consistency_proof(
        &self,
        from: u64,
        to: u64,
    ) -> Result<ConsistencyProof, ProofRequestError> {
        if from == 0 || from > to {
            return Err(ProofRequestError::Invalid(format!(
                "a consistency proof needs 1 <= from <= to; got from={from}, to={to}"
            )));
        }
        let plan = ProofPlan::consistency(from, to)
            .map_err(|e| ProofRequestError::Invalid(e.to_string()))?;
        let (from_plan, to_plan) = (ProofPlan::root(from), ProofPlan::root(to));
        let mut proofs = self.prove_all(&[&plan, &from_plan, &to_plan]).await?;
        let root = |p: Option<Vec<Hash>>| {
            hex::encode(
                p.and_then(|p| p.first().copied())
                    .unwrap_or_else(empty_root),
            )
        };
        let to_root = root(proofs.pop());
        let from_root = root(proofs.pop());
        let proof = proofs.pop().unwrap_or_default();
        let [from_checkpoint, to_checkpoint] = self.checkpoint_notes([from, to]).await?;
        Ok(ConsistencyProof {
            from,
            to,
            from_root,
            to_root,
            proof: proof.iter().map(hex::encode).collect(),
            from_checkpoint,
            to_checkpoint,
        })
    }
}
