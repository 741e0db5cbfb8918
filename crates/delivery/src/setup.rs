//! "Set up the org for me": which custom fields the destination needs, and what to do
//! about each — keep it (it exists and can hold its value), create it (missing), or report
//! it (it exists but cannot hold the value: trailspark never alters or deletes an admin's
//! field) — and which of them the integration user needs access to, granted Read+Edit
//! through one permission set, `TrailSpark_Integration`, assigned to that user.
//!
//! [`plan`] is pure: from the org as the integration user sees it ([`OrgSetup`]: describe,
//! the Tooling list of existing custom fields, the permission set's field permissions) and
//! the desired fields ([`desired_fields`]) to a [`SetupPlan`]. [`apply`] reads the org and
//! carries a plan out in as few API calls as the platform allows. Applying a plan and
//! planning again plans nothing.
//!
//! Salesforce facts relied on: a field created through the Tooling API is invisible to the
//! integration user until field-level security grants it (FieldPermissions:
//! <https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_fieldpermissions.htm>),
//! and formula fields take Read only.

mod apply;

pub use apply::{ApplyReport, FieldReport, apply, read_org};

use domain::{DestinationSettings, Slot};
use salesforce::{
    CustomFieldKind, CustomFieldMetadata, CustomFieldSpec, FieldGrant, PermissionSetState,
};

use crate::meta::min_length;
use crate::meta::{FieldKind, FieldMeta, Metadata, SObject, compatible, compatible_types};

/// The permission set that carries the integration user's access to TrailSpark's fields.
pub const PERMISSION_SET_NAME: &str = "TrailSpark_Integration";
pub const PERMISSION_SET_LABEL: &str = "TrailSpark Integration";
pub const PERMISSION_SET_DESCRIPTION: &str =
    "Read and Edit on the fields TrailSpark writes; created by trailspark setup-org.";

/// The optional field holding a stable key of the person (an External ID, unique).
pub const PERSON_KEY_FIELD: &str = "TrailSpark_Person_Key__c";

/// The seed's suggested API names (the settings page's defaults).
const SUGGESTED: [(Slot, &str); 4] = [
    (Slot::Score, "TrailSpark_Score__c"),
    (Slot::EvaluationDate, "TrailSpark_Evaluation_Date__c"),
    (Slot::Reasoning, "TrailSpark_Reasoning__c"),
    (Slot::Propensity, "TrailSpark_Propensity__c"),
];

/// Text lengths of the fields trailspark creates: `cold` fits 10, `medium_propensity` 20.
const SCORE_LENGTH: u32 = 10;
const PROPENSITY_LENGTH: u32 = 20;
const PERSON_KEY_LENGTH: u32 = 80;
/// Reasoning: the longest Long Text Area (and the longest reasoning accepted).
const REASONING_LENGTH: u32 = 131_072;
const REASONING_VISIBLE_LINES: u32 = 6;

/// What a TrailSpark field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Purpose {
    Slot(Slot),
    PersonKey,
}

impl Purpose {
    /// In words: `score`, `evaluation date`, `person key`.
    pub fn words(self) -> String {
        match self {
            Purpose::Slot(s) => s.as_str().replace('_', " "),
            Purpose::PersonKey => "person key".into(),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Purpose::Slot(Slot::Score) => "TrailSpark Score",
            Purpose::Slot(Slot::EvaluationDate) => "TrailSpark Evaluation Date",
            Purpose::Slot(Slot::Reasoning) => "TrailSpark Reasoning",
            Purpose::Slot(Slot::Propensity) => "TrailSpark Propensity",
            Purpose::PersonKey => "TrailSpark Person Key",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Purpose::Slot(Slot::Score) => "TrailSpark's evaluation score: hot, warm or cold.",
            Purpose::Slot(Slot::EvaluationDate) => "When TrailSpark evaluated the person.",
            Purpose::Slot(Slot::Reasoning) => "Why TrailSpark gave the score.",
            Purpose::Slot(Slot::Propensity) => {
                "The account's propensity: high_propensity, medium_propensity or low_propensity."
            }
            Purpose::PersonKey => "TrailSpark's key of the person.",
        }
    }
}

/// Choices of the admin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetupOptions {
    /// Create the score as a restricted picklist (hot, warm, cold) instead of Text(10).
    pub picklist_score: bool,
    /// Also create `TrailSpark_Person_Key__c` on Lead and Contact.
    pub person_key: bool,
}

/// A field the org should have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredField {
    pub object: SObject,
    pub name: String,
    pub purpose: Purpose,
    /// How trailspark creates it when it is missing.
    pub spec: CustomFieldSpec,
}

