//! Preflight: the destination settings against the org's live metadata. Answers the seed's
//! troubleshooting rows before they happen — the field exists on the right object, its type
//! can hold the value, field-level security lets the integration user edit it, picklists hold
//! our values, and the integration is connected. One [`Problem`] per thing to fix.

use std::fmt;

use serde::Serialize;

use domain::{CreateAs, DestinationSettings, Slot};
use salesforce::Client;

use crate::destination::{object_meta, objects_needed};
use crate::meta::{Metadata, SObject, compatible, compatible_types};
use crate::write::report_error;

/// One problem: the settings key it concerns, what is wrong, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub key: String,
    pub message: String,
    pub fix: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}. Fix: {}", self.key, self.message, self.fix)
    }
}

const PREFIX: &str = "destinations.salesforce";

/// Minimum text length for a slot's values (`cold`, `medium_propensity`).
pub(crate) fn min_length(slot: Slot) -> u32 {
    match slot {
        Slot::Score => domain::Score::ALL
            .iter()
            .map(|s| s.as_str().len() as u32)
            .max()
            .unwrap_or(0),
        Slot::Propensity => domain::Propensity::ALL
            .iter()
            .map(|p| p.salesforce_value().len() as u32)
            .max()
            .unwrap_or(0),
        Slot::EvaluationDate | Slot::Reasoning => 0,
    }
}

/// Runs the preflight against the org: authentication, then the describes, then the fields.
pub async fn check(settings: &DestinationSettings, client: &Client) -> Vec<Problem> {
    if let Err(e) = client.identity().await {
        return vec![auth_problem(&settings.integration, &e)];
    }
    let mut problems = Vec::new();
    let mut meta = Metadata::default();
    for o in objects_needed(settings) {
        match client.describe(o.as_str()).await {
            Ok(d) => {
                let om = object_meta(&d);
                match o {
                    SObject::Lead => meta.lead = om,
                    SObject::Contact => meta.contact = om,
                    SObject::Account => meta.account = om,
                }
            }
            Err(e) => {
                let err = report_error(&e);
                problems.push(Problem {
                    key: format!("{PREFIX}.integration"),
                    message: format!(
                        "cannot read the {} object's fields: {}: {}",
                        o.as_str(),
                        err.code,
                        err.message
                    ),
                    fix: err.hint,
                });
                return problems;
            }
        }
    }
    problems.extend(check_with_metadata(settings, &meta));
    problems
}

/// The problem line for an integration that cannot authenticate.
pub fn auth_problem(integration: &str, e: &salesforce::Error) -> Problem {
    let err = report_error(e);
    // A refused sign-in needs a reconnect; an unreachable host needs the network or URL fixed.
    let fix = match e {
        salesforce::Error::Auth { .. } | salesforce::Error::CannotRefresh => {
            domain::hints::hint(domain::hints::AUTH_FAILED, &err.message)
        }
        _ => err.hint.clone(),
    };
    Problem {
        key: format!("integrations.{integration}"),
        message: format!("the integration cannot connect to Salesforce: {e}"),
        fix,
    }
}

/// The field checks, given the metadata (pure; the settings page reuses it).
pub fn check_with_metadata(s: &DestinationSettings, meta: &Metadata) -> Vec<Problem> {
    let creating_lead = s.create_records.enabled;
    let creating_contact = s.create_records.enabled && s.create_as == CreateAs::Contact;
    let mut out = Vec::new();
    for (slot, f) in s.lead.slots() {
        check_field(
            &mut out,
            meta,
            SObject::Lead,
            &format!("{PREFIX}.lead.{}_field", slot.as_str()),
            f,
            slot,
            creating_lead,
        );
    }
    for (slot, f) in s.contact.slots() {
        check_field(
            &mut out,
            meta,
            SObject::Contact,
            &format!("{PREFIX}.contact.{}_field", slot.as_str()),
            f,
            slot,
            creating_contact,
        );
    }
    if let Some(f) = s.propensity.account_field.as_deref() {
        check_field(
            &mut out,
            meta,
            SObject::Account,
            &format!("{PREFIX}.propensity.account_field"),
            f,
            Slot::Propensity,
            false,
        );
    }
    if let Some(f) = s.propensity.lead_field.as_deref() {
        check_field(
            &mut out,
            meta,
            SObject::Lead,
            &format!("{PREFIX}.propensity.lead_field"),
            f,
            Slot::Propensity,
            creating_lead,
        );
    }
    if creating_lead {
        let mut filled: Vec<&str> = s.lead.slots().into_iter().map(|(_, f)| f).collect();
        filled.extend(s.propensity.lead_field.as_deref());
        check_required(&mut out, meta, SObject::Lead, &filled);
    }
    if creating_contact {
        let filled: Vec<&str> = s.contact.slots().into_iter().map(|(_, f)| f).collect();
        check_required(&mut out, meta, SObject::Contact, &filled);
    }
    out
}

