//! `POST /api/v1/integrations/{name}/setup[?dry_run=true]`: "set up the org for me". The
//! plan first — which TrailSpark fields exist and fit, which are created, which exist but
//! cannot hold their value (reported, never changed), and which the integration user must
//! be granted through the `TrailSpark_Integration` permission set — then, unless it is a
//! dry run, the change. Seeing the plan needs Viewer; applying it needs Owner or Admin.
//! The same plan and application as `trailspark setup-org` (`delivery::setup`).

use axum::Extension;
use axum::Json;
use axum::extract::{Path, Query, State};
use delivery::setup::{
    self, Access, ApplyReport, FieldAction, PermissionSetStep, SetupOptions, SetupPlan,
};
use serde::Deserialize;
use serde_json::{Value, json};
use store::TokenRole;

use super::audit;
use super::connections::{client_of, find};
use crate::AppState;
use crate::auth::{Caller, includes};
use crate::current;
use crate::error::ApiError;

#[derive(Deserialize)]
pub struct SetupQuery {
    #[serde(default)]
    pub dry_run: Option<bool>,
    /// Create the score field as a restricted picklist (hot, warm, cold) instead of Text(10).
    #[serde(default)]
    pub picklist_score: Option<bool>,
    /// Also create the person-key field (External ID, unique) on Lead and Contact.
    #[serde(default)]
    pub person_key: Option<bool>,
}

#[utoipa::path(post, path = "/api/v1/integrations/{name}/setup", tag = "integrations",
    params(("name" = String, Path, description = "The integration"),
           ("dry_run" = Option<bool>, Query, description = "Only show the plan (Viewer+); applying needs Owner or Admin"),
           ("picklist_score" = Option<bool>, Query, description = "The score as a restricted picklist"),
           ("person_key" = Option<bool>, Query, description = "Also the person-key field")),
    responses((status = 200, description = "The plan, and what was done unless dry_run", body = Object),
              (status = 403, description = "Applying needs Owner or Admin", body = Object)),
    security(("bearer" = []), ("session" = [])))]
pub async fn setup(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(q): Query<SetupQuery>,
) -> Result<Json<Value>, ApiError> {
    let dry_run = q.dry_run.unwrap_or(false);
    if !dry_run && !includes(caller.role(), TokenRole::Admin) {
        return Err(ApiError::Forbidden {
            role: caller.role().as_str(),
            needed: "the admin role or higher (any role may see the plan with ?dry_run=true)",
            action: format!("POST /api/v1/integrations/{name}/setup"),
        });
    }
    let integration = find(&state, &name).await?;
    let client = client_of(&state, &integration).await?;
    let settings = current::current(state.store.as_ref(), state.config_destination.as_ref())
        .await
        .map_err(ApiError::Internal)?
        .map(|c| c.settings)
        .filter(|s| s.integration == name);
    let desired = setup::desired_fields(
        settings.as_ref(),
        SetupOptions {
            picklist_score: q.picklist_score.unwrap_or(false),
            person_key: q.person_key.unwrap_or(false),
        },
    );
    let calls_before = client.calls_made();
    let org = setup::read_org(&client, &desired).await.map_err(|e| {
        let r = delivery::write::report_error(&e);
        ApiError::conflict(
            "cannot_read_org",
            format!(
                "cannot read the org's fields and permission sets: {}: {}. {}",
                r.code, r.message, r.hint
            ),
        )
    })?;
    let plan = setup::plan(&org, &desired);
    let mut body = json!({
        "integration": name,
        "user_id": org.user_id,
        "dry_run": dry_run,
        "plan": plan_json(&plan),
        "nothing_to_do": plan.is_empty(),
        "applied": null,
    });
    if !dry_run && !plan.is_empty() {
        let report = setup::apply(&client, &plan).await;
        body["applied"] = report_json(&report);
        // The fields changed: every worker reads the org's metadata again before its next batch.
        crate::api::request_metadata_refresh(&state).await;
        audit(
            &state,
            caller.actor(),
            "setup.apply",
            Some(&name),
            json!({"created": report.fields.iter().filter(|f| matches!(f.created, Some(Ok(_)))).map(|f| f.full_name()).collect::<Vec<_>>(),
                   "granted": report.fields.iter().filter(|f| matches!(f.access, Some(Ok(())))).map(|f| f.full_name()).collect::<Vec<_>>(),
                   "failures": report.failures()}),
        )
        .await;
    }
    body["api_calls"] = json!(client.calls_made() - calls_before);
    Ok(Json(body))
}

fn plan_json(plan: &SetupPlan) -> Value {
    let fields: Vec<Value> = plan
        .fields
        .iter()
        .map(|f| {
            let (action, detail) = match &f.action {
                FieldAction::Keep => ("keep", String::new()),
                FieldAction::Create(spec) => ("create", spec.kind.to_string()),
                FieldAction::Conflict(why) => ("conflict", why.clone()),
                FieldAction::CannotCreate(why) => ("cannot_create", why.clone()),
            };
            let access = match f.access {
                Access::Has => "has",
                Access::Grant => "grant",
                Access::Assign => "assign",
                Access::None => "none",
            };
            json!({"field": f.full_name(), "holds": f.purpose.words(), "action": action,
                   "detail": detail, "access": access})
        })
        .collect();
    let permission_set = match &plan.permission_set {
        PermissionSetStep::NotNeeded => json!({"step": "not_needed"}),
        PermissionSetStep::Existing(id) => json!({"step": "existing", "id": id}),
        PermissionSetStep::Create => json!({"step": "create", "name": setup::PERMISSION_SET_NAME}),
    };
    json!({
        "fields": fields,
        "permission_set": permission_set,
        "grants": plan.grants.iter().map(|g| g.field.clone()).collect::<Vec<_>>(),
        "assign_to": plan.assign_to,
    })
}

fn report_json(r: &ApplyReport) -> Value {
    let outcome = |x: &Option<Result<String, String>>| match x {
        None => Value::Null,
        Some(Ok(id)) => json!({"ok": true, "id": id}),
        Some(Err(e)) => json!({"ok": false, "error": e}),
    };
    json!({
        "fields": r.fields.iter().map(|f| json!({
            "field": f.full_name(),
            "created": outcome(&f.created),
            "access": match &f.access {
                None => Value::Null,
                Some(Ok(())) => json!({"ok": true}),
                Some(Err(e)) => json!({"ok": false, "error": e}),
            },
        })).collect::<Vec<_>>(),
        "permission_set_created": outcome(&r.permission_set_created),
        "assignment": match &r.assignment {
            None => Value::Null,
            Some(Ok(a)) => json!({"ok": true, "already": matches!(a, salesforce::Assignment::AlreadyAssigned)}),
            Some(Err(e)) => json!({"ok": false, "error": e}),
        },
        "failures": r.failures(),
    })
}
