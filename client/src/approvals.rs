//! Approvals from the laptop's side:
//!
//! * [`LocalApprovals::ask`]: a local call the pushed policy holds for approval becomes an
//!   approval at the control plane (the same queue approvers see in the dashboard and the
//!   tray), and the capture waits for the decision, at most the policy's time to live.
//!   Without the control plane the call is refused: nothing waits for an approval that
//!   nobody can give, and nothing passes unapproved (fail closed).
//! * [`decide`]: an approver's approve/deny with a reason, as the tray window sends it.

use crate::api::{ApiError, ControlPlane};
use crate::upload::TokenSource;
use serde_json::{Value, json};
use std::time::Duration;

/// How a held local call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Approved (and consumed): forward it. `approval` is the control plane's record.
    Approved {
        /// The approval's record (id, votes, reason).
        approval: Value,
    },
    /// The control plane's own policy lets the call pass without an approval (it changed
    /// since the laptop's copy): forward it.
    Allowed,
    /// Not approved: answer the client with `message`. `approval` is the record when one
    /// was made (denied or expired), `null` when none could be (offline, refused).
    Refused {
        /// Why, for the client.
        message: String,
        /// The approval's record, if any.
        approval: Value,
    },
}

/// Asks the control plane for approvals of local calls.
#[derive(Clone)]
pub struct LocalApprovals {
    api: ControlPlane,
    token: TokenSource,
    /// A lost connection while waiting is retried this often until the deadline.
    retry: Duration,
}

impl LocalApprovals {
    /// Approvals at `api`, signed in by `token`.
    pub fn new(api: ControlPlane, token: TokenSource) -> LocalApprovals {
        LocalApprovals {
            api,
            token,
            retry: Duration::from_secs(1),
        }
    }

    /// Requests an approval for `request` (a JSON-RPC request of local session
    /// `session_id` on local server `server`) and waits for the decision, at most `ttl`
    /// (plus a little for the control plane to notice the expiry).
    pub async fn ask(
        &self,
        server: &str,
        session_id: &str,
        request: &Value,
        ttl: Duration,
    ) -> Outcome {
        let offline = |why: String| Outcome::Refused {
            message: format!(
                "this call needs an approval, and Gatehouse cannot ask for one: {why}. The call was not sent; try again when the control plane is reachable"
            ),
            approval: Value::Null,
        };
        let Some(token) = (self.token)().await else {
            return offline("you are not signed in (or the sign-in cannot be renewed)".into());
        };
        let created = match self
            .api
            .request_local_approval(&token, server, session_id, request)
            .await
        {
            Ok(v) => v,
            Err(ApiError::Unreachable(r)) => {
                return offline(format!("the control plane at {r} cannot be reached"));
            }
            Err(ApiError::Refused(r)) => {
                return Outcome::Refused {
                    message: format!("the control plane refused this call: {r}"),
                    approval: Value::Null,
                };
            }
        };
        if created["decision"] == "allow" {
            return Outcome::Allowed;
        }
        let Some(id) = created["approval"]["id"].as_str().map(String::from) else {
            return offline("its answer named no approval".into());
        };
        tracing::info!(approval = %id, server, "a local call waits for approval");
        let deadline = tokio::time::Instant::now() + ttl + Duration::from_secs(5);
        let mut last = created["approval"].clone();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Outcome::Refused {
                    message: format!(
                        "approval `{id}` was not given within {} s; the call was not sent",
                        ttl.as_secs()
                    ),
                    approval: last,
                };
            }
            let token = (self.token)().await;
            let answer = match token {
                Some(t) => {
                    self.api
                        .wait_local_approval(&t, &id, left.as_secs().clamp(1, 25))
                        .await
                }
                None => Err(ApiError::Unreachable("no token".into())),
            };
            match answer {
                Ok(a) => {
                    last = a.clone();
                    match a["state"].as_str().unwrap_or("") {
                        "used" | "approved" => return Outcome::Approved { approval: a },
                        "pending" => continue,
                        "denied" => {
                            return Outcome::Refused {
                                message: format!(
                                    "approval `{id}` was denied: {}",
                                    a["reason"].as_str().unwrap_or("no reason given")
                                ),
                                approval: a,
                            };
                        }
                        other => {
                            return Outcome::Refused {
                                message: format!(
                                    "approval `{id}` is {other}: it was not approved within {} s",
                                    ttl.as_secs()
                                ),
                                approval: a,
                            };
                        }
                    }
                }
                Err(ApiError::Refused(r)) => {
                    return Outcome::Refused {
                        message: format!("approval `{id}`: the control plane refused: {r}"),
                        approval: last,
                    };
                }
                // Offline for a moment: keep waiting until the deadline.
                Err(ApiError::Unreachable(r)) => {
                    tracing::info!(approval = %id, error = %r, "waiting for the control plane");
                    tokio::time::sleep(self.retry.min(left)).await;
                }
            }
        }
    }
}

/// Approves or denies approval `id` as the signed-in approver (the tray window's
/// buttons). A reason is required: it goes on the record for auditors.
pub async fn decide(
    api: &ControlPlane,
    token: &str,
    id: &str,
    approve: bool,
    reason: &str,
) -> Result<Value, String> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err("a reason is required: it goes on the record for auditors".into());
    }
    api.decide(token, id, approve, reason)
        .await
        .map_err(|e| e.to_string())
}

/// The record of an approval's outcome kept with the local session: which approval,
/// how it ended, why and by whom.
pub fn outcome_record(outcome: &Outcome) -> Value {
    let (state, approval, message) = match outcome {
        Outcome::Approved { approval } => ("approved", approval, None),
        Outcome::Allowed => ("not_needed", &Value::Null, None),
        Outcome::Refused { message, approval } => ("refused", approval, Some(message)),
    };
    json!({
        "outcome": state,
        "approval": approval.get("id"),
        "state": approval.get("state"),
        "reason": approval.get("reason"),
        "approvers": approval.get("approvers"),
        "votes": approval.get("votes"),
        "message": message,
    })
}
