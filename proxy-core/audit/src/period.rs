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
//! checkpoints committed to them. The checkpoint notes carry the witnesses'
//! cosignatures, and a witness's own file can be checked against them.

use crate::chain::{ChainBreak, Verifier};
use crate::log::{EventRef, WitnessedHead};
use crate::merkle::{Frontier, Hash};
use crate::note::VerifierKey;
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
    /// The newest checkpoint at or before `first - 1` (none when the period starts the log).
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
    broken: Option<String>,
}

impl PeriodVerifier {
    /// Checks the brackets' signatures and the start's consistency up front; events
    /// follow through [`PeriodVerifier::push`]. `witnessed` (from a witness's file) are
    /// tree heads the brackets and the period must agree with.
    pub fn new(
        proof: PeriodProof,
        log_key: &VerifierKey,
        witnesses: &[VerifierKey],
        witnessed: Vec<WitnessedHead>,
    ) -> Result<PeriodVerifier, String> {
        if proof.first == 0 || proof.first > proof.last {
            return Err(format!(
                "the period's event range #{}..#{} is empty or starts before event #1",
                proof.first, proof.last
            ));
        }
        let open = |what: &str, b: &Bracket| {
            Checkpoint::open(&b.checkpoint, log_key)
                .map_err(|e| format!("the {what} checkpoint: {e}"))
        };
        let mut cosigned = Vec::new();
        let mut by = |what: &str, note: &crate::note::Note| -> Result<(), String> {
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
        let (end_cp, end_note) = open("end", &proof.end)?;
        by("end", &end_note)?;
        let start_cp = match &proof.start {
            Some(b) => {
                let (cp, note) = open("start", b)?;
                by("start", &note)?;
                Some(cp)
            }
            None => None,
        };
        let before = proof.first - 1;
        let frontier = Frontier::from_hex(before as i64, &proof.before)
            .map_err(|e| format!("the frontier before the period: {e}"))?;
        match (&start_cp, &proof.start) {
            (Some(cp), Some(b)) => {
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
            _ if before > 0 => {
                return Err("the period does not start the log but has no start checkpoint".into());
            }
            _ => {}
        }
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
        verify_consistency(got, self.end_cp.size, &self.frontier.root(), &self.end_cp.root, &p).map_err(|e| {
            format!(
                "the period's events are not the ones the end checkpoint (tree size {}) signed: {e}",
                self.end_cp.size
            )
        })?;
        Ok(PeriodReport {
            events: got - (self.proof.first - 1),
            start_size: self.start_cp.map_or(0, |c| c.size),
            end_size: self.end_cp.size,
            cosigned: self.cosigned,
            witnessed_checked: self.witnessed_checked,
        })
    }
}

#[cfg(test)]
mod tests;
