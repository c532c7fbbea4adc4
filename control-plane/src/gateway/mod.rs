//! The MCP gateway: `/mcp/{server}` over Streamable HTTP for clients of both protocol
//! eras, one upstream connection per session, every message recorded before it moves on.

mod agent_link;
pub(crate) mod approval;
mod bridge;
pub mod client_address;
mod ended;
mod endpoint;
mod failed_open;
mod grants;
pub(crate) mod guard;
mod host;
pub(crate) use host::rights_of;
pub mod policy;
pub(crate) mod recording;
mod rpc_error;
pub mod session;
mod state;
pub(crate) mod stream;

pub use agent_link::AgentLink;
pub use rpc_error::RpcError;
pub use state::Gateway;

use crate::config::ServerConfig;
use crate::identity::auth::Principal;
use crate::identity::authz;
use crate::store::NewSession;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gatehouse_proxy_core::jsonrpc::{Message, codes};
use gatehouse_proxy_core::mcp::{self, Era};
use gatehouse_proxy_core::upstream::{Upstream, UpstreamOptions};
use http::{StatusCode, header};
use session::Session;
use std::sync::Arc;
use std::time::Duration;

impl Gateway {
    /// Publishes the configured policy file (when it differs from the newest version) and
    /// applies the newest published version; then keeps watching the store so a pushed
    /// version is in force within a second, without a restart or a dropped session.
    pub async fn start_policy_watch(self: &Arc<Self>) -> Result<(), crate::store::StoreError> {
        if let Some(path) = &self.config.policy_file
            && let Ok(text) = std::fs::read_to_string(path)
            && let Ok(p) = gatehouse_policy::Policy::from_yaml(&text)
        {
            self.store
                .push_policy(
                    &text,
                    p.source_digest(),
                    &format!("config:{}", path.display()),
                )
                .await?;
        }
        self.apply_latest_policy().await;
        let gw = self.clone();
        let mut changes = self.store.changes();
        tokio::spawn(async move {
            // Polling is the fallback (a CLI on SQLite, a lost notification); changes
            // announced by this process or, on PostgreSQL, by any replica apply at once.
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tokio::select! {
                    _ = gw.shutdown.cancelled() => return,
                    _ = tick.tick() => {
                        gw.apply_latest_policy().await;
                        gw.refresh_pending_approvals().await;
                        gw.identity.refresh_revocations().await;
                        gw.identity.flush_failures(false).await;
                    }
                    change = changes.recv() => match change {
                        Ok(crate::store::Change::Policy) => gw.apply_latest_policy().await,
                        // On SQLite the refresh (which expires lapsed approvals, a write)
                        // would compete with the vote's own transaction for the one write
                        // lock; there the 500 ms poll is enough, as before.
                        Ok(crate::store::Change::Approval) => {
                            if gw.store.backend() == crate::store::Backend::Postgres {
                                gw.refresh_pending_approvals().await;
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            gw.apply_latest_policy().await;
                            gw.refresh_pending_approvals().await;
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    },
                }
            }
        });
        Ok(())
    }

    /// Re-reads the pending approvals (votes may come from the CLI in another process)
    /// and tells live queues when they changed.
    async fn refresh_pending_approvals(&self) {
        // Nobody watching (no dashboard, no tray): nothing to keep fresh. A new watcher
        // refreshes once itself before it subscribes.
        if self.pending_approvals.receiver_count() == 0 {
            return;
        }
        self.read_pending_approvals().await;
    }

    /// Reads the pending approvals now and tells watchers when they changed.
    pub(crate) async fn read_pending_approvals(&self) {
        match self.store.approvals(true).await {
            Ok(now) => {
                self.pending_approvals.send_if_modified(|old| {
                    let changed = **old != now;
                    if changed {
                        *old = Arc::new(now);
                    }
                    changed
                });
            }
            Err(e) => tracing::warn!(error = %e, "cannot read pending approvals"),
        }
    }

    async fn apply_latest_policy(&self) {
        let latest = match self.store.latest_policy().await {
            Ok(Some(l)) => l,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "cannot read published policies; keeping the one in force");
                return;
            }
        };
        if self.policy().is_some_and(|p| p.number == latest.0) {
            return;
        }
        match gatehouse_policy::Policy::from_yaml(&latest.1) {
            Ok(p) => {
                let new = Arc::new(policy::PolicyInForce::new(p, latest.0));
                tracing::info!(version = %new.version, "policy version applied");
                self.policy.send_replace(Some(new));
            }
            Err(e) => {
                tracing::error!(version = latest.0, error = %e, "a published policy does not parse; keeping the one in force")
            }
        }
    }

    /// Signs a checkpoint over the audit log now (when there is anything new).
    pub async fn checkpoint(&self) {
        let audit = &self.config.audit;
        match self
            .store
            .write_checkpoint_as(&self.signing_key, audit.log_origin())
            .await
        {
            Ok(Some(head)) => {
                tracing::info!(tree_size = head.tree_size, root = %head.root, "audit checkpoint signed")
            }
            Ok(None) => {}
            Err(e) => {
                self.metrics.checkpoint_failures.inc();
                tracing::error!(error = %e, "could not sign an audit checkpoint")
            }
        }
        // Witnesses catch up on every round, whether or not this one signed anything.
        static HTTP: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
        let http = HTTP.get_or_init(reqwest::Client::new);
        crate::witnesses::round(&self.store, &audit.witnesses, http, &self.metrics).await;
    }

    pub(crate) fn spawn_checkpoints(self: &Arc<Self>) {
        let gw = self.clone();
        let every = Duration::from_secs(self.config.audit.checkpoint_secs.max(1));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = gw.shutdown.cancelled() => return,
                    _ = tick.tick() => gw.checkpoint().await,
                }
            }
        });
    }

    /// Ends sessions that idled out or whose upstream went away, until shutdown.
    pub fn spawn_reaper(self: &Arc<Self>) {
        let gw = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tokio::select! {
                    _ = gw.shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let limits = &gw.config.limits;
                for s in gw.sessions.all() {
                    let idle_limit = match s.era {
                        Era::Legacy => Duration::from_secs(limits.session_idle_secs),
                        Era::Current => Duration::from_secs(limits.stateless_group_secs),
                    };
                    if s.idle_for() > idle_limit && s.upstream.in_flight() == 0 {
                        gw.end_session(&s.id, "idle_timeout").await;
                    } else if let Some(reason) = s.upstream.closed_reason()
                        && s.upstream.in_flight() == 0
                    {
                        gw.end_session(&s.id, &format!("upstream_closed: {reason}"))
                            .await;
                    }
                }
            }
        });
    }

    /// Ends every session (graceful shutdown, after open requests drained).
    pub async fn end_all_sessions(&self, reason: &str) {
        for s in self.sessions.all() {
            self.end_session(&s.id, reason).await;
        }
    }

    /// Ends one session: records why, closes the upstream, stops its streams.
    pub async fn end_session(&self, id: &str, reason: &str) {
        let Some(s) = self.sessions.remove(id) else {
            return;
        };
        self.ended.note(&s.id, &s.principal.user, reason);
        s.closed.cancel();
        s.upstream.close().await;
        let ev = gatehouse_pipeline::Record::note(
            &s.id,
            "session_end",
            serde_json::json!({ "reason": reason }),
        );
        if let Err(e) = self.store.record(vec![ev]).await {
            tracing::error!(session = %s.id, error = %e, "could not record the end of a session");
        }
        if let Err(e) = self.store.end_session(&s.id, reason).await {
            tracing::error!(session = %s.id, error = %e, "could not record the end of a session");
        }
        self.metrics.sessions_open.dec();
        tracing::info!(session = %s.id, server = %s.server, reason, "session ended");
    }

    /// Refuses a person the policy keeps off a server, before any upstream is touched.
    async fn check_may_connect(
        &self,
        principal: &Principal,
        server: &str,
        msg: &Message,
    ) -> Result<(), Response> {
        let policy = self.policy();
        let rights = self.rights_on(principal, server).await;
        gatehouse_pipeline::may_connect(policy.as_deref(), &rights, server).map_err(|_| {
            tracing::warn!(user = %principal.user, server, "policy refused a session");
            // Without a grant (none, or it ended) the refusal says so and how to ask.
            let message = policy
                .as_ref()
                .and_then(|p| p.policy().without_grant(&rights, server))
                .unwrap_or_else(|| {
                    format!(
                        "the policy does not let `{}` use server `{server}`; ask your Gatehouse admin",
                        principal.user
                    )
                });
            RpcError::new(
                StatusCode::FORBIDDEN,
                msg.id().cloned(),
                codes::POLICY_DENIED,
                message,
            )
            .into_response()
        })
    }

    async fn open_session(
        self: &Arc<Self>,
        server: &ServerConfig,
        principal: &Principal,
        era: Era,
        first: &Message,
    ) -> Result<Arc<Session>, Response> {
        self.check_may_connect(principal, &server.name, first)
            .await?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (upstream, server_rx) = match self.connect_upstream(server, &id, first).await {
            Ok(x) => x,
            Err((refused, cause)) => {
                self.record_failed_open(&id, server, principal, era, first, &cause)
                    .await;
                return Err(refused);
            }
        };
        let protocol_version = match era {
            Era::Legacy => first
                .params()
                .and_then(|p| p.get("protocolVersion"))
                .and_then(|v| v.as_str()),
            Era::Current => mcp::meta_protocol_version(first),
        };
        let record = NewSession {
            id: id.clone(),
            principal: principal.user.clone(),
            groups: principal.groups.clone(),
            server: server.name.clone(),
            era: era.as_str().into(),
            client: mcp::client_info(first),
            protocol_version: protocol_version.map(String::from),
        };
        if let Err(e) = self.store.start_session(record).await {
            upstream.close().await;
            return Err(RpcError::unrecorded(first.id().cloned(), &e).into_response());
        }
        let session = Arc::new(Session::new(session::SessionParts {
            id,
            server: server.name.clone(),
            principal: principal.clone(),
            era,
            upstream,
            replay: self.config.limits.replay_events,
            closed: self.shutdown.child_token(),
        }));
        if let Some(v) = protocol_version {
            session.set_protocol_version(v);
        }
        self.metrics.sessions_open.inc();
        self.metrics
            .sessions_started
            .get_or_create(&crate::metrics::ServerLabels {
                server: server.name.clone(),
            })
            .inc();
        stream::spawn_server_pump(self.clone(), session.clone(), server_rx);
        tracing::info!(session = %session.id, server = %server.name, user = %principal.user, era = era.as_str(), "session started");
        Ok(session)
    }
}

