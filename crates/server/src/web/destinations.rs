//! Settings > CRM Integration > Destinations: the seed's destination settings as a form.
//! The dropdowns list the fields the API's field-options function offers (from the
//! client's describe cache; "Refresh fields" reads them again); Save is the API's save,
//! checked against the org, each problem shown next to its control with a summary at the
//! top, the admin's input kept. Editors, Viewers and config-file settings see it read-only.
//! The page's script checks each choice as it is made: it posts the form with
//! `validate_only=true` to the same route, which runs the same check without saving and
//! answers with the problems as JSON (`app.js` shows each next to its control).

use std::collections::BTreeMap;

use askama::Template;
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use delivery::meta::SObject;
use domain::{DestinationSettings, Slot};
use serde::Deserialize;
use serde_json::{Value, json};

use super::view::Layout;
use super::{error_page, render};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::handlers::connections::{client_of, field_options, find};
use crate::handlers::settings::{in_force, save};

/// The form's values, with the settings' keys (from the settings in force, or as sent).
#[derive(Debug, Clone, Default)]
struct Values {
    enabled: bool,
    integration: String,
    create_enabled: bool,
    levels: Vec<String>,
    create_as: String,
    person_match: String,
    duplicates: String,
    allow_duplicate_save: bool,
    /// `lead.score_field` … `propensity.lead_field` → API name ("" = not written).
    fields: BTreeMap<String, String>,
}

impl Values {
    fn from_settings(s: &DestinationSettings) -> Values {
        let v = s.to_json();
        let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        let mut fields = BTreeMap::new();
        for (key, _, _) in SLOTS {
            let (table, name) = key.split_once('.').unwrap_or_default();
            fields.insert(
                key.to_string(),
                v[table][name].as_str().unwrap_or_default().to_string(),
            );
        }
        Values {
            enabled: s.enabled,
            integration: s.integration.clone(),
            create_enabled: s.create_records.enabled,
            levels: s
                .create_records
                .score_levels
                .iter()
                .map(|l| l.as_str().to_string())
                .collect(),
            create_as: text("create_as"),
            person_match: text("person_match"),
            duplicates: text("duplicates"),
            allow_duplicate_save: s.allow_duplicate_save,
            fields,
        }
    }

    fn from_form(pairs: &[(String, String)]) -> Values {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let has = |k: &str| pairs.iter().any(|(n, _)| n == k);
        Values {
            enabled: has("enabled"),
            integration: get("integration"),
            create_enabled: has("create_records.enabled"),
            levels: pairs
                .iter()
                .filter(|(n, _)| n == "create_records.score_levels")
                .map(|(_, v)| v.clone())
                .collect(),
            create_as: get("create_as"),
            person_match: get("person_match"),
            duplicates: get("duplicates"),
            allow_duplicate_save: has("allow_duplicate_save"),
            fields: SLOTS
                .iter()
                .map(|(k, _, _)| (k.to_string(), get(k).trim().to_string()))
                .collect(),
        }
    }

    /// The settings JSON the API's save takes (keys of `[destinations.salesforce]`).
    fn to_json(&self) -> Value {
        let mut v = json!({
            "enabled": self.enabled,
            "integration": self.integration,
            "person_match": self.person_match,
            "duplicates": self.duplicates,
            "create_as": self.create_as,
            "allow_duplicate_save": self.allow_duplicate_save,
            "create_records": {"enabled": self.create_enabled, "score_levels": self.levels},
            "lead": {}, "contact": {}, "propensity": {},
        });
        for (key, value) in &self.fields {
            if let Some((table, name)) = key.split_once('.')
                && !value.is_empty()
            {
                v[table][name] = json!(value);
            }
        }
        v
    }

    fn level(&self, l: &str) -> bool {
        self.levels.iter().any(|x| x == l)
    }
}

