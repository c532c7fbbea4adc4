//! Access reviews: admins and auditors start and close them, owners decide their
//! servers' entries (the rules are in [`crate::access_review`]).

use super::caller::{Role, signed_in, signed_in_to_change};
use super::error::ApiError;
use crate::access_review::entries::Scope;
use crate::access_review::{Entry, Review, ReviewError, period, reviews};
use crate::gateway::Gateway;
use crate::identity::auth::Principal;
use axum::Json;
use axum::extract::{Path, State};
use http::HeaderMap;
use serde::Deserialize;
use std::sync::Arc;

impl From<ReviewError> for ApiError {
    fn from(e: ReviewError) -> ApiError {
        match e {
            ReviewError::Invalid(m) => ApiError::bad_request(m),
            ReviewError::NotFound(m) => ApiError::not_found(m),
            ReviewError::Forbidden(m) => ApiError::forbidden(m),
            ReviewError::Conflict(m) => ApiError::conflict(m),
            ReviewError::Store(e) => e.into(),
        }
    }
}

/// Reviews are read by auditors, admins and the owners of some server.
fn may_read(gw: &Gateway, p: &Principal) -> Result<(), ApiError> {
    let owner = gw
        .config
        .servers
        .iter()
        .any(|s| reviews::is_reviewer(&s.owners, p))
        || gw.policy().is_some_and(|pol| {
            gw.config
                .servers
                .iter()
                .any(|s| reviews::is_reviewer(pol.policy().owners(&s.name), p))
        });
    if owner {
        Ok(())
    } else {
        gw.require(p, Role::Auditor)
    }
}

/// The list of reviews.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = AccessReviewList)]
pub struct ReviewList {
    /// Newest first, without their entries.
    pub reviews: Vec<Review>,
}

/// `GET /api/v1/access-reviews`
#[utoipa::path(
    get,
    operation_id = "list_access_reviews",
    path = "/api/v1/access-reviews",
    tag = "access-reviews",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Every review, newest first", body = ReviewList),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 403, description = "Neither an auditor, an admin nor a server owner", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn list(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
) -> Result<Json<ReviewList>, ApiError> {
    let p = signed_in(&gw, &headers).await?;
    may_read(&gw, &p)?;
    Ok(Json(ReviewList {
        reviews: reviews::list(&gw.store).await?,
    }))
}

/// What a review covers: `period` (`2026-Q4`, `2026-12`) or `from` and `to` (dates).
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = AccessReviewStart)]
pub struct StartBody {
    /// A quarter (`2026-Q4`) or a month (`2026-12`).
    #[serde(default)]
    period: Option<String>,
    /// First day (`2026-10-01`) or RFC 3339 time, with `to`.
    #[serde(default)]
    from: Option<String>,
    /// Last day or RFC 3339 time, with `from`.
    #[serde(default)]
    to: Option<String>,
}

/// `POST /api/v1/access-reviews`
#[utoipa::path(
    post,
    operation_id = "start_access_review",
    path = "/api/v1/access-reviews",
    tag = "access-reviews",
    request_body = StartBody,
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "The review started, with its entries", body = Review),
        (status = 400, description = "No period, or one that does not parse or has not started", body = crate::api::schema::ErrorBody),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 403, description = "Neither an auditor nor an admin", body = crate::api::schema::ErrorBody),
        (status = 409, description = "A review of that period is still open", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn start(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Option<Json<StartBody>>,
) -> Result<Json<Review>, ApiError> {
    let p = signed_in_to_change(&gw, &headers).await?;
    gw.require(&p, Role::Auditor)?;
    let b = body.map(|b| b.0).unwrap_or(StartBody {
        period: None,
        from: None,
        to: None,
    });
    let period = match (b.period.as_deref(), b.from.as_deref(), b.to.as_deref()) {
        (Some(p), None, None) => period::parse(p)?,
        (None, Some(f), Some(t)) => period::between(f, t)?,
        _ => {
            return Err(ApiError::bad_request(
                "give a period (2026-Q4 or 2026-12), or both from and to dates",
            ));
        }
    };
    let scope = Scope {
        servers: gw.config.servers.iter().map(|s| s.name.clone()).collect(),
        owners: gw
            .config
            .servers
            .iter()
            .map(|s| (s.name.clone(), s.owners.clone()))
            .collect(),
    };
    Ok(Json(
        reviews::start(&gw.store, &scope, period, &p.user).await?,
    ))
}

/// `GET /api/v1/access-reviews/{id}`
#[utoipa::path(
    get,
    operation_id = "get_access_review",
    path = "/api/v1/access-reviews/{id}",
    tag = "access-reviews",
    params(("id" = String, Path, description = "Review id")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The review with its entries and, when something was revoked, the policy draft", body = Review),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 403, description = "Neither an auditor, an admin nor a server owner", body = crate::api::schema::ErrorBody),
        (status = 404, description = "No such review", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn get(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Review>, ApiError> {
    let p = signed_in(&gw, &headers).await?;
    may_read(&gw, &p)?;
    Ok(Json(reviews::get(&gw.store, &id).await?))
}

/// A reviewer's decision on one entry.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = AccessReviewDecision)]
pub struct DecideBody {
    /// `keep` or `revoke`.
    decision: String,
    /// Why (on the record).
    comment: String,
}

/// `POST /api/v1/access-reviews/{id}/entries/{entry}`
#[utoipa::path(
    post,
    operation_id = "decide_access_review_entry",
    path = "/api/v1/access-reviews/{id}/entries/{entry}",
    tag = "access-reviews",
    params(("id" = String, Path, description = "Review id"), ("entry" = i64, Path, description = "Entry number")),
    request_body = DecideBody,
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "The entry as decided (a revoke carries its change)", body = Entry),
        (status = 400, description = "Not keep/revoke, or no comment", body = crate::api::schema::ErrorBody),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 403, description = "Not a reviewer of the entry's server, or the caller's own access", body = crate::api::schema::ErrorBody),
        (status = 404, description = "No such review or entry", body = crate::api::schema::ErrorBody),
        (status = 409, description = "Already decided, or the review is closed", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn decide(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path((id, entry)): Path<(String, i64)>,
    Json(b): Json<DecideBody>,
) -> Result<Json<Entry>, ApiError> {
    let p = signed_in_to_change(&gw, &headers).await?;
    let admin = gw.require(&p, Role::Admin).is_ok();
    Ok(Json(
        reviews::decide(&gw.store, &id, entry, &p, admin, &b.decision, &b.comment).await?,
    ))
}

/// `POST /api/v1/access-reviews/{id}/close`
#[utoipa::path(
    post,
    operation_id = "close_access_review",
    path = "/api/v1/access-reviews/{id}/close",
    tag = "access-reviews",
    params(("id" = String, Path, description = "Review id")),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "Closed: the result is in the audit log (`result_digest`)", body = Review),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
        (status = 403, description = "Neither an auditor nor an admin", body = crate::api::schema::ErrorBody),
        (status = 404, description = "No such review", body = crate::api::schema::ErrorBody),
        (status = 409, description = "Undecided entries, or closed already", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn close(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Review>, ApiError> {
    let p = signed_in_to_change(&gw, &headers).await?;
    gw.require(&p, Role::Auditor)?;
    let review = reviews::close(&gw.store, &id, &p.user).await?;
    // Sign a checkpoint over the result now rather than at the next round.
    gw.checkpoint().await;
    Ok(Json(review))
}
