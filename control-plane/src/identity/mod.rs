//! Who is calling: token checking for the MCP path (`auth`, `oidc`), the OAuth
//! authorization server MCP clients sign in through (`authz`), and browser sign-in for the
//! dashboard (`signin`), over their own state ([`Identity`]).

pub mod auth;
pub mod authz;
pub mod html;
pub(crate) mod oidc;
mod provider_tokens;
mod refreshing;
pub mod signin;
pub mod state;

pub use state::Identity;
use std::sync::Arc;

/// Browser sign-in (`/auth/...`, `/saml/...`) and the authorization server
/// MCP clients see (`/oauth/...` and its metadata).
pub fn routes() -> axum::Router<Arc<Identity>> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/auth/login", get(signin::login))
        .route("/auth/callback", get(signin::callback))
        .route("/auth/logout", post(signin::logout))
        .route("/auth/dev-login", post(signin::dev_login))
        .route("/saml/metadata", get(signin::saml_metadata))
        .route("/saml/acs", post(signin::saml_acs))
        .route(
            "/.well-known/oauth-authorization-server",
            get(authz::metadata).options(authz::cors::preflight),
        )
        .route(
            "/.well-known/openid-configuration",
            get(authz::metadata).options(authz::cors::preflight),
        )
        .route(
            "/oauth/jwks",
            get(authz::jwks).options(authz::cors::preflight),
        )
        .route(
            "/oauth/register",
            post(authz::clients::register).options(authz::cors::preflight),
        )
        .route("/oauth/authorize", get(authz::authorize::authorize))
        .route("/oauth/authorize/consent", post(authz::authorize::consent))
        .route(
            "/oauth/token",
            post(authz::token::token).options(authz::cors::preflight),
        )
        .route(
            "/oauth/revoke",
            post(authz::token::revoke).options(authz::cors::preflight),
        )
        .merge(authz::routes())
}
