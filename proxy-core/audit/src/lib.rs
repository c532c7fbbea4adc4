//! gatehouse-audit: the tamper-evident shape of the audit log.
//!
//! Every event carries the hash of the one before it, so changing, removing, inserting or
//! reordering any recorded event breaks the chain from that point on, and a verifier that
//! knows nothing but the rows can say where. (Signed checkpoints over the chain, so that a
//! rewrite of the whole tail is caught too, come with the evidence export.)

mod chain;

pub use chain::{ChainBreak, ChainRecord, GENESIS, Verifier, chain_hash};
