//! `GET /api/v1/me`: who the caller is and the roles their groups give them, for the
//! dashboard and the tray.

use super::caller::signed_in;
use super::error::ApiError;
use crate::gateway::Gateway;
use crate::identity::signin::roles;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use serde_json::json;
use std::sync::Arc;

/// `GET /api/v1/me`
#[utoipa::path(
    get,
    operation_id = "me",
    path = "/api/v1/me",
    tag = "identity",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Who the caller is", body = crate::api::schema::Me),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn me(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let p = signed_in(&gw, &headers).await?;
    // The tray's local capture decides local calls itself: it needs the live grants.
    let local_grants: Vec<_> = gw
        .store
        .live_local_grants(&p.user)
        .await?
        .into_iter()
        .map(|g| json!({ "id": g.id, "server": g.server, "role": g.role, "ends_at": g.ends_at }))
        .collect();
    Ok(Json(
        json!({ "user": p.user, "groups": p.groups, "roles": roles(&gw.identity, &p),
                    "local_grants": local_grants }),
    )
    .into_response())
}
