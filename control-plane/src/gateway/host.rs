//! The gateway as a host of the call pipeline ([`gatehouse_pipeline::call`]): records go to
//! the store, approvals are kept by the control plane itself ([`super::approval`]), tool
//! pins live in the store, and the upstream is the session's connection, bridged across
//! protocol eras when it must be. Framing (JSON, SSE) is in [`super::stream`].

use super::bridge;
use super::session::Session;
use super::state::Gateway;
use crate::identity::auth::Principal;
use gatehouse_pipeline::{
    self as pipeline, Approvals, Client, Held, HoldOutcome, Masking, PinChange, PolicyInForce,
    Record, RecordError, Records, Rights, ToolPins,
};
use gatehouse_proxy_core::jsonrpc::Message;
use gatehouse_proxy_core::upstream::{self as upstream, RequestHeaders};
use std::sync::Arc;

/// One session of the gateway, as the pipeline's host.
#[derive(Clone)]
pub(super) struct SessionHost {
    pub gw: Arc<Gateway>,
    pub session: Arc<Session>,
}

/// The pipeline's view of a signed-in person.
pub(crate) fn rights_of(p: &Principal) -> pipeline::Principal {
    pipeline::Principal::new(p.user.clone(), p.groups.iter().cloned())
}

impl SessionHost {
    /// Where one call goes.
    pub fn route(&self) -> pipeline::Route<'_> {
        pipeline::Route {
            session_id: &self.session.id,
            server: &self.session.server,
            timeout: Some(self.gw.config.limits.request_timeout()),
        }
    }
}

impl Gateway {
    /// The masking of `principal` on `server`: the first matching group override, else the
    /// server's profile, else the default.
    pub(super) fn masking_for(&self, server: &str, principal: &pipeline::Principal) -> Masking {
        let server_profile = self
            .config
            .server(server)
            .and_then(|s| s.masking_profile.as_deref());
        let profile = self
            .masking
            .profile_for(server, server_profile, &principal.groups);
        Masking::new(self.masking.masker(&profile))
    }
}

impl Rights for SessionHost {
    fn policy(&self) -> Option<Arc<PolicyInForce>> {
        self.gw.policy()
    }

    fn masking(&self, principal: &pipeline::Principal) -> Masking {
        // The session's server-initiated messages follow the newest rights too.
        self.session.set_rights(principal);
        self.gw.masking_for(&self.session.server, principal)
    }
}

impl Records for SessionHost {
    async fn keep(&self, records: Vec<Record>) -> Result<(), RecordError> {
        self.gw.store.record(records).await.map_err(|e| {
            self.gw.metrics.store_write_failures.inc();
            RecordError(e.to_string())
        })
    }
}

impl ToolPins for SessionHost {
    async fn changed(&self, server: &str, tool: &str) -> Result<bool, String> {
        if !self.gw.config.server(server).is_some_and(|s| s.pin_tools) {
            return Ok(false);
        }
        self.gw
            .store
            .tool_changed(server, tool)
            .await
            .map_err(|e| e.to_string())
    }

    async fn observe(
        &self,
        server: &str,
        tool: &str,
        digest: &str,
        definition: &str,
    ) -> Result<Option<PinChange>, String> {
        match self
            .gw
            .store
            .observe_tool(server, tool, digest, definition)
            .await
        {
            Ok(crate::pins::PinState::Changed {
                accepted,
                now,
                fresh: true,
            }) => Ok(Some(PinChange { accepted, now })),
            Ok(_) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl Approvals for SessionHost {
    async fn hold<C: Client>(&self, held: Held<'_>, client: &mut C) -> HoldOutcome {
        super::approval::gate(&self.gw, held, client).await
    }
}

/// The session's upstream for one client POST: the headers it came with, the era
/// bridge applied on the way up and down.
pub(super) struct SessionUpstream {
    pub session: Arc<Session>,
    pub headers: RequestHeaders,
}

impl SessionUpstream {
    /// The HTTP details a message travels upstream with: as the client sent them, or, on
    /// a bridged session, the stateless era's version and routing headers.
    fn headers_for(&self, msg: &Message) -> RequestHeaders {
        match self.session.bridge.get() {
            Some(_) => RequestHeaders {
                protocol_version: Some(gatehouse_proxy_core::mcp::CURRENT_ERA_FIRST.into()),
                passthrough: bridge::Bridge::headers(msg),
            },
            None => self.headers.clone(),
        }
    }
}

/// A forwarded request's messages; on a bridged session an `input_required` result
/// becomes a clear error.
pub(super) struct SessionExchange {
    exchange: upstream::Exchange,
    bridged: bool,
}

impl pipeline::Exchange for SessionExchange {
    async fn next(&mut self) -> Option<Message> {
        let mut msg = self.exchange.next().await?;
        if self.bridged {
            bridge::refuse_input_required(&mut msg);
        }
        Some(msg)
    }
}

impl pipeline::Upstream for SessionUpstream {
    type Exchange = SessionExchange;

    async fn request(&self, mut msg: Message) -> Result<SessionExchange, String> {
        let bridge = self.session.bridge.get();
        if let Some(b) = bridge {
            b.to_upstream(&mut msg);
        }
        let mut headers = self.headers_for(&msg);
        // The upstream stage's span is current here: the upstream (or the agent)
        // continues it.
        gatehouse_telemetry::propagate::inject_current(&mut headers.passthrough);
        let exchange = self
            .session
            .upstream
            .request(msg, &headers)
            .await
            .map_err(|e| e.to_string())?;
        Ok(SessionExchange {
            exchange,
            bridged: bridge.is_some(),
        })
    }

    async fn send(&self, mut msg: Message) -> Result<(), String> {
        if let Some(b) = self.session.bridge.get() {
            if bridge::absorbed(&msg) {
                return Ok(());
            }
            b.to_upstream(&mut msg);
        }
        let headers = self.headers_for(&msg);
        self.session
            .upstream
            .send(msg, &headers)
            .await
            .map_err(|e| e.to_string())
    }
}

/// A session-era `initialize` to a stateless upstream: `server/discover` goes up in its
/// place (see [`bridge`]).
pub(super) struct Discover {
    pub session: Arc<Session>,
    pub bridge: bridge::Bridge,
}

impl pipeline::Upstream for Discover {
    type Exchange = SessionExchange;

    async fn request(&self, msg: Message) -> Result<SessionExchange, String> {
        let id = msg
            .id()
            .cloned()
            .unwrap_or(gatehouse_proxy_core::jsonrpc::Id::Number("0".into()));
        let discover = self.bridge.discover(id);
        let mut headers = RequestHeaders {
            protocol_version: Some(gatehouse_proxy_core::mcp::CURRENT_ERA_FIRST.into()),
            passthrough: bridge::Bridge::headers(&discover),
        };
        gatehouse_telemetry::propagate::inject_current(&mut headers.passthrough);
        let exchange = self
            .session
            .upstream
            .request(discover, &headers)
            .await
            .map_err(|e| e.to_string())?;
        Ok(SessionExchange {
            exchange,
            bridged: false,
        })
    }

    async fn send(&self, _: Message) -> Result<(), String> {
        Ok(())
    }
}
