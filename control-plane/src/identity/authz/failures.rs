//! Caps failed-authentication events per source address and minute: the first N are
//! recorded in full, the rest only counted, and the count is recorded when the minute is
//! over (or at shutdown). A flood of bad tokens cannot fill the audit log, yet nothing
//! goes unaccounted for.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Sources tracked at once; beyond this, the oldest finished windows are dropped first.
const MAX_SOURCES: usize = 10_000;

/// What to do with one failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Record it.
    Record,
    /// Record it, and say further ones this minute are only counted (the limit).
    RecordLast(u32),
    /// Count it only.
    Suppress,
}

struct Window {
    started: Instant,
    recorded: u32,
    suppressed: u64,
}

/// Per-source failure windows.
pub struct FailureLog {
    per_minute: u32,
    windows: Mutex<HashMap<String, Window>>,
}

impl FailureLog {
    /// At most `per_minute` recorded failures per source (at least 1).
    pub fn new(per_minute: u32) -> FailureLog {
        FailureLog {
            per_minute: per_minute.max(1),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Whether to record a failure from `source` now.
    pub fn admit(&self, source: &str) -> Admit {
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if w.len() >= MAX_SOURCES && !w.contains_key(source) {
            w.retain(|_, v| v.started.elapsed() < WINDOW);
        }
        let win = w.entry(source.to_string()).or_insert(Window {
            started: Instant::now(),
            recorded: 0,
            suppressed: 0,
        });
        if win.started.elapsed() >= WINDOW && win.suppressed == 0 {
            win.started = Instant::now();
            win.recorded = 0;
        }
        if win.recorded < self.per_minute {
            win.recorded += 1;
            if win.recorded == self.per_minute {
                Admit::RecordLast(self.per_minute)
            } else {
                Admit::Record
            }
        } else {
            win.suppressed += 1;
            Admit::Suppress
        }
    }

    /// Suppressed counts of windows that are over (every window when `all`), which are
    /// then reset.
    pub fn take_suppressed(&self, all: bool) -> Vec<(String, u64)> {
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        w.retain(|source, win| {
            let over = win.started.elapsed() >= WINDOW;
            if (over || all) && win.suppressed > 0 {
                out.push((source.clone(), win.suppressed));
                win.suppressed = 0;
            }
            !over
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_counted_not_recorded() {
        let log = FailureLog::new(3);
        let got: Vec<Admit> = (0..10).map(|_| log.admit("10.0.0.1")).collect();
        assert_eq!(
            &got[..4],
            &[
                Admit::Record,
                Admit::Record,
                Admit::RecordLast(3),
                Admit::Suppress
            ]
        );
        assert_eq!(log.admit("10.0.0.2"), Admit::Record, "per source");
        assert!(
            log.take_suppressed(false).is_empty(),
            "the minute is not over"
        );
        assert_eq!(log.take_suppressed(true), vec![("10.0.0.1".to_string(), 7)]);
        assert!(log.take_suppressed(true).is_empty());
    }
}
