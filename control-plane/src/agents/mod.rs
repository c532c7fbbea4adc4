//! Agents: processes inside private networks that dial out to the control plane over one
//! WebSocket each and reach the upstream servers the control plane cannot. A server with
//! `agent = "NAME"` has its sessions carried through that agent's connection; the
//! gateway's pipeline (identity, policy, approvals, masking, recording) runs here exactly
//! as for direct upstreams. Upstream addresses and credentials live only in the agent's
//! own config.

pub mod hub;
pub mod store;
pub mod ws;

use crate::gateway::Gateway;
use hub::AgentHub;
use std::sync::Arc;
use std::time::Duration;

/// What the agents' routes and tasks share: the gateway (store, config, audit, shutdown)
/// and the live connections. The gateway reaches those only through the
/// [`crate::gateway::AgentLink`] it is given here, so it does not depend on this module.
pub struct Agents {
    /// The gateway whose sessions the agents carry.
    pub gw: Arc<Gateway>,
    /// Every live agent connection.
    pub hub: Arc<AgentHub>,
}

impl Agents {
    /// Links a new hub to the gateway and keeps it in line with the store until shutdown.
    pub fn start(gw: &Arc<Gateway>) -> Arc<Agents> {
        let hub = Arc::new(AgentHub::default());
        gw.link_agents(hub.clone());
        let agents = Arc::new(Agents {
            gw: gw.clone(),
            hub,
        });
        spawn_watch(&agents);
        agents
    }
}

/// Agent names: what server names allow.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Keeps the live connections in line with the store, so changes made with the CLI
/// (which writes the store) apply to a running control plane within a second: revoked
/// tokens lose their connections, drained agents get no new sessions.
fn spawn_watch(agents: &Arc<Agents>) {
    let agents = agents.clone();
    tokio::spawn(async move {
        let gw = &agents.gw;
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
                Ok(names) => agents.hub.set_drained(names),
                Err(e) => tracing::warn!(error = %e, "cannot read drained agents"),
            }
            if agents.hub.connections().is_empty() {
                continue;
            }
            match gw.store.revoked_agent_tokens().await {
                Ok(ids) => {
                    for id in ids {
                        agents
                            .hub
                            .drop_token(&id, &format!("agent token {id} was revoked"));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read revoked agent tokens"),
            }
        }
    });
}
