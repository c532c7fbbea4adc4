//! What a draft policy would change, replayed over recorded requests
//! (`gatehouse policy test FILE --since 7d`).

use crate::decision::{Decision, EffectKind, Request};
use crate::policy::Policy;
use serde_json::Value;
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

/// How much of a request's arguments a change line shows: enough to tell two calls of
/// one tool apart, short enough for one line.
const EXCERPT_CHARS: usize = 80;

/// The arguments as compact JSON, cut to [`EXCERPT_CHARS`] with `…`; `None` when there
/// are none. They are replayed from the record, so they are already masked.
fn arguments_excerpt(arguments: &Value) -> Option<String> {
    match arguments {
        Value::Null => return None,
        Value::Object(m) if m.is_empty() => return None,
        _ => {}
    }
    let text = arguments.to_string();
    Some(match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    })
}

impl fmt::Display for Change<'_> {
    /// `alice tools/call customers/query {"sql":"drop table t"}: allowed → denied (rule `no-ddl`)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.request;
        write!(f, "{} {} {}", r.principal.user, r.method, r.server)?;
        if let Some(t) = &r.tool {
            write!(f, "/{t}")?;
        }
        if let Some(excerpt) = arguments_excerpt(&r.arguments) {
            write!(f, " {excerpt}")?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_change_line_shows_the_arguments_cut_to_one_line() {
        assert_eq!(arguments_excerpt(&Value::Null), None);
        assert_eq!(arguments_excerpt(&json!({})), None);
        assert_eq!(
            arguments_excerpt(&json!({"sql": "drop table t"})).as_deref(),
            Some(r#"{"sql":"drop table t"}"#)
        );
        let long = arguments_excerpt(&json!({"sql": "é".repeat(200)})).unwrap();
        assert_eq!(long.chars().count(), EXCERPT_CHARS + 1);
        assert!(long.ends_with('…'));
    }
}
