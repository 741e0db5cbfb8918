//! One test per delivery rule of docs/product.md#delivery-rules, named after the rule.

use serde_json::{Value, json};

use domain::{
    CreateAs, DestinationSettings, DuplicatePolicy, Evaluation, ObjectMapping, Outcome,
    PersonMatch, Reason, Score, Warning, WriteAction,
};

use super::*;
use crate::meta::{FieldKind, ObjectMeta};
use crate::rows::{AccountRow, ContactRow, LeadRow, Lookup};
use crate::testing::{field, metadata as meta, person_fields};

const SCORE: &str = "TrailSpark_Score__c";
const DATE: &str = "TrailSpark_Evaluation_Date__c";
const REASON: &str = "TrailSpark_Reasoning__c";
const PROP: &str = "TrailSpark_Propensity__c";

fn settings() -> DestinationSettings {
    DestinationSettings::suggested("prod")
}

fn ev(id: &str, email: &str, score: &str, at: &str) -> Evaluation {
    Evaluation::parse_json(&json!({"id": id, "email": email, "score": score, "reasoning": "because", "evaluated_at": at}))
        .unwrap()
}

fn ev_prop(id: &str, email: &str, at: &str, prop: &str) -> Evaluation {
    Evaluation::parse_json(
        &json!({"id": id, "email": email, "score": "hot", "reasoning": "because", "evaluated_at": at, "propensity": prop}),
    )
    .unwrap()
}

const T: &str = "2026-11-28T09:15:00Z";

fn contact(id: &str, email: &str, account: Option<&str>) -> ContactRow {
    contact_with(id, email, account, json!({}))
}

fn contact_with(id: &str, email: &str, account: Option<&str>, extra: Value) -> ContactRow {
    let mut r = json!({"attributes": {"type": "Contact"}, "Id": id, "Email": email, "AccountId": account,
        "LastModifiedDate": "2026-01-01T00:00:00.000+0000"});
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    ContactRow::from_record(r.as_object().unwrap()).unwrap()
}

fn lead(id: &str, email: &str) -> LeadRow {
    lead_with(id, email, json!({}))
}

fn lead_with(id: &str, email: &str, extra: Value) -> LeadRow {
    let mut r = json!({"attributes": {"type": "Lead"}, "Id": id, "Email": email, "IsConverted": false,
        "ConvertedContactId": null, "LastModifiedDate": "2026-01-01T00:00:00.000+0000"});
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    LeadRow::from_record(r.as_object().unwrap()).unwrap()
}

fn account(id: &str, website: &str) -> AccountRow {
    AccountRow::from_record(
        json!({"Id": id, "Website": website, "LastModifiedDate": "2026-01-01T00:00:00.000+0000"})
            .as_object()
            .unwrap(),
    )
    .unwrap()
}

fn run(batch: &[Evaluation], lookup: Lookup, s: &DestinationSettings) -> Plan {
    let p = plan(batch, &lookup, s, &meta());
    assert_eq!(p.reports.len(), batch.len(), "one report per evaluation");
    for (i, r) in p.reports.iter().enumerate() {
        assert_eq!(r.id, batch[i].id.as_str(), "input order kept");
        assert_eq!(r.writes.len(), p.report_writes[i].len());
    }
    p
}

fn targets(p: &Plan, i: usize) -> Vec<(String, Option<String>)> {
    p.reports[i]
        .writes
        .iter()
        .map(|w| (w.object.clone(), w.id.clone()))
        .collect()
}

fn t(object: &str, id: &str) -> (String, Option<String>) {
    (object.to_string(), Some(id.to_string()))
}

#[test]
fn destination_disabled_skips_everything() {
    let mut s = settings();
    s.enabled = false;
    let p = run(
        &[ev("e1", "a@x.com", "hot", T)],
        Lookup {
            contacts: vec![contact("003A", "a@x.com", None)],
            ..Default::default()
        },
        &s,
    );
    assert!(p.writes.is_empty());
    assert_eq!(p.reports[0].outcome, Outcome::Skipped);
    assert_eq!(p.reports[0].reason, Some(Reason::DestinationDisabled));
}

