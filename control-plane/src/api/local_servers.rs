//! Local servers (`[[local_servers]]`) for the tray app and `gatehouse connect NAME`:
//!
//! * `GET /api/v1/local-servers`: the local servers the caller's groups may run (and the
//!   policy lets them use), each with its masking profile, plus the policy in force — what
//!   a laptop needs to run them under the same rules as the gateway, offline too;
//! * `POST /api/v1/local-servers/{name}/approvals`: a local call the policy holds for
//!   approval becomes an approval like the gateway's (same store, queue, votes, rules);
//!   the terms come from the control plane's own policy decision, never from the laptop;
//! * `POST /api/v1/local-servers/approvals/{id}/wait`: waits (up to 30 s per call) for
//!   the decision; an approved call is consumed here, once, by its requester.

use super::caller::{signed_in, signed_in_to_change};
use super::error::ApiError;
use crate::approvals::NewApproval;
use crate::config::LocalServerConfig;
use crate::gateway::Gateway;
use crate::identity::auth::Principal;
use crate::store::NewSession;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use gatehouse_pipeline::{Call, Verdict};
use gatehouse_proxy_core::jsonrpc::Message;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes, registered once in the JSON API's table.
pub fn routes() -> OpenApiRouter<Arc<Gateway>> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(request_approval))
        .routes(routes!(wait))
}

/// The policy's name for a local server.
fn policy_name(name: &str) -> String {
    format!("local:{name}")
}

impl Gateway {
    /// The local servers this person may run: their groups are named, and the policy in
    /// force (if any) lets them use `local:NAME`.
    fn local_servers_for(&self, p: &Principal) -> Vec<&LocalServerConfig> {
        let policy = self.policy();
        self.config
            .local_servers
            .iter()
            .filter(|s| s.allows(&p.groups))
            .filter(|s| {
                let rights = crate::gateway::rights_of(p);
                gatehouse_pipeline::may_connect(policy.as_deref(), &rights, &policy_name(&s.name))
                    .is_ok()
            })
            .collect()
    }

    /// The masking profile a person's local session of `s` runs with.
    fn local_profile(&self, s: &LocalServerConfig, p: &Principal) -> String {
        self.masking.profile_for(
            &policy_name(&s.name),
            s.masking_profile.as_deref(),
            &p.groups,
        )
    }
}

/// `GET /api/v1/local-servers` → `{ user, groups, servers: [...], policy }`.
#[utoipa::path(
    get,
    operation_id = "list_local_servers",
    path = "/api/v1/local-servers",
    tag = "local",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The local servers the caller may run and the policy in force", body = crate::api::schema::LocalServers),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 503, description = "The policy in force cannot be read yet", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn list(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = signed_in(&gw, &headers).await?;
    // A laptop must never run with less than the policy in force: if it cannot be read,
    // the answer is an error, not an empty policy.
    let policy = match gw.policy() {
        None => Value::Null,
        Some(p) => match gw.store.policy_version(p.number).await {
            Ok(Some(v)) => {
                json!({ "version": v.version, "digest": v.digest, "document": v.document })
            }
            Ok(None) => {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "the policy in force ({}) is not published in the store yet; try again in a moment",
                        p.version
                    ),
                ));
            }
            Err(e) => {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    e.to_string(),
                ));
            }
        },
    };
    let servers: Vec<Value> = gw
        .local_servers_for(&principal)
        .into_iter()
        .map(|s| {
            let profile = gw.local_profile(s, &principal);
            json!({
                "name": s.name,
                "description": s.description,
                "command": s.command,
                "args": s.args,
                "env": s.env,
                "masking_profile": profile,
                "masking": gw.masking.definition(&profile),
            })
        })
        .collect();
    Ok(Json(json!({
        "user": principal.user,
        "groups": principal.groups,
        "servers": servers,
        "policy": policy,
    }))
    .into_response())
}

