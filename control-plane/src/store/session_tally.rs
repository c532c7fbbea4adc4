//! What a group of records adds to each session's summary row and tool list (SQLite),
//! written once per session per group by the writer instead of by per-event triggers
//! (PostgreSQL keeps its triggers).

use gatehouse_pipeline::Record;
use rusqlite::{Transaction, params};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// Per session: how many events, how many values masked, how many calls denied or held.
#[derive(Default, Debug, PartialEq)]
struct Counts {
    messages: i64,
    masked: i64,
    denied: i64,
    held: i64,
}

/// The sums over one group, applied just before it commits.
#[derive(Default)]
pub(super) struct SessionTally<'a> {
    sessions: HashMap<&'a str, Counts>,
    tools: BTreeSet<(&'a str, &'a str)>,
}

/// The field of a recorded policy decision the summary counts.
#[derive(serde::Deserialize)]
struct Decision<'a> {
    #[serde(borrow)]
    effect: Option<std::borrow::Cow<'a, str>>,
}

impl<'a> SessionTally<'a> {
    /// Counts one record that is being inserted in this group.
    pub(super) fn add(&mut self, r: &'a Record) {
        let c = self.sessions.entry(r.session_id.as_str()).or_default();
        c.messages += 1;
        if let Some(masked) = r.masked() {
            c.masked += masked_total(masked);
        }
        if let Some(decision) = &r.decision {
            match serde_json::from_str::<Decision>(decision)
                .ok()
                .and_then(|d| d.effect)
                .as_deref()
            {
                Some("deny") => c.denied += 1,
                Some("require_approval") => c.held += 1,
                _ => {}
            }
        }
        if let Some(tool) = &r.tool {
            self.tools.insert((tool.as_str(), r.session_id.as_str()));
        }
    }

    /// One summary update per session and one row per new (tool, session) pair; `at` is
    /// the group's time, every event's `at`.
    pub(super) fn apply(&self, tx: &Transaction<'_>, at: &str) -> rusqlite::Result<()> {
        for (id, c) in &self.sessions {
            tx.prepare_cached(
                "UPDATE sessions SET message_count = message_count + ?1, last_seen_at = ?2, \
                 masked_total = masked_total + ?3, denied = denied + ?4, held = held + ?5 WHERE id = ?6",
            )?
            .execute(params![c.messages, at, c.masked, c.denied, c.held, id])?;
        }
        for (tool, session) in &self.tools {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO session_tools (tool, session_id) VALUES (?1, ?2)",
            )?
            .execute(params![tool, session])?;
        }
        Ok(())
    }
}

/// How many values a record's `masked` counts (`{"credit_card": 2, ...}`): the sum of its
/// whole-number values, as the trigger summed `json_each(masked)`. Gatehouse writes an
/// object of counts; a spooled record's text is only known to be JSON, so anything else
/// (an array, a number, text) is summed the same way and counts nothing it cannot add.
fn masked_total(masked: &str) -> i64 {
    let whole = |v: &Value| v.as_i64().unwrap_or(0);
    match serde_json::from_str::<Value>(masked) {
        Ok(Value::Object(m)) => m.values().map(whole).sum(),
        Ok(Value::Array(a)) => a.iter().map(whole).sum(),
        Ok(v) => whole(&v),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_pipeline::Direction;
    use serde_json::json;

    fn spooled(session: &str, masked: Option<&str>) -> Record {
        Record::from_capture_spool(
            session,
            Direction::ServerToClient,
            "response".into(),
            "{}".into(),
            masked.map(String::from),
        )
    }

    #[test]
    fn a_group_adds_messages_masked_values_and_decisions_per_session() {
        let records = [
            spooled("a", Some(r#"{"credit_card":2,"email":1}"#)),
            Record::note("a", "x", json!({})).with_decision(&json!({"effect": "deny"})),
            Record::note("a", "x", json!({}))
                .with_decision(&json!({"effect": "require_approval", "rule": "r"})),
            Record::note("b", "x", json!({})).with_decision(&json!({"effect": "allow"})),
            spooled("b", Some("[1, 2]")),
            spooled("b", Some("\"text\"")),
        ];
        let mut tally = SessionTally::default();
        for r in &records {
            tally.add(r);
        }
        let counts = |s: &str| tally.sessions.get(s).unwrap();
        assert_eq!(
            counts("a"),
            &Counts {
                messages: 3,
                masked: 3,
                denied: 1,
                held: 1
            }
        );
        assert_eq!(
            counts("b"),
            &Counts {
                messages: 3,
                masked: 3,
                denied: 0,
                held: 0
            }
        );
    }
}
