//! Upsert by External ID through sObject Collections, unique fields, and the late-commit
//! fault (docs/salesforce.md#upsert-by-external-id).

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Org, org};

const KEY: &str = "TrailSpark_Person_Key__c";

/// The default org plus a key field on Lead: External ID, and unique unless `unique` is off.
async fn keyed_org(unique: bool, case_sensitive: bool) -> Org {
    let o = org().await;
    o.org
        .control()
        .load_scenario_str(&format!(
            r#"
[[fields]]
object = "Lead"
name = "{KEY}"
type = "string"
length = 80
external_id = true
unique = {unique}
case_sensitive = {case_sensitive}
"#
        ))
        .expect("scenario");
    o
}

fn lead(key: &str, last: &str) -> Value {
    json!({"attributes": {"type": "Lead"}, KEY: key, "LastName": last, "Company": "C",
           "Email": format!("{last}@upsert.example")})
}

async fn upsert(o: &Org, records: Vec<Value>) -> Value {
    let r = o
        .patch(
            &format!("/composite/sobjects/Lead/{KEY}"),
            json!({"allOrNone": false, "records": records}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

fn holding(o: &Org, key: &str) -> Vec<Value> {
    o.org
        .control()
        .query(&format!(
            "SELECT Id, LastName FROM Lead WHERE {KEY} = '{key}'"
        ))
        .unwrap()
}

#[tokio::test]
async fn upsert_creates_then_matches_case_insensitively() {
    let o = keyed_org(true, false).await;
    let first = upsert(&o, vec![lead("ada@x.com", "Ada")]).await;
    assert_eq!(first[0]["success"], true);
    assert_eq!(first[0]["created"], true);
    let id = first[0]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("00Q"));

    // The same key in another case is the same record (External ID text is
    // case-insensitive unless marked case-sensitive): updated, not created.
    let again = upsert(&o, vec![lead("ADA@X.COM", "Lovelace")]).await;
    assert_eq!(
        (&again[0]["id"], &again[0]["created"], &again[0]["errors"]),
        (&json!(id), &json!(false), &json!([]))
    );
    let rows = holding(&o, "ada@x.com");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["LastName"], "Lovelace");
    let calls = o.org.control().calls();
    assert_eq!(calls[0].kind, sfsim::CallKind::CollectionsUpsert);
}

#[tokio::test]
async fn a_case_sensitive_key_tells_cases_apart() {
    let o = keyed_org(true, true).await;
    upsert(&o, vec![lead("Ada", "A")]).await;
    let r = upsert(&o, vec![lead("ada", "B")]).await;
    assert_eq!(r[0]["created"], true);
}

#[tokio::test]
async fn unique_fields_refuse_a_second_record_with_the_value() {
    let o = keyed_org(true, false).await;
    upsert(&o, vec![lead("k1", "One")]).await;
    let r = o
        .post(
            "/composite/sobjects",
            json!({"records": [lead("K1", "Two"), lead("k2", "Three")]}),
        )
        .await;
    assert_eq!(r.body[0]["success"], false);
    assert_eq!(r.body[0]["errors"][0]["statusCode"], "DUPLICATE_VALUE");
    assert!(
        r.body[0]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "duplicate value found: {KEY} duplicates value on record with id: 00Q"
            ))
    );
    assert_eq!(r.body[1]["success"], true);
}

#[tokio::test]
async fn several_matches_of_a_non_unique_key_are_refused() {
    let o = keyed_org(false, false).await;
    let c = o.org.control();
    for last in ["A", "B"] {
        c.insert("Lead", lead("same", last)).unwrap();
    }
    let r = upsert(&o, vec![lead("same", "C")]).await;
    assert_eq!(r[0]["success"], false);
    assert_eq!(r[0]["errors"][0]["statusCode"], "DUPLICATE_EXTERNAL_ID");
    assert!(
        r[0]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("more than one record found for external id field")
    );
    assert_eq!(holding(&o, "same").len(), 2, "nothing created or updated");
}

#[tokio::test]
async fn the_key_must_be_an_external_id_given_once_per_request() {
    let o = keyed_org(true, false).await;
    let r = o
        .patch(
            "/composite/sobjects/Lead/LastName",
            json!({"records": [lead("k", "A")]}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "INVALID_FIELD"));
    assert_eq!(
        r.body[0]["message"],
        "Field name provided, LastName is not an External ID or indexed field for Lead"
    );
    let r = o
        .patch("/composite/sobjects/Lead/Nope__c", json!({"records": []}))
        .await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"));

    let r = upsert(
        &o,
        vec![
            lead("twice", "A"),
            lead("TWICE", "B"),
            json!({"attributes": {"type": "Lead"}, "LastName": "NoKey", "Company": "C"}),
        ],
    )
    .await;
    assert_eq!(r[0]["errors"][0]["statusCode"], "DUPLICATE_VALUE");
    assert_eq!(r[1]["errors"][0]["statusCode"], "DUPLICATE_VALUE");
    assert_eq!(r[2]["errors"][0]["statusCode"], "MISSING_ARGUMENT");
    assert!(holding(&o, "twice").is_empty());
}

#[tokio::test]
async fn upsert_runs_as_a_composite_subrequest() {
    let o = keyed_org(true, false).await;
    let sub = |n: &str| {
        json!({"method": "PATCH", "url": format!("/services/data/v62.0/composite/sobjects/Lead/{KEY}"),
               "referenceId": n, "body": {"allOrNone": false, "records": [lead("sub@x.com", n)]}})
    };
    let r = o
        .post(
            "/composite",
            json!({"allOrNone": false, "compositeRequest": [sub("first"), sub("second")]}),
        )
        .await;
    let subs = r.body["compositeResponse"].as_array().unwrap();
    assert_eq!(subs[0]["body"][0]["created"], true);
    assert_eq!(subs[1]["body"][0]["created"], false);
    assert_eq!(subs[0]["body"][0]["id"], subs[1]["body"][0]["id"]);
}

#[tokio::test]
async fn a_late_commit_answers_500_and_the_write_lands_anyway() {
    let o = keyed_org(true, false).await;
    let c = o.org.control();

    // Committed before the error answer.
    c.commit_late(1, Duration::ZERO);
    let r = o
        .patch(
            &format!("/composite/sobjects/Lead/{KEY}"),
            json!({"records": [lead("late@x.com", "Late")]}),
        )
        .await;
    assert_eq!((r.status, r.code()), (500, "UNKNOWN_EXCEPTION"));
    assert_eq!(holding(&o, "late@x.com").len(), 1);

    // Committed after it: invisible at first, there a moment later.
    c.commit_late(1, Duration::from_millis(300));
    let r = o
        .post(
            "/composite/sobjects",
            json!({"records": [lead("later@x.com", "Later")]}),
        )
        .await;
    assert_eq!(r.status, 500);
    assert!(holding(&o, "later@x.com").is_empty());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(holding(&o, "later@x.com").len(), 1);

    // Reads are not affected, and the fault is used up.
    c.commit_late(1, Duration::ZERO);
    assert_eq!(o.get("/limits").await.status, 200);
    assert_eq!(c.faults().late_commit_next, 1, "a read does not use it");
}
