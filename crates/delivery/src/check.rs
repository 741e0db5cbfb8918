//! Preflight: the destination settings against the org's live metadata. Answers the
//! troubleshooting rows of docs/product.md#troubleshooting before they happen — the destination is
//! enabled, the field exists on the right object, its type can hold the value, field-level security
//! lets the integration user edit it, picklists hold our values, and the integration is connected.
//! One [`Problem`] per thing to fix.

use std::fmt;

use serde::Serialize;

use domain::{CreateAs, DestinationSettings, Slot};
use salesforce::Client;

use crate::destination::{object_meta, objects_needed};
use crate::meta::{Metadata, PERSON_KEY_FIELD, SObject, compatible, compatible_types};
use crate::write::report_error;

/// The stable [`Problem::code`]s: settings pages and API clients key on them, so a code
/// never changes meaning; messages may be reworded.
pub mod codes {
    /// The field does not exist on the object, or the integration user cannot see it.
    pub const FIELD_MISSING: &str = "field_missing";
    /// The field's type cannot hold the slot's value (a Date field for the score, ...).
    pub const FIELD_TYPE_MISMATCH: &str = "field_type_mismatch";
    /// Not updateable: field-level security, or a formula / read-only field.
    pub const FIELD_NOT_EDITABLE: &str = "field_not_editable";
    /// Not createable while `create_records` would create records of that object.
    pub const FIELD_NOT_CREATEABLE: &str = "field_not_createable";
    /// A picklist without every value the slot writes.
    pub const PICKLIST_MISSING_VALUES: &str = "picklist_missing_values";
    /// A text field shorter than the slot's longest value.
    pub const FIELD_TOO_SHORT: &str = "field_too_short";
    /// A field required on create that trailspark does not fill, with `create_records` on.
    pub const REQUIRED_FIELD_NOT_FILLED: &str = "required_field_not_filled";
    /// The integration cannot authenticate (or reach Salesforce).
    pub const INTEGRATION_NOT_CONNECTED: &str = "integration_not_connected";
    /// Signed in, but the objects' describe failed.
    pub const METADATA_UNAVAILABLE: &str = "metadata_unavailable";
    /// The destination is switched off: nothing is written.
    pub const DESTINATION_DISABLED: &str = "destination_disabled";
}

/// One problem: the settings key it concerns, a stable [`codes`] value, what is wrong, and
/// how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub key: String,
    pub code: String,
    pub message: String,
    pub fix: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}. Fix: {}", self.key, self.message, self.fix)
    }
}

const PREFIX: &str = "destinations.salesforce";

/// Runs the preflight against the org: a disabled destination first, then authentication,
/// then the describes, then the fields.
pub async fn check(settings: &DestinationSettings, client: &Client) -> Vec<Problem> {
    check_with_notes(settings, client).await.0
}

/// [`check`], and the [`notes`] on what the org could add (not problems).
pub async fn check_with_notes(
    settings: &DestinationSettings,
    client: &Client,
) -> (Vec<Problem>, Vec<String>) {
    let mut problems: Vec<Problem> = disabled_problem(settings).into_iter().collect();
    if let Err(e) = client.identity().await {
        problems.push(auth_problem(&settings.integration, &e));
        return (problems, Vec::new());
    }
    let mut notes_out = Vec::new();
    match settings_metadata(settings, client, false).await {
        Ok(meta) => {
            problems.extend(check_with_metadata(settings, &meta));
            notes_out = notes(settings, &meta);
        }
        Err(p) => problems.push(p),
    }
    (problems, notes_out)
}

/// What the org would gain, in an admin's words; nothing here stops delivery. Today: the
/// person-key field on an object the settings create records of
/// (docs/product.md#the-person-key).
pub fn notes(s: &DestinationSettings, meta: &Metadata) -> Vec<String> {
    if !s.enabled || !s.create_records.enabled {
        return Vec::new();
    }
    let mut objects = vec![SObject::Lead];
    if s.create_as == CreateAs::Contact {
        objects.push(SObject::Contact);
    }
    objects
        .into_iter()
        .filter(|o| meta.person_key(*o).is_none())
        .map(|o| {
            format!(
                "{o} has no usable {PERSON_KEY_FIELD} (Text(80), External ID, unique, editable by the integration user): new {o}s are plain creates, found again by email before a retry, so a create that Salesforce commits after its answer was lost can still become two {o}s for one email; with the field, creates are upserts by the person's email and cannot. `trailspark setup-org --person-key` creates it",
                o = o.as_str()
            )
        })
        .collect()
}

