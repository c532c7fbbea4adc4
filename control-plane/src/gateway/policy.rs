//! Policy on the gateway path: which requests may pass, which are refused, which wait
//! for approval, and what a person may see in lists. No policy configured means every
//! signed-in person may use every server (logged loudly at start-up).

use crate::identity::auth::Principal;
use gatehouse_policy::{Decision, Effect, ItemKind, Policy, Principal as PolicyPrincipal, Request};
use gatehouse_proxy_core::jsonrpc::{Message, codes};
use gatehouse_proxy_core::mcp;
use serde_json::{Value, json};

/// The policy in force and its version.
pub struct PolicyInForce {
    policy: Policy,
    /// `v{n}-{digest}`: the published version and a short content digest, recorded with
    /// every decision.
    pub version: String,
    /// The published version number (0 when loaded from a file only).
    pub number: i64,
}

/// The policy-checked requests recorded since `since` (RFC 3339), oldest first, as the
/// policy engine sees them, for replaying a draft against history. Arguments are the
/// record's, i.e. masked.
pub async fn recorded_requests(
    store: &crate::store::Store,
    since: &str,
) -> Result<Vec<Request>, crate::store::StoreError> {
    Ok(store
        .recorded_requests(since)
        .await?
        .into_iter()
        .filter_map(|(user, groups, server, payload)| {
            let msg = Message::from_value(serde_json::from_str(&payload).ok()?).ok()?;
            Some(Request {
                principal: PolicyPrincipal::new(user, groups),
                server,
                method: msg.method()?.to_string(),
                tool: mcp::target_name(&msg).map(String::from),
                arguments: mcp::arguments(&msg).cloned().unwrap_or(Value::Null),
            })
        })
        .collect())
}

/// Methods decided rule by rule; every other method only needs the server to be usable.
const CHECKED: [&str; 4] = [
    "tools/call",
    "resources/read",
    "prompts/get",
    "resources/subscribe",
];

impl PolicyInForce {
    /// The policy itself.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// A loaded policy, published as version `number`.
    pub fn new(policy: Policy, number: i64) -> PolicyInForce {
        let digest: String = policy.source_digest().chars().take(12).collect();
        PolicyInForce {
            policy,
            version: format!("v{number}-{digest}"),
            number,
        }
    }

    fn principal(p: &Principal) -> PolicyPrincipal {
        PolicyPrincipal::new(p.user.clone(), p.groups.iter().cloned())
    }

    /// May this person use this server at all (for `initialize` and target-less methods)?
    pub fn may_connect(&self, p: &Principal, server: &str) -> bool {
        self.policy.may_connect(&Self::principal(p), server)
    }

    /// The decision for one client request, and its record (`decision` column).
    pub fn decide(&self, p: &Principal, server: &str, msg: &Message) -> (Verdict, String) {
        let method = msg.method().unwrap_or("");
        let decision = if CHECKED.contains(&method) {
            self.policy.evaluate(&Request {
                principal: Self::principal(p),
                server: server.to_string(),
                method: method.to_string(),
                tool: mcp::target_name(msg).map(String::from),
                arguments: mcp::arguments(msg).cloned().unwrap_or(Value::Null),
            })
        } else if self.may_connect(p, server) {
            Decision {
                effect: Effect::Allow,
                rule: None,
                default_source: None,
                masking_profile: None,
            }
        } else {
            Decision {
                effect: Effect::Deny {
                    message: format!("the policy does not let you use server `{server}`"),
                },
                rule: None,
                default_source: None,
                masking_profile: None,
            }
        };
        let mut record = serde_json::to_value(&decision).unwrap_or(json!({}));
        record["policy_version"] = json!(self.version);
        let verdict = match &decision.effect {
            Effect::Allow => Verdict::Allow,
            Effect::Deny { message } => Verdict::Refuse(message.clone()),
            Effect::RequireApproval {
                approvers,
                quorum,
                ttl,
                mode,
            } => Verdict::Approve(ApprovalTerms {
                approvers: approvers.clone(),
                quorum: *quorum,
                ttl: *ttl,
                mode: mode.to_string(),
                rule: decision.rule.clone(),
            }),
        };
        (verdict, record.to_string())
    }

    /// Removes from a list result what the person may not use.
    pub fn filter_list(&self, p: &Principal, server: &str, method: &str, result: &mut Value) {
        let (key, field, kind) = match method {
            "tools/list" => ("tools", "name", ItemKind::Tool),
            "prompts/list" => ("prompts", "name", ItemKind::Prompt),
            "resources/list" => ("resources", "uri", ItemKind::Resource),
            _ => return,
        };
        let principal = Self::principal(p);
        if let Some(items) = result.get_mut(key).and_then(Value::as_array_mut) {
            items.retain(|item| {
                item.get(field)
                    .and_then(Value::as_str)
                    .is_some_and(|name| self.policy.visible(&principal, server, kind, name))
            });
        }
    }
}

/// What happens to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Forward it.
    Allow,
    /// Answer it with this refusal; nothing is forwarded.
    Refuse(String),
    /// Hold it (or ask for a retry) until approvers decide.
    Approve(ApprovalTerms),
}

/// Who must approve, how many, for how long, and how the client waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalTerms {
    /// Approver groups.
    pub approvers: Vec<String>,
    /// Distinct approvals needed.
    pub quorum: u32,
    /// How long the request and the approval stay valid.
    pub ttl: std::time::Duration,
    /// `hold` or `retry`.
    pub mode: String,
    /// The rule that asked for it.
    pub rule: Option<String>,
}

/// The JSON-RPC error a refused request gets.
pub fn refusal(msg: &Message, why: &str) -> Message {
    Message::error(
        msg.id().cloned(),
        codes::POLICY_DENIED,
        why.to_string(),
        None,
    )
}
