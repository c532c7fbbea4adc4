//! Agents: processes inside private networks that dial out to the control plane over one
//! WebSocket each and reach the upstream servers the control plane cannot. A server with
//! `agent = "NAME"` has its sessions carried through that agent's connection; the
//! gateway's pipeline (identity, policy, approvals, masking, recording) runs here exactly
//! as for direct upstreams. Upstream addresses and credentials live only in the agent's
//! own config.

pub mod api;
pub mod hub;
pub mod store;
pub mod ws;

use crate::gateway::Gateway;
use std::sync::Arc;
use std::time::Duration;

/// Keeps the live connections in line with the store, so changes made with the CLI
/// (which writes the store) apply to a running control plane within a second: revoked
/// tokens lose their connections, drained agents get no new sessions.
pub fn spawn_watch(gw: &Arc<Gateway>) {
    let gw = gw.clone();
    tokio::spawn(async move {
        if let Err(e) = gw.store.close_stale_agent_connections().await {
            tracing::warn!(error = %e, "could not close agent connections left by a previous run");
        }
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = gw.shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            match gw.store.drained_agents().await {
                Ok(names) => gw.agents.set_drained(names),
                Err(e) => tracing::warn!(error = %e, "cannot read drained agents"),
            }
            if gw.agents.connections().is_empty() {
                continue;
            }
            match gw.store.revoked_agent_tokens().await {
                Ok(ids) => {
                    for id in ids {
                        gw.agents
                            .drop_token(&id, &format!("agent token {id} was revoked"));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read revoked agent tokens"),
            }
        }
    });
}