/// The body of an approval request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ApprovalRequest {
    /// The local session (`local-...`) the call belongs to.
    session_id: String,
    /// The JSON-RPC request the client sent, as sent.
    request: Value,
}

/// `POST /api/v1/local-servers/{name}/approvals`: 201 `{approval}` when the control
/// plane's policy holds the call; 200 `{decision: "allow"}` when it lets it pass; 403
/// with the rule's message when it refuses it.
#[utoipa::path(
    post,
    operation_id = "request_local_approval",
    path = "/api/v1/local-servers/{name}/approvals",
    tag = "local",
    params(("name" = String, Path, description = "Local server name")), request_body = ApprovalRequest,
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 201, description = "The policy holds the call: the approval asked for it", body = crate::api::schema::LocalApproval),
        (status = 200, description = "The policy lets the call pass", body = crate::api::schema::LocalAllowed),
        (status = 400, description = "The body is not valid", body = crate::api::schema::ErrorBody),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 403, description = "Not allowed (role, or the cookie without `X-Gatehouse-Request: 1`)", body = crate::api::schema::ErrorBody),
        (status = 503, description = "The store is unavailable", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn request_approval(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Result<Json<ApprovalRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let principal = signed_in_to_change(&gw, &headers).await?;
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => {
            return Err(ApiError::bad_request(format!(
                "the body must be {{\"session_id\": \"local-...\", \"request\": {{...}}}}: {e}"
            )));
        }
    };
    let Some(server) = gw
        .local_servers_for(&principal)
        .into_iter()
        .find(|s| s.name == name)
    else {
        return Err(ApiError::forbidden(format!(
            "`{}` may not run a local server `{name}`",
            principal.user
        )));
    };
    let sid = &body.session_id;
    if !sid.starts_with("local-")
        || sid.len() > 100
        || !sid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(ApiError::bad_request(format!(
            "`{sid}` is not a local session id (local-...)"
        )));
    }
    let msg = match Message::from_value(body.request) {
        Ok(m) if m.is_request() => m,
        _ => {
            return Err(ApiError::bad_request(
                "`request` must be a JSON-RPC request (id, method, params)",
            ));
        }
    };
    let server_name = policy_name(&server.name);
    let Call::Request(target) = gatehouse_pipeline::classify(&msg) else {
        unreachable!("checked to be a request above")
    };
    let terms = match gw.policy() {
        None => None,
        Some(p) => {
            let rights = crate::gateway::rights_of(&principal);
            match gatehouse_pipeline::decide(Some(&p), &rights, &server_name, &target).verdict {
                Verdict::Allow => None,
                Verdict::Deny { reason } => {
                    return Ok((
                    StatusCode::FORBIDDEN,
                    Json(json!({ "error": reason, "decision": "deny", "policy_version": p.version })),
                )
                    .into_response());
                }
                Verdict::NeedsApproval(terms) => Some((terms, p.version.clone())),
            }
        }
    };
    let Some((terms, version)) = terms else {
        return Ok(Json(json!({ "decision": "allow" })).into_response());
    };
    own_session(&gw, &principal, sid, &server_name).await?;
    let digest = target.digest(&server_name);
    let (method, tool, arguments) = (target.method, target.name, target.arguments);
    // Approvers read the arguments masked with the profile this person's session uses.
    let mut masked = arguments;
    gw.masking
        .masker(&gw.local_profile(server, &principal))
        .mask_json(&mut masked);
    // A local call always waits (the laptop holds it); the policy's ttl bounds the wait.
    let created = gw
        .store
        .create_approval(&NewApproval {
            session_id: sid.clone(),
            requester: principal.user.clone(),
            server: server_name.clone(),
            method,
            tool: tool.clone(),
            digest,
            arguments: masked.clone(),
            approvers: terms.approvers.clone(),
            quorum: terms.quorum,
            mode: gatehouse_pipeline::ApprovalMode::Hold,
            rule: terms.rule.clone(),
            ttl: terms.ttl,
        })
        .await;
    let id = match created {
        Ok(id) => id,
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                e.to_string(),
            ));
        }
    };
    gw.read_pending_approvals().await;
    if let Ok(Some(a)) = gw.store.approval(&id).await {
        crate::gateway::approval::notify(&gw, &a, &terms);
    }
    tracing::info!(approval = %id, session = %sid, user = %principal.user, "a local call waits for approval");
    match gw.store.approval(&id).await {
        Ok(Some(a)) => Ok((
            StatusCode::CREATED,
            Json(json!({ "approval": a, "policy_version": version })),
        )
            .into_response()),
        Ok(None) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the approval vanished",
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            e.to_string(),
        )),
    }
}