impl DesiredField {
    fn new(object: SObject, name: &str, purpose: Purpose, opts: SetupOptions) -> DesiredField {
        let kind = match purpose {
            Purpose::Slot(Slot::Score) if opts.picklist_score => CustomFieldKind::Picklist {
                values: domain::Score::ALL
                    .iter()
                    .map(|s| s.as_str().to_owned())
                    .collect(),
                restricted: true,
            },
            Purpose::Slot(Slot::Score) => text(SCORE_LENGTH, false),
            Purpose::Slot(Slot::EvaluationDate) => CustomFieldKind::DateTime,
            Purpose::Slot(Slot::Reasoning) => CustomFieldKind::LongTextArea {
                length: REASONING_LENGTH,
                visible_lines: REASONING_VISIBLE_LINES,
            },
            Purpose::Slot(Slot::Propensity) => text(PROPENSITY_LENGTH, false),
            Purpose::PersonKey => text(PERSON_KEY_LENGTH, true),
        };
        DesiredField {
            object,
            name: name.to_owned(),
            purpose,
            spec: CustomFieldSpec {
                object: object.as_str().to_owned(),
                name: name.to_owned(),
                label: purpose.label().to_owned(),
                description: Some(purpose.description().to_owned()),
                kind,
            },
        }
    }

    /// `Lead.TrailSpark_Score__c`.
    pub fn full_name(&self) -> String {
        format!("{}.{}", self.object.as_str(), self.name)
    }
}

fn text(length: u32, key: bool) -> CustomFieldKind {
    CustomFieldKind::Text {
        length,
        external_id: key,
        unique: key,
    }
}

/// The fields to set up: those the destination settings map (when they are for this
/// integration and map anything), else the suggested fields (docs/product.md#the-salesforce-fields) — score, evaluation date and
/// reasoning on Lead and Contact, propensity on Account; plus the person key on Lead and
/// Contact when asked. Each (object, name) once.
pub fn desired_fields(
    settings: Option<&DestinationSettings>,
    opts: SetupOptions,
) -> Vec<DesiredField> {
    let mut wanted: Vec<(SObject, String, Purpose)> = Vec::new();
    let mapped = settings.filter(|s| {
        !s.lead.is_empty()
            || !s.contact.is_empty()
            || s.propensity.account_field.is_some()
            || s.propensity.lead_field.is_some()
    });
    match mapped {
        Some(s) => {
            let slots = |m: &domain::ObjectMapping| -> Vec<(Slot, String)> {
                m.slots()
                    .into_iter()
                    .map(|(slot, f)| (slot, f.to_owned()))
                    .collect()
            };
            for (slot, f) in slots(&s.lead) {
                wanted.push((SObject::Lead, f, Purpose::Slot(slot)));
            }
            if let Some(f) = &s.propensity.lead_field {
                wanted.push((SObject::Lead, f.clone(), Purpose::Slot(Slot::Propensity)));
            }
            for (slot, f) in slots(&s.contact) {
                wanted.push((SObject::Contact, f, Purpose::Slot(slot)));
            }
            if let Some(f) = &s.propensity.account_field {
                wanted.push((SObject::Account, f.clone(), Purpose::Slot(Slot::Propensity)));
            }
        }
        None => {
            for object in [SObject::Lead, SObject::Contact] {
                for (slot, name) in &SUGGESTED[..3] {
                    wanted.push((object, (*name).to_owned(), Purpose::Slot(*slot)));
                }
            }
            let (slot, name) = SUGGESTED[3];
            wanted.push((SObject::Account, name.to_owned(), Purpose::Slot(slot)));
        }
    }
    if opts.person_key {
        for object in [SObject::Lead, SObject::Contact] {
            wanted.push((object, PERSON_KEY_FIELD.to_owned(), Purpose::PersonKey));
        }
    }
    let mut out: Vec<DesiredField> = Vec::new();
    for (object, name, purpose) in wanted {
        let seen = out
            .iter()
            .any(|d| d.object == object && d.name.eq_ignore_ascii_case(&name));
        if !seen {
            out.push(DesiredField::new(object, &name, purpose, opts));
        }
    }
    out
}

/// A custom field that exists, as Tooling lists it (whether the user can see it or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingField {
    pub object: SObject,
    /// The API name (`Name__c`).
    pub name: String,
    /// Tooling id (`00N…`).
    pub id: String,
    /// Read for fields the integration user cannot see or edit; `None` otherwise.
    pub metadata: Option<CustomFieldMetadata>,
}

/// The org as setup needs to know it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrgSetup {
    /// Describe as the integration user sees it.
    pub meta: Metadata,
    /// The desired names among the org's custom fields (Tooling).
    pub existing: Vec<ExistingField>,
    /// The `TrailSpark_Integration` permission set.
    pub permission_set: PermissionSetState,
    /// The integration user.
    pub user_id: String,
}

