//! Typed errors and their classification. Salesforce error codes are kept exactly as
//! Salesforce spells them (`UNABLE_TO_LOCK_ROW`, ...); [`classify`] is the one place that
//! decides whether a failure is retried, triggers a token refresh, or is final.

use serde::Deserialize;

/// What a caller can do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Transient: retry later with backoff (the client already did, within its policy).
    Retryable,
    /// The access token is no longer valid: refresh and retry once (the client does this).
    Refresh,
    /// The org's API allocation is used up (403 `REQUEST_LIMIT_EXCEEDED` TotalRequests, or
    /// 429): stop calling until the rolling 24 h window frees calls.
    LimitExceeded,
    /// Retrying the same request will fail the same way.
    Permanent,
}

/// One element of Salesforce's REST error array `[{"message","errorCode","fields"}]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiError {
    #[serde(rename = "errorCode", default)]
    pub error_code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub fields: Vec<String>,
}

/// How a request failed below HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    Connect,
    Timeout,
    Other,
}

/// Errors of the Salesforce client. `Clone` so one failed Composite request can be reported
/// on each of the operations it carried. No variant ever holds a token or secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Salesforce answered with its error array (or a composite subrequest did).
    #[error("Salesforce API error (HTTP {status}): {}", summarize(errors))]
    Api { status: u16, errors: Vec<ApiError> },
    /// The OAuth token endpoint refused: `{"error","error_description"}`.
    #[error("token request refused (HTTP {status}): {error}: {description}")]
    Auth {
        status: u16,
        error: String,
        description: String,
    },
    /// A body that is neither the expected JSON nor an error array (HTML maintenance or
    /// edge pages, empty 5xx, proxies). `snippet` is the start of the body.
    #[error("unexpected response (HTTP {status}, {content_type}): {snippet}")]
    UnexpectedResponse {
        status: u16,
        content_type: String,
        snippet: String,
    },
    /// The request never got an HTTP answer (connection refused/reset, timeout, TLS).
    #[error("transport error ({kind:?}): {message}")]
    Transport {
        kind: TransportKind,
        message: String,
    },
    /// The session expired and the token source is a fixed access token.
    #[error(
        "the access token expired or was revoked (INVALID_SESSION_ID) and cannot be refreshed: \
         configure a refresh token, JWT bearer or client credentials instead of a fixed access token"
    )]
    CannotRefresh,
    /// The configuration is unusable (bad URL, bad key, ...).
    #[error("invalid Salesforce client configuration: {0}")]
    Config(String),
    /// A success response whose JSON did not have the documented shape.
    #[error("could not decode Salesforce response: {0}")]
    Decode(String),
    /// The caller asked for something Salesforce would reject (e.g. > 200 records in one
    /// collection write).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

fn summarize(errors: &[ApiError]) -> String {
    match errors {
        [] => "no error details".to_owned(),
        [e] => format!("{}: {}", e.error_code, e.message),
        [e, rest @ ..] => format!("{}: {} (+{} more)", e.error_code, e.message, rest.len()),
    }
}

impl Error {
    /// How to react to this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Api { status, errors } => {
                // The first error drives the decision; Salesforce nearly always sends one.
                let first = errors.first();
                classify(
                    *status,
                    first.map(|e| e.error_code.as_str()),
                    first.map(|e| e.message.as_str()).unwrap_or(""),
                )
            }
            Error::Auth { status, error, .. } => {
                if error == "rate_limit_exceeded" {
                    ErrorClass::LimitExceeded
                } else if *status >= 500 {
                    ErrorClass::Retryable
                } else {
                    ErrorClass::Permanent
                }
            }
            Error::UnexpectedResponse {
                status, snippet, ..
            } => classify(*status, None, snippet),
            Error::Transport { .. } => ErrorClass::Retryable,
            Error::CannotRefresh
            | Error::Config(_)
            | Error::Decode(_)
            | Error::InvalidRequest(_) => ErrorClass::Permanent,
        }
    }

    /// Whether the request may have been processed although it failed: a timeout or a
    /// connection lost after the request was sent (only a connect error proves it never
    /// left), or an HTTP 500, after which Salesforce's state is unknown. A 502/503/504, a
    /// lock or limit answer means the request was refused before any change. Resending a
    /// non-idempotent request (a create) after such a failure may apply it twice.
    pub fn is_ambiguous(&self) -> bool {
        match self {
            Error::Transport { kind, .. } => *kind != TransportKind::Connect,
            Error::Api { status, errors } => {
                *status == 500
                    || errors
                        .first()
                        .is_some_and(|e| e.error_code == "UNKNOWN_EXCEPTION")
            }
            Error::UnexpectedResponse { status, .. } => *status == 500,
            _ => false,
        }
    }

    /// Whether Salesforce refused the request over field metadata (see
    /// [`FIELD_METADATA_ERROR_CODES`]), e.g. a query naming a field that no longer exists.
    pub fn is_field_metadata_error(&self) -> bool {
        matches!(self, Error::Api { .. }) && self.error_code().is_some_and(is_field_metadata_error)
    }

    /// Salesforce's `errorCode` (or OAuth `error`) as spelled, when there is one.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Error::Api { errors, .. } => errors.first().map(|e| e.error_code.as_str()),
            Error::Auth { error, .. } => Some(error),
            _ => None,
        }
    }

    /// HTTP status when an answer came back.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. }
            | Error::Auth { status, .. }
            | Error::UnexpectedResponse { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub(crate) fn transport(e: &reqwest::Error) -> Error {
        let kind = if e.is_timeout() {
            TransportKind::Timeout
        } else if e.is_connect() {
            TransportKind::Connect
        } else {
            TransportKind::Other
        };
        // Without the URL: query URLs carry SOQL with customer data (emails).
        let mut message = e.to_string();
        if let Some(u) = e.url() {
            message = message.replace(u.as_str(), "<url>");
        }
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            message.push_str(": ");
            message.push_str(&s.to_string());
            src = s.source();
        }
        Error::Transport { kind, message }
    }
}

