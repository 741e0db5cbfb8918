//! Fixtures shared by the delivery integration tests.

use serde_json::json;

use delivery::{ContactRow, LeadRow, Lookup};
use domain::Evaluation;

pub use delivery::testing::metadata;

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
