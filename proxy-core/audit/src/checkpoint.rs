//! Signed checkpoints over the log: an RFC 6962 Merkle tree head over the first
//! `tree_size` event hashes plus the chain head at that point, signed with Ed25519. A
//! checkpoint pins everything before it, so a truncated or rewritten tail is caught, and
//! its Merkle root lets one event be proven included without the whole log.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

/// RFC 6962 Merkle tree hash over leaves (each leaf is an event hash's bytes).
pub fn merkle_root(leaves: &[Vec<u8>]) -> [u8; 32] {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => {
            let mut h = Sha256::new();
            h.update([0u8]);
            h.update(&leaves[0]);
            h.finalize().into()
        }
        n => {
            // The largest power of two smaller than n.
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            let (l, r) = (merkle_root(&leaves[..k]), merkle_root(&leaves[k..]));
            let mut h = Sha256::new();
            h.update([1u8]);
            h.update(l);
            h.update(r);
            h.finalize().into()
        }
    }
}

/// What a checkpoint asserts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeHead {
    /// Events covered (seq 1..=tree_size).
    pub tree_size: i64,
    /// Merkle root (hex) over their hashes.
    pub root: String,
    /// The chain hash of event `tree_size` (hex).
    pub chain_head: String,
    /// When it was signed (RFC 3339).
    pub at: String,
}

impl TreeHead {
    fn message(&self) -> Vec<u8> {
        format!(
            "gatehouse-checkpoint-v1\n{}\n{}\n{}\n{}",
            self.tree_size, self.root, self.chain_head, self.at
        )
        .into_bytes()
    }

    /// Signs the head; returns the signature as hex.
    pub fn sign(&self, key: &SigningKey) -> String {
        hex::encode(key.sign(&self.message()).to_bytes())
    }

    /// True when `signature` (hex) is this head signed by `public_key` (hex).
    pub fn verify(&self, public_key: &str, signature: &str) -> bool {
        let key = hex::decode(public_key)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .and_then(|b| VerifyingKey::from_bytes(&b).ok());
        let sig = hex::decode(signature)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
            .map(|b| Signature::from_bytes(&b));
        match (key, sig) {
            (Some(k), Some(s)) => k.verify(&self.message(), &s).is_ok(),
            _ => false,
        }
    }
}

/// A signing key from a 32-byte hex seed (how it is kept in a secret file or variable).
pub fn signing_key_from_hex(seed: &str) -> Result<SigningKey, String> {
    let bytes = hex::decode(seed.trim()).map_err(|_| {
        "the signing key must be 64 hex characters (a 32-byte Ed25519 seed)".to_string()
    })?;
    let seed: [u8; 32] = bytes.try_into().map_err(|_| {
        "the signing key must be 64 hex characters (a 32-byte Ed25519 seed)".to_string()
    })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The public key of a signing key, hex.
pub fn public_key_hex(key: &SigningKey) -> String {
    hex::encode(key.verifying_key().to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(n: u8) -> Vec<u8> {
        vec![n; 32]
    }

    #[test]
    fn merkle_roots_follow_rfc_6962_shape() {
        let one = merkle_root(&[leaf(1)]);
        let two = merkle_root(&[leaf(1), leaf(2)]);
        let mut h = Sha256::new();
        h.update([1u8]);
        h.update(one);
        h.update(merkle_root(&[leaf(2)]));
        assert_eq!(two, <[u8; 32]>::from(h.finalize()));
        // Three leaves split 2 + 1.
        let three = merkle_root(&[leaf(1), leaf(2), leaf(3)]);
        let mut h = Sha256::new();
        h.update([1u8]);
        h.update(two);
        h.update(merkle_root(&[leaf(3)]));
        assert_eq!(three, <[u8; 32]>::from(h.finalize()));
        assert_ne!(
            merkle_root(&[leaf(1), leaf(2), leaf(3)]),
            merkle_root(&[leaf(1), leaf(3), leaf(2)])
        );
    }

    #[test]
    fn signatures_bind_every_field() {
        let key = signing_key_from_hex(&"11".repeat(32)).unwrap();
        let head = TreeHead {
            tree_size: 7,
            root: "ab".into(),
            chain_head: "cd".into(),
            at: "t".into(),
        };
        let sig = head.sign(&key);
        let public = public_key_hex(&key);
        assert!(head.verify(&public, &sig));
        assert!(
            !TreeHead {
                tree_size: 6,
                ..head.clone()
            }
            .verify(&public, &sig)
        );
        let other = public_key_hex(&signing_key_from_hex(&"22".repeat(32)).unwrap());
        assert!(!head.verify(&other, &sig));
        assert!(signing_key_from_hex("nothex").is_err());
    }
}
