//! The one HTTP error type: every refusal of the API is an [`ApiError`], rendered as the
//! contract's `{"error":{"code","message","details":[...]}}` with its status code.
//!
//! Internal errors keep their cause for the log (with the whole chain) and show the client
//! only a generic message: a database error text can name tables, hosts or users.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Largest accepted request body (a batch of 1,000 evaluations with long reasonings fits).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request body or a parameter is not what the route expects.
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        message: String,
        details: Vec<Value>,
    },
    #[error("missing, invalid or revoked API token")]
    Unauthorized,
    #[error("this token's role ({role}) may not {action}; it needs {needed}")]
    Forbidden {
        role: &'static str,
        needed: &'static str,
        action: String,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        details: Vec<Value>,
    },
    #[error("request body larger than {MAX_BODY_BYTES} bytes")]
    PayloadTooLarge,
    #[error("{0}")]
    Unavailable(String),
    /// Something failed on our side; the cause is logged, never shown.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } | ApiError::Conflict { code, .. } => code,
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The JSON body of the error.
    pub fn body(&self) -> Value {
        let details = match self {
            ApiError::BadRequest { details, .. } | ApiError::Conflict { details, .. } => {
                details.clone()
            }
            _ => Vec::new(),
        };
        json!({"error": {"code": self.code(), "message": self.to_string(), "details": details}})
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::InvalidCursor => {
                ApiError::bad_request("invalid_cursor", "invalid pagination cursor")
            }
            other => ApiError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(
                error = format!("{cause:#}"),
                "internal error answering a request"
            );
        }
        let status = self.status();
        let mut resp = (status, axum::Json(self.body())).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_cause() {
        let e = ApiError::Internal(anyhow::anyhow!("password authentication failed for user x"));
        let body = e.body().to_string();
        assert!(!body.contains("password"), "{body}");
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn errors_have_the_contract_shape() {
        let e = ApiError::BadRequest {
            code: "malformed_json",
            message: "bad".into(),
            details: vec![json!({"line": 1})],
        };
        assert_eq!(
            e.body(),
            json!({"error": {"code": "malformed_json", "message": "bad", "details": [{"line": 1}]}})
        );
    }
}
