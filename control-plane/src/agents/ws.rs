//! `GET /agent/v1/connect`: the WebSocket agents dial out to. The first frame must be
//! `hello`; the token is checked against its stored hash, every claimed server against
//! the servers the config assigns to the token's agent. Refusals are recorded in the
//! audit log; so are connections and how they ended (each connection is recorded as a
//! session of principal `agent:NAME`, so its events are on the hash chain).

use super::Agents;
use super::hub::AgentConn;
use super::store::{ConnectionRow, token_hash};
use crate::gateway::Gateway;
use crate::gateway::recording::gateway_event;
use crate::store::NewSession;
use axum::extract::State;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use gatehouse_proxy_core::tunnel::{Frame, Mux};
use http::{HeaderMap, StatusCode};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long an agent has to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// The upgrade handler.
pub async fn connect(
    State(agents): State<Arc<Agents>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let gw = &agents.gw;
    // Browsers always send Origin on WebSockets; agents never do. Refusing it keeps web
    // pages from using a visitor's network position against this endpoint.
    if headers.contains_key(http::header::ORIGIN) {
        return (
            StatusCode::FORBIDDEN,
            "agent connections do not come from browsers (an Origin header was sent)\n",
        )
            .into_response();
    }
    let limit = gw.config.limits.body_bytes * 2 + 64 * 1024;
    ws.max_message_size(limit)
        .on_upgrade(move |socket| run(agents, socket))
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Records an agent event under its connection's own audit session.
async fn audit(gw: &Gateway, record: &str, kind: &str, detail: serde_json::Value) {
    if let Err(e) = gw
        .store
        .record(vec![gateway_event(record, kind, detail)])
        .await
    {
        tracing::error!(error = %e, kind, "could not record an agent event");
    }
}

async fn open_record(gw: &Gateway, record: &str, principal: &str, servers: &[String]) {
    let s = NewSession {
        id: record.to_string(),
        principal: principal.to_string(),
        groups: vec![],
        server: if servers.is_empty() {
            "-".to_string()
        } else {
            servers.join(",")
        },
        era: "agent".into(),
        client: None,
        protocol_version: None,
    };
    if let Err(e) = gw.store.start_session(s).await {
        tracing::error!(error = %e, "could not record an agent connection");
    }
}

async fn refuse(
    gw: &Gateway,
    socket: &mut WebSocket,
    record: &str,
    principal: &str,
    servers: &[String],
    detail: serde_json::Value,
    reason: String,
) {
    tracing::warn!(agent = principal, %reason, "agent refused");
    open_record(gw, record, principal, servers).await;
    let mut detail = detail;
    detail["reason"] = json!(reason);
    audit(gw, record, "agent_refused", detail).await;
    if let Err(e) = gw.store.end_session(record, "agent_refused").await {
        tracing::error!(error = %e, "could not record an agent refusal");
    }
    let _ = socket
        .send(WsMessage::Text(Frame::Refused { reason }.encode().into()))
        .await;
    let _ = socket.close().await;
}

/// Reads `hello` and decides; on success returns the registered connection.
async fn admit(
    agents: &Agents,
    socket: &mut WebSocket,
) -> Option<(Arc<AgentConn>, mpsc::UnboundedReceiver<Frame>)> {
    let gw = &agents.gw;
    let record = format!("agent-{}", uuid::Uuid::new_v4().simple());
    let first = tokio::time::timeout(HELLO_TIMEOUT, socket.next()).await;
    let hello = match first {
        Ok(Some(Ok(WsMessage::Text(t)))) => Frame::decode(&t),
        _ => {
            tracing::warn!("an agent connection sent no hello within 10 s; closed");
            return None;
        }
    };
    let (token, version, servers) = match hello {
        Ok(Frame::Hello {
            token,
            version,
            servers,
        }) => (token, version, servers),
        Ok(other) => {
            let reason = format!("the first frame must be `hello`, not {other:?}");
            refuse(gw, socket, &record, "agent:?", &[], json!({}), reason).await;
            return None;
        }
        Err(e) => {
            refuse(
                gw,
                socket,
                &record,
                "agent:?",
                &[],
                json!({}),
                e.to_string(),
            )
            .await;
            return None;
        }
    };
    let detail = json!({ "version": version, "servers": servers });
    let row = match gw.store.agent_token_by_hash(&token_hash(&token)).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot check an agent token; refusing");
            let _ = socket.close().await;
            return None;
        }
    };
    let Some(row) = row else {
        let reason = "the agent token is not valid: create one with `gatehouse agents create NAME` and give it to the agent (token = \"env:VAR\" or \"file:PATH\")".to_string();
        refuse(gw, socket, &record, "agent:?", &servers, detail, reason).await;
        return None;
    };
    let principal = format!("agent:{}", row.agent);
    let mut detail = detail;
    detail["agent"] = json!(row.agent);
    detail["token_id"] = json!(row.id);
    if let Some(at) = &row.revoked_at {
        let reason = format!(
            "agent token {} was revoked at {at}; create a new one with `gatehouse agents create {}`",
            row.id, row.agent
        );
        refuse(gw, socket, &record, &principal, &servers, detail, reason).await;
        return None;
    }
    let bogus: Vec<&String> = servers
        .iter()
        .filter(|s| {
            !gw.config
                .server(s)
                .is_some_and(|c| c.agents().contains(&row.agent))
        })
        .collect();
    if !bogus.is_empty() {
        let names = bogus
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let reason = format!(
            "agent `{}` claims server(s) {names} that the control plane does not assign to it; assign them with agent = \"{}\" in their [[servers]] entry, or remove them from the agent's config",
            row.agent, row.agent
        );
        refuse(gw, socket, &record, &principal, &servers, detail, reason).await;
        return None;
    }
    let heartbeat = gw.config.agents.heartbeat_secs;
    let welcome = Frame::Welcome {
        agent: row.agent.clone(),
        heartbeat_secs: heartbeat,
    };
    if socket
        .send(WsMessage::Text(welcome.encode().into()))
        .await
        .is_err()
    {
        return None;
    }
    let (mux, out) = Mux::new();
    let at = now();
    let conn = Arc::new(AgentConn {
        id: record.clone(),
        agent: row.agent.clone(),
        token_id: row.id.clone(),
        version: version.clone(),
        servers: servers.clone(),
        connected_at: at.clone(),
        last_seen: std::sync::Mutex::new(at.clone()),
        mux,
        kill: gw.shutdown.child_token(),
        kill_reason: std::sync::Mutex::new(None),
    });
    open_record(gw, &record, &principal, &servers).await;
    audit(gw, &record, "agent_connected", detail).await;
    let stored = ConnectionRow {
        id: record.clone(),
        agent: row.agent.clone(),
        token_id: row.id.clone(),
        version,
        servers,
        connected_at: at.clone(),
        last_seen_at: at,
        disconnected_at: None,
        disconnect_reason: None,
    };
    if let Err(e) = gw.store.agent_connected(&stored).await {
        tracing::error!(error = %e, "could not store an agent connection");
    }
    agents.hub.register(conn.clone());
    gw.metrics.agent_connected(&conn.agent, true);
    tracing::info!(agent = %conn.agent, version = %conn.version, servers = ?conn.servers, "agent connected");
    Some((conn, out))
}

