//! `GET /api/v1/audit` (Admin+): who did what and when, newest first, paged by id.

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::rfc3339;
use crate::AppState;
use crate::error::ApiError;

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

#[derive(Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    pub limit: Option<u32>,
    /// Entries older than this id (the previous page's `next_before`).
    #[serde(default)]
    pub before: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    params(("limit" = Option<u32>, Query, description = "Entries per page (at most 1,000)"),
           ("before" = Option<i64>, Query, description = "The previous page's next_before")),
    responses((status = 200, description = "Who did what and when, newest first", body = Object)), security(("bearer" = []), ("session" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let entries = state.store.list_audit(limit, q.before).await?;
    let next = (entries.len() as u32 == limit)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    let items: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!({"id": e.id, "at": rfc3339(e.at), "actor": e.actor, "action": e.action,
                   "target": e.target, "details": e.details})
        })
        .collect();
    Ok(Json(json!({"items": items, "next_before": next})))
}
