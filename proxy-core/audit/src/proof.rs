//! RFC 6962 / RFC 9162 inclusion and consistency proofs.
//!
//! Every hash in a proof is the tree hash of a range of leaves that RFC 6962's recursive
//! definition names, and every such range is a row of perfect subtrees. A [`ProofPlan`]
//! lists those perfect subtrees ([`NodeId`]s) — O(log n) of them — and folds the hashes
//! a store hands back into the proof. Planning and folding do no I/O, so a synchronous
//! source ([`NodeSource`]) and an async database read the same plan in one batch.
//! Verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2 and needs nothing but the
//! proof and the two tree heads.

use crate::merkle::{Frontier, Hash, NodeId, fold_right, node_hash, perfect_nodes};
use std::collections::HashMap;

/// Why a proof cannot be made or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf is not in the tree.
    #[error(
        "event #{} is not in a tree of {size} events: ask for a tree at least that large",
        index + 1
    )]
    OutOfRange {
        /// Leaf index (the event's seq - 1).
        index: u64,
        /// Tree size.
        size: u64,
    },
    /// A consistency proof from a larger tree to a smaller one.
    #[error("a consistency proof goes from a smaller tree to a larger one: {old} > {new}")]
    Shrinks {
        /// Older size.
        old: u64,
        /// Newer size.
        new: u64,
    },
    /// Consistency with the empty tree holds for every tree: checking it proves nothing.
    #[error(
        "a consistency proof from the empty tree proves nothing: start from a checkpoint of at least one event"
    )]
    FromEmpty,
    /// The tree is larger than the log it is asked of.
    #[error("the log has {available} events; a tree of {size} cannot be proven yet")]
    BeyondLog {
        /// Size asked for.
        size: u64,
        /// Events in the log.
        available: u64,
    },
    /// A proof with the wrong number of hashes for its sizes.
    #[error("the proof has {got} hashes; one for these tree sizes has {expected}")]
    WrongLength {
        /// Hashes the sizes call for.
        expected: usize,
        /// Hashes given.
        got: usize,
    },
    /// The hashes do not lead to the root(s) claimed.
    #[error("the proof does not lead to the {0}: the log, the event or the proof was altered")]
    Mismatch(&'static str),
    /// The node source answered with the wrong number of hashes.
    #[error("the tree store returned {got} node hashes for {expected} asked")]
    Source {
        /// Asked.
        expected: usize,
        /// Returned.
        got: usize,
    },
}

/// The perfect subtrees a proof (or a root) is made of, and how to fold them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofPlan {
    /// Leaf ranges whose tree hashes are the proof's hashes, in proof order.
    ranges: Vec<(u64, u64)>,
    /// The perfect subtrees of every range, range after range.
    nodes: Vec<NodeId>,
}

impl ProofPlan {
    fn from_ranges(ranges: Vec<(u64, u64)>) -> ProofPlan {
        let nodes = ranges
            .iter()
            .flat_map(|&(a, b)| perfect_nodes(a, b))
            .collect();
        ProofPlan { ranges, nodes }
    }

    /// The audit path (RFC 6962 section 2.1.1) of leaf `index` in the tree of `size`.
    pub fn inclusion(index: u64, size: u64) -> Result<ProofPlan, ProofError> {
        if index >= size {
            return Err(ProofError::OutOfRange { index, size });
        }
        // PATH(m, D[lo:hi]) = PATH(m, half holding m) : MTH(other half); walked from the
        // top, so the ranges come out root-first and are reversed at the end.
        let mut ranges = Vec::new();
        let (mut lo, mut hi) = (0, size);
        while hi - lo > 1 {
            let k = split(hi - lo);
            if index < lo + k {
                ranges.push((lo + k, hi));
                hi = lo + k;
            } else {
                ranges.push((lo, lo + k));
                lo += k;
            }
        }
        ranges.reverse();
        Ok(ProofPlan::from_ranges(ranges))
    }

    /// The consistency proof (RFC 6962 section 2.1.2) from the tree of `old` leaves to
    /// the tree of `new` (empty when `old` is 0 or equal to `new`).
    pub fn consistency(old: u64, new: u64) -> Result<ProofPlan, ProofError> {
        if old > new {
            return Err(ProofError::Shrinks { old, new });
        }
        let mut ranges = Vec::new();
        if old > 0 && old < new {
            // SUBPROOF(m, D[lo:hi], b), top-down as above.
            let (mut lo, mut hi, mut m, mut whole) = (0, new, old, true);
            loop {
                if m == hi - lo {
                    if !whole {
                        ranges.push((lo, hi));
                    }
                    break;
                }
                let k = split(hi - lo);
                if m <= k {
                    ranges.push((lo + k, hi));
                    hi = lo + k;
                } else {
                    ranges.push((lo, lo + k));
                    lo += k;
                    m -= k;
                    whole = false;
                }
            }
            ranges.reverse();
        }
        Ok(ProofPlan::from_ranges(ranges))
    }

