//! Just-in-time access: ask for a role on a server for a while, decide a request, list
//! grants and requests, end a grant early. A request is an approval (method
//! `access/request`), so deciding one here or in the approvals queue is the same vote.

use super::approvals::vote;
use super::caller::{Role, signed_in, signed_in_to_change};
use super::error::ApiError;
use crate::access::{AccessError, Ask, METHOD};
use crate::gateway::Gateway;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use gatehouse_pipeline::ApprovalTerms;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// What a person asks for.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct AccessRequestBody {
    /// The server, as the gateway names it (`local:NAME` for a laptop's local server).
    server: String,
    /// The role a policy rule offers there.
    role: String,
    /// For how long: `30m`, `2h`, `1h30m` (at most the rule's `max`).
    duration: String,
    /// Why: a ticket or an incident, on the record for approvers and auditors.
    reason: String,
}

/// `POST /api/v1/access/requests`
#[utoipa::path(
    post,
    operation_id = "request_access",
    path = "/api/v1/access/requests",
    tag = "access",
    request_body = AccessRequestBody,
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 201, description = "The request, pending approval", body = crate::approvals::Approval),
        (status = 400, description = "Bad duration, no reason, a role no rule offers, or longer than the rule allows", body = crate::api::schema::ErrorBody),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 403, description = "The rule offering the role does not cover the caller", body = crate::api::schema::ErrorBody),
        (status = 404, description = "No such server", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn request(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Json(body): Json<AccessRequestBody>,
) -> Result<Response, ApiError> {
    let p = signed_in_to_change(&gw, &headers).await?;
    let reason = body.reason.trim();
    if reason.is_empty() {
        return Err(ApiError::bad_request(
            "a reason is required (a ticket or incident): approvers and auditors read it",
        ));
    }
    let local = body.server.starts_with("local:");
    if !local && gw.config.server(&body.server).is_none() {
        return Err(ApiError::not_found(format!(
            "there is no server `{}`; `gatehouse servers` lists them",
            body.server
        )));
    }
    let duration = gatehouse_policy::parse_ttl(&body.duration).map_err(|e| {
        ApiError::bad_request(format!(
            "duration: {}",
            e.trim_start_matches("ttl ").replace("ttl", "duration")
        ))
    })?;
    let Some(policy) = gw.policy() else {
        return Err(ApiError::bad_request(
            "no policy is in force, so there is nothing to request: everyone may use every server",
        ));
    };
    let rights = crate::gateway::rights_of(&p);
    let offer = policy
        .policy()
        .offer(&rights, &body.server, &body.role, duration)
        .map_err(|e| match e {
            gatehouse_policy::OfferError::NotCovered { .. } => ApiError::forbidden(e.to_string()),
            _ => ApiError::bad_request(e.to_string()),
        })?;
    let ask = Ask {
        person: &p.user,
        groups: &p.groups,
        server: &body.server,
        role: &body.role,
        duration,
        reason,
    };
    let a = gw.store.request_access(&ask, &offer).await?;
    crate::gateway::approval::notify(
        &gw,
        &a,
        &ApprovalTerms {
            approvers: offer.terms.approvers.clone(),
            quorum: offer.terms.quorum,
            ttl: offer.terms.ttl,
            mode: gatehouse_pipeline::ApprovalMode::Hold,
            rule: Some(offer.rule.clone()),
        },
    );
    Ok((StatusCode::CREATED, Json(a)).into_response())
}

/// `?all=true` lists everyone's grants and requests (auditors and admins).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessQuery {
    #[serde(default)]
    all: bool,
}

