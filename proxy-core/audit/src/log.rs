//! Verifying a whole log as stored — in the live database or in an exported bundle —
//! with the same code, so an auditor's offline check is the check the server runs.

use crate::anchor::Anchor;
use crate::chain::{ChainRecord, Verifier, hash_bytes};
use crate::checkpoint::TreeHead;
use crate::keyring::{KeyError, KeyRing};
use crate::merkle::Frontier;
use serde::{Deserialize, Serialize};

/// An audit event with its chain links, as stored and exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Position.
    pub seq: i64,
    /// Session.
    pub session_id: String,
    /// Time.
    pub at: String,
    /// Direction.
    pub direction: String,
    /// Kind.
    pub kind: String,
    /// Method.
    pub method: Option<String>,
    /// Tool.
    pub tool: Option<String>,
    /// JSON-RPC id.
    pub rpc_id: Option<String>,
    /// Payload (masked JSON).
    pub payload: String,
    /// Masked counts.
    pub masked: Option<String>,
    /// Policy decision.
    pub decision: Option<String>,
    /// Previous event's hash.
    pub prev_hash: Option<String>,
    /// This event's hash.
    pub hash: Option<String>,
}

impl StoredEvent {
    /// The same event, borrowed.
    pub fn as_ref(&self) -> EventRef<'_> {
        EventRef {
            record: ChainRecord {
                seq: self.seq,
                session_id: &self.session_id,
                at: &self.at,
                direction: &self.direction,
                kind: &self.kind,
                method: self.method.as_deref(),
                tool: self.tool.as_deref(),
                rpc_id: self.rpc_id.as_deref(),
                payload: &self.payload,
                masked: self.masked.as_deref(),
                decision: self.decision.as_deref(),
            },
            prev_hash: self.prev_hash.as_deref(),
            hash: self.hash.as_deref(),
        }
    }
}

/// An audit event borrowed from wherever it is being read (a database row, a line of a
/// bundle): what the streaming verifier and exporter take, so reading a million events
/// allocates nothing per event. Serializes exactly as [`StoredEvent`] does: the chained
/// fields flattened, then the two links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EventRef<'a> {
    /// The fields the hash chain covers.
    #[serde(flatten)]
    pub record: ChainRecord<'a>,
    /// Previous event's hash.
    pub prev_hash: Option<&'a str>,
    /// This event's hash.
    pub hash: Option<&'a str>,
}

/// A signed checkpoint, as stored and exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCheckpoint {
    /// Id.
    pub id: i64,
    /// Events covered.
    pub tree_size: i64,
    /// Merkle root (hex).
    pub root_hash: String,
    /// Chain hash at `tree_size`.
    pub chain_head: String,
    /// Signed at.
    pub at: String,
    /// Ed25519 public key (hex).
    pub public_key: String,
    /// Signature (hex).
    pub signature: String,
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogReport {
    /// Everything checks out.
    Intact {
        /// Events checked.
        events: u64,
        /// Checkpoints checked.
        checkpoints: u64,
        /// The chain head.
        head: String,
        /// Events before the log's start that were pruned under a signed retention anchor
        /// (0 when the log starts at event #1).
        pruned: i64,
    },
    /// The first problem, after `events` good events.
    Broken {
        /// Good events before the problem.
        events: u64,
        /// What and where.
        reason: String,
    },
}

/// Verifies a log while it is read, in `seq` order, in O(log n) memory: the hash chain,
/// the Merkle tree (extended one leaf at a time), every checkpoint when the stream
/// reaches it, and — for a pruned log — the retention anchor it starts from.
#[derive(Debug)]
pub struct LogVerifier {
    chain: Verifier,
    frontier: Frontier,
    start: i64,
    started: bool,
    /// Checkpoints still ahead of the stream, by tree size.
    ahead: Vec<StoredCheckpoint>,
    next: usize,
    checkpoints: u64,
    broken: Option<String>,
    /// Tree heads a witness kept, by size, still ahead of the stream.
    witnessed: Vec<WitnessedHead>,
    next_witnessed: usize,
}

/// A tree head as a witness kept it (a checkpoint note from a witness's file), checked
/// against the log as the stream reaches its size: a history rewritten after it was
/// witnessed no longer hashes to its root, whoever re-signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessedHead {
    /// Events covered.
    pub size: u64,
    /// The root the witness kept.
    pub root: crate::Hash,
    /// How to name it to a person (which file, which entry, who cosigned it).
    pub label: String,
}

