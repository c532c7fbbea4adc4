//! The RFC 6962 Merkle tree built one leaf at a time in O(log n) memory.
//!
//! An RFC 6962 tree over `n` leaves is a row of perfect subtrees, one per set bit of `n`
//! (largest first), folded from the right. Keeping only those subtree hashes — the
//! *frontier* — is enough both to append the next leaf and to compute the root, so a
//! verifier can hash a log of any length while reading it, and a pruned log can keep
//! extending the same tree from the frontier it stored when it dropped its old events.

use sha2::{Digest, Sha256};

/// The hash of one leaf (an event hash's 32 bytes): `SHA-256(0x00 ‖ leaf)`.
fn leaf_hash(leaf: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

/// The hash of an inner node: `SHA-256(0x01 ‖ left ‖ right)`.
fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
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
        let mut cur = leaf_hash(leaf);
        // Every trailing 1-bit of the old size is a subtree of the new leaf's height that
        // now has a right sibling: merge them.
        let mut carry = self.size;
        while carry & 1 == 1 {
            let left = self.nodes.pop().unwrap_or_default();
            cur = node_hash(&left, &cur);
            carry >>= 1;
        }
        self.nodes.push(cur);
        self.size += 1;
    }

    /// The RFC 6962 Merkle tree hash of the leaves so far (`SHA-256("")` when empty).
    pub fn root(&self) -> [u8; 32] {
        let mut it = self.nodes.iter().rev();
        let Some(last) = it.next() else {
            return Sha256::digest([]).into();
        };
        it.fold(*last, |right, left| node_hash(left, &right))
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

/// RFC 6962 Merkle tree hash over leaves (each leaf is an event hash's bytes).
pub fn merkle_root(leaves: &[Vec<u8>]) -> [u8; 32] {
    let mut f = Frontier::new();
    for l in leaves {
        f.push(l);
    }
    f.root()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6962 section 2.1, written as the recursive definition.
    fn reference_root(leaves: &[Vec<u8>]) -> [u8; 32] {
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
