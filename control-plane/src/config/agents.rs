//! `[agents]` and a server's `agent = ...`: servers reached through an agent.

use serde::Deserialize;

/// `[agents]`: how the control plane keeps its agent connections.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentsConfig {
    /// Seconds between heartbeats; an agent silent for three of them is dropped. Each
    /// heartbeat also re-checks that the agent's token is not revoked.
    pub heartbeat_secs: u64,
    /// Seconds to wait for an agent to start a session's upstream.
    pub open_timeout_secs: u64,
}

impl Default for AgentsConfig {
    fn default() -> Self {
        AgentsConfig {
            heartbeat_secs: 10,
            open_timeout_secs: 15,
        }
    }
}

/// `agent = "NAME"`, or `agent = ["a", "b"]` for agents that share the load.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum AgentRef {
    /// One agent.
    One(String),
    /// Several; each new session goes to the least-loaded connected one.
    Many(Vec<String>),
}
