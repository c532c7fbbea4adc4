//! Evidence bundles (`gatehouse evidence export`): everything an auditor needs for a period, in one folder
//! they can verify offline with only the public key (`gatehouse audit verify --bundle`).
//!
//! A bundle carries the period's events only — `first..=last`, never the history
//! before them — and the proof that ties them to the whole log ([`period`]): the Merkle
//! frontier before the period, the signed checkpoints that bracket it (with the
//! witnesses' cosignatures) and the consistency proofs between them. So its size
//! follows the period, not the log's age. Beside them: the sessions, approvals, policy
//! versions, tool pins and closed access reviews of the period, a manifest of SHA-256 hashes of every file,
//! and a printable report mapping the evidence to SOC 2 criteria ([`report`]).
//! Retention archives ([`crate::retention`]) are bundles of the same format, one per
//! pruned range. [`verify`] checks a bundle offline.
//!
//! Export and offline verification stream: events go from the database to the file one
//! at a time, hashed and verified on the way, so memory stays flat for any period.

mod period;
mod report;
mod verify;

pub use period::Signing;
pub use verify::{BundleCheck, BundleReport, verify_bundle};

use crate::store::Store;
use crate::store::audit_read::{Pipelined, Visit};
use gatehouse_audit::{Anchor, EventRef, Frontier, KeyRing, PeriodProof, PeriodVerifier};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Why evidence could not be exported or verified.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// The input is wrong (a period that does not parse, a folder that is not a bundle,
    /// a bundle file that does not read): fix it and try again.
    #[error("{0}")]
    Invalid(String),
    /// Reading the store or writing the bundle failed, or the store does not verify.
    #[error("{0}")]
    Failed(String),
}

/// Period bundles: the period's events and the proof that ties them to the log.
const FORMAT: &str = "gatehouse-evidence-v2";
/// Whole-chain bundles written before period proofs (still verified).
const FORMAT_V1: &str = "gatehouse-evidence-v1";

/// A date (`2026-11-01`, the whole day) or an RFC 3339 time, as RFC 3339.
fn bound(text: &str, end: bool) -> Result<String, EvidenceError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t
            .with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    }
    let d = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        EvidenceError::Invalid(format!(
            "`{text}` is not a date (2026-11-01) or an RFC 3339 time"
        ))
    })?;
    let t = if end {
        d.and_hms_micro_opt(23, 59, 59, 999_999)
    } else {
        d.and_hms_opt(0, 0, 0)
    };
    Ok(t.map(|t| {
        t.and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    })
    .unwrap_or_default())
}

/// Rows the database renders as JSON objects (`sqlite` or `postgres`: the same columns in
/// each one's JSON functions), one per line. Each object is re-serialised so the bundle's
/// bytes do not depend on the database.
async fn json_rows(
    store: &Store,
    sqlite: &str,
    postgres: &str,
    binds: &[&str],
) -> Result<Vec<String>, EvidenceError> {
    let mut q = sqlx::query(store.backend().pick(sqlite, postgres));
    for b in binds {
        q = q.bind(*b);
    }
    let rows = q
        .fetch_all(store.pool())
        .await
        .map_err(|e| EvidenceError::Failed(e.to_string()))?;
    rows.iter()
        .map(|r| {
            let text: String = r.get(0);
            serde_json::from_str::<Value>(&text)
                .map(|v| v.to_string())
                .map_err(|e| EvidenceError::Failed(format!("the database returned bad JSON: {e}")))
        })
        .collect()
}

fn write_lines(
    dir: &Path,
    name: &str,
    lines: &[String],
    manifest: &mut BTreeMap<String, String>,
) -> Result<(), EvidenceError> {
    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    write_file(dir, name, text.as_bytes(), manifest)
}

fn write_file(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    manifest: &mut BTreeMap<String, String>,
) -> Result<(), EvidenceError> {
    write_durably(&dir.join(name), bytes)?;
    manifest.insert(name.to_string(), hex::encode(Sha256::digest(bytes)));
    Ok(())
}