impl Gateway {
    /// The session's upstream: a direct connection, or a pipe through an agent.
    async fn connect_upstream(
        &self,
        server: &ServerConfig,
        session: &str,
        first: &Message,
    ) -> Result<(Upstream, tokio::sync::mpsc::Receiver<Message>), (Response, String)> {
        // The client learns the server's name and the cause, never an address, command
        // or header; the operator's log has the redacted detail.
        let unreachable = |cause: String| {
            self.metrics
                .upstream_errors
                .get_or_create(&crate::metrics::ServerLabels {
                    server: server.name.clone(),
                })
                .inc();
            let refused = RpcError::new(
                StatusCode::BAD_GATEWAY,
                first.id().cloned(),
                codes::UPSTREAM_ERROR,
                format!(
                    "Gatehouse could not reach server `{}`: {cause}",
                    server.name
                ),
            )
            .into_response();
            (refused, cause)
        };
        if server.agent.is_some() {
            let timeout = Duration::from_secs(self.config.agents.open_timeout_secs);
            let Some(link) = self.agent_link.get() else {
                return Err(unreachable(
                    "no agent connections are served by this process".into(),
                ));
            };
            return link
                .open(&server.agents(), &server.name, session, timeout)
                .await
                .map_err(unreachable);
        }
        let spec = server.upstream_spec().map_err(|e| {
            tracing::error!(server = %server.name, error = %e, "a server's configuration cannot be used");
            let cause = "the server's configuration cannot be used (see the control plane's log)";
            let refused = RpcError::new(StatusCode::INTERNAL_SERVER_ERROR, first.id().cloned(), codes::INTERNAL_ERROR, format!("Gatehouse could not open server `{}`: {cause}", server.name)).into_response();
            (refused, cause.to_string())
        })?;
        let opts = UpstreamOptions {
            inherit_env: self.config.stdio_inherit_env.clone(),
            ..UpstreamOptions::default()
        };
        Upstream::connect(&spec, &opts).await.map_err(|e| {
            tracing::warn!(server = %server.name, error = %e.detail(), "could not open an upstream");
            unreachable(e.to_string())
        })
    }
}

