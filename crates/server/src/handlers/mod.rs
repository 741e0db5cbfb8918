//! The handlers of the administration API: sign-in and sessions, users, connections to
//! Salesforce (OAuth), destination settings, and the audit log. The ingest, log and
//! health handlers are in [`crate::api`]. Shared here: reading a JSON body into a typed
//! value with the API's error shape, and writing the audit log.

pub mod audit;
pub mod connections;
pub mod session;
pub mod settings;
pub mod setup;
pub mod users;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use store::NewAudit;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::AppState;
use crate::error::ApiError;

/// RFC 3339 text of a time (the API's one time format).
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// The request body as `T`; a missing, malformed or mistyped body is a 400 that says which.
pub fn json_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::bad_request("unreadable_body", e.body_text())
        }
    })?;
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "empty_body",
            "the request needs a JSON body",
        ));
    }
    let value: Value = serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
        code: "malformed_json",
        message: format!("the body is not valid JSON: {e}"),
        details: vec![json!({"line": e.line(), "column": e.column()})],
    })?;
    serde_json::from_value(value).map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))
}

/// Appends to the audit log. The action has already happened, so a failure to record it is
/// logged loudly rather than reported to the caller as if the action had failed.
pub async fn audit(
    state: &AppState,
    actor: String,
    action: &str,
    target: Option<&str>,
    details: Value,
) {
    let entry = NewAudit {
        actor,
        action: action.to_string(),
        target: target.map(str::to_string),
        details,
    };
    if let Err(e) = state.store.append_audit(entry).await {
        tracing::error!(error = %e, action, "cannot write the audit log");
    }
}
