//! The JSON API under `/api/v1/`: approvals, policies, sessions, audit, servers. Callers
//! sign in like the gateway (bearer token) or with the dashboard's cookie; a change made
//! with the cookie must carry the CSRF header.

pub mod agents;
pub mod audit;
pub mod local_servers;
pub mod me;
pub mod openapi;
pub mod policies;
pub mod proofs;
pub mod schema;
pub mod servers;
pub mod sessions;
pub mod spool;
pub mod watch;

use crate::approvals::VoteError;
use crate::gateway::Gateway;
use crate::gateway::recording::gateway_event;
use crate::identity::auth::Principal;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// The signed-in caller: a bearer token (as for the gateway), else the dashboard cookie.
// Handlers answer with a `Response` either way; boxing it would only add noise.
#[allow(clippy::result_large_err)]
pub(crate) async fn signed_in(gw: &Gateway, headers: &HeaderMap) -> Result<Principal, Response> {
    Ok(caller(gw, headers).await?.0)
}

/// The caller and whether they came with the cookie (which makes CSRF a concern).
#[allow(clippy::result_large_err)]
async fn caller(gw: &Gateway, headers: &HeaderMap) -> Result<(Principal, bool), Response> {
    gw.hosts
        .check(headers)
        .map_err(|e| error(StatusCode::FORBIDDEN, e))?;
    if crate::identity::auth::bearer(headers).is_some() {
        return gw
            .authenticate_api(headers)
            .await
            .map(|p| (p, false))
            .map_err(|_| {
                error(
                    StatusCode::UNAUTHORIZED,
                    "the bearer token is not valid here (expired, revoked, or for another audience: \
                     the management API takes tokens of `gatehouse login` or the tray, not of MCP clients)",
                )
            });
    }
    match gw.cookie_principal(headers).await {
        Some(p) => Ok((p, true)),
        None => Err(error(
            StatusCode::UNAUTHORIZED,
            "sign-in required: sign in to the dashboard, or send `Authorization: Bearer <token>`",
        )),
    }
}

/// The signed-in caller of a request that changes something: with the cookie, only
/// when the request carries the CSRF header.
#[allow(clippy::result_large_err)]
pub(crate) async fn signed_in_to_change(
    gw: &Gateway,
    headers: &HeaderMap,
) -> Result<Principal, Response> {
    let (p, by_cookie) = caller(gw, headers).await?;
    if by_cookie && headers.get(crate::identity::signin::CSRF_HEADER).is_none() {
        return Err(error(
            StatusCode::FORBIDDEN,
            "changes made with the dashboard's cookie must send the `X-Gatehouse-Request: 1` header",
        ));
    }
    Ok(p)
}

/// A dashboard role a caller needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Reads everything.
    Auditor,
    /// Changes policies, servers, agents.
    Admin,
}

impl Gateway {
    fn is_admin(&self, p: &Principal) -> bool {
        p.groups
            .iter()
            .any(|g| self.config.admin_groups.contains(g))
    }

    fn is_auditor(&self, p: &Principal) -> bool {
        p.groups
            .iter()
            .any(|g| self.config.roles.auditor_groups.contains(g))
    }

    /// Refuses with 403 unless the caller has `role` (admins may read what auditors may).
    #[allow(clippy::result_large_err)]
    pub(crate) fn require(&self, p: &Principal, role: Role) -> Result<(), Response> {
        let (ok, groups) = match role {
            Role::Auditor => (
                self.is_auditor(p) || self.is_admin(p),
                [
                    &self.config.roles.auditor_groups[..],
                    &self.config.admin_groups[..],
                ]
                .concat(),
            ),
            Role::Admin => (self.is_admin(p), self.config.admin_groups.clone()),
        };
        if ok {
            Ok(())
        } else {
            Err(error(
                StatusCode::FORBIDDEN,
                format!(
                    "`{}` may not do this: it needs membership of {}",
                    p.user,
                    groups.join(" or ")
                ),
            ))
        }
    }

