//! The MCP gateway: `/mcp/{server}` over Streamable HTTP for clients of both protocol
//! eras, one upstream connection per session, every message recorded before it moves on.

pub mod api;
mod approval;
pub mod auth;
pub mod authz;
mod bridge;
pub mod client_address;
mod ended;
mod failed_open;
mod guard;
pub mod masking;
mod oidc;
pub mod policy;
mod provider_tokens;
pub(crate) mod recording;
mod refreshing;
pub mod session;
pub mod signin;
mod stream;
mod ui;

use crate::config::{Config, ServerConfig};
use crate::metrics::Metrics;
use crate::store::{NewSession, Store};
use auth::{AuthError, Authenticator, Principal};
use axum::Router;
use axum::body::Body as HttpBody;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gatehouse_proxy_core::jsonrpc::{Body, Id, Message, codes};
use gatehouse_proxy_core::mcp::{self, Era};
use gatehouse_proxy_core::upstream::{RequestHeaders, Upstream, UpstreamOptions};
use guard::HostGuard;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use session::{GroupKey, Session, SessionTable};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Everything the gateway's handlers share.
pub struct Gateway {
    /// The configuration in force.
    pub config: Arc<Config>,
    /// The session store.
    pub store: Store,
    /// Metrics.
    pub metrics: Metrics,
    /// Live sessions.
    pub sessions: SessionTable,
    masking: masking::Masking,
    /// The policy in force (`None`: every signed-in person may use every server); swapped
    /// whole when a new version is published.
    /// A watch channel, so streams (`/api/v1/policies/watch`) learn of a new version at once.
    policy: tokio::sync::watch::Sender<Option<Arc<policy::PolicyInForce>>>,
    /// The pending approvals as last read from the store, for live queues.
    pending_approvals: tokio::sync::watch::Sender<Arc<Vec<crate::approvals::Approval>>>,
    auth: Authenticator,
    hosts: HostGuard,
    /// Whether `[dev]` users may sign in (`serve --dev`, `gatehouse demo`).
    pub dev_mode: bool,
    /// Dashboard sign-in through the company's OpenID provider, when configured.
    relying_party: Option<signin::RelyingParty>,
    /// Dashboard sign-in through a SAML identity provider, when configured.
    saml: Option<signin::SamlSp>,
    /// The authorization server MCP clients see (on when `relying_party` is).
    authz: Option<authz::AuthServer>,
    /// Serializes creation of stateless-era group sessions.
    group_lock: tokio::sync::Mutex<()>,
    /// Why recently ended sessions ended (told to their person on a late call).
    ended: ended::RecentlyEnded,
    /// Verifies access tokens from the configured identity provider.
    oidc: Option<oidc::JwtVerifier>,
    /// Signs audit checkpoints.
    signing_key: gatehouse_audit::SigningKey,
    /// Fired on shutdown: ends server streams so open connections can drain.
    pub shutdown: CancellationToken,
    /// Connected agents (servers with `agent = "NAME"`).
    pub agents: crate::agents::hub::AgentHub,
}