/// Fields a create always fills (besides the mapped ones): see the planner's create rule.
const FILLED_ON_CREATE: &[&str] = &[
    "Email",
    "FirstName",
    "LastName",
    "Company",
    "Title",
    "AccountId",
];

/// Creation would fail on a required field we never fill.
fn check_required(out: &mut Vec<Problem>, meta: &Metadata, object: SObject, mapped: &[&str]) {
    let o = object.as_str();
    for f in meta
        .object(object)
        .fields()
        .filter(|f| f.required_on_create)
    {
        let ours = FILLED_ON_CREATE
            .iter()
            .chain(mapped.iter())
            .any(|n| n.eq_ignore_ascii_case(&f.name));
        if !ours {
            out.push(Problem {
                key: format!("{PREFIX}.create_records"),
                message: format!("{o}.{} ({}) is required to create a {o}, and trailspark does not fill it", f.name, f.label),
                fix: format!("give {o}.{} a default value or make it optional in Setup, or turn create_records off", f.name),
            });
        }
    }
}

fn check_field(
    out: &mut Vec<Problem>,
    meta: &Metadata,
    object: SObject,
    key: &str,
    name: &str,
    slot: Slot,
    creating: bool,
) {
    let o = object.as_str();
    let Some(f) = meta.object(object).field(name) else {
        out.push(Problem {
            key: key.into(),
            message: format!("field {name} does not exist on {o}, or the integration user cannot see it"),
            fix: format!(
                "create it in Salesforce Setup > Object Manager > {o} > Fields & Relationships (or correct the API name); if it exists, give the integration user's profile or permission set Read and Edit access in its field-level security"
            ),
        });
        return;
    };
    if !compatible(slot, &f.kind) {
        out.push(Problem {
            key: key.into(),
            message: format!("{o}.{} is a {} field, which cannot hold the {}", f.name, f.kind.as_str(), slot.as_str().replace('_', " ")),
            fix: format!(
                "map a {} field instead (`trailspark fields --object {o}` lists the fields and their types)",
                compatible_types(slot)
            ),
        });
        return;
    }
    if !f.updateable {
        out.push(Problem {
            key: key.into(),
            message: format!("{o}.{} is not editable by the integration user", f.name),
            fix: format!("in Setup > Object Manager > {o} > Fields & Relationships > {} > Set Field-Level Security, give the integration user's profile Edit access (formula fields can never be written: map another field)", f.label),
        });
    } else if creating && !f.createable {
        out.push(Problem {
            key: key.into(),
            message: format!(
                "{o}.{} cannot be set when creating a record, and create_records is on",
                f.name
            ),
            fix: "give the integration user Edit access to the field, or turn create_records off"
                .into(),
        });
    }
    let lacks = f.picklist_lacks(slot);
    if !lacks.is_empty() {
        out.push(Problem {
            key: key.into(),
            message: format!("picklist {o}.{} lacks the value(s) {}", f.name, lacks.join(", ")),
            fix: format!("add {} to the picklist's values in Setup > Object Manager > {o} > Fields & Relationships > {}", lacks.join(", "), f.label),
        });
    }
    let min = min_length(slot);
    if min > 0 && f.length > 0 && f.length < min && !f.picklist_values.iter().any(|_| true) {
        out.push(Problem {
            key: key.into(),
            message: format!(
                "{o}.{} holds at most {} characters; values need {min}",
                f.name, f.length
            ),
            fix: format!("make the field at least {min} characters long"),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::{FieldKind, FieldMeta, ObjectMeta};
    use crate::testing::field as f;

    fn good() -> Vec<FieldMeta> {
        vec![
            f("TrailSpark_Score__c", FieldKind::String, 255),
            f("TrailSpark_Evaluation_Date__c", FieldKind::DateTime, 0),
            f("TrailSpark_Reasoning__c", FieldKind::TextArea, 131_072),
            f("TrailSpark_Propensity__c", FieldKind::String, 255),
        ]
    }

    fn meta() -> Metadata {
        Metadata {
            lead: ObjectMeta::new(good()),
            contact: ObjectMeta::new(good()),
            account: ObjectMeta::new(good()),
        }
    }

    #[test]
    fn good_settings_have_no_problem() {
        assert_eq!(
            check_with_metadata(&DestinationSettings::suggested("p"), &meta()),
            vec![]
        );
    }

    #[test]
    fn each_kind_of_problem_is_one_line() {
        let mut m = meta();
        let mut lead = good();
        lead.remove(0); // missing score field
        lead[0].kind = FieldKind::String; // date field of wrong type
        lead[1].updateable = false; // reasoning without edit access
        m.lead = ObjectMeta::new(lead);
        let mut contact = good();
        contact[0].kind = FieldKind::Picklist;
        contact[0].picklist_values = vec!["hot".into(), "cold".into()];
        m.contact = ObjectMeta::new(contact);
        let problems = check_with_metadata(&DestinationSettings::suggested("p"), &m);
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "destinations.salesforce.lead.score_field",
                "destinations.salesforce.lead.evaluation_date_field",
                "destinations.salesforce.lead.reasoning_field",
                "destinations.salesforce.contact.score_field",
            ]
        );
        assert!(problems[0].message.contains("does not exist on Lead"));
        assert!(problems[1].message.contains("string field"));
        assert!(problems[2].fix.contains("Edit access"));
        assert!(problems[3].message.contains("warm"));
        assert!(problems.iter().all(|p| !p.to_string().contains('\n')));
    }

    #[test]
    fn creation_needs_createable_fields() {
        let mut m = meta();
        let mut lead = good();
        lead[0].createable = false;
        m.lead = ObjectMeta::new(lead);
        let mut s = DestinationSettings::suggested("p");
        assert!(check_with_metadata(&s, &m).is_empty());
        s.create_records.enabled = true;
        let p = check_with_metadata(&s, &m);
        assert_eq!(p.len(), 1);
        assert!(p[0].message.contains("creating"));
    }

    #[test]
    fn creation_needs_every_required_field_filled() {
        let mut m = meta();
        let mut lead = good();
        lead.push(FieldMeta {
            required_on_create: true,
            ..f("LastName", FieldKind::String, 80)
        });
        lead.push(FieldMeta {
            required_on_create: true,
            ..f("Region__c", FieldKind::String, 80)
        });
        m.lead = ObjectMeta::new(lead);
        let mut s = DestinationSettings::suggested("p");
        assert!(
            check_with_metadata(&s, &m).is_empty(),
            "no creation, no problem"
        );
        s.create_records.enabled = true;
        let p = check_with_metadata(&s, &m);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].key, "destinations.salesforce.create_records");
        assert!(p[0].message.contains("Lead.Region__c"));
    }

    #[test]
    fn short_text_field_for_propensity() {
        let mut m = meta();
        m.account = ObjectMeta::new(vec![f("TrailSpark_Propensity__c", FieldKind::String, 10)]);
        let p = check_with_metadata(&DestinationSettings::suggested("p"), &m);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].key, "destinations.salesforce.propensity.account_field");
    }
}
