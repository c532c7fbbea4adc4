//! The `/mcp/{server}` endpoint: POST (messages), GET (the server's stream) and DELETE
//! (end a session) for clients of both protocol eras, after the host check and sign-in.
use super::rpc_error::{RpcError, json_response};
use super::session::{GroupKey, Session};
use super::state::Gateway;
use super::{bridge, ended, guard, host, stream};
use crate::config::ServerConfig;
use crate::identity::auth::{self, AuthError, Principal};
use crate::identity::authz;

use axum::body::Body as HttpBody;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use gatehouse_proxy_core::jsonrpc::{Body, Id, Message, codes};
use gatehouse_proxy_core::mcp::{self, Era};
use gatehouse_proxy_core::upstream::RequestHeaders;
use http::{HeaderMap, HeaderValue, StatusCode};
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

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
        match self.identity.auth.authenticate(headers) {
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
        if let Some(az) = &self.identity.authz
            && (az.keys.names_our_key(token) || self.identity.oidc.is_none())
        {
            return az.verify(token, ours);
        }
        let Some(verifier) = &self.identity.oidc else {
            return Err(authz::tokens::Refusal::invalid(if self.identity.dev_mode {
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
    gw.identity
        .hosts
        .check(headers)
        .map_err(|e| RpcError::invalid_request(StatusCode::FORBIDDEN, e).into_response())?;
    let principal = match gw.authenticate_why(headers, Some(server)).await {
        Ok(p) => p,
        Err(r) => {
            // A missing token is how every MCP client starts its sign-in: not a failure.
            if r.error != AuthError::Missing {
                gw.identity.auth_failure(
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
        RpcError::invalid_request(
            StatusCode::NOT_FOUND,
            format!(
                "there is no MCP server named `{server}` here; configured servers: {}",
                names.join(", ")
            ),
        )
        .into_response()
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
    RpcError::invalid_request(status, msg)
        .with_challenge(&challenge)
        .into_response()
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
    RpcError::invalid_request(
        StatusCode::NOT_FOUND,
        format!("session `{id}` {why}; start a new session with initialize"),
    )
    .into_response()
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
    RpcError::new(StatusCode::BAD_REQUEST, id, codes::ERA_MISMATCH, format!(
            "this client speaks {theirs} but server `{}` speaks {ours}; Gatehouse cannot bridge them faithfully. Use a client that supports {ours}.",
            server.name
        )).into_response()
}

pub(super) async fn post_mcp(
    State(gw): State<Arc<Gateway>>,
    Path(server): Path<String>,
    peer: authz::Peer,
    headers: HeaderMap,
    body: HttpBody,
) -> Response {
    // The request's trace span, continuing the client's trace (`traceparent`); with
    // tracing off it is disabled and nothing below reads or records for it.
    let trace = tracing::info_span!(
        target: gatehouse_proxy_core::trace::TARGET,
        "mcp.request",
        otel.kind = "server",
        mcp.server = %server,
        mcp.method.name = tracing::field::Empty,
        gen_ai.tool.name = tracing::field::Empty,
        mcp.session.id = tracing::field::Empty,
    );
    gatehouse_telemetry::propagate::continue_from(&trace, &headers);
    post(gw, server, peer, headers, body, trace.clone())
        .instrument(trace)
        .await
}

async fn post(
    gw: Arc<Gateway>,
    server: String,
    peer: authz::Peer,
    headers: HeaderMap,
    body: HttpBody,
    trace: tracing::Span,
) -> Response {
    let started = Instant::now();
    let admitted = admit(&gw, &server, &headers, &peer)
        .instrument(gatehouse_proxy_core::stage_span!("auth"))
        .await;
    let (principal, cfg) = match admitted {
        Ok(x) => x,
        Err(r) => return r,
    };
    let content_type = header_str(&headers, "content-type").unwrap_or("");
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        return RpcError::invalid_request(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type must be application/json, not `{content_type}`"),
        )
        .into_response();
    }
    let limit = gw.config.limits.body_bytes;
    let bytes =
        match axum::body::to_bytes(body, limit).await {
            Ok(b) => b,
            Err(_) => {
                return RpcError::invalid_request(StatusCode::PAYLOAD_TOO_LARGE, format!(
                    "the request body is larger than the limit of {limit} bytes (limits.body_bytes)"
                )).into_response();
            }
        };
    let body = match Body::decode(&bytes) {
        Ok(b) => b,
        Err(e) => {
            return RpcError::new(StatusCode::BAD_REQUEST, None, e.code(), e.to_string())
                .into_response();
        }
    };
    let is_batch = body.is_batch();
    let msgs = body.into_messages();
    if !trace.is_disabled() {
        let first = &msgs[0];
        trace.record("mcp.method.name", first.method().unwrap_or("-"));
        if first.method() == Some("tools/call")
            && let Some(tool) = first
                .params()
                .and_then(|p| p.get("name"))
                .and_then(|n| n.as_str())
        {
            trace.record("gen_ai.tool.name", tool);
        }
    }
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
                    return RpcError::invalid_request(
                        StatusCode::BAD_REQUEST,
                        "batches are not part of MCP 2026-07-28",
                    )
                    .into_response();
                }
                Some(_) if cfg.era == Era::Legacy => {
                    return era_mismatch(first.id().cloned(), cfg, Era::Current);
                }
                Some(_) => match stateless_session(&gw, cfg, &principal, first).await {
                    Ok(s) => s,
                    Err(r) => return r,
                },
                None => {
                    return RpcError::new(StatusCode::BAD_REQUEST, first.id().cloned(), codes::INVALID_REQUEST, "missing Mcp-Session-Id header: start a session with initialize (or, for MCP 2026-07-28, put the protocol version in params._meta)").into_response();
                }
            }
        }
    };
    session.touch();
    trace.record("mcp.session.id", session.id.as_str());
    if is_batch
        && !session
            .protocol_version()
            .as_deref()
            .is_some_and(mcp::allows_batches)
    {
        return RpcError::invalid_request(
            StatusCode::BAD_REQUEST,
            "JSON-RPC batches are only part of MCP 2025-03-26; send one message per request",
        )
        .into_response();
    }
    let mut rh = RequestHeaders::default();
    if session.era == Era::Current {
        for m in &msgs {
            if let Err(e) = guard::check_routing_headers(&headers, m) {
                return RpcError::new(
                    StatusCode::BAD_REQUEST,
                    m.id().cloned(),
                    codes::HEADER_MISMATCH,
                    e,
                )
                .into_response();
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
        &principal,
        msgs,
        rh,
        accepts_sse,
        is_batch,
        started,
        trace,
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
        return initialize_bridged(gw, session, principal, msg, started).await;
    }
    let span = tracing::info_span!("request", session = %session.id, server = %cfg.name, method = "initialize");
    let host = host::SessionHost {
        gw: gw.clone(),
        session: session.clone(),
    };
    let upstream = host::SessionUpstream {
        session: session.clone(),
        headers: RequestHeaders::default(),
    };
    let request = gatehouse_pipeline::Request {
        received: started,
        ..gatehouse_pipeline::Request::new(host::rights_of(principal), msg)
    };
    let answer = match stream::call_for_answer(&host, &upstream, request)
        .instrument(span)
        .await
    {
        Ok(answer) => answer,
        Err(refused) => {
            let id = session.id.clone();
            gw.sessions.insert(session, None);
            gw.end_session(&id, "record_failed").await;
            return refused;
        }
    };
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
        return RpcError::unrecorded(answer.id().cloned(), &e).into_response();
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
    principal: &Principal,
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
    let note = gatehouse_pipeline::Record::note(
        &session.id,
        "bridged",
        serde_json::json!({ "client": "initialize", "upstream": "server/discover" }),
    );
    if let Err(e) = gw.store.record(vec![note]).await {
        fail(session, "record_failed").await;
        return RpcError::unrecorded(Some(id), &e).into_response();
    }
    let _ = session.bridge.set(b.clone());
    session
        .upstream
        .set_protocol_version(mcp::CURRENT_ERA_FIRST);
    let host = host::SessionHost {
        gw: gw.clone(),
        session: session.clone(),
    };
    let upstream = host::Discover {
        session: session.clone(),
        bridge: b,
    };
    let rights = host::rights_of(principal);
    let requested = msg
        .params()
        .and_then(|p| p.get("protocolVersion"))
        .and_then(|v| v.as_str())
        .map(String::from);
    let request = gatehouse_pipeline::Request {
        received: started,
        ..gatehouse_pipeline::Request::new(rights.clone(), msg)
    };
    let answer = match stream::call_for_answer(&host, &upstream, request).await {
        Ok(answer) => answer,
        Err(refused) => {
            fail(session, "record_failed").await;
            return refused;
        }
    };
    let Some(found) = answer.result_value() else {
        let status = gw.failed_handshake(&session.server, &answer);
        fail(session, "initialize_failed").await;
        return json_response(status, answer.to_json());
    };
    let result = bridge::initialize_result(requested.as_deref(), found);
    let version = result["protocolVersion"]
        .as_str()
        .unwrap_or(mcp::LEGACY_LATEST)
        .to_string();
    let reply = gw
        .masking_for(&session.server, &rights)
        .from_server(Message::result(id, result), None);
    let recorded = gw
        .store
        .record(vec![gatehouse_pipeline::Record::message(
            &session.id,
            gatehouse_pipeline::Direction::Gateway,
            &reply,
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
        return RpcError::unrecorded(reply.get().id().cloned(), &e).into_response();
    }
    session.set_protocol_version(&version);
    let mut resp = json_response(StatusCode::OK, reply.get().to_json());
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

pub(super) async fn get_mcp(
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
        return RpcError::invalid_request(
            StatusCode::NOT_ACCEPTABLE,
            "the GET stream is Server-Sent Events: send `Accept: text/event-stream`",
        )
        .into_response();
    }
    let Some(id) = header_str(&headers, "mcp-session-id") else {
        return RpcError::invalid_request(
            StatusCode::BAD_REQUEST,
            "missing Mcp-Session-Id header: the GET stream belongs to a session",
        )
        .into_response();
    };
    let session = match gw.sessions.get(id) {
        Some(s) if ended::owns(&s, &principal, &server) => s,
        _ => return session_gone(&gw, id, &principal),
    };
    let last = header_str(&headers, "last-event-id").and_then(|v| v.parse::<u64>().ok());
    stream::server_stream(&session, last).await
}

pub(super) async fn delete_mcp(
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
        return RpcError::invalid_request(StatusCode::BAD_REQUEST, "missing Mcp-Session-Id header")
            .into_response();
    };
    match gw.sessions.get(id) {
        Some(s) if ended::owns(&s, &principal, &server) => {
            gw.end_session(id, "client_closed").await;
            StatusCode::NO_CONTENT.into_response()
        }
        _ => session_gone(&gw, id, &principal),
    }
}
