//! The control plane as the OAuth 2.1 authorization server MCP clients see (MCP
//! authorization spec). Company identity providers rarely let MCP clients register
//! themselves, so the control plane does: RFC 8414 metadata, dynamic client registration
//! (RFC 7591) and client ID metadata documents ([`clients`]), `/authorize` with PKCE,
//! resource indicators (RFC 8707), a consent page per client and the person's login
//! delegated to the configured identity provider ([`authorize`]), `/token` with
//! single-use codes and rotating refresh tokens, `/revoke` ([`token`]). The access tokens
//! are short-lived Ed25519 JWTs bound to one gateway audience ([`tokens`]). Machines
//! without a browser sign in by the device authorization grant ([`device`]), whose
//! verification page reuses the same consent page and login. The provider's refresh
//! tokens are kept encrypted ([`at_rest`]); old records are collected ([`gc`]).
//!
//! Every sign-in, refresh, revocation and failure is a control-record event; failures
//! go through [`failures::FailureLog`], which caps them per source address and minute.

pub mod at_rest;
pub mod authorize;
pub mod client_metadata;
pub mod clients;
pub mod cors;
pub mod device;
pub mod device_codes;
pub mod error;
pub mod exchange;
pub mod exchange_rules;
pub mod failures;
pub mod first_party;
pub mod gc;
pub mod grant_lifetime;
pub mod ip_ranges;
pub mod issue;
pub mod pages;
pub mod peer;
pub mod pending;
pub mod server;
pub mod token;
pub mod tokens;

pub use peer::{Peer, source};
pub use server::AuthServer;
pub use tokens::{SCOPE, random_secret};

use super::state::Identity;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use cors::{cors, preflight};
use error::not_configured;
use std::sync::Arc;

/// Issuer, endpoints and what is supported (RFC 8414); served at both
/// `/.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`.
pub async fn metadata(State(gw): State<Arc<Identity>>) -> Response {
    let Some(az) = gw.auth_server() else {
        return not_configured();
    };
    let base = az.keys.issuer();
    let mut grants = vec![
        "authorization_code",
        "refresh_token",
        device_codes::GRANT_TYPE,
    ];
    if !gw.config.authz.trusted_issuers.is_empty() {
        grants.push(exchange_rules::GRANT_TYPE);
    }
    cors(
        Json(serde_json::json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/oauth/authorize"),
            "token_endpoint": format!("{base}/oauth/token"),
            "registration_endpoint": format!("{base}/oauth/register"),
            "revocation_endpoint": format!("{base}/oauth/revoke"),
            "device_authorization_endpoint": format!("{base}/oauth/device_authorization"),
            "jwks_uri": format!("{base}/oauth/jwks"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": grants,
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": [SCOPE],
            "authorization_response_iss_parameter_supported": true,
            "client_id_metadata_document_supported": true,
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["EdDSA"],
        }))
        .into_response(),
    )
}

/// The device authorization grant's endpoints (RFC 8628), merged into the gateway's
/// router: the device's request and the person's verification page.
pub fn routes() -> axum::Router<Arc<Identity>> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route(
            "/oauth/device_authorization",
            post(device::device_authorization).options(preflight),
        )
        .route(
            "/oauth/device",
            get(device::verify_page).post(device::verify),
        )
}

/// `/oauth/jwks`: the public key of access tokens.
pub async fn jwks(State(gw): State<Arc<Identity>>) -> Response {
    match gw.auth_server() {
        Some(az) => cors(Json(az.keys.jwks()).into_response()),
        None => not_configured(),
    }
}
