//! Retention anchors: what lets a log whose oldest events were pruned still verify.
//!
//! Before events `1..=tree_size` are deleted (after being archived), the control plane
//! signs an anchor: the tree head at `tree_size` (the same root and chain head a signed
//! checkpoint asserts there), the Merkle frontier needed to keep extending that tree, and
//! which archive holds the pruned events. A verifier then starts at event `tree_size + 1`
//! linking to the anchored chain head, and extends the anchored frontier, so every later
//! checkpoint still checks against the full tree. Without a valid anchor signed by the
//! trusted key, a log that does not start at event #1 is reported as cut.

use crate::checkpoint::verify_message;
use crate::keyring::{KeyError, KeyRing};
use crate::merkle::Frontier;
use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};

/// A signed retention anchor, as stored and exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// Events pruned under this anchor: seq 1..=tree_size.
    pub tree_size: i64,
    /// Merkle root (hex) over their hashes.
    pub root_hash: String,
    /// The chain hash of event `tree_size`: what event `tree_size + 1` links to.
    pub chain_head: String,
    /// The tree's perfect-subtree hashes (hex), largest first.
    pub frontier: Vec<String>,
    /// The retention cut-off (RFC 3339): the pruned events are all older.
    pub pruned_before: String,
    /// The archive bundle (folder name) holding the pruned events.
    pub archive: String,
    /// SHA-256 (hex) of that bundle's `manifest.json`.
    pub archive_digest: String,
    /// When it was signed (RFC 3339).
    pub at: String,
    /// Ed25519 public key (hex).
    pub public_key: String,
    /// Signature (hex).
    pub signature: String,
}

impl Anchor {
    fn message(&self) -> Vec<u8> {
        format!(
            "gatehouse-anchor-v1\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.tree_size,
            self.root_hash,
            self.chain_head,
            self.frontier.join(","),
            self.pruned_before,
            self.archive,
            self.archive_digest,
            self.at
        )
        .into_bytes()
    }

    /// Fills in the public key and signature.
    pub fn sign(mut self, key: &SigningKey) -> Anchor {
        self.public_key = hex::encode(key.verifying_key().to_bytes());
        self.signature = hex::encode(key.sign(&self.message()).to_bytes());
        self
    }

    /// Checks the signature (by `trusted_key` when given) and that the frontier is the
    /// tree the root names; returns the frontier to extend, or what is wrong.
    pub fn check(&self, trusted_key: Option<&str>) -> Result<Frontier, String> {
        self.check_with(trusted_key.map(KeyRing::single).as_ref())
    }

    /// [`Anchor::check`] against a key ring: the anchor's key must have been valid
    /// when the anchor was signed.
    pub fn check_with(&self, ring: Option<&KeyRing>) -> Result<Frontier, String> {
        let what = format!(
            "the retention anchor at event #{} ({})",
            self.tree_size, self.at
        );
        if let Some(ring) = ring {
            match ring.allows(&self.public_key, &self.at) {
                Ok(_) => {}
                Err(KeyError::Unknown(k)) => {
                    return Err(format!("{what} is signed by key {k}, not the trusted key"));
                }
                Err(e) => return Err(format!("{what}: {e}")),
            }
        }
        if !verify_message(&self.public_key, &self.signature, &self.message()) {
            return Err(format!(
                "{what} has an invalid signature: it was forged or altered"
            ));
        }
        let frontier = Frontier::from_hex(self.tree_size, &self.frontier)
            .map_err(|e| format!("{what} is malformed: {e}"))?;
        if hex::encode(frontier.root()) != self.root_hash || self.tree_size < 1 {
            return Err(format!(
                "{what} is malformed: its frontier does not hash to its root"
            ));
        }
        Ok(frontier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::signing_key_from_hex;

    fn anchor(key: &SigningKey) -> Anchor {
        let mut f = Frontier::new();
        for i in 0..5u8 {
            f.push(&[i; 32]);
        }
        Anchor {
            tree_size: 5,
            root_hash: hex::encode(f.root()),
            chain_head: "ab".repeat(32),
            frontier: f.to_hex(),
            pruned_before: "2026-01-01T00:00:00Z".into(),
            archive: "gatehouse-archive-1-5".into(),
            archive_digest: "cd".repeat(32),
            at: "2026-02-01T00:00:00Z".into(),
            public_key: String::new(),
            signature: String::new(),
        }
        .sign(key)
    }

    #[test]
    fn a_signed_anchor_checks_and_any_change_is_caught() {
        let key = signing_key_from_hex(&"11".repeat(32)).unwrap();
        let a = anchor(&key);
        assert_eq!(a.check(Some(&a.public_key)).unwrap().size(), 5);
        let other = signing_key_from_hex(&"12".repeat(32)).unwrap();
        let e = a
            .check(Some(&hex::encode(other.verifying_key().to_bytes())))
            .unwrap_err();
        assert!(e.contains("not the trusted key"), "{e}");
        let moved = Anchor {
            tree_size: 6,
            ..a.clone()
        };
        assert!(moved.check(None).unwrap_err().contains("forged or altered"));
        // Re-signed by someone else with a frontier that is not the root's tree.
        let mut bad = a.clone();
        bad.frontier[0] = "00".repeat(32);
        let bad = bad.sign(&other);
        assert!(bad.check(None).unwrap_err().contains("does not hash"));
    }
}
