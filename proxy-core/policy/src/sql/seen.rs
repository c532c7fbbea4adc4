//! Texts already checked against one `sql:` condition, with the result.
//!
//! Parsing is most of a decision's cost (tens of microseconds for a kilobyte of SQL), and
//! clients send the same statements again and again: an agent re-runs its query, a
//! dashboard polls. The check is a pure function of the condition and the text, so the
//! answer for a text seen before is the answer now. The memory is bounded: only texts up
//! to [`MAX_TEXT`] bytes are kept, in two generations of [`GENERATION`] entries (a text
//! used in the last generation moves to the current one; the oldest generation is dropped
//! whole), so a client sending new text every time only costs the parse it would anyway.

use std::collections::HashMap;
use std::sync::Mutex;

/// Longer texts are checked every time (rarely repeated, and they would crowd out the rest).
const MAX_TEXT: usize = 4 * 1024;
/// Entries per generation (two are kept: at most 2 × 256 × 4 KB of text per condition).
const GENERATION: usize = 256;

type Outcome = Result<(), String>;

#[derive(Debug, Default)]
pub(crate) struct Seen {
    generations: Mutex<Generations>,
}

#[derive(Debug, Default)]
struct Generations {
    current: HashMap<Box<str>, Outcome>,
    previous: HashMap<Box<str>, Outcome>,
}

impl Generations {
    fn insert(&mut self, text: Box<str>, outcome: Outcome) {
        if self.current.len() >= GENERATION {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(text, outcome);
    }
}

impl Seen {
    /// The outcome for `text`: remembered, or `check`ed now (and remembered).
    pub(crate) fn outcome(&self, text: &str, check: impl FnOnce() -> Outcome) -> Outcome {
        if text.len() > MAX_TEXT {
            return check();
        }
        {
            let mut g = self.lock();
            if let Some(o) = g.current.get(text) {
                return o.clone();
            }
            if let Some((t, o)) = g.previous.remove_entry(text) {
                g.insert(t, o.clone());
                return o;
            }
        }
        // Checked without the lock: other texts are decided meanwhile.
        let outcome = check();
        self.lock().insert(text.into(), outcome.clone());
        outcome
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // A panic elsewhere cannot leave the maps half-written in a way that matters:
        // every entry is a finished outcome.
        self.generations.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn a_text_is_checked_once_and_memory_stays_bounded() {
        let seen = Seen::default();
        let calls = Cell::new(0);
        let check = |ok: bool| {
            calls.set(calls.get() + 1);
            if ok { Ok(()) } else { Err("no".to_string()) }
        };
        assert_eq!(seen.outcome("SELECT 1", || check(true)), Ok(()));
        assert_eq!(seen.outcome("SELECT 1", || check(false)), Ok(()));
        assert_eq!(seen.outcome("DROP x", || check(false)), Err("no".into()));
        assert_eq!(seen.outcome("DROP x", || check(true)), Err("no".into()));
        assert_eq!(calls.get(), 2);

        // Long texts are never kept.
        let long = "x".repeat(MAX_TEXT + 1);
        seen.outcome(&long, || check(true)).unwrap();
        seen.outcome(&long, || check(true)).unwrap();
        assert_eq!(calls.get(), 4);

        // Thousands of distinct texts: at most two generations are held, and a text
        // in use survives the turnover.
        for i in 0..5 * GENERATION {
            seen.outcome(&format!("SELECT {i}"), || check(true))
                .unwrap();
            seen.outcome("SELECT 1", || check(false)).unwrap();
        }
        let g = seen.lock();
        assert!(g.current.len() + g.previous.len() <= 2 * GENERATION);
        assert!(g.current.contains_key("SELECT 1") || g.previous.contains_key("SELECT 1"));
    }
}
