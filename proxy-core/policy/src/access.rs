//! Just-in-time access in the policy: a rule may reach people only while they hold a live
//! grant (`principals: {groups: [...], request: {role, max, approval}}`), and a server may
//! have no standing access at all (`servers: {NAME: {standing_access: false}}`).
//!
//! The policy does no I/O: the host reads a person's grants for the server being called
//! (only when [`Policy::needs_grants`] says the answer can depend on them) and passes them
//! in [`Principal::grants`](crate::Principal). A rule that offers a role then applies only
//! to a principal holding a live grant of that role on that server, and a decision made
//! under a grant names it.

use crate::decision::Principal;
use crate::policy::Policy;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What a rule offers on request: a role, for at most `max`, granted by approvers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestOffer {
    /// The role people ask for (`gatehouse access request SERVER --role ROLE`).
    pub role: String,
    /// The longest grant one request may ask for.
    pub max: Duration,
    /// Groups (or people) whose members may approve a request.
    pub approvers: Vec<String>,
    /// Distinct approvals needed.
    pub quorum: u32,
    /// How long a request waits for its decision.
    pub ttl: Duration,
}

/// A grant the host found for a person on a server: live, or the latest that ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldGrant {
    /// The grant's id (recorded with every decision made under it).
    pub id: String,
    /// The server it is for.
    pub server: String,
    /// The role it grants.
    pub role: String,
    /// When it ends (RFC 3339).
    pub ends_at: String,
    /// `None` while live; otherwise how it ended, in words for the caller
    /// ("expired at 2026-12-07T10:00:00Z", "was revoked at ... by bo").
    pub ended: Option<String>,
}

/// The offer a person may use, with the rule that makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The rule's name (recorded on the request and the grant).
    pub rule: String,
    /// What it offers.
    pub terms: RequestOffer,
}

/// Why a request cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfferError {
    /// No rule offers this role on this server.
    #[error("no policy rule offers role `{role}` on server `{server}`{hint}")]
    NoSuchRole {
        /// Asked role.
        role: String,
        /// Server.
        server: String,
        /// The roles that are offered there, if any.
        hint: String,
    },
    /// A rule offers it, but not to this person.
    #[error(
        "policy rule `{rule}` offers role `{role}` on server `{server}` only to {who}; you are not among them"
    )]
    NotCovered {
        /// The rule.
        rule: String,
        /// Role.
        role: String,
        /// Server.
        server: String,
        /// Who it covers.
        who: String,
    },
    /// The duration asked for is longer than the rule allows.
    #[error(
        "role `{role}` on server `{server}` can be granted for at most {max} (policy rule `{rule}`); ask for {max} or less"
    )]
    TooLong {
        /// The rule.
        rule: String,
        /// Role.
        role: String,
        /// Server.
        server: String,
        /// The rule's maximum, in words.
        max: String,
    },
}

