use super::*;
use crate::checkpoint::TreeHead;
use crate::log::StoredEvent;
use crate::log::tests::events;
use crate::note::NoteSigner;
use crate::proof::{MemoryTree, NodeSource, ProofPlan, prove};
use ed25519_dalek::SigningKey;

const ORIGIN: &str = "log.example/audit";

struct Log {
    events: Vec<StoredEvent>,
    tree: MemoryTree,
    signer: NoteSigner,
}

impl Log {
    fn new(n: i64) -> Log {
        let events = events(n);
        let mut tree = MemoryTree::new();
        for e in &events {
            tree.push(&crate::hash_bytes(e.hash.as_deref().unwrap()).unwrap());
        }
        let signer = NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[4; 32])).unwrap();
        Log {
            events,
            tree,
            signer,
        }
    }

    fn root(&self, size: u64) -> Hash {
        prove(&self.tree, &ProofPlan::root(size)).unwrap()[0]
    }

    fn note(&self, size: u64) -> String {
        Checkpoint::new(ORIGIN, size, self.root(size))
            .sign(&self.signer)
            .to_string()
    }

    fn consistency(&self, a: u64, b: u64) -> Vec<String> {
        let p = prove(&self.tree, &ProofPlan::consistency(a, b).unwrap()).unwrap();
        p.iter().map(hex::encode).collect()
    }

    /// The proof for events first..=last bracketed by checkpoints at `start` and `end`.
    fn period(&self, first: u64, last: u64, start: u64, end: u64) -> PeriodProof {
        let ids = crate::frontier_node_ids(first - 1);
        let before = self
            .tree
            .nodes(&ids)
            .unwrap()
            .iter()
            .map(hex::encode)
            .collect();
        PeriodProof {
            origin: ORIGIN.into(),
            first,
            last,
            before,
            start: (start > 0).then(|| Bracket {
                checkpoint: self.note(start),
                proof: self.consistency(start, first - 1),
                signed: None,
            }),
            end: Bracket {
                checkpoint: self.note(end),
                proof: self.consistency(last, end),
                signed: None,
            },
        }
    }

    fn check(
        &self,
        p: PeriodProof,
        slice: &[StoredEvent],
        witnessed: Vec<WitnessedHead>,
    ) -> Result<PeriodReport, String> {
        let key = hex::encode(self.signer.verifier().public.as_bytes());
        let mut v = PeriodVerifier::new(p, &crate::KeyRing::single(&key), &[], witnessed)?;
        for e in slice {
            if !v.push(&e.as_ref()) {
                break;
            }
        }
        v.finish()
    }
}

fn head(log: &Log, size: u64) -> WitnessedHead {
    WitnessedHead {
        size,
        root: log.root(size),
        label: format!("witnessed head at {size}"),
    }
}

#[test]
fn a_period_verifies_from_its_brackets_alone() {
    let log = Log::new(100);
    let slice = &log.events[40..70];
    let r = log
        .check(log.period(41, 70, 30, 80), slice, vec![])
        .unwrap();
    assert_eq!((r.events, r.start_size, r.end_size), (30, 30, 80));
    // The first period of the log, and brackets at the period's exact edges.
    log.check(log.period(1, 20, 0, 20), &log.events[..20], vec![])
        .unwrap();
    log.check(log.period(31, 80, 30, 80), &log.events[30..80], vec![])
        .unwrap();
    // Witnessed heads at the brackets and inside the period agree.
    let w = vec![
        head(&log, 10),
        head(&log, 30),
        head(&log, 55),
        head(&log, 80),
    ];
    let r = log.check(log.period(41, 70, 30, 80), slice, w).unwrap();
    // Both brackets, and the head at 55 inside the period.
    assert_eq!(r.witnessed_checked, 3);
}