/// `GET /api/v1/access`
#[utoipa::path(
    get,
    operation_id = "list_access",
    path = "/api/v1/access",
    tag = "access",
    params(AccessQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Grants (live and past) and access requests the caller may see", body = crate::api::schema::AccessList),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 403, description = "`all` without the auditor or admin role", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn list(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(q): Query<AccessQuery>,
) -> Result<Response, ApiError> {
    let p = signed_in(&gw, &headers).await?;
    if q.all {
        gw.require(&p, Role::Auditor)?;
    }
    let everyone = q.all || gw.reads_everything(&p);
    let grants = gw
        .store
        .grants((!everyone).then_some(p.user.as_str()))
        .await?;
    let mut requests = gw.store.approvals(false).await?;
    requests.retain(|a| a.method == METHOD && gw.may_see_approval(&p, a));
    Ok(Json(json!({ "grants": grants, "requests": requests })).into_response())
}

/// A decision's reason.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct AccessDecisionBody {
    /// Why (on the record).
    reason: String,
}

/// `POST /api/v1/access/requests/{id}/{verb}`
#[utoipa::path(
    post,
    operation_id = "decide_access_request",
    path = "/api/v1/access/requests/{id}/{verb}",
    tag = "access",
    params(("id" = String, Path, description = "Request id"), ("verb" = String, Path, description = "`approve` or `deny`", example = "approve")),
    request_body = AccessDecisionBody,
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "The vote is recorded; the request and, once approved, its grant", body = crate::api::schema::AccessDecision),
        (status = 400, description = "No reason given", body = crate::api::schema::ErrorBody),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 403, description = "Own request, or not an approver", body = crate::api::schema::ErrorBody),
        (status = 404, description = "No such request", body = crate::api::schema::ErrorBody),
        (status = 409, description = "Already decided, or already voted", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn decide(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path((id, verb)): Path<(String, String)>,
    Json(body): Json<AccessDecisionBody>,
) -> Result<Response, ApiError> {
    let p = signed_in_to_change(&gw, &headers).await?;
    let approve = match verb.as_str() {
        "approve" => true,
        "deny" => false,
        _ => return Err(ApiError::not_found("use /approve or /deny")),
    };
    let reason = body.reason.trim();
    if reason.is_empty() {
        return Err(ApiError::bad_request(
            "a reason is required: it goes on the record for auditors",
        ));
    }
    match gw.store.approval(&id).await? {
        Some(a) if a.method == METHOD => {}
        _ => {
            return Err(ApiError::not_found(format!(
                "there is no access request `{id}`; `gatehouse access list` shows them"
            )));
        }
    }
    let a = vote(&gw, &p, &id, approve, reason).await?;
    let grant = gw.store.grant_if_approved(&a).await?;
    Ok(Json(json!({ "request": a, "grant": grant })).into_response())
}

/// Why a grant is ended early.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RevokeBody {
    /// Why (on the record); optional.
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /api/v1/access/grants/{id}/revoke`
#[utoipa::path(
    post,
    operation_id = "revoke_grant",
    path = "/api/v1/access/grants/{id}/revoke",
    tag = "access",
    params(("id" = String, Path, description = "Grant id")),
    request_body = RevokeBody,
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "The grant, now ended", body = crate::access::AccessGrant),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 403, description = "Someone else's grant, and the caller is not an admin", body = crate::api::schema::ErrorBody),
        (status = 404, description = "No such grant", body = crate::api::schema::ErrorBody),
        (status = 409, description = "The grant already ended", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn revoke(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Option<Json<RevokeBody>>,
) -> Result<Response, ApiError> {
    let p = signed_in_to_change(&gw, &headers).await?;
    let reason = body
        .and_then(|b| b.0.reason)
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "ended early".into());
    let admin = gw.require(&p, Role::Admin).is_ok();
    match gw
        .store
        .revoke_access_grant(&id, &p.user, admin, &reason)
        .await
    {
        Ok(g) => Ok(Json(g).into_response()),
        Err(e) => Err(match &e {
            AccessError::NotFound(_) => ApiError::not_found(e.to_string()),
            AccessError::NotYours(_) => ApiError::forbidden(e.to_string()),
            AccessError::Ended { .. } => ApiError::conflict(e.to_string()),
            AccessError::Store(cause) => crate::store::StoreError(cause.clone()).into(),
        }),
    }
}
