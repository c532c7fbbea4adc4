//! Verifying a bundle offline (`gatehouse audit verify --bundle`), streaming: every file
//! against the manifest, then the events.
//!
//! A period bundle (`period.json`, format v2) is checked with the period verifier: the
//! chain from the period's first event's predecessor hash, the Merkle tree extended from
//! the frontier before the period, both bracketing checkpoints' signatures (by a key
//! valid when it signed) and the consistency proofs between them, and — given a
//! witness's file — every witnessed tree head the bundle reaches. A whole-chain bundle
//! (format v1, what earlier versions and retention archives wrote) is checked from event
//! #1 or its signed retention anchor, as before.

use super::{EvidenceError, FORMAT, FORMAT_V1};
use gatehouse_audit::{
    Anchor, KeyKind, KeyRing, LogReport, LogVerifier, PeriodProof, PeriodVerifier,
    StoredCheckpoint, StoredEvent, VerifierKey, VerifyingKey, witnessed_heads,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

/// What to trust and check a bundle against.
#[derive(Debug, Clone, Default)]
pub struct BundleCheck {
    /// The log's keys (`--public-key`, or the published keys with their validity);
    /// `None`: the keys the bundle names (the report says they were not pinned).
    pub keys: Option<KeyRing>,
    /// Witnesses' cosignature keys whose cosignatures on the brackets are checked and
    /// named.
    pub witness_keys: Vec<VerifierKey>,
    /// A witness's file of checkpoint notes the bundle must agree with.
    pub witnessed: Option<PathBuf>,
}

/// What a bundle check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleReport {
    /// Everything checks out.
    Intact {
        /// Events checked.
        events: u64,
        /// The first event in the bundle.
        first: u64,
        /// The last.
        last: u64,
        /// What was checked, for people (keys, cosignatures, witnessed heads).
        details: Vec<String>,
    },
    /// The first problem.
    Broken {
        /// Good events before it.
        events: u64,
        /// What and where.
        reason: String,
    },
}

fn broken(reason: String) -> BundleReport {
    BundleReport::Broken { events: 0, reason }
}

fn invalid(dir: &Path, name: &str, e: impl std::fmt::Display) -> EvidenceError {
    EvidenceError::Invalid(format!("{}: {e}", dir.join(name).display()))
}