/// Writes a file and flushes it to disk (an archive is the only copy once pruned).
fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), EvidenceError> {
    let fail =
        |e: std::io::Error| EvidenceError::Failed(format!("cannot write {}: {e}", path.display()));
    let mut f = std::fs::File::create(path).map_err(fail)?;
    f.write_all(bytes).map_err(fail)?;
    f.sync_all().map_err(fail)
}

/// A period's bounds from the CLI's or the API's text (a date or an RFC 3339 time).
pub fn period(from: &str, to: &str) -> Result<(String, String), EvidenceError> {
    let (from, to) = (bound(from, false)?, bound(to, true)?);
    if from > to {
        return Err(EvidenceError::Invalid(
            "the start of the period is after its end".into(),
        ));
    }
    Ok((from, to))
}

/// Writes the bundle for the RFC 3339 period `[from, to]` into the existing folder
/// `out_dir`; returns a one-line summary. Signs a checkpoint (and has it witnessed)
/// when none covers the period's end yet and `signing` has a key. Refuses when the
/// period's events do not verify against the log's signed checkpoints.
pub async fn write_bundle(
    store: &Store,
    from: &str,
    to: &str,
    out_dir: &Path,
    signing: Signing<'_>,
) -> Result<String, EvidenceError> {
    let failed = |e: sqlx::Error| EvidenceError::Failed(e.to_string());
    let anchor = store
        .newest_anchor()
        .await
        .map_err(|e| EvidenceError::Failed(e.to_string()))?;
    let start = anchor.as_ref().map_or(0, |a| a.tree_size);
    let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM audit_events WHERE at <= $1")
        .bind(to)
        .fetch_one(store.pool())
        .await
        .map_err(failed)?;
    let last = last.unwrap_or(start).max(start);
    if last == 0 {
        return Err(EvidenceError::Invalid(format!(
            "the audit log holds no events up to {to}: there is nothing to export"
        )));
    }
    // The period's first event; events pruned under retention are in their archives.
    let first: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(seq) FROM audit_events WHERE seq > $1 AND seq <= $2 AND at >= $3",
    )
    .bind(start)
    .bind(last)
    .bind(from)
    .fetch_one(store.pool())
    .await
    .map_err(failed)?;
    let b = write_range(
        store,
        &Range {
            from: from.to_string(),
            to: to.to_string(),
            anchor,
            first: first.unwrap_or(last + 1),
            upto: last,
            archive: false,
        },
        out_dir,
        signing,
    )
    .await?;
    Ok(b.summary)
}

/// What a bundle holds.
pub(crate) struct Range {
    /// The period (RFC 3339) sessions, approvals and the report cover.
    pub from: String,
    /// Its end.
    pub to: String,
    /// The retention anchor the store's log starts after (its frontier is the tree
    /// before the bundle's events when they start right after it).
    pub anchor: Option<Anchor>,
    /// The first event in the bundle (`upto + 1`: none).
    pub first: i64,
    /// The last event in the bundle.
    pub upto: i64,
    /// A retention archive (every session and approval up to `to`, not the period's).
    pub archive: bool,
}

/// A bundle just written.
pub(crate) struct Written {
    /// One line for people.
    pub summary: String,
    /// SHA-256 (hex) of its manifest.json.
    pub manifest_digest: String,
    /// The chain hash of its last event.
    pub head: String,
    /// The Merkle frontier after its last event (over the whole log, pruned events included).
    pub frontier: Frontier,
}

/// Streams `audit_events.jsonl` out of the store: each event is written, hashed for the
/// manifest, verified against the period proof and counted for the report on the way.
struct Exporter {
    file: BufWriter<std::fs::File>,
    digest: Sha256,
    line: Vec<u8>,
    verifier: PeriodVerifier,
    from: String,
    stats: Stats,
    events: u64,
    head: String,
    error: Option<std::io::Error>,
}

