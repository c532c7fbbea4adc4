//! The Gatehouse control plane: the MCP gateway, its session store, and the `gatehouse`
//! command line. The binary in `main.rs` only parses arguments and calls in here.

pub mod agents;
pub mod approvals;
pub mod commands;
pub mod config;
pub mod demo_server;
pub mod gateway;
pub mod metric_labels;
pub mod metrics;
pub mod pins;
pub mod retention;
pub mod sinks;
pub mod store;