impl LogVerifier {
    /// Checks the signatures of `checkpoints` and `anchor` (by `trusted_key` when given)
    /// up front; the events follow through [`LogVerifier::push`].
    pub fn new(
        checkpoints: Vec<StoredCheckpoint>,
        anchor: Option<&Anchor>,
        trusted_key: Option<&str>,
    ) -> LogVerifier {
        let ring = trusted_key.map(KeyRing::single);
        LogVerifier::with_keys(checkpoints, anchor, ring.as_ref())
    }

    /// [`LogVerifier::new`] trusting a ring of current and retired keys: each checkpoint
    /// must be signed by a key valid at its time, and no key may sign a larger tree than
    /// one its successor already signed.
    pub fn with_keys(
        mut checkpoints: Vec<StoredCheckpoint>,
        anchor: Option<&Anchor>,
        ring: Option<&KeyRing>,
    ) -> LogVerifier {
        checkpoints.sort_by_key(|c| (c.tree_size, c.id));
        let mut v = LogVerifier {
            chain: Verifier::default(),
            frontier: Frontier::new(),
            start: 0,
            started: false,
            ahead: Vec::new(),
            next: 0,
            checkpoints: checkpoints.len() as u64,
            broken: None,
            witnessed: Vec::new(),
            next_witnessed: 0,
        };
        if let Some(a) = anchor {
            match a.check_with(ring) {
                Ok(f) => {
                    v.frontier = f;
                    v.start = a.tree_size;
                    v.chain = Verifier::resume(a.tree_size, &a.chain_head);
                }
                Err(e) => {
                    v.broken = Some(e);
                    return v;
                }
            }
        }
        // The newest key (by position in the ring) that signed a checkpoint so far.
        let mut newest_key: Option<(usize, &StoredCheckpoint)> = None;
        for c in &checkpoints {
            let (id, at) = (c.id, &c.at);
            let head = TreeHead {
                tree_size: c.tree_size,
                root: c.root_hash.clone(),
                chain_head: c.chain_head.clone(),
                at: c.at.clone(),
            };
            let allowed = ring.map(|r| r.allows(&c.public_key, at));
            let problem = if let Some(Err(e)) = &allowed {
                Some(match e {
                    KeyError::Unknown(k) => {
                        format!("checkpoint #{id} ({at}) is signed by key {k}, not the trusted key")
                    }
                    e => format!("checkpoint #{id} ({at}) is refused: {e}"),
                })
            } else if let (Some(Ok(pos)), Some((newest, by))) = (&allowed, newest_key)
                && *pos < newest
            {
                Some(format!(
                    "checkpoint #{id} ({at}) covers {} events but is signed by key {}, which its successor had already replaced at checkpoint #{} ({} events): a retired key cannot extend the log",
                    c.tree_size, c.public_key, by.id, by.tree_size
                ))
            } else if !head.verify(&c.public_key, &c.signature) {
                Some(format!(
                    "checkpoint #{id} ({at}) has an invalid signature: it was forged or altered"
                ))
            } else if c.tree_size < 1 {
                Some(rewritten(c))
            } else if let Some(a) = anchor.filter(|a| a.tree_size == c.tree_size)
                && (a.root_hash != c.root_hash || a.chain_head != c.chain_head)
            {
                Some(format!(
                    "checkpoint #{id} ({at}) does not match the retention anchor at event #{}: the anchor or the checkpoint was altered",
                    a.tree_size
                ))
            } else {
                None
            };
            if let Some(p) = problem {
                v.broken = Some(p);
                return v;
            }
            if let Some(Ok(pos)) = allowed
                && newest_key.is_none_or(|(n, _)| pos > n)
            {
                newest_key = Some((pos, c));
            }
        }
        // Checkpoints inside the pruned range were checked against the archived events
        // when they were pruned (and are in the archive bundle).
        v.ahead = checkpoints
            .into_iter()
            .filter(|c| c.tree_size > v.start)
            .collect();
        v
    }

    /// Also checks the log against tree heads witnesses kept. Heads inside a pruned
    /// range cannot be checked against the live log (the archive bundle covers them)
    /// and are left out; [`LogVerifier::witnessed_checked`] counts the ones checked.
    pub fn with_witnessed(mut self, mut heads: Vec<WitnessedHead>) -> LogVerifier {
        heads.retain(|h| h.size as i64 > self.start);
        heads.sort_by_key(|h| h.size);
        self.witnessed = heads;
        self
    }

    /// Witnessed tree heads the stream has checked so far.
    pub fn witnessed_checked(&self) -> usize {
        self.next_witnessed
    }

