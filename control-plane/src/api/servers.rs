//! Servers and tool pins for the dashboard: how each configured server is reached, how
//! many sessions are open on it, and tool definitions that changed and wait for an admin.

use super::{Role, error, signed_in, signed_in_to_change};
use crate::gateway::Gateway;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::json;
use std::sync::Arc;

/// `GET /api/v1/servers`
pub async fn list(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    if let Err(r) = signed_in(&gw, &headers).await {
        return r;
    }
    let (pins, last) = match (
        gw.store.pins().await,
        gw.store.last_session_per_server().await,
    ) {
        (Ok(p), Ok(l)) => (p, l),
        (Err(e), _) | (_, Err(e)) => {
            return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
        }
    };
    let live = gw.sessions.all();
    let servers: Vec<_> = gw
        .config
        .servers
        .iter()
        .map(|s| {
            let transport = if s.command.is_some() {
                "stdio"
            } else if s.transport.as_deref() == Some("sse") {
                "sse"
            } else {
                "http"
            };
            json!({
                "name": s.name,
                "transport": transport,
                "era": s.era.as_str(),
                "pin_tools": s.pin_tools,
                "masking_profile": s.masking_profile,
                "open_sessions": live.iter().filter(|l| l.server == s.name).count(),
                "last_session_at": last.get(&s.name),
                "tools_pinned": pins.iter().filter(|p| p.server == s.name).count(),
                "pending_pins": pins.iter().filter(|p| p.server == s.name && p.pending_digest.is_some()).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({ "servers": servers })).into_response()
}

/// `POST /api/v1/pins/{server}/{tool}/{accept|reject}` (admins).
pub async fn decide(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path((server, tool, verb)): Path<(String, String, String)>,
) -> Response {
    let principal = match signed_in_to_change(&gw, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Err(r) = gw.require(&principal, Role::Admin) {
        return r;
    }
    let done = match verb.as_str() {
        "accept" => gw.store.accept_tool(&server, &tool, &principal.user).await,
        "reject" => gw.store.reject_tool(&server, &tool, &principal.user).await,
        _ => return error(StatusCode::NOT_FOUND, "use /accept or /reject"),
    };
    match done {
        Ok(true) => {
            gw.control_event(
                &format!("tool_change_{verb}ed"),
                json!({ "server": server, "tool": tool, "by": principal.user }),
            )
            .await;
            Json(json!({ "server": server, "tool": tool, "decision": verb })).into_response()
        }
        Ok(false) => error(
            StatusCode::CONFLICT,
            format!("`{server}/{tool}` has no changed definition waiting for a decision"),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
