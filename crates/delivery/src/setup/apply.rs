//! The imperative shell of org setup: [`read_org`] gathers what [`super::plan`] needs,
//! [`apply`] carries a plan out.
//!
//! API calls (`Client::calls_made`) for a whole setup from an org without any TrailSpark
//! field: reading — userinfo, one Composite of the three describes, one Composite of the
//! three permission-set queries, one Tooling query — then writing — one `tooling/composite`
//! creating up to 25 fields, and one Composite creating the permission set, granting
//! Read+Edit (sObject Collections) and assigning it. Six calls; a second run reads (four
//! calls) and writes nothing. Fields that exist but that the user cannot edit add one
//! `tooling/composite` reading their metadata (25 per call).

use std::collections::HashMap;

use salesforce::{
    Assignment, Client, CustomFieldInfo, GrantRequest, PermissionSetRef, ToolingError,
};

use super::{
    Access, DesiredField, ExistingField, FieldAction, OrgSetup, PERMISSION_SET_DESCRIPTION,
    PERMISSION_SET_LABEL, PERMISSION_SET_NAME, PermissionSetStep, SetupPlan,
};
use crate::destination::object_meta;
use crate::meta::{Metadata, SObject};

const OBJECTS: [&str; 3] = ["Lead", "Contact", "Account"];

/// Reads the org: who the integration user is, what it sees (describe), which desired
/// fields exist (Tooling, visible or not, with the metadata of those it cannot edit), and
/// the `TrailSpark_Integration` permission set.
pub async fn read_org(
    client: &Client,
    desired: &[DesiredField],
) -> Result<OrgSetup, salesforce::Error> {
    let me = client.identity().await?;
    let describes = client.describe_many(&OBJECTS).await?;
    let mut meta = Metadata::default();
    for d in &describes {
        match SObject::parse(&d.name) {
            Some(SObject::Lead) => meta.lead = object_meta(d),
            Some(SObject::Contact) => meta.contact = object_meta(d),
            Some(SObject::Account) => meta.account = object_meta(d),
            None => {}
        }
    }
    let developer_names: Vec<&str> = desired
        .iter()
        .filter_map(|d| d.name.strip_suffix("__c"))
        .collect();
    let listed: Vec<CustomFieldInfo> = if developer_names.is_empty() {
        Vec::new()
    } else {
        client
            .list_custom_fields(&OBJECTS, &developer_names)
            .await?
    };
    let permission_set = client
        .permission_set_state(PERMISSION_SET_NAME, &me.user_id, &OBJECTS)
        .await?;
    // Only the desired names themselves (not a namespaced field of the same developer name).
    let ours: Vec<(SObject, &CustomFieldInfo)> = listed
        .iter()
        .filter_map(|f| {
            let object = SObject::parse(&f.object)?;
            desired
                .iter()
                .any(|d| d.object == object && d.name.eq_ignore_ascii_case(&f.api_name()))
                .then_some((object, f))
        })
        .collect();
    let editable = |object: SObject, name: &str| {
        meta.object(object)
            .field(name)
            .is_some_and(|f| f.createable && f.updateable)
    };
    let unknown: Vec<String> = ours
        .iter()
        .filter(|(o, f)| !editable(*o, &f.api_name()))
        .map(|(_, f)| f.id.clone())
        .collect();
    let metadata: HashMap<String, salesforce::CustomFieldMetadata> = if unknown.is_empty() {
        HashMap::new()
    } else {
        let answers = client.custom_field_metadata(&unknown).await?;
        unknown
            .into_iter()
            .zip(answers)
            .filter_map(|(id, m)| m.ok().map(|m| (id, m)))
            .collect()
    };
    let existing = ours
        .into_iter()
        .map(|(object, f)| ExistingField {
            object,
            name: f.api_name(),
            id: f.id.clone(),
            metadata: metadata.get(&f.id).cloned(),
        })
        .collect();
    Ok(OrgSetup {
        meta,
        existing,
        permission_set,
        user_id: me.user_id,
    })
}

/// What happened to one field the plan acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldReport {
    pub object: SObject,
    pub name: String,
    /// When it was to be created: its new id, or why not.
    pub created: Option<Result<String, String>>,
    /// When it needed access: granted (and the set assigned), or why not.
    pub access: Option<Result<(), String>>,
}

impl FieldReport {
    pub fn full_name(&self) -> String {
        format!("{}.{}", self.object.as_str(), self.name)
    }