#[test]
fn values_written_score_lower_case_datetime_utc_millis_reasoning() {
    let e = Evaluation::parse_json(
        &json!({"id": "e1", "email": "a@x.com", "score": "HOT", "reasoning": "r",
        "evaluated_at": "2026-11-28T10:15:00.5+01:00"}),
    )
    .unwrap();
    let p = run(
        &[e],
        Lookup {
            contacts: vec![contact("003A", "a@x.com", None)],
            ..Default::default()
        },
        &settings(),
    );
    assert_eq!(p.reports[0].outcome, Outcome::Updated);
    let f = &p.writes[0].fields;
    assert_eq!(f[SCORE], json!("hot"));
    assert_eq!(f[DATE], json!("2026-11-28T09:15:00.500Z"));
    assert_eq!(f[REASON], json!("r"));
}

#[test]
fn date_field_gets_the_utc_date() {
    let mut m = meta();
    let mut fields = person_fields();
    fields[5] = field(DATE, FieldKind::Date, 0);
    m.contact = ObjectMeta::new(fields);
    let e = ev("e1", "a@x.com", "warm", "2026-11-28T23:30:00-02:00");
    let p = plan(
        &[e],
        &Lookup {
            contacts: vec![contact("003A", "a@x.com", None)],
            ..Default::default()
        },
        &settings(),
        &m,
    );
    assert_eq!(p.writes[0].fields[DATE], json!("2026-11-29"));
}

#[test]
fn reasoning_truncated_to_field_length_with_ellipsis_and_warning() {
    let mut m = meta();
    let mut fields = person_fields();
    fields[6] = field(REASON, FieldKind::String, 10);
    m.contact = ObjectMeta::new(fields);
    let mut e = ev("e1", "a@x.com", "hot", T);
    e.reasoning = "abcdefghijklmnop".into();
    let p = plan(
        &[e],
        &Lookup {
            contacts: vec![contact("003A", "a@x.com", None)],
            ..Default::default()
        },
        &settings(),
        &m,
    );
    assert_eq!(p.writes[0].fields[REASON], json!("abcdefghi…"));
    assert_eq!(
        p.reports[0].warnings,
        vec![Warning::ReasoningTruncated { length: 10 }]
    );
}

#[test]
fn email_matches_trimmed_and_case_insensitive() {
    let p = run(
        &[ev("e1", "  Ada.Lovelace@Example.COM ", "hot", T)],
        Lookup {
            contacts: vec![contact("003A", "ada.lovelace@example.com", None)],
            ..Default::default()
        },
        &settings(),
    );
    assert_eq!(targets(&p, 0), vec![t("Contact", "003A")]);
    assert_eq!(p.reports[0].email, "ada.lovelace@example.com");
}

#[test]
fn contact_wins_over_lead() {
    let p = run(
        &[ev("e1", "a@x.com", "hot", T)],
        Lookup {
            contacts: vec![contact("003A", "a@x.com", None)],
            leads: vec![lead("00QA", "a@x.com")],
            ..Default::default()
        },
        &settings(),
    );
    assert_eq!(targets(&p, 0), vec![t("Contact", "003A")]);
}

#[test]
fn lead_written_when_no_contact_matches() {
    let p = run(
        &[ev("e1", "a@x.com", "hot", T)],
        Lookup {
            leads: vec![lead("00QA", "a@x.com")],
            ..Default::default()
        },
        &settings(),
    );
    assert_eq!(targets(&p, 0), vec![t("Lead", "00QA")]);
    assert_eq!(p.reports[0].outcome, Outcome::Updated);
}

#[test]
fn person_match_both_writes_contact_and_lead() {
    let mut s = settings();
    s.person_match = PersonMatch::Both;
    let p = run(
        &[ev("e1", "a@x.com", "hot", T)],
        Lookup {
            contacts: vec![contact("003A", "a@x.com", None)],
            leads: vec![lead("00QA", "a@x.com")],
            ..Default::default()
        },
        &s,
    );
    assert_eq!(
        targets(&p, 0),
        vec![t("Contact", "003A"), t("Lead", "00QA")]
    );
}

#[test]
fn converted_lead_follows_contact() {
    let converted = lead_with(
        "00QC",
        "a@x.com",
        json!({"IsConverted": true, "ConvertedContactId": "003B"}),
    );
    let p = run(
        &[ev("e1", "a@x.com", "hot", T)],
        Lookup {
            contacts: vec![contact("003B", "other@x.com", Some("001A"))],
            leads: vec![converted],
            ..Default::default()
        },
        &settings(),
    );
    assert_eq!(targets(&p, 0), vec![t("Contact", "003B")]);
    assert_eq!(p.writes[0].family, "001A");
    assert!(
        p.reports[0]
            .warnings
            .contains(&Warning::ConvertedLeadFollowed {
                lead: "00QC".into(),
                contact: "003B".into()
            })
    );
}

