//! The JSON API under `/api/v1/`: approvals, policies, sessions, audit, servers. Callers
//! sign in like the gateway (bearer token) or with the dashboard's cookie; a change made
//! with the cookie must carry the CSRF header.

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
pub mod schema;
pub mod servers;
pub mod sessions;
pub mod spool;
pub mod watch;

use crate::gateway::Gateway;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The JSON API's routes (`/api/v1/...`), over the gateway's shared state, each with its
/// documentation: a route is added here with `routes!` and its handler's
/// `#[utoipa::path]`, so what is served is what `/api/v1/openapi.json` describes.
pub fn routes() -> OpenApiRouter<Arc<Gateway>> {
    OpenApiRouter::new()
        .routes(routes!(me::me))
        .routes(routes!(approvals::list))
        .routes(routes!(watch::approvals))
        .routes(routes!(approvals::decide))
        .routes(routes!(policies::list, policies::publish))
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