/// `2h`, `90m`, `45s`: a duration as people write it back.
pub fn words(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

impl Principal {
    /// The live grant of `role` on `server`, if the host found one.
    pub fn live_grant(&self, server: &str, role: &str) -> Option<&HeldGrant> {
        self.grants
            .iter()
            .find(|g| g.ended.is_none() && g.server == server && g.role == role)
    }
}

impl Policy {
    /// Whether a decision on `server` can depend on grants: some rule offers a role there,
    /// or the server has no standing access. Hosts read grants only then, so calls to
    /// other servers cost nothing more.
    pub fn needs_grants(&self, server: &str) -> bool {
        !self.standing_access(server)
            || self.rules.iter().any(|r| {
                r.request.is_some()
                    && r.servers
                        .as_ref()
                        .is_none_or(|ps| ps.iter().any(|p| p.is_match(server)))
            })
    }

    /// False when `servers.NAME.standing_access: false`: the server is reachable only
    /// under a live grant.
    pub fn standing_access(&self, server: &str) -> bool {
        self.servers.get(server).is_none_or(|s| s.standing_access)
    }

    /// The roles offered on `server` (for hints), sorted.
    pub fn offered_roles(&self, server: &str) -> Vec<String> {
        let mut roles: Vec<String> = self
            .rules
            .iter()
            .filter(|r| r.offers_on(server))
            .filter_map(|r| r.request.as_ref().map(|o| o.role.clone()))
            .collect();
        roles.sort();
        roles.dedup();
        roles
    }

    /// The offer `principal` may use to ask for `role` on `server` for `duration`, or why
    /// they cannot ask.
    pub fn offer(
        &self,
        principal: &Principal,
        server: &str,
        role: &str,
        duration: Duration,
    ) -> Result<Offer, OfferError> {
        let offering: Vec<_> = self
            .rules
            .iter()
            .filter(|r| r.offers_on(server))
            .filter(|r| r.request.as_ref().is_some_and(|o| o.role == role))
            .collect();
        let Some(first) = offering.first() else {
            let roles = self.offered_roles(server);
            return Err(OfferError::NoSuchRole {
                role: role.into(),
                server: server.into(),
                hint: if roles.is_empty() {
                    String::new()
                } else {
                    format!("; roles offered there: {}", roles.join(", "))
                },
            });
        };
        let Some(rule) = offering.iter().find(|r| r.covers(principal)) else {
            let mut who: Vec<String> = first.groups.iter().map(|g| format!("group {g}")).collect();
            who.extend(first.users.iter().cloned());
            return Err(OfferError::NotCovered {
                rule: first.name.clone(),
                role: role.into(),
                server: server.into(),
                who: who.join(", "),
            });
        };
        let terms = rule.request.clone().expect("filtered on request");
        if duration > terms.max {
            return Err(OfferError::TooLong {
                rule: rule.name.clone(),
                role: role.into(),
                server: server.into(),
                max: words(terms.max),
            });
        }
        Ok(Offer {
            rule: rule.name.clone(),
            terms,
        })
    }

    /// For a call a rule held or decided: each `sql:` argument of the rule, pretty-printed
    /// in the rule's dialect (pointer, statement), for approvers to read.
    pub fn statements(&self, rule: &str, arguments: &serde_json::Value) -> Vec<(String, String)> {
        let Some(rule) = self.rules.iter().find(|r| r.name == rule) else {
            return Vec::new();
        };
        rule.arguments
            .iter()
            .filter_map(|c| match &c.matcher {
                crate::matcher::Matcher::Sql(req) => {
                    let text = arguments.pointer(&c.pointer)?.as_str()?;
                    Some((
                        c.pointer.clone(),
                        crate::sql::pretty::pretty(req.dialect, text)?,
                    ))
                }
                _ => None,
            })
            .collect()
    }

    /// Why rule `rule` held a call with these arguments, when a `sql:` or `command:`
    /// requirement made it apply (e.g. "statement 1 is DELETE, which is not a read-only
    /// query"), for approvers to read.
    pub fn hold_reason(&self, rule: &str, arguments: &serde_json::Value) -> Option<String> {
        let rule = self.rules.iter().find(|r| r.name == rule)?;
        rule.arguments
            .iter()
            .find_map(|c| match c.verdict(arguments, true) {
                crate::matcher::Verdict::Hit(reason) => reason,
                crate::matcher::Verdict::Miss => None,
            })
    }

    /// Why `principal` has no access to `server` for lack of a grant, if that is why: their
    /// grant ended, or the server has no standing access. For refusals of a whole session.
    pub fn without_grant(&self, principal: &Principal, server: &str) -> Option<String> {
        self.grant_ended(principal, server)
            .or_else(|| (!self.standing_access(server)).then(|| self.no_standing_access(server)))
    }

    /// The refusal a person gets on `server` once their grant there ended (and no other
    /// grant is live there): it says which grant ended, when, and how to ask again.
    pub(crate) fn grant_ended(&self, principal: &Principal, server: &str) -> Option<String> {
        if principal
            .grants
            .iter()
            .any(|g| g.server == server && g.ended.is_none())
        {
            return None;
        }
        let g = principal
            .grants
            .iter()
            .find(|g| g.server == server && g.ended.is_some())?;
        Some(format!(
            "your access grant `{}` (role `{}` on server `{}`) ended: it {}; ask again with `gatehouse access request {} --role {} --for 1h --reason ...`",
            g.id,
            g.role,
            g.server,
            g.ended.as_deref().unwrap_or("ended"),
            g.server,
            g.role
        ))
    }

    /// The refusal on a server with no standing access, for a person without a grant.
    pub(crate) fn no_standing_access(&self, server: &str) -> String {
        let roles = self.offered_roles(server);
        let ask = match roles.first() {
            Some(role) => format!(
                "ask for time-boxed access with `gatehouse access request {server} --role {role} --for 1h --reason ...` (roles: {})",
                roles.join(", ")
            ),
            None => "no policy rule offers access on request there; ask a Gatehouse administrator"
                .into(),
        };
        format!("server `{server}` has no standing access; {ask}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EffectKind, Request};
    use serde_json::json;

    const DOC: &str = "version: 1
default: deny
servers:
  prod-db: {standing_access: false}
rules:
  - name: eng-read
    principals: {groups: [eng]}
    servers: [prod-db]
    tools: [query]
    effect: allow
  - name: dba-write-on-request
    principals:
      groups: [eng]
      request: {role: dba-write, max: 4h, approval: {approvers: [dba], quorum: 1, ttl: 30m}}
    servers: [prod-db]
    effect: allow
";

    fn grant(ended: Option<&str>) -> HeldGrant {
        HeldGrant {
            id: "g1".into(),
            server: "prod-db".into(),
            role: "dba-write".into(),
            ends_at: "2026-12-07T12:00:00Z".into(),
            ended: ended.map(String::from),
        }
    }

    fn call(principal: Principal) -> Request {
        Request {
            principal,
            server: "prod-db".into(),
            method: "tools/call".into(),
            tool: Some("query".into()),
            arguments: json!({}),
        }
    }

    #[test]
    fn a_rule_offering_a_role_applies_only_under_a_live_grant() {
        let p = Policy::from_yaml(DOC).unwrap();
        assert!(p.needs_grants("prod-db"));
        assert!(!p.needs_grants("other"));
        let mut ada = Principal::new("ada", ["eng"]);
        let d = p.evaluate(&call(ada.clone()));
        assert_eq!(d.effect.kind(), EffectKind::Deny, "no standing access");
        assert!(format!("{d:?}").contains("--role dba-write"), "{d:?}");
        ada.grants = vec![grant(None)];
        let d = p.evaluate(&call(ada.clone()));
        assert_eq!(d.effect.kind(), EffectKind::Allow);
        assert_eq!(d.rule.as_deref(), Some("dba-write-on-request"));
        assert_eq!(d.grant.as_deref(), Some("g1"));
        assert!(p.may_connect(&ada, "prod-db"));
        ada.grants = vec![grant(Some("expired at 2026-12-07T12:00:00Z"))];
        let d = p.evaluate(&call(ada.clone()));
        let crate::Effect::Deny { message } = d.effect else {
            panic!()
        };
        assert!(
            message.contains("grant `g1`") && message.contains("expired at 2026-12-07T12:00:00Z"),
            "{message}"
        );
        assert!(!p.may_connect(&ada, "prod-db"));
    }

    #[test]
    fn offers_check_role_person_and_duration() {
        let p = Policy::from_yaml(DOC).unwrap();
        let ada = Principal::new("ada", ["eng"]);
        let h = |n: u64| Duration::from_secs(n * 3600);
        let o = p.offer(&ada, "prod-db", "dba-write", h(2)).unwrap();
        assert_eq!(
            (o.rule.as_str(), o.terms.quorum),
            ("dba-write-on-request", 1)
        );
        let e = p.offer(&ada, "prod-db", "root", h(1)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no policy rule offers role `root` on server `prod-db`; roles offered there: dba-write"
        );
        let e = p.offer(&ada, "prod-db", "dba-write", h(5)).unwrap_err();
        assert!(e.to_string().contains("at most 4h"), "{e}");
        let sam = Principal::new("sam", ["sales"]);
        let e = p.offer(&sam, "prod-db", "dba-write", h(1)).unwrap_err();
        assert!(e.to_string().contains("only to group eng"), "{e}");
    }

    #[test]
    fn bad_request_shapes_are_reported_at_their_line_and_column() {
        let doc = "version: 1
servers:
  db: {standing_access: maybe}
rules:
  - name: a
    principals:
      groups: [eng]
      request: {role: \"dba write\", max: 9d}
    effect: allow
  - name: b
    principals: {request: {role: r, max: 1h, approval: {approvers: [dba]}}}
    effect: deny
";
        let errors = Policy::from_yaml(doc).unwrap_err().to_string();
        for expected in [
            "3:25: standing_access of server `db` must be true or false",
            "8:23: rule `a`: role `dba write` may hold only letters",
            "8:41: rule `a`: max `9d` is out of range",
            "8:16: request of rule `a` has no `approval`",
            "12:13: rule `b`: a rule that offers a role on request",
        ] {
            assert!(errors.contains(expected), "{expected} not in:\n{errors}");
        }
    }
}