#[test]
fn converted_lead_never_written() {
    let converted = lead_with(
        "00QC",
        "a@x.com",
        json!({"IsConverted": true, "ConvertedContactId": "003GONE"}),
    );
    let p = run(
        &[ev("e1", "a@x.com", "hot", T)],
        Lookup {
            leads: vec![converted, lead("00QO", "a@x.com")],
            ..Default::default()
        },
        &settings(),
    );
    assert_eq!(targets(&p, 0), vec![t("Lead", "00QO")]);
    // Only a converted Lead whose Contact is gone: nothing to write, creation off → no match.
    let converted = lead_with(
        "00QC",
        "b@x.com",
        json!({"IsConverted": true, "ConvertedContactId": "003GONE"}),
    );
    let p = run(
        &[ev("e1", "b@x.com", "hot", T)],
        Lookup {
            leads: vec![converted],
            ..Default::default()
        },
        &settings(),
    );
    assert!(p.writes.is_empty());
    assert_eq!(p.reports[0].reason, Some(Reason::NoMatch));
}

#[test]
fn duplicates_all_writes_each_with_warning() {
    let p = run(
        &[ev("e1", "a@x.com", "hot", T)],
        Lookup {
            leads: vec![lead("00Q1", "a@x.com"), lead("00Q2", "A@x.com")],
            ..Default::default()
        },
        &settings(),
    );
    assert_eq!(targets(&p, 0), vec![t("Lead", "00Q1"), t("Lead", "00Q2")]);
    assert_eq!(
        p.reports[0].warnings,
        vec![Warning::DuplicateMatch {
            ids: vec!["00Q1".into(), "00Q2".into()]
        }]
    );
}

#[test]
fn duplicates_most_recent_writes_the_latest_modified() {
    let mut s = settings();
    s.duplicates = DuplicatePolicy::MostRecent;
    let newer = lead_with(
        "00Q2",
        "a@x.com",
        json!({"LastModifiedDate": "2026-06-01T00:00:00.000+0000"}),
    );
    let p = run(
        &[ev("e1", "a@x.com", "hot", T)],
        Lookup {
            leads: vec![lead("00Q1", "a@x.com"), newer, lead("00Q3", "a@x.com")],
            ..Default::default()
        },
        &s,
    );
    assert_eq!(targets(&p, 0), vec![t("Lead", "00Q2")]);
}

#[test]
fn duplicates_skip_writes_none() {
    let mut s = settings();
    s.duplicates = DuplicatePolicy::Skip;
    let p = run(
        &[ev("e1", "a@x.com", "hot", T)],
        Lookup {
            contacts: vec![
                contact("0031", "a@x.com", None),
                contact("0032", "a@x.com", None),
            ],
            ..Default::default()
        },
        &s,
    );
    assert!(p.writes.is_empty());
    assert_eq!(p.reports[0].outcome, Outcome::Skipped);
    assert_eq!(p.reports[0].reason, Some(Reason::DuplicateMatch));
    assert_eq!(
        p.reports[0].warnings,
        vec![Warning::DuplicateMatch {
            ids: vec!["0031".into(), "0032".into()]
        }]
    );
}

#[test]
fn account_propensity_written_to_linked_account() {
    let p = run(
        &[ev_prop("e1", "a@x.com", T, "high")],
        Lookup {
            contacts: vec![contact("003A", "a@x.com", Some("001A"))],
            ..Default::default()
        },
        &settings(),
    );
    assert_eq!(
        targets(&p, 0),
        vec![t("Contact", "003A"), t("Account", "001A")]
    );
    assert_eq!(p.writes[1].fields[PROP], json!("high_propensity"));
    assert!(
        !p.writes[0].fields.contains_key(PROP),
        "the Contact takes no propensity"
    );
    assert_eq!(p.writes[0].family, p.writes[1].family);
}

