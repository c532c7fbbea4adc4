//! The approval gate on the request path: a call the policy holds for approval is
//! recorded as an approval, approvers are notified, and the call waits (hold mode) or is
//! answered with the approval id to retry later (retry mode). Only the exact request
//! that was approved passes, once, before the approval expires.

use super::Gateway;
use super::policy::ApprovalTerms;
use super::recording::gateway_event;
use super::session::Session;
use crate::approvals::NewApproval;
use gatehouse_proxy_core::jsonrpc::{Message, codes};
use gatehouse_proxy_core::mcp;
use serde_json::json;
use std::time::Duration;

/// How often a held call looks for a decision.
const POLL: Duration = Duration::from_millis(200);

fn refuse(msg: &Message, text: String, data: Option<serde_json::Value>) -> Message {
    Message::error(msg.id().cloned(), codes::POLICY_DENIED, text, data)
}

/// A streaming client waiting on a held call: it gets progress notifications (when it
/// asked for progress) or SSE comments, so it knows the call is alive.
pub struct Waiting {
    /// The client's SSE stream.
    pub tx: tokio::sync::mpsc::Sender<bytes::Bytes>,
    /// The request's progress token, if any.
    pub progress_token: Option<serde_json::Value>,
}

impl Waiting {
    /// False when the client has gone.
    async fn tell(&self, id: &str, a: &crate::approvals::Approval) -> bool {
        let frame = match &self.progress_token {
            Some(token) => {
                let note = Message::notification(
                    "notifications/progress",
                    json!({
                        "progressToken": token,
                        "progress": a.approvals,
                        "total": a.quorum,
                        "message": format!("waiting for approval `{id}` by {} ({} of {})", a.approvers.join(", "), a.approvals, a.quorum),
                    }),
                );
                gatehouse_proxy_core::sse::encode(Some("message"), None, &note.to_json())
            }
            None => format!(": waiting for approval {id}\n\n"),
        };
        self.tx.send(bytes::Bytes::from(frame)).await.is_ok()
    }
}

/// `Ok(())` when the call may now be forwarded; otherwise the answer the client gets.
pub async fn gate(
    gw: &Gateway,
    session: &Session,
    msg: &Message,
    terms: &ApprovalTerms,
    waiting: Option<&Waiting>,
) -> Result<(), Message> {
    let method = msg.method().unwrap_or("").to_string();
    let tool = mcp::target_name(msg).map(String::from);
    let arguments = mcp::arguments(msg)
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    let digest =
        gatehouse_policy::request_digest(&session.server, &method, tool.as_deref(), &arguments);
    let user = &session.principal.user;
    let store_err = |e: crate::store::StoreError| {
        refuse(
            msg,
            format!(
                "Gatehouse could not record the approval request, so the call was not forwarded ({e})"
            ),
            None,
        )
    };

    if terms.mode == "retry"
        && let Some(a) = gw
            .store
            .take_approval(&digest, user)
            .await
            .map_err(store_err)?
    {
        let ev = gateway_event(
            &session.id,
            "approval_used",
            json!({ "approval": a.id, "digest": digest }),
        );
        gw.store.record(vec![ev]).await.map_err(store_err)?;
        return Ok(());
    }
    let needs = format!(
        "{} approval(s) from {}",
        terms.quorum,
        terms.approvers.join(", ")
    );
    if terms.mode == "retry"
        && let Some(id) = gw
            .store
            .pending_approval(&digest, user)
            .await
            .map_err(store_err)?
    {
        return Err(refuse(
            msg,
            format!(
                "this call needs {needs}: approval `{id}` is still pending; send the same call again once it is approved"
            ),
            Some(json!({ "approvalId": id })),
        ));
    }
    let mut masked_args = arguments.clone();
    session.masker.mask_json(&mut masked_args);
    let id = gw
        .store
        .create_approval(&NewApproval {
            session_id: session.id.clone(),
            requester: user.clone(),
            server: session.server.clone(),
            method: method.clone(),
            tool: tool.clone(),
            digest: digest.clone(),
            arguments: masked_args.clone(),
            approvers: terms.approvers.clone(),
            quorum: terms.quorum,
            mode: terms.mode.clone(),
            rule: terms.rule.clone(),
            ttl: terms.ttl,
        })
        .await
        .map_err(store_err)?;
    let ev = gateway_event(
        &session.id,
        "approval_requested",
        json!({ "approval": id, "digest": digest, "approvers": terms.approvers, "quorum": terms.quorum, "mode": terms.mode, "rule": terms.rule }),
    );
    gw.store.record(vec![ev]).await.map_err(store_err)?;
    notify(
        gw,
        &id,
        user,
        &session.server,
        tool.as_deref(),
        &masked_args,
        terms,
    );

    if terms.mode == "retry" {
        return Err(refuse(
            msg,
            format!(
                "this call needs {needs}: approval `{id}` was requested; send the same call again once it is approved"
            ),
            Some(json!({ "approvalId": id })),
        ));
    }
    tracing::info!(approval = %id, session = %session.id, "holding a call for approval");
    let mut polls: u32 = 0;
    loop {
        tokio::time::sleep(POLL).await;
        polls += 1;
        let Some(a) = gw.store.approval(&id).await.map_err(store_err)? else {
            return Err(refuse(msg, format!("approval `{id}` disappeared"), None));
        };
        match a.state.as_str() {
            "pending" => {
                // Every ~2 s, tell a streaming client it is still waiting (and for what).
                if let Some(w) = waiting
                    && polls % 10 == 1
                    && !w.tell(&id, &a).await
                {
                    return Err(refuse(
                        msg,
                        "the client went away while waiting for approval".into(),
                        None,
                    ));
                }
                continue;
            }
            "approved" if gw.store.use_approval(&id).await.map_err(store_err)? => return Ok(()),
            "denied" => {
                return Err(refuse(
                    msg,
                    format!(
                        "approval `{id}` was denied: {}",
                        a.reason.unwrap_or_default()
                    ),
                    Some(json!({ "approvalId": id })),
                ));
            }
            other => {
                return Err(refuse(
                    msg,
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
/// calls and local calls held on a laptop (`local:NAME`) notify alike.
pub(crate) fn notify(
    gw: &Gateway,
    id: &str,
    requester: &str,
    server: &str,
    tool: Option<&str>,
    args: &serde_json::Value,
    terms: &ApprovalTerms,
) {
    let Some(url) = gw.config.approvals.webhook_url.clone() else {
        return;
    };
    let text = format!(
        "Approval `{id}` needed: *{requester}* wants to call `{}` on `{server}` with {args}. Needs {} approval(s) from {}; expires in {} min. Decide with `gatehouse approvals approve {id} --reason ...` or `... deny {id} --reason ...`.",
        tool.unwrap_or("?"),
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
