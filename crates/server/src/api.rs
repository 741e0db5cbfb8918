//! The HTTP API handlers (docs/api.md#http-api). Each one parses its input at the edge, asks the
//! store, and answers JSON; every refusal is an [`ApiError`].

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::{Evaluation, FieldError};
use serde::Deserialize;
use serde_json::{Value, json};
use store::{
    DeliveryFilter, DeliveryId, DeliveryOutcome, IngestResult, NewEvaluation, RetryOutcome,
    TimeBasis,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::AppState;
use crate::error::{ApiError, MAX_BODY_BYTES};
use crate::worker::SALESFORCE;

/// Most evaluations in one POST (docs/api.md#http-api).
pub const MAX_BATCH: usize = 1_000;
/// Deliveries per page of the log unless `limit` says otherwise, and the most allowed.
pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 500;

/// `POST /api/v1/evaluations`: one object or an array; good items stored (committed)
/// before the 202, bad ones listed by index; 400 when none is accepted.
#[utoipa::path(post, path = "/api/v1/evaluations", tag = "evaluations",
    request_body(content = Object, description = "One evaluation or an array of at most 1,000"),
    responses((status = 202, description = "Accepted (the good ones stored before the answer), with the rejected ones by index", body = Object),
              (status = 400, description = "None accepted", body = Object)),
    security(("bearer" = []), ("session" = [])))]
