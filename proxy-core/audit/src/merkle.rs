//! The RFC 6962 Merkle tree built one leaf at a time in O(log n) memory.
//!
//! An RFC 6962 tree over `n` leaves is a row of perfect subtrees, one per set bit of `n`
//! (largest first), folded from the right. Keeping only those subtree hashes — the
//! *frontier* — is enough both to append the next leaf and to compute the root, so a
//! verifier can hash a log of any length while reading it, and a pruned log can keep
//! extending the same tree from the frontier it stored when it dropped its old events.

use sha2::{Digest, Sha256};

/// A SHA-256 node or leaf hash.
pub type Hash = [u8; 32];

/// One perfect subtree of the tree: `2^level` leaves starting at leaf `index << level`.
/// Level 0 is a leaf hash. Perfect subtrees never change once complete, which is what
/// lets a store keep them and serve any proof from O(log n) of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height above the leaves.
    pub level: u8,
    /// Position among the nodes of that level, from the left.
    pub index: u64,
}

impl NodeId {
    /// The node at `level`, `index`.
    pub fn new(level: u8, index: u64) -> NodeId {
        NodeId { level, index }
    }

    /// The first leaf it covers.
    pub fn first_leaf(&self) -> u64 {
        self.index << self.level
    }

    /// One past the last leaf it covers.
    pub fn end_leaf(&self) -> u64 {
        (self.index + 1) << self.level
    }

    /// One integer per node (level in the top 8 bits, index below), for a store's key.
    /// Indexes stay below 2^56, far beyond any log.
    pub fn key(&self) -> i64 {
        ((self.level as i64) << 56) | self.index as i64
    }

    /// The node a [`NodeId::key`] names.
    pub fn from_key(key: i64) -> NodeId {
        NodeId {
            level: (key >> 56) as u8,
            index: (key as u64) & ((1u64 << 56) - 1),
        }
    }
}

/// The hash of one leaf: `SHA-256(0x00 ‖ leaf)`. A Gatehouse log's leaf is the event's
/// 32-byte chain hash, which covers the event's canonical fields and its predecessor.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

