//! The live agent connections, and picking one for a new session.

use gatehouse_proxy_core::jsonrpc::Message;
use gatehouse_proxy_core::tunnel::{Delivery, Frame, Mux};
use gatehouse_proxy_core::upstream::Upstream;
use serde::Serialize;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// One connected agent process.
#[derive(Debug)]
pub struct AgentConn {
    /// Connection id (also its audit record's session id).
    pub id: String,
    /// Agent name (from its token).
    pub agent: String,
    /// The token it signed in with.
    pub token_id: String,
    /// Its version.
    pub version: String,
    /// The servers it serves.
    pub servers: Vec<String>,
    /// When it connected (RFC 3339).
    pub connected_at: String,
    /// When it was last heard from (RFC 3339).
    pub last_seen: Mutex<String>,
    /// Its sessions.
    pub mux: Arc<Mux>,
    /// Fired to drop the connection (token revoked, shutdown), with the reason.
    pub kill: CancellationToken,
    /// Why it is being dropped.
    pub kill_reason: Mutex<Option<String>>,
}

impl AgentConn {
    /// Drops the connection with a reason the agent is told.
    pub fn drop_with(&self, reason: &str) {
        self.kill_reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(|| reason.to_string());
        self.kill.cancel();
    }
}

/// Status of one connection, for the API.
#[derive(Debug, Clone, Serialize)]
pub struct ConnStatus {
    /// Connection id.
    pub id: String,
    /// Agent name.
    pub agent: String,
    /// Agent version.
    pub version: String,
    /// Servers it serves.
    pub servers: Vec<String>,
    /// When it connected.
    pub connected_at: String,
    /// When it was last heard from.
    pub last_seen: String,
    /// Open sessions.
    pub sessions: usize,
}

/// Every live agent connection.
#[derive(Debug, Default)]
pub struct AgentHub {
    conns: Mutex<Vec<Arc<AgentConn>>>,
    drained: Mutex<HashSet<String>>,
}

impl AgentHub {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<AgentConn>>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a registered connection.
    pub fn register(&self, conn: Arc<AgentConn>) {
        self.lock().push(conn);
    }

    /// Removes a connection that ended.
    pub fn unregister(&self, id: &str) {
        self.lock().retain(|c| c.id != id);
    }

    /// Live connections.
    pub fn connections(&self) -> Vec<Arc<AgentConn>> {
        self.lock().clone()
    }

    /// Status of every live connection.
    pub fn status(&self) -> Vec<ConnStatus> {
        self.connections()
            .iter()
            .map(|c| ConnStatus {
                id: c.id.clone(),
                agent: c.agent.clone(),
                version: c.version.clone(),
                servers: c.servers.clone(),
                connected_at: c.connected_at.clone(),
                last_seen: c
                    .last_seen
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone(),
                sessions: c.mux.session_count(),
            })
            .collect()
    }

    /// Replaces the set of drained agent names.
    pub fn set_drained(&self, names: impl IntoIterator<Item = String>) {
        *self.drained.lock().unwrap_or_else(|e| e.into_inner()) = names.into_iter().collect();
    }

    /// Drains (or resumes) one agent name now.
    pub fn drain(&self, name: &str, drained: bool) {
        let mut d = self.drained.lock().unwrap_or_else(|e| e.into_inner());
        if drained {
            d.insert(name.to_string());
        } else {
            d.remove(name);
        }
    }

    /// True when new sessions avoid this agent name.
    pub fn is_drained(&self, name: &str) -> bool {
        self.drained
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(name)
    }

    /// Drops every connection signed in with token `token_id`.
    pub fn drop_token(&self, token_id: &str, reason: &str) -> usize {
        let conns: Vec<_> = self
            .connections()
            .into_iter()
            .filter(|c| c.token_id == token_id)
            .collect();
        for c in &conns {
            c.drop_with(reason);
        }
        conns.len()
    }

    /// The least-loaded connected, undrained agent among `agents` that serves `server`.
    fn pick(&self, agents: &[String], server: &str) -> Result<Arc<AgentConn>, String> {
        let conns = self.connections();
        let serving: Vec<_> = conns
            .iter()
            .filter(|c| agents.contains(&c.agent) && c.servers.iter().any(|s| s == server))
            .collect();
        let who = agents
            .iter()
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(" or ");
        if serving.is_empty() {
            return Err(format!(
                "no agent serving server `{server}` is connected (expected {who}); start the agent, or check its logs and `gatehouse agents list`"
            ));
        }
        serving
            .into_iter()
            .filter(|c| !self.is_drained(&c.agent))
            .min_by_key(|c| c.mux.session_count())
            .cloned()
            .ok_or_else(|| {
                format!(
                    "every agent serving server `{server}` ({who}) is drained; resume one with `gatehouse agents resume NAME`"
                )
            })
    }

    /// Opens a session with `server` through one of `agents`: the agent starts the
    /// upstream, and the returned upstream carries the session's messages through it.
    pub async fn open(
        &self,
        agents: &[String],
        server: &str,
        session: &str,
        timeout: Duration,
    ) -> Result<(Upstream, mpsc::Receiver<Message>), String> {
        let conn = self.pick(agents, server)?;
        let mut link = conn.mux.attach(session)?;
        conn.mux.send_frame(Frame::Open {
            session: session.to_string(),
            server: server.to_string(),
        });
        let name = conn.agent.clone();
        match tokio::time::timeout(timeout, link.recv()).await {
            Ok(Delivery::Opened) => {}
            Ok(Delivery::Closed(reason)) => {
                return Err(format!(
                    "agent `{name}` could not start server `{server}`: {reason}"
                ));
            }
            Ok(Delivery::Message { .. }) => {
                link.sender()
                    .close("a message came before the session was opened");
                return Err(format!(
                    "agent `{name}` broke the tunnel protocol (a message before `opened`)"
                ));
            }
            Err(_) => {
                link.sender()
                    .close("the agent did not start the upstream in time");
                return Err(format!(
                    "agent `{name}` did not start server `{server}` within {} s",
                    timeout.as_secs()
                ));
            }
        }
        let (upstream, server_rx, ends) = Upstream::over_pipe(server);
        let sender = link.sender();
        let mut outbound = ends.outbound_rx;
        tokio::spawn(async move {
            while let Some(o) = outbound.recv().await {
                if sender.send(o.message, None, o.headers).await.is_err() {
                    break;
                }
            }
            sender.close("the session was closed");
        });
        let inbound = ends.inbound;
        tokio::spawn(async move {
            loop {
                match link.recv().await {
                    Delivery::Message {
                        message, request, ..
                    } => inbound.route_for(request, message).await,
                    Delivery::Opened => {}
                    Delivery::Closed(reason) => {
                        inbound.close(&format!("agent `{name}`: {reason}")).await;
                        return;
                    }
                }
            }
        });
        Ok((upstream, server_rx))
    }
}

impl crate::gateway::AgentLink for AgentHub {
    fn open<'a>(
        &'a self,
        agents: &'a [String],
        server: &'a str,
        session: &'a str,
        timeout: Duration,
    ) -> futures::future::BoxFuture<'a, Result<(Upstream, mpsc::Receiver<Message>), String>> {
        Box::pin(AgentHub::open(self, agents, server, session, timeout))
    }
}
