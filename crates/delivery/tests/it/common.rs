//! Fixtures shared by the delivery integration tests.

use serde_json::json;

use delivery::{ContactRow, FieldKind, FieldMeta, LeadRow, Lookup, Metadata, ObjectMeta};
use domain::Evaluation;

fn field(name: &str, kind: FieldKind, length: u32) -> FieldMeta {
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
    }
}

/// The default emulated org's custom fields.
pub fn metadata() -> Metadata {
    let person = || {
        vec![
            field("Email", FieldKind::Email, 80),
            field("FirstName", FieldKind::String, 40),
            field("LastName", FieldKind::String, 80),
            field("TrailSpark_Score__c", FieldKind::String, 255),
            field("TrailSpark_Evaluation_Date__c", FieldKind::DateTime, 0),
            field("TrailSpark_Reasoning__c", FieldKind::TextArea, 131_072),
        ]
    };
    let mut lead = person();
    lead.push(field("Company", FieldKind::String, 255));
    lead.push(field("TrailSpark_Propensity__c", FieldKind::String, 255));
    Metadata {
        lead: ObjectMeta::new(lead),
        contact: ObjectMeta::new(person()),
        account: ObjectMeta::new(vec![
            field("Name", FieldKind::String, 255),
            field("TrailSpark_Propensity__c", FieldKind::String, 255),
        ]),
    }
}

fn ev(v: serde_json::Value) -> Evaluation {
    Evaluation::parse_json(&v).unwrap()
}

/// Two Contacts of one Account, an open Lead, an unknown hot person, and an older
/// duplicate evaluation.
pub fn batch() -> Vec<Evaluation> {
    vec![
        ev(
            json!({"id": "ev-1", "email": "Ada.Lovelace@Example.com", "score": "hot", "reasoning": "VP Engineering", "evaluated_at": "2026-11-28T09:15:00Z", "propensity": "high"}),
        ),
        ev(
            json!({"id": "ev-2", "email": "charles@example.com", "score": "warm", "reasoning": "Director", "evaluated_at": "2026-11-28T09:16:00Z", "propensity": "medium"}),
        ),
        ev(
            json!({"id": "ev-3", "email": "grace@navy.mil", "score": "cold", "reasoning": "Student", "evaluated_at": "2026-11-28T09:17:00+02:00", "propensity": "low"}),
        ),
        ev(
            json!({"id": "ev-4", "email": "new.person@startup.io", "score": "hot", "reasoning": "Founder", "evaluated_at": "2026-11-28T09:18:00Z",
            "person": {"first_name": "New", "company": "Startup"}}),
        ),
        ev(
            json!({"id": "ev-5", "email": "ada.lovelace@example.com", "score": "cold", "reasoning": "old", "evaluated_at": "2026-11-01T00:00:00Z"}),
        ),
    ]
}

pub fn lookup_rows() -> Lookup {
    let c = |v: serde_json::Value| ContactRow::from_record(v.as_object().unwrap()).unwrap();
    let l = |v: serde_json::Value| LeadRow::from_record(v.as_object().unwrap()).unwrap();
    Lookup {
        contacts: vec![
            c(
                json!({"Id": "003000000000001AAA", "Email": "ada.lovelace@example.com", "AccountId": "001000000000001AAA", "LastModifiedDate": "2026-01-01T00:00:00.000+0000", "Account": {"TrailSpark_Propensity__c": null}}),
            ),
            c(
                json!({"Id": "003000000000002AAA", "Email": "charles@example.com", "AccountId": "001000000000001AAA", "LastModifiedDate": "2026-01-01T00:00:00.000+0000", "Account": {"TrailSpark_Propensity__c": null}}),
            ),
        ],
        leads: vec![l(
            json!({"Id": "00Q000000000003AAA", "Email": "grace@navy.mil", "IsConverted": false, "LastModifiedDate": "2026-01-01T00:00:00.000+0000"}),
        )],
        accounts: vec![],
    }
}
