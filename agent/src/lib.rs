//! The Gatehouse agent: runs inside a private network next to the MCP servers that must
//! not be exposed, dials out to the control plane over one WebSocket (no inbound port),
//! and carries the control plane's sessions to those servers with credentials that stay
//! here (in the agent's config and environment).
#![deny(missing_docs)]

pub mod config;
pub mod conn;
pub mod session;

pub use config::AgentConfig;
pub use conn::{Agent, Ended};

/// Installs ring as rustls's crypto provider (for `wss://`), once per process.
pub fn init_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
