//! Servers and tool pins for the dashboard: how each configured server is reached, how
//! many sessions are open on it, and tool definitions that changed and wait for an admin.

use super::caller::{Role, signed_in, signed_in_to_change};
use super::error::ApiError;
use crate::gateway::Gateway;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use serde_json::json;
use std::sync::Arc;

/// `GET /api/v1/servers`
#[utoipa::path(
    get,
    operation_id = "list_servers",
    path = "/api/v1/servers",
    tag = "servers",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Every configured server with its pins", body = crate::api::schema::ServerList),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn list(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    signed_in(&gw, &headers).await?;
    let (pins, last) = match (
        gw.store.pins().await,
        gw.store.last_session_per_server().await,
    ) {
        (Ok(p), Ok(l)) => (p, l),
        (Err(e), _) | (_, Err(e)) => {
            return Err(ApiError::from(e));
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
    Ok(Json(json!({ "servers": servers })).into_response())
}

/// `POST /api/v1/pins/{server}/{tool}/{accept|reject}` (admins).
#[utoipa::path(
    post,
    operation_id = "decide_pin",
    path = "/api/v1/pins/{server}/{tool}/{verb}",
    tag = "servers",
    params(("server" = String, Path), ("tool" = String, Path), ("verb" = String, Path, description = "`accept` or `reject`", example = "accept")),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "Decided", body = crate::api::schema::PinDecision),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 403, description = "Not allowed (role, or the cookie without `X-Gatehouse-Request: 1`)", body = crate::api::schema::ErrorBody),
        (status = 404, description = "A verb other than accept/reject", body = crate::api::schema::ErrorBody),
        (status = 409, description = "No changed definition waits", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn decide(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path((server, tool, verb)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let principal = signed_in_to_change(&gw, &headers).await?;
    gw.require(&principal, Role::Admin)?;
    let done = match verb.as_str() {
        "accept" => gw.store.accept_tool(&server, &tool, &principal.user).await,
        "reject" => gw.store.reject_tool(&server, &tool, &principal.user).await,
        _ => return Err(ApiError::not_found("use /accept or /reject")),
    };
    match done {
        Ok(true) => {
            gw.identity
                .control_event(
                    &format!("tool_change_{verb}ed"),
                    json!({ "server": server, "tool": tool, "by": principal.user }),
                )
                .await;
            Ok(Json(json!({ "server": server, "tool": tool, "decision": verb })).into_response())
        }
        Ok(false) => Err(ApiError::conflict(format!(
            "`{server}/{tool}` has no changed definition waiting for a decision"
        ))),
        Err(e) => Err(ApiError::from(e)),
    }
}
