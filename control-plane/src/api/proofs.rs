//! RFC 6962 proofs over the audit log, for auditors and admins: `GET
//! /api/v1/audit/proofs/inclusion?seq=N&size=S` (event N is in the tree of S events; S
//! defaults to the newest checkpoint's) and `GET
//! /api/v1/audit/proofs/consistency?from=M&to=N`. Each answer carries the signed
//! checkpoint notes it is relative to, so `gatehouse audit verify --proof` (or any RFC
//! 6962 verifier) checks it offline; `/api/v1/audit/witnesses` says where each
//! configured witness stands.

use super::caller::{Role, signed_in};
use super::error::ApiError;
use crate::gateway::Gateway;
use crate::store::ProofRequestError;
use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use serde::Deserialize;
use std::sync::Arc;

async fn auditor(gw: &Gateway, headers: &HeaderMap) -> Result<(), ApiError> {
    let p = signed_in(gw, headers).await?;
    gw.require(&p, Role::Auditor)
}

fn failed(e: ProofRequestError) -> ApiError {
    match e {
        ProofRequestError::Invalid(m) => ApiError::bad_request(m),
        ProofRequestError::Store(e) => ApiError::from(e),
    }
}

/// `?seq=N&size=S`
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InclusionQuery {
    seq: u64,
    size: Option<u64>,
}

/// `GET /api/v1/audit/proofs/inclusion`
#[utoipa::path(
    get,
    operation_id = "audit_inclusion_proof",
    path = "/api/v1/audit/proofs/inclusion",
    tag = "audit",
    params(InclusionQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "An RFC 6962 inclusion proof with the signed checkpoint note it is relative to", content_type = "application/json", body = Object),
        (status = 400, description = "A size or position beyond the log, or a malformed query", body = crate::api::schema::ErrorBody),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 403, description = "Signed in without the auditor or admin role", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn inclusion(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(q): Query<InclusionQuery>,
) -> Result<Response, ApiError> {
    auditor(&gw, &headers).await?;
    match gw.store.inclusion_proof(q.seq, q.size).await {
        Ok(p) => Ok(Json(p).into_response()),
        Err(e) => Err(failed(e)),
    }
}

/// `?from=M&to=N`
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    from: u64,
    to: u64,
}

/// `GET /api/v1/audit/proofs/consistency`
#[utoipa::path(
    get,
    operation_id = "audit_consistency_proof",
    path = "/api/v1/audit/proofs/consistency",
    tag = "audit",
    params(ConsistencyQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "An RFC 6962 consistency proof between two signed checkpoints", content_type = "application/json", body = Object),
        (status = 400, description = "A size or position beyond the log, or a malformed query", body = crate::api::schema::ErrorBody),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 403, description = "Signed in without the auditor or admin role", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn consistency(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(q): Query<ConsistencyQuery>,
) -> Result<Response, ApiError> {
    auditor(&gw, &headers).await?;
    match gw.store.consistency_proof(q.from, q.to).await {
        Ok(p) => Ok(Json(p).into_response()),
        Err(e) => Err(failed(e)),
    }
}

/// `GET /api/v1/audit/witnesses`: each witness's acknowledged size, gap and last error.
#[utoipa::path(
    get,
    operation_id = "audit_witnesses",
    path = "/api/v1/audit/witnesses",
    tag = "audit",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Each configured witness: acknowledged size, gap and last error", content_type = "application/json", body = Object),
        (status = 400, description = "A size or position beyond the log, or a malformed query", body = crate::api::schema::ErrorBody),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 403, description = "Signed in without the auditor or admin role", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn witnesses(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auditor(&gw, &headers).await?;
    match crate::witnesses::status(&gw.store, &gw.config.audit.witnesses).await {
        Ok(s) => Ok(Json(s).into_response()),
        Err(e) => Err(ApiError::from(e)),
    }
}
