//! The policy in force on the laptop: the version the control plane pushed last (watch
//! stream), cached on disk so local capture keeps deciding the same way while offline.

use crate::api::PolicyVersion;
use gatehouse_policy::{Decision, Effect, Policy, Principal, Request};
use gatehouse_proxy_core::jsonrpc::Message;
use gatehouse_proxy_core::mcp;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;

/// A loaded policy version.
pub struct InForce {
    policy: Policy,
    /// `v{n}-{digest}`, recorded with every decision (as the gateway does).
    pub version: String,
    /// The published version number.
    pub number: i64,
}

/// What to do with one client request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Forward it.
    Allow,
    /// Answer with this error instead.
    Refuse(String),
    /// Hold it until approvers decide at the control plane (for at most `ttl`).
    Approve {
        /// Approver groups, for messages.
        approvers: Vec<String>,
        /// How long the approval may take.
        ttl: std::time::Duration,
    },
}

/// Requests decided rule by rule (the same set as the gateway's).
const CHECKED: [&str; 4] = [
    "tools/call",
    "resources/read",
    "prompts/get",
    "resources/subscribe",
];

/// The policy holder, shared by the capture and the watch task.
#[derive(Clone)]
pub struct LocalPolicy {
    tx: Arc<watch::Sender<Option<Arc<InForce>>>>,
    cache: PathBuf,
}

impl LocalPolicy {
    /// Loads the cached version from `dir` (if any).
    pub fn load(dir: &Path) -> LocalPolicy {
        let cache = dir.join("policy.json");
        let lp = LocalPolicy {
            tx: Arc::new(watch::channel(None).0),
            cache,
        };
        if let Ok(text) = std::fs::read_to_string(&lp.cache)
            && let Ok(v) = serde_json::from_str::<PolicyVersion>(&text)
            && let Err(e) = lp.set(&v)
        {
            tracing::warn!(error = %e, "the cached policy does not load; waiting for the control plane");
        }
        lp
    }

    fn set(&self, v: &PolicyVersion) -> Result<(), String> {
        let policy = Policy::from_yaml(&v.document)
            .map_err(|e| format!("policy v{}: {}", v.version, e.with_file("policy")))?;
        let digest: String = policy.source_digest().chars().take(12).collect();
        self.tx.send_replace(Some(Arc::new(InForce {
            policy,
            version: format!("v{}-{digest}", v.version),
            number: v.version,
        })));
        Ok(())
    }

    /// Puts a pushed version in force and caches it.
    pub fn apply(&self, v: &PolicyVersion) -> Result<(), String> {
        self.set(v)?;
        let text = serde_json::to_string(v).unwrap_or_default();
        if let Err(e) = crate::secrets::write_private(&self.cache, &text) {
            tracing::warn!(error = %e, "could not cache the policy");
        }
        Ok(())
    }

    /// The version in force, if any.
    pub fn current(&self) -> Option<Arc<InForce>> {
        self.tx.borrow().clone()
    }

    /// Watches changes.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<InForce>>> {
        self.tx.subscribe()
    }

    /// May this person use `server` at all (no policy yet: yes, as on the gateway)?
    pub fn may_connect(&self, user: &str, groups: &[String], server: &str) -> bool {
        self.current().is_none_or(|p| {
            p.policy.may_connect(
                &Principal::new(user.to_string(), groups.iter().cloned()),
                server,
            )
        })
    }

    /// The decision for a client request and its record (`decision` JSON).
    pub fn decide(
        &self,
        user: &str,
        groups: &[String],
        server: &str,
        msg: &Message,
    ) -> (Verdict, Value) {
        let Some(p) = self.current() else {
            return (
                Verdict::Allow,
                json!({ "effect": "allow", "policy_version": "none" }),
            );
        };
        let principal = Principal::new(user.to_string(), groups.iter().cloned());
        let method = msg.method().unwrap_or("");
        let decision = if CHECKED.contains(&method) {
            p.policy.evaluate(&Request {
                principal,
                server: server.to_string(),
                method: method.to_string(),
                tool: mcp::target_name(msg).map(String::from),
                arguments: mcp::arguments(msg).cloned().unwrap_or(Value::Null),
            })
        } else {
            Decision {
                effect: if p.policy.may_connect(&principal, server) {
                    Effect::Allow
                } else {
                    Effect::Deny {
                        message: format!("the policy does not let you use server `{server}`"),
                    }
                },
                rule: None,
                default_source: None,
                masking_profile: None,
            }
        };
        let mut record = serde_json::to_value(&decision).unwrap_or(json!({}));
        record["policy_version"] = json!(p.version);
        let verdict = match &decision.effect {
            Effect::Allow => Verdict::Allow,
            Effect::Deny { message } => Verdict::Refuse(message.clone()),
            Effect::RequireApproval { approvers, ttl, .. } => Verdict::Approve {
                approvers: approvers.clone(),
                ttl: *ttl,
            },
        };
        (verdict, record)
    }
}
