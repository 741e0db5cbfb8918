//! The one HTTP error type: every refusal of the API is an [`ApiError`], rendered as the
//! `{"error":{"code","message","details":[...]}}` of docs/api.md#http-api with its status code.
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
    #[error("sign in, or send a valid API token (Authorization: Bearer)")]
    Unauthorized,
    /// The session cookie names a session that ended (idle or absolute expiry, sign-out).
    #[error("your session has expired: sign in again")]
    SessionExpired,
    /// A wrong email or password at sign-in (which of the two is not said).
    #[error("wrong email or password")]
    BadCredentials,
    /// A cookie-authenticated state change without the same origin or the CSRF token.
    #[error("{0}")]
    CsrfRefused(&'static str),
    /// Too many tries: wait this long.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after: std::time::Duration,
    },
    /// The request is well-formed but its content cannot be accepted (settings that do not
    /// fit the org): one detail per problem.
    #[error("{message}")]
    Unprocessable {
        code: &'static str,
        message: String,
        details: Vec<Value>,
    },
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
    /// The request body did not arrive within the body timeout (docs/configuration.md).
    #[error("the request body did not arrive in time")]
    RequestTimeout,
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

    /// `422` with one detail per problem.
    pub fn unprocessable(
        code: &'static str,
        message: impl Into<String>,
        details: Vec<Value>,
    ) -> ApiError {
        ApiError::Unprocessable {
            code,
            message: message.into(),
            details,
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::Conflict {
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::SessionExpired | ApiError::BadCredentials => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::Forbidden { .. } | ApiError::CsrfRefused(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Unprocessable { code, .. } => code,
            ApiError::Unauthorized => "unauthorized",
            ApiError::SessionExpired => "session_expired",
            ApiError::BadCredentials => "bad_credentials",
            ApiError::CsrfRefused(_) => "csrf_refused",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The JSON body of the error.
    pub fn body(&self) -> Value {
        let details = match self {
            ApiError::BadRequest { details, .. }
            | ApiError::Conflict { details, .. }
            | ApiError::Unprocessable { details, .. } => details.clone(),
            _ => Vec::new(),
        };
        json!({"error": {"code": self.code(), "message": self.to_string(), "details": details}})
    }
}

/// `Retry-After` of a 503: the store recovers by itself once its cause is gone.
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::InvalidCursor => {
                ApiError::bad_request("invalid_cursor", "invalid pagination cursor")
            }
            store::StoreError::LastOwner => ApiError::Conflict {
                code: "last_owner",
                message:
                    "the last owner cannot be removed or demoted: make another user owner first"
                        .into(),
                details: Vec::new(),
            },
            store::StoreError::Conflict(message) => ApiError::Conflict {
                code: "conflict",
                message,
                details: Vec::new(),
            },
            store::StoreError::NotFound(message) => ApiError::NotFound(message),
            store::StoreError::Invalid(message) => ApiError::bad_request("invalid", message),
            // The storage fails (disk full, database unreachable): nothing was stored; the
            // client sends again after Retry-After.
            other if other.is_unavailable() => {
                tracing::warn!(error = %other, "database unavailable");
                ApiError::Unavailable(
                    "the database is not taking requests right now; nothing was stored, send again shortly".into(),
                )
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
        if let ApiError::Unavailable(_) = &self {
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS),
            );
        }
        if let ApiError::TooManyRequests { retry_after, .. } = &self {
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
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
    fn a_failing_database_is_a_quick_503_with_retry_after() {
        let full = store::StoreError::Database(sqlx_io_error());
        let resp = ApiError::from(full).into_response();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "5");
        // Other store errors stay internal.
        let e = ApiError::from(store::StoreError::Corrupt("x".into()));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    fn sqlx_io_error() -> sqlx::Error {
        sqlx::Error::Io(std::io::Error::other("No space left on device"))
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
