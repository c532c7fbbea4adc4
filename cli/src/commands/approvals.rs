//! `gatehouse approvals list|approve|deny`: approvers decide held calls through the
//! control plane's API, signed in with their own token (`GATEHOUSE_TOKEN`).

use super::{Exit, out};
use serde_json::{Value, json};

fn token() -> Result<String, Exit> {
    std::env::var("GATEHOUSE_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| {
            Exit::Usage(
                "GATEHOUSE_TOKEN is not set: approvers decide as themselves, with their own token"
                    .into(),
            )
        })
}

/// Sends an API request as the caller (`GATEHOUSE_TOKEN`); a refusal becomes the exit
/// the API's error sentence names (4xx: usage, else runtime).
pub(crate) async fn call(req: reqwest::RequestBuilder) -> Result<Value, Exit> {
    let resp =
        req.bearer_auth(token()?).send().await.map_err(|e| {
            Exit::Runtime(format!("cannot reach Gatehouse: {e} (set GATEHOUSE_URL)"))
        })?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        Ok(body)
    } else {
        let msg = body["error"]
            .as_str()
            .unwrap_or("the request failed")
            .to_string();
        Err(if status.is_client_error() {
            Exit::Usage(msg)
        } else {
            Exit::Runtime(msg)
        })
    }
}

/// Prints pending (or all) approvals: who asks, what (arguments masked with your own
/// masking profile, big values cut unless `full`), on which server, under which rule and
/// why, and SQL statements pretty-printed.
pub async fn list(url: &str, all: bool, full: bool, as_json: bool) -> Result<(), Exit> {
    let body = call(reqwest::Client::new().get(format!(
        "{}/api/v1/approvals?all={all}&full={full}",
        url.trim_end_matches('/')
    )))
    .await?;
    let items = body["approvals"].as_array().cloned().unwrap_or_default();
    if as_json {
        out(&format!("{}\n", Value::Array(items)));
        return Ok(());
    }
    let mut text = String::new();
    for a in &items {
        text.push_str(&describe(a));
    }
    if items.is_empty() {
        text.push_str(if all {
            "(no approvals)\n"
        } else {
            "(no pending approvals)\n"
        });
    }
    out(&text);
    Ok(())
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

/// One approval, as an approver reads it.
fn describe(a: &Value) -> String {
    let access = a["method"] == "access/request";
    let what = if access {
        format!(
            "role {} on {} for {}",
            s(&a["tool"]),
            s(&a["server"]),
            s(&a["arguments"]["duration"])
        )
    } else {
        format!(
            "{} {} on {}",
            s(&a["method"]),
            s(&a["tool"]),
            s(&a["server"])
        )
    };
    let approvers = a["approvers"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let mut text = format!(
        "{}  {:<8}  {} wants {what} — {} of {} approved, needs {} from {}; expires {}\n      rule: {}\n",
        s(&a["id"]),
        s(&a["state"]),
        s(&a["requester"]),
        a["approvals"],
        a["quorum"],
        a["quorum"],
        approvers,
        s(&a["expires_at"]),
        s(&a["rule"]),
    );
    if let Some(why) = a["why"].as_str() {
        text.push_str(&format!("      reason: {why}\n"));
    }
    if !access {
        text.push_str(&format!("      arguments: {}\n", a["arguments"]));
        if a["cut"] == true {
            text.push_str("      (long values cut; `--full` shows them whole)\n");
        }
    }
    for st in a["statements"].as_array().into_iter().flatten() {
        text.push_str(&format!("      {}:\n", s(&st["pointer"])));
        for line in s(&st["text"]).lines() {
            text.push_str(&format!("        {line}\n"));
        }
    }
    text
}

/// Approves or denies one held call, with a reason for the record.
pub async fn decide(url: &str, id: &str, approve: bool, reason: &str) -> Result<(), Exit> {
    let verb = if approve { "approve" } else { "deny" };
    let body = call(
        reqwest::Client::new()
            .post(format!(
                "{}/api/v1/approvals/{id}/{verb}",
                url.trim_end_matches('/')
            ))
            .json(&json!({ "reason": reason })),
    )
    .await?;
    out(&format!(
        "approval {id}: {} ({} of {} approvals)\n",
        body["state"].as_str().unwrap_or("?"),
        body["approvals"],
        body["quorum"]
    ));
    Ok(())
}
