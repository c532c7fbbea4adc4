//! Decide: what happens to a request under the policy in force, for the person whose
//! token came with it. One typed [`Decision`] for every host; the policy's own answer is
//! kept beside it for the record (with the policy version that gave it).

use crate::classify::{Scope, Target};
use gatehouse_policy::{ApprovalMode, Effect, Policy, Principal};
use serde_json::{Value, json};
use std::time::Duration;

/// The policy in force and its version.
pub struct PolicyInForce {
    policy: Policy,
    /// `v{n}-{digest}`: the published version and a short content digest, recorded with
    /// every decision.
    pub version: String,
    /// The published version number (0 when loaded from a file only).
    pub number: i64,
}

impl PolicyInForce {
    /// A loaded policy, published as version `number`.
    pub fn new(policy: Policy, number: i64) -> PolicyInForce {
        let digest: String = policy.source_digest().chars().take(12).collect();
        PolicyInForce {
            policy,
            version: format!("v{number}-{digest}"),
            number,
        }
    }

    /// The policy itself.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

/// What happens to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Forward it.
    Allow,
    /// Answer it with this refusal; nothing is forwarded.
    Deny {
        /// What the client is told.
        reason: String,
    },
    /// Hold it (or ask for a retry) until approvers decide.
    NeedsApproval(ApprovalTerms),
}

impl Verdict {
    /// Its name in traces: `allow`, `deny` or `needs_approval`.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny { .. } => "deny",
            Verdict::NeedsApproval(_) => "needs_approval",
        }
    }
}

/// Who must approve, how many, for how long, and how the client waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalTerms {
    /// Approver groups.
    pub approvers: Vec<String>,
    /// Distinct approvals needed.
    pub quorum: u32,
    /// How long the request and the approval stay valid.
    pub ttl: Duration,
    /// How the client waits.
    pub mode: ApprovalMode,
    /// The rule that asked for it.
    pub rule: Option<String>,
}

impl ApprovalTerms {
    /// "N approval(s) from a, b", for messages.
    pub fn needs(&self) -> String {
        format!(
            "{} approval(s) from {}",
            self.quorum,
            self.approvers.join(", ")
        )
    }
}

/// The decision for one request and what is recorded about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// What happens.
    pub verdict: Verdict,
    /// The policy's answer with its version, as recorded with the request (`None` for a
    /// request the host admitted itself).
    pub(crate) record: Option<Value>,
}

impl Decision {
    /// The record of the decision (JSON), stored with the request.
    pub fn record(&self) -> Option<&Value> {
        self.record.as_ref()
    }

    /// The same record, now refused for `reason` (a later check, such as a changed tool,
    /// refused what the policy allowed; the record keeps what the policy said).
    pub fn refused(self, reason: String) -> Decision {
        Decision {
            verdict: Verdict::Deny { reason },
            record: self.record,
        }
    }
}

/// The decision for request `target` by `principal` on `server`. Without a policy every
/// signed-in person may use every server (hosts say so loudly at start-up).
pub fn decide(
    policy: Option<&PolicyInForce>,
    principal: &Principal,
    server: &str,
    target: &Target,
) -> Decision {
    if target.scope == Scope::Session {
        return Decision {
            verdict: Verdict::Allow,
            record: None,
        };
    }
    let Some(p) = policy else {
        return Decision {
            verdict: Verdict::Allow,
            record: Some(json!({ "effect": "allow", "policy_version": "none" })),
        };
    };
    let decision = match target.scope {
        Scope::Rule => p.policy.evaluate(&target.policy_request(principal, server)),
        Scope::Server | Scope::Session => gatehouse_policy::Decision {
            effect: match may_connect(Some(p), principal, server) {
                Ok(()) => Effect::Allow,
                Err(message) => Effect::Deny { message },
            },
            rule: None,
            default_source: None,
            masking_profile: None,
            grant: None,
        },
    };
    let mut record = serde_json::to_value(&decision).unwrap_or(json!({}));
    record["policy_version"] = json!(p.version);
    let verdict = match decision.effect {
        Effect::Allow => Verdict::Allow,
        Effect::Deny { message } => Verdict::Deny { reason: message },
        Effect::RequireApproval {
            approvers,
            quorum,
            ttl,
            mode,
        } => Verdict::NeedsApproval(ApprovalTerms {
            approvers,
            quorum,
            ttl,
            mode,
            rule: decision.rule,
        }),
    };
    Decision {
        verdict,
        record: Some(record),
    }
}

