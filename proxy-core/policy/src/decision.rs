//! What the gateway asks ([`Request`]) and what the policy answers ([`Decision`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// The authenticated caller, as identity resolved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Stable user id from the identity provider (or `ci:NAME` for pipelines).
    pub user: String,
    /// Groups the user belongs to.
    pub groups: Vec<String>,
    /// Just-in-time grants the host found for this person on the server being called (live,
    /// or the latest that ended); empty unless [`crate::Policy::needs_grants`] asked for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<crate::access::HeldGrant>,
}

impl Principal {
    /// Convenience constructor.
    pub fn new(
        user: impl Into<String>,
        groups: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Principal {
            user: user.into(),
            groups: groups.into_iter().map(Into::into).collect(),
            grants: Vec::new(),
        }
    }
}

/// One classified MCP request on its way through the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Who is calling.
    pub principal: Principal,
    /// Gateway server name (the `{server}` in `/mcp/{server}`).
    pub server: String,
    /// JSON-RPC method, e.g. `tools/call`, `resources/read`, `prompts/get`.
    pub method: String,
    /// The target: tool name, resource URI or prompt name; `None` for methods without one.
    pub tool: Option<String>,
    /// The call's arguments (`params.arguments`), `Null` when absent.
    pub arguments: Value,
}

/// How a held call is experienced by the client while it waits for approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalMode {
    /// Keep the call open (progress notifications) until decided or the TTL runs out.
    Hold,
    /// Answer at once with "approval requested: ID"; the identical call passes once approved.
    Retry,
}

impl fmt::Display for ApprovalMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ApprovalMode::Hold => "hold",
            ApprovalMode::Retry => "retry",
        })
    }
}

/// What happens to the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Forward it.
    Allow,
    /// Refuse it; `message` is what the client sees.
    Deny { message: String },
    /// Hold it until `quorum` members of `approvers` (other than the requester) approve.
    RequireApproval {
        /// Groups whose members may approve.
        approvers: Vec<String>,
        /// Number of distinct approvals needed.
        quorum: u32,
        /// How long the approval request (and the approval) stays valid.
        #[serde(with = "seconds")]
        ttl: Duration,
        /// Client experience while waiting.
        mode: ApprovalMode,
    },
}

impl Effect {
    /// The effect without its parameters.
    pub fn kind(&self) -> EffectKind {
        match self {
            Effect::Allow => EffectKind::Allow,
            Effect::Deny { .. } => EffectKind::Deny,
            Effect::RequireApproval { .. } => EffectKind::RequireApproval,
        }
    }
}

/// An effect without its parameters; ordered by precedence (`Deny` strongest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EffectKind {
    Allow,
    RequireApproval,
    Deny,
}

impl fmt::Display for EffectKind {
    /// Past tense, for reports such as "allowed → denied".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EffectKind::Allow => "allowed",
            EffectKind::RequireApproval => "approval required",
            EffectKind::Deny => "denied",
        })
    }
}

/// Which default decided when no rule matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultSource {
    /// `servers.<name>.default`.
    Server,
    /// The document's top-level `default`.
    Document,
    /// Nothing configured: deny.
    Implicit,
}

/// The policy's answer for one request. Recorded with every audit event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// What to do.
    #[serde(flatten)]
    pub effect: Effect,
    /// Name of the deciding rule; `None` when a default decided.
    pub rule: Option<String>,
    /// Which default decided; `None` when a rule decided.
    pub default_source: Option<DefaultSource>,
    /// Masking profile for the response; always `None` for a denial (nothing is forwarded).
    pub masking_profile: Option<String>,
    /// The just-in-time grant that let the deciding rule apply, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
}

mod seconds {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_serializes_flat_for_audit_events() {
        let d = Decision {
            effect: Effect::RequireApproval {
                approvers: vec!["dba".into()],
                quorum: 1,
                ttl: Duration::from_secs(1800),
                mode: ApprovalMode::Hold,
            },
            rule: Some("delete-needs-dba".into()),
            default_source: None,
            masking_profile: Some("default".into()),
            grant: None,
        };
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "effect": "require_approval", "approvers": ["dba"], "quorum": 1, "ttl": 1800,
                "mode": "hold", "rule": "delete-needs-dba", "default_source": null,
                "masking_profile": "default"
            })
        );
        let back: Decision = serde_json::from_value(v).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn effect_kinds_order_by_precedence() {
        assert!(EffectKind::Deny > EffectKind::RequireApproval);
        assert!(EffectKind::RequireApproval > EffectKind::Allow);
    }
}
