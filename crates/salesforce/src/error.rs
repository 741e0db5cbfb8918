//! Typed errors and their classification. Salesforce error codes are kept exactly as
//! Salesforce spells them (`UNABLE_TO_LOCK_ROW`, ...); [`classify`] is the one place that
//! decides what kind of trouble a failure is ([`Failure`]); what the client itself does
//! about it ([`ErrorClass`]) follows from that kind.

use std::time::Duration;

use serde::Deserialize;

/// What kind of trouble a failure is: decided once, here, where Salesforce's answer is
/// read, and carried unchanged to whoever decides about retries (the service's workers,
/// `trailspark sync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    /// The request itself is wrong for this org (validation, field, value, malformed):
    /// sending it again fails the same way.
    Record,
    /// Contention on the record (`UNABLE_TO_LOCK_ROW`, a query timeout): the same request
    /// may succeed a moment later.
    RecordTransient,
    /// The org does not answer (HTTP 500/502/503/504, `SERVER_UNAVAILABLE`, connection
    /// refused, timeouts): everything sent now fails alike.
    OrgUnavailable,
    /// HTTP 429: no call before `Retry-After` (when the org sent one).
    Throttled { retry_after: Option<Duration> },
    /// The org's daily request allocation is used up (`REQUEST_LIMIT_EXCEEDED` TotalRequests).
    RequestLimit,
    /// The concurrent long-running request limit (`ConcurrentPerOrgLongTxn`): short-lived.
    ConcurrentLimit,
    /// The access token expired: refresh it and repeat (the client does this once).
    SessionExpired,
    /// The sign-in was refused (refresh token revoked or expired, client credentials
    /// wrong, a fixed token that expired): nothing works until the org is reconnected.
    SignedOut,
}

impl Failure {
    /// What the client does about it within one call.
    pub fn class(self) -> ErrorClass {
        match self {
            Failure::Record | Failure::SignedOut => ErrorClass::Permanent,
            Failure::RecordTransient | Failure::OrgUnavailable | Failure::ConcurrentLimit => {
                ErrorClass::Retryable
            }
            Failure::Throttled { .. } | Failure::RequestLimit => ErrorClass::LimitExceeded,
            Failure::SessionExpired => ErrorClass::Refresh,
        }
    }

    /// Trouble of the whole org (or of the integration's access to it), as opposed to one
    /// request's or record's: every other request sent now would fail the same way.
    pub fn is_org_wide(self) -> bool {
        matches!(
            self,
            Failure::OrgUnavailable
                | Failure::Throttled { .. }
                | Failure::RequestLimit
                | Failure::ConcurrentLimit
                | Failure::SignedOut
        )
    }
}

/// What the client does about an error within one call (follows from [`Failure`]).
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
    /// HTTP 429 Too Many Requests; `retry_after` from the `Retry-After` header.
    #[error("throttled by Salesforce (HTTP {status}){}: {message}", retry_after.map(|d| format!(", retry after {} s", d.as_secs())).unwrap_or_default())]
    Throttled {
        status: u16,
        retry_after: Option<Duration>,
        message: String,
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
    /// What the client does about this error within one call.
    pub fn class(&self) -> ErrorClass {
        self.failure().class()
    }

    /// What kind of trouble this is (see [`Failure`]).
    pub fn failure(&self) -> Failure {
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
                    Failure::Throttled { retry_after: None }
                } else if *status >= 500 {
                    Failure::OrgUnavailable
                } else {
                    Failure::SignedOut
                }
            }
            Error::Throttled { retry_after, .. } => Failure::Throttled {
                retry_after: *retry_after,
            },
            Error::UnexpectedResponse {
                status, snippet, ..
            } => classify(*status, None, snippet),
            Error::Transport { .. } => Failure::OrgUnavailable,
            Error::CannotRefresh => Failure::SignedOut,
            Error::Config(_) | Error::Decode(_) | Error::InvalidRequest(_) => Failure::Record,
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
            | Error::Throttled { status, .. }
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

/// The classification of an HTTP-level or per-subrequest Salesforce failure
/// (`docs/salesforce.md#retry-classification`):
/// - `INVALID_SESSION_ID` (and the identity service's plain `Bad_OAuth_Token`) →
///   [`Failure::SessionExpired`], except the "not valid for use with the REST API" variant,
///   which a refresh cannot fix (jsforce avoids that refresh loop too): [`Failure::Record`];
/// - `REQUEST_LIMIT_EXCEEDED` → `ConcurrentPerOrgLongTxn` is [`Failure::ConcurrentLimit`],
///   `TotalRequests` (and any other limit) [`Failure::RequestLimit`]; HTTP 429, with or
///   without a body, [`Failure::Throttled`];
/// - `UNABLE_TO_LOCK_ROW`, `QUERY_TIMEOUT` → [`Failure::RecordTransient`];
/// - `SERVER_UNAVAILABLE`, `UNKNOWN_EXCEPTION`, HTTP 500/502/503/504 →
///   [`Failure::OrgUnavailable`];
/// - everything else → [`Failure::Record`].
pub fn classify(status: u16, error_code: Option<&str>, message: &str) -> Failure {
    match error_code {
        Some("INVALID_SESSION_ID") => {
            if message.contains("not valid for use with the REST API") {
                Failure::Record
            } else {
                Failure::SessionExpired
            }
        }
        Some("REQUEST_LIMIT_EXCEEDED") => {
            if message.contains("ConcurrentPerOrgLongTxn") {
                Failure::ConcurrentLimit
            } else {
                Failure::RequestLimit
            }
        }
        Some("UNABLE_TO_LOCK_ROW" | "QUERY_TIMEOUT") => Failure::RecordTransient,
        Some("SERVER_UNAVAILABLE" | "UNKNOWN_EXCEPTION") => Failure::OrgUnavailable,
        // The identity service (userinfo, identity URL) answers an expired token with a
        // plain-text 403 `Bad_OAuth_Token` instead of the REST error array.
        None if message.trim() == "Bad_OAuth_Token" => Failure::SessionExpired,
        _ => match status {
            429 => Failure::Throttled { retry_after: None },
            500 | 502 | 503 | 504 => Failure::OrgUnavailable,
            _ => Failure::Record,
        },
    }
}