/// May this person use this server at all? Checked when a session opens, before any
/// upstream is touched, and for every request without a target. `Err` is the refusal.
pub fn may_connect(
    policy: Option<&PolicyInForce>,
    principal: &Principal,
    server: &str,
) -> Result<(), String> {
    match policy {
        Some(p) if !p.policy.may_connect(principal, server) => {
            Err(format!("the policy does not let you use server `{server}`"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::classify::{Call, classify};
    use gatehouse_proxy_core::jsonrpc::Message;

    pub(crate) fn policy() -> PolicyInForce {
        let yaml = "version: 1
default: deny
rules:
  - name: eng-query
    principals: {groups: [eng]}
    servers: [db]
    tools: [query]
    effect: allow
  - name: drop-needs-dba
    principals: {groups: [eng]}
    servers: [db]
    tools: [drop]
    effect: require_approval
    approval: {approvers: [dba], ttl: 10m, mode: retry}
  - name: dba-all
    principals: {groups: [dba]}
    servers: [db]
    effect: allow
";
        PolicyInForce::new(Policy::from_yaml(yaml).unwrap(), 3)
    }

    fn target(v: Value) -> Target {
        match classify(&Message::from_value(v).unwrap()) {
            Call::Request(t) => t,
            Call::Passing => unreachable!(),
        }
    }

    fn call(tool: &str) -> Target {
        target(
            json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":tool,"arguments":{}}}),
        )
    }

    #[test]
    fn the_principal_of_the_request_decides() {
        let p = policy();
        let eng = Principal::new("ada", ["eng"]);
        let gone = Principal::new("ada", Vec::<String>::new());
        let d = decide(Some(&p), &eng, "db", &call("query"));
        assert_eq!(d.verdict, Verdict::Allow);
        assert_eq!(d.record().unwrap()["rule"], "eng-query");
        assert_eq!(d.record().unwrap()["policy_version"], p.version.as_str());
        assert!(p.version.starts_with("v3-"));
        let d = decide(Some(&p), &gone, "db", &call("query"));
        assert!(matches!(d.verdict, Verdict::Deny { .. }), "{d:?}");
    }

    #[test]
    fn approvals_come_typed() {
        let d = decide(
            Some(&policy()),
            &Principal::new("ada", ["eng"]),
            "db",
            &call("drop"),
        );
        let Verdict::NeedsApproval(terms) = d.verdict else {
            panic!("{d:?}")
        };
        assert_eq!(terms.mode, ApprovalMode::Retry);
        assert_eq!(terms.ttl, Duration::from_secs(600));
        assert_eq!(terms.needs(), "1 approval(s) from dba");
        assert_eq!(terms.rule.as_deref(), Some("drop-needs-dba"));
    }

    #[test]
    fn requests_without_a_target_need_only_the_server() {
        let p = policy();
        let list = target(json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}));
        let dba = Principal::new("bo", ["dba"]);
        assert_eq!(decide(Some(&p), &dba, "db", &list).verdict, Verdict::Allow);
        let d = decide(Some(&p), &Principal::new("eve", ["sales"]), "db", &list);
        assert_eq!(
            d.verdict,
            Verdict::Deny {
                reason: "the policy does not let you use server `db`".into()
            }
        );
        assert!(may_connect(Some(&p), &dba, "db").is_ok());
        // Opening a session is the host's admission, not decided (nor recorded) again.
        let init = target(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}));
        let d = decide(Some(&p), &Principal::new("eve", ["sales"]), "db", &init);
        assert_eq!((&d.verdict, d.record()), (&Verdict::Allow, None));
        assert!(may_connect(None, &dba, "anything").is_ok());
    }

    #[test]
    fn without_a_policy_everything_passes_and_the_record_says_so() {
        let d = decide(None, &Principal::new("ada", ["eng"]), "db", &call("drop"));
        assert_eq!(d.verdict, Verdict::Allow);
        assert_eq!(d.record().unwrap()["policy_version"], "none");
        let refused = d.refused("changed".into());
        assert_eq!(
            refused.verdict,
            Verdict::Deny {
                reason: "changed".into()
            }
        );
        assert_eq!(
            refused.record().unwrap()["effect"],
            "allow",
            "the policy's answer stays on record"
        );
    }
}