/// The metadata of the objects the settings name (`fresh`: revalidated with
/// `If-Modified-Since` instead of taken from the client's cache), or the problem of an
/// object whose fields cannot be read.
pub async fn settings_metadata(
    settings: &DestinationSettings,
    client: &Client,
    fresh: bool,
) -> Result<Metadata, Problem> {
    let mut meta = Metadata::default();
    for o in objects_needed(settings) {
        let described = if fresh {
            client.describe_refresh(o.as_str()).await
        } else {
            client.describe(o.as_str()).await
        };
        match described {
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
                return Err(Problem {
                    key: format!("{PREFIX}.integration"),
                    code: codes::METADATA_UNAVAILABLE.into(),
                    message: format!(
                        "cannot read the {} object's fields: {}: {}",
                        o.as_str(),
                        err.code,
                        err.message
                    ),
                    fix: err.hint,
                });
            }
        }
    }
    Ok(meta)
}

/// The problem line for a disabled destination, which writes nothing however well the rest
/// matches the org; `None` when it is enabled. Listed before every other problem.
pub fn disabled_problem(settings: &DestinationSettings) -> Option<Problem> {
    (!settings.enabled).then(|| Problem {
        key: format!("{PREFIX}.enabled"),
        code: codes::DESTINATION_DISABLED.into(),
        message: "the destination is disabled: every evaluation is skipped (destination_disabled) and nothing is written to Salesforce".into(),
        fix: "set `enabled = true` in [destinations.salesforce]".into(),
    })
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
        code: codes::INTEGRATION_NOT_CONNECTED.into(),
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
                code: codes::REQUIRED_FIELD_NOT_FILLED.into(),
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
            code: codes::FIELD_MISSING.into(),
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
            code: codes::FIELD_TYPE_MISMATCH.into(),
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
            code: codes::FIELD_NOT_EDITABLE.into(),
            message: format!("{o}.{} is not editable by the integration user", f.name),
            fix: format!("in Setup > Object Manager > {o} > Fields & Relationships > {} > Set Field-Level Security, give the integration user's profile Edit access (formula fields can never be written: map another field)", f.label),
        });
    } else if creating && !f.createable {
        out.push(Problem {
            key: key.into(),
            code: codes::FIELD_NOT_CREATEABLE.into(),
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
            code: codes::PICKLIST_MISSING_VALUES.into(),
            message: format!("picklist {o}.{} lacks the value(s) {}", f.name, lacks.join(", ")),
            fix: format!("add {} to the picklist's values in Setup > Object Manager > {o} > Fields & Relationships > {}", lacks.join(", "), f.label),
        });
    }
    if let Some(min) = f.too_short(slot) {
        out.push(Problem {
            key: key.into(),
            code: codes::FIELD_TOO_SHORT.into(),
            message: format!(
                "{o}.{} holds at most {} characters; values need {min}",
                f.name, f.length
            ),
            fix: format!("make the field at least {min} characters long"),
        });
    }
}

#[cfg(test)]
mod notes_tests {
    use super::*;
    use crate::testing::{metadata, metadata_with_person_key};

