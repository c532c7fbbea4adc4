//! Argument conditions: what a rule requires of the value at a JSON pointer.
//!
//! A regex condition holds when the pattern is found. A `sql:` or `command:` condition is a
//! requirement the value meets or fails; it holds, in an `allow` rule, when the value meets it
//! (the rule permits only such values) and, in a `deny` or `require_approval` rule, when the
//! value fails it (the rule catches everything else, including text that cannot be parsed).

use crate::command::CommandRequirement;
use crate::sql::SqlRequirement;
use regex::Regex;
use serde_json::Value;

/// What a condition looks for at its pointer.
#[derive(Debug)]
pub(crate) enum Matcher {
    /// `matches:`: a regex over the text.
    Regex(Regex),
    /// `sql:`: a requirement on parsed SQL.
    Sql(SqlRequirement),
    /// `command:`: a requirement on a shell command line or argv.
    Command(CommandRequirement),
}

/// Whether a condition holds for a request and, for requirements, why.
pub(crate) enum Verdict {
    /// The condition does not hold: the rule does not apply.
    Miss,
    /// The condition holds; for a failed requirement, the reason (e.g. "statement 2 is DROP
    /// TABLE customers, which is not a read-only query").
    Hit(Option<String>),
}

/// One argument condition: a matcher applied to the value at a JSON pointer. A missing value
/// never matches.
#[derive(Debug)]
pub(crate) struct ArgCondition {
    pub(crate) pointer: String,
    pub(crate) matcher: Matcher,
}

impl ArgCondition {
    /// `catches`: the rule refuses or holds (deny, require_approval) rather than allows.
    pub(crate) fn verdict(&self, arguments: &Value, catches: bool) -> Verdict {
        let Some(value) = arguments.pointer(&self.pointer) else {
            return Verdict::Miss;
        };
        let outcome = match &self.matcher {
            Matcher::Regex(regex) => {
                let found = match value {
                    Value::String(s) => regex.is_match(s),
                    other => regex.is_match(&other.to_string()),
                };
                return if found {
                    Verdict::Hit(None)
                } else {
                    Verdict::Miss
                };
            }
            Matcher::Sql(requirement) => match value {
                Value::String(text) => requirement.check(text),
                _ => Err(format!(
                    "the argument at `{}` is not SQL text",
                    self.pointer
                )),
            },
            Matcher::Command(requirement) => requirement.check(value),
        };
        match (outcome, catches) {
            (Ok(()), false) => Verdict::Hit(None),
            (Err(reason), true) => Verdict::Hit(Some(reason)),
            _ => Verdict::Miss,
        }
    }

    /// Canonical text of the condition, for finding rules with identical conditions.
    pub(crate) fn key(&self) -> String {
        match &self.matcher {
            Matcher::Regex(r) => format!("{}\u{1f}{}", self.pointer, r.as_str()),
            other => format!("{}\u{1f}{other:?}", self.pointer),
        }
    }
}
