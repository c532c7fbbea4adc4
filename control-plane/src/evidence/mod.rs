//! Evidence bundles (`gatehouse evidence export`): everything an auditor needs for a period, in one folder
//! they can verify offline with only the public key (`gatehouse audit verify --bundle`).
//!
//! The bundle carries the whole chain up to the end of the period (so it verifies from
//! the first event, or from the signed retention anchor the store's log starts at, which
//! it includes), the checkpoints over it, the sessions, approvals, policy versions and
//! tool pins of the period, a manifest of SHA-256 hashes of every file, and a printable
//! report mapping the evidence to SOC 2 criteria. Retention archives
//! ([`crate::retention`]) are bundles of the same format.
//!
//! Export and offline verification stream: events go from the database to the file one
//! at a time, hashed and verified on the way, so memory stays flat for any log length.

use crate::store::Store;
use crate::store::audit_read::{Pipelined, Visit};
use gatehouse_audit::{
    Anchor, EventRef, Frontier, LogReport, LogVerifier, StoredCheckpoint, StoredEvent,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufWriter, Read, Write};
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

const FORMAT: &str = "gatehouse-evidence-v1";

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
/// `out_dir`; returns a one-line summary. Refuses when the store does not verify.
pub async fn write_bundle(
    store: &Store,
    from: &str,
    to: &str,
    out_dir: &Path,
) -> Result<String, EvidenceError> {
    let upto: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM audit_events WHERE at <= $1")
        .bind(to)
        .fetch_one(store.pool())
        .await
        .map_err(|e| EvidenceError::Failed(e.to_string()))?;
    let anchor = store
        .newest_anchor()
        .await
        .map_err(|e| EvidenceError::Failed(e.to_string()))?;
    let start = anchor.as_ref().map_or(0, |a| a.tree_size);
    let upto = upto.unwrap_or(start).max(start);
    let b = write_range(
        store,
        &Range {
            from: from.to_string(),
            to: to.to_string(),
            anchor,
            upto,
            archive: false,
        },
        out_dir,
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
    /// The anchor the bundle's events start after (`None`: they start at event #1).
    pub anchor: Option<Anchor>,
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
/// manifest, verified and counted for the report on the way.
struct Exporter {
    file: BufWriter<std::fs::File>,
    digest: Sha256,
    line: Vec<u8>,
    verifier: LogVerifier,
    from: String,
    stats: Stats,
    events: u64,
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
        self.verifier.push(e)
    }
}

pub(crate) async fn write_range(
    store: &Store,
    range: &Range,
    out_dir: &Path,
) -> Result<Written, EvidenceError> {
    let runtime = |e: crate::store::StoreError| EvidenceError::Failed(e.to_string());
    let (from, to) = (range.from.clone(), range.to.clone());
    let start = range.anchor.as_ref().map_or(0, |a| a.tree_size);
    let checkpoints: Vec<StoredCheckpoint> = store
        .checkpoints()
        .await
        .map_err(runtime)?
        .into_iter()
        .filter(|c| c.tree_size <= range.upto)
        .collect();
    let mut manifest = BTreeMap::new();
    let events_path = out_dir.join("audit_events.jsonl");
    let file = std::fs::File::create(&events_path).map_err(|e| {
        EvidenceError::Failed(format!("cannot write {}: {e}", events_path.display()))
    })?;
    let exporter = Exporter {
        file: BufWriter::with_capacity(1 << 20, file),
        digest: Sha256::new(),
        line: Vec::with_capacity(4096),
        verifier: LogVerifier::new(checkpoints.clone(), range.anchor.as_ref(), None),
        from: from.clone(),
        stats: Stats::default(),
        events: 0,
        error: None,
    };
    let mut ex = store
        .scan_events(start, range.upto, Pipelined::new(exporter))
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
    let head = match ex.verifier.finish() {
        LogReport::Intact { head, .. } => head,
        LogReport::Broken { reason, .. } => {
            return Err(EvidenceError::Failed(format!(
                "the store does not verify, so no evidence was exported: {reason}"
            )));
        }
    };
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

    write_lines(
        out_dir,
        "checkpoints.jsonl",
        &checkpoints
            .iter()
            .map(|c| serde_json::to_string(c).unwrap_or_default())
            .collect::<Vec<_>>(),
        &mut manifest,
    )?;
    write_lines(
        out_dir,
        "anchors.jsonl",
        &range
            .anchor
            .iter()
            .map(|a| serde_json::to_string(a).unwrap_or_default())
            .collect::<Vec<_>>(),
        &mut manifest,
    )?;
    write_lines(out_dir, "sessions.jsonl", &sessions, &mut manifest)?;
    write_lines(out_dir, "approvals.jsonl", &approvals, &mut manifest)?;
    write_lines(out_dir, "policies.jsonl", &policies, &mut manifest)?;
    write_lines(out_dir, "tool_pins.jsonl", &pins, &mut manifest)?;
    let report = report_html(
        &from,
        &to,
        &ex.stats,
        &checkpoints,
        &sessions,
        &approvals,
        &policies,
        &pins,
    );
    write_file(out_dir, "report.html", report.as_bytes(), &mut manifest)?;
    let mut keys: std::collections::BTreeSet<String> =
        checkpoints.iter().map(|c| c.public_key.clone()).collect();
    keys.extend(range.anchor.iter().map(|a| a.public_key.clone()));
    let doc = json!({
        "format": FORMAT,
        "kind": if range.archive { "retention-archive" } else { "evidence" },
        "from": from,
        "to": to,
        "generated_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "first_seq": start + 1,
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
            "evidence for {from} .. {to} written to {}: {} sessions, {} events in the period ({} in the chain{}), {} approvals, {} policy versions, {} checkpoints",
            out_dir.display(),
            sessions.len(),
            ex.stats.events,
            events,
            if start > 0 {
                format!(", from #{} after the retention anchor", start + 1)
            } else {
                String::new()
            },
            approvals.len(),
            policies.len(),
            checkpoints.len()
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

/// Verifies a bundle offline, streaming: every file against the manifest, then the
/// chain (from event #1 or the bundle's signed retention anchor), the anchor and the
/// checkpoints (by `trusted_key` when given).
pub fn verify_bundle(dir: &Path, trusted_key: Option<&str>) -> Result<LogReport, EvidenceError> {
    let open = |name: &str| {
        std::fs::File::open(dir.join(name))
            .map_err(|e| EvidenceError::Invalid(format!("{}: {e}", dir.join(name).display())))
    };
    let mut text = String::new();
    open("manifest.json")?
        .read_to_string(&mut text)
        .map_err(|e| EvidenceError::Invalid(format!("manifest.json: {e}")))?;
    let manifest: Value = serde_json::from_str(&text)
        .map_err(|e| EvidenceError::Invalid(format!("manifest.json is not valid JSON: {e}")))?;
    if manifest["format"] != FORMAT {
        return Err(EvidenceError::Invalid(format!(
            "{} is not a Gatehouse evidence bundle ({FORMAT})",
            dir.display()
        )));
    }
    let files = manifest["files"].as_object().cloned().unwrap_or_default();
    for (name, want) in &files {
        let mut h = Sha256::new();
        std::io::copy(&mut open(name)?, &mut h)
            .map_err(|e| EvidenceError::Invalid(format!("{}: {e}", dir.join(name).display())))?;
        if want.as_str() != Some(hex::encode(h.finalize()).as_str()) {
            return Ok(LogReport::Broken {
                events: 0,
                reason: format!(
                    "{name} was changed after export (its SHA-256 does not match the manifest)"
                ),
            });
        }
    }
    for name in ["audit_events.jsonl", "checkpoints.jsonl"] {
        if !files.contains_key(name) {
            return Ok(LogReport::Broken {
                events: 0,
                reason: format!("{name} is not in the manifest: the bundle was altered"),
            });
        }
    }
    let small = |name: &str| -> Result<Vec<String>, EvidenceError> {
        if !files.contains_key(name) {
            // Bundles from before retention have no anchors.jsonl.
            return Ok(Vec::new());
        }
        std::io::BufReader::new(open(name)?)
            .lines()
            .filter(|l| l.as_ref().map_or(true, |l| !l.is_empty()))
            .collect::<Result<_, _>>()
            .map_err(|e| EvidenceError::Invalid(format!("{name}: {e}")))
    };
    let checkpoints: Vec<StoredCheckpoint> = small("checkpoints.jsonl")?
        .iter()
        .map(|l| {
            serde_json::from_str(l)
                .map_err(|e| EvidenceError::Invalid(format!("checkpoints.jsonl: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let anchors: Vec<Anchor> = small("anchors.jsonl")?
        .iter()
        .map(|l| {
            serde_json::from_str(l)
                .map_err(|e| EvidenceError::Invalid(format!("anchors.jsonl: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let anchor = anchors.into_iter().max_by_key(|a| a.tree_size);
    let mut v = LogVerifier::new(checkpoints, anchor.as_ref(), trusted_key);
    let mut lines = std::io::BufReader::with_capacity(1 << 20, open("audit_events.jsonl")?);
    let mut line = String::new();
    let mut n = 0u64;
    loop {
        line.clear();
        let read = lines
            .read_line(&mut line)
            .map_err(|e| EvidenceError::Invalid(format!("audit_events.jsonl: {e}")))?;
        if read == 0 {
            break;
        }
        n += 1;
        if line.trim().is_empty() {
            continue;
        }
        let e: StoredEvent = serde_json::from_str(&line)
            .map_err(|e| EvidenceError::Invalid(format!("audit_events.jsonl line {n}: {e}")))?;
        if !v.push(&e.as_ref()) {
            break;
        }
    }
    Ok(v.finish())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[allow(clippy::too_many_arguments)]
fn report_html(
    from: &str,
    to: &str,
    stats: &Stats,
    checkpoints: &[StoredCheckpoint],
    sessions: &[String],
    approvals: &[String],
    policies: &[String],
    pins: &[String],
) -> String {
    let parse = |v: &[String]| -> Vec<Value> {
        v.iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    let (sessions, approvals, policies, pins) = (
        parse(sessions),
        parse(approvals),
        parse(policies),
        parse(pins),
    );
    let mut users: BTreeMap<String, usize> = BTreeMap::new();
    for s in &sessions {
        *users
            .entry(format!(
                "{} → {}",
                s["principal"].as_str().unwrap_or("?"),
                s["server"].as_str().unwrap_or("?")
            ))
            .or_default() += 1;
    }
    let (effects, masked, changed_tools) = (&stats.effects, &stats.masked, stats.changed_tools);
    // People read minutes, not microseconds.
    let human = |t: &str| {
        t.get(..16)
            .map(|d| format!("{} UTC", d.replace('T', " ")))
            .unwrap_or_else(|| t.to_string())
    };
    let (from, to) = (human(from), human(to));
    let (from, to) = (from.as_str(), to.as_str());
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=utf-8><title>Gatehouse evidence {from} – {to}</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;color:#1d2330}}h1{{font-size:1.5rem}}\
         h2{{font-size:1.1rem;border-bottom:1px solid #ccd;padding-bottom:.2rem;margin-top:2rem}}table{{border-collapse:collapse;width:100%}}\
         td,th{{border:1px solid #dde;padding:.25rem .5rem;text-align:left;font-size:.9rem;vertical-align:top}}th{{background:#f3f4f8}}\
         .c{{color:#556;font-size:.85rem}}@media print{{body{{margin:0}}}}</style></head><body>\
         <h1>Gatehouse evidence, {} to {}</h1><p class=c>Sessions: {}. Audit events in the period: {}. Signed checkpoints: {}. \
         Verify this bundle with <code>gatehouse audit verify --bundle DIR --public-key KEY</code>.</p>",
        esc(from),
        esc(to),
        sessions.len(),
        stats.events,
        checkpoints.len()
    );
    let _ = write!(
        h,
        "<h2>CC6.1 Logical access — who used which server</h2><table><tr><th>person → server</th><th>sessions</th></tr>"
    );
    for (k, n) in &users {
        let _ = write!(h, "<tr><td>{}</td><td>{n}</td></tr>", esc(k));
    }
    let _ = write!(
        h,
        "</table><p class=c>Every session was signed in; sessions.jsonl has who, client, protocol, start, end and why it ended.</p>"
    );
    let _ = write!(
        h,
        "<h2>CC6.2 / CC6.3 Authorization — policy decisions and approvals</h2><table><tr><th>decision</th><th>requests</th></tr>"
    );
    for (k, n) in effects {
        let _ = write!(h, "<tr><td>{}</td><td>{n}</td></tr>", esc(k));
    }
    let _ = write!(
        h,
        "</table><table style=margin-top:1rem><tr><th>approval</th><th>requester</th><th>call</th><th>state</th><th>decided by (reason)</th></tr>"
    );
    for a in &approvals {
        let votes = a["votes"]
            .as_array()
            .map(|v| {
                v.iter()
                    .map(|x| {
                        format!(
                            "{} {} ({})",
                            x["approver"].as_str().unwrap_or(""),
                            x["vote"].as_str().unwrap_or(""),
                            x["reason"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{} {} on {}</td><td>{}</td><td>{}</td></tr>",
            esc(a["id"].as_str().unwrap_or("")),
            esc(a["requester"].as_str().unwrap_or("")),
            esc(a["method"].as_str().unwrap_or("")),
            esc(a["tool"].as_str().unwrap_or("")),
            esc(a["server"].as_str().unwrap_or("")),
            esc(a["state"].as_str().unwrap_or("")),
            esc(&votes)
        );
    }
    let _ = write!(
        h,
        "</table><h2>CC7.2 Monitoring — what was recorded and protected</h2><table><tr><th>sensitive values masked</th><th>count</th></tr>"
    );
    for (k, n) in masked {
        let _ = write!(h, "<tr><td>{}</td><td>{n}</td></tr>", esc(k));
    }
    let _ = write!(
        h,
        "</table><p class=c>{} tool definition changes detected; {} checkpoints signed over the chain.</p>",
        changed_tools,
        checkpoints.len()
    );
    let _ = write!(
        h,
        "<h2>CC8.1 Change management — policy versions and tool definitions</h2><table><tr><th>version</th><th>published by</th><th>at</th><th>digest</th></tr>"
    );
    for p in &policies {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            p["version"],
            esc(p["pushed_by"].as_str().unwrap_or("")),
            esc(p["pushed_at"].as_str().unwrap_or("")),
            esc(&p["digest"]
                .as_str()
                .unwrap_or("")
                .chars()
                .take(16)
                .collect::<String>())
        );
    }
    let _ = write!(
        h,
        "</table><table style=margin-top:1rem><tr><th>server / tool</th><th>first seen</th><th>accepted change by</th><th>pending change</th></tr>"
    );
    for p in &pins {
        let _ = write!(
            h,
            "<tr><td>{} / {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(p["server"].as_str().unwrap_or("")),
            esc(p["tool"].as_str().unwrap_or("")),
            esc(p["first_seen"].as_str().unwrap_or("")),
            esc(p["accepted_by"].as_str().unwrap_or("-")),
            if p["pending_digest"].is_null() {
                "no"
            } else {
                "YES"
            }
        );
    }
    if pins.is_empty() {
        h.push_str("<tr><td colspan=4>(no tools were listed in this period)</td></tr>");
    }
    h.push_str("</table></body></html>\n");
    h
}
