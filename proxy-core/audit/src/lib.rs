//! gatehouse-audit: the tamper-evident shape of the audit log.
//!
//! Every event carries the hash of the one before it, so changing, removing, inserting or
//! reordering any recorded event breaks the chain from that point on, and a verifier that
//! knows nothing but the rows can say where. Signed checkpoints (Ed25519 over an RFC 6962
//! Merkle tree head) pin the log up to a point, so a truncated or rewritten tail is caught.
//! Verification streams: the Merkle tree is extended one event at a time from a compact
//! frontier, so a log of any length verifies in constant memory, and a log pruned under
//! a signed retention anchor verifies from where the anchor left off.
//!
//! The same tree serves proofs and witnesses: the Merkle leaf of event #seq is its
//! 32-byte chain hash (leaf index `seq - 1`), RFC 6962 inclusion and consistency proofs
//! are read from the tree's stored perfect subtrees ([`ProofPlan`]), and every tree head
//! is also a C2SP `tlog-checkpoint` note ([`Checkpoint`]) that witnesses cosign, so a
//! history rewritten by someone holding both the signing key and the database still
//! contradicts the checkpoints the witnesses kept.

mod anchor;
mod chain;
mod checkpoint;
mod keyring;
mod log;
mod merkle;
mod note;
mod period;
mod proof;
mod proof_doc;
mod tlog;
mod witness;

pub use anchor::Anchor;
pub use chain::{ChainBreak, ChainRecord, GENESIS, Verifier, chain_digest, chain_hash, hash_bytes};
pub use checkpoint::{TreeHead, public_key_hex, signing_key_from_hex};
/// Ed25519 keys, re-exported so callers need no second copy of the crate.
pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use keyring::{KeyError, KeyRing, PublishedKey};
pub use log::{
    EventRef, LogReport, LogVerifier, StoredCheckpoint, StoredEvent, WitnessedHead, verify_log,
};
pub use merkle::{
    Frontier, Hash, NodeId, empty_root, frontier_node_ids, leaf_hash, merkle_root, node_hash,
};
pub use note::{KeyKind, Note, NoteError, NoteSignature, NoteSigner, VerifierKey, key_id};
pub use period::{Bracket, PeriodProof, PeriodReport, PeriodVerifier};
pub use proof::{
    MemoryTree, NodeSource, ProofError, ProofPlan, prove, verify_consistency, verify_inclusion,
};
pub use proof_doc::{ConsistencyProof, InclusionProof};
pub use tlog::{Checkpoint, cosign, cosignatures, verify_cosignature};
pub use witness::{AddCheckpoint, split_notes, unix_time, witnessed_heads};