pub async fn post_evaluations(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let body = crate::batch::read_body(request.into_body(), announced, BODY_LIMIT).await?;
    // Split without building the body's tree, then parse one bounded item at a time; the
    // body is let go before the rows are stored.
    let checked = {
        let items = crate::batch::split(&body)?;
        Checked::of(
            &state,
            items.iter().map(|raw| crate::batch::parse_item(raw)),
        )
    };
    drop(body);
    let answer = store_checked(&state, checked).await?;
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

/// Validates and stores evaluations (JSON values, docs/api.md#evaluation): the answer
/// `{"accepted":[{"index","id"}],"rejected":[{"index","errors":[...]}]}`, or an error
/// when none was accepted (400, or 409 when every refusal is an id conflict).
pub async fn ingest(state: &AppState, items: &[Value]) -> Result<Value, ApiError> {
    let checked = Checked::of(state, items.iter().map(Evaluation::parse_json));
    store_checked(state, checked).await
}

/// Items checked, before they are stored: the rows of the good ones and the errors of
/// the others, by index.
pub struct Checked {
    rows: Vec<NewEvaluation>,
    positions: Vec<usize>,
    rejected: Vec<(usize, Vec<FieldError>)>,
}

impl Checked {
    /// Items parsed one at a time by the iterator: each becomes its row before the next
    /// is parsed, so only one item's JSON tree exists at once.
    pub fn of(
        state: &AppState,
        items: impl Iterator<Item = Result<Evaluation, Vec<FieldError>>>,
    ) -> Checked {
        let destinations: Vec<&str> = state.destinations.iter().map(String::as_str).collect();
        let mut checked = Checked {
            rows: Vec::new(),
            positions: Vec::new(),
            rejected: Vec::new(),
        };
        for (index, item) in items.enumerate() {
            match item {
                Ok(e) => {
                    checked
                        .rows
                        .push(NewEvaluation::from_evaluation(&e, &destinations));
                    checked.positions.push(index);
                }
                Err(errors) => checked.rejected.push((index, errors)),
            }
        }
        checked
    }
}

/// Stores the good items of [`Checked`] and builds [`ingest`]'s answer.
pub async fn store_checked(state: &AppState, checked: Checked) -> Result<Value, ApiError> {
    let Checked {
        rows,
        positions,
        mut rejected,
    } = checked;
    // The rows go to the store as they are (no copy of their payloads); the answer needs
    // only their ids.
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let results = if rows.is_empty() {
        Vec::new()
    } else {
        state.store.ingest(rows).await?
    };
    let mut accepted = Vec::new();
    let mut conflicts = 0usize;
    let (mut stored, mut duplicates) = (0u64, 0u64);
    for ((id, index), result) in ids.iter().zip(positions).zip(results) {
        match result {
            IngestResult::Stored => {
                stored += 1;
                accepted.push(json!({"index": index, "id": id}));
            }
            IngestResult::Duplicate => {
                duplicates += 1;
                accepted.push(json!({"index": index, "id": id}));
            }
            IngestResult::Conflict => {
                conflicts += 1;
                rejected.push((
                    index,
                    vec![FieldError::new(
                        "id",
                        format!(
                            "an evaluation with id {id:?} and different content was already accepted; use a new id for a new evaluation"
                        ),
                    )],
                ));
            }
        }
    }
    rejected.sort_by_key(|(i, _)| *i);
    state
        .metrics
        .ingested(stored, duplicates, rejected.len() as u64);
    if stored > 0 {
        state.notify.notify_waiters();
    }
    let rejected_json: Vec<Value> = rejected
        .iter()
        .map(|(index, errors)| {
            json!({"index": index, "errors": errors.iter().map(|e| json!({"field": e.field, "message": e.message})).collect::<Vec<_>>()})
        })
        .collect();
    if accepted.is_empty() {
        if conflicts == rejected.len() {
            return Err(ApiError::Conflict {
                code: "id_conflict",
                message: "an evaluation with this id and different content was already accepted"
                    .into(),
                details: rejected_json,
            });
        }
        return Err(ApiError::BadRequest {
            code: "invalid_evaluations",
            message: format!(
                "no evaluation accepted: {} rejected (see details)",
                rejected_json.len()
            ),
            details: rejected_json,
        });
    }
    Ok(json!({"accepted": accepted, "rejected": rejected_json}))
}

/// The report-line shape of one delivery, with the queue's view (state, attempts) added.
pub fn delivery_line(d: &store::Delivery, email: &str) -> Value {
    let mut line = match &d.last_report {
        Some(Value::Object(m)) => m.clone(),
        _ => {
            let mut m = serde_json::Map::new();
            m.insert("id".into(), json!(d.evaluation_id));
            m.insert("email".into(), json!(email));
            m.insert("writes".into(), json!([]));
            m.insert("reason".into(), Value::Null);
            m.insert("error".into(), Value::Null);
            m.insert("warnings".into(), json!([]));
            m
        }
    };
    // The queue knows better than the last report whether it is final (pending/retrying).
    line.insert("outcome".into(), json!(d.outcome.as_str()));
    line.insert("delivery_id".into(), json!(d.id));
    line.insert("destination".into(), json!(d.destination));
    line.insert("state".into(), json!(d.state.as_str()));
    line.insert("attempts".into(), json!(d.attempts));
    line.insert("updated_at".into(), json!(rfc3339(d.updated_at)));
    if matches!(d.state, store::DeliveryState::Pending) {
        line.insert("next_attempt_at".into(), json!(rfc3339(d.next_attempt_at)));
    }
    Value::Object(line)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// `GET /api/v1/evaluations/{id}`
#[utoipa::path(get, path = "/api/v1/evaluations/{id}", tag = "evaluations",
    params(("id" = String, Path, description = "The evaluation's id")),
    responses((status = 200, description = "The evaluation and its delivery per destination", body = Object),
              (status = 404, description = "Unknown id", body = Object)),
    security(("bearer" = []), ("session" = [])))]
pub async fn get_evaluation(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let found = state
        .store
        .get_evaluation(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no evaluation with id {id:?}")))?;
    let deliveries: Vec<Value> = found
        .deliveries
        .iter()
        .map(|d| delivery_line(d, &found.evaluation.email))
        .collect();
    Ok(Json(json!({
        "id": found.evaluation.id,
        "evaluation": found.evaluation.payload,
        "received_at": rfc3339(found.evaluation.received_at),
        "deliveries": deliveries,
    })))
}

#[derive(Debug, Default, Deserialize)]
pub struct DeliveriesQuery {
    pub outcome: Option<String>,
    pub since: Option<String>,
    pub email: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

/// `GET /api/v1/deliveries?outcome=&since=&email=&cursor=&limit=`: the sync log, newest first.
#[utoipa::path(get, path = "/api/v1/deliveries", tag = "sync log",
    params(("outcome" = Option<String>, Query, description = "Only this outcome"),
           ("since" = Option<String>, Query, description = "RFC 3339: only entries at or after"),
           ("email" = Option<String>, Query, description = "Only this email"),
           ("cursor" = Option<String>, Query, description = "The previous page's next_cursor"),
           ("limit" = Option<u32>, Query, description = "Entries per page (at most 500)")),
    responses((status = 200, description = "The sync log, newest first", body = Object)),
    security(("bearer" = []), ("session" = [])))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    query: Result<Query<DeliveriesQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let page = deliveries_page(&state, &q).await?;
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|v| {
            let mut line = delivery_line(&v.delivery, &v.email);
            if let Value::Object(m) = &mut line {
                m.insert("evaluated_at".into(), json!(rfc3339(v.evaluated_at)));
            }
            line
        })
        .collect();
    Ok(Json(
        json!({"items": items, "next_cursor": page.next_cursor}),
    ))
}