/// The hash of an inner node: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The perfect-subtree hashes of a tree of `size` leaves, largest subtree first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    nodes: Vec<[u8; 32]>,
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf (an event hash's bytes).
    pub fn push(&mut self, leaf: &[u8]) {
        self.push_completing(leaf, |_, _| {});
    }

    /// Appends a leaf and hands `completed` every perfect subtree the leaf completes,
    /// the leaf itself first, then each parent up to the largest: what a store keeps so
    /// proofs never re-read the log.
    pub fn push_completing(&mut self, leaf: &[u8], mut completed: impl FnMut(NodeId, &Hash)) {
        let mut cur = leaf_hash(leaf);
        let mut id = NodeId::new(0, self.size);
        completed(id, &cur);
        // Every trailing 1-bit of the old size is a subtree of the new leaf's height that
        // now has a right sibling: merge them.
        let mut carry = self.size;
        while carry & 1 == 1 {
            let left = self.nodes.pop().unwrap_or_default();
            cur = node_hash(&left, &cur);
            id = NodeId::new(id.level + 1, id.index >> 1);
            completed(id, &cur);
            carry >>= 1;
        }
        self.nodes.push(cur);
        self.size += 1;
    }

    /// The perfect subtrees it holds, largest (leftmost) first.
    pub fn node_ids(&self) -> Vec<NodeId> {
        perfect_nodes(0, self.size)
    }

    /// The RFC 6962 Merkle tree hash of the leaves so far (`SHA-256("")` when empty).
    pub fn root(&self) -> [u8; 32] {
        fold_right(&self.nodes)
    }

    /// The subtree hashes as hex, largest first (how an anchor stores them).
    pub fn to_hex(&self) -> Vec<String> {
        self.nodes.iter().map(hex::encode).collect()
    }

    /// Rebuilds a frontier from its size and hex subtree hashes; says what is wrong when
    /// they cannot be one (the count must be the number of set bits of `size`).
    pub fn from_hex(size: i64, nodes: &[String]) -> Result<Frontier, String> {
        let size = u64::try_from(size).map_err(|_| format!("tree size {size} is negative"))?;
        if nodes.len() != size.count_ones() as usize {
            return Err(format!(
                "a tree of {size} events has {} subtree hashes, not {}",
                size.count_ones(),
                nodes.len()
            ));
        }
        let nodes = nodes
            .iter()
            .map(|n| {
                let mut b = [0u8; 32];
                hex::decode_to_slice(n, &mut b)
                    .map(|_| b)
                    .map_err(|_| format!("`{n}` is not a 32-byte hex hash"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Frontier { size, nodes })
    }
}

/// The perfect subtrees (largest first) whose hashes are the frontier of the tree of
/// `size` leaves: what to read to rebuild that frontier from stored nodes.
pub fn frontier_node_ids(size: u64) -> Vec<NodeId> {
    perfect_nodes(0, size)
}

/// The root of the tree with no leaves: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The hash of a row of perfect subtrees, largest first, folded from the right (the
/// empty root when there are none). RFC 6962's tree hash of a range that starts at a
/// multiple of its largest subtree.
pub(crate) fn fold_right(nodes: &[Hash]) -> Hash {
    let mut it = nodes.iter().rev();
    let Some(last) = it.next() else {
        return empty_root();
    };
    it.fold(*last, |right, left| node_hash(left, &right))
}

/// The perfect subtrees that make up leaves `start..end`, left to right: at each step
/// the largest subtree aligned at the current leaf that still fits.
pub(crate) fn perfect_nodes(start: u64, end: u64) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut at = start;
    while at < end {
        let fits = 63 - (end - at).leading_zeros();
        let aligned = if at == 0 { 63 } else { at.trailing_zeros() };
        let level = fits.min(aligned);
        out.push(NodeId::new(level as u8, at >> level));
        at += 1 << level;
    }
    out
}

/// RFC 6962 Merkle tree hash over leaves (each leaf is an event hash's bytes).
pub fn merkle_root(leaves: &[Vec<u8>]) -> [u8; 32] {
    let mut f = Frontier::new();
    for l in leaves {
        f.push(l);
    }
    f.root()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// RFC 6962 section 2.1, written as the recursive definition.
    pub(crate) fn reference_root(leaves: &[Vec<u8>]) -> [u8; 32] {
        match leaves.len() {
            0 => Sha256::digest([]).into(),
            1 => leaf_hash(&leaves[0]),
            n => {
                let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    fn leaves(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| vec![(i % 251) as u8; 32]).collect()
    }

    #[test]
    fn the_frontier_root_is_the_rfc_6962_root_at_every_size() {
        let all = leaves(300);
        let mut f = Frontier::new();
        assert_eq!(f.root(), reference_root(&[]));
        for n in 1..=all.len() {
            f.push(&all[n - 1]);
            assert_eq!(f.root(), reference_root(&all[..n]), "size {n}");
            assert_eq!(f.to_hex().len(), n.count_ones() as usize);
        }
    }

    #[test]
    fn pushing_reports_every_completed_subtree_once() {
        let all = leaves(37);
        let mut f = Frontier::new();
        let mut seen = std::collections::BTreeMap::new();
        for l in &all {
            f.push_completing(l, |id, h| assert!(seen.insert(id, *h).is_none()));
        }
        // 2n - popcount(n) perfect subtrees in a tree of n leaves.
        assert_eq!(seen.len(), 2 * 37 - 37usize.count_ones() as usize);
        for (id, h) in &seen {
            let range = &all[id.first_leaf() as usize..id.end_leaf() as usize];
            assert_eq!(*h, reference_root(range), "{id:?}");
            assert_eq!(NodeId::from_key(id.key()), *id);
        }
        let frontier: Vec<_> = f.node_ids().iter().map(|id| seen[id]).collect();
        assert_eq!(fold_right(&frontier), f.root());
    }

    #[test]
    fn a_stored_frontier_keeps_extending_the_same_tree() {
        let all = leaves(77);
        let mut f = Frontier::new();
        for l in &all[..40] {
            f.push(l);
        }
        let mut resumed = Frontier::from_hex(40, &f.to_hex()).unwrap();
        for l in &all[40..] {
            resumed.push(l);
        }
        assert_eq!(resumed.root(), reference_root(&all));
        assert!(Frontier::from_hex(40, &f.to_hex()[..1]).is_err());
        assert!(Frontier::from_hex(1, &["zz".to_string()]).is_err());
        assert!(Frontier::from_hex(-1, &[]).is_err());
    }
}