/// Every field dropdown: the settings key, the object it is on, what it holds.
const SLOTS: &[(&str, SObject, Slot)] = &[
    ("lead.score_field", SObject::Lead, Slot::Score),
    (
        "lead.evaluation_date_field",
        SObject::Lead,
        Slot::EvaluationDate,
    ),
    ("lead.reasoning_field", SObject::Lead, Slot::Reasoning),
    ("contact.score_field", SObject::Contact, Slot::Score),
    (
        "contact.evaluation_date_field",
        SObject::Contact,
        Slot::EvaluationDate,
    ),
    ("contact.reasoning_field", SObject::Contact, Slot::Reasoning),
    (
        "propensity.account_field",
        SObject::Account,
        Slot::Propensity,
    ),
    ("propensity.lead_field", SObject::Lead, Slot::Propensity),
];

fn slot_label(key: &str) -> (&'static str, &'static str) {
    match key.rsplit('.').next().unwrap_or_default() {
        "score_field" => (
            "Score Field",
            "Where the evaluation score is stored (hot, warm, cold).",
        ),
        "evaluation_date_field" => (
            "Evaluation Date Field",
            "Where the evaluation timestamp is stored.",
        ),
        "reasoning_field" => ("Reasoning Field", "Where the AI reasoning is stored."),
        "account_field" => (
            "Account Propensity Field",
            "Primary: written to the Account object when a linked Account exists.",
        ),
        _ => (
            "Lead Propensity Field",
            "Fallback: written to the Lead object when no Account is linked.",
        ),
    }
}

/// A problem shown next to its control and in the summary.
#[derive(Debug, Clone)]
struct Problem {
    id: String,
    /// Whether a control with `id` is on the page (the summary links to it).
    linked: bool,
    message: String,
    fix: String,
}

struct Opt {
    value: String,
    text: String,
    selected: bool,
}

struct FieldSelect {
    id: String,
    name: String,
    label: &'static str,
    help: &'static str,
    options: Vec<Opt>,
    not_offered: Vec<(String, String)>,
    problem: Option<Problem>,
}

struct ObjectTab {
    id: &'static str,
    label: &'static str,
    rows: Vec<FieldSelect>,
}

#[derive(Template)]
#[template(path = "destinations.html")]
struct DestinationsPage {
    l: Layout,
    tab: &'static str,
    v: Values,
    read_only: bool,
    read_only_note: String,
    integrations: Vec<Opt>,
    objects: Vec<ObjectTab>,
    propensity: Vec<FieldSelect>,
    problems: Vec<Problem>,
    /// Problems not about one of the fields (enabled, integration, create_records …).
    general: BTreeMap<String, Problem>,
    fields_note: Option<String>,
    saved: Option<String>,
    /// `done` or `incomplete` after Create missing fields.
    setup: Option<String>,
    /// The integration Create missing fields would set up (for Owner/Admin).
    setup_for: Option<String>,
}

impl DestinationsPage {
    fn problem_for(&self, id: &str) -> Option<&Problem> {
        self.general.get(id)
    }
}

/// What the page says happened just before: a save (its version) or Create missing fields.
#[derive(Default)]
struct Notices {
    saved: Option<String>,
    setup: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(default)]
    saved: Option<String>,
    #[serde(default)]
    setup: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<PageQuery>,
) -> Response {
    let (settings, _) = match in_force(&state).await {
        Ok(s) => s,
        Err(e) => return error_page(&e),
    };
    let values = Values::from_settings(&settings);
    show(
        &state,
        &caller,
        values,
        Vec::new(),
        false,
        Notices {
            saved: q.saved,
            setup: q.setup,
        },
        StatusCode::OK,
    )
    .await
}

/// A problem's control id: its settings key with `-` for `.`.
fn control_id(key: &str) -> String {
    key.replace('.', "-")
}

/// The problems of a refused check, each with the id of its control.
fn problems_of(details: &[Value]) -> Vec<Problem> {
    details
        .iter()
        .map(|d| Problem {
            id: control_id(d["key"].as_str().unwrap_or_default()),
            linked: false,
            message: d["message"].as_str().unwrap_or_default().to_string(),
            fix: d["fix"].as_str().unwrap_or_default().to_string(),
        })
        .collect()
}

