//! Proof documents: what `GET /api/v1/audit/proofs/...` and `gatehouse audit prove` hand
//! out, and what the offline verifier checks. Each carries the signed checkpoint note(s)
//! it is relative to, so it verifies with nothing but the log's public key.

use crate::merkle::{Hash, leaf_hash};
use crate::note::VerifierKey;
use crate::proof::{verify_consistency, verify_inclusion};
use crate::tlog::Checkpoint;
use serde::{Deserialize, Serialize};

/// One event is in the tree a signed checkpoint names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// The event's seq (leaf index seq - 1).
    pub seq: u64,
    /// The event's chain hash (hex): the leaf.
    pub event_hash: String,
    /// The tree size the proof is for.
    pub tree_size: u64,
    /// The root at that size (hex).
    pub root_hash: String,
    /// The audit path, leaf to root (hex).
    pub proof: Vec<String>,
    /// The signed checkpoint note at `tree_size`, when one was signed there.
    pub checkpoint: Option<String>,
}

/// The tree at `from` is a prefix of the tree at `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    /// Older size.
    pub from: u64,
    /// Newer size.
    pub to: u64,
    /// Root at `from` (hex).
    pub from_root: String,
    /// Root at `to` (hex).
    pub to_root: String,
    /// The proof hashes (hex).
    pub proof: Vec<String>,
    /// Signed checkpoint notes at `from` and `to`, when signed there.
    pub from_checkpoint: Option<String>,
    /// See `from_checkpoint`.
    pub to_checkpoint: Option<String>,
}

/// Hex hashes to bytes; says which field is wrong.
fn hashes(field: &str, hex: &[String]) -> Result<Vec<Hash>, String> {
    hex.iter().map(|h| hash(field, h)).collect()
}

fn hash(field: &str, h: &str) -> Result<Hash, String> {
    crate::hash_bytes(h)
        .ok_or_else(|| format!("`{field}` holds `{h}`, which is not a 64-digit hex hash"))
}

/// Checks a note (when present) is signed by `log_key` and states `size` and `root`.
fn check_note(
    note: Option<&str>,
    log_key: Option<&VerifierKey>,
    size: u64,
    root: &Hash,
) -> Result<bool, String> {
    let (Some(note), Some(key)) = (note, log_key) else {
        return Ok(false);
    };
    let (cp, _) = Checkpoint::open(note, key)
        .map_err(|e| format!("the checkpoint at tree size {size}: {e}"))?;
    if cp.size != size || cp.root != *root {
        return Err(format!(
            "the signed checkpoint states tree size {} with another root than the proof's tree size {size}: the proof does not belong to it",
            cp.size
        ));
    }
    Ok(true)
}

impl InclusionProof {
    /// Verifies the proof and, with `log_key`, its checkpoint's signature; returns
    /// whether a signed checkpoint vouched for the root.
    pub fn verify(&self, log_key: Option<&VerifierKey>) -> Result<bool, String> {
        let leaf = hash("event_hash", &self.event_hash)?;
        let root = hash("root_hash", &self.root_hash)?;
        let signed = check_note(self.checkpoint.as_deref(), log_key, self.tree_size, &root)?;
        let index = self.seq.checked_sub(1).ok_or("seq starts at 1")?;
        verify_inclusion(
            index,
            self.tree_size,
            &leaf_hash(&leaf),
            &hashes("proof", &self.proof)?,
            &root,
        )
        .map_err(|e| format!("event #{} in the tree of {}: {e}", self.seq, self.tree_size))?;
        Ok(signed)
    }
}

impl ConsistencyProof {
    /// Verifies the proof and, with `log_key`, the checkpoints' signatures; returns
    /// whether both roots were vouched for by signed checkpoints.
    pub fn verify(&self, log_key: Option<&VerifierKey>) -> Result<bool, String> {
        let old = hash("from_root", &self.from_root)?;
        let new = hash("to_root", &self.to_root)?;
        let a = check_note(self.from_checkpoint.as_deref(), log_key, self.from, &old)?;
        let b = check_note(self.to_checkpoint.as_deref(), log_key, self.to, &new)?;
        verify_consistency(
            self.from,
            self.to,
            &old,
            &new,
            &hashes("proof", &self.proof)?,
        )
        .map_err(|e| format!("tree {} to tree {}: {e}", self.from, self.to))?;
        Ok(a && b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::NoteSigner;
    use crate::proof::{MemoryTree, ProofPlan, prove};
    use ed25519_dalek::SigningKey;

    #[test]
    fn proof_documents_verify_with_the_log_key_and_refuse_changes() {
        let mut t = MemoryTree::new();
        let leaves: Vec<Hash> = (0..20u8).map(|i| [i; 32]).collect();
        for l in &leaves {
            t.push(l);
        }
        let signer = NoteSigner::new("log.example", SigningKey::from_bytes(&[5; 32])).unwrap();
        let note = |size: u64, root: Hash| {
            Checkpoint::new("log.example", size, root)
                .sign(&signer)
                .to_string()
        };
        let root20 = t.root();
        let root_at = |n| prove(&t, &ProofPlan::root(n)).unwrap()[0];
        let inc = InclusionProof {
            seq: 7,
            event_hash: hex::encode(leaves[6]),
            tree_size: 20,
            root_hash: hex::encode(root20),
            proof: prove(&t, &ProofPlan::inclusion(6, 20).unwrap())
                .unwrap()
                .iter()
                .map(hex::encode)
                .collect(),
            checkpoint: Some(note(20, root20)),
        };
        let key = signer.verifier();
        assert_eq!(inc.verify(Some(&key)), Ok(true));
        let other = InclusionProof {
            event_hash: hex::encode([9u8; 32]),
            ..inc.clone()
        };
        assert!(
            other
                .verify(Some(&key))
                .unwrap_err()
                .contains("event #7 in the tree of 20")
        );
        let unsigned = InclusionProof {
            checkpoint: Some(note(19, root_at(19))),
            ..inc.clone()
        };
        assert!(
            unsigned
                .verify(Some(&key))
                .unwrap_err()
                .contains("does not belong")
        );
        let garbage = InclusionProof {
            root_hash: "zz".into(),
            ..inc
        };
        assert!(
            garbage
                .verify(None)
                .unwrap_err()
                .contains("`root_hash` holds `zz`")
        );

        let con = ConsistencyProof {
            from: 9,
            to: 20,
            from_root: hex::encode(root_at(9)),
            to_root: hex::encode(root20),
            proof: prove(&t, &ProofPlan::consistency(9, 20).unwrap())
                .unwrap()
                .iter()
                .map(hex::encode)
                .collect(),
            from_checkpoint: Some(note(9, root_at(9))),
            to_checkpoint: Some(note(20, root20)),
        };
        assert_eq!(con.verify(Some(&key)), Ok(true));
        let forked = ConsistencyProof {
            from_root: hex::encode([1u8; 32]),
            from_checkpoint: None,
            ..con
        };
        assert!(
            forked
                .verify(Some(&key))
                .unwrap_err()
                .contains("tree 9 to tree 20")
        );
    }
}
