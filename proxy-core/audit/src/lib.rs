//! gatehouse-audit: the tamper-evident shape of the audit log.
//!
//! Every event carries the hash of the one before it, so changing, removing, inserting or
//! reordering any recorded event breaks the chain from that point on, and a verifier that
//! knows nothing but the rows can say where. Signed checkpoints (Ed25519 over an RFC 6962
//! Merkle tree head) pin the log up to a point, so a truncated or rewritten tail is caught.

mod chain;
mod checkpoint;
mod log;

pub use chain::{ChainBreak, ChainRecord, GENESIS, Verifier, chain_hash};
pub use checkpoint::{TreeHead, merkle_root, public_key_hex, signing_key_from_hex};
/// Ed25519 keys, re-exported so callers need no second copy of the crate.
pub use ed25519_dalek::SigningKey;
pub use log::{LogReport, StoredCheckpoint, StoredEvent, verify_log};
