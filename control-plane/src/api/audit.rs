//! Audit integrity for the dashboard: the chain's tip and newest signed checkpoint,
//! "verify now" (the whole log, as `gatehouse audit verify` does), and the evidence
//! bundle for a period as a `.tar.gz` download. Auditors and admins only.

use super::caller::{Role, signed_in, signed_in_to_change};
use super::error::ApiError;
use crate::evidence::EvidenceError;
use crate::gateway::Gateway;
use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use gatehouse_audit::LogReport;
use http::{HeaderMap, HeaderValue, header};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

async fn auditor(gw: &Gateway, headers: &HeaderMap, change: bool) -> Result<(), ApiError> {
    let p = if change {
        signed_in_to_change(gw, headers).await?
    } else {
        signed_in(gw, headers).await?
    };
    gw.require(&p, Role::Auditor)
}

/// `GET /api/v1/audit/status`
#[utoipa::path(
    get,
    operation_id = "audit_status",
    path = "/api/v1/audit/status",
    tag = "audit",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The chain tip and newest signed checkpoint", body = crate::api::schema::AuditStatus),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 403, description = "Signed in without the role this needs", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn status(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auditor(&gw, &headers, false).await?;
    let tip = gw.store.chain_tip().await;
    let checkpoints = gw.store.checkpoints().await;
    match (tip, checkpoints) {
        (Ok((events, head)), Ok(cps)) => Ok(Json(json!({
            "events": events,
            "chain_head": head,
            "checkpoints": cps.len(),
            "checkpoint": cps.last().map(|c| json!({
                "tree_size": c.tree_size, "root": c.root_hash, "at": c.at, "public_key": c.public_key,
            })),
            "public_key": gatehouse_audit::public_key_hex(&gw.signing_key),
            "checkpoint_every_secs": gw.config.audit.checkpoint_secs,
        }))
        .into_response()),
        (Err(e), _) | (_, Err(e)) => Err(ApiError::internal(e.to_string())),
    }
}

/// `POST /api/v1/audit/verify`: checks every link and every checkpoint signature now.
#[utoipa::path(
    post,
    operation_id = "verify_audit_log",
    path = "/api/v1/audit/verify",
    tag = "audit",
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "Every link and checkpoint signature checked", body = crate::api::schema::AuditVerify),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 403, description = "Not allowed (role, or the cookie without `X-Gatehouse-Request: 1`)", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn verify(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auditor(&gw, &headers, true).await?;
    let key = gatehouse_audit::public_key_hex(&gw.signing_key);
    let checkpoints = gw.store.checkpoints().await.map(|c| c.len()).unwrap_or(0);
    match gw.store.verify_log(Some(&key)).await {
        Ok(LogReport::Intact { events, head, .. }) => Ok(Json(json!({
            "ok": true, "events": events, "chain_head": head, "checkpoints": checkpoints, "problems": [],
        }))
        .into_response()),
        Ok(LogReport::Broken { reason, .. }) => Ok(Json(json!({
            "ok": false, "checkpoints": checkpoints, "problems": [reason],
        }))
        .into_response()),
        Err(e) => Err(ApiError::internal(e.to_string())),
    }
}

/// `?since=2026-11-01&until=2026-11-30`
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EvidenceQuery {
    since: String,
    until: String,
}

/// `GET /api/v1/evidence`: the evidence bundle of the period, as a `.tar.gz`.
#[utoipa::path(
    get,
    operation_id = "download_evidence",
    path = "/api/v1/evidence",
    tag = "audit",
    params(EvidenceQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The evidence bundle of the period", content_type = "application/gzip", body = Vec<u8>),
        (status = 400, description = "The period is not valid", body = crate::api::schema::ErrorBody),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 403, description = "Signed in without the role this needs", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn evidence(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(q): Query<EvidenceQuery>,
) -> Result<Response, ApiError> {
    auditor(&gw, &headers, false).await?;
    let exit = |e: EvidenceError| match e {
        EvidenceError::Invalid(m) => Err(ApiError::bad_request(m)),
        EvidenceError::Failed(m) => Err(ApiError::internal(m)),
    };
    let (from, to) = match crate::evidence::period(&q.since, &q.until) {
        Ok(p) => p,
        Err(e) => return exit(e),
    };
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return Err(ApiError::internal(e.to_string())),
    };
    let name = format!("gatehouse-evidence-{}-{}", &from[..10], &to[..10]);
    let bundle = dir.path().join(&name);
    if let Err(e) = std::fs::create_dir(&bundle) {
        return Err(ApiError::internal(e.to_string()));
    }
    let signing = crate::evidence::Signing {
        key: Some(&gw.signing_key),
        origin: gw.config.audit.log_origin(),
        witnesses: &gw.config.audit.witnesses,
    };
    if let Err(e) = crate::evidence::write_bundle(&gw.store, &from, &to, &bundle, signing).await {
        return exit(e);
    }
    let packed = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        tar.append_dir_all(&name, &bundle)?;
        let bytes = tar.into_inner()?.finish()?;
        drop(dir);
        Ok(bytes)
    })
    .await;
    match packed {
        Ok(Ok(bytes)) => {
            let mut resp = Body::from(bytes).into_response();
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/gzip"),
            );
            if let Ok(v) = HeaderValue::from_str(&format!(
                "attachment; filename=\"gatehouse-evidence-{}-{}.tar.gz\"",
                &from[..10],
                &to[..10]
            )) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            Ok(resp)
        }
        Ok(Err(e)) => Err(ApiError::internal(format!(
            "packing the bundle failed: {e}"
        ))),
        Err(e) => Err(ApiError::internal(e.to_string())),
    }
}