impl Gateway {
    /// A gateway over a store; `dev_mode` decides whether `[dev]` tokens sign anyone in.
    pub fn new(
        config: Config,
        store: Store,
        dev_mode: bool,
    ) -> Result<Arc<Gateway>, crate::config::ConfigError> {
        let auth = Authenticator::new(dev_mode, &config.dev.tokens);
        let hosts = HostGuard::new(&config.public_base(), &config.allowed_hosts);
        let masking = config.masking()?;
        let policy = config
            .policy()?
            .map(|p| Arc::new(policy::PolicyInForce::new(p, 0)));
        if policy.is_none() {
            tracing::warn!(
                "no policy_file configured and none published yet: every signed-in person may use every configured server"
            );
        }
        let signing_key = config.signing_key()?;
        let oidc = config.oidc.clone().map(oidc::JwtVerifier::new);
        let relying_party = match &config.oidc {
            Some(o) => signin::RelyingParty::new(o, &config.public_base())?,
            None => None,
        };
        let saml = config
            .saml
            .as_ref()
            .map(|s| signin::SamlSp::new(s, &config.public_base()));
        // MCP clients sign in at the control plane when people can sign in: through
        // the identity provider, or in dev mode by picking a [dev] user.
        let authz = if relying_party.is_some() || dev_mode {
            Some(authz::AuthServer::new(&config)?)
        } else {
            None
        };
        Ok(Arc::new(Gateway {
            dev_mode,
            relying_party,
            saml,
            authz,
            oidc,
            signing_key,
            policy: tokio::sync::watch::Sender::new(policy),
            pending_approvals: tokio::sync::watch::Sender::new(Arc::new(Vec::new())),
            masking,
            config: Arc::new(config),
            store,
            metrics: Metrics::default(),
            sessions: SessionTable::default(),
            auth,
            hosts,
            group_lock: tokio::sync::Mutex::new(()),
            ended: ended::RecentlyEnded::default(),
            shutdown: CancellationToken::new(),
            agents: Default::default(),
        }))
    }

