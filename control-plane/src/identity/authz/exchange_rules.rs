//! What makes a token-exchange trust rule safe, and the replay guard of exchanged
//! tokens. A CI provider signs tokens for every repository on it, and a workflow picks
//! its own audience, so a rule that requires no claim trusts every stranger's pipeline;
//! a rule without a name prefix lets a pipeline become a person (`actor = "alice"`).
//! Both are refused at start, with what to write instead.

use crate::config::TrustedIssuer;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;

/// Why a trust rule is refused at start; `None` when it is sound.
pub fn problem(rule: &TrustedIssuer) -> Option<String> {
    let at = format!("[[authz.trusted_issuers]] for `{}`", rule.issuer);
    if rule.audience.trim().is_empty() {
        return Some(format!(
            "{at}: `audience` is empty; name the audience the CI token must carry (e.g. \"https://gatehouse.example/mcp\")"
        ));
    }
    if rule.require.is_empty() || rule.require.values().any(|v| v.trim().is_empty()) {
        return Some(format!(
            "{at}: `require` is empty, so every pipeline of every customer of this CI provider would be trusted; \
             require immutable claims, e.g. require = {{ repository_id = \"123456\", repository_owner_id = \"7890\" }} \
             (GitHub) or {{ project_id = \"42\" }} (GitLab)"
        ));
    }
    if rule.user_prefix.trim().is_empty() {
        return Some(format!(
            "{at}: `user_prefix` is empty, so a pipeline could take a person's name (user_claim = \"{}\"); \
             set a prefix people's names never start with, e.g. user_prefix = \"ci:\"",
            rule.user_claim
        ));
    }
    None
}

/// Subject tokens already exchanged, by digest, until their expiry: a CI token is
/// exchanged once (a pipeline asks its CI system for a new one each time).
#[derive(Debug, Default)]
pub struct SeenTokens {
    seen: Mutex<HashMap<[u8; 32], i64>>,
}

/// Subject tokens remembered at most; beyond it the expired ones are dropped first.
const SEEN_MAX: usize = 100_000;

impl SeenTokens {
    /// Notes `token` (valid until `exp`, seconds since the epoch); false when it was
    /// already exchanged within its lifetime.
    pub fn first_use(&self, token: &str, exp: i64, now: i64) -> bool {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= SEEN_MAX {
            seen.retain(|_, e| *e > now);
        }
        match seen.get(&digest) {
            Some(e) if *e > now => false,
            _ => {
                seen.insert(digest, exp.max(now + 60));
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(require: &[(&str, &str)], prefix: &str) -> TrustedIssuer {
        TrustedIssuer {
            issuer: "https://token.actions.githubusercontent.com".into(),
            audience: "https://gh.example/mcp".into(),
            require: require
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            user_claim: "actor".into(),
            user_prefix: prefix.into(),
            groups: vec![],
        }
    }

    #[test]
    fn open_rules_are_refused_and_tokens_are_single_use() {
        assert!(problem(&rule(&[], "ci:")).unwrap().contains("require"));
        assert!(
            problem(&rule(&[("repository_id", "1")], ""))
                .unwrap()
                .contains("user_prefix")
        );
        assert!(problem(&rule(&[("repository_id", "1")], "ci:")).is_none());
        let seen = SeenTokens::default();
        assert!(seen.first_use("t", 2_000, 1_000));
        assert!(!seen.first_use("t", 2_000, 1_500));
        assert!(seen.first_use("t", 2_000, 2_100));
    }
}