    /// The root of the tree of `size` leaves, as a one-hash "proof".
    pub fn root(size: u64) -> ProofPlan {
        ProofPlan::from_ranges(if size == 0 { vec![] } else { vec![(0, size)] })
    }

    /// The leaf hash of leaf `index`, as a one-hash "proof" (read with other plans' nodes).
    pub fn leaf(index: u64) -> ProofPlan {
        ProofPlan::from_ranges(vec![(index, index + 1)])
    }

    /// The perfect subtrees to read, in the order [`ProofPlan::assemble`] wants them.
    pub fn nodes(&self) -> &[NodeId] {
        &self.nodes
    }

    /// The largest tree size any of its nodes reaches into: the log must hold that many.
    pub fn needs_leaves(&self) -> u64 {
        self.ranges.iter().map(|r| r.1).max().unwrap_or(0)
    }

    /// Folds the hashes of [`ProofPlan::nodes`] (same order) into the proof's hashes.
    pub fn assemble(&self, hashes: &[Hash]) -> Result<Vec<Hash>, ProofError> {
        if hashes.len() != self.nodes.len() {
            return Err(ProofError::Source {
                expected: self.nodes.len(),
                got: hashes.len(),
            });
        }
        let mut rest = hashes;
        Ok(self
            .ranges
            .iter()
            .map(|&(a, b)| {
                let n = perfect_nodes(a, b).len();
                let (these, after) = rest.split_at(n);
                rest = after;
                fold_right(these)
            })
            .collect())
    }
}

/// The largest power of two below `n` (n > 1): where RFC 6962 splits a tree.
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// Where a proof's perfect subtrees are read from: a store's table of tree nodes, a
/// bundle's, or a tree held in memory.
pub trait NodeSource {
    /// What reading can fail with.
    type Error: From<ProofError>;
    /// The hashes of `ids`, in the same order; every id is a complete subtree of the log.
    fn nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, Self::Error>;
}

/// Reads and folds a plan from a synchronous source.
pub fn prove<S: NodeSource>(source: &S, plan: &ProofPlan) -> Result<Vec<Hash>, S::Error> {
    let hashes = source.nodes(plan.nodes())?;
    Ok(plan.assemble(&hashes)?)
}

/// Checks that `leaf_hash` is leaf `index` of the tree of `size` whose root is `root`
/// (RFC 9162 section 2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf_hash: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::OutOfRange { index, size });
    }
    let expected = ProofPlan::inclusion(index, size)?.ranges.len();
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            got: proof.len(),
        });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if s == 0 {
            return Err(ProofError::WrongLength {
                expected,
                got: proof.len(),
            });
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 || r != *root {
        return Err(ProofError::Mismatch("signed root"));
    }
    Ok(())
}

/// Checks that the tree of `old` leaves with root `old_root` is a prefix of the tree of
/// `new` leaves with root `new_root` (RFC 9162 section 2.1.4.2).
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    let expected = ProofPlan::consistency(old, new)?.ranges.len();
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            got: proof.len(),
        });
    }
    if old == new && old > 0 {
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::Mismatch("same root at the same size"))
        };
    }
    if old == 0 {
        return Err(ProofError::FromEmpty);
    }
    // When `old` is a perfect subtree its root is the proof's implicit first hash.
    let mut path = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return Err(ProofError::Mismatch("newer root"));
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if fr != *old_root {
        return Err(ProofError::Mismatch("older root"));
    }
    if sr != *new_root || s != 0 {
        return Err(ProofError::Mismatch("newer root"));
    }
    Ok(())
}

/// A whole tree's perfect subtrees held in memory: a source for tests, benchmarks and
/// for proofs over a bundle's slice of the log.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    frontier: Frontier,
    nodes: HashMap<NodeId, Hash>,
}

impl MemoryTree {
    /// The empty tree.
    pub fn new() -> MemoryTree {
        MemoryTree::default()
    }

    /// Appends a leaf (an event hash's bytes).
    pub fn push(&mut self, leaf: &[u8]) {
        let nodes = &mut self.nodes;
        self.frontier.push_completing(leaf, |id, h| {
            nodes.insert(id, *h);
        });
    }

    /// Leaves so far.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The root now.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// The hash of leaf `index` (`SHA-256(0x00 ‖ leaf)`).
    pub fn leaf_hash(&self, index: u64) -> Option<Hash> {
        self.nodes.get(&NodeId::new(0, index)).copied()
    }
}

impl NodeSource for MemoryTree {
    type Error = ProofError;
    fn nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, ProofError> {
        ids.iter()
            .map(|id| {
                self.nodes.get(id).copied().ok_or(ProofError::BeyondLog {
                    size: id.end_leaf(),
                    available: self.size(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
