//! `/api/v1/agents`: agent status for anyone signed in; creating and revoking tokens and
//! draining agents for members of `admin_groups`.

use super::caller::{signed_in, signed_in_to_change};
use super::error::ApiError;
use crate::agents::store::ConnectionRow;
use crate::agents::{Agents, valid_name};
use crate::gateway::Gateway;
use crate::identity::auth::Principal;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

async fn admin(gw: &Gateway, headers: &HeaderMap) -> Result<Principal, ApiError> {
    // Every use changes something (create, revoke, drain): the cookie needs the CSRF header.
    let p = signed_in_to_change(gw, headers).await?;
    if p.groups.iter().any(|g| gw.config.admin_groups.contains(g)) {
        Ok(p)
    } else {
        Err(ApiError::forbidden(format!(
            "only members of {} may manage agents",
            gw.config.admin_groups.join(", ")
        )))
    }
}

/// Every agent the config names or that has a token: whether it is connected, its
/// connections (version, servers, last seen, open sessions), whether it is drained, and
/// its tokens (ids and dates only).
pub async fn status(part: &Agents) -> Result<Value, crate::store::StoreError> {
    let (gw, hub) = (&part.gw, &part.hub);
    let mut agents: BTreeMap<String, Value> = BTreeMap::new();
    let entry = |agents: &mut BTreeMap<String, Value>, name: &str| {
        agents
            .entry(name.to_string())
            .or_insert_with(|| {
                json!({ "name": name, "connected": false, "drained": hub.is_drained(name),
                        "assigned_servers": [], "connections": [], "tokens": [], "last_seen": null })
            })
            .clone()
    };
    for s in &gw.config.servers {
        for a in s.agents() {
            let mut e = entry(&mut agents, &a);
            if let Some(v) = e["assigned_servers"].as_array_mut() {
                v.push(json!(s.name));
            }
            agents.insert(a, e);
        }
    }
    for t in gw.store.agent_tokens().await? {
        let mut e = entry(&mut agents, &t.agent);
        if let Some(v) = e["tokens"].as_array_mut() {
            v.push(json!(t));
        }
        agents.insert(t.agent.clone(), e);
    }
    let stored: Vec<ConnectionRow> = gw.store.agent_connections().await?;
    for c in &stored {
        let mut e = entry(&mut agents, &c.agent);
        e["last_seen"] = json!(c.last_seen_at);
        e["last_version"] = json!(c.version);
        e["last_servers"] = json!(c.servers);
        if let Some(r) = &c.disconnect_reason {
            e["last_disconnect_reason"] = json!(r);
        }
        agents.insert(c.agent.clone(), e);
    }
    for c in hub.status() {
        let mut e = entry(&mut agents, &c.agent);
        e["connected"] = json!(true);
        e["last_seen"] = json!(c.last_seen);
        if let Some(v) = e["connections"].as_array_mut() {
            v.push(json!(c));
        }
        agents.insert(c.agent.clone(), e);
    }
    Ok(json!({ "agents": agents.into_values().collect::<Vec<_>>() }))
}

/// `GET /api/v1/agents`
#[utoipa::path(
    get,
    operation_id = "list_agents",
    path = "/api/v1/agents",
    tag = "agents",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Every agent: connections, tokens, drained", body = crate::api::schema::AgentList),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn list(
    State(agents): State<Arc<Agents>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let gw = &agents.gw;
    signed_in(gw, &headers).await?;
    match status(&agents).await {
        Ok(v) => Ok(Json(v).into_response()),
        Err(e) => Err(ApiError::from(e)),
    }
}

/// The body of `POST /api/v1/agents`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateBody {
    name: String,
}

