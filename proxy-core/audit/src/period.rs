//! Period bundles: one period's events, proven part of the whole log without the
//! history before them, so a bundle's size follows the period, not the log's age.
//!
//! A period holds events `first..=last`. Its proof carries:
//! - the Merkle frontier at `first - 1` (the O(log n) perfect subtrees of everything
//!   before the period), from which the verifier extends the tree with the period's
//!   events;
//! - the signed checkpoint that brackets the period's start (the newest one at or before
//!   `first - 1`) with a consistency proof from it to the frontier's tree, and the one
//!   that brackets its end (the oldest at or after `last`) with a consistency proof from
//!   the tree after `last` to it.
//!
//! So the chain `start checkpoint ⊑ tree(first-1) ⊑ tree(last) ⊑ end checkpoint` holds
//! exactly when the period's events are the log's events `first..=last` as both signed
//! checkpoints committed to them. The end checkpoint alone already binds the frontier
//! and the events (a consistency proof to a signed root cannot be forged without a hash
//! collision), so a period that no checkpoint precedes still verifies; the start
//! checkpoint adds that the history before the period was signed (and witnessed) before
//! it. The checkpoint notes carry the witnesses' cosignatures, and a witness's own file
//! can be checked against them.
//!
//! The brackets may be signed by different keys of the log's [`KeyRing`] (a rotation
//! inside the period): each is opened with the key that signed it, its Gatehouse form
//! (which carries the signing time) dates that signature against the key's validity,
//! and a retired key may not sign the end when its successor signed the start.

use crate::chain::{ChainBreak, Verifier};
use crate::checkpoint::TreeHead;
use crate::keyring::KeyRing;
use crate::log::{EventRef, StoredCheckpoint, WitnessedHead};
use crate::merkle::{Frontier, Hash};
use crate::note::{KeyKind, Note, VerifierKey};
use crate::proof::verify_consistency;
use crate::tlog::{Checkpoint, cosignatures};
use serde::{Deserialize, Serialize};

/// A signed checkpoint that brackets the period, with the proof tying it in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bracket {
    /// The checkpoint note (log signature and any witness cosignatures).
    pub checkpoint: String,
    /// Consistency proof (hex): start bracket → tree before the period, or tree after
    /// the period → end bracket.
    pub proof: Vec<String>,
    /// The same tree head in Gatehouse's signed form, whose signed time dates the
    /// signature against the key's validity (needed when the key ring has windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<StoredCheckpoint>,
}

/// What ties a period's events to the log's signed checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodProof {
    /// The log's origin.
    pub origin: String,
    /// The period's first event.
    pub first: u64,
    /// The period's last event.
    pub last: u64,
    /// The frontier (hex subtree hashes, largest first) of the tree of `first - 1`.
    pub before: Vec<String>,
    /// The newest checkpoint at or before `first - 1` (none when the period starts the
    /// log, or no checkpoint was signed before it).
    pub start: Option<Bracket>,
    /// The oldest checkpoint at or after `last`.
    pub end: Bracket,
}

/// What a period check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodReport {
    /// Events checked.
    pub events: u64,
    /// Tree size of the start bracket (0: the period starts the log).
    pub start_size: u64,
    /// Tree size of the end bracket.
    pub end_size: u64,
    /// Witnesses whose cosignature on the start / end bracket verified, with the time.
    pub cosigned: Vec<String>,
    /// Witnessed heads the period was checked against.
    pub witnessed_checked: usize,
    /// Which key signed each bracket (start first).
    pub signed_by: Vec<String>,
}

fn hex_hashes(what: &str, hex: &[String]) -> Result<Vec<Hash>, String> {
    hex.iter()
        .map(|h| {
            crate::hash_bytes(h).ok_or_else(|| format!("{what}: `{h}` is not a 64-digit hex hash"))
        })
        .collect()
}

/// Checks a period's events (pushed in order) against its proof.
#[derive(Debug)]
pub struct PeriodVerifier {
    proof: PeriodProof,
    start_cp: Option<Checkpoint>,
    end_cp: Checkpoint,
    chain: Option<Verifier>,
    frontier: Frontier,
    witnessed: Vec<WitnessedHead>,
    next_witnessed: usize,
    /// Witnessed heads compared so far (brackets and heads inside the period).
    witnessed_checked: usize,
    cosigned: Vec<String>,
    signed_by: Vec<String>,
    broken: Option<String>,
}

