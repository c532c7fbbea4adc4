//! The compiled policy and its evaluator.
//!
//! Precedence (also in README.md):
//! 1. Among the rules that match a request, `deny` beats `require_approval` beats `allow`.
//! 2. Among matching rules with the same effect, the most specific wins, then the earliest in the
//!    document. Specificity compares, in order: tools (exact > glob > absent), number of argument
//!    conditions, principals (users only > groups > absent), servers (exact > glob > absent),
//!    methods (listed > absent).
//! 3. No matching rule: the server's `default`, else the document's `default`, else deny.
//!
//! Which rules are even looked at is decided by [`crate::index`].

use crate::decision::{Decision, DefaultSource, Effect, EffectKind, Principal, Request};
use crate::index::Index;
use crate::rule::Rule;
use std::collections::HashMap;

/// A validated, compiled policy document. Cheap to share (`Arc<Policy>`) and immutable.
#[derive(Debug)]
pub struct Policy {
    pub(crate) default: Option<DefaultEffect>,
    pub(crate) masking_profile: Option<String>,
    pub(crate) servers: HashMap<String, ServerSettings>,
    pub(crate) rules: Vec<Rule>,
    pub(crate) index: Index,
    pub(crate) source_digest: String,
}

/// `allow` or `deny`: the only effects a default may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DefaultEffect {
    Allow,
    Deny,
}

#[derive(Debug)]
pub(crate) struct ServerSettings {
    pub(crate) default: Option<DefaultEffect>,
    pub(crate) masking_profile: Option<String>,
    /// `false`: reachable only under a live just-in-time grant ([`crate::access`]).
    pub(crate) standing_access: bool,
    /// People or groups who review access to the server (access reviews).
    pub(crate) owners: Vec<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            default: None,
            masking_profile: None,
            standing_access: true,
            owners: Vec::new(),
        }
    }
}

/// What kind of item a list (`tools/list`, `resources/list`, `prompts/list`) shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemKind {
    /// A tool; calls are `tools/call`.
    Tool,
    /// A resource (by URI); reads are `resources/read`.
    Resource,
    /// A prompt; fetched with `prompts/get`.
    Prompt,
}

impl ItemKind {
    /// The method that uses an item of this kind.
    pub fn method(self) -> &'static str {
        match self {
            ItemKind::Tool => "tools/call",
            ItemKind::Resource => "resources/read",
            ItemKind::Prompt => "prompts/get",
        }
    }
}

/// Best (most specific, then earliest) rule seen so far for one effect.
#[derive(Clone, Copy)]
struct Best(Option<(u32, u32)>);

impl Best {
    fn offer(&mut self, specificity: u32, index: u32) {
        let better = match self.0 {
            None => true,
            Some((s, i)) => specificity > s || (specificity == s && index < i),
        };
        if better {
            self.0 = Some((specificity, index));
        }
    }
}

/// A decision and, when a `sql:` or `command:` requirement made the deciding rule apply, the
/// condition that did (e.g. "statement 2 is DROP TABLE customers, which is not a read-only
/// query"). A denial's message already ends with it; approvals can show it to approvers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explained {
    /// The decision, as [`Policy::evaluate`] returns it.
    pub decision: Decision,
    /// Which requirement condition matched, if one did.
    pub reason: Option<String>,
}

impl Policy {
    /// Decides one request. Never panics; cost grows with the rules that share the request's
    /// server and tool, not with the size of the document.
    pub fn evaluate(&self, req: &Request) -> Decision {
        self.explain(req).decision
    }

    /// Decides one request like [`Policy::evaluate`] and says which requirement condition
    /// matched, when one did.
    pub fn explain(&self, req: &Request) -> Explained {
        let mut best = [Best(None); 3];
        let mut reasons: Vec<(u32, String)> = Vec::new();
        let mut best_masked_allow = Best(None);
        let standing = self.standing_access(&req.server);
        for i in self
            .index
            .candidates(&req.principal, &req.server, req.tool.as_deref())
        {
            let rule = &self.rules[i as usize];
            if !standing && !rule.without_standing_access() {
                continue;
            }
            let Some(reason) = rule.matches(req) else {
                continue;
            };
            if let Some(reason) = reason {
                reasons.push((i, reason));
            }
            let kind = rule.effect.kind();
            best[kind as usize].offer(rule.specificity, i);
            if kind == EffectKind::Allow && rule.masking_profile.is_some() {
                best_masked_allow.offer(rule.specificity, i);
            }
        }
        let deciding = [
            EffectKind::Deny,
            EffectKind::RequireApproval,
            EffectKind::Allow,
        ]
        .into_iter()
        .find_map(|k| best[k as usize].0);
        match deciding {
            Some((_, i)) => {
                let rule = &self.rules[i as usize];
                let masking_profile = match rule.effect {
                    Effect::Deny { .. } => None,
                    _ => rule
                        .masking_profile
                        .clone()
                        .or_else(|| {
                            best_masked_allow
                                .0
                                .and_then(|(_, j)| self.rules[j as usize].masking_profile.clone())
                        })
                        .or_else(|| self.fallback_masking(&req.server)),
                };
                let reason = reasons.into_iter().find_map(|(j, r)| (j == i).then_some(r));
                let effect = match (&rule.effect, &reason) {
                    (Effect::Deny { message }, Some(reason)) => Effect::Deny {
                        message: format!("{message} ({reason})"),
                    },
                    (effect, _) => effect.clone(),
                };
                let grant = rule.request.as_ref().and_then(|offer| {
                    req.principal
                        .live_grant(&req.server, &offer.role)
                        .map(|g| g.id.clone())
                });
                Explained {
                    decision: Decision {
                        effect,
                        rule: Some(rule.name.clone()),
                        default_source: None,
                        masking_profile,
                        grant,
                    },
                    reason,
                }
            }
            None => Explained {
                decision: self.default_decision(req),
                reason: None,
            },
        }
    }