/// `Retry-After` as seconds (the form Salesforce sends) or an HTTP date relative to `now`.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    let now = time::OffsetDateTime::from(now);
    Some((at - now).try_into().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorClass::*;

    #[test]
    fn classification_table() {
        use Failure::*;
        let table: &[(u16, Option<&str>, &str, Failure)] = &[
            (
                503,
                Some("SERVER_UNAVAILABLE"),
                "server too busy",
                OrgUnavailable,
            ),
            (503, None, "", OrgUnavailable),
            (502, None, "", OrgUnavailable),
            (500, None, "", OrgUnavailable),
            (504, None, "", OrgUnavailable),
            (
                500,
                Some("UNKNOWN_EXCEPTION"),
                "Unknown Exception occurred",
                OrgUnavailable,
            ),
            (
                400,
                Some("UNABLE_TO_LOCK_ROW"),
                "unable to obtain exclusive access to this record or 1 records: 00Q",
                RecordTransient,
            ),
            (
                400,
                Some("QUERY_TIMEOUT"),
                "Your query request was running too long",
                RecordTransient,
            ),
            (
                403,
                Some("REQUEST_LIMIT_EXCEEDED"),
                "ConcurrentPerOrgLongTxn Limit exceeded.",
                ConcurrentLimit,
            ),
            (
                401,
                Some("INVALID_SESSION_ID"),
                "Session expired or invalid",
                SessionExpired,
            ),
            (403, None, "Bad_OAuth_Token", SessionExpired),
            (403, None, "Forbidden", Record),
            (
                401,
                Some("INVALID_SESSION_ID"),
                "This session is not valid for use with the REST API",
                Record,
            ),
            (
                403,
                Some("REQUEST_LIMIT_EXCEEDED"),
                "TotalRequests Limit exceeded.",
                RequestLimit,
            ),
            // A 429 is throttling with or without a body.
            (429, None, "", Throttled { retry_after: None }),
            (
                429,
                Some("SOMETHING"),
                "slow down",
                Throttled { retry_after: None },
            ),
            (
                400,
                Some("REQUIRED_FIELD_MISSING"),
                "Required fields are missing: [Name]",
                Record,
            ),
            (
                400,
                Some("DUPLICATES_DETECTED"),
                "Use one of these records?",
                Record,
            ),
            (
                400,
                Some("CANNOT_UPDATE_CONVERTED_LEAD"),
                "cannot reference converted lead",
                Record,
            ),
            (400, Some("MALFORMED_QUERY"), "unexpected token", Record),
            (
                404,
                Some("NOT_FOUND"),
                "The requested resource does not exist",
                Record,
            ),
            (
                403,
                Some("API_CURRENTLY_DISABLED"),
                "API is disabled for this user",
                Record,
            ),
            (400, None, "", Record),
            (410, None, "", Record),
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
    fn the_client_reaction_follows_from_the_kind() {
        assert_eq!(Failure::OrgUnavailable.class(), Retryable);
        assert_eq!(Failure::RecordTransient.class(), Retryable);
        assert_eq!(Failure::ConcurrentLimit.class(), Retryable);
        assert_eq!(Failure::RequestLimit.class(), LimitExceeded);
        assert_eq!(
            Failure::Throttled { retry_after: None }.class(),
            LimitExceeded
        );
        assert_eq!(Failure::SessionExpired.class(), Refresh);
        assert_eq!(Failure::SignedOut.class(), Permanent);
        assert_eq!(Failure::Record.class(), Permanent);
        assert!(Failure::ConcurrentLimit.is_org_wide());
        assert!(Failure::SignedOut.is_org_wide());
        assert!(!Failure::RecordTransient.is_org_wide());
        assert!(!Failure::Record.is_org_wide());
    }

    #[test]
    fn throttling_carries_retry_after_and_a_refused_sign_in_is_signed_out() {
        let t = Error::Throttled {
            status: 429,
            retry_after: Some(Duration::from_secs(5)),
            message: String::new(),
        };
        assert_eq!(
            t.failure(),
            Failure::Throttled {
                retry_after: Some(Duration::from_secs(5))
            }
        );
        assert_eq!(t.http_status(), Some(429));
        let revoked = Error::Auth {
            status: 400,
            error: "invalid_grant".into(),
            description: "expired access/refresh token".into(),
        };
        assert_eq!(revoked.failure(), Failure::SignedOut);
        assert_eq!(Error::CannotRefresh.failure(), Failure::SignedOut);
        let now = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(parse_retry_after(" 5 ", now), Some(Duration::from_secs(5)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse_retry_after("soon", now), None);
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