/// One page of the sync log, newest first (the API's list and the Sync log page): the
/// query checked, then the store's keyset listing.
pub async fn deliveries_page(
    state: &AppState,
    q: &DeliveriesQuery,
) -> Result<store::Page, ApiError> {
    let outcome = match q.outcome.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(DeliveryOutcome::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                format!("outcome: unknown outcome {s:?} (pending, retrying, updated, created, unchanged, superseded, skipped, failed, rejected)"),
            )
        })?),
    };
    let since = match q.since.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(parse_time("since", s)?),
    };
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit: between 1 and {MAX_PAGE}"),
        ));
    }
    let filter = DeliveryFilter {
        outcome,
        since,
        email: q
            .email
            .as_deref()
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty()),
        destination: None,
    };
    let page = state
        .store
        .list_deliveries(
            &filter,
            q.cursor.as_deref().filter(|c| !c.is_empty()),
            limit,
        )
        .await?;
    Ok(page)
}

fn parse_time(key: &str, s: &str) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
        ApiError::bad_request(
            "invalid_query",
            format!("{key}: expected an RFC 3339 time with an offset, like 2026-11-28T09:15:00Z; got {s:?}"),
        )
    })
}

/// `POST /api/v1/deliveries/{id}/retry`
#[utoipa::path(post, path = "/api/v1/deliveries/{id}/retry", tag = "sync log",
    params(("id" = i64, Path, description = "The delivery's id")),
    responses((status = 202, description = "Queued again", body = Object),
              (status = 409, description = "Already pending or in flight", body = Object)),
    security(("bearer" = []), ("session" = [])))]
pub async fn retry_delivery(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    retry_one(&state, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"requeued": 1}))).into_response())
}

/// Re-queues one delivery (the API and the Retry button); the workers re-read the field
/// metadata first.
pub async fn retry_one(state: &AppState, id: &str) -> Result<(), ApiError> {
    let not_found = || ApiError::NotFound(format!("no delivery with id {id:?}"));
    let parsed: DeliveryId = id.parse().map_err(|_| not_found())?;
    match state.store.retry_delivery(parsed).await? {
        RetryOutcome::Requeued => {
            request_metadata_refresh(state).await;
            state.notify.notify_waiters();
            Ok(())
        }
        RetryOutcome::AlreadyQueued => Err(ApiError::Conflict {
            code: "already_queued",
            message: "this delivery is already pending or in flight".into(),
            details: Vec::new(),
        }),
        RetryOutcome::NotFound => Err(not_found()),
    }
}

#[derive(Debug, Deserialize)]
pub struct RetryQuery {
    outcome: Option<String>,
}

/// `POST /api/v1/deliveries/retry?outcome=failed`
#[utoipa::path(post, path = "/api/v1/deliveries/retry", tag = "sync log",
    params(("outcome" = String, Query, description = "Must be failed")),
    responses((status = 202, description = "How many were queued again", body = Object)),
    security(("bearer" = []), ("session" = [])))]
pub async fn retry_failed(
    State(state): State<AppState>,
    query: Result<Query<RetryQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    match q.outcome.as_deref() {
        Some("failed") => {}
        other => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!(
                    "outcome: only \"failed\" deliveries can be retried in bulk; got {other:?}"
                ),
            ));
        }
    }
    let n = retry_all_failed(&state).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"requeued": n}))).into_response())
}

