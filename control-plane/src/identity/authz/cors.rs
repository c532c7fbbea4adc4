//! CORS for the authorization server's endpoints that browser-based MCP clients (the
//! Inspector) call: metadata, registration, token and revocation. None of them reads
//! cookies, so any origin may call them.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

/// Lets browser-based MCP clients read the answer.
pub fn cors(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type, mcp-protocol-version"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    resp
}

/// The answer to a CORS preflight.
pub async fn preflight() -> Response {
    cors(StatusCode::NO_CONTENT.into_response())
}
