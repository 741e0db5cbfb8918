//! The sync log: newest first, filtered by outcome, email and time, a page at a time on
//! the store's keyset cursor (the API's [`crate::api::deliveries_page`]); one delivery's
//! detail with the records written (linked to the org), fields, warnings and errors;
//! Retry one and Retry all failed (the API's functions).

use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::view::{Layout, When, pill, seg, when};
use super::{error_page, render};
use crate::AppState;
use crate::api::{DeliveriesQuery, deliveries_page, retry_all_failed, retry_one};
use crate::auth::Caller;
use crate::error::ApiError;

const OUTCOMES: &[&str] = &[
    "updated",
    "created",
    "unchanged",
    "superseded",
    "skipped",
    "failed",
    "rejected",
    "pending",
    "retrying",
];
/// The time filter's choices: value, words, seconds back.
const WINDOWS: &[(&str, &str, i64)] = &[
    ("1h", "Last hour", 3_600),
    ("24h", "Last 24 hours", 86_400),
    ("7d", "Last 7 days", 7 * 86_400),
];

#[derive(Deserialize, Default)]
pub struct LogQuery {
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    window: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    retried: Option<String>,
}

struct Row {
    link: String,
    evaluation_id: String,
    email: String,
    outcome: String,
    pill_class: &'static str,
    objects: String,
    attempts: u32,
    at: When,
}

