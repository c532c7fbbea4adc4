//! The JSON API under `/api/v1/`: approvals, policies, sessions, audit, servers. Callers
//! sign in like the gateway (bearer token) or with the dashboard's cookie; a change made
//! with the cookie must carry the CSRF header.

pub mod access;
pub mod access_reviews;
pub mod agents;
pub mod approvals;
pub mod audit;
pub mod caller;
pub mod error;
pub mod local_servers;
pub mod me;
pub mod openapi;
pub mod policies;
pub mod proofs;
pub mod routes;
pub mod schema;
pub mod servers;
pub mod sessions;
pub mod spool;
pub mod watch;

use crate::gateway::Gateway;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The JSON API's routes: the documented ones and the document (`/api/v1/openapi.json`).
pub fn routes() -> OpenApiRouter<Arc<Gateway>> {
    routes::documented().routes(routes!(openapi::serve))
}