/// The gateway's own routes: the MCP endpoint, its protected-resource metadata, the
/// audit key, health and metrics.
pub fn routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route(
            "/mcp/{server}",
            axum::routing::post(endpoint::post_mcp)
                .get(endpoint::get_mcp)
                .delete(endpoint::delete_mcp),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp/{server}",
            get(resource_metadata),
        )
        .route(
            "/.well-known/oauth-protected-resource",
            get(root_resource_metadata),
        )
        .route("/.well-known/gatehouse-audit-key", get(audit_key))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// The root form of the protected-resource metadata (RFC 9728), for clients that look
/// there first: the gateway as a whole.
async fn root_resource_metadata(State(gw): State<Arc<Gateway>>) -> Response {
    protected_resource(&gw, format!("{}/mcp", gw.config.public_base()))
}

/// RFC 9728 metadata for `resource`: the control plane's own authorization server first
/// (MCP clients sign in there), then the identity provider, whose tokens are accepted too.
fn protected_resource(gw: &Gateway, resource: String) -> Response {
    let mut servers: Vec<String> = gw
        .identity
        .authz
        .iter()
        .map(|a| a.keys.issuer().to_string())
        .collect();
    servers.extend(gw.config.oidc.iter().map(|o| o.issuer.clone()));
    let mut body = serde_json::json!({
        "resource": resource,
        "bearer_methods_supported": ["header"],
        "authorization_servers": servers,
    });
    if gw.identity.authz.is_some() {
        body["scopes_supported"] = serde_json::json!([authz::SCOPE]);
    }
    authz::cors::cors(axum::Json(body).into_response())
}

