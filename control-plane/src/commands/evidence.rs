//! `gatehouse evidence export`: everything an auditor needs for a period, in one folder
//! they can verify offline with only the public key (`gatehouse audit verify --bundle`).
//!
//! The bundle carries the whole chain up to the end of the period (so it verifies from
//! the first event), the checkpoints over it, the sessions, approvals, policy versions
//! and tool pins of the period, a manifest of SHA-256 hashes of every file, and a
//! printable report mapping the evidence to SOC 2 criteria.

use super::{Exit, out, sessions::open};
use crate::store::Store;
use gatehouse_audit::{LogReport, StoredCheckpoint, StoredEvent, verify_log};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const FORMAT: &str = "gatehouse-evidence-v1";

/// A date (`2026-11-01`, the whole day) or an RFC 3339 time, as RFC 3339.
fn bound(text: &str, end: bool) -> Result<String, Exit> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t
            .with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    }
    let d = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        Exit::Usage(format!(
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
) -> Result<Vec<String>, Exit> {
    let mut q = sqlx::query(store.backend().pick(sqlite, postgres));
    for b in binds {
        q = q.bind(*b);
    }
    let rows = q
        .fetch_all(store.pool())
        .await
        .map_err(|e| Exit::Runtime(e.to_string()))?;
    rows.iter()
        .map(|r| {
            let text: String = r.get(0);
            serde_json::from_str::<Value>(&text)
                .map(|v| v.to_string())
                .map_err(|e| Exit::Runtime(format!("the database returned bad JSON: {e}")))
        })
        .collect()
}

fn write_lines(
    dir: &Path,
    name: &str,
    lines: &[String],
    manifest: &mut BTreeMap<String, String>,
) -> Result<(), Exit> {
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
) -> Result<(), Exit> {
    std::fs::write(dir.join(name), bytes)
        .map_err(|e| Exit::Runtime(format!("cannot write {}: {e}", dir.join(name).display())))?;
    manifest.insert(name.to_string(), hex::encode(Sha256::digest(bytes)));
    Ok(())
}

/// Writes the bundle for `[from, to]` into `out_dir` (created; must be empty or new).
pub async fn export(
    from: &str,
    to: &str,
    out_dir: &Path,
    config: Option<PathBuf>,
    database: Option<String>,
) -> Result<(), Exit> {
    let (from, to) = period(from, to)?;
    if out_dir.exists()
        && std::fs::read_dir(out_dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(Exit::Usage(format!(
            "{} exists and is not empty; choose a new folder",
            out_dir.display()
        )));
    }
    std::fs::create_dir_all(out_dir)
        .map_err(|e| Exit::Runtime(format!("cannot create {}: {e}", out_dir.display())))?;
    let store = open(config, database).await?;
    let summary = write_bundle(&store, &from, &to, out_dir).await?;
    out(&format!("{summary}\n"));
    Ok(())
}

/// A period's bounds from the CLI's or the API's text (a date or an RFC 3339 time).
pub fn period(from: &str, to: &str) -> Result<(String, String), Exit> {
    let (from, to) = (bound(from, false)?, bound(to, true)?);
    if from > to {
        return Err(Exit::Usage(
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
) -> Result<String, Exit> {
    let (from, to) = (from.to_string(), to.to_string());
    let events: Vec<StoredEvent> = store
        .all_events()
        .await
        .map_err(|e| Exit::Runtime(e.to_string()))?
        .into_iter()
        .filter(|e| e.at <= to)
        .collect();
    let last_seq = events.last().map_or(0, |e| e.seq);
    let checkpoints: Vec<StoredCheckpoint> = store
        .checkpoints()
        .await
        .map_err(|e| Exit::Runtime(e.to_string()))?
        .into_iter()
        .filter(|c| c.tree_size <= last_seq)
        .collect();
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
        &[&to, &from],
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
        &[&from, &to],
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

    let mut manifest = BTreeMap::new();
    write_lines(
        out_dir,
        "audit_events.jsonl",
        &events
            .iter()
            .map(|e| serde_json::to_string(e).unwrap_or_default())
            .collect::<Vec<_>>(),
        &mut manifest,
    )?;
    write_lines(
        out_dir,
        "checkpoints.jsonl",
        &checkpoints
            .iter()
            .map(|c| serde_json::to_string(c).unwrap_or_default())
            .collect::<Vec<_>>(),
        &mut manifest,
    )?;
    write_lines(out_dir, "sessions.jsonl", &sessions, &mut manifest)?;
    write_lines(out_dir, "approvals.jsonl", &approvals, &mut manifest)?;
    write_lines(out_dir, "policies.jsonl", &policies, &mut manifest)?;
    write_lines(out_dir, "tool_pins.jsonl", &pins, &mut manifest)?;
    let in_period: Vec<&StoredEvent> = events.iter().filter(|e| e.at >= from).collect();
    let report = report_html(
        &from,
        &to,
        &in_period,
        &checkpoints,
        &sessions,
        &approvals,
        &policies,
        &pins,
    );
    write_file(out_dir, "report.html", report.as_bytes(), &mut manifest)?;
    let verdict = verify_log(events.iter().cloned(), &checkpoints, None);
    let head = match &verdict {
        LogReport::Intact { head, .. } => head.clone(),
        LogReport::Broken { reason, .. } => {
            return Err(Exit::Runtime(format!(
                "the store does not verify, so no evidence was exported: {reason}"
            )));
        }
    };
    let doc = json!({
        "format": FORMAT,
        "from": from,
        "to": to,
        "generated_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "events": events.len(),
        "events_in_period": in_period.len(),
        "chain_head": head,
        "public_keys": checkpoints.iter().map(|c| c.public_key.clone()).collect::<std::collections::BTreeSet<_>>(),
        "files": manifest,
    });
    std::fs::write(
        out_dir.join("manifest.json"),
        serde_json::to_string_pretty(&doc).unwrap_or_default(),
    )
    .map_err(|e| Exit::Runtime(e.to_string()))?;
    Ok(format!(
        "evidence for {from} .. {to} written to {}: {} sessions, {} events in the period ({} in the chain), {} approvals, {} policy versions, {} checkpoints",
        out_dir.display(),
        sessions.len(),
        in_period.len(),
        events.len(),
        approvals.len(),
        policies.len(),
        checkpoints.len()
    ))
}

/// Verifies a bundle offline: every file against the manifest, then the chain and the
/// checkpoints (by `trusted_key` when given).
pub fn verify_bundle(dir: &Path, trusted_key: Option<&str>) -> Result<LogReport, Exit> {
    let read = |name: &str| {
        std::fs::read(dir.join(name))
            .map_err(|e| Exit::Usage(format!("{}: {e}", dir.join(name).display())))
    };
    let manifest: Value = serde_json::from_slice(&read("manifest.json")?)
        .map_err(|e| Exit::Usage(format!("manifest.json is not valid JSON: {e}")))?;
    if manifest["format"] != FORMAT {
        return Err(Exit::Usage(format!(
            "{} is not a Gatehouse evidence bundle ({FORMAT})",
            dir.display()
        )));
    }
    let files = manifest["files"].as_object().cloned().unwrap_or_default();
    for (name, want) in &files {
        let got = hex::encode(Sha256::digest(read(name)?));
        if want.as_str() != Some(got.as_str()) {
            return Ok(LogReport::Broken {
                events: 0,
                reason: format!(
                    "{name} was changed after export (its SHA-256 does not match the manifest)"
                ),
            });
        }
    }
    let parse = |name: &str| -> Result<Vec<String>, Exit> {
        Ok(String::from_utf8_lossy(&read(name)?)
            .lines()
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect())
    };
    let events: Vec<StoredEvent> = parse("audit_events.jsonl")?
        .iter()
        .map(|l| {
            serde_json::from_str(l).map_err(|e| Exit::Usage(format!("audit_events.jsonl: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let checkpoints: Vec<StoredCheckpoint> = parse("checkpoints.jsonl")?
        .iter()
        .map(|l| {
            serde_json::from_str(l).map_err(|e| Exit::Usage(format!("checkpoints.jsonl: {e}")))
        })
        .collect::<Result<_, _>>()?;
    Ok(verify_log(events, &checkpoints, trusted_key))
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
    events: &[&StoredEvent],
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
    let mut effects: BTreeMap<String, usize> = BTreeMap::new();
    let mut masked: BTreeMap<String, u64> = BTreeMap::new();
    for e in events {
        if let Some(d) = e
            .decision
            .as_deref()
            .and_then(|d| serde_json::from_str::<Value>(d).ok())
        {
            *effects
                .entry(d["effect"].as_str().unwrap_or("?").to_string())
                .or_default() += 1;
        }
        if let Some(m) = e
            .masked
            .as_deref()
            .and_then(|m| serde_json::from_str::<BTreeMap<String, u64>>(m).ok())
        {
            for (k, n) in m {
                *masked.entry(k).or_default() += n;
            }
        }
    }
    let changed_tools = events.iter().filter(|e| e.kind == "tool_changed").count();
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
        events.len(),
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
    for (k, n) in &effects {
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
    for (k, n) in &masked {
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
