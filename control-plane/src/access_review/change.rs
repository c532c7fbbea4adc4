//! What a revoke changes: the identity provider groups to take the person out of, the
//! grants still live, and a deny rule for the policy. The rule goes into a draft of the
//! policy in force (one rule per revoked entry, first in `rules:` so nothing before it is
//! disturbed) that an admin publishes through the usual policy flow.

use super::{Entry, Review};
use gatehouse_policy::Policy;
use serde::{Deserialize, Serialize};

/// The concrete change a revoke asks for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[schema(as = AccessReviewChange)]
pub struct Change {
    /// One sentence for people: what to do.
    pub note: String,
    /// Groups at the identity provider that carry the access: remove the person from them.
    pub idp_groups: Vec<String>,
    /// Just-in-time grants still live: end them (`gatehouse access revoke ID`).
    pub grants: Vec<String>,
    /// A policy rule (YAML) that takes the server away from the person.
    pub policy_rule: String,
}

/// The name of the deny rule a revoke adds.
fn rule_name(review: &str, entry: i64) -> String {
    format!("access-review-{review}-{entry}")
}

/// The change for revoking `e` in review `review`, decided now (`now`, RFC 3339).
pub fn for_revoke(review: &str, e: &Entry, now: &str) -> Change {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut groups: Vec<String> = e
        .access
        .iter()
        .filter_map(|a| a.via.as_deref()?.strip_prefix("group:").map(String::from))
        .collect();
    groups.dedup();
    let grants: Vec<String> = e
        .access
        .iter()
        .filter(|a| a.kind == "grant" && a.until.as_deref().is_some_and(|u| u > now))
        .filter_map(|a| a.grant.clone())
        .collect();
    let policy_rule = format!(
        "- name: {}\n  description: {}\n  principals: {{users: [{}]}}\n  servers: [{}]\n  effect: deny\n  message: {}\n",
        rule_name(review, e.entry),
        q(&format!(
            "Access review {review} revoked {}'s access to {}",
            e.person, e.server
        )),
        q(&e.person),
        q(&e.server),
        q(&format!(
            "your access to {} was revoked by access review {review}; ask its owners",
            e.server
        )),
    );
    let mut steps = Vec::new();
    if !groups.is_empty() {
        steps.push(format!(
            "remove {} from the identity provider group{} {}",
            e.person,
            if groups.len() == 1 { "" } else { "s" },
            groups.join(", ")
        ));
    }
    if !grants.is_empty() {
        steps.push(format!("end grant {}", grants.join(", ")));
    }
    steps.push(format!(
        "or publish the review's policy draft (rule `{}`), which denies {} on {}",
        rule_name(review, e.entry),
        e.person,
        e.server
    ));
    if steps.len() == 1 {
        steps[0] = steps[0].trim_start_matches("or ").to_string();
    }
    Change {
        note: steps.join("; "),
        idp_groups: groups,
        grants,
        policy_rule,
    }
}

/// The policy `document` with a deny rule for every revoked entry of `review`; `None`
/// when nothing was revoked or the result would not be a valid policy.
pub fn draft(document: &str, review: &Review) -> Option<String> {
    let rules: Vec<&str> = review
        .entries
        .iter()
        .filter_map(|e| e.change.as_ref().map(|c| c.policy_rule.as_str()))
        .collect();
    if rules.is_empty() {
        return None;
    }
    let lines: Vec<&str> = document.lines().collect();
    let at = lines.iter().position(|l| l.trim_end() == "rules:");
    let (head, indent, tail) = match at {
        Some(i) => {
            // Items are indented as the first one after `rules:` is.
            let indent = lines[i + 1..]
                .iter()
                .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                .map(|l| l.len() - l.trim_start().len())
                .unwrap_or(2);
            (lines[..=i].join("\n"), indent, lines[i + 1..].join("\n"))
        }
        None => (format!("{}\nrules:", document.trim_end()), 2, String::new()),
    };
    let pad = " ".repeat(indent);
    let mut text = head;
    text.push('\n');
    text.push_str(&format!(
        "{pad}# Added by access review {}: one rule per revoked entry.\n",
        review.id
    ));
    for r in rules {
        for l in r.lines() {
            text.push_str(&pad);
            text.push_str(l);
            text.push('\n');
        }
    }
    text.push_str(&tail);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Policy::from_yaml(&text).ok().map(|_| text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access_review::Access;
    use gatehouse_policy::Principal;

    fn entry() -> Entry {
        Entry {
            entry: 3,
            person: "bob".into(),
            server: "customers".into(),
            access: vec![Access {
                kind: "rule".into(),
                rule: Some("eng".into()),
                via: Some("group:engineers".into()),
                grant: None,
                role: None,
                from: None,
                until: None,
            }],
            lost_at: None,
            never_used: true,
            sessions: 0,
            calls: 0,
            refusals: 0,
            last_used: None,
            reviewers: vec![],
            decision: Some("revoke".into()),
            comment: Some("left the team".into()),
            decided_by: Some("olga".into()),
            decided_at: None,
            change: None,
        }
    }

    #[test]
    fn a_revoke_names_the_group_and_the_draft_denies_the_person() {
        let mut e = entry();
        let c = for_revoke("r1", &e, "2026-12-07T00:00:00Z");
        assert_eq!(c.idp_groups, ["engineers"]);
        assert!(
            c.note
                .starts_with("remove bob from the identity provider group engineers"),
            "{}",
            c.note
        );
        e.change = Some(c);
        let doc = "version: 1\n# people\nrules:\n    # engineers\n    - name: eng\n      principals: {groups: [engineers]}\n      effect: allow\n";
        let review = Review {
            id: "r1".into(),
            period: "2026-Q4".into(),
            from: String::new(),
            to: String::new(),
            covered_to: String::new(),
            state: "open".into(),
            started_by: "a".into(),
            started_at: String::new(),
            closed_by: None,
            closed_at: None,
            result_digest: None,
            total: 1,
            decided: 1,
            never_used: 1,
            entries: vec![e],
            policy_draft: None,
        };
        let text = draft(doc, &review).expect("a valid draft");
        let p = Policy::from_yaml(&text).unwrap();
        assert!(!p.may_connect(&Principal::new("bob", ["engineers"]), "customers"));
        assert!(p.may_connect(&Principal::new("alice", ["engineers"]), "customers"));
        assert!(text.contains("# engineers\n    - name: eng"), "{text}");
    }
}
