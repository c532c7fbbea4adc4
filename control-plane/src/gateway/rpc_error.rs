//! The gateway's one error type: every refusal or failure of `/mcp/{server}` is a
//! JSON-RPC error object ([`RpcError`]) with an HTTP status, answered by the one
//! [`IntoResponse`] below. A sign-in refusal also carries the `WWW-Authenticate`
//! challenge MCP clients start their sign-in from.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use gatehouse_proxy_core::jsonrpc::{Id, Message, codes};
use http::{HeaderValue, StatusCode, header};

/// A JSON-RPC error answer: the HTTP status, the error message (code, message, the
/// request's id when known) and, for a sign-in refusal, the challenge.
#[derive(Debug)]
pub struct RpcError {
    status: StatusCode,
    body: Message,
    challenge: Option<HeaderValue>,
}

impl RpcError {
    /// An error with its code and message, answering the request `id` (none when the
    /// request could not be read or was refused before its body was).
    pub fn new(status: StatusCode, id: Option<Id>, code: i64, message: impl Into<String>) -> Self {
        RpcError {
            status,
            body: Message::error(id, code, message.into(), None),
            challenge: None,
        }
    }

    /// `Invalid Request` about the HTTP request itself (host, sign-in, server, session),
    /// before any JSON-RPC id is known.
    pub fn invalid_request(status: StatusCode, message: impl Into<String>) -> Self {
        RpcError::new(status, None, codes::INVALID_REQUEST, message)
    }

    /// The request could not be recorded, so it was not forwarded (fail closed).
    pub fn unrecorded(id: Option<Id>, e: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %e, "failing closed: the request could not be recorded");
        RpcError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            body: gatehouse_pipeline::unrecorded(id.as_ref(), e),
            challenge: None,
        }
    }

    /// The same error with a `WWW-Authenticate` challenge.
    pub fn with_challenge(mut self, challenge: &str) -> Self {
        self.challenge = HeaderValue::from_str(challenge).ok();
        self
    }
}

impl IntoResponse for RpcError {
    fn into_response(self) -> Response {
        let mut resp = json_response(self.status, self.body.to_json());
        if let Some(v) = self.challenge {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        resp
    }
}

/// A JSON body with its status (answers and errors alike).
pub(crate) fn json_response(status: StatusCode, json: String) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_a_json_rpc_error_with_status_and_challenge() {
        let resp = RpcError::invalid_request(StatusCode::UNAUTHORIZED, "sign-in required")
            .with_challenge("Bearer resource_metadata=\"https://gh.example/x\"")
            .into_response();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            resp.headers()[header::WWW_AUTHENTICATE],
            "Bearer resource_metadata=\"https://gh.example/x\""
        );
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["jsonrpc"], "2.0");
        assert_eq!(v["id"], serde_json::Value::Null);
        assert_eq!(v["error"]["code"], codes::INVALID_REQUEST);
        assert_eq!(v["error"]["message"], "sign-in required");
    }
}