    /// Checks the next event; false once the log is known to be broken (stop reading).
    pub fn push(&mut self, e: &EventRef<'_>) -> bool {
        if self.broken.is_some() {
            return false;
        }
        if e.record.seq <= self.start && self.start > 0 && !self.started {
            // Archived under the anchor and not deleted yet (a prune that is still
            // removing its events in batches): already covered by the anchor's root.
            return true;
        }
        if !self.started {
            self.started = true;
            if e.record.seq != self.start + 1 {
                self.broken = Some(if self.start == 0 {
                    format!(
                        "the log starts at event #{}: events #1..#{} were deleted and no signed retention anchor covers them",
                        e.record.seq,
                        e.record.seq - 1
                    )
                } else {
                    format!(
                        "events #{}..#{} were deleted: the signed retention anchor covers events up to #{} only",
                        self.start + 1,
                        e.record.seq - 1,
                        self.start
                    )
                });
                return false;
            }
        }
        if let Err(err) = self.chain.check(
            &e.record,
            e.prev_hash.unwrap_or_default(),
            e.hash.unwrap_or_default(),
        ) {
            self.broken = Some(err.to_string());
            return false;
        }
        self.frontier.push(self.chain.head_bytes());
        while let Some(c) = self.ahead.get(self.next)
            && c.tree_size == e.record.seq
        {
            if c.chain_head != self.chain.head()
                || hash_bytes(&c.root_hash) != Some(self.frontier.root())
            {
                self.broken = Some(rewritten(c));
                return false;
            }
            self.next += 1;
        }
        while let Some(w) = self.witnessed.get(self.next_witnessed)
            && w.size == e.record.seq as u64
        {
            if w.root != self.frontier.root() {
                self.broken = Some(format!(
                    "{} is contradicted: events 1..{} no longer hash to the root the witness kept, so the history was rewritten after it was witnessed (whoever re-signed it)",
                    w.label, w.size
                ));
                return false;
            }
            self.next_witnessed += 1;
        }
        true
    }

    /// Events checked so far.
    pub fn checked(&self) -> u64 {
        self.chain.checked()
    }

    /// The Merkle frontier over every event so far (pruned ones included).
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// The chain head so far.
    pub fn head(&self) -> &str {
        self.chain.head()
    }

    /// The seq of the last good event.
    pub fn last_seq(&self) -> i64 {
        self.chain.last_seq()
    }

    /// The verdict once every event was pushed.
    pub fn finish(self) -> LogReport {
        let events = self.chain.checked();
        if let Some(reason) = self.broken {
            return LogReport::Broken { events, reason };
        }
        if let Some(c) = self.ahead.get(self.next) {
            return LogReport::Broken {
                events,
                reason: format!(
                    "checkpoint #{} ({}) covers {} events but the log has {}: events at the end were removed (truncated tail)",
                    c.id,
                    c.at,
                    c.tree_size,
                    self.chain.last_seq()
                ),
            };
        }
        if let Some(w) = self.witnessed.get(self.next_witnessed) {
            return LogReport::Broken {
                events,
                reason: format!(
                    "{} covers {} events but the log has {}: witnessed events were removed",
                    w.label,
                    w.size,
                    self.chain.last_seq()
                ),
            };
        }
        LogReport::Intact {
            events,
            checkpoints: self.checkpoints,
            head: self.chain.head().to_string(),
            pruned: self.start,
        }
    }
}

fn rewritten(c: &StoredCheckpoint) -> String {
    format!(
        "events 1..{} no longer match checkpoint #{} ({}): the log was rewritten",
        c.tree_size, c.id, c.at
    )
}