/// The current key, and every key that signed the log with its validity (what
/// `gatehouse audit verify --keys FILE` pins).
async fn audit_key(State(gw): State<Arc<Gateway>>) -> Response {
    let origin = gw.config.audit.log_origin();
    let ring =
        match crate::audit_keys::published_keys(&gw.store, origin, &gw.signing_key.verifying_key())
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "cannot list the audit log's keys");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the store does not answer\n",
                )
                    .into_response();
            }
        };
    axum::Json(serde_json::json!({
        "algorithm": "ed25519",
        "public_key": gatehouse_audit::public_key_hex(&gw.signing_key),
        "origin": origin,
        "keys": ring.keys,
        "checkpoint": "RFC 6962 Merkle tree head of events 1..tree_size; signed text: gatehouse-checkpoint-v1\\n{tree_size}\\n{root}\\n{chain_head}\\n{at}",
    }))
    .into_response()
}

async fn readyz(State(gw): State<Arc<Gateway>>) -> Response {
    if gw.shutdown.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    } else if gw.store.ping().await {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the store does not answer\n",
        )
            .into_response()
    }
}

async fn metrics(State(gw): State<Arc<Gateway>>) -> Response {
    // The audit gauges come from the store, so every replica shows the log's truth; a
    // store that does not answer in time leaves them as last read.
    let sinks = gw.config.audit.sink_names();
    match tokio::time::timeout(Duration::from_secs(2), gw.store.audit_progress(&sinks)).await {
        Ok(Ok(progress)) => gw.metrics.audit_progress(&progress),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot read the audit log's progress for /metrics")
        }
        Err(_) => tracing::warn!("the store did not answer in time for /metrics"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        gw.metrics.render(),
    )
        .into_response()
}

async fn resource_metadata(State(gw): State<Arc<Gateway>>, Path(server): Path<String>) -> Response {
    if gw.config.server(&server).is_none() {
        return (StatusCode::NOT_FOUND, "no such server\n").into_response();
    }
    protected_resource(&gw, format!("{}/mcp/{server}", gw.config.public_base()))
}