#[test]
fn changed_missing_or_foreign_events_are_refused() {
    let log = Log::new(100);
    let p = || log.period(41, 70, 30, 80);
    let mut changed = log.events[40..70].to_vec();
    changed[5].payload = "{}".into();
    let e = log.check(p(), &changed, vec![]).unwrap_err();
    assert!(e.contains("#46 was changed"), "{e}");
    let e = log.check(p(), &log.events[40..69], vec![]).unwrap_err();
    assert!(e.contains("events were removed"), "{e}");
    let e = log.check(p(), &log.events[41..70], vec![]).unwrap_err();
    assert!(e.contains("start at #42"), "{e}");
    // Another log's events re-hashed into a consistent chain: the end proof fails.
    let other = Log::new(100);
    let mut forged = other.events[40..70].to_vec();
    forged[0].session_id = "x".into();
    let mut prev = forged[0].prev_hash.clone().unwrap();
    for e in &mut forged {
        e.prev_hash = Some(prev.clone());
        let h = crate::chain_hash(&prev, &e.as_ref().record);
        e.hash = Some(h.clone());
        prev = h;
    }
    let e = log.check(p(), &forged, vec![]).unwrap_err();
    assert!(
        e.contains("not the ones the end checkpoint (tree size 80) signed"),
        "{e}"
    );
}

#[test]
fn malformed_or_mismatched_proofs_say_what_is_wrong() {
    let log = Log::new(100);
    let slice = &log.events[40..70];
    let mut p = log.period(41, 70, 30, 80);
    p.before.pop();
    assert!(
        log.check(p, slice, vec![])
            .unwrap_err()
            .contains("frontier before the period")
    );
    let mut p = log.period(41, 70, 30, 80);
    p.start = Some(Bracket {
        checkpoint: log.note(20),
        proof: log.consistency(30, 40),
        signed: None,
    });
    assert!(
        log.check(p, slice, vec![])
            .unwrap_err()
            .contains("start checkpoint (tree size 20)")
    );
    let mut p = log.period(41, 70, 30, 80);
    p.end.checkpoint = p.end.checkpoint.replace("80\n", "81\n");
    assert!(
        log.check(p, slice, vec![])
            .unwrap_err()
            .contains("the end checkpoint")
    );
    // No checkpoint before the period: the end checkpoint alone binds it.
    let mut p = log.period(41, 70, 30, 80);
    p.start = None;
    assert_eq!(log.check(p, slice, vec![]).unwrap().start_size, 0);
    // A bracket from another log (its own origin and key).
    let other = NoteSigner::new("other.example/audit", SigningKey::from_bytes(&[5; 32])).unwrap();
    let mut p = log.period(41, 70, 30, 80);
    p.end.checkpoint = Checkpoint::new("other.example/audit", 80, log.root(80))
        .sign(&other)
        .to_string();
    let e = log.check(p, slice, vec![]).unwrap_err();
    assert!(e.contains("belongs to another log"), "{e}");
    let mut p = log.period(41, 70, 30, 80);
    p.end.checkpoint = Checkpoint::new(ORIGIN, 80, log.root(80))
        .sign(&NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[5; 32])).unwrap())
        .to_string();
    let e = log.check(p, slice, vec![]).unwrap_err();
    assert!(e.contains("not signed by a trusted key"), "{e}");
    // A truncated proof.
    let mut p = log.period(41, 70, 30, 80);
    p.end.proof.pop();
    let e = log.check(p, slice, vec![]).unwrap_err();
    assert!(e.contains("not the ones the end checkpoint"), "{e}");
    let mut p = log.period(41, 70, 30, 80);
    p.end.proof[0] = "zz".into();
    assert!(
        log.check(p, slice, vec![])
            .unwrap_err()
            .contains("`zz` is not")
    );
    let mut p = log.period(41, 70, 30, 80);
    p.end = Bracket {
        checkpoint: log.note(60),
        proof: vec![],
        signed: None,
    };
    let e = log.check(p, slice, vec![]).unwrap_err();
    assert!(e.contains("before the period's end"), "{e}");
}

#[test]
fn a_rewritten_log_re_signed_with_the_real_key_contradicts_the_witness() {
    let honest = Log::new(100);
    let witnessed = vec![head(&honest, 30), head(&honest, 80)];
    // The insider rewrites event #50 and everything after, re-signs at the same sizes.
    let mut events = honest.events.clone();
    events[49].payload = "{\"n\":\"quiet\"}".into();
    let mut prev = events[48].hash.clone().unwrap();
    for e in &mut events[49..] {
        e.prev_hash = Some(prev.clone());
        let h = crate::chain_hash(&prev, &e.as_ref().record);
        e.hash = Some(h.clone());
        prev = h;
    }
    let mut tree = MemoryTree::new();
    for e in &events {
        tree.push(&crate::hash_bytes(e.hash.as_deref().unwrap()).unwrap());
    }
    let forged = Log {
        events,
        tree,
        signer: honest.signer.clone(),
    };
    let p = || forged.period(41, 70, 30, 80);
    // Without the witness it verifies: the key and the database were enough.
    forged.check(p(), &forged.events[40..70], vec![]).unwrap();
    let e = forged
        .check(p(), &forged.events[40..70], witnessed.clone())
        .unwrap_err();
    assert!(e.starts_with("witnessed head at 80 is contradicted"), "{e}");
    // Re-signed at a size no witness saw.
    let e = forged
        .check(
            forged.period(41, 70, 30, 81),
            &forged.events[40..70],
            witnessed,
        )
        .unwrap_err();
    assert!(e.contains("never witnessed"), "{e}");
}