#[test]
fn one_account_write_per_batch_with_newest_value() {
    let batch = [
        ev_prop("e1", "a@x.com", "2026-11-28T09:00:00Z", "low"),
        ev_prop("e2", "b@x.com", "2026-11-28T10:00:00Z", "medium"),
        ev_prop("e3", "c@x.com", "2026-11-28T08:00:00Z", "high"),
    ];
    let lookup = Lookup {
        contacts: vec![
            contact("003A", "a@x.com", Some("001A")),
            contact("003B", "b@x.com", Some("001A")),
            contact("003C", "c@x.com", Some("001A")),
        ],
        ..Default::default()
    };
    let p = run(&batch, lookup, &settings());
    let accounts: Vec<_> = p
        .writes
        .iter()
        .filter(|w| w.object == SObject::Account)
        .collect();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].fields[PROP], json!("medium_propensity"));
    assert_eq!(accounts[0].evaluation, 1);
    assert!(p.reports.iter().all(|r| r.outcome == Outcome::Updated));
}

#[test]
fn lead_propensity_fallback_when_no_account() {
    let p = run(
        &[ev_prop("e1", "a@x.com", T, "low")],
        Lookup {
            leads: vec![lead("00QA", "a@x.com")],
            ..Default::default()
        },
        &settings(),
    );
    assert_eq!(targets(&p, 0), vec![t("Lead", "00QA")]);
    assert_eq!(p.writes[0].fields[PROP], json!("low_propensity"));
}

#[test]
fn no_propensity_for_contact_without_account() {
    let p = run(
        &[ev_prop("e1", "a@x.com", T, "low")],
        Lookup {
            contacts: vec![contact("003A", "a@x.com", None)],
            ..Default::default()
        },
        &settings(),
    );
    assert_eq!(targets(&p, 0), vec![t("Contact", "003A")]);
    assert!(!p.writes[0].fields.contains_key(PROP));
    assert!(matches!(
        p.reports[0].warnings[0],
        Warning::PropensityNotWritten { .. }
    ));
}

#[test]
fn propensity_not_written_when_no_field_mapped() {
    let mut s = settings();
    s.propensity.account_field = None;
    s.propensity.lead_field = None;
    let p = run(
        &[ev_prop("e1", "a@x.com", T, "high")],
        Lookup {
            contacts: vec![contact("003A", "a@x.com", Some("001A"))],
            leads: vec![],
            ..Default::default()
        },
        &s,
    );
    assert_eq!(targets(&p, 0), vec![t("Contact", "003A")]);
}

#[test]
fn no_match_and_creation_off_is_skipped() {
    let p = run(
        &[ev("e1", "a@x.com", "hot", T)],
        Lookup::default(),
        &settings(),
    );
    assert!(p.writes.is_empty());
    assert_eq!(p.reports[0].reason, Some(Reason::NoMatch));
}

#[test]
fn creation_only_for_selected_score_levels() {
    let mut s = settings();
    s.create_records.enabled = true;
    s.create_records.score_levels = [Score::Hot].into_iter().collect();
    let p = run(
        &[
            ev("e1", "a@x.com", "hot", T),
            ev("e2", "b@x.com", "cold", T),
        ],
        Lookup::default(),
        &s,
    );
    assert_eq!(p.reports[0].outcome, Outcome::Created);
    assert_eq!(p.reports[1].outcome, Outcome::Skipped);
    assert_eq!(
        p.reports[1].reason,
        Some(Reason::ScoreNotSelectedForCreation)
    );
}

#[test]
fn create_lead_fills_not_provided_for_missing_last_name_and_company() {
    let mut s = settings();
    s.create_records.enabled = true;
    let mut e = ev_prop("e1", "New.Person@x.com", T, "high");
    e.person = Some(domain::Person {
        first_name: Some("New".into()),
        ..Default::default()
    });
    let p = run(&[e], Lookup::default(), &s);
    let w = &p.writes[0];
    assert_eq!(
        (w.object, w.action, w.id.clone()),
        (SObject::Lead, WriteAction::Create, None)
    );
    assert_eq!(w.fields["Email"], json!("New.Person@x.com"));
    assert_eq!(w.fields["FirstName"], json!("New"));
    assert_eq!(w.fields["LastName"], json!(NOT_PROVIDED));
    assert_eq!(w.fields["Company"], json!(NOT_PROVIDED));
    assert_eq!(w.fields[SCORE], json!("hot"));
    assert_eq!(w.fields[PROP], json!("high_propensity"));
    assert_eq!(p.reports[0].outcome, Outcome::Created);
}