/// What happens to one desired field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldAction {
    /// It exists and can hold its value.
    Keep,
    /// It is missing: created with this definition.
    Create(CustomFieldSpec),
    /// It exists but cannot hold its value (why): reported, left as it is.
    Conflict(String),
    /// It is missing and is not a name trailspark can create (why).
    CannotCreate(String),
}

/// The integration user's access to one desired field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// It can read and edit the field.
    Has,
    /// A FieldPermissions row of the permission set will grant Read+Edit.
    Grant,
    /// The permission set grants it already; assigning the set to the user will do.
    Assign,
    /// Not applicable (conflicts, fields that cannot be created).
    None,
}

/// One desired field's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPlan {
    pub object: SObject,
    pub name: String,
    pub purpose: Purpose,
    pub action: FieldAction,
    pub access: Access,
}

impl FieldPlan {
    pub fn full_name(&self) -> String {
        format!("{}.{}", self.object.as_str(), self.name)
    }
}

/// The permission set step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionSetStep {
    /// No field needs access through it.
    NotNeeded,
    Existing(String),
    Create,
}

/// Everything setup will do, and what it will only report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupPlan {
    pub fields: Vec<FieldPlan>,
    pub permission_set: PermissionSetStep,
    /// Read+Edit grants, fields to create included (granted once created).
    pub grants: Vec<FieldGrant>,
    /// The user to assign the permission set to, when it does not hold it.
    pub assign_to: Option<String>,
}

impl SetupPlan {
    /// The fields to create.
    pub fn creates(&self) -> impl Iterator<Item = (&FieldPlan, &CustomFieldSpec)> {
        self.fields.iter().filter_map(|f| match &f.action {
            FieldAction::Create(spec) => Some((f, spec)),
            _ => None,
        })
    }

    /// Fields that need the admin: conflicts and names that cannot be created.
    pub fn problems(&self) -> impl Iterator<Item = (&FieldPlan, &str)> {
        self.fields.iter().filter_map(|f| match &f.action {
            FieldAction::Conflict(why) | FieldAction::CannotCreate(why) => Some((f, why.as_str())),
            _ => None,
        })
    }

    /// Nothing to write: no field to create, no grant, no set to create or assign.
    pub fn is_empty(&self) -> bool {
        self.creates().next().is_none()
            && self.grants.is_empty()
            && self.assign_to.is_none()
            && self.permission_set != PermissionSetStep::Create
    }
}

/// Whether trailspark may create a field of this name: an unmanaged custom field name.
fn creatable(name: &str) -> Result<(), String> {
    let Some(dev) = name.strip_suffix("__c") else {
        return Err(format!(
            "{name} is not a custom field name (custom fields end in __c), so trailspark cannot create it"
        ));
    };
    let ok = dev.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && dev.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !dev.ends_with('_')
        && !dev.contains("__")
        && dev.len() <= 40;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name} is not a name trailspark can create (letters, digits and single underscores, at most 40, starting with a letter)"
        ))
    }
}

/// A hidden field's metadata as describe would show it (the Metadata API type mapped to
/// describe's type), so one rule judges visible and hidden fields alike.
fn meta_of(name: &str, m: &CustomFieldMetadata) -> FieldMeta {
    let (t, default_length) = match m.field_type.as_str() {
        "Text" | "EncryptedText" => ("string", 255),
        "TextArea" | "LongTextArea" | "Html" => ("textarea", 255),
        "Picklist" => ("picklist", 255),
        "MultiselectPicklist" => ("multipicklist", 4099),
        "DateTime" => ("datetime", 0),
        "Date" => ("date", 0),
        "Checkbox" => ("boolean", 0),
        "Number" | "Currency" | "Percent" => ("double", 0),
        "Email" => ("email", 80),
        "Phone" => ("phone", 40),
        "Url" => ("url", 255),
        "Lookup" | "MasterDetail" => ("reference", 18),
        other => (other, 0),
    };
    FieldMeta {
        name: name.to_owned(),
        label: m.label.clone(),
        kind: FieldKind::from_describe(t),
        length: m.length.unwrap_or(default_length),
        createable: false,
        updateable: false,
        picklist_values: m.picklist_values.clone(),
        restricted_picklist: m.restricted,
        required_on_create: m.required,
        external_id: m.external_id,
    }
}

