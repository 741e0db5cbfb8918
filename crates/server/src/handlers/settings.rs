//! `GET/PUT /api/v1/destinations/salesforce` and its history: the destination
//! settings (docs/configuration.md), with the same keys as the config file's
//! `[destinations.salesforce]` table.
//!
//! A save is checked against the org's live metadata first (the field exists on that
//! object, its type holds the value, the integration user may edit it — and create with it
//! when records are created —, picklists hold our values, the integration is connected);
//! any problem refuses the save with `422` and one entry per problem: the settings key, a
//! code, a message and the fix. `?validate_only=true` checks without saving.

use std::collections::BTreeMap;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use delivery::{Problem, check_with_metadata};
use domain::DestinationSettings;
use serde::Deserialize;
use serde_json::{Value, json};

use super::connections::client_of;
use super::{audit, rfc3339};
use crate::AppState;
use crate::auth::Caller;
use crate::current::{self, Current};
use crate::error::ApiError;
use crate::worker::SALESFORCE;

/// The prefix `check` gives keys (the config file's table); the API's keys are relative.
const TABLE: &str = "destinations.salesforce.";
/// Where the API puts what is about the settings rather than in them.
const META_KEY: &str = "meta";

/// `GET /api/v1/destinations/salesforce`: the settings in force (or, before any save, the
/// suggested ones, disabled), plus `meta` (where they come from, read-only or not).
#[utoipa::path(get, path = "/api/v1/destinations/salesforce", tag = "destination",
    responses((status = 200, description = "The settings in force (keys of [destinations.salesforce]) and meta", body = Object)), security(("bearer" = []), ("session" = [])))]
pub async fn get(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let (settings, cur) = in_force(&state).await?;
    let mut body = settings.to_json();
    body[META_KEY] = match cur {
        Some(c) => c.meta_json(),
        None => json!({"managed_by": "database", "read_only": false, "version": null,
                       "saved_by": null, "saved_at": null}),
    };
    Ok(Json(body))
}

/// The settings to show (the API's GET and the Destinations tab): those in force with
/// where they come from, or, before anything is saved, the suggested ones, disabled.
pub async fn in_force(
    state: &AppState,
) -> Result<(DestinationSettings, Option<Current>), ApiError> {
    let cur = current::current(state.store.as_ref(), state.config_destination.as_ref())
        .await
        .map_err(ApiError::Internal)?;
    Ok(match cur {
        Some(c) => (c.settings.clone(), Some(c)),
        None => {
            let first = state.integrations.all().first().map(|i| i.name.clone());
            let mut s = DestinationSettings::suggested(first.as_deref().unwrap_or(""));
            s.enabled = false;
            (s, None)
        }
    })
}

#[derive(Deserialize)]
pub struct PutQuery {
    #[serde(default)]
    pub validate_only: Option<bool>,
}

/// `PUT /api/v1/destinations/salesforce[?validate_only=true]`.
#[utoipa::path(put, path = "/api/v1/destinations/salesforce", tag = "destination",
    request_body(content = Object, description = "The settings, keys of [destinations.salesforce]"),
    params(("validate_only" = Option<bool>, Query, description = "Check without saving")),
    responses((status = 200, description = "Saved (or, with validate_only, valid)", body = Object),
              (status = 422, description = "One detail per problem: key, code, message, fix", body = Object),
              (status = 409, description = "Managed by the config file", body = Object)), security(("bearer" = []), ("session" = [])))]
pub async fn put(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<PutQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let value: Value = super::json_body(body)?;
    match save(&state, &caller, value, q.validate_only.unwrap_or(false)).await? {
        None => Ok(Json(json!({"valid": true, "problems": []}))),
        Some(cur) => {
            let mut body = cur.settings.to_json();
            body[META_KEY] = cur.meta_json();
            Ok(Json(body))
        }
    }
}

/// Checks settings against the org and, unless `validate_only`, saves them as a new
/// version (the API's PUT and the Destinations tab's Save). A refusal is `422
/// invalid_settings` with one `{"key","code","message","fix"}` detail per problem;
/// `Ok(None)`: valid, not saved (validate only).
pub async fn save(
    state: &AppState,
    caller: &Caller,
    mut value: Value,
    validate_only: bool,
) -> Result<Option<Current>, ApiError> {
    if state.config_destination.is_some() {
        return Err(ApiError::conflict(
            "managed_by_config",
            "the destination settings are defined in the configuration file ([destinations.salesforce]) and are read-only here; change them in the file",
        ));
    }
    if let Some(obj) = value.as_object_mut() {
        obj.remove(META_KEY);
    }
    let settings = DestinationSettings::from_json(&value, "request body").map_err(|e| {
        let details: Vec<Value> = e
            .problems
            .iter()
            .map(|p| {
                json!({"key": p.key, "code": "invalid_value", "message": p.problem,
                       "fix": "correct this value"})
            })
            .collect();
        ApiError::unprocessable(
            "invalid_settings",
            format!("{} problem(s) in the settings", details.len()),
            details,
        )
    })?;
    let problems = validate_live(state, &settings).await?;
    if !problems.is_empty() {
        let details: Vec<Value> = problems.iter().map(problem_json).collect();
        return Err(ApiError::unprocessable(
            "invalid_settings",
            format!(
                "{} problem(s) with these settings in the org: nothing was saved",
                details.len()
            ),
            details,
        ));
    }
    if validate_only {
        return Ok(None);
    }
    let before = current::current(state.store.as_ref(), None)
        .await
        .ok()
        .flatten()
        .map(|c| c.settings.to_json());
    let saved = state
        .store
        .save_destination_settings(SALESFORCE, &settings.to_json(), Some(&caller.actor()))
        .await?;
    state.notify.notify_waiters();
    audit(
        state,
        caller.actor(),
        "settings.save",
        Some(SALESFORCE),
        json!({"version": saved.version,
               "changes": changes(before.as_ref(), &settings.to_json())}),
    )
    .await;
    let cur = Current {
        settings,
        origin: current::Origin::Saved {
            version: saved.version,
            saved_by: saved.saved_by,
            saved_at: saved.saved_at,
        },
    };
    Ok(Some(cur))
}

