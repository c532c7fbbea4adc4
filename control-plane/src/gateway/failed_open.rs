//! A session that could not open (agent down, command missing, upstream unreachable)
//! is still an access attempt auditors must see: it is recorded as a session that ended
//! at once, with the cause the client was given, and counted in `/metrics`.

use super::recording::gateway_event;
use super::state::Gateway;
use crate::config::ServerConfig;
use crate::identity::auth::Principal;
use crate::store::NewSession;
use gatehouse_proxy_core::jsonrpc::{Message, codes};
use gatehouse_proxy_core::mcp;
use gatehouse_proxy_core::mcp::Era;
use http::StatusCode;

impl Gateway {
    /// Records session `id` of `principal` on `server` as opened and ended at once
    /// because of `cause` (what the client was told: no address, command or header).
    pub(super) async fn record_failed_open(
        &self,
        id: &str,
        server: &ServerConfig,
        principal: &Principal,
        era: Era,
        first: &Message,
        cause: &str,
    ) {
        self.metrics
            .sessions_failed
            .get_or_create(&crate::metrics::ServerLabels {
                server: server.name.clone(),
            })
            .inc();
        tracing::warn!(session = %id, server = %server.name, user = %principal.user, cause, "a session could not open");
        let record = NewSession {
            id: id.to_string(),
            principal: principal.user.clone(),
            groups: principal.groups.clone(),
            server: server.name.clone(),
            era: era.as_str().into(),
            client: mcp::client_info(first),
            protocol_version: None,
        };
        let recorded = async {
            self.store.start_session(record).await?;
            self.store
                .record(vec![gateway_event(
                    id,
                    "session_open_failed",
                    serde_json::json!({ "cause": cause }),
                )])
                .await?;
            self.store.end_session(id, "open_failed").await
        };
        if let Err(e) = recorded.await {
            tracing::error!(session = %id, error = %e, "could not record a session that failed to open");
        }
    }

    /// The HTTP status of a failed handshake's answer on `server`, counting it: 502 when
    /// Gatehouse could not reach the server (as when a process does not start), 200 when
    /// the server itself answered with an error.
    pub(super) fn failed_handshake(&self, server: &str, answer: &Message) -> StatusCode {
        self.metrics
            .sessions_failed
            .get_or_create(&crate::metrics::ServerLabels {
                server: server.to_string(),
            })
            .inc();
        let ours = answer
            .to_value()
            .pointer("/error/code")
            .and_then(|c| c.as_i64())
            == Some(codes::UPSTREAM_ERROR);
        if ours {
            StatusCode::BAD_GATEWAY
        } else {
            StatusCode::OK
        }
    }
}
