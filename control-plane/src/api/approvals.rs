//! Approvals: the queue a caller may see, and the votes of approvers.

use super::caller::{signed_in, signed_in_to_change};
use super::error::ApiError;
use crate::approvals::VoteError;
use crate::gateway::Gateway;
use crate::gateway::recording::gateway_event;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// `?all=true` lists decided ones too; `?full=true` shows big argument values whole.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    #[serde(default)]
    all: bool,
    #[serde(default)]
    full: bool,
}

/// An approval as `reader` sees it: arguments masked with the reader's own masking
/// profile (on top of the requester's, as stored), big values cut unless `full`, with
/// the reason it is asked and SQL pretty-printed.
pub(crate) fn for_reader(
    gw: &Gateway,
    reader: &crate::identity::auth::Principal,
    a: crate::approvals::Approval,
    full: bool,
) -> crate::approvals::Approval {
    let server_profile = gw
        .config
        .server(&a.server)
        .and_then(|s| s.masking_profile.as_deref());
    let profile = gw
        .masking
        .profile_for(&a.server, server_profile, &reader.groups);
    let masker = gw.masking.masker(&profile);
    let policy = gw.policy();
    a.for_reader(
        policy.as_ref().map(|p| p.policy()),
        |v| {
            masker.mask_json(v);
        },
        full,
    )
}

/// `GET /api/v1/approvals`
#[utoipa::path(
    get,
    operation_id = "list_approvals",
    path = "/api/v1/approvals",
    tag = "approvals",
    params(ListQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Approvals the caller may see", body = crate::api::schema::ApprovalList),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn list(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let principal = signed_in(&gw, &headers).await?;
    match gw.store.approvals(!q.all).await {
        Ok(mut a) => {
            a.retain(|a| gw.may_see_approval(&principal, a));
            let a: Vec<_> = a
                .into_iter()
                .map(|a| for_reader(&gw, &principal, a, q.full))
                .collect();
            Ok(Json(json!({ "approvals": a })).into_response())
        }
        Err(e) => Err(ApiError::from(e)),
    }
}

/// The body of a decision.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct DecisionBody {
    reason: String,
}

/// `POST /api/v1/approvals/{id}/{approve|deny}`
#[utoipa::path(
    post,
    operation_id = "decide_approval",
    path = "/api/v1/approvals/{id}/{verb}",
    tag = "approvals",
    params(("id" = String, Path, description = "Approval id"), ("verb" = String, Path, description = "`approve` or `deny`", example = "approve")), request_body = DecisionBody,
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "The vote is recorded; the approval as it now stands", body = crate::approvals::Approval),
        (status = 400, description = "No reason given", body = crate::api::schema::ErrorBody),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 403, description = "Not allowed (role, or the cookie without `X-Gatehouse-Request: 1`)", body = crate::api::schema::ErrorBody),
        (status = 404, description = "No such approval, or a verb other than approve/deny", body = crate::api::schema::ErrorBody),
        (status = 409, description = "Already decided, or already voted", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn decide(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path((id, verb)): Path<(String, String)>,
    body: Option<Json<DecisionBody>>,
) -> Result<Response, ApiError> {
    let principal = signed_in_to_change(&gw, &headers).await?;
    let approve = match verb.as_str() {
        "approve" => true,
        "deny" => false,
        _ => return Err(ApiError::not_found("use /approve or /deny")),
    };
    let reason = body
        .map(|b| b.0.reason.trim().to_string())
        .unwrap_or_default();
    if reason.is_empty() {
        return Err(ApiError::bad_request(
            "a reason is required: it goes on the record for auditors",
        ));
    }
    let a = vote(&gw, &principal, &id, approve, &reason).await?;
    Ok(Json(a).into_response())
}

/// One person's vote, recorded in the approval's session; an approved access request
/// becomes its grant here, whichever surface the vote came from.
pub(crate) async fn vote(
    gw: &Gateway,
    principal: &crate::identity::auth::Principal,
    id: &str,
    approve: bool,
    reason: &str,
) -> Result<crate::approvals::Approval, ApiError> {
    let verb = if approve { "approve" } else { "deny" };
    match gw
        .store
        .vote(id, &principal.user, &principal.groups, approve, reason)
        .await
    {
        Ok(a) => {
            let ev = gateway_event(
                &a.session_id,
                "approval_vote",
                json!({ "approval": a.id, "approver": principal.user, "vote": verb, "reason": reason, "state": a.state }),
            );
            if let Err(e) = gw.store.record(vec![ev]).await {
                tracing::error!(error = %e, approval = %a.id, "could not record an approval vote in the session");
            }
            gw.store.grant_if_approved(&a).await?;
            Ok(a)
        }
        Err(e) => Err(match &e {
            // The cause goes to the log; the approver is told where to look.
            VoteError::Store(cause) => crate::store::StoreError(cause.clone()).into(),
            VoteError::NotFound(_) => ApiError::not_found(e.to_string()),
            VoteError::Closed { .. } | VoteError::AlreadyVoted(_) => {
                ApiError::conflict(e.to_string())
            }
            VoteError::OwnRequest(_) | VoteError::NotAnApprover(_) => {
                ApiError::forbidden(e.to_string())
            }
        }),
    }
}
