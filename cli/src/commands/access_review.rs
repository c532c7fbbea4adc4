//! `gatehouse access review start|list|show|decide|close`: periodic access reviews
//! through the control plane's API, as yourself (`GATEHOUSE_TOKEN`).

use super::approvals::call;
use super::{Exit, out};
use clap::Subcommand;
use serde_json::{Value, json};

/// `gatehouse access review ...`
#[derive(Subcommand)]
pub enum ReviewCommand {
    /// Start a review of a period (admins and auditors).
    Start {
        /// A quarter (2026-Q4) or a month (2026-12).
        #[arg(long, conflicts_with_all = ["from", "to"], required_unless_present_all = ["from", "to"])]
        period: Option<String>,
        /// First day (2026-10-01), with --to.
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// Last day, with --from.
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// Print the review as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every review, newest first.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One review: its entries, decisions and, after revokes, the policy draft.
    Show {
        /// The review id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Print only the policy draft (for `gatehouse policy push`).
        #[arg(long, conflicts_with = "json")]
        draft: bool,
    },
    /// Keep or revoke one entry (the server's owners).
    Decide {
        /// The review id.
        id: String,
        /// The entry number.
        entry: i64,
        /// `keep` or `revoke`.
        #[arg(value_parser = ["keep", "revoke"])]
        decision: String,
        /// Why (on the record).
        #[arg(long)]
        comment: String,
    },
    /// Close a review whose entries are all decided; its result goes into the audit log.
    Close {
        /// The review id.
        id: String,
    },
}

fn api(url: &str, path: &str) -> String {
    format!("{}/api/v1/access-reviews{path}", url.trim_end_matches('/'))
}

/// Runs one review command.
pub async fn run(url: &str, command: ReviewCommand) -> Result<(), Exit> {
    let http = reqwest::Client::new();
    match command {
        ReviewCommand::Start {
            period,
            from,
            to,
            json: as_json,
        } => {
            let body = match period {
                Some(p) => json!({ "period": p }),
                None => json!({ "from": from, "to": to }),
            };
            let r = call(http.post(api(url, "")).json(&body)).await?;
            if as_json {
                out(&format!("{r}\n"));
            } else {
                out(&format!(
                    "access review {} of {} started: {} entries ({} never used). Show it with `gatehouse access review show {}`\n",
                    s(&r["id"]),
                    s(&r["period"]),
                    r["total"],
                    r["never_used"],
                    s(&r["id"])
                ));
            }
        }
        ReviewCommand::List { json: as_json } => {
            let r = call(http.get(api(url, ""))).await?;
            let items = r["reviews"].as_array().cloned().unwrap_or_default();
            if as_json {
                out(&format!("{}\n", Value::Array(items)));
                return Ok(());
            }
            let mut text = String::new();
            for v in &items {
                text.push_str(&format!(
                    "{}  {:<6}  {:<22}  {}/{} decided, {} never used; started by {} {}{}\n",
                    s(&v["id"]),
                    s(&v["state"]),
                    s(&v["period"]),
                    v["decided"],
                    v["total"],
                    v["never_used"],
                    s(&v["started_by"]),
                    s(&v["started_at"]),
                    v["closed_by"]
                        .as_str()
                        .map(|b| format!("; closed by {b}"))
                        .unwrap_or_default()
                ));
            }
            if items.is_empty() {
                text.push_str("(no access reviews)\n");
            }
            out(&text);
        }
        ReviewCommand::Show {
            id,
            json: as_json,
            draft,
        } => {
            let r = call(http.get(api(url, &format!("/{id}")))).await?;
            if as_json {
                out(&format!("{r}\n"));
            } else if draft {
                match r["policy_draft"].as_str() {
                    Some(d) => out(d),
                    None => {
                        return Err(Exit::Usage(format!(
                            "review {id} revokes nothing, so it has no policy draft"
                        )));
                    }
                }
            } else {
                out(&show(&r));
            }
        }
        ReviewCommand::Decide {
            id,
            entry,
            decision,
            comment,
        } => {
            let e = call(
                http.post(api(url, &format!("/{id}/entries/{entry}")))
                    .json(&json!({ "decision": decision, "comment": comment })),
            )
            .await?;
            let mut text = format!(
                "entry {entry} of review {id}: {} {} on {}\n",
                s(&e["decision"]),
                s(&e["person"]),
                s(&e["server"])
            );
            if let Some(note) = e["change"]["note"].as_str() {
                text.push_str(&format!("  to do: {note}\n"));
            }
            out(&text);
        }
        ReviewCommand::Close { id } => {
            let r = call(http.post(api(url, &format!("/{id}/close")))).await?;
            out(&format!(
                "access review {id} closed: {} entries decided; its result is in the audit log (SHA-256 {})\n",
                r["total"],
                s(&r["result_digest"])
            ));
        }
    }
    Ok(())
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

/// A review for people: one block per entry.
fn show(r: &Value) -> String {
    let mut text = format!(
        "access review {} of {} ({} .. {}): {}, {}/{} decided; started by {} {}\n",
        s(&r["id"]),
        s(&r["period"]),
        s(&r["from"]),
        s(&r["covered_to"]),
        s(&r["state"]),
        r["decided"],
        r["total"],
        s(&r["started_by"]),
        s(&r["started_at"]),
    );
    for e in r["entries"].as_array().into_iter().flatten() {
        let access: Vec<String> = e["access"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| match s(&a["kind"]).as_str() {
                "rule" => format!("rule {} ({})", s(&a["rule"]), s(&a["via"])),
                "grant" => format!(
                    "grant {} ({} until {})",
                    s(&a["grant"]),
                    s(&a["role"]),
                    s(&a["until"])
                ),
                k => k.to_string(),
            })
            .collect();
        let used = if e["never_used"].as_bool() == Some(true) {
            "NEVER USED".to_string()
        } else {
            format!(
                "{} sessions, {} calls, {} refused, last {}",
                e["sessions"],
                e["calls"],
                e["refusals"],
                s(&e["last_used"])
            )
        };
        text.push_str(&format!(
            "{:>3}. {} on {}: {}; {}{}\n     reviewers: {}\n",
            e["entry"],
            s(&e["person"]),
            s(&e["server"]),
            access.join(", "),
            used,
            e["lost_at"]
                .as_str()
                .map(|t| format!("; lost access {t}"))
                .unwrap_or_default(),
            e["reviewers"]
                .as_array()
                .filter(|r| !r.is_empty())
                .map(|r| r.iter().map(s).collect::<Vec<_>>().join(", "))
                .unwrap_or_else(|| "admins".into()),
        ));
        match e["decision"].as_str() {
            Some(d) => {
                text.push_str(&format!(
                    "     {d} by {} at {}: {}\n",
                    s(&e["decided_by"]),
                    s(&e["decided_at"]),
                    s(&e["comment"])
                ));
                if let Some(note) = e["change"]["note"].as_str() {
                    text.push_str(&format!("     to do: {note}\n"));
                }
            }
            None => text.push_str("     undecided\n"),
        }
    }
    if r["policy_draft"].is_string() {
        text.push_str(&format!(
            "a policy draft denies the revoked entries: `gatehouse access review show {} --draft > draft.yaml`, then `gatehouse policy push draft.yaml`\n",
            s(&r["id"])
        ));
    }
    text
}
