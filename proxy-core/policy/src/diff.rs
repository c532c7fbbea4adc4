//! What a draft policy would change, replayed over recorded requests
//! (`gatehouse policy test FILE --since 7d`).

use crate::decision::{Decision, EffectKind, Request};
use crate::policy::Policy;
use std::fmt;

/// One recorded request whose outcome differs between the policy in force and the draft.
#[derive(Debug, Clone, PartialEq)]
pub struct Change<'r> {
    /// Position of the request in the replayed sequence.
    pub index: usize,
    /// The request.
    pub request: &'r Request,
    /// Decision under the policy in force.
    pub before: Decision,
    /// Decision under the draft.
    pub after: Decision,
}

impl Change<'_> {
    /// e.g. `(Allow, Deny)` for "allowed → denied".
    pub fn transition(&self) -> (EffectKind, EffectKind) {
        (self.before.effect.kind(), self.after.effect.kind())
    }
}

impl fmt::Display for Change<'_> {
    /// `alice tools/call customers/query: allowed → denied (rule `no-ddl`)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.request;
        write!(f, "{} {} {}", r.principal.user, r.method, r.server)?;
        if let Some(t) = &r.tool {
            write!(f, "/{t}")?;
        }
        let (from, to) = self.transition();
        if from == to {
            write!(f, ": {from}, with different terms")?;
        } else {
            write!(f, ": {from} → {to}")?;
        }
        match &self.after.rule {
            Some(rule) => write!(f, " (rule `{rule}`)"),
            None => write!(f, " (default)"),
        }
    }
}

/// Decisions that differ between `old` and `new` for the given requests, in input order.
///
/// A request counts as changed when its effect differs (including the deny message or the
/// approval terms) or its masking profile differs; a different deciding rule with the same
/// outcome is not a change a user would notice and is not reported.
pub fn diff_decisions<'r>(
    old: &Policy,
    new: &Policy,
    requests: impl IntoIterator<Item = &'r Request>,
) -> Vec<Change<'r>> {
    requests
        .into_iter()
        .enumerate()
        .filter_map(|(index, request)| {
            let before = old.evaluate(request);
            let after = new.evaluate(request);
            let changed =
                before.effect != after.effect || before.masking_profile != after.masking_profile;
            changed.then_some(Change {
                index,
                request,
                before,
                after,
            })
        })
        .collect()
}