#[test]
fn create_contact_under_account_matching_email_domain() {
    let mut s = settings();
    s.create_records.enabled = true;
    s.create_as = CreateAs::Contact;
    let mut e = ev_prop("e1", "ada@example.com", T, "medium");
    e.person = Some(domain::Person {
        last_name: Some("Lovelace".into()),
        company: Some("AE".into()),
        ..Default::default()
    });
    let lookup = Lookup {
        accounts: vec![
            account("001OTHER", "other.com"),
            account("001EX", "https://www.Example.com/"),
        ],
        ..Default::default()
    };
    let p = run(&[e], lookup, &s);
    assert_eq!(p.writes[0].object, SObject::Contact);
    assert_eq!(p.writes[0].fields["AccountId"], json!("001EX"));
    assert!(!p.writes[0].fields.contains_key("Company"));
    assert_eq!(p.writes[1].object, SObject::Account);
    assert_eq!(p.writes[1].id.as_deref(), Some("001EX"));
    assert_eq!(p.reports[0].outcome, Outcome::Created);
}

#[test]
fn create_contact_falls_back_to_lead_without_matching_account() {
    let mut s = settings();
    s.create_records.enabled = true;
    s.create_as = CreateAs::Contact;
    let p = run(
        &[ev("e1", "ada@example.com", "hot", T)],
        Lookup {
            accounts: vec![account("001O", "other.com")],
            ..Default::default()
        },
        &s,
    );
    assert_eq!(p.writes[0].object, SObject::Lead);
    assert_eq!(
        p.reports[0].warnings,
        vec![Warning::NoAccountForDomain {
            domain: "example.com".into()
        }]
    );
}

#[test]
fn newest_evaluation_in_batch_wins() {
    let batch = [
        ev("old", "a@x.com", "cold", "2026-11-28T08:00:00Z"),
        ev("new", "A@X.com", "hot", "2026-11-28T09:00:00Z"),
        ev("older", "a@x.com", "warm", "2026-11-27T09:00:00Z"),
    ];
    let p = run(
        &batch,
        Lookup {
            contacts: vec![contact("003A", "a@x.com", None)],
            ..Default::default()
        },
        &settings(),
    );
    assert_eq!(p.writes.len(), 1);
    assert_eq!(p.writes[0].fields[SCORE], json!("hot"));
    for i in [0, 2] {
        assert_eq!(p.reports[i].outcome, Outcome::Superseded);
        assert_eq!(p.reports[i].reason, Some(Reason::NewerEvaluationInBatch));
    }
    assert_eq!(p.reports[1].outcome, Outcome::Updated);
}

#[test]
fn same_record_reached_through_two_emails_is_written_once() {
    let converted = lead_with(
        "00QC",
        "old@x.com",
        json!({"IsConverted": true, "ConvertedContactId": "003A"}),
    );
    let batch = [
        ev("e1", "old@x.com", "cold", "2026-11-28T08:00:00Z"),
        ev("e2", "a@x.com", "hot", "2026-11-28T09:00:00Z"),
    ];
    let p = run(
        &batch,
        Lookup {
            contacts: vec![contact("003A", "a@x.com", None)],
            leads: vec![converted],
            ..Default::default()
        },
        &settings(),
    );
    assert_eq!(p.writes.len(), 1);
    assert_eq!(p.writes[0].evaluation, 1);
    assert_eq!(p.reports[0].outcome, Outcome::Superseded);
    assert_eq!(p.reports[0].reason, Some(Reason::NewerEvaluationInBatch));
}

#[test]
fn newer_evaluation_in_salesforce_wins() {
    let c = contact_with(
        "003A",
        "a@x.com",
        None,
        json!({DATE: "2026-11-29T00:00:00.000+0000", SCORE: "cold"}),
    );
    let p = run(
        &[ev("e1", "a@x.com", "hot", T)],
        Lookup {
            contacts: vec![c],
            ..Default::default()
        },
        &settings(),
    );
    assert!(p.writes.is_empty());
    assert_eq!(p.reports[0].outcome, Outcome::Superseded);
    assert_eq!(
        p.reports[0].reason,
        Some(Reason::NewerEvaluationInSalesforce)
    );
}

#[test]
fn unchanged_when_every_mapped_value_already_equal_comparing_instants() {
    let c = contact_with(
        "003A",
        "a@x.com",
        Some("001A"),
        json!({DATE: "2026-11-28T09:15:00.000+0000", SCORE: "hot", REASON: "because", "Account": {PROP: "high_propensity"}}),
    );
    let e = ev_prop("e1", "a@x.com", "2026-11-28T10:15:00+01:00", "high");
    let p = run(
        &[e],
        Lookup {
            contacts: vec![c],
            ..Default::default()
        },
        &settings(),
    );
    assert!(p.writes.is_empty(), "{:?}", p.writes);
    assert_eq!(p.reports[0].outcome, Outcome::Unchanged);
}

