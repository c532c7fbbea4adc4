//! The Gatehouse control plane: the MCP gateway (`gateway`), identity (`identity`:
//! token checking, the authorization server, browser sign-in), the JSON API and the
//! dashboard (`api`, `dashboard`), agents, and the audit store. The `gatehouse` binary
//! (crate `gatehouse-cli`) parses arguments and calls in here.

pub mod access;
pub mod access_review;
pub mod agents;
pub mod api;
pub mod approvals;
pub mod audit_keys;
pub mod config;
mod dashboard;
pub mod demo_server;
pub mod evidence;
pub mod gateway;
pub mod host_guard;
pub mod identity;
pub mod metric_labels;
pub mod metrics;
pub mod pins;
pub mod retention;
pub mod server;
pub mod sinks;
pub mod store;
pub mod witnesses;