#[derive(Template)]
#[template(path = "log.html")]
struct LogPage {
    l: Layout,
    rows: Vec<Row>,
    outcomes: Vec<(&'static str, bool)>,
    windows: Vec<(&'static str, &'static str, bool)>,
    email: String,
    next: Option<String>,
    first: Option<String>,
    retried: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<LogQuery>,
) -> Response {
    let now = OffsetDateTime::now_utc();
    let outcome = q.outcome.clone().filter(|o| OUTCOMES.contains(&o.as_str()));
    let window = q
        .window
        .as_deref()
        .and_then(|w| WINDOWS.iter().find(|(v, _, _)| *v == w));
    let query = DeliveriesQuery {
        outcome: outcome.clone(),
        since: window
            .map(|(_, _, secs)| crate::handlers::rfc3339(now - time::Duration::seconds(*secs))),
        email: q.email.clone(),
        cursor: q.cursor.clone(),
        limit: Some(50),
    };
    let page = match deliveries_page(&state, &query).await {
        Ok(p) => p,
        Err(e) => return error_page(&e),
    };
    let rows = page
        .items
        .iter()
        .map(|v| {
            let d = &v.delivery;
            let objects = d
                .last_report
                .as_ref()
                .and_then(|r| r["writes"].as_array())
                .map(|w| {
                    w.iter()
                        .filter_map(|w| {
                            Some(format!(
                                "{} {}",
                                w["object"].as_str()?,
                                w["action"].as_str()?
                            ))
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            Row {
                link: format!("/log/{}", seg(&d.evaluation_id)),
                evaluation_id: d.evaluation_id.clone(),
                email: v.email.clone(),
                outcome: d.outcome.as_str().to_string(),
                pill_class: pill(d.outcome.as_str()),
                objects,
                attempts: d.attempts,
                at: when(d.updated_at, now),
            }
        })
        .collect();
    let filters = format!(
        "outcome={}&email={}&window={}",
        seg(outcome.as_deref().unwrap_or("")),
        seg(q.email.as_deref().unwrap_or("")),
        seg(window.map(|w| w.0).unwrap_or(""))
    );
    render(&LogPage {
        l: Layout::new(&caller, "log"),
        rows,
        outcomes: OUTCOMES
            .iter()
            .map(|o| (*o, outcome.as_deref() == Some(*o)))
            .collect(),
        windows: WINDOWS
            .iter()
            .map(|(v, t, _)| (*v, *t, window.is_some_and(|w| w.0 == *v)))
            .collect(),
        email: q.email.unwrap_or_default(),
        next: page
            .next_cursor
            .map(|c| format!("/log?{filters}&cursor={}", seg(&c))),
        first: q.cursor.map(|_| format!("/log?{filters}")),
        retried: q.retried,
    })
}

struct Write {
    object: String,
    id: String,
    action: String,
    href: Option<String>,
    fields: Vec<(String, String)>,
}

struct DeliveryView {
    id: store::DeliveryId,
    outcome: String,
    pill_class: &'static str,
    state: String,
    attempts: u32,
    at: When,
    reason: Option<String>,
    writes: Vec<Write>,
    warnings: Vec<String>,
    error: Option<(String, String, String)>,
    retryable: bool,
}

#[derive(Template)]
#[template(path = "log_detail.html")]
struct DetailPage {
    l: Layout,
    id: String,
    email: String,
    score: String,
    propensity: String,
    reasoning: String,
    evaluated_at: String,
    received: When,
    deliveries: Vec<DeliveryView>,
    retried: bool,
}

#[derive(Deserialize, Default)]
pub struct DetailQuery {
    #[serde(default)]
    retried: Option<String>,
}

/// The instance URL records link to: the destination's integration's.
async fn instance_url(state: &AppState) -> Option<String> {
    let (settings, _) = crate::handlers::settings::in_force(state).await.ok()?;
    let i = state.integrations.get(&settings.integration)?;
    i.to_json()["instance_url"]
        .as_str()
        .map(|s| s.trim_end_matches('/').to_string())
}

pub async fn detail(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Response {
    let now = OffsetDateTime::now_utc();
    let found = match state.store.get_evaluation(&id).await {
        Ok(Some(f)) => f,
        Ok(None) => {
            return error_page(&ApiError::NotFound(format!(
                "There is no evaluation with id {id:?} in the sync log."
            )));
        }
        Err(e) => return error_page(&e.into()),
    };
    let base = instance_url(&state).await;
    let p = &found.evaluation.payload;
    let text = |k: &str| p[k].as_str().unwrap_or("").to_string();
    let deliveries = found
        .deliveries
        .iter()
        .map(|d| {
            let r = d.last_report.clone().unwrap_or(Value::Null);
            let writes = r["writes"]
                .as_array()
                .map(|ws| {
                    ws.iter()
                        .map(|w| {
                            let rid = w["id"].as_str().unwrap_or("").to_string();
                            Write {
                                object: w["object"].as_str().unwrap_or("").to_string(),
                                href: base
                                    .as_ref()
                                    .filter(|_| !rid.is_empty())
                                    .map(|b| format!("{b}/{rid}")),
                                id: rid,
                                action: w["action"].as_str().unwrap_or("").to_string(),
                                fields: w["fields"]
                                    .as_object()
                                    .map(|m| {
                                        m.iter()
                                            .map(|(k, v)| {
                                                (
                                                    k.clone(),
                                                    v.as_str()
                                                        .map(str::to_string)
                                                        .unwrap_or_else(|| v.to_string()),
                                                )
                                            })
                                            .collect()
                                    })
                                    .unwrap_or_default(),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            let warnings = r["warnings"]
                .as_array()
                .map(|ws| {
                    ws.iter()
                        .map(|w| match w {
                            Value::String(s) => s.clone(),
                            other => other["code"]
                                .as_str()
                                .map(|c| format!("{c} {}", other))
                                .unwrap_or_else(|| other.to_string()),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let error = r["error"].as_object().map(|e| {
                let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                (s("code"), s("message"), s("hint"))
            });
            let outcome = d.outcome.as_str();
            DeliveryView {
                id: d.id,
                outcome: outcome.to_string(),
                pill_class: pill(outcome),
                state: d.state.as_str().to_string(),
                attempts: d.attempts,
                at: when(d.updated_at, now),
                reason: r["reason"].as_str().map(str::to_string),
                writes,
                warnings,
                error,
                retryable: matches!(outcome, "failed" | "rejected" | "skipped"),
            }
        })
        .collect();
    render(&DetailPage {
        l: Layout::new(&caller, "log"),
        id: found.evaluation.id.clone(),
        email: found.evaluation.email.clone(),
        score: text("score"),
        propensity: text("propensity"),
        reasoning: text("reasoning"),
        evaluated_at: crate::handlers::rfc3339(found.evaluation.evaluated_at),
        received: when(found.evaluation.received_at, now),
        deliveries,
        retried: q.retried.is_some(),
    })
}

#[derive(Deserialize)]
pub struct RetryForm {
    #[serde(default)]
    evaluation: String,
}

/// Retry one delivery, then back to its evaluation's page.
pub async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
    axum::Form(f): axum::Form<RetryForm>,
) -> Response {
    if let Err(e) = retry_one(&state, &id).await {
        return error_page(&e);
    }
    Redirect::to(&format!("/log/{}?retried=1", seg(&f.evaluation))).into_response()
}

/// Retry all failed, then back to the log.
pub async fn retry_failed(State(state): State<AppState>) -> Response {
    match retry_all_failed(&state).await {
        Ok(n) => Redirect::to(&format!("/log?retried={n}")).into_response(),
        Err(e) => error_page(&e),
    }
}