    /// The policy in force now.
    pub fn policy(&self) -> Option<Arc<policy::PolicyInForce>> {
        self.policy.borrow().clone()
    }

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
                        gw.refresh_revocations().await;
                        gw.flush_failures(false).await;
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
        match self.store.write_checkpoint(&self.signing_key).await {
            Ok(Some(head)) => {
                tracing::info!(tree_size = head.tree_size, root = %head.root, "audit checkpoint signed")
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "could not sign an audit checkpoint"),
        }
    }

    fn spawn_checkpoints(self: &Arc<Self>) {
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
        let ev = recording::gateway_event(
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
    #[allow(clippy::result_large_err)]
    fn check_may_connect(
        &self,
        principal: &Principal,
        server: &str,
        msg: &Message,
    ) -> Result<(), Response> {
        match self.policy().as_deref() {
            Some(p) if !p.may_connect(principal, server) => {
                tracing::warn!(user = %principal.user, server, "policy refused a session");
                Err(rpc_error(
                    StatusCode::FORBIDDEN,
                    msg.id().cloned(),
                    codes::POLICY_DENIED,
                    format!(
                        "the policy does not let `{}` use server `{server}`; ask your Gatehouse admin",
                        principal.user
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    async fn open_session(
        self: &Arc<Self>,
        server: &ServerConfig,
        principal: &Principal,
        era: Era,
        first: &Message,
    ) -> Result<Arc<Session>, Response> {
        self.check_may_connect(principal, &server.name, first)?;
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
            return Err(unrecorded(first.id().cloned(), &e));
        }
        let profile = self.masking.profile_for(
            &server.name,
            server.masking_profile.as_deref(),
            &principal.groups,
        );
        let session = Arc::new(Session::new(session::SessionParts {
            id,
            server: server.name.clone(),
            principal: principal.clone(),
            era,
            upstream,
            replay: self.config.limits.replay_events,
            closed: self.shutdown.child_token(),
            masker: self.masking.masker(&profile),
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
            let refused = rpc_error(
                StatusCode::BAD_GATEWAY,
                first.id().cloned(),
                codes::UPSTREAM_ERROR,
                format!(
                    "Gatehouse could not reach server `{}`: {cause}",
                    server.name
                ),
            );
            (refused, cause)
        };
        if server.agent.is_some() {
            let timeout = Duration::from_secs(self.config.agents.open_timeout_secs);
            return self
                .agents
                .open(&server.agents(), &server.name, session, timeout)
                .await
                .map_err(unreachable);
        }
        let spec = server.upstream_spec().map_err(|e| {
            tracing::error!(server = %server.name, error = %e, "a server's configuration cannot be used");
            let cause = "the server's configuration cannot be used (see the control plane's log)";
            let refused = rpc_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                first.id().cloned(),
                codes::INTERNAL_ERROR,
                format!("Gatehouse could not open server `{}`: {cause}", server.name),
            );
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

/// The HTTP routes: the gateway, health and metrics.
pub fn router(gw: Arc<Gateway>) -> Router {
    Router::new()
        .route(
            "/mcp/{server}",
            axum::routing::post(post_mcp)
                .get(get_mcp)
                .delete(delete_mcp),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp/{server}",
            get(resource_metadata),
        )
        .route("/api/v1/approvals", get(api::list))
        .route("/api/v1/approvals/watch", get(api::watch::approvals))
        .route(
            "/api/v1/agents",
            get(crate::agents::api::list).post(crate::agents::api::create),
        )
        .route(
            "/api/v1/agents/tokens/{id}/revoke",
            axum::routing::post(crate::agents::api::revoke),
        )
        .route(
            "/api/v1/agents/{name}/{verb}",
            axum::routing::post(crate::agents::api::drain),
        )
        .route(
            gatehouse_proxy_core::tunnel::CONNECT_PATH,
            get(crate::agents::ws::connect),
        )
        .route(
            "/api/v1/approvals/{id}/{verb}",
            axum::routing::post(api::decide),
        )
        .route(
            "/api/v1/policies",
            get(api::policies::list).post(api::push_policy),
        )
        .route("/api/v1/policies/watch", get(api::watch::policies))
        .route(
            "/api/v1/policies/check",
            axum::routing::post(api::policies::check),
        )
        .route(
            "/api/v1/policies/dry-run",
            axum::routing::post(api::policies::dry_run),
        )
        .route("/api/v1/policies/{version}", get(api::policies::get))
        .route("/api/v1/sessions", get(api::sessions::list))
        .route("/api/v1/sessions/{id}", get(api::sessions::detail))
        .route("/api/v1/overview", get(api::sessions::overview))
        .route("/api/v1/audit/status", get(api::audit::status))
        .route(
            "/api/v1/audit/verify",
            axum::routing::post(api::audit::verify),
        )
        .route("/api/v1/evidence", get(api::audit::evidence))
        .route("/api/v1/servers", get(api::servers::list))
        .route("/api/v1/spool", axum::routing::post(api::spool::upload))
        .route(
            "/api/v1/pins/{server}/{tool}/{verb}",
            axum::routing::post(api::servers::decide),
        )
        .route("/api/v1/me", get(signin::me))
        .route("/auth/login", get(signin::login))
        .route("/auth/callback", get(signin::callback))
        .route("/auth/logout", axum::routing::post(signin::logout))
        .route("/auth/dev-login", axum::routing::post(signin::dev_login))
        .route("/saml/metadata", get(signin::saml_metadata))
        .route("/saml/acs", axum::routing::post(signin::saml_acs))
        .route(
            "/.well-known/oauth-protected-resource",
            get(root_resource_metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(authz::metadata).options(authz::preflight),
        )
        .route(
            "/.well-known/openid-configuration",
            get(authz::metadata).options(authz::preflight),
        )
        .route("/oauth/jwks", get(authz::jwks).options(authz::preflight))
        .route(
            "/oauth/register",
            axum::routing::post(authz::clients::register).options(authz::preflight),
        )
        .route("/oauth/authorize", get(authz::authorize::authorize))
        .route(
            "/oauth/authorize/consent",
            axum::routing::post(authz::authorize::consent),
        )
        .route(
            "/oauth/token",
            axum::routing::post(authz::token::token).options(authz::preflight),
        )
        .route(
            "/oauth/revoke",
            axum::routing::post(authz::token::revoke).options(authz::preflight),
        )
        .merge(authz::routes())
        .route("/.well-known/gatehouse-audit-key", get(audit_key))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(api::local_servers::routes())
        .fallback(ui::serve)
        // Outermost: every handler sees the client's address, not a proxy's.
        .layer(axum::middleware::from_fn_with_state(
            gw.clone(),
            client_address::rewrite,
        ))
        .with_state(gw)
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
    if gw.authz.is_some() {
        body["scopes_supported"] = serde_json::json!([authz::SCOPE]);
    }
    authz::cors(axum::Json(body).into_response())
}

async fn audit_key(State(gw): State<Arc<Gateway>>) -> Response {
    axum::Json(serde_json::json!({
        "algorithm": "ed25519",
        "public_key": gatehouse_audit::public_key_hex(&gw.signing_key),
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

/// A JSON-RPC error as an HTTP response.
pub(crate) fn rpc_error(
    status: StatusCode,
    id: Option<Id>,
    code: i64,
    message: String,
) -> Response {
    json_response(status, Message::error(id, code, message, None).to_json())
}

fn json_response(status: StatusCode, json: String) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(HttpBody::from(json))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn unrecorded(id: Option<Id>, e: &crate::store::StoreError) -> Response {
    tracing::error!(error = %e, "failing closed: the request could not be recorded");
    rpc_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        id,
        codes::INTERNAL_ERROR,
        format!(
            "Gatehouse could not record this request, so it was not forwarded ({e}). Try again; if it persists, tell your Gatehouse admin."
        ),
    )
}

impl Gateway {
    /// The person behind a request: a dev token (dev mode only), else an access token
    /// from the configured identity provider whose audience is this gateway (or `server`).
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        server: Option<&str>,
    ) -> Result<Principal, AuthError> {
        self.authenticate_why(headers, server)
            .await
            .map_err(|r| r.error)
    }

    /// As [`Gateway::authenticate`], saying why a token was refused (for the record).
    pub async fn authenticate_why(
        &self,
        headers: &HeaderMap,
        server: Option<&str>,
    ) -> Result<Principal, authz::tokens::Refusal> {
        let base = self.config.public_base();
        let mut audiences = vec![format!("{base}/mcp")];
        audiences.extend(server.map(|s| format!("{base}/mcp/{s}")));
        self.authenticate_for(headers, &audiences, audiences.clone())
            .await
    }

    /// The caller of the management API: the control plane's own tokens only for the
    /// API's audience (issued to Gatehouse's own clients); provider tokens as at `/mcp`.
    pub async fn authenticate_api(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        let base = self.config.public_base();
        let ours = [authz::first_party::api_audience(&base)];
        self.authenticate_for(headers, &ours, vec![format!("{base}/mcp")])
            .await
            .map_err(|r| r.error)
    }

    /// A [dev] token, one of our tokens for one of `ours`, or a provider token for one
    /// of `provider` or the configured `[oidc] audiences`.
    async fn authenticate_for(
        &self,
        headers: &HeaderMap,
        ours: &[String],
        mut provider: Vec<String>,
    ) -> Result<Principal, authz::tokens::Refusal> {
        match self.auth.authenticate(headers) {
            Err(AuthError::Invalid) => {}
            Err(AuthError::Missing) => {
                return Err(authz::tokens::Refusal {
                    error: AuthError::Missing,
                    reason: "no bearer token".into(),
                });
            }
            other => return other.map_err(authz::tokens::Refusal::invalid_from),
        }
        let Some(token) = auth::bearer(headers) else {
            return Err(authz::tokens::Refusal::invalid("no bearer token"));
        };
        // Our own tokens (our key id), or any token when there is no identity provider
        // to ask (the refusal then says why).
        if let Some(az) = &self.authz
            && (az.keys.names_our_key(token) || self.oidc.is_none())
        {
            return az.verify(token, ours);
        }
        let Some(verifier) = &self.oidc else {
            return Err(authz::tokens::Refusal::invalid(if self.dev_mode {
                "not a [dev] token, and no identity provider is configured"
            } else {
                "no identity provider is configured ([oidc]); dev sign-in is off"
            }));
        };
        provider.extend(
            self.config
                .oidc
                .iter()
                .flat_map(|o| o.audiences.iter().cloned()),
        );
        verifier.verify(token, &provider).await
    }
}

/// Host check, sign-in and server lookup shared by POST, GET and DELETE.
#[allow(clippy::result_large_err)]
async fn admit<'a>(
    gw: &'a Gateway,
    server: &str,
    headers: &HeaderMap,
    peer: &authz::Peer,
) -> Result<(Principal, &'a ServerConfig), Response> {
    gw.hosts
        .check(headers)
        .map_err(|e| rpc_error(StatusCode::FORBIDDEN, None, codes::INVALID_REQUEST, e))?;
    let principal = match gw.authenticate_why(headers, Some(server)).await {
        Ok(p) => p,
        Err(r) => {
            // A missing token is how every MCP client starts its sign-in: not a failure.
            if r.error != AuthError::Missing {
                gw.auth_failure(
                    &authz::source(peer),
                    serde_json::json!({ "stage": "gateway", "server": server, "reason": r.reason }),
                )
                .await;
            }
            return Err(unauthorized(gw, server, &r.error));
        }
    };
    let cfg = gw.config.server(server).ok_or_else(|| {
        let names: Vec<&str> = gw.config.servers.iter().map(|s| s.name.as_str()).collect();
        rpc_error(
            StatusCode::NOT_FOUND,
            None,
            codes::INVALID_REQUEST,
            format!(
                "there is no MCP server named `{server}` here; configured servers: {}",
                names.join(", ")
            ),
        )
    })?;
    Ok((principal, cfg))
}

fn unauthorized(gw: &Gateway, server: &str, e: &AuthError) -> Response {
    let mut challenge = format!(
        "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp/{server}\"",
        gw.config.public_base()
    );
    if let Some(err) = e.oauth_error() {
        challenge.push_str(&format!(", error=\"{err}\""));
    }
    if let AuthError::InsufficientScope(scope) = e {
        challenge.push_str(&format!(", scope=\"{scope}\""));
    }
    let (status, msg) = match e {
        AuthError::Missing => (
            StatusCode::UNAUTHORIZED,
            "sign-in required: send `Authorization: Bearer <token>`".to_string(),
        ),
        AuthError::Invalid => (
            StatusCode::UNAUTHORIZED,
            "the bearer token is not valid (expired, revoked, for another audience, or dev sign-in is off)".to_string(),
        ),
        AuthError::InsufficientScope(scope) => (
            StatusCode::FORBIDDEN,
            format!("the token lacks the scope this gateway requires: ask for `{scope}` when signing in"),
        ),
    };
    let mut resp = rpc_error(status, None, codes::INVALID_REQUEST, msg);
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn session_gone(gw: &Gateway, id: &str, principal: &Principal) -> Response {
    let why = match gw.sessions.get(id) {
        Some(s)
            if s.principal.user == principal.user
                && !ended::same_groups(&s.principal, principal) =>
        {
            "was started with other groups than your token now carries".to_string()
        }
        _ => match gw.ended.cause(id, &principal.user) {
            Some(cause) => format!("has ended: {cause}"),
            None => "is unknown or has ended".to_string(),
        },
    };
    rpc_error(
        StatusCode::NOT_FOUND,
        None,
        codes::INVALID_REQUEST,
        format!("session `{id}` {why}; start a new session with initialize"),
    )
}

/// The era a session-less request belongs to: the stateless era when it carries a
/// 2026-07-28-or-later version in `_meta` or the `MCP-Protocol-Version` header.
fn stateless_version(headers: &HeaderMap, msg: &Message) -> Option<String> {
    let v =
        mcp::meta_protocol_version(msg).or_else(|| header_str(headers, "mcp-protocol-version"))?;
    (Era::of_version(v) == Era::Current).then(|| v.to_string())
}

fn era_mismatch(id: Option<Id>, server: &ServerConfig, client: Era) -> Response {
    let (theirs, ours) = match client {
        Era::Legacy => (
            "a session-based (initialize) MCP revision",
            "the stateless 2026-07-28 revision",
        ),
        Era::Current => (
            "the stateless 2026-07-28 revision",
            "session-based MCP (2025-11-25 or older)",
        ),
    };
    rpc_error(
        StatusCode::BAD_REQUEST,
        id,
        codes::ERA_MISMATCH,
        format!(
            "this client speaks {theirs} but server `{}` speaks {ours}; Gatehouse cannot bridge them faithfully. Use a client that supports {ours}.",
            server.name
        ),
    )
}

async fn post_mcp(
    State(gw): State<Arc<Gateway>>,
    Path(server): Path<String>,
    peer: authz::Peer,
    headers: HeaderMap,
    body: HttpBody,
) -> Response {
    let started = Instant::now();
    let (principal, cfg) = match admit(&gw, &server, &headers, &peer).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let content_type = header_str(&headers, "content-type").unwrap_or("");
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        return rpc_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            codes::INVALID_REQUEST,
            format!("Content-Type must be application/json, not `{content_type}`"),
        );
    }
    let limit = gw.config.limits.body_bytes;
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            return rpc_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                codes::INVALID_REQUEST,
                format!(
                    "the request body is larger than the limit of {limit} bytes (limits.body_bytes)"
                ),
            );
        }
    };
    let body = match Body::decode(&bytes) {
        Ok(b) => b,
        Err(e) => return rpc_error(StatusCode::BAD_REQUEST, None, e.code(), e.to_string()),
    };
    let is_batch = body.is_batch();
    let msgs = body.into_messages();
    let accepts_sse =
        header_str(&headers, "accept").is_some_and(|a| a.contains("text/event-stream"));

    let session = match header_str(&headers, "mcp-session-id") {
        Some(id) => match gw.sessions.get(id) {
            Some(s) if ended::owns(&s, &principal, &server) => s,
            _ => return session_gone(&gw, id, &principal),
        },
        None => {
            let first = &msgs[0];
            if !is_batch && first.is_request() && first.method() == Some("initialize") {
                return initialize(
                    &gw,
                    cfg,
                    &principal,
                    msgs.into_iter().next().unwrap_or_else(|| unreachable!()),
                    started,
                )
                .await;
            }
            match stateless_version(&headers, first) {
                Some(_) if is_batch => {
                    return rpc_error(
                        StatusCode::BAD_REQUEST,
                        None,
                        codes::INVALID_REQUEST,
                        "batches are not part of MCP 2026-07-28".into(),
                    );
                }
                Some(_) if cfg.era == Era::Legacy => {
                    return era_mismatch(first.id().cloned(), cfg, Era::Current);
                }
                Some(_) => match stateless_session(&gw, cfg, &principal, first).await {
                    Ok(s) => s,
                    Err(r) => return r,
                },
                None => {
                    return rpc_error(
                        StatusCode::BAD_REQUEST,
                        first.id().cloned(),
                        codes::INVALID_REQUEST,
                        "missing Mcp-Session-Id header: start a session with initialize (or, for MCP 2026-07-28, put the protocol version in params._meta)".into(),
                    );
                }
            }
        }
    };
    session.touch();
    if is_batch
        && !session
            .protocol_version()
            .as_deref()
            .is_some_and(mcp::allows_batches)
    {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            codes::INVALID_REQUEST,
            "JSON-RPC batches are only part of MCP 2025-03-26; send one message per request".into(),
        );
    }
    let mut rh = RequestHeaders::default();
    if session.era == Era::Current {
        for m in &msgs {
            if let Err(e) = guard::check_routing_headers(&headers, m) {
                return rpc_error(
                    StatusCode::BAD_REQUEST,
                    m.id().cloned(),
                    codes::HEADER_MISMATCH,
                    e,
                );
            }
        }
        rh.protocol_version = mcp::meta_protocol_version(&msgs[0])
            .or_else(|| header_str(&headers, "mcp-protocol-version"))
            .map(String::from);
        rh.passthrough = guard::passthrough_headers(&headers);
    }
    let span = tracing::info_span!("request", session = %session.id, server = %server, method = msgs[0].method().unwrap_or("-"));
    stream::exchange(
        gw.clone(),
        session,
        msgs,
        rh,
        accepts_sse,
        is_batch,
        started,
    )
    .instrument(span)
    .await
}

async fn initialize(
    gw: &Arc<Gateway>,
    cfg: &ServerConfig,
    principal: &Principal,
    msg: Message,
    started: Instant,
) -> Response {
    let session = match gw.open_session(cfg, principal, Era::Legacy, &msg).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if cfg.era == Era::Current {
        return initialize_bridged(gw, session, msg, started).await;
    }
    let span = tracing::info_span!("request", session = %session.id, server = %cfg.name, method = "initialize");
    if let Err(e) = gw
        .store
        .record(vec![recording::client_event(&session, &msg)])
        .await
    {
        let id = session.id.clone();
        gw.sessions.insert(session, None);
        gw.end_session(&id, "record_failed").await;
        return unrecorded(msg.id().cloned(), &e);
    }
    let answer = stream::forward_for_answer(gw, &session, msg, &RequestHeaders::default(), started)
        .instrument(span)
        .await;
    let negotiated = answer
        .result_value()
        .and_then(|r| r.get("protocolVersion"))
        .and_then(|v| v.as_str())
        .map(String::from);
    let Some(version) = negotiated else {
        // The handshake failed: there is no session to keep.
        let id = session.id.clone();
        gw.sessions.insert(session, None);
        gw.end_session(&id, "initialize_failed").await;
        return json_response(gw.failed_handshake(&cfg.name, &answer), answer.to_json());
    };
    session.upstream.set_protocol_version(&version);
    session.set_protocol_version(&version);
    if let Err(e) = gw
        .store
        .session_info(&session.id, None, Some(version))
        .await
    {
        let id = session.id.clone();
        gw.sessions.insert(session, None);
        gw.end_session(&id, "record_failed").await;
        return unrecorded(answer.id().cloned(), &e);
    }
    let mut resp = json_response(StatusCode::OK, answer.to_json());
    if let Ok(v) = HeaderValue::from_str(&session.id) {
        resp.headers_mut().insert("mcp-session-id", v);
    }
    gw.sessions.insert(session, None);
    resp
}

/// `initialize` from a session-era client to a stateless upstream: answered from
/// `server/discover` (see `bridge`).
async fn initialize_bridged(
    gw: &Arc<Gateway>,
    session: Arc<Session>,
    msg: Message,
    started: Instant,
) -> Response {
    let fail = |session: Arc<Session>, reason: &'static str| async move {
        let id = session.id.clone();
        gw.sessions.insert(session, None);
        gw.end_session(&id, reason).await;
    };
    let b = bridge::Bridge::from_initialize(&msg);
    let id = msg.id().cloned().unwrap_or(Id::Number("0".into()));
    let discover = b.discover(id.clone());
    let note = recording::gateway_event(
        &session.id,
        "bridged",
        serde_json::json!({ "client": "initialize", "upstream": "server/discover" }),
    );
    if let Err(e) = gw
        .store
        .record(vec![recording::client_event(&session, &msg), note])
        .await
    {
        fail(session, "record_failed").await;
        return unrecorded(Some(id), &e);
    }
    let _ = session.bridge.set(b);
    session
        .upstream
        .set_protocol_version(mcp::CURRENT_ERA_FIRST);
    let rh = RequestHeaders {
        protocol_version: Some(mcp::CURRENT_ERA_FIRST.into()),
        passthrough: bridge::Bridge::headers(&discover),
    };
    let answer = stream::forward_for_answer(gw, &session, discover, &rh, started).await;
    let Some(found) = answer.result_value() else {
        let status = gw.failed_handshake(&session.server, &answer);
        fail(session, "initialize_failed").await;
        return json_response(status, answer.to_json());
    };
    let requested = msg
        .params()
        .and_then(|p| p.get("protocolVersion"))
        .and_then(|v| v.as_str());
    let result = bridge::initialize_result(requested, found);
    let version = result["protocolVersion"]
        .as_str()
        .unwrap_or(mcp::LEGACY_LATEST)
        .to_string();
    let reply = Message::result(id, result);
    let recorded = gw
        .store
        .record(vec![recording::event_of(
            &session.id,
            crate::store::Direction::Gateway,
            &reply,
            &Default::default(),
        )])
        .await;
    let recorded = match recorded {
        Ok(()) => {
            gw.store
                .session_info(&session.id, None, Some(version.clone()))
                .await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = recorded {
        fail(session, "record_failed").await;
        return unrecorded(reply.id().cloned(), &e);
    }
    session.set_protocol_version(&version);
    let mut resp = json_response(StatusCode::OK, reply.to_json());
    if let Ok(v) = HeaderValue::from_str(&session.id) {
        resp.headers_mut().insert("mcp-session-id", v);
    }
    gw.sessions.insert(session, None);
    resp
}

async fn stateless_session(
    gw: &Arc<Gateway>,
    cfg: &ServerConfig,
    principal: &Principal,
    first: &Message,
) -> Result<Arc<Session>, Response> {
    let client = mcp::client_info(first)
        .map(|c| c.0)
        .unwrap_or_else(|| "unknown".into());
    // One group per person, server, client and group set: new groups, new session.
    let client = format!("{client}\n{}", ended::group_set(principal));
    let key: GroupKey = (principal.user.clone(), cfg.name.clone(), client);
    let _guard = gw.group_lock.lock().await;
    if let Some(s) = gw.sessions.get_group(&key) {
        return Ok(s);
    }
    let s = gw.open_session(cfg, principal, Era::Current, first).await?;
    gw.sessions.insert(s.clone(), Some(key));
    Ok(s)
}

async fn get_mcp(
    State(gw): State<Arc<Gateway>>,
    Path(server): Path<String>,
    peer: authz::Peer,
    headers: HeaderMap,
) -> Response {
    let (principal, _) = match admit(&gw, &server, &headers, &peer).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !header_str(&headers, "accept").is_some_and(|a| a.contains("text/event-stream")) {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            None,
            codes::INVALID_REQUEST,
            "the GET stream is Server-Sent Events: send `Accept: text/event-stream`".into(),
        );
    }
    let Some(id) = header_str(&headers, "mcp-session-id") else {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            codes::INVALID_REQUEST,
            "missing Mcp-Session-Id header: the GET stream belongs to a session".into(),
        );
    };
    let session = match gw.sessions.get(id) {
        Some(s) if ended::owns(&s, &principal, &server) => s,
        _ => return session_gone(&gw, id, &principal),
    };
    let last = header_str(&headers, "last-event-id").and_then(|v| v.parse::<u64>().ok());
    stream::server_stream(&session, last).await
}

async fn delete_mcp(
    State(gw): State<Arc<Gateway>>,
    Path(server): Path<String>,
    peer: authz::Peer,
    headers: HeaderMap,
) -> Response {
    let (principal, _) = match admit(&gw, &server, &headers, &peer).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(id) = header_str(&headers, "mcp-session-id") else {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            codes::INVALID_REQUEST,
            "missing Mcp-Session-Id header".into(),
        );
    };
    match gw.sessions.get(id) {
        Some(s) if ended::owns(&s, &principal, &server) => {
            gw.end_session(id, "client_closed").await;
            StatusCode::NO_CONTENT.into_response()
        }
        _ => session_gone(&gw, id, &principal),
    }
}

/// Serves the gateway until `stop` resolves, then drains: server streams end, open
/// requests finish, and every session is closed and recorded as ended by shutdown.
pub async fn serve(
    gw: Arc<Gateway>,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    gw.spawn_reaper();
    gw.spawn_checkpoints();
    for sink in &gw.config.audit.sinks {
        tokio::spawn(crate::sinks::run(
            gw.store.clone(),
            sink.clone(),
            gw.shutdown.clone(),
        ));
    }
    crate::agents::spawn_watch(&gw);
    gw.start_policy_watch()
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let token = gw.shutdown.clone();
    let app = router(gw.clone());
    let drained = async move {
        stop.await;
        tracing::info!("shutting down: draining open requests");
        token.cancel();
    };
    // No Nagle delay: JSON-RPC messages and agent tunnel frames are small and
    // latency-bound (with it, a frame can wait 40 ms for the peer's delayed ACK).
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(drained)
    .await?;
    gw.end_all_sessions("gateway_shutdown").await;
    gw.flush_failures(true).await;
    gw.checkpoint().await;
    Ok(())
}
