//! `[limits]`: limits that protect the gateway and its upstreams.

use serde::Deserialize;
use std::time::Duration;

/// Limits that protect the gateway and its upstreams.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest accepted request body.
    pub body_bytes: usize,
    /// How long a request may wait for its upstream answer, in seconds.
    pub request_timeout_secs: f64,
    /// A session with no traffic for this long is closed, in seconds.
    pub session_idle_secs: u64,
    /// Stateless (2026-07-28) requests from the same person, server and client within
    /// this many seconds are grouped into one recorded session.
    pub stateless_group_secs: u64,
    /// How many server-to-client events a session keeps for `Last-Event-ID` replay.
    pub replay_events: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: 4 * 1024 * 1024,
            request_timeout_secs: 120.0,
            session_idle_secs: 30 * 60,
            stateless_group_secs: 10 * 60,
            replay_events: 256,
        }
    }
}

impl Limits {
    /// The request timeout as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.request_timeout_secs.max(0.001))
    }
}