/// Save, Refresh fields (the `action` button), or with `validate_only=true` the check
/// alone (the page's script, as a choice is made), with the form's values.
pub async fn submit(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let values = Values::from_form(&pairs);
    let action = pairs
        .iter()
        .find(|(k, _)| k == "action")
        .map(|(_, v)| v.as_str())
        .unwrap_or("save");
    if pairs
        .iter()
        .any(|(k, v)| k == "validate_only" && v == "true")
    {
        return match save(&state, &caller, values.to_json(), true).await {
            Ok(_) => Json(json!({"valid": true, "problems": []})).into_response(),
            Err(ApiError::Unprocessable { details, .. }) => {
                let problems: Vec<Value> = problems_of(&details)
                    .into_iter()
                    .map(|p| json!({"id": p.id, "message": p.message, "fix": p.fix}))
                    .collect();
                Json(json!({"valid": false, "problems": problems})).into_response()
            }
            Err(e) => e.into_response(),
        };
    }
    if action == "refresh" {
        return show(
            &state,
            &caller,
            values,
            Vec::new(),
            true,
            Notices::default(),
            StatusCode::OK,
        )
        .await;
    }
    match save(&state, &caller, values.to_json(), false).await {
        Ok(cur) => {
            let version = cur.map(|c| c.version_key().to_string()).unwrap_or_default();
            Redirect::to(&format!(
                "/settings/crm-integration/destinations?saved={version}"
            ))
            .into_response()
        }
        Err(ApiError::Unprocessable { details, .. }) => {
            let problems = problems_of(&details);
            show(
                &state,
                &caller,
                values,
                problems,
                false,
                Notices::default(),
                // 200: the form shown again with its problems (a 4xx reads as a broken page).
                StatusCode::OK,
            )
            .await
        }
        Err(e) => error_page(&e),
    }
}

/// Ids of the controls outside the field dropdowns that a problem can be about.
const GENERAL_IDS: &[&str] = &[
    "enabled",
    "integration",
    "create_records-enabled",
    "create_records-score_levels",
    "create_as",
    "person_match",
    "duplicates",
    "allow_duplicate_save",
];