/// Why an existing field cannot hold its value, if it cannot.
fn unfit(purpose: Purpose, f: &FieldMeta, formula: bool) -> Option<String> {
    let kind = f.kind.as_str();
    if formula {
        return Some(format!(
            "is a formula field, which can never be written (it would hold the {})",
            purpose.words()
        ));
    }
    let picklist = matches!(f.kind, FieldKind::Picklist | FieldKind::Combobox);
    match purpose {
        Purpose::Slot(slot) => {
            if !compatible(slot, &f.kind) {
                return Some(format!(
                    "is a {kind} field, which cannot hold the {} (it needs {})",
                    purpose.words(),
                    compatible_types(slot)
                ));
            }
            let lacks = f.picklist_lacks(slot);
            if !lacks.is_empty() {
                return Some(format!(
                    "is a picklist without the value(s) {}",
                    lacks.join(", ")
                ));
            }
            let min = min_length(slot);
            if min > 0 && !picklist && f.length > 0 && f.length < min {
                return Some(format!(
                    "holds at most {} characters; the {} needs {min}",
                    f.length,
                    purpose.words()
                ));
            }
            None
        }
        Purpose::PersonKey => {
            if f.kind != FieldKind::String {
                return Some(format!(
                    "is a {kind} field; the person key needs Text({PERSON_KEY_LENGTH})"
                ));
            }
            if !f.external_id {
                return Some(
                    "is not an External ID field, so creates cannot be upserts by it (mark it External ID and Unique)".into(),
                );
            }
            (f.length < PERSON_KEY_LENGTH).then(|| {
                format!(
                    "holds at most {} characters; the person key needs {PERSON_KEY_LENGTH}",
                    f.length
                )
            })
        }
    }
}

/// The plan: per desired field, keep, create or report it; the grants and the permission
/// set step for every field the integration user cannot edit yet.
pub fn plan(org: &OrgSetup, desired: &[DesiredField]) -> SetupPlan {
    let ps = &org.permission_set;
    let mut fields = Vec::with_capacity(desired.len());
    let mut grants = Vec::new();
    for d in desired {
        let visible = org.meta.object(d.object).field(&d.name);
        let listed = org
            .existing
            .iter()
            .find(|e| e.object == d.object && e.name.eq_ignore_ascii_case(&d.name));
        let formula = listed
            .and_then(|e| e.metadata.as_ref())
            .is_some_and(|m| m.formula);
        let hidden = listed.and_then(|e| e.metadata.as_ref().map(|m| meta_of(&e.name, m)));
        let (name, action, editable) = match (visible, listed, hidden) {
            (Some(f), _, _) => (
                f.name.clone(),
                unfit(d.purpose, f, formula).map_or(FieldAction::Keep, FieldAction::Conflict),
                f.createable && f.updateable,
            ),
            (None, Some(e), Some(m)) => (
                e.name.clone(),
                unfit(d.purpose, &m, formula).map_or(FieldAction::Keep, FieldAction::Conflict),
                false,
            ),
            // Listed, type unknown: it exists, so never create it; access will tell.
            (None, Some(e), None) => (e.name.clone(), FieldAction::Keep, false),
            (None, None, _) => (
                d.name.clone(),
                match creatable(&d.name) {
                    Ok(()) => FieldAction::Create(d.spec.clone()),
                    Err(why) => FieldAction::CannotCreate(why),
                },
                false,
            ),
        };
        let full = format!("{}.{name}", d.object.as_str());
        let mut plan = FieldPlan {
            object: d.object,
            name,
            purpose: d.purpose,
            action,
            access: Access::None,
        };
        if matches!(plan.action, FieldAction::Keep | FieldAction::Create(_)) {
            let row = ps
                .field_permissions
                .iter()
                .find(|r| r.field.eq_ignore_ascii_case(&full));
            plan.access = match row {
                _ if editable => Access::Has,
                Some(r) if r.read && r.edit && ps.assigned => {
                    plan.action = FieldAction::Conflict(format!(
                        "the integration user still cannot edit it although {PERMISSION_SET_NAME} grants Read and Edit: check the object permissions of its profile"
                    ));
                    Access::None
                }
                Some(r) if r.read && r.edit => Access::Assign,
                Some(r) => {
                    grants.push(FieldGrant {
                        field: full,
                        existing: Some(r.id.clone()),
                    });
                    Access::Grant
                }
                None => {
                    grants.push(FieldGrant {
                        field: full,
                        existing: None,
                    });
                    Access::Grant
                }
            };
        }
        fields.push(plan);
    }
    let needed = fields
        .iter()
        .any(|f| matches!(f.access, Access::Grant | Access::Assign));
    let permission_set = match (&ps.permission_set, needed) {
        (_, false) => PermissionSetStep::NotNeeded,
        (Some(p), true) => PermissionSetStep::Existing(p.id.clone()),
        (None, true) => PermissionSetStep::Create,
    };
    SetupPlan {
        fields,
        permission_set,
        grants,
        assign_to: (needed && !ps.assigned).then(|| org.user_id.clone()),
    }
}

#[cfg(test)]
mod tests;
