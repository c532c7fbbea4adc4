//! The approval gate on the request path: a call the policy holds for approval is
//! recorded as an approval, approvers are notified, and the call waits (hold mode) or is
//! answered with the approval id to retry later (retry mode). Only the exact request
//! that was approved passes, once, before the approval expires.

use super::state::Gateway;
use crate::approvals::NewApproval;
use gatehouse_pipeline::{
    ApprovalMode, ApprovalTerms, Client, Held, HoldOutcome, Record, WaitingFor,
};
use serde_json::json;
use std::time::Duration;

/// How often a held call looks for a decision.
const POLL: Duration = Duration::from_millis(200);

fn refuse(text: String, data: Option<serde_json::Value>) -> HoldOutcome {
    HoldOutcome::Refused {
        message: text,
        data,
    }
}

/// Asks for an approval of `held` and waits as its terms say: [`HoldOutcome::Proceed`]
/// when the call may now be forwarded, otherwise the refusal the client gets.
pub async fn gate<C: Client>(gw: &Gateway, held: Held<'_>, client: &mut C) -> HoldOutcome {
    match ask_and_wait(gw, &held, client).await {
        Ok(outcome) => outcome,
        Err(e) => refuse(
            format!(
                "Gatehouse could not record the approval request, so the call was not forwarded ({e})"
            ),
            None,
        ),
    }
}

async fn ask_and_wait<C: Client>(
    gw: &Gateway,
    held: &Held<'_>,
    client: &mut C,
) -> Result<HoldOutcome, crate::store::StoreError> {
    let (terms, digest, user) = (held.terms, &held.digest, &held.principal.user);
    let retry = terms.mode == ApprovalMode::Retry;
    if retry && let Some(a) = gw.store.take_approval(digest, user).await? {
        let ev = Record::note(
            held.session_id,
            "approval_used",
            json!({ "approval": a.id, "digest": digest }),
        );
        gw.store.record(vec![ev]).await?;
        return Ok(HoldOutcome::Proceed);
    }
    let needs = terms.needs();
    if retry && let Some(id) = gw.store.pending_approval(digest, user).await? {
        return Ok(refuse(
            format!(
                "this call needs {needs}: approval `{id}` is still pending; send the same call again once it is approved"
            ),
            Some(json!({ "approvalId": id })),
        ));
    }
    let masked_args = held.arguments.get().clone();
    let tool = held.target.name.clone();
    let id = gw
        .store
        .create_approval(&NewApproval {
            session_id: held.session_id.to_string(),
            requester: user.clone(),
            server: held.server.to_string(),
            method: held.target.method.clone(),
            tool: tool.clone(),
            digest: digest.clone(),
            arguments: masked_args.clone(),
            approvers: terms.approvers.clone(),
            quorum: terms.quorum,
            mode: terms.mode,
            rule: terms.rule.clone(),
            ttl: terms.ttl,
        })
        .await?;
    let ev = Record::note(
        held.session_id,
        "approval_requested",
        json!({ "approval": id, "digest": digest, "approvers": terms.approvers, "quorum": terms.quorum, "mode": terms.mode, "rule": terms.rule }),
    );
    gw.store.record(vec![ev]).await?;
    if let Some(a) = gw.store.approval(&id).await? {
        notify(gw, &a, terms);
    }

    if retry {
        return Ok(refuse(
            format!(
                "this call needs {needs}: approval `{id}` was requested; send the same call again once it is approved"
            ),
            Some(json!({ "approvalId": id })),
        ));
    }
    tracing::info!(approval = %id, session = %held.session_id, "holding a call for approval");
    let mut polls: u32 = 0;
    loop {
        tokio::time::sleep(POLL).await;
        polls += 1;
        let Some(a) = gw.store.approval(&id).await? else {
            return Ok(refuse(format!("approval `{id}` disappeared"), None));
        };
        match a.state.as_str() {
            "pending" => {
                // Every ~2 s, tell a waiting client it is still waiting (and for what).
                let waiting = WaitingFor {
                    approval: id.clone(),
                    approvers: a.approvers.clone(),
                    approvals: u32::try_from(a.approvals).unwrap_or(0),
                    quorum: u32::try_from(a.quorum).unwrap_or(0),
                };
                if polls % 10 == 1 && !client.still_waiting(&waiting).await {
                    return Ok(refuse(
                        "the client went away while waiting for approval".into(),
                        None,
                    ));
                }
                continue;
            }
            "approved" if gw.store.use_approval(&id).await? => return Ok(HoldOutcome::Proceed),
            "denied" => {
                return Ok(refuse(
                    format!(
                        "approval `{id}` was denied: {}",
                        a.reason.unwrap_or_default()
                    ),
                    Some(json!({ "approvalId": id })),
                ));
            }
            other => {
                return Ok(refuse(
                    format!(
                        "approval `{id}` is {other}: it was not approved within {} s",
                        terms.ttl.as_secs()
                    ),
                    Some(json!({ "approvalId": id })),
                ));
            }
        }
    }
}

/// Tells approvers (a Slack-compatible webhook, when configured). Best effort: the
/// approval stands in the store and API whether or not the webhook answers. Gateway
/// calls, local calls held on a laptop (`local:NAME`) and access requests notify alike;
/// the message shows what is asked (arguments masked as stored and cut, SQL
/// pretty-printed), who asks, on which server, under which rule and why.
pub(crate) fn notify(gw: &Gateway, a: &crate::approvals::Approval, terms: &ApprovalTerms) {
    let Some(url) = gw.config.approvals.webhook_url.clone() else {
        return;
    };
    let (id, requester, server) = (&a.id, &a.requester, &a.server);
    let tool = a.tool.as_deref();
    let asked = if a.method == crate::access::METHOD {
        format!(
            "Access request `{id}`: *{requester}* asks for role `{}` on `{server}` for {}. Reason: {}",
            tool.unwrap_or("?"),
            a.arguments["duration"].as_str().unwrap_or("?"),
            a.arguments["reason"].as_str().unwrap_or("")
        )
    } else {
        let (args, _) = crate::approvals::cut(&a.arguments);
        let mut text = format!(
            "Approval `{id}` needed: *{requester}* wants to call `{}` on `{server}` with {args}.",
            tool.unwrap_or("?")
        );
        if let Some(why) = &a.why {
            text.push_str(&format!(" Held because: {why}."));
        }
        for s in &a.statements {
            text.push_str(&format!("\n`{}`:\n```\n{}\n```", s.pointer, s.text));
        }
        text
    };
    let text = format!(
        "{asked}\nRule: `{}`. Needs {} approval(s) from {}; expires in {} min. Decide with `gatehouse approvals approve {id} --reason ...` or `... deny {id} --reason ...`.",
        terms.rule.as_deref().unwrap_or("-"),
        terms.quorum,
        terms.approvers.join(", "),
        terms.ttl.as_secs() / 60
    );
    let body = json!({ "text": text, "approval_id": id, "requester": requester, "server": server, "tool": tool });
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        if let Err(e) = client
            .post(&url)
            .json(&body)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .and_then(|r| r.error_for_status())
        {
            tracing::warn!(error = %e, "the approvals webhook did not take the notification");
        }
    });
}