/// The tree head of `size` in Gatehouse's signed form, signed by `key` at `at`.
fn signed(log: &Log, size: u64, key: &SigningKey, at: &str) -> crate::StoredCheckpoint {
    let head = TreeHead {
        tree_size: size as i64,
        root: hex::encode(log.root(size)),
        chain_head: log.events[size as usize - 1].hash.clone().unwrap(),
        at: at.into(),
    };
    crate::StoredCheckpoint {
        id: size as i64,
        tree_size: head.tree_size,
        root_hash: head.root.clone(),
        chain_head: head.chain_head.clone(),
        at: head.at.clone(),
        public_key: crate::public_key_hex(key),
        signature: head.sign(key),
    }
}

#[test]
fn a_period_across_a_key_rotation_verifies_and_a_retired_key_is_refused() {
    let log = Log::new(100);
    let (old, new) = (
        SigningKey::from_bytes(&[4; 32]),
        SigningKey::from_bytes(&[6; 32]),
    );
    let rotated = "2026-06-01T00:00:00Z";
    let ring = crate::KeyRing {
        keys: vec![
            crate::PublishedKey::new(ORIGIN, &old.verifying_key(), None, Some(rotated.into()))
                .unwrap(),
            crate::PublishedKey::new(ORIGIN, &new.verifying_key(), Some(rotated.into()), None)
                .unwrap(),
        ],
    };
    let new_signer = NoteSigner::new(ORIGIN, new.clone()).unwrap();
    let by = |key: &SigningKey, signer: &NoteSigner, size: u64, at: &str| Bracket {
        checkpoint: Checkpoint::new(ORIGIN, size, log.root(size))
            .sign(signer)
            .to_string(),
        proof: vec![],
        signed: Some(signed(&log, size, key, at)),
    };
    let run = |p: PeriodProof| {
        let mut v = PeriodVerifier::new(p, &ring, &[], vec![])?;
        for e in &log.events[40..70] {
            v.push(&e.as_ref());
        }
        v.finish()
    };
    let mut p = log.period(41, 70, 30, 80);
    p.start = Some(Bracket {
        proof: log.consistency(30, 40),
        ..by(&old, &log.signer, 30, "2026-05-01T00:00:00Z")
    });
    p.end = Bracket {
        proof: log.consistency(70, 80),
        ..by(&new, &new_signer, 80, "2026-06-02T00:00:00Z")
    };
    let r = run(p.clone()).unwrap();
    assert!(
        r.signed_by[0].contains(&crate::public_key_hex(&old)),
        "{r:?}"
    );
    assert!(
        r.signed_by[1].contains(&crate::public_key_hex(&new)),
        "{r:?}"
    );
    // The retired key signing the end after its retirement.
    let mut late = p.clone();
    late.end = Bracket {
        proof: log.consistency(70, 80),
        ..by(&old, &log.signer, 80, "2026-06-03T00:00:00Z")
    };
    let e = run(late).unwrap_err();
    assert!(e.contains("after that key was retired"), "{e}");
    // Back-dated by the retired key, after its successor signed the start.
    let mut backdated = p.clone();
    backdated.start = Some(Bracket {
        proof: log.consistency(30, 40),
        ..by(&new, &new_signer, 30, "2026-06-02T00:00:00Z")
    });
    backdated.end = Bracket {
        proof: log.consistency(70, 80),
        ..by(&old, &log.signer, 80, "2026-05-02T00:00:00Z")
    };
    let e = run(backdated).unwrap_err();
    assert!(e.contains("a retired key cannot extend the log"), "{e}");
    // Without its signed time, a windowed key cannot be checked.
    let mut undated = p;
    undated.end.signed = None;
    assert!(run(undated).unwrap_err().contains("carries no signed time"));
}