#[test]
fn changed_account_only_is_an_update() {
    let c = contact_with(
        "003A",
        "a@x.com",
        Some("001A"),
        json!({DATE: "2026-11-28T09:15:00.000+0000", SCORE: "hot", REASON: "because", "Account": {PROP: "low_propensity"}}),
    );
    let p = run(
        &[ev_prop("e1", "a@x.com", T, "high")],
        Lookup {
            contacts: vec![c],
            ..Default::default()
        },
        &settings(),
    );
    assert_eq!(targets(&p, 0), vec![t("Account", "001A")]);
    assert_eq!(p.reports[0].outcome, Outcome::Updated);
}

#[test]
fn object_not_mapped_is_skipped() {
    let mut s = settings();
    s.lead = ObjectMapping::default();
    s.propensity.lead_field = None;
    let p = run(
        &[ev("e1", "a@x.com", "hot", T)],
        Lookup {
            leads: vec![lead("00QA", "a@x.com")],
            ..Default::default()
        },
        &s,
    );
    assert!(p.writes.is_empty());
    assert_eq!(p.reports[0].outcome, Outcome::Skipped);
    assert_eq!(p.reports[0].reason, Some(Reason::ObjectNotMapped));
}

#[test]
fn missing_field_fails_without_writing() {
    let mut s = settings();
    s.contact.score_field = Some("Nope__c".into());
    let p = run(
        &[ev("e1", "a@x.com", "hot", T)],
        Lookup {
            contacts: vec![contact("003A", "a@x.com", None)],
            ..Default::default()
        },
        &s,
    );
    assert!(p.writes.is_empty());
    let err = p.reports[0].error.as_ref().unwrap();
    assert_eq!(p.reports[0].outcome, Outcome::Failed);
    assert_eq!(err.code, "INVALID_FIELD");
    assert!(err.message.contains("Nope__c"));
    assert!(err.hint.contains("field-level security"));
}

#[test]
fn field_names_use_describe_casing() {
    let mut s = settings();
    s.contact.score_field = Some("trailspark_score__c".into());
    let p = run(
        &[ev("e1", "a@x.com", "hot", T)],
        Lookup {
            contacts: vec![contact("003A", "a@x.com", None)],
            ..Default::default()
        },
        &s,
    );
    assert!(p.writes[0].fields.contains_key(SCORE));
}

#[test]
fn contacts_of_one_account_share_a_lock_family() {
    let batch = [
        ev("e1", "a@x.com", "hot", T),
        ev("e2", "b@x.com", "hot", T),
        ev("e3", "c@x.com", "hot", T),
    ];
    let lookup = Lookup {
        contacts: vec![
            contact("003A", "a@x.com", Some("001A")),
            contact("003B", "b@x.com", Some("001A")),
        ],
        leads: vec![lead("00QC", "c@x.com")],
        ..Default::default()
    };
    let p = run(&batch, lookup, &settings());
    let fam: Vec<_> = p.writes.iter().map(|w| w.family.as_str()).collect();
    assert_eq!(fam, ["001A", "001A", "00QC"]);
}

mod person_key {
    //! With the person-key field (docs/product.md#the-person-key): creates carry the key,
    //! updates set it where it is empty, and nothing changes without the field.

    use super::*;
    use crate::setup::PERSON_KEY_FIELD as KEY;
    use crate::testing::metadata_with_person_key;

    fn keyed(batch: &[Evaluation], lookup: Lookup, s: &DestinationSettings) -> Plan {
        plan(batch, &lookup, s, &metadata_with_person_key())
    }

    fn creating() -> DestinationSettings {
        let mut s = settings();
        s.create_records.enabled = true;
        s
    }

    #[test]
    fn a_create_carries_the_normalized_email_as_its_key() {
        let p = keyed(
            &[ev("e1", "New.Person@X.com", "hot", T)],
            Lookup::default(),
            &creating(),
        );
        let w = &p.writes[0];
        assert_eq!((w.object, w.action), (SObject::Lead, WriteAction::Create));
        assert_eq!(w.fields[KEY], json!("new.person@x.com"));
        assert_eq!(
            w.fields["Email"],
            json!("New.Person@X.com"),
            "the email as given"
        );
        assert_eq!(p.reports[0].outcome, Outcome::Created);
        assert_eq!(
            p.reports[0].writes[0].fields[KEY],
            json!("new.person@x.com")
        );
    }