    pub fn failed(&self) -> bool {
        matches!(self.created, Some(Err(_))) || matches!(self.access, Some(Err(_)))
    }
}

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    /// The fields the plan created or granted, in plan order.
    pub fields: Vec<FieldReport>,
    /// When the permission set was to be created: its id, or why not.
    pub permission_set_created: Option<Result<String, String>>,
    /// When the set was to be assigned.
    pub assignment: Option<Result<Assignment, String>>,
}

impl ApplyReport {
    /// Fields that were not created or not granted.
    pub fn failures(&self) -> usize {
        self.fields.iter().filter(|f| f.failed()).count()
    }
}

/// Carries `plan` out: creates the missing fields (one `tooling/composite` per 25), then in
/// one Composite request creates the permission set when needed, grants Read+Edit on
/// every field that exists now, and assigns the set to the integration user. A field that
/// could not be created is not granted; every failure is reported on its field, and
/// running setup again picks up where this run stopped.
pub async fn apply(client: &Client, plan: &SetupPlan) -> ApplyReport {
    let mut reports: Vec<FieldReport> = Vec::new();
    let creates: Vec<_> = plan.creates().collect();
    let specs: Vec<salesforce::CustomFieldSpec> =
        creates.iter().map(|(_, spec)| (*spec).clone()).collect();
    let created: Vec<Result<String, ToolingError>> = if specs.is_empty() {
        Vec::new()
    } else {
        client.create_custom_fields(&specs).await
    };
    let mut not_created: Vec<String> = Vec::new();
    let mut created_by_field: HashMap<String, Result<String, String>> = HashMap::new();
    for ((f, _), r) in creates.iter().zip(created) {
        if r.is_err() {
            not_created.push(f.full_name().to_ascii_lowercase());
        }
        created_by_field.insert(f.full_name(), r.map_err(|e| e.to_string()));
    }
    let grants: Vec<salesforce::FieldGrant> = plan
        .grants
        .iter()
        .filter(|g| !not_created.contains(&g.field.to_ascii_lowercase()))
        .cloned()
        .collect();
    let assign_only = plan.fields.iter().any(|f| f.access == Access::Assign);
    let ps_ref = match &plan.permission_set {
        PermissionSetStep::Existing(id) => Some(PermissionSetRef::Existing(id.clone())),
        PermissionSetStep::Create => Some(PermissionSetRef::Create {
            name: PERMISSION_SET_NAME.into(),
            label: PERMISSION_SET_LABEL.into(),
            description: PERMISSION_SET_DESCRIPTION.into(),
        }),
        PermissionSetStep::NotNeeded => None,
    };
    let mut granted: HashMap<String, Result<(), String>> = HashMap::new();
    let mut permission_set_created = None;
    let mut assignment = None;
    if let Some(ps_ref) = ps_ref.filter(|_| !grants.is_empty() || assign_only) {
        let creating_set = matches!(ps_ref, PermissionSetRef::Create { .. });
        let outcome = client
            .grant_field_access(&GrantRequest {
                permission_set: ps_ref,
                grants: grants.clone(),
                assign_to: plan.assign_to.clone(),
            })
            .await;
        if creating_set {
            permission_set_created =
                Some(outcome.permission_set.clone().map_err(|e| e.to_string()));
        }
        assignment = outcome
            .assignment
            .clone()
            .map(|r| r.map_err(|e| e.to_string()));
        // Access needs the grant and, when the set was not held, the assignment.
        let assigned: Result<(), String> = match &assignment {
            Some(Err(e)) => Err(format!("the permission set was not assigned: {e}")),
            _ => Ok(()),
        };
        for (g, r) in grants.iter().zip(outcome.grants) {
            let r = r.map_err(|e| e.to_string()).and(assigned.clone());
            granted.insert(g.field.to_ascii_lowercase(), r);
        }
        for f in plan.fields.iter().filter(|f| f.access == Access::Assign) {
            granted.insert(f.full_name().to_ascii_lowercase(), assigned.clone());
        }
    }
    for f in &plan.fields {
        let created = match &f.action {
            FieldAction::Create(_) => created_by_field.get(&f.full_name()).cloned(),
            _ => None,
        };
        let access = match f.access {
            Access::Grant | Access::Assign => Some(
                granted
                    .get(&f.full_name().to_ascii_lowercase())
                    .cloned()
                    .unwrap_or_else(|| Err("not granted: the field was not created".into())),
            ),
            Access::Has | Access::None => None,
        };
        if created.is_some() || access.is_some() {
            reports.push(FieldReport {
                object: f.object,
                name: f.name.clone(),
                created,
                access,
            });
        }
    }
    ApplyReport {
        fields: reports,
        permission_set_created,
        assignment,
    }
}
