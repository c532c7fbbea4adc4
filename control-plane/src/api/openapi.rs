//! The JSON API's OpenAPI 3.1 document, `GET /api/v1/openapi.json`: built from the same
//! route tables the server serves (the API's, sign-in's and the agents'), each route
//! described by its handler's `#[utoipa::path]` and the types in [`super::schema`]. The
//! dashboard's TypeScript types are generated from it (`scripts/gen-api-types.sh`).

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use std::sync::LazyLock;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What the document says besides its paths: title, sign-in schemes, tags.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse control plane API",
        description = "The JSON API under `/api/v1`: approvals, policies, sessions, audit, servers, agents, \
                       local servers. Sign in with a bearer token (as for the gateway) or the dashboard's \
                       cookie; a change made with the cookie must also send `X-Gatehouse-Request: 1`."
    ),
    modifiers(&SignIn),
    tags(
        (name = "identity", description = "Who the caller is"),
        (name = "approvals", description = "Held calls and their votes"),
        (name = "access", description = "Just-in-time access: requests, grants, early ends"),
        (name = "policies", description = "Policy versions, checks and dry runs"),
        (name = "sessions", description = "Recorded sessions and the overview"),
        (name = "audit", description = "Audit log integrity and evidence"),
        (name = "servers", description = "Configured servers and tool pins"),
        (name = "local", description = "Local servers run by laptops, and their records"),
        (name = "agents", description = "Agents in private networks"),
        (name = "access-reviews", description = "Periodic access reviews (SOC 2 CC6.2/CC6.3)"),
        (name = "meta", description = "This document"),
    )
)]
struct Base;

/// The sign-in schemes every route names in its `security`.
struct SignIn;

impl utoipa::Modify for SignIn {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An access token, as for the gateway: the identity provider's, the control \
                         plane's own (`gatehouse login`), or a dev token.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "gatehouse",
                "The dashboard's sign-in cookie (`__Host-gatehouse` when served over HTTPS).",
            ))),
        );
        components.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Gatehouse-Request",
                "Send `X-Gatehouse-Request: 1` with every change made with the dashboard's cookie; \
                 without it the change is refused with 403.",
            ))),
        );
    }
}

/// The whole document: [`Base`] with every `/api/v1` route of the served route tables.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = Base::openapi();
    doc.merge(super::routes::documented().into_openapi());
    doc.merge(
        OpenApiRouter::<()>::new()
            .routes(routes!(serve))
            .into_openapi(),
    );
    doc.merge(super::agents::routes().into_openapi());
    doc
}

/// The document as served (built once: it depends on no configuration).
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    document()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
});

/// The document as JSON text.
pub fn json() -> &'static str {
    DOCUMENT.as_str()
}

/// `GET /api/v1/openapi.json`: no sign-in needed (it describes, it holds no data).
#[utoipa::path(
    get,
    operation_id = "openapi_document",
    path = "/api/v1/openapi.json",
    tag = "meta",
    security(()),
    responses((status = 200, description = "This document", content_type = "application/json", body = Object))
)]
pub async fn serve() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json(),
    )
        .into_response()
}
