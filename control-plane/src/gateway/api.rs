//! The JSON API under `/api/v1/` (so far: approvals), signed in like the gateway.

use super::Gateway;
use super::recording::gateway_event;
use crate::approvals::VoteError;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

// Handlers answer with a `Response` either way; boxing it would only add noise.
#[allow(clippy::result_large_err)]
pub(crate) async fn signed_in(
    gw: &Gateway,
    headers: &HeaderMap,
) -> Result<super::auth::Principal, Response> {
    gw.hosts
        .check(headers)
        .map_err(|e| error(StatusCode::FORBIDDEN, e))?;
    gw.authenticate(headers, None).await.map_err(|_| {
        error(
            StatusCode::UNAUTHORIZED,
            "sign-in required: send `Authorization: Bearer <token>`",
        )
    })
}

/// `?all=true` lists decided ones too.
#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    all: bool,
}

/// `GET /api/v1/approvals`
pub async fn list(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    if let Err(r) = signed_in(&gw, &headers).await {
        return r;
    }
    match gw.store.approvals(!q.all).await {
        Ok(a) => Json(json!({ "approvals": a })).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `POST /api/v1/policies`: publishes the YAML body as the next policy version. Only
/// members of `admin_groups` may; a bad document is refused with line:column errors.
pub async fn push_policy(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let principal = match signed_in(&gw, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if !principal
        .groups
        .iter()
        .any(|g| gw.config.admin_groups.contains(g))
    {
        return error(
            StatusCode::FORBIDDEN,
            format!(
                "only members of {} may publish policies",
                gw.config.admin_groups.join(", ")
            ),
        );
    }
    let policy = match gatehouse_policy::Policy::from_yaml(&body) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.with_file("policy").to_string()),
    };
    match gw.store.push_policy(&body, policy.source_digest(), &principal.user).await {
        Ok(version) => (
            StatusCode::CREATED,
            Json(json!({ "version": version, "digest": policy.source_digest(), "published_by": principal.user })),
        )
            .into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// The body of a decision.
#[derive(Deserialize)]
pub struct DecisionBody {
    reason: String,
}

/// `POST /api/v1/approvals/{id}/{approve|deny}`
pub async fn decide(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path((id, verb)): Path<(String, String)>,
    body: Option<Json<DecisionBody>>,
) -> Response {
    let principal = match signed_in(&gw, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let approve = match verb.as_str() {
        "approve" => true,
        "deny" => false,
        _ => return error(StatusCode::NOT_FOUND, "use /approve or /deny"),
    };
    let reason = body
        .map(|b| b.0.reason.trim().to_string())
        .unwrap_or_default();
    if reason.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "a reason is required: it goes on the record for auditors",
        );
    }
    match gw
        .store
        .vote(&id, &principal.user, &principal.groups, approve, &reason)
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
            Json(a).into_response()
        }
        Err(e) => {
            let status = match &e {
                VoteError::NotFound(_) => StatusCode::NOT_FOUND,
                VoteError::Closed { .. } | VoteError::AlreadyVoted(_) => StatusCode::CONFLICT,
                VoteError::OwnRequest(_) | VoteError::NotAnApprover(_) => StatusCode::FORBIDDEN,
                VoteError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            error(status, e.to_string())
        }
    }
}
