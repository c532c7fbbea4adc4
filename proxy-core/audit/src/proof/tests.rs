use super::*;
use crate::merkle::{empty_root, leaf_hash};
use base64::{Engine, engine::general_purpose::STANDARD as B64};
use proptest::prelude::*;
use serde_json::Value;

/// The eight leaves of RFC 6962's test tree.
fn rfc_leaves() -> Vec<Vec<u8>> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|h| hex::decode(h).unwrap())
    .collect()
}

fn tree(leaves: &[Vec<u8>]) -> MemoryTree {
    let mut t = MemoryTree::new();
    for l in leaves {
        t.push(l);
    }
    t
}

/// A probe field: base64 bytes, or none for null.
fn bytes(v: &Value) -> Vec<u8> {
    v.as_str()
        .map(|s| B64.decode(s).unwrap())
        .unwrap_or_default()
}

/// A hash field. Bytes that are not 32 long (probes of garbage roots) stand for a
/// distinct hash of their own, equal only to the same bytes; no bytes at all is no hash.
fn hash(v: &Value) -> Option<Hash> {
    let b = bytes(v);
    if b.is_empty() {
        return None;
    }
    Some(b.clone().try_into().unwrap_or_else(|_| leaf_hash(&b)))
}

fn path(v: &Value) -> Option<Vec<Hash>> {
    v.as_array()
        .map(|a| a.iter().map(hash).collect::<Option<Vec<_>>>())
        .unwrap_or(Some(vec![]))
}

