//! Who the MCP clients are: dynamic client registration (`POST /oauth/register`) and the
//! lookup of a `client_id` (built in, registered, or a metadata document URL; what makes
//! one acceptable is [`super::client_metadata`]).

use super::client_metadata::{Registration, checked_client};
use super::cors::cors;
use super::error::{OAuthError, OAuthErrorCode};
use super::peer::{Peer, source};
use crate::identity::state::Identity;
use crate::store::authz::AuthzClient;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use std::sync::Arc;

/// `POST /oauth/register`: registers a public client (no secret; PKCE protects it).
pub async fn register(
    State(gw): State<Arc<Identity>>,
    peer: Peer,
    body: axum::body::Bytes,
) -> Response {
    let Some(az) = gw.auth_server() else {
        return super::error::not_configured();
    };
    // Windows that are over start again (a limited source is not limited for ever).
    let _ = az.registrations.take_suppressed(false);
    if az.registrations.admit(&source(&peer)) == super::failures::Admit::Suppress {
        return OAuthError::temporarily_unavailable(
            "too many client registrations from this address; try again in a minute",
        )
        .with_status(StatusCode::TOO_MANY_REQUESTS)
        .into_response();
    }
    let reg: Registration = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return OAuthError::new(
                OAuthErrorCode::InvalidClientMetadata,
                format!("the registration is not valid JSON client metadata: {e}"),
            )
            .into_response();
        }
    };
    let client_id = format!("mcp-{}", uuid::Uuid::new_v4().simple());
    let client = match checked_client(client_id, reg, "registered", "an MCP client") {
        Ok(c) => c,
        Err(e) => {
            let code = if e.contains("redirect") || e.contains("`http") {
                OAuthErrorCode::InvalidRedirectUri
            } else {
                OAuthErrorCode::InvalidClientMetadata
            };
            return OAuthError::new(code, &e).into_response();
        }
    };
    if let Err(e) = gw.store.put_authz_client(&client).await {
        return OAuthError::from(e).into_response();
    }
    gw.control_event(
        "client_registered",
        serde_json::json!({ "client_id": client.client_id, "client": client.client_name,
            "redirect_uris": client.redirect_uris, "source": source(&peer) }),
    )
    .await;
    cors(
        (
            StatusCode::CREATED,
            Json(serde_json::json!({
                "client_id": client.client_id,
                "client_id_issued_at": chrono::Utc::now().timestamp(),
                "client_name": client.client_name,
                "redirect_uris": client.redirect_uris,
                "grant_types": client.grant_types,
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
            })),
        )
            .into_response(),
    )
}

/// The client named by `client_id`: registered, or a metadata document URL.
pub async fn lookup(gw: &Identity, client_id: &str) -> Result<AuthzClient, String> {
    if let Some(built_in) = super::first_party::client(client_id) {
        return Ok(built_in);
    }
    if client_id.starts_with("https://") || client_id.starts_with("http://") {
        let az = gw
            .auth_server()
            .ok_or_else(|| "MCP client sign-in is not configured".to_string())?;
        return az.documents.get(client_id).await;
    }
    match gw.store.authz_client(client_id).await {
        Ok(Some(c)) => {
            if let Err(e) = gw.store.touch_authz_client(client_id).await {
                tracing::warn!(error = %e, "cannot note a client's use");
            }
            Ok(c)
        }
        Ok(None) => Err(format!(
            "client `{client_id}` is not registered here; register it (POST /oauth/register) or use a client ID metadata document URL"
        )),
        Err(e) => Err(e.to_string()),
    }
}
