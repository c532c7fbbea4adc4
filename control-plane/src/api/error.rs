//! The JSON API's one error type: every refusal and failure of `/api/v1/...` is an
//! [`ApiError`], answered as `{"error": "..."}` with its status by the one
//! [`IntoResponse`] below.

use super::schema::ErrorBody;
use crate::store::StoreError;
use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

/// A refusal or failure of the JSON API: the status and a sentence saying what went
/// wrong and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An error with any status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// 400: the request itself is wrong.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401: the caller is not signed in (or their token is not valid here).
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403: signed in, but not allowed.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    /// 404: no such thing.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// 409: the thing is not in a state that allows this.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
    }

    /// 500 with a message that is safe to show (it names no internals).
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// The status answered.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The sentence answered.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A store failure: the cause (which may name tables, queries or the database's
/// address) goes to the log; the caller is told where to look.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        tracing::error!(error = %e, "the JSON API could not read or write the store");
        ApiError::internal(
            "the control plane's store failed; the cause is in the control plane's log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, error = %self.message, "JSON API request failed");
        }
        (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_the_error_shape_with_its_status() {
        let resp = ApiError::not_found("no approval `x`").into_response();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v, serde_json::json!({ "error": "no approval `x`" }));
    }

    #[test]
    fn a_store_failure_names_no_internals() {
        let e = ApiError::from(StoreError("no such table: audit_events".into()));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.message().contains("audit_events"));
    }
}
