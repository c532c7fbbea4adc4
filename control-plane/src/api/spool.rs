//! `POST /api/v1/spool`: records from a laptop's local capture (the tray app or
//! `gatehouse connect --local`) join the audit log as sessions of the signed-in person on
//! server `local:NAME`. Idempotent by record id: a re-upload (after a crash or a lost
//! answer) stores nothing twice and is acknowledged like the first.

use super::caller::signed_in_to_change;
use super::error::ApiError;
use crate::gateway::Gateway;
use crate::store::{NewSession, SpooledEvent};
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gatehouse_pipeline::{Direction, Record};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Most records in one upload.
const MAX_RECORDS: usize = 1000;

/// One uploaded record (the spool's `Record`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct UploadedRecord {
    id: String,
    session_id: String,
    server: String,
    at: String,
    direction: String,
    kind: String,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    tool: Option<String>,
    #[serde(default)]
    rpc_id: Option<String>,
    payload: String,
    #[serde(default)]
    masked: Option<String>,
    #[serde(default)]
    decision: Option<String>,
}

/// The upload body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Upload {
    records: Vec<UploadedRecord>,
}

fn name_ok(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn check(r: &UploadedRecord) -> Result<Direction, String> {
    if !name_ok(&r.id, 100) {
        return Err(format!("record id `{}` is not a valid id", r.id));
    }
    if !r.session_id.starts_with("local-") || !name_ok(&r.session_id, 100) {
        return Err(format!(
            "record {}: session `{}` is not a local session id (local-...)",
            r.id, r.session_id
        ));
    }
    if !name_ok(&r.server, 100) {
        return Err(format!(
            "record {}: `{}` is not a server name",
            r.id, r.server
        ));
    }
    if chrono::DateTime::parse_from_rfc3339(&r.at).is_err() {
        return Err(format!("record {}: `at` is not an RFC 3339 time", r.id));
    }
    if r.kind.is_empty() || r.kind.len() > 64 {
        return Err(format!("record {}: `kind` is missing", r.id));
    }
    if serde_json::from_str::<serde_json::Value>(&r.payload).is_err() {
        return Err(format!("record {}: `payload` is not JSON", r.id));
    }
    for (field, v) in [("masked", &r.masked), ("decision", &r.decision)] {
        if let Some(v) = v
            && serde_json::from_str::<serde_json::Value>(v).is_err()
        {
            return Err(format!("record {}: `{field}` is not JSON", r.id));
        }
    }
    Direction::parse(&r.direction).ok_or_else(|| {
        format!(
            "record {}: direction `{}` is not client_to_server, server_to_client or gateway",
            r.id, r.direction
        )
    })
}

/// `POST /api/v1/spool` → `{ acknowledged: [ids], stored: n, duplicates: m }`.
#[utoipa::path(
    post,
    operation_id = "upload_spool",
    path = "/api/v1/spool",
    tag = "local",
    request_body = Upload,
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "Stored (idempotent by record id)", body = crate::api::schema::SpoolReceipt),
        (status = 400, description = "A record is not valid", body = crate::api::schema::ErrorBody),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 403, description = "Not allowed (role, or the cookie without `X-Gatehouse-Request: 1`)", body = crate::api::schema::ErrorBody),
        (status = 413, description = "Too many records", body = crate::api::schema::ErrorBody),
        (status = 503, description = "Not stored; upload again", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn upload(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Result<Json<Upload>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let principal = signed_in_to_change(&gw, &headers).await?;
    let Json(upload) = match body {
        Ok(b) => b,
        Err(e) => {
            return Err(ApiError::bad_request(format!(
                "the body must be {{\"records\": [...]}}: {e}"
            )));
        }
    };
    if upload.records.len() > MAX_RECORDS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("at most {MAX_RECORDS} records per upload"),
        ));
    }
    let mut directions = Vec::with_capacity(upload.records.len());
    for r in &upload.records {
        match check(r) {
            Ok(d) => directions.push(d),
            Err(e) => return Err(ApiError::bad_request(e)),
        }
    }
    // A local session belongs to the person who started it, on one server.
    let sessions: BTreeSet<(&str, &str)> = upload
        .records
        .iter()
        .map(|r| (r.session_id.as_str(), r.server.as_str()))
        .collect();
    for (id, server) in &sessions {
        match gw.store.find_session(id).await {
            Ok(Some(s)) if s.id == *id => {
                if s.principal != principal.user || s.server != format!("local:{server}") {
                    return Err(ApiError::forbidden(format!(
                        "session `{id}` belongs to someone else or another server"
                    )));
                }
            }
            Ok(_) => {}
            Err(e) => {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    e.to_string(),
                ));
            }
        }
    }
    let ids: Vec<String> = upload.records.iter().map(|r| r.id.clone()).collect();
    let before = match gw.store.stored_spool_ids(&ids).await {
        Ok(v) => v.len(),
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                e.to_string(),
            ));
        }
    };
    let items: Vec<SpooledEvent> = upload
        .records
        .into_iter()
        .zip(directions)
        .map(|(r, direction)| SpooledEvent {
            ends_session: (r.kind == "session_end").then(|| {
                serde_json::from_str::<serde_json::Value>(&r.payload)
                    .ok()
                    .and_then(|p| p["reason"].as_str().map(String::from))
                    .unwrap_or_else(|| "local_session_end".into())
            }),
            session: NewSession {
                id: r.session_id.clone(),
                principal: principal.user.clone(),
                groups: principal.groups.clone(),
                server: format!("local:{}", r.server),
                era: "local".into(),
                client: None,
                protocol_version: None,
            },
            record_id: r.id,
            captured_at: r.at,
            event: {
                // Masked on the laptop by the same pipeline: see `Record::from_capture_spool`.
                let mut e = Record::from_capture_spool(
                    &r.session_id,
                    direction,
                    r.kind,
                    r.payload,
                    r.masked,
                );
                e.method = r.method;
                e.tool = r.tool;
                e.rpc_id = r.rpc_id;
                e.decision = r.decision;
                e
            },
        })
        .collect();
    if let Err(e) = gw.store.ingest_spool(items).await {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the records could not be stored; upload them again: {e}"),
        ));
    }
    Ok(
        Json(json!({ "acknowledged": ids, "stored": ids.len() - before, "duplicates": before }))
            .into_response(),
    )
}