    fn fallback_masking(&self, server: &str) -> Option<String> {
        self.servers
            .get(server)
            .and_then(|s| s.masking_profile.clone())
            .or_else(|| self.masking_profile.clone())
    }

    pub(crate) fn default_for(&self, server: &str) -> (DefaultEffect, DefaultSource) {
        if let Some(d) = self.servers.get(server).and_then(|s| s.default) {
            (d, DefaultSource::Server)
        } else if let Some(d) = self.default {
            (d, DefaultSource::Document)
        } else {
            (DefaultEffect::Deny, DefaultSource::Implicit)
        }
    }

    fn default_decision(&self, req: &Request) -> Decision {
        let (effect, source) = self.default_for(&req.server);
        let standing = self.standing_access(&req.server);
        // A grant that ended explains a refusal better than the default does.
        let ended = match (effect, standing) {
            (DefaultEffect::Allow, true) => None,
            _ => self.grant_ended(&req.principal, &req.server),
        };
        let effect = match effect {
            _ if ended.is_some() => Effect::Deny {
                message: ended.unwrap_or_default(),
            },
            _ if !standing => Effect::Deny {
                message: self.no_standing_access(&req.server),
            },
            DefaultEffect::Allow => Effect::Allow,
            DefaultEffect::Deny => {
                let what = match &req.tool {
                    Some(t) => format!("`{}` on `{t}`", req.method),
                    None => format!("`{}`", req.method),
                };
                Effect::Deny {
                    message: format!(
                        "denied: no policy rule lets you use {what} on server `{}`; \
                         ask a Gatehouse administrator for access",
                        req.server
                    ),
                }
            }
        };
        let masking_profile = match effect {
            Effect::Allow => self.fallback_masking(&req.server),
            _ => None,
        };
        Decision {
            effect,
            rule: None,
            default_source: Some(source),
            masking_profile,
            grant: None,
        }
    }

    /// Whether an item appears in `tools/list`, `resources/list` or `prompts/list` for this
    /// principal: true if some call to it could be allowed or approved, ignoring argument
    /// conditions. A deny rule hides the item only when it has no argument conditions (it then
    /// denies every call); an allow or approval rule shows it even with argument conditions.
    pub fn visible(&self, principal: &Principal, server: &str, kind: ItemKind, name: &str) -> bool {
        let mut usable = false;
        let standing = self.standing_access(server);
        for i in self.index.candidates(principal, server, Some(name)) {
            let rule = &self.rules[i as usize];
            if !standing && !rule.without_standing_access() {
                continue;
            }
            if !rule.matches_target(principal, server, Some(kind.method()), Some(name)) {
                continue;
            }
            match rule.effect {
                Effect::Deny { .. } if rule.arguments.is_empty() => return false,
                Effect::Deny { .. } => {}
                _ => usable = true,
            }
        }
        usable || (standing && self.default_for(server).0 == DefaultEffect::Allow)
    }

    /// Whether the principal may open a session with the server at all: true if some rule could
    /// allow or approve something there (or the default allows), unless a rule with no method,
    /// tool or argument condition denies the principal the whole server. The gateway uses it for
    /// `initialize` and other session methods that have no target.
    pub fn may_connect(&self, principal: &Principal, server: &str) -> bool {
        let mut usable = false;
        let standing = self.standing_access(server);
        for rule in &self.rules {
            if !standing && !rule.without_standing_access() {
                continue;
            }
            if !rule.applies_to(principal, server) {
                continue;
            }
            match rule.effect {
                Effect::Deny { .. }
                    if rule.arguments.is_empty()
                        && rule.methods.is_none()
                        && rule.tools.is_none() =>
                {
                    return false;
                }
                Effect::Deny { .. } => {}
                _ => usable = true,
            }
        }
        usable || (standing && self.default_for(server).0 == DefaultEffect::Allow)
    }

    /// SHA-256 (hex) of the document text this policy was read from: identifies the version in
    /// force in decisions and audit events.
    pub fn source_digest(&self) -> &str {
        &self.source_digest
    }

    /// Number of rules in the document.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }
}