    #[test]
    fn without_the_field_a_create_has_no_key() {
        let p = run(
            &[ev("e1", "new@x.com", "hot", T)],
            Lookup::default(),
            &creating(),
        );
        assert!(!p.writes[0].fields.contains_key(KEY));
    }

    #[test]
    fn an_email_longer_than_the_key_field_is_a_plain_create() {
        // Ingest refuses emails over 80 characters, but an admin may have made the key
        // field shorter than that.
        let mut m = metadata_with_person_key();
        for om in [&mut m.lead, &mut m.contact] {
            let fields = om
                .fields()
                .cloned()
                .map(|f| {
                    if f.name == KEY {
                        crate::FieldMeta { length: 20, ..f }
                    } else {
                        f
                    }
                })
                .collect();
            *om = ObjectMeta::new(fields);
        }
        let long = format!("{}@{}.com", "a".repeat(10), "b".repeat(10));
        let p = plan(
            &[ev("e1", &long, "hot", T)],
            &Lookup::default(),
            &creating(),
            &m,
        );
        assert!(!p.writes[0].fields.contains_key(KEY));
    }

    #[test]
    fn an_update_sets_an_empty_key_only_when_it_writes_anyway() {
        let s = settings();
        let batch = [ev("e1", "ada@x.com", "hot", T)];
        // Written: the key rides along.
        let p = keyed(
            &batch,
            Lookup {
                leads: vec![lead("00Q1", "ada@x.com")],
                ..Default::default()
            },
            &s,
        );
        assert_eq!(p.writes[0].fields[KEY], json!("ada@x.com"));
        // Unchanged: no write, so no call just for the key.
        let same = lead_with(
            "00Q1",
            "ada@x.com",
            json!({SCORE: "hot", DATE: "2026-11-28T09:15:00.000+0000", REASON: "because"}),
        );
        let p = keyed(
            &batch,
            Lookup {
                leads: vec![same],
                ..Default::default()
            },
            &s,
        );
        assert!(p.writes.is_empty());
        assert_eq!(p.reports[0].outcome, Outcome::Unchanged);
        // Already keyed: not sent again.
        let keyed_lead = lead_with("00Q1", "ada@x.com", json!({KEY: "ada@x.com"}));
        let p = keyed(
            &batch,
            Lookup {
                leads: vec![keyed_lead],
                ..Default::default()
            },
            &s,
        );
        assert!(!p.writes[0].fields.contains_key(KEY));
    }

    #[test]
    fn duplicates_written_together_get_no_key_and_a_keyed_one_keeps_it_alone() {
        let mut s = settings();
        s.duplicates = DuplicatePolicy::All;
        let batch = [ev("e1", "ada@x.com", "hot", T)];
        let two = Lookup {
            leads: vec![lead("00Q1", "ada@x.com"), lead("00Q2", "ada@x.com")],
            ..Default::default()
        };
        let p = keyed(&batch, two, &s);
        assert_eq!(p.writes.len(), 2);
        assert!(
            p.writes.iter().all(|w| !w.fields.contains_key(KEY)),
            "a unique key fits one record"
        );

        s.duplicates = DuplicatePolicy::MostRecent;
        let mut newer = lead_with("00Q2", "ada@x.com", json!({KEY: "ada@x.com"}));
        newer.last_modified = None;
        let p = keyed(
            &batch,
            Lookup {
                leads: vec![lead("00Q1", "ada@x.com"), newer],
                ..Default::default()
            },
            &s,
        );
        assert!(
            p.writes.iter().all(|w| !w.fields.contains_key(KEY)),
            "another Lead holds the key"
        );
    }

    #[test]
    fn a_converted_lead_holding_the_key_makes_the_create_plain() {
        let converted = lead_with(
            "00Q1",
            "ada@x.com",
            json!({"IsConverted": true, "ConvertedContactId": "003gone", KEY: "ada@x.com"}),
        );
        let p = keyed(
            &[ev("e1", "ada@x.com", "hot", T)],
            Lookup {
                leads: vec![converted],
                ..Default::default()
            },
            &creating(),
        );
        assert_eq!(p.writes[0].action, WriteAction::Create);
        assert!(!p.writes[0].fields.contains_key(KEY));
    }
}