async fn show(
    state: &AppState,
    caller: &Caller,
    v: Values,
    mut problems: Vec<Problem>,
    refresh: bool,
    notices: Notices,
    status: StatusCode,
) -> Response {
    let Notices { saved, setup } = notices;
    let l = Layout::new(caller, "settings");
    let config = state.config_destination.is_some();
    let read_only = config || !l.admin;
    let read_only_note = if config {
        "These settings come from the configuration file ([destinations.salesforce]) and are read-only here: change them in the file.".to_string()
    } else if !l.admin {
        format!(
            "Only an Owner or Admin can change these settings. You are signed in as {}, so you see them read-only.",
            l.role
        )
    } else {
        String::new()
    };
    if let Err(e) = state.integrations.sync_stored(state.store.as_ref()).await {
        return error_page(&e.into());
    }
    let mut integrations: Vec<Opt> = state
        .integrations
        .all()
        .iter()
        .map(|i| {
            let j = i.to_json();
            let kind = if j["sandbox"] == true {
                "sandbox"
            } else {
                "production"
            };
            Opt {
                value: i.name.clone(),
                text: format!(
                    "{} — {} ({kind}{})",
                    i.name,
                    j["username"].as_str().unwrap_or("config file"),
                    if i.is_disconnected() {
                        ", disconnected"
                    } else {
                        ""
                    }
                ),
                selected: i.name == v.integration,
            }
        })
        .collect();
    if !v.integration.is_empty() && !integrations.iter().any(|o| o.selected) {
        integrations.push(Opt {
            value: v.integration.clone(),
            text: format!("{} (not connected)", v.integration),
            selected: true,
        });
    }
    // The dropdowns' options: from the describe cache, read again on "Refresh fields".
    let mut fields_note = None;
    let mut options = BTreeMap::new();
    let usable = match find(state, &v.integration).await {
        Ok(i) => client_of(state, &i).await.is_ok(),
        Err(_) => false,
    };
    if !usable {
        fields_note = Some("Connect the chosen org (Connect tab) to list its fields.".to_string());
    } else {
        let mut refreshed = Vec::new();
        for (key, object, slot) in SLOTS {
            let again = refresh && !refreshed.contains(object);
            refreshed.push(*object);
            match field_options(state, &v.integration, *object, *slot, again).await {
                Ok(o) => {
                    options.insert(*key, o);
                }
                Err(e) => {
                    fields_note = Some(format!("Cannot list the org's fields: {e}"));
                    break;
                }
            }
        }
    }
    let ids: Vec<String> = SLOTS
        .iter()
        .map(|(k, _, _)| control_id(k))
        .chain(GENERAL_IDS.iter().map(|s| s.to_string()))
        .collect();
    for p in &mut problems {
        p.linked = ids.contains(&p.id);
    }
    let select = |key: &str| -> FieldSelect {
        let id = control_id(key);
        let current = v.fields.get(key).cloned().unwrap_or_default();
        let (label, help) = slot_label(key);
        let mut opts = vec![Opt {
            value: String::new(),
            text: "— not written —".into(),
            selected: current.is_empty(),
        }];
        let mut not_offered = Vec::new();
        if let Some(o) = options.get(key) {
            opts.extend(o.fields.iter().map(|f| Opt {
                value: f.name.clone(),
                text: f.display.clone(),
                selected: f.name == current,
            }));
            not_offered = o
                .not_offered
                .iter()
                .map(|n| (format!("{} ({})", n.label, n.name), n.reason.clone()))
                .collect();
            if !current.is_empty() && !o.fields.iter().any(|f| f.name == current) {
                let why = o
                    .not_offered
                    .iter()
                    .find(|n| n.name == current)
                    .map(|n| n.reason.clone())
                    .unwrap_or_else(|| "not found on this object".into());
                opts.push(Opt {
                    value: current.clone(),
                    text: format!("{current} (not offered: {why})"),
                    selected: true,
                });
            }
        } else if !current.is_empty() {
            opts.push(Opt {
                value: current.clone(),
                text: current.clone(),
                selected: true,
            });
        }
        FieldSelect {
            problem: problems.iter().find(|p| p.id == id).cloned(),
            id,
            name: key.to_string(),
            label,
            help,
            options: opts,
            not_offered,
        }
    };
    let objects = vec![
        ObjectTab {
            id: "lead",
            label: "Lead Object",
            rows: SLOTS[0..3].iter().map(|(k, _, _)| select(k)).collect(),
        },
        ObjectTab {
            id: "contact",
            label: "Contact Object",
            rows: SLOTS[3..6].iter().map(|(k, _, _)| select(k)).collect(),
        },
    ];
    let propensity = SLOTS[6..8].iter().map(|(k, _, _)| select(k)).collect();
    // Create missing fields: for Owner/Admin, when the chosen org is connected.
    let setup_for = Some(v.integration.clone()).filter(|n| {
        !read_only
            && !n.is_empty()
            && state
                .integrations
                .get(n)
                .is_some_and(|i| !i.is_disconnected())
    });
    let general = problems
        .iter()
        .filter(|p| GENERAL_IDS.contains(&p.id.as_str()))
        .map(|p| (p.id.clone(), p.clone()))
        .collect();
    let page = DestinationsPage {
        l,
        tab: "destinations",
        v,
        read_only,
        read_only_note,
        integrations,
        objects,
        propensity,
        problems,
        general,
        fields_note,
        saved,
        setup,
        setup_for,
    };
    (status, render(&page)).into_response()
}
