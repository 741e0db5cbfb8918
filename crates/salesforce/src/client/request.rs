//! One logical request: sent with the session's bearer token, refreshed once on an expired
//! session, retried on transient failures with jittered backoff (never resent after an
//! ambiguous failure when it carries creates), counted, and its error body typed.

use std::sync::atomic::Ordering;

use reqwest::header::{self, HeaderMap};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::{Client, TRANSPORT_ERROR_STATUS, lock, read_session};
use crate::LIMIT_INFO_HEADER;
use crate::composite::{self, SubRequest, SubResponse};
use crate::config::RetryPolicy;
use crate::error::{ApiError, Error, ErrorClass, parse_retry_after};
use crate::limits::parse_limit_info;

/// Bytes of a non-JSON error body kept in [`Error::UnexpectedResponse`].
const SNIPPET_CHARS: usize = 200;

/// The subresponses of one Composite request, or why it failed as a whole.
pub(super) type CompositeAnswer = Result<Vec<SubResponse>, Error>;

#[derive(Debug, Clone, Copy)]
pub(crate) enum CallKind {
    Query,
    Composite,
    Describe,
    Other,
}

impl CallKind {
    /// The name used in [`Client::calls_by_status`] (same as the
    /// [`CallCounts`](super::CallCounts) fields).
    fn label(self) -> &'static str {
        match self {
            CallKind::Query => "query",
            CallKind::Composite => "composite",
            CallKind::Describe => "describe",
            CallKind::Other => "other",
        }
    }
}

/// A successful (2xx or 304) response.
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| Error::Decode(format!("{what}: {e}")))
    }
}

/// One logical request (possibly sent several times).
pub(crate) struct Request<'a> {
    pub(crate) method: reqwest::Method,
    /// `/services/...` (joined to the instance URL) or an absolute URL.
    pub(crate) path: &'a str,
    pub(crate) body: Option<&'a Value>,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) kind: CallKind,
    /// Whether the request may be sent again after an ambiguous failure (see
    /// [`Error::is_ambiguous`]): false for a Composite carrying creates, which are not
    /// idempotent.
    pub(crate) resend_ambiguous: bool,
}

impl<'a> Request<'a> {
    /// A plain `GET` without extra headers.
    pub(crate) fn get(path: &'a str, kind: CallKind) -> Self {
        Request {
            method: reqwest::Method::GET,
            path,
            body: None,
            headers: Vec::new(),
            kind,
            resend_ambiguous: true,
        }
    }
}