/// Checks the chain over `events` (in seq order, from event #1) and every checkpoint;
/// checkpoints must be signed by `trusted_key` (hex) when one is given.
pub fn verify_log(
    events: impl IntoIterator<Item = StoredEvent>,
    checkpoints: &[StoredCheckpoint],
    trusted_key: Option<&str>,
) -> LogReport {
    let mut v = LogVerifier::new(checkpoints.to_vec(), None, trusted_key);
    for e in events {
        if !v.push(&e.as_ref()) {
            break;
        }
    }
    v.finish()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::chain::{GENESIS, chain_hash};
    use crate::checkpoint::{public_key_hex, signing_key_from_hex};
    use ed25519_dalek::SigningKey;

    fn key() -> SigningKey {
        signing_key_from_hex(&"42".repeat(32)).unwrap()
    }

    pub(crate) fn events(n: i64) -> Vec<StoredEvent> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let mut e = StoredEvent {
                    seq,
                    session_id: "s".into(),
                    at: format!("2026-01-01T00:00:{:02}Z", seq % 60),
                    direction: "client_to_server".into(),
                    kind: "request".into(),
                    method: Some("tools/call".into()),
                    tool: None,
                    rpc_id: Some(seq.to_string()),
                    payload: format!("{{\"n\":\"{seq}\\\"\"}}"),
                    masked: None,
                    decision: None,
                    prev_hash: Some(prev.clone()),
                    hash: None,
                };
                let h = chain_hash(&prev, &e.as_ref().record);
                e.hash = Some(h.clone());
                prev = h;
                e
            })
            .collect()
    }

    fn frontier(events: &[StoredEvent]) -> Frontier {
        let mut f = Frontier::new();
        for e in events {
            f.push(&hash_bytes(e.hash.as_deref().unwrap()).unwrap());
        }
        f
    }

    fn checkpoint(id: i64, events: &[StoredEvent]) -> StoredCheckpoint {
        checkpoint_by(id, events, &key(), &format!("t{id}"))
    }

    fn checkpoint_by(
        id: i64,
        events: &[StoredEvent],
        key: &SigningKey,
        at: &str,
    ) -> StoredCheckpoint {
        let head = TreeHead {
            tree_size: events.len() as i64,
            root: hex::encode(frontier(events).root()),
            chain_head: events.last().unwrap().hash.clone().unwrap(),
            at: at.to_string(),
        };
        StoredCheckpoint {
            id,
            tree_size: head.tree_size,
            root_hash: head.root.clone(),
            chain_head: head.chain_head.clone(),
            at: head.at.clone(),
            public_key: public_key_hex(key),
            signature: head.sign(key),
        }
    }

    #[test]
    fn a_rewritten_and_re_signed_history_contradicts_what_a_witness_kept() {
        let log = events(40);
        let witnessed = vec![
            WitnessedHead {
                size: 10,
                root: frontier(&log[..10]).root(),
                label: "witnessed #1".into(),
            },
            WitnessedHead {
                size: 25,
                root: frontier(&log[..25]).root(),
                label: "witnessed #2".into(),
            },
        ];
        let run = |log: &[StoredEvent], cps: Vec<StoredCheckpoint>| {
            let mut v = LogVerifier::new(cps, None, Some(&public_key_hex(&key())))
                .with_witnessed(witnessed.clone());
            log.iter().all(|e| v.push(&e.as_ref()));
            let n = v.witnessed_checked();
            (v.finish(), n)
        };
        let (report, n) = run(&log, vec![checkpoint(1, &log)]);
        assert!(
            matches!(report, LogReport::Intact { .. }) && n == 2,
            "{report:?}"
        );
        // The insider rewrites event #20, re-chains everything after it and re-signs.
        let mut forged = log.clone();
        forged[19].payload = "{\"n\":\"nothing to see\"}".into();
        let mut prev = forged[18].hash.clone().unwrap();
        for e in &mut forged[19..] {
            e.prev_hash = Some(prev.clone());
            let h = chain_hash(&prev, &e.as_ref().record);
            e.hash = Some(h.clone());
            prev = h;
        }
        let (report, _) = run(&forged, vec![]);
        assert!(matches!(
            verify_log(forged.clone(), &[checkpoint(1, &forged)], None),
            LogReport::Intact { .. }
        ));
        let r = reason(report);
        assert!(r.starts_with("witnessed #2 is contradicted"), "{r}");
        // Cut back below a witnessed size.
        let r = reason(run(&log[..20], vec![]).0);
        assert!(
            r.contains("witnessed #2 covers 25 events but the log has 20"),
            "{r}"
        );
    }

    #[test]
    fn verification_crosses_a_key_rotation_and_refuses_a_retired_key() {
        let log = events(50);
        let (old, new) = (key(), signing_key_from_hex(&"43".repeat(32)).unwrap());
        let rotated = "2026-06-01T00:00:00Z";
        let ring = KeyRing {
            keys: vec![
                crate::PublishedKey::new("log", &old.verifying_key(), None, Some(rotated.into()))
                    .unwrap(),
                crate::PublishedKey::new("log", &new.verifying_key(), Some(rotated.into()), None)
                    .unwrap(),
            ],
        };
        let run = |cps: Vec<StoredCheckpoint>| {
            let mut v = LogVerifier::with_keys(cps, None, Some(&ring));
            log.iter().all(|e| v.push(&e.as_ref()));
            v.finish()
        };
        let before = checkpoint_by(1, &log[..10], &old, "2026-05-01T00:00:00Z");
        let after = checkpoint_by(2, &log[..30], &new, "2026-06-02T00:00:00Z");
        assert!(matches!(
            run(vec![before.clone(), after.clone()]),
            LogReport::Intact { checkpoints: 2, .. }
        ));
        // The retired key signing after its retirement.
        let late = checkpoint_by(3, &log[..40], &old, "2026-06-03T00:00:00Z");
        let r = reason(run(vec![before.clone(), after.clone(), late]));
        assert!(
            r.contains("checkpoint #3") && r.contains("after that key was retired"),
            "{r}"
        );
        // The retired key back-dating a checkpoint past one its successor signed.
        let backdated = checkpoint_by(4, &log[..40], &old, "2026-05-02T00:00:00Z");
        let r = reason(run(vec![before, after, backdated]));
        assert!(r.contains("a retired key cannot extend the log"), "{r}");
        // A key nobody published.
        let stranger = signing_key_from_hex(&"44".repeat(32)).unwrap();
        let r = reason(run(vec![checkpoint_by(
            5,
            &log[..5],
            &stranger,
            "2026-05-01T00:00:00Z",
        )]));
        assert!(r.contains("not the trusted key"), "{r}");
    }

    fn anchor(events: &[StoredEvent], key: &SigningKey) -> Anchor {
        let f = frontier(events);
        Anchor {
            tree_size: events.len() as i64,
            root_hash: hex::encode(f.root()),
            chain_head: events.last().unwrap().hash.clone().unwrap(),
            frontier: f.to_hex(),
            pruned_before: "2026-01-02T00:00:00Z".into(),
            archive: "a".into(),
            archive_digest: "d".into(),
            at: "2026-01-03T00:00:00Z".into(),
            public_key: String::new(),
            signature: String::new(),
        }
        .sign(key)
    }

    fn run(events: &[StoredEvent], cps: &[StoredCheckpoint], anchor: Option<&Anchor>) -> LogReport {
        let trusted = public_key_hex(&key());
        let mut v = LogVerifier::new(cps.to_vec(), anchor, Some(&trusted));
        for e in events {
            if !v.push(&e.as_ref()) {
                break;
            }
        }
        v.finish()
    }

    fn reason(r: LogReport) -> String {
        match r {
            LogReport::Broken { reason, .. } => reason,
            intact => panic!("not caught: {intact:?}"),
        }
    }

    #[test]
    fn checkpoints_are_checked_as_the_stream_passes_them() {
        let log = events(100);
        let cps = vec![checkpoint(2, &log[..64]), checkpoint(1, &log[..37])];
        assert_eq!(
            run(&log, &cps, None),
            LogReport::Intact {
                events: 100,
                checkpoints: 2,
                head: log[99].hash.clone().unwrap(),
                pruned: 0
            }
        );
        let late = vec![checkpoint(3, &log)];
        assert!(reason(run(&log[..90], &late, None)).contains("truncated tail"));
    }

    #[test]
    fn a_pruned_log_verifies_from_its_signed_anchor_and_nothing_else() {
        let log = events(100);
        let a = anchor(&log[..40], &key());
        let cps = vec![
            checkpoint(1, &log[..20]),
            checkpoint(2, &log[..40]),
            checkpoint(3, &log[..77]),
        ];
        match run(&log[40..], &cps, Some(&a)) {
            LogReport::Intact { events, pruned, .. } => assert_eq!((events, pruned), (60, 40)),
            broken => panic!("{broken:?}"),
        }
        // Events still present under the anchor (a prune half done) are skipped.
        assert!(matches!(
            run(&log[30..], &cps, Some(&a)),
            LogReport::Intact { events: 60, .. }
        ));
        // Cut without an anchor.
        let r = reason(run(&log[40..], &cps[2..], None));
        assert!(
            r.contains("starts at event #41") && r.contains("no signed retention anchor"),
            "{r}"
        );
        // Deleted beyond the anchor.
        let r = reason(run(&log[50..], &cps, Some(&a)));
        assert!(r.contains("events #41..#50 were deleted"), "{r}");
        // An anchor by someone else's key (a forged one) or altered.
        let forged = anchor(&log[..40], &signing_key_from_hex(&"66".repeat(32)).unwrap());
        assert!(reason(run(&log[40..], &cps, Some(&forged))).contains("not the trusted key"));
        let altered = Anchor {
            chain_head: log[38].hash.clone().unwrap(),
            ..a.clone()
        };
        assert!(reason(run(&log[40..], &cps, Some(&altered))).contains("forged or altered"));
        // Tampering after the anchor is still caught where it happened.
        let mut changed = log[40..].to_vec();
        changed[10].payload = "{}".into();
        assert!(reason(run(&changed, &cps, Some(&a))).contains("#51 was changed"));
    }
}
