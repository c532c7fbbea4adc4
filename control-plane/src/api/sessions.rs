//! `GET /api/v1/sessions` (filtered, keyset-paginated) and `GET /api/v1/sessions/{id}`
//! (the transcript, and each call with its decision, approval, result and timing).
//! Engineers see their own sessions; auditors and admins everyone's.

use super::caller::signed_in;
use super::error::ApiError;
use crate::approvals::Approval;
use crate::gateway::Gateway;
use crate::store::{DecisionFilter, EventRow, SessionFilter};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// The Sessions page's filters.
#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    user: Option<String>,
    server: Option<String>,
    tool: Option<String>,
    decision: Option<String>,
    masked: Option<bool>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

fn rfc3339(name: &str, v: Option<String>) -> Result<Option<String>, String> {
    v.filter(|s| !s.is_empty())
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(&s)
                .map(|t| {
                    t.with_timezone(&chrono::Utc)
                        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                })
                .map_err(|_| format!("`{name}` must be an RFC 3339 time like 2026-11-29T00:00:00Z"))
        })
        .transpose()
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

impl ListQuery {
    fn into_filter(self) -> Result<SessionFilter, String> {
        let after = match non_empty(self.cursor) {
            Some(c) => Some(
                c.split_once('~')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or("the cursor is not one this API handed out")?,
            ),
            None => None,
        };
        Ok(SessionFilter {
            user: non_empty(self.user),
            server: non_empty(self.server),
            tool: non_empty(self.tool),
            decision: non_empty(self.decision)
                .map(|d| d.parse::<DecisionFilter>())
                .transpose()?,
            masked_only: self.masked.unwrap_or(false),
            since: rfc3339("since", self.since)?,
            until: rfc3339("until", self.until)?,
            after,
            limit: self.limit.unwrap_or(50),
        })
    }
}

/// `GET /api/v1/sessions`
#[utoipa::path(
    get,
    operation_id = "list_sessions",
    path = "/api/v1/sessions",
    tag = "sessions",
    params(ListQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "A page of sessions, newest first (engineers see their own)", body = crate::api::schema::SessionPage),
        (status = 400, description = "A filter is not valid", body = crate::api::schema::ErrorBody),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn list(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let principal = signed_in(&gw, &headers).await?;
    let mut filter = match q.into_filter() {
        Ok(f) => f,
        Err(e) => return Err(ApiError::bad_request(e)),
    };
    if !gw.reads_everything(&principal) {
        filter.user = Some(principal.user.clone());
    }
    match gw.store.session_page(&filter).await {
        Ok((sessions, next)) => Ok(Json(json!({
            "sessions": sessions,
            "next_cursor": next.map(|(at, id)| format!("{at}~{id}")),
        }))
        .into_response()),
        Err(e) => Err(ApiError::from(e)),
    }
}

/// `GET /api/v1/sessions/{id}`
#[utoipa::path(
    get,
    operation_id = "get_session",
    path = "/api/v1/sessions/{id}",
    tag = "sessions",
    params(("id" = String, Path, description = "Session id")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The session, its transcript and calls", body = crate::api::schema::SessionDetail),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 404, description = "No such session the caller may see", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn detail(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let principal = signed_in(&gw, &headers).await?;
    let session = match gw.store.session_summary(&id).await {
        Ok(Some(s)) if s.user == principal.user || gw.reads_everything(&principal) => s,
        // Someone else's session is reported as missing: its existence is not theirs to know.
        Ok(_) => return Err(ApiError::not_found(format!("no session `{id}`"))),
        Err(e) => return Err(ApiError::from(e)),
    };
    let events = gw.store.session_events(&id).await?;
    let approvals = match gw.store.approvals(false).await {
        Ok(a) => a.into_iter().filter(|a| a.session_id == id).collect(),
        Err(e) => return Err(ApiError::from(e)),
    };
    let calls = calls_of(&events, approvals);
    let events: Vec<Value> = events.iter().map(event_json).collect();
    Ok(Json(json!({ "session": session, "events": events, "calls": calls })).into_response())
}

fn parse(text: Option<&str>) -> Value {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null)
}

