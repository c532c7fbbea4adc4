//! The authorization server's one error type: every refusal of `/oauth/token`,
//! `/oauth/register`, `/oauth/revoke` and `/oauth/device_authorization` is an
//! [`OAuthError`], answered as RFC 6749 §5.2 `{"error", "error_description"}` (never
//! cached, readable by browser clients) by the one [`IntoResponse`] below.

use super::cors::cors;
use crate::store::StoreError;
use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

/// The `error` codes the authorization server answers with (RFC 6749 §5.2, RFC 7591
/// §3.2.2, RFC 8628 §3.5, RFC 8707 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthErrorCode {
    /// A parameter is missing or malformed.
    InvalidRequest,
    /// The client is unknown or may not authenticate this way.
    InvalidClient,
    /// The code, refresh token or device code is not (or no longer) valid.
    InvalidGrant,
    /// The client may not use this grant.
    UnauthorizedClient,
    /// A grant type the server does not support.
    UnsupportedGrantType,
    /// A scope the server does not grant.
    InvalidScope,
    /// A resource (audience) the server does not issue tokens for.
    InvalidTarget,
    /// A registration's metadata is not acceptable.
    InvalidClientMetadata,
    /// A registration's redirect URI is not acceptable.
    InvalidRedirectUri,
    /// The person refused (device flow).
    AccessDenied,
    /// The device code expired (device flow).
    ExpiredToken,
    /// The person has not decided yet (device flow).
    AuthorizationPending,
    /// The device polls too fast (device flow).
    SlowDown,
    /// The server failed.
    ServerError,
    /// The server refuses for now (too many requests, a dependency down).
    TemporarilyUnavailable,
}

impl OAuthErrorCode {
    /// The code as sent in `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthErrorCode::InvalidRequest => "invalid_request",
            OAuthErrorCode::InvalidClient => "invalid_client",
            OAuthErrorCode::InvalidGrant => "invalid_grant",
            OAuthErrorCode::UnauthorizedClient => "unauthorized_client",
            OAuthErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthErrorCode::InvalidScope => "invalid_scope",
            OAuthErrorCode::InvalidTarget => "invalid_target",
            OAuthErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            OAuthErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            OAuthErrorCode::AccessDenied => "access_denied",
            OAuthErrorCode::ExpiredToken => "expired_token",
            OAuthErrorCode::AuthorizationPending => "authorization_pending",
            OAuthErrorCode::SlowDown => "slow_down",
            OAuthErrorCode::ServerError => "server_error",
            OAuthErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }

    /// The status the code is answered with unless said otherwise: 401 for a client
    /// that failed to authenticate, 500/503 for the server's own trouble, else 400.
    fn status(self) -> StatusCode {
        match self {
            OAuthErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            OAuthErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            OAuthErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// A refusal of the authorization server: the code, a sentence for the developer of
/// the client, and the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    status: StatusCode,
    code: OAuthErrorCode,
    description: String,
}

/// The body RFC 6749 §5.2 prescribes.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: OAuthErrorCode,
    error_description: &'a str,
}

impl OAuthError {
    /// A refusal with the code's usual status.
    pub fn new(code: OAuthErrorCode, description: impl Into<String>) -> OAuthError {
        OAuthError {
            status: code.status(),
            code,
            description: description.into(),
        }
    }

    /// The same refusal with another status (e.g. 429 for a rate limit).
    pub fn with_status(mut self, status: StatusCode) -> OAuthError {
        self.status = status;
        self
    }

    /// `invalid_request` (400).
    pub fn invalid_request(description: impl Into<String>) -> OAuthError {
        OAuthError::new(OAuthErrorCode::InvalidRequest, description)
    }

    /// `invalid_client` (401).
    pub fn invalid_client(description: impl Into<String>) -> OAuthError {
        OAuthError::new(OAuthErrorCode::InvalidClient, description)
    }

    /// `invalid_grant` (400).
    pub fn invalid_grant(description: impl Into<String>) -> OAuthError {
        OAuthError::new(OAuthErrorCode::InvalidGrant, description)
    }

    /// `invalid_target` (400).
    pub fn invalid_target(description: impl Into<String>) -> OAuthError {
        OAuthError::new(OAuthErrorCode::InvalidTarget, description)
    }

    /// `server_error` (500), with a description that names no internals.
    pub fn server_error(description: impl Into<String>) -> OAuthError {
        OAuthError::new(OAuthErrorCode::ServerError, description)
    }

    /// `temporarily_unavailable` (503).
    pub fn temporarily_unavailable(description: impl Into<String>) -> OAuthError {
        OAuthError::new(OAuthErrorCode::TemporarilyUnavailable, description)
    }

    /// The code answered.
    pub fn code(&self) -> OAuthErrorCode {
        self.code
    }

    /// The status answered.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

/// A store failure: the cause goes to the log, the client learns only that the
/// server failed.
impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> OAuthError {
        tracing::error!(error = %e, "the authorization server could not read or write the store");
        OAuthError::server_error(
            "the control plane's store failed; the cause is in the control plane's log",
        )
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code,
            error_description: &self.description,
        };
        let mut resp = (self.status, Json(body)).into_response();
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        cors(resp)
    }
}

/// The answer of every authorization-server endpoint when MCP client sign-in is off.
pub fn not_configured() -> Response {
    (
        StatusCode::NOT_FOUND,
        "MCP client sign-in is not configured: set [oidc] issuer and client_id so people sign in through your identity provider\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_rfc_6749_shape_uncached_and_readable_cross_origin() {
        let resp = OAuthError::new(OAuthErrorCode::SlowDown, "wait 5 s").into_response();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(resp.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({ "error": "slow_down", "error_description": "wait 5 s" })
        );
    }

    #[test]
    fn codes_serialize_as_their_wire_names() {
        for code in [
            OAuthErrorCode::InvalidRedirectUri,
            OAuthErrorCode::TemporarilyUnavailable,
            OAuthErrorCode::ExpiredToken,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn a_store_failure_names_no_internals() {
        let e = OAuthError::from(StoreError(
            "UNIQUE constraint failed: authz_grants.id".into(),
        ));
        assert_eq!(e.code(), OAuthErrorCode::ServerError);
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.description.contains("authz_grants"));
    }
}