    #[test]
    fn the_missing_person_key_is_a_note_for_the_objects_created() {
        let mut s = DestinationSettings::suggested("x");
        assert!(notes(&s, &metadata()).is_empty(), "no creates, no note");
        s.create_records.enabled = true;
        let n = notes(&s, &metadata());
        assert_eq!(n.len(), 1);
        assert!(
            n[0].starts_with("Lead has no usable TrailSpark_Person_Key__c"),
            "{}",
            n[0]
        );
        assert!(n[0].contains("setup-org --person-key"));
        s.create_as = CreateAs::Contact;
        assert_eq!(notes(&s, &metadata()).len(), 2);
        assert!(notes(&s, &metadata_with_person_key()).is_empty());
        assert!(
            check_with_metadata(&s, &metadata()).is_empty(),
            "not a problem"
        );
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
        let codes: Vec<_> = problems.iter().map(|p| p.code.as_str()).collect();
        assert_eq!(
            codes,
            [
                codes::FIELD_MISSING,
                codes::FIELD_TYPE_MISMATCH,
                codes::FIELD_NOT_EDITABLE,
                codes::PICKLIST_MISSING_VALUES
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
        assert_eq!(p[0].code, codes::FIELD_NOT_CREATEABLE);
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
        assert_eq!(p[0].code, codes::REQUIRED_FIELD_NOT_FILLED);
        assert!(p[0].message.contains("Lead.Region__c"));
    }

    #[test]
    fn a_disabled_destination_is_a_problem_with_its_fix() {
        let mut s = DestinationSettings::suggested("p");
        assert_eq!(disabled_problem(&s), None);
        s.enabled = false;
        let p = disabled_problem(&s).expect("a problem");
        assert_eq!(p.key, "destinations.salesforce.enabled");
        assert!(
            p.to_string()
                .ends_with("Fix: set `enabled = true` in [destinations.salesforce]"),
            "{p}"
        );
    }

    #[test]
    fn short_text_field_for_propensity() {
        let mut m = meta();
        m.account = ObjectMeta::new(vec![f("TrailSpark_Propensity__c", FieldKind::String, 10)]);
        let p = check_with_metadata(&DestinationSettings::suggested("p"), &m);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].key, "destinations.salesforce.propensity.account_field");
        assert_eq!(p[0].code, codes::FIELD_TOO_SHORT);
        assert_eq!(
            p[0].to_string(),
            "destinations.salesforce.propensity.account_field: Account.TrailSpark_Propensity__c holds at most 10 characters; values need 17. Fix: make the field at least 17 characters long",
            "the line `trailspark check` prints carries no code"
        );
    }

    /// The four mistakes an admin makes most, one field each: exactly four problems, each
    /// with its code, on the key of the setting to change.
    #[test]
    fn missing_field_wrong_type_no_edit_access_and_picklist_without_warm_have_their_codes() {
        let mut s = DestinationSettings::suggested("p");
        s.propensity = Default::default();
        s.lead.score_field = Some("Rating__c".into());
        s.lead.evaluation_date_field = Some("Nope__c".into());
        s.contact.score_field = Some("Score_Date__c".into());
        s.contact.reasoning_field = Some("Reasoning_Formula__c".into());
        let mut m = meta();
        let mut lead = good();
        lead.push(FieldMeta {
            picklist_values: vec!["hot".into(), "cold".into()],
            ..f("Rating__c", FieldKind::Picklist, 255)
        });
        m.lead = ObjectMeta::new(lead);
        let mut contact = good();
        contact.push(f("Score_Date__c", FieldKind::Date, 0));
        contact.push(FieldMeta {
            updateable: false,
            createable: false,
            ..f("Reasoning_Formula__c", FieldKind::TextArea, 1300)
        });
        m.contact = ObjectMeta::new(contact);
        let problems = check_with_metadata(&s, &m);
        let got: Vec<_> = problems
            .iter()
            .map(|p| (p.key.as_str(), p.code.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "destinations.salesforce.lead.score_field",
                    "picklist_missing_values"
                ),
                (
                    "destinations.salesforce.lead.evaluation_date_field",
                    "field_missing"
                ),
                (
                    "destinations.salesforce.contact.score_field",
                    "field_type_mismatch"
                ),
                (
                    "destinations.salesforce.contact.reasoning_field",
                    "field_not_editable"
                ),
            ]
        );
        assert!(problems[0].message.contains("warm"));
        assert!(problems[2].message.contains("date field"));
    }

    #[test]
    fn an_integration_that_cannot_sign_in_is_not_connected() {
        let e = salesforce::Error::Auth {
            status: 400,
            error: "invalid_grant".into(),
            description: "expired access/refresh token".into(),
        };
        let p = auth_problem("prod", &e);
        assert_eq!(p.key, "integrations.prod");
        assert_eq!(p.code, codes::INTEGRATION_NOT_CONNECTED);
    }
}