/// One agent connection, from hello to goodbye.
async fn run(agents: Arc<Agents>, mut socket: WebSocket) {
    let gw = &agents.gw;
    let Some((conn, mut out)) = admit(&agents, &mut socket).await else {
        return;
    };
    let reason = serve(gw, &conn, socket, &mut out).await;
    conn.mux.shutdown(&format!("disconnected: {reason}"));
    agents.hub.unregister(&conn.id);
    let still = agents
        .hub
        .connections()
        .iter()
        .any(|c| c.agent == conn.agent);
    gw.metrics.agent_connected(&conn.agent, still);
    tracing::info!(agent = %conn.agent, %reason, "agent disconnected");
    audit(
        gw,
        &conn.id,
        "agent_disconnected",
        json!({ "agent": conn.agent, "reason": reason }),
    )
    .await;
    if let Err(e) = gw.store.end_session(&conn.id, &reason).await {
        tracing::error!(error = %e, "could not record the end of an agent connection");
    }
    if let Err(e) = gw.store.agent_disconnected(&conn.id, &reason).await {
        tracing::error!(error = %e, "could not store the end of an agent connection");
    }
}

/// Moves frames until the connection ends; returns why it ended.
async fn serve(
    gw: &Arc<Gateway>,
    conn: &Arc<AgentConn>,
    socket: WebSocket,
    out: &mut mpsc::UnboundedReceiver<Frame>,
) -> String {
    let (mut sink, mut stream) = socket.split();
    let every = Duration::from_secs(gw.config.agents.heartbeat_secs);
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    let mut heard = Instant::now();
    let mut seq = 0u64;
    loop {
        tokio::select! {
            _ = conn.kill.cancelled() => {
                let dropped = conn.kill_reason.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let reason = match dropped {
                    // Dropped on purpose (token revoked): the agent is told why.
                    Some(reason) => {
                        let _ = sink.send(WsMessage::Text(Frame::Refused { reason: reason.clone() }.encode().into())).await;
                        reason
                    }
                    // Shutdown: a plain close, so the agent reconnects as soon as we are back.
                    None => "the control plane is shutting down".to_string(),
                };
                let _ = sink.close().await;
                return reason;
            }
            frame = out.recv() => {
                let Some(frame) = frame else { return "the connection's writer stopped".into() };
                if let Err(e) = sink.send(WsMessage::Text(frame.encode().into())).await {
                    return format!("the connection was lost ({e})");
                }
            }
            msg = stream.next() => {
                let text = match msg {
                    Some(Ok(WsMessage::Text(t))) => t,
                    Some(Ok(WsMessage::Close(_))) | None => {
                        return "the agent closed the connection (it stopped, or the network failed)".into()
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return format!("the connection was lost ({e})"),
                };
                heard = Instant::now();
                match Frame::decode(&text) {
                    Ok(frame) => match conn.mux.dispatch(frame) {
                        None => {}
                        Some(Frame::Ping { seq }) => {
                            conn.mux.send_frame(Frame::Pong { seq });
                        }
                        Some(Frame::Pong { .. }) => {}
                        Some(other) => {
                            tracing::warn!(agent = %conn.agent, frame = ?other, "unexpected frame from an agent; ignored");
                        }
                    },
                    Err(e) => tracing::warn!(agent = %conn.agent, error = %e, "ignored a malformed frame"),
                }
            }
            _ = tick.tick() => {
                if heard.elapsed() > every * 3 {
                    return format!("no heartbeat for {} s", heard.elapsed().as_secs());
                }
                seq += 1;
                conn.mux.send_frame(Frame::Ping { seq });
                if heard.elapsed() <= every {
                    *conn.last_seen.lock().unwrap_or_else(|e| e.into_inner()) = now();
                    if let Err(e) = gw.store.agent_seen(&conn.id).await {
                        tracing::warn!(error = %e, "could not store an agent's last-seen time");
                    }
                }
            }
        }
    }
}
