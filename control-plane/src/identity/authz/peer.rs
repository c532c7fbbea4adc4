//! The address a request came from, for audit events and per-address limits.

use axum::extract::{ConnectInfo, Extension};
use std::net::SocketAddr;

/// The peer address a handler saw, when the server was started with connection info.
pub type Peer = Option<Extension<ConnectInfo<SocketAddr>>>;

/// The address to name in audit events.
pub fn source(peer: &Peer) -> String {
    peer.as_ref()
        .map(|Extension(ConnectInfo(a))| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}