impl Visit for Exporter {
    fn visit(&mut self, e: &EventRef<'_>) -> bool {
        self.line.clear();
        if let Err(err) = serde_json::to_writer(&mut self.line, e) {
            self.error = Some(err.into());
            return false;
        }
        self.line.push(b'\n');
        if let Err(err) = self.file.write_all(&self.line) {
            self.error = Some(err);
            return false;
        }
        self.digest.update(&self.line);
        self.events += 1;
        if e.record.at >= self.from.as_str() {
            self.stats.add(e);
        }
        self.head.clear();
        self.head.push_str(e.hash.unwrap_or_default());
        self.verifier.push(e)
    }
}

/// The keys that signed the proof's brackets, start first (the order of use a key
/// ring has; the exporter checks its own output against them, the auditor pins the
/// log's published keys instead).
fn bracket_keys(proof: &PeriodProof) -> Vec<String> {
    let mut keys: Vec<String> = proof
        .start
        .iter()
        .chain([&proof.end])
        .filter_map(|b| b.signed.as_ref().map(|s| s.public_key.clone()))
        .collect();
    keys.dedup();
    keys
}

pub(crate) async fn write_range(
    store: &Store,
    range: &Range,
    out_dir: &Path,
    signing: Signing<'_>,
) -> Result<Written, EvidenceError> {
    let runtime = |e: crate::store::StoreError| EvidenceError::Failed(e.to_string());
    let (from, to) = (range.from.clone(), range.to.clone());
    let proof = period::period_proof(
        store,
        range.first,
        range.upto,
        range.anchor.as_ref(),
        signing,
    )
    .await?;
    let keys = bracket_keys(&proof);
    let ring = KeyRing {
        keys: keys.iter().flat_map(|k| KeyRing::single(k).keys).collect(),
    };
    let verifier = PeriodVerifier::new(proof.clone(), &ring, &[], Vec::new()).map_err(|e| {
        EvidenceError::Failed(format!(
            "the log's checkpoints do not prove the period, so no evidence was exported: {e}. Run `gatehouse audit verify`"
        ))
    })?;
    let mut manifest = BTreeMap::new();
    let events_path = out_dir.join("audit_events.jsonl");
    let file = std::fs::File::create(&events_path).map_err(|e| {
        EvidenceError::Failed(format!("cannot write {}: {e}", events_path.display()))
    })?;
    let exporter = Exporter {
        file: BufWriter::with_capacity(1 << 20, file),
        digest: Sha256::new(),
        line: Vec::with_capacity(4096),
        verifier,
        from: from.clone(),
        stats: Stats::default(),
        events: 0,
        head: String::new(),
        error: None,
    };
    let mut ex = store
        .scan_events(range.first - 1, range.upto, Pipelined::new(exporter))
        .await
        .and_then(Pipelined::finish)
        .map_err(runtime)?;
    let written_fail = |e: std::io::Error| {
        EvidenceError::Failed(format!("cannot write {}: {e}", events_path.display()))
    };
    if let Some(e) = ex.error.take() {
        return Err(written_fail(e));
    }
    let file = ex
        .file
        .into_inner()
        .map_err(|e| written_fail(e.into_error()))?;
    file.sync_all().map_err(written_fail)?;
    manifest.insert(
        "audit_events.jsonl".to_string(),
        hex::encode(ex.digest.finalize()),
    );
    let frontier = ex.verifier.frontier().clone();
    let events = ex.events;
    let head = ex.head;
    let checked = ex.verifier.finish().map_err(|e| {
        EvidenceError::Failed(format!(
            "the store does not verify, so no evidence was exported: {e}"
        ))
    })?;
    // Sessions, approvals: the period's; an archive takes all up to its end, so every
    // one it lets retention delete is in it.
    let since = if range.archive { "" } else { from.as_str() };
    let sessions = json_rows(
        store,
        "SELECT json_object('id', id, 'principal', principal, 'groups', json(groups_json), 'server', server, 'era', era, \
         'client_name', client_name, 'client_version', client_version, 'protocol_version', protocol_version, \
         'started_at', started_at, 'ended_at', ended_at, 'end_reason', end_reason, 'message_count', message_count) \
         FROM sessions WHERE started_at <= $1 AND (ended_at IS NULL OR ended_at >= $2) ORDER BY started_at",
        "SELECT json_build_object('id', id, 'principal', principal, 'groups', groups_json::json, 'server', server, 'era', era, \
         'client_name', client_name, 'client_version', client_version, 'protocol_version', protocol_version, \
         'started_at', started_at, 'ended_at', ended_at, 'end_reason', end_reason, 'message_count', message_count)::text \
         FROM sessions WHERE started_at <= $1 AND (ended_at IS NULL OR ended_at >= $2) ORDER BY started_at",
        &[&to, since],
    )
    .await?;
    let approvals = json_rows(
        store,
        "SELECT json_object('id', a.id, 'session_id', a.session_id, 'requester', a.requester, 'server', a.server, 'method', a.method, \
         'tool', a.tool, 'digest', a.digest, 'arguments', json(a.arguments), 'approvers', json(a.approvers), 'quorum', a.quorum, \
         'mode', a.mode, 'rule', a.rule, 'state', a.state, 'created_at', a.created_at, 'expires_at', a.expires_at, \
         'decided_at', a.decided_at, 'reason', a.reason, 'votes', (SELECT json_group_array(json_object('approver', v.approver, \
         'vote', v.vote, 'reason', v.reason, 'at', v.at)) FROM approval_votes v WHERE v.approval_id = a.id)) \
         FROM approvals a WHERE a.created_at BETWEEN $1 AND $2 ORDER BY a.created_at",
        "SELECT json_build_object('id', a.id, 'session_id', a.session_id, 'requester', a.requester, 'server', a.server, 'method', a.method, \
         'tool', a.tool, 'digest', a.digest, 'arguments', a.arguments::json, 'approvers', a.approvers::json, 'quorum', a.quorum, \
         'mode', a.mode, 'rule', a.rule, 'state', a.state, 'created_at', a.created_at, 'expires_at', a.expires_at, \
         'decided_at', a.decided_at, 'reason', a.reason, 'votes', (SELECT COALESCE(json_agg(json_build_object('approver', v.approver, \
         'vote', v.vote, 'reason', v.reason, 'at', v.at)), '[]'::json) FROM approval_votes v WHERE v.approval_id = a.id))::text \
         FROM approvals a WHERE a.created_at BETWEEN $1 AND $2 ORDER BY a.created_at",
        &[since, &to],
    )
    .await?;
    let policies = json_rows(
        store,
        "SELECT json_object('version', version, 'digest', digest, 'pushed_by', pushed_by, 'pushed_at', pushed_at, 'document', document) \
         FROM policies WHERE pushed_at <= $1 ORDER BY version",
        "SELECT json_build_object('version', version, 'digest', digest, 'pushed_by', pushed_by, 'pushed_at', pushed_at, 'document', document)::text \
         FROM policies WHERE pushed_at <= $1 ORDER BY version",
        &[&to],
    )
    .await?;
    let pins = json_rows(
        store,
        "SELECT json_object('server', server, 'tool', tool, 'digest', digest, 'pending_digest', pending_digest, 'first_seen', first_seen, \
         'changed_at', changed_at, 'accepted_by', accepted_by, 'accepted_at', accepted_at) FROM tool_pins ORDER BY server, tool",
        "SELECT json_build_object('server', server, 'tool', tool, 'digest', digest, 'pending_digest', pending_digest, 'first_seen', first_seen, \
         'changed_at', changed_at, 'accepted_by', accepted_by, 'accepted_at', accepted_at)::text FROM tool_pins ORDER BY server, tool",
        &[],
    )
    .await?;
    // Closed access reviews of the period (or closed within it): the result exactly as
    // recorded in the audit log at close.
    let reviews = json_rows(
        store,
        "SELECT result_json FROM access_reviews WHERE state = 'closed' AND closed_at <= $1 \
         AND ((period_from <= $2 AND period_to >= $3) OR closed_at >= $4) ORDER BY closed_at",
        "SELECT result_json FROM access_reviews WHERE state = 'closed' AND closed_at <= $1 \
         AND ((period_from <= $2 AND period_to >= $3) OR closed_at >= $4) ORDER BY closed_at",
        &[&to, &to, since, since],
    )
    .await?;

    let brackets = 1 + usize::from(proof.start.is_some());
    let proof_text = serde_json::to_string_pretty(&proof).unwrap_or_default();
    write_file(out_dir, "period.json", proof_text.as_bytes(), &mut manifest)?;
    write_lines(out_dir, "sessions.jsonl", &sessions, &mut manifest)?;
    write_lines(out_dir, "approvals.jsonl", &approvals, &mut manifest)?;
    write_lines(out_dir, "policies.jsonl", &policies, &mut manifest)?;
    write_lines(out_dir, "tool_pins.jsonl", &pins, &mut manifest)?;
    write_lines(out_dir, "access_reviews.jsonl", &reviews, &mut manifest)?;
    let report = report::report_html(
        &from,
        &to,
        &ex.stats,
        brackets,
        &report::Rows {
            sessions: &sessions,
            approvals: &approvals,
            policies: &policies,
            pins: &pins,
            reviews: &reviews,
        },
    );
    write_file(out_dir, "report.html", report.as_bytes(), &mut manifest)?;
    let doc = json!({
        "format": FORMAT,
        "kind": if range.archive { "retention-archive" } else { "evidence" },
        "from": from,
        "to": to,
        "generated_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "origin": proof.origin,
        "first_seq": range.first,
        "last_seq": range.upto,
        "events": events,
        "events_in_period": ex.stats.events,
        "chain_head": head,
        "public_keys": keys,
        "files": manifest,
    });
    let manifest_text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    write_durably(&out_dir.join("manifest.json"), manifest_text.as_bytes())?;
    // The folder's entries themselves are durable only once the folder is flushed.
    std::fs::File::open(out_dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| EvidenceError::Failed(format!("cannot flush {}: {e}", out_dir.display())))?;
    Ok(Written {
        summary: format!(
            "evidence for {from} .. {to} written to {}: {} sessions, {} events in the period (events #{}..#{} of the log), {} approvals, {} policy versions, {} closed access reviews; bracketed by the signed checkpoints at tree sizes {} and {}",
            out_dir.display(),
            sessions.len(),
            ex.stats.events,
            range.first,
            range.upto,
            approvals.len(),
            policies.len(),
            reviews.len(),
            checked.start_size,
            checked.end_size,
        ),
        manifest_digest: hex::encode(Sha256::digest(manifest_text.as_bytes())),
        head,
        frontier,
    })
}