/// Verifies the bundle in `dir` offline.
pub fn verify_bundle(dir: &Path, check: &BundleCheck) -> Result<BundleReport, EvidenceError> {
    let open = |name: &str| std::fs::File::open(dir.join(name)).map_err(|e| invalid(dir, name, e));
    let mut text = String::new();
    open("manifest.json")?
        .read_to_string(&mut text)
        .map_err(|e| invalid(dir, "manifest.json", e))?;
    let manifest: Value = serde_json::from_str(&text).map_err(|e| {
        EvidenceError::Invalid(format!(
            "{} is not a Gatehouse evidence bundle: manifest.json is not valid JSON ({e})",
            dir.display()
        ))
    })?;
    let format = manifest["format"].as_str().unwrap_or_default();
    if format != FORMAT && format != FORMAT_V1 {
        return Err(EvidenceError::Invalid(format!(
            "{} is not a Gatehouse evidence bundle ({FORMAT} or {FORMAT_V1})",
            dir.display()
        )));
    }
    let files = manifest["files"].as_object().cloned().unwrap_or_default();
    for (name, want) in &files {
        if name == EVENTS {
            // Hashed while its events are checked: the largest file is read once.
            continue;
        }
        let mut h = Sha256::new();
        std::io::copy(&mut open(name)?, &mut h).map_err(|e| invalid(dir, name, e))?;
        if want.as_str() != Some(hex::encode(h.finalize()).as_str()) {
            return Ok(broken(format!(
                "{name} was changed after export (its SHA-256 does not match the manifest)"
            )));
        }
    }
    let required: &[&str] = if format == FORMAT {
        &["audit_events.jsonl", "period.json"]
    } else {
        &["audit_events.jsonl", "checkpoints.jsonl"]
    };
    for name in required {
        if !files.contains_key(*name) {
            return Ok(broken(format!(
                "{name} is not in the manifest: the bundle was altered"
            )));
        }
    }
    let events = Events::open(
        dir,
        files
            .get(EVENTS)
            .and_then(Value::as_str)
            .unwrap_or_default(),
    )?;
    if format == FORMAT_V1 {
        return verify_whole_chain(dir, &files, events, check);
    }
    let mut text = String::new();
    open("period.json")?
        .read_to_string(&mut text)
        .map_err(|e| invalid(dir, "period.json", e))?;
    let proof: PeriodProof = serde_json::from_str(&text).map_err(|e| {
        invalid(
            dir,
            "period.json",
            format!("not a period proof ({e}); the bundle is malformed"),
        )
    })?;
    let mut details = Vec::new();
    let keys = match &check.keys {
        Some(k) => k.clone(),
        None => {
            details.push(
                "checkpoint signatures were checked against the keys the bundle names: pass --public-key (or --keys) to pin the log's keys".into(),
            );
            KeyRing {
                keys: manifest["public_keys"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .flat_map(|k| KeyRing::single(k).keys)
                    .collect(),
            }
        }
    };
    let witnessed = match &check.witnessed {
        Some(file) => read_witnessed(file, &proof.origin, &keys, &check.witness_keys)?,
        None => Vec::new(),
    };
    let (first, last) = (proof.first, proof.last);
    let mut v = match PeriodVerifier::new(proof, &keys, &check.witness_keys, witnessed) {
        Ok(v) => v,
        Err(reason) => return Ok(broken(reason)),
    };
    let mut reviews = ReviewRecords::read(dir, &files)?;
    let mut good = 0u64;
    if !events.each(|e| {
        let ok = v.push(&e.as_ref());
        good += u64::from(ok);
        reviews.see(e);
        ok
    })? {
        return Ok(events_changed());
    }
    match v.finish() {
        Ok(r) => {
            match reviews.check() {
                Ok(found) => details.extend(found),
                Err(reason) => {
                    return Ok(BundleReport::Broken {
                        events: good,
                        reason,
                    });
                }
            }
            details.extend(r.signed_by);
            if r.start_size == 0 && first > 1 {
                details.push(format!(
                    "no checkpoint was signed before the period: the end checkpoint alone pins events #1..#{}",
                    first - 1
                ));
            }
            if r.cosigned.is_empty() {
                details.push(if check.witness_keys.is_empty() {
                    "witness cosignatures were not checked: pass --witness-key for each witness"
                        .into()
                } else {
                    "no given witness cosigned the bracketing checkpoints".into()
                });
            }
            details.extend(r.cosigned);
            if let Some(file) = &check.witnessed {
                details.push(format!(
                    "consistent with the {} witnessed checkpoints the bundle reaches in {}",
                    r.witnessed_checked,
                    file.display()
                ));
            }
            Ok(BundleReport::Intact {
                events: r.events,
                first,
                last,
                details,
            })
        }
        Err(reason) => Ok(BundleReport::Broken {
            events: good,
            reason,
        }),
    }
}

/// The tree heads in a witness's file, signed by any of the log's keys.
fn read_witnessed(
    file: &Path,
    origin: &str,
    keys: &KeyRing,
    witnesses: &[VerifierKey],
) -> Result<Vec<gatehouse_audit::WitnessedHead>, EvidenceError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| EvidenceError::Invalid(format!("cannot read {}: {e}", file.display())))?;
    let log_keys: Vec<VerifierKey> = keys
        .keys
        .iter()
        .filter_map(|k| gatehouse_audit::hash_bytes(&k.public_key))
        .filter_map(|b| VerifyingKey::from_bytes(&b).ok())
        .filter_map(|p| VerifierKey::new(origin, KeyKind::Ed25519, p).ok())
        .collect();
    let heads = witnessed_heads(&file.display().to_string(), &text, &log_keys, witnesses)
        .map_err(|e| EvidenceError::Invalid(e.to_string()))?;
    if heads.is_empty() {
        return Err(EvidenceError::Invalid(format!(
            "{} holds no checkpoint: give the file a witness keeps",
            file.display()
        )));
    }
    Ok(heads)
}

/// The events file of a bundle.
const EVENTS: &str = "audit_events.jsonl";

/// What a bundle whose events file does not match its manifest is told.
fn events_changed() -> BundleReport {
    broken(format!(
        "{EVENTS} was changed after export (its SHA-256 does not match the manifest)"
    ))
}

/// `audit_events.jsonl`, read one line at a time and hashed on the way.
struct Events {
    lines: std::io::BufReader<std::fs::File>,
    digest: Sha256,
    /// The SHA-256 (hex) the manifest gives it.
    want: String,
}

impl Events {
    fn open(dir: &Path, want: &str) -> Result<Events, EvidenceError> {
        let f = std::fs::File::open(dir.join(EVENTS)).map_err(|e| invalid(dir, EVENTS, e))?;
        Ok(Events {
            lines: std::io::BufReader::with_capacity(1 << 20, f),
            digest: Sha256::new(),
            want: want.to_string(),
        })
    }

