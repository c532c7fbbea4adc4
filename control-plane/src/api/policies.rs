//! Policy history, validation as you type, and the dry run of a draft against recorded
//! history, for the dashboard's Policies page. Publishing is `POST /api/v1/policies`.

use super::{Role, error, signed_in};
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
pub async fn list(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    if let Err(r) = signed_in(&gw, &headers).await {
        return r;
    }
    match gw.store.policy_versions().await {
        Ok(v) => Json(json!({
            "versions": v,
            "in_force": gw.policy().map(|p| p.number).filter(|n| *n > 0),
        }))
        .into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `GET /api/v1/policies/{version}`: one version with its document.
pub async fn get(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(version): Path<i64>,
) -> Response {
    if let Err(r) = signed_in(&gw, &headers).await {
        return r;
    }
    match gw.store.policy_version(version).await {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("there is no policy version {version}"),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `POST /api/v1/policies/check`: the same errors as `gatehouse policy check`, as data.
pub async fn check(State(gw): State<Arc<Gateway>>, headers: HeaderMap, body: String) -> Response {
    if let Err(r) = signed_in(&gw, &headers).await {
        return r;
    }
    match Policy::from_yaml(&body) {
        Ok(p) => Json(json!({ "ok": true, "digest": p.source_digest() })).into_response(),
        Err(e) => Json(json!({
            "ok": false,
            "errors": e.errors().iter().map(|e| json!({ "line": e.line, "column": e.column, "message": e.message })).collect::<Vec<_>>(),
        }))
        .into_response(),
    }
}

/// The dry run's input.
#[derive(Deserialize)]
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
pub async fn dry_run(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Json(body): Json<DryRunBody>,
) -> Response {
    let principal = match signed_in(&gw, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Err(r) = gw.require(&principal, Role::Auditor) {
        return r;
    }
    let draft = match Policy::from_yaml(&body.document) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.with_file("draft").to_string()),
    };
    let Some(period) = parse_period(&body.since) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "since `{}`: use a number and a unit, like 7d, 12h or 30m",
                body.since
            ),
        );
    };
    let from = (chrono::Utc::now() - period).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let requests = match crate::gateway::policy::recorded_requests(&gw.store, &from).await {
        Ok(r) => r,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
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
    Json(json!({
        "since": from,
        "requests": requests.len(),
        "in_force": in_force.map(|p| p.version.clone()),
        "changes": changes,
    }))
    .into_response()
}
