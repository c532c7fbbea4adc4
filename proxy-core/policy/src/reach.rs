//! Who a policy lets use a server at all, and why: what an access review lists. The
//! gateway decides calls with [`Policy::evaluate`]; a review asks the coarser question
//! [`Policy::may_connect`] answers, and also needs the rules (and the groups through
//! which they matched) that give the access, so a reviewer can say which to take away.

use crate::decision::{Effect, Principal};
use crate::policy::{DefaultEffect, Policy};

/// How a principal reaches a server under one policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reach {
    /// The allow and require_approval rules that apply to the principal on the server.
    pub paths: Vec<ReachPath>,
    /// The server's (or the document's) default is `allow`.
    pub by_default: bool,
    /// A deny rule with no method, tool or argument condition refuses the whole server.
    pub blocked_by: Option<String>,
}

/// One rule that gives a principal access to a server.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReachPath {
    /// The rule's name.
    pub rule: String,
    /// `user` (named in `principals.users`), `group:NAME` or `everyone` (no `principals`).
    pub via: String,
}

impl Reach {
    /// True when the principal could open a session on the server.
    pub fn usable(&self) -> bool {
        self.blocked_by.is_none() && (self.by_default || !self.paths.is_empty())
    }
}

impl Policy {
    /// The rules through which `principal` may use `server` (the same judgement as
    /// [`Policy::may_connect`], with its reasons).
    pub fn reach(&self, principal: &Principal, server: &str) -> Reach {
        let mut reach = Reach {
            by_default: self.default_for(server).0 == DefaultEffect::Allow,
            ..Reach::default()
        };
        for rule in &self.rules {
            if !rule.applies_to(principal, server) {
                continue;
            }
            match rule.effect {
                Effect::Deny { .. }
                    if rule.arguments.is_empty()
                        && rule.methods.is_none()
                        && rule.tools.is_none() =>
                {
                    reach.blocked_by.get_or_insert(rule.name.clone());
                }
                Effect::Deny { .. } => {}
                _ => {
                    let via = if rule.any_principal {
                        vec!["everyone".to_string()]
                    } else {
                        let mut v: Vec<String> = principal
                            .groups
                            .iter()
                            .filter(|g| rule.groups.contains(g))
                            .map(|g| format!("group:{g}"))
                            .collect();
                        if rule.users.contains(&principal.user) {
                            v.insert(0, "user".to_string());
                        }
                        v
                    };
                    for via in via {
                        reach.paths.push(ReachPath {
                            rule: rule.name.clone(),
                            via,
                        });
                    }
                }
            }
        }
        reach
    }

    /// The people or groups the document names as owners of `server` (`servers.NAME.owners`).
    pub fn owners(&self, server: &str) -> &[String] {
        self.servers
            .get(server)
            .map(|s| s.owners.as_slice())
            .unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "version: 1\ndefault: deny\nservers:\n  db: {owners: [olga, dba-leads]}\nrules:\n\
  - {name: eng, principals: {groups: [engineers, oncall]}, servers: [db], effect: allow}\n\
  - {name: bob-too, principals: {users: [bob]}, servers: [db], tools: [query], effect: allow}\n\
  - {name: no-contractors, principals: {groups: [contractors]}, servers: [db], effect: deny}\n";

    #[test]
    fn names_every_rule_and_group_that_gives_access() {
        let p = Policy::from_yaml(DOC).unwrap();
        let r = p.reach(&Principal::new("bob", ["engineers", "oncall"]), "db");
        assert!(r.usable());
        let paths: Vec<_> = r.paths.iter().map(|p| (&*p.rule, &*p.via)).collect();
        assert_eq!(
            paths,
            [
                ("eng", "group:engineers"),
                ("eng", "group:oncall"),
                ("bob-too", "user")
            ]
        );
        assert_eq!(p.owners("db"), ["olga", "dba-leads"]);
        assert!(p.owners("other").is_empty());
    }

    #[test]
    fn a_whole_server_denial_blocks_and_no_rule_means_no_reach() {
        let p = Policy::from_yaml(DOC).unwrap();
        let r = p.reach(&Principal::new("carl", ["engineers", "contractors"]), "db");
        assert_eq!(r.blocked_by.as_deref(), Some("no-contractors"));
        assert!(!r.usable());
        assert!(!p.reach(&Principal::new("sam", ["sales"]), "db").usable());
    }
}