/// Salesforce error codes saying a request does not fit the org's current field metadata:
/// a field that does not exist (any more) or is not visible, is not writable by the user, has
/// another type or a shorter length, or a restricted picklist without the value. A caller
/// that built the request from cached describes should describe again (with
/// `If-Modified-Since`, see [`crate::Client::describe_refresh`]) before giving up: an admin
/// may have just changed the field. Retrying the same request unchanged fails the same way,
/// so [`classify`] keeps them [`ErrorClass::Permanent`].
pub const FIELD_METADATA_ERROR_CODES: [&str; 6] = [
    "INVALID_FIELD",
    "INVALID_FIELD_FOR_INSERT_UPDATE",
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    "INVALID_TYPE_ON_FIELD_IN_RECORD",
    "FIELD_INTEGRITY_EXCEPTION",
    "STRING_TOO_LONG",
];

/// Whether `code` (an `errorCode`, or a save result's `statusCode`) is one of
/// [`FIELD_METADATA_ERROR_CODES`].
pub fn is_field_metadata_error(code: &str) -> bool {
    FIELD_METADATA_ERROR_CODES.contains(&code)
}

/// The retry classification of an HTTP-level or per-subrequest Salesforce failure
/// (`docs/salesforce.md#retry-classification`):
/// - `INVALID_SESSION_ID` (and the identity service's plain `Bad_OAuth_Token`) →
///   [`ErrorClass::Refresh`], except the "not valid for use with the
///   REST API" variant, which a refresh cannot fix (jsforce avoids that refresh loop too);
/// - `REQUEST_LIMIT_EXCEEDED` → `ConcurrentPerOrgLongTxn` is transient (back off),
///   `TotalRequests` (and any other limit) is [`ErrorClass::LimitExceeded`]; HTTP 429 too;
/// - `SERVER_UNAVAILABLE`, `UNABLE_TO_LOCK_ROW`, `UNKNOWN_EXCEPTION`, `QUERY_TIMEOUT`, and
///   HTTP 500/502/503/504 → [`ErrorClass::Retryable`];
/// - everything else → [`ErrorClass::Permanent`].
pub fn classify(status: u16, error_code: Option<&str>, message: &str) -> ErrorClass {
    match error_code {
        Some("INVALID_SESSION_ID") => {
            if message.contains("not valid for use with the REST API") {
                ErrorClass::Permanent
            } else {
                ErrorClass::Refresh
            }
        }
        Some("REQUEST_LIMIT_EXCEEDED") => {
            if message.contains("ConcurrentPerOrgLongTxn") {
                ErrorClass::Retryable
            } else {
                ErrorClass::LimitExceeded
            }
        }
        Some(
            "SERVER_UNAVAILABLE" | "UNABLE_TO_LOCK_ROW" | "UNKNOWN_EXCEPTION" | "QUERY_TIMEOUT",
        ) => ErrorClass::Retryable,
        // The identity service (userinfo, identity URL) answers an expired token with a
        // plain-text 403 `Bad_OAuth_Token` instead of the REST error array.
        None if message.trim() == "Bad_OAuth_Token" => ErrorClass::Refresh,
        _ => match status {
            429 => ErrorClass::LimitExceeded,
            500 | 502 | 503 | 504 => ErrorClass::Retryable,
            _ => ErrorClass::Permanent,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorClass::*;

    #[test]
    fn classification_table() {
        let table: &[(u16, Option<&str>, &str, ErrorClass)] = &[
            (
                503,
                Some("SERVER_UNAVAILABLE"),
                "server too busy",
                Retryable,
            ),
            (503, None, "", Retryable),
            (502, None, "", Retryable),
            (500, None, "", Retryable),
            (504, None, "", Retryable),
            (
                500,
                Some("UNKNOWN_EXCEPTION"),
                "Unknown Exception occurred",
                Retryable,
            ),
            (
                400,
                Some("UNABLE_TO_LOCK_ROW"),
                "unable to obtain exclusive access to this record or 1 records: 00Q",
                Retryable,
            ),
            (
                400,
                Some("QUERY_TIMEOUT"),
                "Your query request was running too long",
                Retryable,
            ),
            (
                403,
                Some("REQUEST_LIMIT_EXCEEDED"),
                "ConcurrentPerOrgLongTxn Limit exceeded.",
                Retryable,
            ),
            (
                401,
                Some("INVALID_SESSION_ID"),
                "Session expired or invalid",
                Refresh,
            ),
            (403, None, "Bad_OAuth_Token", Refresh),
            (403, None, "Forbidden", Permanent),
            (
                401,
                Some("INVALID_SESSION_ID"),
                "This session is not valid for use with the REST API",
                Permanent,
            ),
            (
                403,
                Some("REQUEST_LIMIT_EXCEEDED"),
                "TotalRequests Limit exceeded.",
                LimitExceeded,
            ),
            (429, None, "", LimitExceeded),
            (
                400,
                Some("REQUIRED_FIELD_MISSING"),
                "Required fields are missing: [Name]",
                Permanent,
            ),
            (
                400,
                Some("DUPLICATES_DETECTED"),
                "Use one of these records?",
                Permanent,
            ),
            (
                400,
                Some("CANNOT_UPDATE_CONVERTED_LEAD"),
                "cannot reference converted lead",
                Permanent,
            ),
            (400, Some("MALFORMED_QUERY"), "unexpected token", Permanent),
            (
                404,
                Some("NOT_FOUND"),
                "The requested resource does not exist",
                Permanent,
            ),
            (
                403,
                Some("API_CURRENTLY_DISABLED"),
                "API is disabled for this user",
                Permanent,
            ),
            (400, None, "", Permanent),
            (410, None, "", Permanent),
        ];
        for (status, code, msg, want) in table {
            assert_eq!(
                classify(*status, *code, msg),
                *want,
                "{status} {code:?} {msg}"
            );
        }
    }

    #[test]
    fn error_class_uses_first_api_error_and_oauth_errors() {
        let e = Error::Api {
            status: 400,
            errors: vec![ApiError {
                error_code: "UNABLE_TO_LOCK_ROW".into(),
                message: "x".into(),
                fields: vec![],
            }],
        };
        assert_eq!(e.class(), Retryable);
        assert_eq!(e.error_code(), Some("UNABLE_TO_LOCK_ROW"));
        let auth = Error::Auth {
            status: 400,
            error: "invalid_grant".into(),
            description: "expired access/refresh token".into(),
        };
        assert_eq!(auth.class(), Permanent);
        assert_eq!(Error::CannotRefresh.class(), Permanent);
        assert_eq!(
            Error::Transport {
                kind: TransportKind::Connect,
                message: "refused".into()
            }
            .class(),
            Retryable
        );
        let html = Error::UnexpectedResponse {
            status: 503,
            content_type: "text/html".into(),
            snippet: "<html>".into(),
        };
        assert_eq!(html.class(), Retryable);
    }

    #[test]
    fn field_metadata_errors_are_named_in_one_list() {
        let api = |code: &str| Error::Api {
            status: 400,
            errors: vec![ApiError {
                error_code: code.into(),
                message: "x".into(),
                fields: vec![],
            }],
        };
        assert!(api("INVALID_FIELD").is_field_metadata_error());
        assert!(api("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST").is_field_metadata_error());
        assert_eq!(api("INVALID_FIELD").class(), Permanent);
        assert!(!api("DUPLICATES_DETECTED").is_field_metadata_error());
        assert!(!api("UNABLE_TO_LOCK_ROW").is_field_metadata_error());
        // An OAuth error spelled like one is not about fields.
        let auth = Error::Auth {
            status: 400,
            error: "INVALID_FIELD".into(),
            description: String::new(),
        };
        assert!(!auth.is_field_metadata_error());
        assert!(is_field_metadata_error("INVALID_FIELD_FOR_INSERT_UPDATE"));
        assert!(!is_field_metadata_error("invalid_field"));
    }

    #[test]
    fn display_carries_error_code_as_spelled() {
        let e = Error::Api {
            status: 400,
            errors: vec![ApiError {
                error_code: "STRING_TOO_LONG".into(),
                message: "too long".into(),
                fields: vec!["Name".into()],
            }],
        };
        assert_eq!(
            e.to_string(),
            "Salesforce API error (HTTP 400): STRING_TOO_LONG: too long"
        );
    }
}