/// What the report counts over the period's events.
#[derive(Default)]
struct Stats {
    events: u64,
    effects: BTreeMap<String, usize>,
    masked: BTreeMap<String, u64>,
    changed_tools: usize,
}

impl Stats {
    fn add(&mut self, e: &EventRef<'_>) {
        #[derive(serde::Deserialize)]
        struct Decision<'a> {
            #[serde(borrow)]
            effect: Option<std::borrow::Cow<'a, str>>,
        }
        self.events += 1;
        if let Some(d) = e
            .record
            .decision
            .and_then(|d| serde_json::from_str::<Decision<'_>>(d).ok())
        {
            let effect = d.effect.as_deref().unwrap_or("?");
            match self.effects.get_mut(effect) {
                Some(n) => *n += 1,
                None => {
                    self.effects.insert(effect.to_string(), 1);
                }
            }
        }
        if let Some(m) = e
            .record
            .masked
            .and_then(|m| serde_json::from_str::<BTreeMap<&str, u64>>(m).ok())
        {
            for (k, n) in m {
                match self.masked.get_mut(k) {
                    Some(total) => *total += n,
                    None => {
                        self.masked.insert(k.to_string(), n);
                    }
                }
            }
        }
        if e.record.kind == "tool_changed" {
            self.changed_tools += 1;
        }
    }
}
