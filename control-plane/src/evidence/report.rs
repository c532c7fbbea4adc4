//! The printable report of a bundle: the period's evidence mapped to SOC 2 criteria.

use super::Stats;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[allow(clippy::too_many_arguments)]
pub(super) fn report_html(
    from: &str,
    to: &str,
    stats: &Stats,
    checkpoints: usize,
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
         <h1>Gatehouse evidence, {} to {}</h1><p class=c>Sessions: {}. Audit events in the period: {}. Signed checkpoints bracketing them: {}. \
         Verify this bundle with <code>gatehouse audit verify --bundle DIR --public-key KEY</code>.</p>",
        esc(from),
        esc(to),
        sessions.len(),
        stats.events,
        checkpoints
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
        "</table><p class=c>{} tool definition changes detected; {} signed checkpoints bracket the period's events.</p>",
        changed_tools, checkpoints
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