mod invariants {
    //! Properties every plan has, whatever the batch and the org hold.

    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    fn emails() -> Vec<String> {
        (0..6).map(|i| format!("p{i}@x.com")).collect()
    }

    prop_compose! {
        fn evaluation()(e in 0usize..6, s in 0usize..3, minute in 0u32..5, prop in 0usize..4) -> Evaluation {
            let score = ["hot", "warm", "cold"][s];
            let email = emails()[e].clone();
            let mut v = json!({"id": format!("e{e}-{minute}-{s}"), "email": email, "score": score,
                "reasoning": "r", "evaluated_at": format!("2026-11-28T09:0{minute}:00Z")});
            if prop < 3 {
                let p = ["high", "medium", "low"][prop];
                v["propensity"] = json!(p);
            }
            Evaluation::parse_json(&v).unwrap()
        }
    }

    prop_compose! {
        fn org()(contacts in proptest::collection::vec((0usize..6, 0usize..3), 0..8),
                 leads in proptest::collection::vec((0usize..6, any::<bool>(), 0usize..8), 0..8)) -> Lookup {
            let contacts: Vec<ContactRow> = contacts.iter().enumerate()
                .map(|(i, (e, a))| contact(&format!("003C{i}"), &emails()[*e], (*a > 0).then(|| format!("001A{a}")).as_deref()))
                .collect();
            let leads = leads.iter().enumerate().map(|(i, (e, converted, target))| {
                if *converted {
                    lead_with(&format!("00QL{i}"), &emails()[*e], json!({"IsConverted": true, "ConvertedContactId": format!("003C{target}")}))
                } else {
                    lead(&format!("00QL{i}"), &emails()[*e])
                }
            }).collect();
            Lookup { contacts, leads, accounts: vec![] }
        }
    }

    proptest! {
        #[test]
        fn every_evaluation_gets_one_report_and_no_record_is_written_twice(
            batch in proptest::collection::vec(evaluation(), 0..12),
            lookup in org(),
            both in any::<bool>(),
            policy in 0usize..3,
            create in any::<bool>(),
        ) {
            let mut s = settings();
            s.person_match = if both { PersonMatch::Both } else { PersonMatch::ContactFirst };
            s.duplicates = [DuplicatePolicy::All, DuplicatePolicy::MostRecent, DuplicatePolicy::Skip][policy];
            s.create_records.enabled = create;
            let p = plan(&batch, &lookup, &s, &meta());
            prop_assert_eq!(p.reports.len(), batch.len());
            let mut seen = HashSet::new();
            for w in &p.writes {
                if let Some(id) = &w.id {
                    prop_assert!(seen.insert(id.clone()), "{} written twice", id);
                    prop_assert!(!id.starts_with("00QL") || lookup.leads.iter().any(|l| &l.id == id && !l.is_converted), "converted lead written");
                }
            }
            for (i, r) in p.reports.iter().enumerate() {
                prop_assert_eq!(&r.id, batch[i].id.as_str());
                let wrote = !r.writes.is_empty();
                prop_assert_eq!(wrote, matches!(r.outcome, Outcome::Updated | Outcome::Created));
                if matches!(r.outcome, Outcome::Skipped | Outcome::Superseded) {
                    prop_assert!(r.reason.is_some());
                }
            }
            // With the person key: every keyed create carries its person's normalized
            // email, and no key value goes to two records of one object.
            let keyed = plan(&batch, &lookup, &s, &crate::testing::metadata_with_person_key());
            prop_assert_eq!(keyed.writes.len(), p.writes.len(), "the key adds no write");
            let mut keys = HashSet::new();
            for w in &keyed.writes {
                let key = w.fields.get(crate::setup::PERSON_KEY_FIELD);
                if w.action == WriteAction::Create {
                    prop_assert_eq!(key, Some(&json!(batch[w.evaluation].email.normalized())));
                }
                if let Some(k) = key {
                    prop_assert!(keys.insert((w.object, k.clone())), "key {} set twice", k);
                }
            }
            // At most one evaluation per person is written: the newest.
            let mut people = HashSet::new();
            for (i, r) in p.reports.iter().enumerate() {
                if !r.writes.is_empty() {
                    prop_assert!(people.insert(batch[i].email.normalized().to_string()));
                }
            }
        }
    }
}
