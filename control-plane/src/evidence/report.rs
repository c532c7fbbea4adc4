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

/// The bundle's record files, one JSON object a line.
pub(super) struct Rows<'a> {
    pub sessions: &'a [String],
    pub approvals: &'a [String],
    pub policies: &'a [String],
    pub pins: &'a [String],
    pub reviews: &'a [String],
}

pub(super) fn report_html(
    from: &str,
    to: &str,
    stats: &Stats,
    checkpoints: usize,
    rows: &Rows<'_>,
) -> String {
    let parse = |v: &[String]| -> Vec<Value> {
        v.iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    let (sessions, approvals, policies, pins, reviews) = (
        parse(rows.sessions),
        parse(rows.approvals),
        parse(rows.policies),
        parse(rows.pins),
        parse(rows.reviews),
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
    access_reviews(&mut h, &reviews);
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

/// CC6.2/CC6.3: the closed access reviews (who decided what, when) and, beside them, the
/// people who could use a server in the period but never did (candidates for removal).
fn access_reviews(h: &mut String, reviews: &[Value]) {
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let _ = write!(
        h,
        "</table><h3>Access reviews</h3><table><tr><th>review</th><th>period</th><th>entries</th><th>kept</th><th>revoked</th><th>closed by</th><th>closed at</th></tr>"
    );
    for r in reviews {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s(&r["review"])),
            esc(&s(&r["period"])),
            r["entries"].as_array().map_or(0, Vec::len),
            r["kept"],
            r["revoked"],
            esc(&s(&r["closed_by"])),
            esc(&s(&r["closed_at"]))
        );
    }
    if reviews.is_empty() {
        h.push_str("<tr><td colspan=7>(no access review of this period was closed)</td></tr>");
    }
    let _ = write!(
        h,
        "</table><table style=margin-top:1rem><tr><th>review</th><th>person → server</th><th>access</th><th>use in the period</th><th>decision (by, comment)</th></tr>"
    );
    for r in reviews {
        for e in r["entries"].as_array().into_iter().flatten() {
            let access = e["access"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| {
                            match (x["kind"].as_str(), x["rule"].as_str(), x["via"].as_str()) {
                                (Some("rule"), Some(rule), Some(via)) => format!("{rule} ({via})"),
                                (Some("grant"), _, _) => format!("grant {}", s(&x["grant"])),
                                (Some(k), _, _) => k.to_string(),
                                _ => String::new(),
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            let lost = e["lost_at"]
                .as_str()
                .map(|t| {
                    format!(
                        "; lost access {}",
                        t.get(..16).unwrap_or(t).replace('T', " ")
                    )
                })
                .unwrap_or_default();
            let used = if e["never_used"].as_bool() == Some(true) {
                "<b>never used</b> (candidate for removal)".to_string()
            } else {
                format!(
                    "{} sessions, {} calls, {} refused",
                    e["sessions"], e["calls"], e["refusals"]
                )
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{} → {}</td><td>{}</td><td>{}{}</td><td>{} ({}, {})</td></tr>",
                esc(&s(&r["review"])),
                esc(&s(&e["person"])),
                esc(&s(&e["server"])),
                esc(&access),
                used,
                esc(&lost),
                esc(&s(&e["decision"])),
                esc(&s(&e["decided_by"])),
                esc(&s(&e["comment"]))
            );
        }
    }
    let _ = write!(
        h,
        "</table><p class=c>Each review's result was recorded in the audit log when it closed \
         (an <code>access_review_closed</code> event whose digest is the SHA-256 of the line in access_reviews.jsonl).</p><table>"
    );
}
