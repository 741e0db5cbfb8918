//! Metadata fixtures shared by this crate's unit tests, integration tests and benchmarks:
//! field descriptions shaped like the emulated org's default describe (sfsim's seed), so
//! every test plans against the same org.

use crate::meta::{FieldKind, FieldMeta, Metadata, ObjectMeta};

/// A field the integration user can create and edit.
pub fn field(name: &str, kind: FieldKind, length: u32) -> FieldMeta {
    FieldMeta {
        name: name.into(),
        label: name.into(),
        kind,
        length,
        createable: true,
        updateable: true,
        picklist_values: vec![],
        restricted_picklist: false,
        required_on_create: false,
        external_id: false,
    }
}

/// The person-key field as `trailspark setup-org --person-key` creates it: Text(80),
/// External ID, unique.
pub fn person_key_field() -> FieldMeta {
    FieldMeta {
        external_id: true,
        ..field(crate::setup::PERSON_KEY_FIELD, FieldKind::String, 80)
    }
}

/// [`metadata`] with the person-key field on Lead and Contact.
pub fn metadata_with_person_key() -> Metadata {
    let mut m = metadata();
    for om in [&mut m.lead, &mut m.contact] {
        let mut fields: Vec<FieldMeta> = om.fields().cloned().collect();
        fields.push(person_key_field());
        *om = ObjectMeta::new(fields);
    }
    m
}

/// The Lead and Contact fields delivery reads or writes, in this order: Email, FirstName,
/// LastName, Title, score, evaluation date, reasoning.
pub fn person_fields() -> Vec<FieldMeta> {
    vec![
        field("Email", FieldKind::Email, 80),
        field("FirstName", FieldKind::String, 40),
        field("LastName", FieldKind::String, 80),
        field("Title", FieldKind::String, 128),
        field("TrailSpark_Score__c", FieldKind::String, 255),
        field("TrailSpark_Evaluation_Date__c", FieldKind::DateTime, 0),
        field("TrailSpark_Reasoning__c", FieldKind::TextArea, 131_072),
    ]
}

/// The default emulated org: person fields on Lead and Contact, Company and the propensity
/// field on Lead, Name and the propensity field on Account.
pub fn metadata() -> Metadata {
    let mut lead = person_fields();
    lead.push(field("Company", FieldKind::String, 255));
    lead.push(field("TrailSpark_Propensity__c", FieldKind::String, 255));
    Metadata {
        lead: ObjectMeta::new(lead),
        contact: ObjectMeta::new(person_fields()),
        account: ObjectMeta::new(vec![
            field("Name", FieldKind::String, 255),
            field("TrailSpark_Propensity__c", FieldKind::String, 255),
        ]),
    }
}
