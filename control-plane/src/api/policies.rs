//! Policy history, validation as you type, and the dry run of a draft against recorded
//! history, for the dashboard's Policies page. Publishing is `POST /api/v1/policies`.

use super::caller::{Role, signed_in, signed_in_to_change};
use super::error::ApiError;
use crate::gateway::Gateway;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use gatehouse_policy::{Policy, diff_decisions};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// `GET /api/v1/policies`: every version, newest first, and the one in force.
#[utoipa::path(
    get,
    operation_id = "list_policies",
    path = "/api/v1/policies",
    tag = "policies",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Every version and the one in force", body = crate::api::schema::PolicyList),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn list(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    signed_in(&gw, &headers).await?;
    match gw.store.policy_versions().await {
        Ok(v) => Ok(Json(json!({
            "versions": v,
            "in_force": gw.policy().map(|p| p.number).filter(|n| *n > 0),
        }))
        .into_response()),
        Err(e) => Err(ApiError::from(e)),
    }
}

/// `GET /api/v1/policies/{version}`: one version with its document.
#[utoipa::path(
    get,
    operation_id = "get_policy",
    path = "/api/v1/policies/{version}",
    tag = "policies",
    params(("version" = i64, Path, description = "Version number", example = 1)),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The version with its document", body = crate::store::PolicyVersion),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 404, description = "No such version", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn get(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(version): Path<i64>,
) -> Result<Response, ApiError> {
    signed_in(&gw, &headers).await?;
    match gw.store.policy_version(version).await {
        Ok(Some(v)) => Ok(Json(v).into_response()),
        Ok(None) => Err(ApiError::not_found(format!(
            "there is no policy version {version}"
        ))),
        Err(e) => Err(ApiError::from(e)),
    }
}

/// `POST /api/v1/policies/check`: the same errors as `gatehouse policy check`, as data.
#[utoipa::path(
    post,
    operation_id = "check_policy",
    path = "/api/v1/policies/check",
    tag = "policies",
    request_body(content = String, content_type = "application/yaml", description = "The draft document"),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Valid (with its digest) or the problems", body = crate::api::schema::PolicyCheck),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn check(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: String,
) -> Result<Response, ApiError> {
    signed_in(&gw, &headers).await?;
    match Policy::from_yaml(&body) {
        Ok(p) => Ok(Json(json!({ "ok": true, "digest": p.source_digest() })).into_response()),
        Err(e) => Ok(Json(json!({
            "ok": false,
            "errors": e.errors().iter().map(|e| json!({ "line": e.line, "column": e.column, "message": e.message })).collect::<Vec<_>>(),
        }))
        .into_response()),
    }
}

/// The dry run's input.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct DryRunBody {
    document: String,
    #[serde(default = "default_since")]
    since: String,
}

fn default_since() -> String {
    "7d".into()
}

/// `7d`, `12h`, `30m` as a duration.
pub fn parse_period(text: &str) -> Option<chrono::Duration> {
    let (n, unit) = text.split_at(text.len().checked_sub(1)?);
    let n: i64 = n.parse().ok().filter(|n| *n >= 0)?;
    match unit {
        "d" => Some(chrono::Duration::days(n)),
        "h" => Some(chrono::Duration::hours(n)),
        "m" => Some(chrono::Duration::minutes(n)),
        "s" => Some(chrono::Duration::seconds(n)),
        _ => None,
    }
}

/// `POST /api/v1/policies/dry-run`: replays the requests recorded in the period against
/// the draft and the policy in force; lists each request whose decision would change.
/// Auditors and admins only (it reads everyone's requests).
#[utoipa::path(
    post,
    operation_id = "dry_run_policy",
    path = "/api/v1/policies/dry-run",
    tag = "policies",
    request_body = DryRunBody,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Requests whose decision would change", body = crate::api::schema::DryRun),
        (status = 400, description = "The draft or the period is not valid", body = crate::api::schema::ErrorBody),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 403, description = "Signed in without the role this needs", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn dry_run(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Json(body): Json<DryRunBody>,
) -> Result<Response, ApiError> {
    let principal = signed_in(&gw, &headers).await?;
    gw.require(&principal, Role::Auditor)?;
    let draft = match Policy::from_yaml(&body.document) {
        Ok(p) => p,
        Err(e) => return Err(ApiError::bad_request(e.with_file("draft").to_string())),
    };
    let Some(period) = parse_period(&body.since) else {
        return Err(ApiError::bad_request(format!(
            "since `{}`: use a number and a unit, like 7d, 12h or 30m",
            body.since
        )));
    };
    let from = (chrono::Utc::now() - period).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let requests = crate::gateway::policy::recorded_requests(&gw.store, &from).await?;
    let allow_all;
    let in_force = gw.policy();
    let current = match &in_force {
        Some(p) => p.policy(),
        None => {
            allow_all = Policy::from_yaml("version: 1\ndefault: allow\n").expect("a valid literal");
            &allow_all
        }
    };
    let changes: Vec<_> = diff_decisions(current, &draft, &requests)
        .iter()
        .map(|c| {
            json!({
                "user": c.request.principal.user,
                "server": c.request.server,
                "method": c.request.method,
                "tool": c.request.tool,
                "before": c.before.effect.kind(),
                "after": c.after.effect.kind(),
                "rule": c.after.rule,
            })
        })
        .collect();
    Ok(Json(json!({
        "since": from,
        "requests": requests.len(),
        "in_force": in_force.map(|p| p.version.clone()),
        "changes": changes,
    }))
    .into_response())
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
        (status = 400, description = "The document is not valid (line:column errors)", body = crate::api::schema::ErrorBody),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 403, description = "Not allowed (role, or the cookie without `X-Gatehouse-Request: 1`)", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn publish(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: String,
) -> Result<Response, ApiError> {
    let principal = signed_in_to_change(&gw, &headers).await?;
    gw.require(&principal, Role::Admin)?;
    let policy = match gatehouse_policy::Policy::from_yaml(&body) {
        Ok(p) => p,
        Err(e) => return Err(ApiError::bad_request(e.with_file("policy").to_string())),
    };
    match gw.store.push_policy(&body, policy.source_digest(), &principal.user).await {
        Ok(version) => Ok((
            StatusCode::CREATED,
            Json(json!({ "version": version, "digest": policy.source_digest(), "published_by": principal.user })),
        )
            .into_response()),
        Err(e) => Err(ApiError::from(e)),
    }
}
