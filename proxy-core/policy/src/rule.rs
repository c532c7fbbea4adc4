//! One compiled rule of a policy: who, which servers, methods and tools, which argument
//! conditions, and the effect. The index ([`crate::index`]) buckets rules; the policy
//! ([`crate::policy`]) weighs the ones that match. Both read this module, neither the other
//! for it.

use crate::decision::{Effect, EffectKind, Principal, Request};
use crate::matcher::{ArgCondition, Verdict};
use crate::pattern::NamePattern;

/// A rule as the document compiled it.
#[derive(Debug)]
pub(crate) struct Rule {
    pub(crate) name: String,
    pub(crate) users: Vec<String>,
    pub(crate) groups: Vec<String>,
    /// `principals` absent: the rule applies to everyone.
    pub(crate) any_principal: bool,
    pub(crate) servers: Option<Vec<NamePattern>>,
    pub(crate) methods: Option<Vec<String>>,
    pub(crate) tools: Option<Vec<NamePattern>>,
    pub(crate) arguments: Vec<ArgCondition>,
    pub(crate) effect: Effect,
    pub(crate) masking_profile: Option<String>,
    pub(crate) specificity: u32,
    /// `principals.request`: the rule reaches its principals only under a live grant of
    /// this role (see [`crate::access`]).
    pub(crate) request: Option<crate::access::RequestOffer>,
}

impl Rule {
    /// All match conditions in a canonical text form: two rules with the same key match exactly
    /// the same requests, so one of them can never decide.
    pub(crate) fn conditions_key(&self) -> String {
        fn sorted(mut v: Vec<String>) -> String {
            v.sort();
            v.dedup();
            v.join("\u{1f}")
        }
        let patterns = |p: &Option<Vec<NamePattern>>| {
            p.as_ref()
                .map(|ps| sorted(ps.iter().map(NamePattern::text).collect()))
        };
        let arguments = sorted(self.arguments.iter().map(|c| c.key()).collect());
        let role = self.request.as_ref().map(|o| o.role.as_str());
        format!(
            "{role:?}\u{1e}{:?}\u{1e}{}\u{1e}{}\u{1e}{:?}\u{1e}{:?}\u{1e}{:?}\u{1e}{}",
            self.any_principal,
            sorted(self.users.clone()),
            sorted(self.groups.clone()),
            patterns(&self.servers),
            self.methods.clone().map(sorted),
            patterns(&self.tools),
            arguments
        )
    }

    /// Every condition but the argument conditions.
    pub(crate) fn matches_target(
        &self,
        principal: &Principal,
        server: &str,
        method: Option<&str>,
        tool: Option<&str>,
    ) -> bool {
        if let (Some(methods), Some(method)) = (&self.methods, method)
            && !methods.iter().any(|m| m == method)
        {
            return false;
        }
        if let Some(tools) = &self.tools {
            match tool {
                Some(t) if tools.iter().any(|p| p.is_match(t)) => {}
                _ => return false,
            }
        }
        self.applies_to(principal, server)
    }

    /// The principal and server conditions (for a rule offering a role, a live grant of it).
    pub(crate) fn applies_to(&self, principal: &Principal, server: &str) -> bool {
        if !self.on_server(server) || !self.covers(principal) {
            return false;
        }
        match &self.request {
            Some(offer) => principal.live_grant(server, &offer.role).is_some(),
            None => true,
        }
    }

    fn on_server(&self, server: &str) -> bool {
        self.servers
            .as_ref()
            .is_none_or(|servers| servers.iter().any(|p| p.is_match(server)))
    }

    /// Whether the rule names this person (users, groups, or nobody in particular).
    pub(crate) fn covers(&self, principal: &Principal) -> bool {
        self.any_principal
            || self.users.contains(&principal.user)
            || principal.groups.iter().any(|g| self.groups.contains(g))
    }

    /// Whether the rule offers a role on request on `server`.
    pub(crate) fn offers_on(&self, server: &str) -> bool {
        self.request.is_some() && self.on_server(server)
    }

    /// Whether the rule may decide on a server without standing access: only under a
    /// grant, or to deny.
    pub(crate) fn without_standing_access(&self) -> bool {
        self.request.is_some() || self.effect.kind() == EffectKind::Deny
    }

    /// `None` when the rule does not apply; otherwise the reason a `sql:` or `command:`
    /// requirement gave, if one did (the first, in document order).
    pub(crate) fn matches(&self, req: &Request) -> Option<Option<String>> {
        if !self.matches_target(
            &req.principal,
            &req.server,
            Some(&req.method),
            req.tool.as_deref(),
        ) {
            return None;
        }
        let catches = self.effect.kind() != EffectKind::Allow;
        let mut reason = None;
        for condition in &self.arguments {
            match condition.verdict(&req.arguments, catches) {
                Verdict::Miss => return None,
                Verdict::Hit(r) => {
                    if reason.is_none() {
                        reason = r;
                    }
                }
            }
        }
        Some(reason)
    }
}