/// The local session exists in the store (created now if its records are not uploaded
/// yet) and is this person's, on this server.
async fn own_session(gw: &Gateway, p: &Principal, id: &str, server: &str) -> Result<(), ApiError> {
    let check = |s: &crate::store::SessionRow| {
        if s.principal == p.user && s.server == server {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "session `{id}` belongs to someone else or another server"
            )))
        }
    };
    match gw.store.find_session(id).await {
        Ok(Some(s)) if s.id == id => return check(&s),
        Ok(_) => {}
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                e.to_string(),
            ));
        }
    }
    let started = gw
        .store
        .start_session(NewSession {
            id: id.to_string(),
            principal: p.user.clone(),
            groups: p.groups.clone(),
            server: server.to_string(),
            era: "local".into(),
            client: None,
            protocol_version: None,
        })
        .await;
    if let Err(e) = started {
        // The spool upload may have created it a moment ago.
        return match gw.store.find_session(id).await {
            Ok(Some(s)) if s.id == id => check(&s),
            _ => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                e.to_string(),
            )),
        };
    }
    Ok(())
}

/// `?secs=N`: how long to wait for a decision (at most 30).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    #[serde(default = "default_wait")]
    secs: u64,
}

fn default_wait() -> u64 {
    25
}

/// `POST /api/v1/local-servers/approvals/{id}/wait`: the approval once it is decided or
/// `secs` have passed. An approved call is marked used here (its requester runs it once)
/// and answered with state `used`.
#[utoipa::path(
    post,
    operation_id = "wait_local_approval",
    path = "/api/v1/local-servers/approvals/{id}/wait",
    tag = "local",
    params(("id" = String, Path, description = "Approval id"), WaitQuery),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "The approval once decided (an approved one is used now) or when the wait ends", body = crate::approvals::Approval),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 403, description = "Not allowed (role, or the cookie without `X-Gatehouse-Request: 1`)", body = crate::api::schema::ErrorBody),
        (status = 404, description = "No such approval", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn wait(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<WaitQuery>,
) -> Result<Response, ApiError> {
    let principal = signed_in_to_change(&gw, &headers).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(q.secs.min(30));
    loop {
        let a = match gw.store.approval(&id).await {
            Ok(Some(a)) => a,
            Ok(None) => {
                return Err(ApiError::not_found(format!("there is no approval `{id}`")));
            }
            Err(e) => {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    e.to_string(),
                ));
            }
        };
        if a.requester != principal.user || !a.server.starts_with("local:") {
            return Err(ApiError::forbidden(format!(
                "approval `{id}` is not a local call of `{}`",
                principal.user
            )));
        }
        if a.state == "approved" {
            return match gw.store.use_approval(&id).await {
                Ok(_) => match gw.store.approval(&id).await {
                    Ok(Some(a)) => Ok(Json(a).into_response()),
                    _ => Err(ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the approval vanished",
                    )),
                },
                Err(e) => Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    e.to_string(),
                )),
            };
        }
        if a.state != "pending" || tokio::time::Instant::now() >= deadline {
            return Ok(Json(a).into_response());
        }
        tokio::select! {
            _ = gw.shutdown.cancelled() => return Ok(Json(a).into_response()),
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}