/// `POST /api/v1/agents` `{"name": "..."}`: a new token for that agent, shown once.
#[utoipa::path(
    post,
    operation_id = "create_agent_token",
    path = "/api/v1/agents",
    tag = "agents",
    request_body = CreateBody,
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 201, description = "A new token, shown once", body = crate::api::schema::AgentTokenIssued),
        (status = 400, description = "No valid name", body = crate::api::schema::ErrorBody),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 403, description = "Not allowed (role, or the cookie without `X-Gatehouse-Request: 1`)", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn create(
    State(agents): State<Arc<Agents>>,
    headers: HeaderMap,
    body: Option<Json<CreateBody>>,
) -> Result<Response, ApiError> {
    let gw = &agents.gw;
    let p = admin(gw, &headers).await?;
    let Some(Json(body)) = body else {
        return Err(ApiError::bad_request(
            "send a JSON body {\"name\": \"AGENT\"}",
        ));
    };
    if !valid_name(&body.name) {
        return Err(ApiError::bad_request(format!(
            "agent name `{}` must be 1-64 letters, digits, `-` or `_`",
            body.name
        )));
    }
    match gw.store.create_agent_token(&body.name, &p.user).await {
        Ok((row, token)) => Ok((
            StatusCode::CREATED,
            Json(json!({ "id": row.id, "agent": row.agent, "token": token, "created_by": row.created_by,
                         "created_at": row.created_at,
                         "note": "the token is shown this once; give it to the agent by env: or file: reference" })),
        )
            .into_response()),
        Err(e) => Err(ApiError::from(e)),
    }
}

/// `POST /api/v1/agents/tokens/{id}/revoke`: the token stops working, and connections
/// made with it are dropped now.
#[utoipa::path(
    post,
    operation_id = "revoke_agent_token",
    path = "/api/v1/agents/tokens/{id}/revoke",
    tag = "agents",
    params(("id" = String, Path, description = "Token id")),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "Revoked; its connections dropped", body = crate::api::schema::AgentTokenRevoked),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 403, description = "Not allowed (role, or the cookie without `X-Gatehouse-Request: 1`)", body = crate::api::schema::ErrorBody),
        (status = 404, description = "No such token", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn revoke(
    State(agents): State<Arc<Agents>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let gw = &agents.gw;
    let p = admin(gw, &headers).await?;
    match gw.store.revoke_agent_token(&id, &p.user).await {
        Ok(Some(row)) => {
            let dropped = agents
                .hub
                .drop_token(&row.id, &format!("agent token {} was revoked", row.id));
            Ok(Json(json!({ "token": row, "dropped_connections": dropped })).into_response())
        }
        Ok(None) => Err(ApiError::not_found(format!(
            "there is no agent token `{id}`; `gatehouse agents list` shows the ids"
        ))),
        Err(e) => Err(ApiError::from(e)),
    }
}

/// `POST /api/v1/agents/{name}/drain` and `.../resume`.
#[utoipa::path(
    post,
    operation_id = "drain_agent",
    path = "/api/v1/agents/{name}/{verb}",
    tag = "agents",
    params(("name" = String, Path), ("verb" = String, Path, description = "`drain` or `resume`", example = "drain")),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "Drained or resumed", body = crate::api::schema::AgentDrained),
        (status = 400, description = "Not an agent name", body = crate::api::schema::ErrorBody),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 403, description = "Not allowed (role, or the cookie without `X-Gatehouse-Request: 1`)", body = crate::api::schema::ErrorBody),
        (status = 404, description = "A verb other than drain/resume", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn drain(
    State(agents): State<Arc<Agents>>,
    headers: HeaderMap,
    Path((name, verb)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let gw = &agents.gw;
    let p = admin(gw, &headers).await?;
    let drained = match verb.as_str() {
        "drain" => true,
        "resume" => false,
        _ => return Err(ApiError::not_found("use /drain or /resume")),
    };
    if !valid_name(&name) {
        return Err(ApiError::bad_request(format!(
            "`{name}` is not an agent name"
        )));
    }
    if let Err(e) = gw.store.set_agent_drained(&name, drained, &p.user).await {
        return Err(ApiError::from(e));
    }
    agents.hub.drain(&name, drained);
    let sessions: usize = agents
        .hub
        .status()
        .iter()
        .filter(|c| c.agent == name)
        .map(|c| c.sessions)
        .sum();
    Ok(
        Json(json!({ "agent": name, "drained": drained, "open_sessions": sessions }))
            .into_response(),
    )
}

/// The agents' routes under `/api/v1/agents`, over the agents' state.
pub fn routes() -> OpenApiRouter<Arc<Agents>> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
        .routes(routes!(drain))
}
