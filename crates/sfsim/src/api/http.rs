//! The HTTP shell of the data API: the one axum handler under `/services/data`. It
//! refuses what Salesforce refuses before any data work (URI and header sizes, unknown or
//! retired versions, bad sessions, injected faults, the daily limit, bad JSON), counts
//! and logs the call, runs `dispatch` under the org lock, and sleeps the latency after.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::describe::versions;
use super::{Ctx, MAX_URI_BYTES, MAX_VERSION, MIN_VERSION, Req, classify, dispatch};
use crate::control::{CallKind, CallRecord, Control, Shared};
use crate::org::Undo;

/// Largest request body read.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Splits `/services/data/vNN.N/rest?query` into version, path and decoded params.
pub(crate) fn split_data_url(url: &str) -> Option<(u32, String, String, Vec<(String, String)>)> {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let rest = path.strip_prefix("/services/data/v")?;
    let (ver, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let major = parse_version(ver)?;
    let params = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    Some((major, ver.to_owned(), format!("/{tail}"), params))
}

fn parse_version(ver: &str) -> Option<u32> {
    let (major, minor) = ver.split_once('.')?;
    if minor != "0" {
        return None;
    }
    major.parse().ok()
}

pub(super) fn parse_batch_size(v: &str) -> Option<usize> {
    v.split([';', ',']).find_map(|part| {
        let (k, val) = part.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("batchSize")
            .then(|| val.trim().parse().ok())?
    })
}

pub(super) fn parse_allow_save(v: &str) -> bool {
    v.split([';', ',']).any(|part| {
        part.split_once('=').is_some_and(|(k, val)| {
            k.trim().eq_ignore_ascii_case("allowSave") && val.trim().eq_ignore_ascii_case("true")
        })
    })
}

/// A transport-level refusal in the REST error shape `[{"message","errorCode"}]`
/// (docs/salesforce.md#error-shapes), answered before a request reaches the data handlers.
fn error_response(
    status: u16,
    code: &str,
    message: impl Into<String>,
    extra: &[(&str, String)],
) -> Response {
    json_response(
        status,
        Some(&json!([{"message": message.into(), "errorCode": code}])),
        extra,
    )
}

fn json_response(status: u16, body: Option<&Value>, extra: &[(&str, String)]) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match body {
        Some(b) => {
            let mut r = Response::new(Body::from(b.to_string()));
            r.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("application/json;charset=UTF-8"),
            );
            r
        }
        None => Response::new(Body::empty()),
    };
    *resp.status_mut() = code;
    for (k, v) in extra {
        if let Ok(v) = HeaderValue::from_str(v) {
            if let Ok(name) = axum::http::HeaderName::from_bytes(k.as_bytes()) {
                resp.headers_mut().insert(name, v);
            }
        }
    }
    resp
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The handler of everything under `/services/data`.
pub(crate) async fn handle(State(control): State<Control>, req: Request) -> Response {
    let shared = Arc::clone(&control.shared);
    let request_id = shared.next_request.fetch_add(1, Ordering::SeqCst);
    let free = matches!(req.uri().path(), "/services/data" | "/services/data/");
    let resp = respond(&shared, req, request_id).await;
    // Latency is served outside the org lock so concurrent calls overlap, and on every
    // answer (errors and faults too, as a real network would); row locks taken by this
    // request are held until it answers.
    if !free {
        let extra = Duration::from_millis(shared.faults().extra_latency_ms);
        let delay = shared.base_latency + extra;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
    shared.row_locks().retain(|_, holder| *holder != request_id);
    resp
}

async fn respond(shared: &Arc<Shared>, req: Request, request_id: u64) -> Response {
    let (parts, body) = req.into_parts();
    let method = parts.method.clone();
    let path = parts.uri.path().to_owned();
    let uri_len = parts
        .uri
        .path_and_query()
        .map_or(path.len(), |p| p.as_str().len());
    let log = |status: u16, kind: CallKind, records: usize, soql: Option<String>, counted: bool| {
        shared.log_call(CallRecord {
            method: method.to_string(),
            path: path.clone(),
            status,
            records,
            kind,
            soql,
            in_composite: false,
            counted,
            at: crate::control::now_time(),
        });
    };
    // docs/salesforce.md#limits: URI over 16,384 bytes → 414; URI plus headers over it → 431.
    if uri_len > MAX_URI_BYTES {
        log(414, CallKind::Other, 0, None, false);
        return error_response(414, "URI_TOO_LONG", "URI Too Long", &[]);
    }
    let header_bytes: usize = parts
        .headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if uri_len + header_bytes > MAX_URI_BYTES {
        log(431, CallKind::Other, 0, None, false);
        return error_response(
            431,
            "REQUEST_HEADER_FIELDS_TOO_LARGE",
            "Request Header Fields Too Large",
            &[],
        );
    }
    if path == "/services/data" || path == "/services/data/" {
        log(200, CallKind::Versions, 0, None, false);
        return json_response(200, Some(&versions()), &[]);
    }
    let Some((major, version, rest, params)) = split_data_url(
        parts
            .uri
            .path_and_query()
            .map_or(path.as_str(), |p| p.as_str()),
    ) else {
        log(404, CallKind::Other, 0, None, false);
        return error_response(
            404,
            "NOT_FOUND",
            "The requested resource does not exist",
            &[],
        );
    };
    if major < MIN_VERSION {
        // Retired versions answer 410 Gone (docs/salesforce.md#api-versions); body wording
        // unconfirmed.
        log(410, CallKind::Other, 0, None, false);
        return error_response(
            410,
            "API_VERSION_RETIRED",
            format!("API version {version} has been retired"),
            &[],
        );
    }
    if major > MAX_VERSION {
        log(404, CallKind::Other, 0, None, false);
        return error_response(
            404,
            "NOT_FOUND",
            "The requested resource does not exist",
            &[],
        );
    }
    let kind = classify(&method, &rest);
    let auth_header = header(&parts.headers, "authorization").unwrap_or("");
    if let Err(e) = shared.auth.check_access_token(auth_header) {
        log(401, kind, 0, None, false);
        return e.into_response();
    }
    let limit_info =
        |used: u64| format!("api-usage={used}/{}", shared.api_max.load(Ordering::SeqCst));
    // Injected faults: 503s (JSON or HTML) and concurrent-request limits.
    enum Injected {
        Unavailable { html: bool },
        Concurrent,
        Throttled { retry_after: Option<u64> },
    }
    let injected = {
        let mut f = shared.faults();
        let window = f
            .window
            .clone()
            .filter(|w| time::OffsetDateTime::now_utc() < w.until);
        if let Some(w) = window {
            if w.status == 429 {
                Some(Injected::Throttled {
                    retry_after: w.retry_after_secs,
                })
            } else {
                Some(Injected::Unavailable { html: f.fail_html })
            }
        } else if f.concurrent_limit_next > 0 {
            f.concurrent_limit_next -= 1;
            Some(Injected::Concurrent)
        } else if f.fail_next > 0 {
            f.fail_next -= 1;
            Some(Injected::Unavailable { html: f.fail_html })
        } else if f.fail_share > 0.0 && rand::random::<f64>() < f.fail_share {
            Some(Injected::Unavailable { html: f.fail_html })
        } else {
            None
        }
    };
    if let Some(fault) = injected {
        let used = shared.api_used.load(Ordering::SeqCst);
        let limit = [("Sforce-Limit-Info", limit_info(used))];
        return match fault {
            Injected::Throttled { retry_after } => {
                log(429, kind, 0, None, false);
                let mut r = Response::new(Body::empty());
                *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
                if let Some(s) = retry_after
                    && let Ok(v) = HeaderValue::from_str(&s.to_string())
                {
                    r.headers_mut().insert("retry-after", v);
                }
                r
            }
            Injected::Concurrent => {
                log(403, kind, 0, None, false);
                error_response(
                    403,
                    "REQUEST_LIMIT_EXCEEDED",
                    "ConcurrentPerOrgLongTxn Limit exceeded.",
                    &limit,
                )
            }
            Injected::Unavailable { html: false } => {
                log(503, kind, 0, None, false);
                error_response(503, "SERVER_UNAVAILABLE", "server too busy", &limit)
            }
            Injected::Unavailable { html: true } => {
                log(503, kind, 0, None, false);
                let mut r = Response::new(Body::from(
                    "<html><head><title>Service Unavailable</title></head><body><h1>Service Unavailable</h1><p>The server is temporarily unable to service your request.</p></body></html>",
                ));
                *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                r.headers_mut().insert(
                    "content-type",
                    HeaderValue::from_static("text/html;charset=UTF-8"),
                );
                r
            }
        };
    }
    // Daily limit (docs/salesforce.md#limits): a call over the allocation is refused and not
    // counted.
    let max = shared.api_max.load(Ordering::SeqCst);
    let counted = shared
        .api_used
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |u| {
            (u < max).then_some(u + 1)
        });
    let used = match counted {
        Ok(prev) => prev + 1,
        Err(u) => {
            log(403, kind, 0, None, false);
            return error_response(
                403,
                "REQUEST_LIMIT_EXCEEDED",
                "TotalRequests Limit exceeded.",
                &[("Sforce-Limit-Info", limit_info(u))],
            );
        }
    };
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            log(413, kind, 0, None, true);
            return error_response(413, "REQUEST_TOO_LARGE", "Request body too large", &[]);
        }
    };
    let body_value = if bytes.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                log(400, kind, 0, None, true);
                return error_response(
                    400,
                    "JSON_PARSER_ERROR",
                    format!("Unexpected character in JSON body: {e}"),
                    &[("Sforce-Limit-Info", limit_info(used))],
                );
            }
        }
    };
    let data_req = Req {
        method: method.clone(),
        path: rest,
        params,
        version,
        batch_size: header(&parts.headers, "sforce-query-options").and_then(parse_batch_size),
        allow_duplicate_save: header(&parts.headers, "sforce-duplicate-rule-header")
            .is_some_and(parse_allow_save),
        if_modified_since: header(&parts.headers, "if-modified-since").map(str::to_owned),
        body: body_value,
    };
    let (resp, sublog, late) = {
        let mut st = shared.state();
        let mut undo = Undo::default();
        let mut ctx = Ctx {
            shared,
            st: &mut st,
            undo: &mut undo,
            request_id,
            in_composite: false,
            logged: Vec::new(),
        };
        let r = dispatch(&mut ctx, &data_req);
        let logged = ctx.logged;
        let late = if undo.is_empty() {
            None
        } else {
            take_late_commit(shared)
        };
        if late.is_some_and(|after| !after.is_zero()) {
            st.org.rollback_to(&mut undo, 0);
        }
        (r, logged, late)
    };
    log(
        if late.is_some() { 500 } else { resp.status },
        resp.kind,
        resp.records,
        resp.soql.clone(),
        true,
    );
    for s in sublog {
        shared.log_call(s);
    }
    if let Some(after) = late {
        if !after.is_zero() {
            commit_later(Arc::clone(shared), data_req, after);
        }
        return error_response(
            500,
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please include this ErrorId if you contact support: 000000000-00000 (0)",
            &[("Sforce-Limit-Info", limit_info(used))],
        );
    }
    let mut headers: Vec<(&str, String)> = vec![("Sforce-Limit-Info", limit_info(used))];
    headers.extend(resp.headers.iter().map(|(k, v)| (*k, v.clone())));
    json_response(resp.status, resp.body.as_ref(), &headers)
}

/// The `late_commit` fault's delay when it applies to this call (and counts it down).
fn take_late_commit(shared: &Shared) -> Option<Duration> {
    let mut f = shared.faults();
    if f.late_commit_next == 0 {
        return None;
    }
    f.late_commit_next -= 1;
    Some(Duration::from_millis(f.late_commit_after_ms))
}

/// Carries out a write request `after` its error answer: the late commit.
fn commit_later(shared: Arc<Shared>, req: Req, after: Duration) {
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        let request_id = shared.next_request.fetch_add(1, Ordering::SeqCst);
        {
            let mut st = shared.state();
            let mut undo = Undo::default();
            let mut ctx = Ctx {
                shared: &shared,
                st: &mut st,
                undo: &mut undo,
                request_id,
                in_composite: false,
                logged: Vec::new(),
            };
            dispatch(&mut ctx, &req);
        }
        shared.row_locks().retain(|_, holder| *holder != request_id);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_parsing() {
        assert_eq!(parse_batch_size("batchSize=500"), Some(500));
        assert!(parse_allow_save(
            "allowSave=true; includeRecordDetails=true"
        ));
        assert!(!parse_allow_save("allowSave=false"));
    }
}