impl PeriodVerifier {
    /// Checks the brackets' signatures and the start's consistency up front; events
    /// follow through [`PeriodVerifier::push`]. `witnessed` (from a witness's file) are
    /// tree heads the brackets and the period must agree with.
    pub fn new(
        proof: PeriodProof,
        keys: &KeyRing,
        witnesses: &[VerifierKey],
        witnessed: Vec<WitnessedHead>,
    ) -> Result<PeriodVerifier, String> {
        if proof.first == 0 || proof.first > proof.last + 1 {
            return Err(format!(
                "the period's event range #{}..#{} is not a range of events from #1 on",
                proof.first, proof.last
            ));
        }
        let mut cosigned = Vec::new();
        let mut by = |what: &str, note: &Note| -> Result<(), String> {
            for w in witnesses {
                for t in cosignatures(w, note).map_err(|e| format!("the {what} checkpoint: {e}"))? {
                    cosigned.push(format!(
                        "{} cosigned the {what} checkpoint at {}",
                        w.name,
                        crate::unix_time(t)
                    ));
                }
            }
            Ok(())
        };
        let mut signed_by = Vec::new();
        let end = open_bracket("end", &proof.end, &proof.origin, keys)?;
        by("end", &end.note)?;
        let start = match &proof.start {
            Some(b) => {
                let s = open_bracket("start", b, &proof.origin, keys)?;
                by("start", &s.note)?;
                if s.key > end.key {
                    return Err(format!(
                        "the end checkpoint (tree size {}) is signed by {}, which the start checkpoint's key ({}) had already replaced: a retired key cannot extend the log",
                        end.cp.size, end.key_name, s.key_name
                    ));
                }
                signed_by.push(format!(
                    "the start checkpoint (tree size {}) is signed by {}",
                    s.cp.size, s.key_name
                ));
                Some(s.cp)
            }
            None => None,
        };
        signed_by.push(format!(
            "the end checkpoint (tree size {}) is signed by {}",
            end.cp.size, end.key_name
        ));
        let end_cp = end.cp;
        let before = proof.first - 1;
        let frontier = Frontier::from_hex(before as i64, &proof.before)
            .map_err(|e| format!("the frontier before the period: {e}"))?;
        if let (Some(cp), Some(b)) = (&start, &proof.start) {
            if cp.size > before {
                return Err(format!(
                    "the start checkpoint covers {} events, past the period's start (event #{})",
                    cp.size, proof.first
                ));
            }
            let p = hex_hashes("the start proof", &b.proof)?;
            if cp.size > 0 {
                verify_consistency(cp.size, before, &cp.root, &frontier.root(), &p).map_err(|e| {
                    format!("the log before the period is not the one the start checkpoint (tree size {}) signed: {e}", cp.size)
                })?;
            }
        }
        let start_cp = start;
        if end_cp.size < proof.last {
            return Err(format!(
                "the end checkpoint covers {} events, before the period's end (event #{})",
                end_cp.size, proof.last
            ));
        }
        let mut witnessed = witnessed;
        witnessed.sort_by_key(|w| w.size);
        let mut v = PeriodVerifier {
            proof,
            start_cp,
            end_cp,
            chain: None,
            frontier,
            witnessed,
            next_witnessed: 0,
            witnessed_checked: 0,
            cosigned,
            signed_by,
            broken: None,
        };
        v.check_brackets_witnessed()?;
        Ok(v)
    }

    /// The brackets must be exactly what a witness kept at their sizes.
    fn check_brackets_witnessed(&mut self) -> Result<(), String> {
        if self.witnessed.is_empty() {
            return Ok(());
        }
        let brackets = self.start_cp.iter().chain([&self.end_cp]);
        for cp in brackets {
            match self.witnessed.iter().find(|w| w.size == cp.size) {
                Some(w) if w.root == cp.root => self.witnessed_checked += 1,
                Some(w) => {
                    return Err(format!(
                        "{} is contradicted by the bundle's checkpoint at tree size {}: the log was rewritten after it was witnessed",
                        w.label, cp.size
                    ));
                }
                None => {
                    return Err(format!(
                        "the bundle's checkpoint at tree size {} is not in the witness's file: it was never witnessed (re-signed after the fact?)",
                        cp.size
                    ));
                }
            }
        }
        // Heads before the period cannot be checked from the bundle; start after them.
        let before = self.proof.first - 1;
        self.next_witnessed = self
            .witnessed
            .iter()
            .take_while(|w| w.size <= before)
            .count();
        Ok(())
    }

    /// Checks the next event of the period; false once the period is known to be broken.
    pub fn push(&mut self, e: &EventRef<'_>) -> bool {
        if self.broken.is_some() {
            return false;
        }
        let chain = self.chain.get_or_insert_with(|| {
            Verifier::resume(self.proof.first as i64 - 1, e.prev_hash.unwrap_or_default())
        });
        if e.record.seq as u64 > self.proof.last {
            self.broken = Some(format!(
                "event #{} is past the period's end (#{})",
                e.record.seq, self.proof.last
            ));
            return false;
        }
        if let Err(err) = chain.check(
            &e.record,
            e.prev_hash.unwrap_or_default(),
            e.hash.unwrap_or_default(),
        ) {
            self.broken = Some(match err {
                ChainBreak::Gap { previous, found } if previous == self.proof.first as i64 - 1 => {
                    format!(
                        "the bundle's events start at #{found}, not at the period's first event #{}",
                        self.proof.first
                    )
                }
                err => err.to_string(),
            });
            return false;
        }
        self.frontier.push(chain.head_bytes());
        while let Some(w) = self.witnessed.get(self.next_witnessed)
            && w.size == e.record.seq as u64
        {
            if w.root != self.frontier.root() {
                self.broken = Some(format!(
                    "{} is contradicted: the bundle's events up to #{} do not hash to the root the witness kept",
                    w.label, w.size
                ));
                return false;
            }
            self.next_witnessed += 1;
            self.witnessed_checked += 1;
        }
        true
    }