/// Re-queues every failed delivery (the API and "Retry all failed"); how many.
pub async fn retry_all_failed(state: &AppState) -> Result<u64, ApiError> {
    let n = state.store.retry_failed(None).await?;
    if n > 0 {
        request_metadata_refresh(state).await;
        state.notify.notify_waiters();
    }
    Ok(n)
}

/// `POST /api/v1/destinations/salesforce/replay {"from","to","basis"?}`
#[utoipa::path(post, path = "/api/v1/destinations/salesforce/replay", tag = "destination",
    request_body(content = Object, description = "{\"from\", \"to\", \"basis\"?: evaluated|received}"),
    responses((status = 202, description = "How many evaluations were queued again", body = Object)),
    security(("bearer" = []), ("session" = [])))]
pub async fn replay(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|e| ApiError::bad_request("unreadable_body", e.body_text()))?;
    let v: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}"))
    })?;
    let mut problems = Vec::new();
    let mut time_of = |key: &str| match v.get(key).and_then(Value::as_str) {
        Some(s) => {
            match OffsetDateTime::parse(s, &Rfc3339) {
                Ok(t) => Some(t),
                Err(_) => {
                    problems.push(json!({"field": key, "message": "expected an RFC 3339 time with an offset"}));
                    None
                }
            }
        }
        None => {
            problems.push(json!({"field": key, "message": "required (an RFC 3339 time)"}));
            None
        }
    };
    let from = time_of("from");
    let to = time_of("to");
    let basis = match v.get("basis").and_then(Value::as_str) {
        None | Some("evaluated") => TimeBasis::Evaluated,
        Some("received") => TimeBasis::Received,
        Some(_) => {
            problems.push(
                json!({"field": "basis", "message": "expected \"evaluated\" or \"received\""}),
            );
            TimeBasis::Evaluated
        }
    };
    let (Some(from), Some(to)) = (from, to) else {
        return Err(ApiError::BadRequest {
            code: "invalid_body",
            message: "from and to are required RFC 3339 times".into(),
            details: problems,
        });
    };
    if !problems.is_empty() || from >= to {
        return Err(ApiError::BadRequest {
            code: "invalid_body",
            message: "expected from < to".into(),
            details: problems,
        });
    }
    let n = state.store.replay(SALESFORCE, basis, from, to).await?;
    if n > 0 {
        state.notify.notify_waiters();
    }
    Ok((StatusCode::ACCEPTED, Json(json!({"requeued": n}))).into_response())
}

/// A retry is the admin saying "I fixed it in Salesforce": ask the workers to re-read the
/// org's field metadata before the next batch (a field created since the last describe is
/// then written instead of failing again).
pub async fn request_metadata_refresh(state: &AppState) {
    let now = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000;
    if let Err(e) = state
        .store
        .put_setting(crate::worker::METADATA_REFRESH_KEY, &json!(now as i64))
        .await
    {
        tracing::warn!(error = %e, "cannot ask the workers to re-read the field metadata");
    }
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "Alive", body = Object)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Ready when the database answers and its schema is current.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "The database answers and is migrated", body = Object),
              (status = 503, description = "Not ready", body = Object)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    match state.store.ready().await {
        Ok(()) => Ok(Json(json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            Err(ApiError::Unavailable(
                "the database is unreachable or not migrated".into(),
            ))
        }
    }
}

/// `GET /metrics`: read from memory only (the store's figures come from the background
/// read of [`crate::stats`]), so a scrape costs the database nothing. When
/// `TRAILSPARK_METRICS_TOKEN` is set, the request must carry it as a bearer token.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses(
    (status = 200, description = "OpenMetrics text format (Prometheus reads it)", body = String),
    (status = 401, description = "A metrics token is set and the request does not carry it", body = Object)))]
pub async fn metrics(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !crate::metrics::scrape_allowed(state.metrics_token.as_ref(), authorization) {
        return ApiError::Unauthorized.into_response();
    }
    let text = state.metrics.render(&state.stats, &state.integrations);
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response()
}

#[utoipa::path(get, path = "/api/openapi.json", tag = "operations", responses((status = 200, description = "This document", body = Object)))]
pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document(),
    )
        .into_response()
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Largest body accepted by the routes that take one.
pub const BODY_LIMIT: usize = MAX_BODY_BYTES;
