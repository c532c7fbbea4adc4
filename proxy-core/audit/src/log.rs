//! Verifying a whole log as stored — in the live database or in an exported bundle —
//! with the same code, so an auditor's offline check is the check the server runs.

use crate::chain::{ChainRecord, Verifier};
use crate::checkpoint::{TreeHead, merkle_root};
use serde::{Deserialize, Serialize};

/// An audit event with its chain links, as stored and exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Position.
    pub seq: i64,
    /// Session.
    pub session_id: String,
    /// Time.
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
    /// Payload (masked JSON).
    pub payload: String,
    /// Masked counts.
    pub masked: Option<String>,
    /// Policy decision.
    pub decision: Option<String>,
    /// Previous event's hash.
    pub prev_hash: Option<String>,
    /// This event's hash.
    pub hash: Option<String>,
}

impl StoredEvent {
    fn record(&self) -> ChainRecord<'_> {
        ChainRecord {
            seq: self.seq,
            session_id: &self.session_id,
            at: &self.at,
            direction: &self.direction,
            kind: &self.kind,
            method: self.method.as_deref(),
            tool: self.tool.as_deref(),
            rpc_id: self.rpc_id.as_deref(),
            payload: &self.payload,
            masked: self.masked.as_deref(),
            decision: self.decision.as_deref(),
        }
    }
}

/// A signed checkpoint, as stored and exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCheckpoint {
    /// Id.
    pub id: i64,
    /// Events covered.
    pub tree_size: i64,
    /// Merkle root (hex).
    pub root_hash: String,
    /// Chain hash at `tree_size`.
    pub chain_head: String,
    /// Signed at.
    pub at: String,
    /// Ed25519 public key (hex).
    pub public_key: String,
    /// Signature (hex).
    pub signature: String,
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogReport {
    /// Everything checks out.
    Intact {
        /// Events checked.
        events: u64,
        /// Checkpoints checked.
        checkpoints: u64,
        /// The chain head.
        head: String,
    },
    /// The first problem, after `events` good events.
    Broken {
        /// Good events before the problem.
        events: u64,
        /// What and where.
        reason: String,
    },
}

/// Checks the chain over `events` (in seq order) and every checkpoint; checkpoints must
/// be signed by `trusted_key` (hex) when one is given.
pub fn verify_log(
    events: impl IntoIterator<Item = StoredEvent>,
    checkpoints: &[StoredCheckpoint],
    trusted_key: Option<&str>,
) -> LogReport {
    let mut v = Verifier::default();
    let mut leaves: Vec<Vec<u8>> = Vec::new();
    for e in events {
        let (prev, hash) = (
            e.prev_hash.clone().unwrap_or_default(),
            e.hash.clone().unwrap_or_default(),
        );
        if let Err(err) = v.check(&e.record(), &prev, &hash) {
            return LogReport::Broken {
                events: v.checked(),
                reason: err.to_string(),
            };
        }
        leaves.push(hex::decode(&hash).unwrap_or_default());
    }
    let broken = |reason: String| LogReport::Broken {
        events: v.checked(),
        reason,
    };
    for c in checkpoints {
        let (id, at) = (c.id, &c.at);
        let head = TreeHead {
            tree_size: c.tree_size,
            root: c.root_hash.clone(),
            chain_head: c.chain_head.clone(),
            at: c.at.clone(),
        };
        if trusted_key.is_some_and(|k| k != c.public_key) {
            return broken(format!(
                "checkpoint #{id} ({at}) is signed by key {}, not the trusted key",
                c.public_key
            ));
        }
        if !head.verify(&c.public_key, &c.signature) {
            return broken(format!(
                "checkpoint #{id} ({at}) has an invalid signature: it was forged or altered"
            ));
        }
        let n = usize::try_from(c.tree_size).unwrap_or(usize::MAX);
        if n > leaves.len() {
            return broken(format!(
                "checkpoint #{id} ({at}) covers {} events but the log has {}: events at the end were removed (truncated tail)",
                c.tree_size,
                leaves.len()
            ));
        }
        if n == 0
            || hex::encode(merkle_root(&leaves[..n])) != c.root_hash
            || hex::encode(&leaves[n - 1]) != c.chain_head
        {
            return broken(format!(
                "events 1..{} no longer match checkpoint #{id} ({at}): the log was rewritten",
                c.tree_size
            ));
        }
    }
    LogReport::Intact {
        events: v.checked(),
        checkpoints: checkpoints.len() as u64,
        head: v.head().to_string(),
    }
}
