//! Settings > CRM Integration > Create missing fields: the org-setup plan for one connected
//! org (which TrailSpark fields are kept, created or only reported, and the access the
//! integration user is given), shown before anything changes; Apply (Owner/Admin) carries it
//! out and returns to the Destinations tab, whose dropdowns then list the new fields. The
//! same plan and application as the API's `POST /api/v1/integrations/{name}/setup`.

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;

use super::view::Layout;
use super::{error_page, render};
use crate::AppState;
use crate::auth::Caller;
use crate::handlers::setup::{SetupQuery, run};

/// One line of the plan.
struct Row {
    field: String,
    holds: String,
    action: &'static str,
    detail: String,
    access: &'static str,
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    l: Layout,
    tab: &'static str,
    name: String,
    rows: Vec<Row>,
    nothing_to_do: bool,
    conflicts: usize,
    /// The plan includes the person-key field on Lead and Contact.
    person_key: bool,
}

/// The page's one choice: also set up the person-key field (docs/product.md#the-person-key).
/// `GET ?person_key=true` shows the plan with it; the Apply form sends it back.
#[derive(Deserialize, Default)]
pub struct Choice {
    #[serde(default)]
    person_key: Option<String>,
}

impl Choice {
    fn person_key(&self) -> bool {
        self.person_key
            .as_deref()
            .is_some_and(|v| v == "true" || v == "on")
    }
}

/// In an admin's words, from the plan's JSON (the API's shape: one source for both).
fn rows(plan: &Value) -> Vec<Row> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    plan["fields"]
        .as_array()
        .map(|fields| {
            fields
                .iter()
                .map(|f| Row {
                    field: s(&f["field"]),
                    holds: s(&f["holds"]),
                    action: match f["action"].as_str() {
                        Some("create") => "Create",
                        Some("keep") => "Keep",
                        Some("conflict") => "Leave as it is (cannot hold the value)",
                        _ => "Cannot create",
                    },
                    detail: s(&f["detail"]),
                    access: match f["access"].as_str() {
                        Some("has") => "Can edit already",
                        Some("grant") | Some("assign") => "Will get Read and Edit",
                        _ => "—",
                    },
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `GET`: the plan (a dry run: nothing changes).
pub async fn plan(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(choice): Query<Choice>,
) -> Response {
    let person_key = choice.person_key();
    let q = SetupQuery {
        dry_run: Some(true),
        person_key: Some(person_key),
        ..SetupQuery::default()
    };
    match run(&state, &caller, &name, &q).await {
        Ok(v) => {
            let rows = rows(&v["plan"]);
            let conflicts = rows
                .iter()
                .filter(|r| r.action.starts_with("Leave") || r.action.starts_with("Cannot"))
                .count();
            render(&SetupPage {
                l: Layout::new(&caller, "settings"),
                tab: "destinations",
                name,
                nothing_to_do: v["nothing_to_do"] == true,
                conflicts,
                rows,
                person_key,
            })
            .into_response()
        }
        Err(e) => error_page(&e),
    }
}

/// `POST`: applies the plan, then back to the Destinations tab with what was done.
pub async fn apply(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Form(choice): Form<Choice>,
) -> Response {
    let q = SetupQuery {
        person_key: Some(choice.person_key()),
        ..SetupQuery::default()
    };
    match run(&state, &caller, &name, &q).await {
        Ok(v) => {
            let failures = v["applied"]["failures"].as_u64().unwrap_or(0);
            Redirect::to(&format!(
                "/settings/crm-integration/destinations?setup={}",
                if failures == 0 { "done" } else { "incomplete" }
            ))
            .into_response()
        }
        Err(e) => error_page(&e),
    }
}
