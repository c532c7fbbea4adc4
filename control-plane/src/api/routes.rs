//! The JSON API's route table.

use super::{
    access, access_reviews, approvals, audit, local_servers, me, policies, proofs, servers,
    sessions, spool, watch,
};
use crate::gateway::Gateway;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The JSON API's documented routes (`/api/v1/...`, all but the document itself), over
/// the gateway's shared state: a route is added here with `routes!` and its handler's
/// `#[utoipa::path]`, so what is served is what `/api/v1/openapi.json` describes.
pub fn documented() -> OpenApiRouter<Arc<Gateway>> {
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
        .routes(routes!(access_reviews::list, access_reviews::start))
        .routes(routes!(access_reviews::get))
        .routes(routes!(access_reviews::decide))
        .routes(routes!(access_reviews::close))
        .merge(local_servers::routes())
        .routes(routes!(access::list))
        .routes(routes!(access::request))
        .routes(routes!(access::decide))
        .routes(routes!(access::revoke))
}