fn event_json(e: &EventRow) -> Value {
    json!({
        "seq": e.seq,
        "at": e.at,
        "direction": e.direction,
        "kind": e.kind,
        "method": e.method,
        "tool": e.tool,
        "rpc_id": e.rpc_id,
        "payload": parse(Some(&e.payload)),
        "masked": parse(e.masked.as_deref()),
        "decision": decision_json(e.decision.as_deref()),
    })
}

/// The recorded decision as the dashboard shows it: effect, rule, policy version, message.
fn decision_json(text: Option<&str>) -> Value {
    let d = parse(text);
    if d.is_null() {
        return d;
    }
    json!({
        "effect": d["effect"],
        "rule": d["rule"],
        "policy_version": d["policy_version"],
        "message": d["message"],
    })
}

fn millis_between(a: &str, b: &str) -> Option<i64> {
    let a = chrono::DateTime::parse_from_rfc3339(a).ok()?;
    let b = chrono::DateTime::parse_from_rfc3339(b).ok()?;
    Some((b - a).num_milliseconds())
}

/// Pairs each client request with its answer (same JSON-RPC id, in order) and, when it
/// needed one, the approval asked for it.
fn calls_of(events: &[EventRow], mut approvals: Vec<Approval>) -> Vec<Value> {
    approvals.sort_by(|a, b| a.created_at.cmp(&b.created_at));
    let mut approvals = approvals.into_iter().peekable();
    let mut calls = Vec::new();
    for (i, req) in events.iter().enumerate() {
        if req.direction != "client_to_server" || req.kind != "request" {
            continue;
        }
        // The server's answer, or the gateway's own (a refusal, a timeout).
        let answer = events[i + 1..].iter().find(|e| {
            e.direction != "client_to_server"
                && (e.kind == "response" || e.kind == "error")
                && e.rpc_id == req.rpc_id
        });
        let payload = parse(Some(&req.payload));
        let decision = decision_json(req.decision.as_deref());
        let approval = if decision["effect"] == "require_approval" {
            approvals.next_if(|a| a.tool == req.tool && a.created_at >= req.at)
        } else {
            None
        };
        let answer_payload = answer.map(|a| parse(Some(&a.payload)));
        calls.push(json!({
            "rpc_id": req.rpc_id,
            "method": req.method,
            "tool": req.tool,
            "arguments": payload["params"].get("arguments").cloned().unwrap_or_else(|| payload["params"].clone()),
            "decision": decision,
            "approval": approval,
            "result": answer_payload.as_ref().map(|p| p["result"].clone()).filter(|r| !r.is_null()),
            "error": answer_payload.as_ref().map(|p| p["error"].clone()).filter(|r| !r.is_null()),
            "masked": answer.map(|a| parse(a.masked.as_deref())),
            "requested_at": req.at,
            "answered_at": answer.map(|a| a.at.clone()),
            "duration_ms": answer.and_then(|a| millis_between(&req.at, &a.at)),
        }));
    }
    calls
}

/// `?days=14`
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OverviewQuery {
    days: Option<u32>,
}

/// `GET /api/v1/overview`: calls per day by server, decisions, masked values by type,
/// over the last `days` days. Auditors and admins (it counts everyone's sessions).
#[utoipa::path(
    get,
    operation_id = "get_overview",
    path = "/api/v1/overview",
    tag = "sessions",
    params(OverviewQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Calls, decisions and masked values per day", body = crate::api::schema::OverviewPage),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 403, description = "Signed in without the role this needs", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn overview(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(q): Query<OverviewQuery>,
) -> Result<Response, ApiError> {
    let principal = signed_in(&gw, &headers).await?;
    gw.require(&principal, super::caller::Role::Auditor)?;
    let days = q.days.unwrap_or(14).clamp(1, 366);
    let today = chrono::Utc::now().date_naive();
    let first = today - chrono::Duration::days(i64::from(days) - 1);
    let since = first
        .and_hms_opt(0, 0, 0)
        .map(|t| {
            t.and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        })
        .unwrap_or_default();
    let all_days: Vec<String> = first
        .iter_days()
        .take(days as usize)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .collect();
    match gw.store.overview(&since).await {
        Ok(o) => {
            let mut v = serde_json::to_value(&o).unwrap_or_default();
            v["days"] = json!(all_days);
            Ok(Json(v).into_response())
        }
        Err(e) => Err(ApiError::from(e)),
    }
}
