//! Signed checkpoints over the log: an RFC 6962 Merkle tree head over the first
//! `tree_size` event hashes plus the chain head at that point, signed with Ed25519. A
//! checkpoint pins everything before it, so a truncated or rewritten tail is caught, and
//! its Merkle root lets one event be proven included without the whole log.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier as _, VerifyingKey};

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
        verify_message(public_key, signature, &self.message())
    }
}

/// True when `signature` (hex) is `message` signed by `public_key` (hex).
pub(crate) fn verify_message(public_key: &str, signature: &str, message: &[u8]) -> bool {
    let key = hex::decode(public_key)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .and_then(|b| VerifyingKey::from_bytes(&b).ok());
    let sig = hex::decode(signature)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .map(|b| Signature::from_bytes(&b));
    match (key, sig) {
        (Some(k), Some(s)) => k.verify(message, &s).is_ok(),
        _ => false,
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