fn probes(name: &str) -> Vec<Value> {
    let file = format!("{}/testdata/rfc6962/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn the_roots_of_the_rfc_6962_test_tree() {
    // transparency-dev/merkle testonly.RootHashes, sizes 0 to 8.
    let want = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let leaves = rfc_leaves();
    let full = tree(&leaves);
    for (n, want) in want.iter().enumerate() {
        assert_eq!(hex::encode(tree(&leaves[..n]).root()), *want, "size {n}");
        let root = prove(&full, &ProofPlan::root(n as u64)).unwrap();
        let root = root.first().copied().unwrap_or_else(empty_root);
        assert_eq!(hex::encode(root), *want, "size {n} from stored nodes");
    }
}

#[test]
fn inclusion_probes_verify_exactly_when_they_should() {
    let all = probes("inclusion.jsonl");
    assert_eq!(all.len(), 98);
    for p in all {
        let (Some(leaf), Some(root), Some(proof)) =
            (hash(&p["leafHash"]), hash(&p["root"]), path(&p["proof"]))
        else {
            assert!(p["wantErr"].as_bool().unwrap(), "{}", p["file"]);
            continue;
        };
        let (index, size) = (
            p["leafIdx"].as_u64().unwrap(),
            p["treeSize"].as_u64().unwrap(),
        );
        let got = verify_inclusion(index, size, &leaf, &proof, &root);
        assert_eq!(
            got.is_err(),
            p["wantErr"].as_bool().unwrap(),
            "{}: {got:?}",
            p["file"]
        );
    }
}

#[test]
fn consistency_probes_verify_exactly_when_they_should() {
    let all = probes("consistency.jsonl");
    assert_eq!(all.len(), 98);
    for p in all {
        let (Some(r1), Some(r2), Some(proof)) =
            (hash(&p["root1"]), hash(&p["root2"]), path(&p["proof"]))
        else {
            assert!(p["wantErr"].as_bool().unwrap(), "{}", p["file"]);
            continue;
        };
        let (old, new) = (p["size1"].as_u64().unwrap(), p["size2"].as_u64().unwrap());
        let got = verify_consistency(old, new, &r1, &r2, &proof);
        assert_eq!(
            got.is_err(),
            p["wantErr"].as_bool().unwrap(),
            "{}: {got:?}",
            p["file"]
        );
    }
}

#[test]
fn generated_proofs_are_the_reference_happy_paths() {
    let leaves = rfc_leaves();
    let full = tree(&leaves);
    let happy = |p: &&Value| p["desc"] == "happy path";
    for p in probes("inclusion.jsonl").iter().filter(happy) {
        let (index, size) = (
            p["leafIdx"].as_u64().unwrap(),
            p["treeSize"].as_u64().unwrap(),
        );
        let proof = prove(&full, &ProofPlan::inclusion(index, size).unwrap()).unwrap();
        assert_eq!(Some(proof), path(&p["proof"]), "{}", p["file"]);
        assert_eq!(
            Some(leaf_hash(&leaves[index as usize])),
            hash(&p["leafHash"])
        );
    }
    for p in probes("consistency.jsonl").iter().filter(happy) {
        let (old, new) = (p["size1"].as_u64().unwrap(), p["size2"].as_u64().unwrap());
        let proof = prove(&full, &ProofPlan::consistency(old, new).unwrap()).unwrap();
        assert_eq!(Some(proof), path(&p["proof"]), "{}", p["file"]);
    }
}

#[test]
fn impossible_requests_say_what_is_wrong() {
    let e = ProofPlan::inclusion(10, 10).unwrap_err();
    assert_eq!(
        e.to_string(),
        "event #11 is not in a tree of 10 events: ask for a tree at least that large"
    );
    assert!(matches!(
        ProofPlan::consistency(5, 4),
        Err(ProofError::Shrinks { .. })
    ));
    let small = tree(&rfc_leaves()[..3]);
    let e = prove(&small, &ProofPlan::inclusion(1, 8).unwrap()).unwrap_err();
    assert!(e.to_string().contains("the log has 3 events"), "{e}");
    assert!(ProofPlan::root(0).nodes().is_empty());
    assert!(matches!(
        ProofPlan::root(3).assemble(&[]),
        Err(ProofError::Source {
            expected: 2,
            got: 0
        })
    ));
}

fn leaf(i: u64) -> Vec<u8> {
    (i * 2654435761).to_be_bytes().to_vec()
}

fn random_tree(n: u64) -> MemoryTree {
    let mut t = MemoryTree::new();
    for i in 0..n {
        t.push(&leaf(i));
    }
    t
}

fn root_at(t: &MemoryTree, size: u64) -> Hash {
    prove(t, &ProofPlan::root(size))
        .unwrap()
        .first()
        .copied()
        .unwrap_or_else(empty_root)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn inclusion_proofs_verify_and_any_change_is_refused(
        n in 1u64..3000, i in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>(),
    ) {
        let t = random_tree(n);
        let index = i.index(n as usize) as u64;
        let size = index + 1 + (n - index - 1) / 2;
        let plan = ProofPlan::inclusion(index, size).unwrap();
        // O(log n) reads: at most two per level.
        prop_assert!(plan.nodes().len() <= 2 * 64 - size.leading_zeros() as usize);
        let proof = prove(&t, &plan).unwrap();
        let root = root_at(&t, size);
        let lh = t.leaf_hash(index).unwrap();
        prop_assert!(verify_inclusion(index, size, &lh, &proof, &root).is_ok());
        prop_assert!(verify_inclusion(index, size, &leaf_hash(b"other"), &proof, &root).is_err());
        if !proof.is_empty() {
            let mut bad = proof.clone();
            bad[flip.index(proof.len())][7] ^= 1;
            prop_assert!(verify_inclusion(index, size, &lh, &bad, &root).is_err());
            prop_assert!(verify_inclusion(index, size, &lh, &proof[1..], &root).is_err());
        }
        if size > 1 {
            let other = (index + 1) % size;
            prop_assert!(verify_inclusion(other, size, &lh, &proof, &root).is_err());
        }
    }

    #[test]
    fn consistency_proofs_verify_and_any_change_is_refused(
        n in 1u64..3000, a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
    ) {
        let t = random_tree(n);
        let new = b.index(n as usize) as u64 + 1;
        let old = a.index(new as usize) as u64 + 1;
        let plan = ProofPlan::consistency(old, new).unwrap();
        prop_assert!(plan.needs_leaves() <= new);
        let proof = prove(&t, &plan).unwrap();
        let (r1, r2) = (root_at(&t, old), root_at(&t, new));
        prop_assert!(verify_consistency(old, new, &r1, &r2, &proof).is_ok());
        if !proof.is_empty() {
            let mut bad = proof.clone();
            bad[flip.index(proof.len())][0] ^= 0x80;
            prop_assert!(verify_consistency(old, new, &r1, &r2, &bad).is_err());
        }
        if old < new {
            // A forked older tree (its last leaf changed) is not a prefix.
            let mut forked = random_tree(old - 1);
            forked.push(b"rewritten");
            prop_assert!(verify_consistency(old, new, &forked.root(), &r2, &proof).is_err());
            prop_assert!(verify_consistency(old, new, &r2, &r1, &proof).is_err());
        }
    }
}
