//! How the gateway reaches a server behind an agent (`agent = "NAME"` in its config).
//! The agents part implements this over its live connections and hands it to the
//! gateway ([`super::state::Gateway::link_agents`]); the gateway knows nothing else of agents.

use futures::future::BoxFuture;
use gatehouse_proxy_core::jsonrpc::Message;
use gatehouse_proxy_core::upstream::Upstream;
use std::time::Duration;
use tokio::sync::mpsc;

/// Opens sessions through agents.
pub trait AgentLink: Send + Sync {
    /// Opens session `session` with `server` through one of `agents` within `timeout`:
    /// the upstream to send to and the messages the server sends back, or why not (said
    /// to the client as "Gatehouse could not reach server ...").
    fn open<'a>(
        &'a self,
        agents: &'a [String],
        server: &'a str,
        session: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(Upstream, mpsc::Receiver<Message>), String>>;
}