    /// Auditors and admins see every approval; approvers those they may decide; everyone
    /// their own requests.
    pub(crate) fn may_see_approval(&self, p: &Principal, a: &crate::approvals::Approval) -> bool {
        self.reads_everything(p)
            || a.requester == p.user
            || p.groups.iter().any(|g| a.approvers.contains(g))
    }

    /// True when the caller may read everyone's records (auditors and admins).
    pub(crate) fn reads_everything(&self, p: &Principal) -> bool {
        self.is_auditor(p) || self.is_admin(p)
    }
}

/// `?all=true` lists decided ones too.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    #[serde(default)]
    all: bool,
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
        (status = 401, description = "Not signed in", body = crate::api::schema::ApiError),
    )
)]
pub async fn list(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let principal = match signed_in(&gw, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match gw.store.approvals(!q.all).await {
        Ok(mut a) => {
            a.retain(|a| gw.may_see_approval(&principal, a));
            Json(json!({ "approvals": a })).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `POST /api/v1/policies`: publishes the YAML body as the next policy version. Only
/// members of `admin_groups` may; a bad document is refused with line:column errors.
#[utoipa::path(
    post,
    operation_id = "publish_policy",
    path = "/api/v1/policies",
    tag = "policies",
    request_body(content = String, content_type = "application/yaml", description = "The policy document"),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 201, description = "Published", body = crate::api::schema::PolicyPublished),
        (status = 400, description = "The document is not valid (line:column errors)", body = crate::api::schema::ApiError),
        (status = 401, description = "Not signed in", body = crate::api::schema::ApiError),
        (status = 403, description = "Not allowed (role, or the cookie without `X-Gatehouse-Request: 1`)", body = crate::api::schema::ApiError),
    )
)]
pub async fn push_policy(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let principal = match signed_in_to_change(&gw, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Err(r) = gw.require(&principal, Role::Admin) {
        return r;
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
        (status = 400, description = "No reason given", body = crate::api::schema::ApiError),
        (status = 401, description = "Not signed in", body = crate::api::schema::ApiError),
        (status = 403, description = "Not allowed (role, or the cookie without `X-Gatehouse-Request: 1`)", body = crate::api::schema::ApiError),
        (status = 404, description = "No such approval, or a verb other than approve/deny", body = crate::api::schema::ApiError),
        (status = 409, description = "Already decided, or already voted", body = crate::api::schema::ApiError),
    )
)]
pub async fn decide(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path((id, verb)): Path<(String, String)>,
    body: Option<Json<DecisionBody>>,
) -> Response {
    let principal = match signed_in_to_change(&gw, &headers).await {
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

/// The JSON API's routes (`/api/v1/...`), over the gateway's shared state, each with its
/// documentation: a route is added here with `routes!` and its handler's
/// `#[utoipa::path]`, so what is served is what `/api/v1/openapi.json` describes.
pub fn routes() -> OpenApiRouter<Arc<Gateway>> {
    OpenApiRouter::new()
        .routes(routes!(me::me))
        .routes(routes!(list))
        .routes(routes!(watch::approvals))
        .routes(routes!(decide))
        .routes(routes!(policies::list, push_policy))
        .routes(routes!(watch::policies))
        .routes(routes!(policies::check))
        .routes(routes!(policies::dry_run))
        .routes(routes!(policies::get))
        .routes(routes!(sessions::list))
        .routes(routes!(sessions::detail))
        .routes(routes!(sessions::overview))
        .routes(routes!(audit::status))
        .routes(routes!(audit::verify))
        .routes(routes!(proofs::inclusion))
        .routes(routes!(proofs::consistency))
        .routes(routes!(proofs::witnesses))
        .routes(routes!(audit::evidence))
        .routes(routes!(servers::list))
        .routes(routes!(spool::upload))
        .routes(routes!(servers::decide))
        .routes(routes!(openapi::serve))
        .merge(local_servers::routes())
}