/// `GET /api/v1/destinations/salesforce/history`: every saved version, newest first.
#[utoipa::path(get, path = "/api/v1/destinations/salesforce/history", tag = "destination",
    responses((status = 200, description = "Every saved version, newest first", body = Object)), security(("bearer" = []), ("session" = [])))]
pub async fn history(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let versions = state.store.destination_settings_history(SALESFORCE).await?;
    let items: Vec<Value> = versions
        .iter()
        .map(|v| {
            json!({"version": v.version, "saved_by": v.saved_by, "saved_at": rfc3339(v.saved_at),
                   "settings": v.value})
        })
        .collect();
    Ok(Json(json!({"items": items})))
}

/// The settings against the org: the integration first (known, connected), then every
/// mapped field against freshly read metadata (a save is when an admin has just changed
/// something in Salesforce, so the describes are re-validated with `If-Modified-Since`).
pub async fn validate_live(
    state: &AppState,
    s: &DestinationSettings,
) -> Result<Vec<Problem>, ApiError> {
    state.integrations.sync_stored(state.store.as_ref()).await?;
    let Some(integration) = state.integrations.get(&s.integration) else {
        let known: Vec<String> = state
            .integrations
            .all()
            .iter()
            .map(|i| i.name.clone())
            .collect();
        return Ok(vec![Problem {
            key: "integration".into(),
            code: "integration_unknown".into(),
            message: format!(
                "no integration named {:?} (connected: {})",
                s.integration,
                if known.is_empty() { "none".into() } else { known.join(", ") }
            ),
            fix: "connect the org under Settings > CRM Integration > Connect, or choose a connected one".into(),
        }]);
    };
    let client = match client_of(state, &integration).await {
        Ok(c) => c,
        // A disabled destination may be prepared before its org is connected.
        Err(_) if !s.enabled => return Ok(Vec::new()),
        Err(e) => {
            return Ok(vec![Problem {
                key: "integration".into(),
                code: "integration_not_connected".into(),
                message: format!("the integration {} is not connected: {e}", s.integration),
                fix: "connect the org under Settings > CRM Integration > Connect (or Test Connection to see why it fails), or turn the destination off".into(),
            }]);
        }
    };
    let meta = match delivery::check::settings_metadata(s, &client, true).await {
        Ok(m) => m,
        Err(p) => return Ok(vec![relative(p)]),
    };
    Ok(check_with_metadata(s, &meta)
        .into_iter()
        .map(relative)
        .collect())
}

/// A problem keyed as the API's settings are (`lead.score_field`), not as the config
/// file's table (`destinations.salesforce.lead.score_field`); the integration's problems
/// are keyed `integration`.
fn relative(mut p: Problem) -> Problem {
    if let Some(rest) = p.key.strip_prefix(TABLE) {
        p.key = rest.to_string();
    }
    p
}

pub fn problem_json(p: &Problem) -> Value {
    json!({"key": p.key, "code": p.code, "message": p.message, "fix": p.fix})
}

/// The keys whose values differ between two versions (`a.b.c` paths), for the audit log.
pub fn changes(before: Option<&Value>, after: &Value) -> Vec<Value> {
    fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flatten(&key, v, out);
                }
            }
            other => {
                out.insert(prefix.to_string(), other.clone());
            }
        }
    }
    let mut a = BTreeMap::new();
    if let Some(b) = before {
        flatten("", b, &mut a);
    }
    let mut b = BTreeMap::new();
    flatten("", after, &mut b);
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| json!({"key": k, "from": a.get(k), "to": b.get(k)}))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_each_differing_key() {
        let before =
            json!({"enabled": true, "lead": {"score_field": "A__c", "reasoning_field": "R__c"}});
        let after =
            json!({"enabled": true, "lead": {"score_field": "B__c", "reasoning_field": "R__c"}});
        assert_eq!(
            changes(Some(&before), &after),
            vec![json!({"key": "lead.score_field", "from": "A__c", "to": "B__c"})]
        );
        assert_eq!(changes(None, &json!({"enabled": false})).len(), 1);
    }
}