    /// Hands each event to `f` until it answers false or the file ends, then hashes the
    /// rest. False when the file is not the one the manifest names (then what `f` saw
    /// does not count: the file was changed).
    fn each(mut self, mut f: impl FnMut(&StoredEvent) -> bool) -> Result<bool, EvidenceError> {
        let mut line = String::new();
        let mut n = 0u64;
        let mut checking = true;
        // A line that is not an event: reported only if the file is the exported one
        // (a file changed after export is reported as changed).
        let mut malformed = None;
        loop {
            line.clear();
            let read = self
                .lines
                .read_line(&mut line)
                .map_err(|e| EvidenceError::Invalid(format!("{EVENTS}: {e}")))?;
            if read == 0 {
                if hex::encode(self.digest.finalize()) != self.want {
                    return Ok(false);
                }
                return malformed.map_or(Ok(true), Err);
            }
            self.digest.update(line.as_bytes());
            n += 1;
            if !checking || line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<StoredEvent>(&line) {
                Ok(e) => checking = f(&e),
                Err(e) => {
                    malformed = Some(EvidenceError::Invalid(format!(
                        "{EVENTS} line {n} is not an audit event ({e}); the bundle is malformed"
                    )));
                    checking = false;
                }
            }
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(name: &str, line: &str) -> Result<T, EvidenceError> {
    serde_json::from_str(line).map_err(|e| EvidenceError::Invalid(format!("{name}: {e}")))
}

/// A whole-chain bundle (format v1): from event #1 or its signed retention anchor.
fn verify_whole_chain(
    dir: &Path,
    files: &serde_json::Map<String, Value>,
    events: Events,
    check: &BundleCheck,
) -> Result<BundleReport, EvidenceError> {
    let small = |name: &str| -> Result<Vec<String>, EvidenceError> {
        if !files.contains_key(name) {
            // Bundles from before retention have no anchors.jsonl.
            return Ok(Vec::new());
        }
        let f = std::fs::File::open(dir.join(name)).map_err(|e| invalid(dir, name, e))?;
        std::io::BufReader::new(f)
            .lines()
            .filter(|l| l.as_ref().map_or(true, |l| !l.is_empty()))
            .collect::<Result<_, _>>()
            .map_err(|e| invalid(dir, name, e))
    };
    let checkpoints: Vec<StoredCheckpoint> = small("checkpoints.jsonl")?
        .iter()
        .map(|l| parse("checkpoints.jsonl", l))
        .collect::<Result<_, _>>()?;
    let anchors: Vec<Anchor> = small("anchors.jsonl")?
        .iter()
        .map(|l| parse("anchors.jsonl", l))
        .collect::<Result<_, _>>()?;
    let anchor = anchors.into_iter().max_by_key(|a| a.tree_size);
    let mut v = LogVerifier::with_keys(checkpoints, anchor.as_ref(), check.keys.as_ref());
    if !events.each(|e| v.push(&e.as_ref()))? {
        return Ok(events_changed());
    }
    Ok(match v.finish() {
        LogReport::Intact {
            events,
            checkpoints,
            pruned,
            ..
        } => BundleReport::Intact {
            events,
            first: pruned as u64 + 1,
            last: pruned as u64 + events,
            details: vec![format!(
                "a whole-chain bundle ({FORMAT_V1}): {checkpoints} signed checkpoints checked{}",
                if pruned > 0 {
                    format!(", from the signed retention anchor at event #{pruned}")
                } else {
                    String::new()
                }
            )],
        },
        LogReport::Broken { events, reason } => BundleReport::Broken { events, reason },
    })
}

/// The closed access reviews a bundle carries (`access_reviews.jsonl`), matched against
/// the `access_review_closed` events that recorded them: a review closed within the
/// bundle's events must be one of them, with the SHA-256 of its line as the digest.
struct ReviewRecords {
    /// (review id, closed at, SHA-256 of its line, the event's seq once seen)
    reviews: Vec<(String, String, String, Option<i64>)>,
    span: Option<(String, String)>,
}

impl ReviewRecords {
    fn read(
        dir: &Path,
        files: &serde_json::Map<String, Value>,
    ) -> Result<ReviewRecords, EvidenceError> {
        const NAME: &str = "access_reviews.jsonl";
        let mut reviews = Vec::new();
        if files.contains_key(NAME) {
            let text =
                std::fs::read_to_string(dir.join(NAME)).map_err(|e| invalid(dir, NAME, e))?;
            for line in text.lines().filter(|l| !l.is_empty()) {
                let v: Value = parse(NAME, line)?;
                reviews.push((
                    v["review"].as_str().unwrap_or_default().to_string(),
                    v["closed_at"].as_str().unwrap_or_default().to_string(),
                    hex::encode(Sha256::digest(line.as_bytes())),
                    None,
                ));
            }
        }
        Ok(ReviewRecords {
            reviews,
            span: None,
        })
    }

    fn see(&mut self, e: &StoredEvent) {
        match &mut self.span {
            Some((_, last)) => last.clone_from(&e.at),
            None => self.span = Some((e.at.clone(), e.at.clone())),
        }
        if e.kind != "access_review_closed" || self.reviews.is_empty() {
            return;
        }
        let Ok(v) = serde_json::from_str::<Value>(&e.payload) else {
            return;
        };
        for r in &mut self.reviews {
            if v["review"].as_str() == Some(r.0.as_str())
                && v["digest"].as_str() == Some(r.2.as_str())
            {
                r.3 = Some(e.seq);
            }
        }
    }

    fn check(&self) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for (id, closed_at, _, seq) in &self.reviews {
            match (seq, &self.span) {
                (Some(seq), _) => out.push(format!(
                    "access review {id}: its result is the one recorded in the log (event #{seq})"
                )),
                (None, Some((first, last))) if closed_at >= first && closed_at <= last => {
                    return Err(format!(
                        "access review {id} in access_reviews.jsonl is not the result recorded in the log when it closed"
                    ));
                }
                (None, _) => out.push(format!(
                    "access review {id} closed at {closed_at}, outside this bundle's events: its record is in the bundle of the period it closed in"
                )),
            }
        }
        Ok(out)
    }
}