impl Client {
    /// One Composite request (retried as a whole on HTTP-level retryable failures; after an
    /// ambiguous failure only when `resend_ambiguous`).
    pub(crate) async fn composite(
        &self,
        subs: &[SubRequest],
        headers: Vec<(&'static str, String)>,
        resend_ambiguous: bool,
    ) -> Result<Vec<SubResponse>, Error> {
        let body = composite::composite_body(subs);
        let path = format!("{}/composite", self.inner.cfg.api_version.data_path());
        let resp = self
            .send(&Request {
                method: reqwest::Method::POST,
                path: &path,
                body: Some(&body),
                headers,
                kind: CallKind::Composite,
                resend_ambiguous,
            })
            .await?;
        composite::parse_composite_response(subs, &resp.body)
    }

    /// Sends `req`, refreshing the token once on `INVALID_SESSION_ID` and retrying
    /// retryable failures with jittered exponential backoff.
    pub(crate) async fn send(&self, req: &Request<'_>) -> Result<Response, Error> {
        let policy = &self.inner.cfg.retry;
        let mut attempt = 1;
        let mut refreshed = false;
        loop {
            let (token, instance_url, generation) = {
                let s = read_session(&self.inner.session);
                (s.access_token.clone(), s.instance_url.clone(), s.generation)
            };
            let err = match self.send_once(req, &token, &instance_url).await {
                Ok(r) => return Ok(r),
                Err(e) => e,
            };
            match err.class() {
                ErrorClass::Refresh if !refreshed => {
                    refreshed = true;
                    self.refresh(generation).await?;
                }
                // The request may have been processed: resending a create could create
                // the records twice, so the caller decides (after a fresh lookup).
                ErrorClass::Retryable if !req.resend_ambiguous && err.is_ambiguous() => {
                    tracing::warn!(error = %err, "Salesforce write with creates failed ambiguously; not resending");
                    return Err(err);
                }
                // Callers with their own schedule (the service, `sync`) set no retries here.
                ErrorClass::Retryable if may_retry(policy, &err, attempt) => {
                    let delay = policy.backoff.jittered(attempt);
                    tracing::warn!(error = %err, attempt, ?delay, "Salesforce call failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                _ => return Err(err),
            }
        }
    }

    async fn send_once(
        &self,
        req: &Request<'_>,
        token: &SecretString,
        instance_url: &str,
    ) -> Result<Response, Error> {
        let url = if req.path.starts_with('/') {
            format!("{instance_url}{}", req.path)
        } else {
            req.path.to_owned()
        };
        let mut rb = self
            .inner
            .http
            .request(req.method.clone(), url)
            .bearer_auth(token.expose_secret())
            .header(header::ACCEPT, "application/json");
        for (k, v) in &req.headers {
            rb = rb.header(*k, v);
        }
        if let Some(b) = req.body {
            rb = rb.json(b);
        }
        self.count(req.kind);
        let started = std::time::Instant::now();
        let resp = rb.send().await.map_err(|e| {
            self.count_status(req.kind, TRANSPORT_ERROR_STATUS);
            self.time(req.kind, started);
            Error::transport(&e)
        })?;
        let status = resp.status().as_u16();
        self.count_status(req.kind, status);
        let headers = resp.headers().clone();
        if let Some(u) = headers
            .get(LIMIT_INFO_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_limit_info)
        {
            *lock(&self.inner.usage) = Some(u);
        }
        let body = resp.bytes().await.map_err(|e| Error::transport(&e));
        self.time(req.kind, started);
        let body = body?.to_vec();
        tracing::debug!(method = %req.method, kind = ?req.kind, status, "Salesforce call");
        if (200..300).contains(&status) || status == 304 {
            return Ok(Response {
                status,
                headers,
                body,
            });
        }
        if status == 429 {
            // Throttled, whatever the body says; the wait the org asks for is carried.
            let retry_after = headers
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
            return Err(Error::Throttled {
                status,
                retry_after,
                message: snippet(&body),
            });
        }
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        Err(error_from_body(status, content_type, &body))
    }

    fn count(&self, kind: CallKind) {
        let c = &self.inner.counters;
        let counter = match kind {
            CallKind::Query => &c.query,
            CallKind::Composite => &c.composite,
            CallKind::Describe => &c.describe,
            CallKind::Other => &c.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn time(&self, kind: CallKind, started: std::time::Instant) {
        lock(&self.inner.counters.latency)
            .entry(kind.label())
            .or_default()
            .observe(started.elapsed().as_secs_f64());
    }

    fn count_status(&self, kind: CallKind, status: u16) {
        *lock(&self.inner.counters.responses)
            .entry((kind.label(), status))
            .or_insert(0) += 1;
    }
}

/// Whether attempt number `attempt`, failed with `err`, may be followed by another: the
/// error is transient and the policy has attempts left.
pub(super) fn may_retry(policy: &RetryPolicy, err: &Error, attempt: u32) -> bool {
    err.class() == ErrorClass::Retryable && attempt < policy.max_attempts
}

/// The typed error of a non-success response body: Salesforce's error array, a single
/// error object, or (HTML, empty, other) an [`Error::UnexpectedResponse`].
pub(crate) fn error_from_body(status: u16, content_type: &str, body: &[u8]) -> Error {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| error_from_json(status, &v))
        .unwrap_or_else(|| unexpected(status, content_type, body))
}

/// `[{"message","errorCode","fields"}]` (or one such object) → [`Error::Api`].
pub(crate) fn error_from_json(status: u16, v: &Value) -> Option<Error> {
    let parse_one = |e: &Value| -> Option<ApiError> {
        e.get("errorCode")?.as_str()?;
        serde_json::from_value(e.clone()).ok()
    };
    let errors: Vec<ApiError> = match v {
        Value::Array(items) => items.iter().map(parse_one).collect::<Option<Vec<_>>>()?,
        Value::Object(_) => vec![parse_one(v)?],
        _ => return None,
    };
    if errors.is_empty() {
        return None;
    }
    Some(Error::Api { status, errors })
}

pub(crate) fn unexpected(status: u16, content_type: &str, body: &[u8]) -> Error {
    Error::UnexpectedResponse {
        status,
        content_type: content_type.to_owned(),
        snippet: snippet(body),
    }
}

/// The start of a body, whitespace collapsed, for error messages.
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let collapsed: Vec<&str> = text.split_whitespace().collect();
    let joined = collapsed.join(" ");
    if joined.chars().count() > SNIPPET_CHARS {
        let cut: String = joined.chars().take(SNIPPET_CHARS).collect();
        format!("{cut}…")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_typed() {
        let e = error_from_body(
            401,
            "application/json",
            br#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#,
        );
        assert_eq!(e.error_code(), Some("INVALID_SESSION_ID"));
        assert_eq!(e.class(), ErrorClass::Refresh);
        let e = error_from_body(
            400,
            "application/json",
            br#"[{"message":"Required fields are missing: [Name]","errorCode":"REQUIRED_FIELD_MISSING","fields":["Name"]}]"#,
        );
        assert!(
            matches!(&e, Error::Api { errors, .. } if errors[0].fields == vec!["Name".to_string()])
        );
        let html = error_from_body(
            503,
            "text/html",
            b"<html>\n  <body>Down for   maintenance</body></html>",
        );
        assert_eq!(
            html,
            Error::UnexpectedResponse {
                status: 503,
                content_type: "text/html".into(),
                snippet: "<html> <body>Down for maintenance</body></html>".into()
            }
        );
        assert_eq!(html.class(), ErrorClass::Retryable);
        let empty = error_from_body(502, "", b"");
        assert_eq!(empty.class(), ErrorClass::Retryable);
        let odd_json = error_from_body(400, "application/json", br#"{"foo":1}"#);
        assert!(matches!(odd_json, Error::UnexpectedResponse { .. }));
    }

    #[test]
    fn snippet_is_bounded() {
        let long = "x".repeat(1000);
        assert_eq!(snippet(long.as_bytes()).chars().count(), SNIPPET_CHARS + 1);
    }
}