    /// The Merkle frontier over the log up to the last event pushed.
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// The verdict once every event was pushed.
    pub fn finish(self) -> Result<PeriodReport, String> {
        if let Some(b) = self.broken {
            return Err(b);
        }
        let got = self.frontier.size();
        if got != self.proof.last {
            return Err(format!(
                "the bundle holds events up to #{got}, but the period ends at #{}: events were removed",
                self.proof.last
            ));
        }
        let p = hex_hashes("the end proof", &self.proof.end.proof)?;
        // An empty tree is a prefix of every tree: nothing to prove.
        if got > 0 {
            verify_consistency(got, self.end_cp.size, &self.frontier.root(), &self.end_cp.root, &p).map_err(|e| {
            format!(
                "the period's events are not the ones the end checkpoint (tree size {}) signed: {e}",
                self.end_cp.size
            )
        })?;
        }
        Ok(PeriodReport {
            events: got - (self.proof.first - 1),
            start_size: self.start_cp.map_or(0, |c| c.size),
            end_size: self.end_cp.size,
            cosigned: self.cosigned,
            witnessed_checked: self.witnessed_checked,
            signed_by: self.signed_by,
        })
    }
}

/// A bracket opened: its checkpoint, its note (with any cosignatures), and the key that
/// signed it (position in the ring, and how to name it).
struct Opened {
    cp: Checkpoint,
    note: Note,
    key: usize,
    key_name: String,
}

/// Opens a bracket with whichever trusted key signed it, and checks that key was valid
/// when it signed (by the bracket's Gatehouse form, which carries the signing time).
fn open_bracket(what: &str, b: &Bracket, origin: &str, keys: &KeyRing) -> Result<Opened, String> {
    let note = Note::parse(&b.checkpoint).map_err(|e| format!("the {what} checkpoint: {e}"))?;
    let cp =
        Checkpoint::parse_body(&note.text).map_err(|e| format!("the {what} checkpoint: {e}"))?;
    if cp.origin != origin {
        return Err(format!(
            "the {what} checkpoint is from log `{}`, not `{origin}`: it belongs to another log",
            cp.origin
        ));
    }
    let mut last_error = String::from("no log key is trusted");
    for (i, k) in keys.keys.iter().enumerate() {
        let vk = crate::hash_bytes(&k.public_key)
            .and_then(|b| ed25519_dalek::VerifyingKey::from_bytes(&b).ok())
            .ok_or_else(|| format!("`{}` is not an Ed25519 public key", k.public_key))
            .and_then(|p| {
                VerifierKey::new(origin, KeyKind::Ed25519, p).map_err(|e| e.to_string())
            })?;
        if let Err(e) = vk.verify(&note) {
            last_error = e.to_string();
            continue;
        }
        let key_name = format!("key {:08x} ({})", vk.key_id(), k.public_key);
        let windowed = k.valid_from.is_some() || k.retired_at.is_some();
        if windowed {
            let s = b.signed.as_ref().ok_or_else(|| {
                format!("the {what} checkpoint carries no signed time, so the validity of {key_name} cannot be checked")
            })?;
            let head = TreeHead {
                tree_size: s.tree_size,
                root: s.root_hash.clone(),
                chain_head: s.chain_head.clone(),
                at: s.at.clone(),
            };
            if s.public_key != k.public_key
                || s.tree_size as u64 != cp.size
                || crate::hash_bytes(&s.root_hash) != Some(cp.root)
                || !head.verify(&s.public_key, &s.signature)
            {
                return Err(format!(
                    "the {what} checkpoint's signed time does not belong to it (another tree head, key or signature): it was altered"
                ));
            }
            keys.allows(&k.public_key, &s.at).map_err(|e| {
                format!(
                    "the {what} checkpoint (tree size {}) is refused: {e}",
                    cp.size
                )
            })?;
        }
        return Ok(Opened {
            cp,
            note,
            key: i,
            key_name,
        });
    }
    Err(format!(
        "the {what} checkpoint (tree size {}) is not signed by a trusted key of log `{origin}` ({last_error}): it was forged, or comes from another log",
        cp.size
    ))
}

#[cfg(test)]
mod tests;
