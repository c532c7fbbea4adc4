//! `gatehouse access`: access governance through the control plane's API, as yourself
//! (`GATEHOUSE_TOKEN`). `request|list|approve|deny|revoke` is just-in-time access (a
//! request is an approval, so `gatehouse approvals approve ID` decides it too); `review`
//! is the periodic access review.

use super::access_review::ReviewCommand;
use super::approvals::call;
use super::{Exit, out};
use clap::Subcommand;
use serde_json::{Value, json};

/// The `access` subcommands.
#[derive(Subcommand)]
pub enum AccessCommand {
    /// Ask for a role on a server for a while; approvers named by the policy decide.
    Request {
        /// The server (`local:NAME` for a local server).
        server: String,
        /// The role a policy rule offers there.
        #[arg(long)]
        role: String,
        /// For how long: `30m`, `2h`, `1h30m` (at most the rule's `max`).
        #[arg(long = "for", value_name = "DURATION")]
        duration: String,
        /// Why: a ticket or incident (approvers and auditors read it).
        #[arg(long)]
        reason: String,
    },
    /// Your grants (live and past) and access requests; approvers also see the requests
    /// they may decide.
    List {
        /// Everyone's (auditors and admins).
        #[arg(long)]
        all: bool,
        /// Print `{grants, requests}` as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve an access request.
    Approve {
        /// The request id.
        id: String,
        /// Why (goes on the record).
        #[arg(long)]
        reason: String,
    },
    /// Deny an access request.
    Deny {
        /// The request id.
        id: String,
        /// Why (the requester sees it).
        #[arg(long)]
        reason: String,
    },
    /// End a live grant early (your own, or anyone's as an admin).
    Revoke {
        /// The grant id.
        id: String,
        /// Why (goes on the record).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Periodic access reviews (SOC 2 CC6.2/CC6.3): start, list, show, decide, close.
    Review {
        #[command(subcommand)]
        command: ReviewCommand,
    },
}

fn api(url: &str, path: &str) -> String {
    format!("{}/api/v1{path}", url.trim_end_matches('/'))
}

/// Runs one `access` subcommand against the control plane at `url`.
pub async fn run(command: AccessCommand, url: &str) -> Result<(), Exit> {
    let http = reqwest::Client::new();
    match command {
        AccessCommand::Request {
            server,
            role,
            duration,
            reason,
        } => {
            let a = call(http.post(api(url, "/access/requests")).json(&json!({
                "server": server, "role": role, "duration": duration, "reason": reason
            })))
            .await?;
            out(&format!(
                "access request {} is pending: role {} on {} for {}; needs {} approval(s) from {} (policy rule {}).\n\
                 Approvers decide with `gatehouse access approve {} --reason ...`.\n",
                s(&a["id"]),
                s(&a["tool"]),
                s(&a["server"]),
                s(&a["arguments"]["duration"]),
                a["quorum"],
                list(&a["approvers"]),
                s(&a["rule"]),
                s(&a["id"]),
            ));
            Ok(())
        }
        AccessCommand::List { all, json } => {
            let body = call(http.get(api(url, &format!("/access?all={all}")))).await?;
            if json {
                out(&format!("{body}\n"));
            } else {
                out(&listing(&body));
            }
            Ok(())
        }
        AccessCommand::Review { command } => super::access_review::run(url, command).await,
        AccessCommand::Approve { id, reason } => decide(url, &id, true, &reason).await,
        AccessCommand::Deny { id, reason } => decide(url, &id, false, &reason).await,
        AccessCommand::Revoke { id, reason } => {
            let g = call(
                http.post(api(url, &format!("/access/grants/{id}/revoke")))
                    .json(&json!({ "reason": reason })),
            )
            .await?;
            out(&format!(
                "grant {} ended: role {} on {} for {} ({} at {})\n",
                s(&g["id"]),
                s(&g["role"]),
                s(&g["server"]),
                s(&g["person"]),
                s(&g["end_reason"]),
                s(&g["ended_at"]),
            ));
            Ok(())
        }
    }
}

/// Approves or denies one access request.
pub async fn decide(url: &str, id: &str, approve: bool, reason: &str) -> Result<(), Exit> {
    let verb = if approve { "approve" } else { "deny" };
    let body = call(
        reqwest::Client::new()
            .post(api(url, &format!("/access/requests/{id}/{verb}")))
            .json(&json!({ "reason": reason })),
    )
    .await?;
    let r = &body["request"];
    let mut text = format!(
        "access request {id}: {} ({} of {} approvals)\n",
        s(&r["state"]),
        r["approvals"],
        r["quorum"]
    );
    if let Some(g) = body["grant"].as_object() {
        text.push_str(&format!(
            "grant {}: {} holds role {} on {} until {}\n",
            s(&g["id"]),
            s(&g["person"]),
            s(&g["role"]),
            s(&g["server"]),
            s(&g["ends_at"])
        ));
    }
    out(&text);
    Ok(())
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

fn list(v: &Value) -> String {
    v.as_array()
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// Grants, then requests, one a line.
fn listing(body: &Value) -> String {
    let mut text = String::from("GRANTS\n");
    let grants = body["grants"].as_array().cloned().unwrap_or_default();
    if grants.is_empty() {
        text.push_str("  (none)\n");
    }
    for g in &grants {
        let end = match s(&g["state"]) {
            "live" => format!("until {}", s(&g["ends_at"])),
            "revoked" => format!("revoked {} by {}", s(&g["ended_at"]), s(&g["ended_by"])),
            _ => format!("expired {}", s(&g["ends_at"])),
        };
        text.push_str(&format!(
            "  {}  {:<7}  {} role {} on {} {end} (reason: {})\n",
            s(&g["id"]),
            s(&g["state"]),
            s(&g["person"]),
            s(&g["role"]),
            s(&g["server"]),
            s(&g["reason"]),
        ));
    }
    text.push_str("REQUESTS\n");
    let requests = body["requests"].as_array().cloned().unwrap_or_default();
    if requests.is_empty() {
        text.push_str("  (none)\n");
    }
    for r in &requests {
        text.push_str(&format!(
            "  {}  {:<8}  {} asks for role {} on {} for {} (reason: {}); {} of {} from {}\n",
            s(&r["id"]),
            s(&r["state"]),
            s(&r["requester"]),
            s(&r["tool"]),
            s(&r["server"]),
            s(&r["arguments"]["duration"]),
            s(&r["arguments"]["reason"]),
            r["approvals"],
            r["quorum"],
            list(&r["approvers"]),
        ));
    }
    text
}
