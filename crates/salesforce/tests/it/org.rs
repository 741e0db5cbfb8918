//! End to end against the emulated org (`sfsim::start`): the org's own control plane
//! counts the calls, injects faults and shows the records written.

use std::sync::Arc;
use std::time::Duration;

use salesforce::{
    Client, ClientConfig, CollectionWrite, ErrorClass, FieldType, LoginUrl, Record, RetryPolicy,
    SecretString, TokenSource, WriteAction, WriteOptions,
};
use serde_json::{Value, json};
use sfsim::RunningOrg;

async fn org() -> RunningOrg {
    sfsim::start(sfsim::Options::default())
        .await
        .expect("emulated org starts")
}

fn config(org: &RunningOrg) -> ClientConfig {
    let mut cfg = ClientConfig::new(TokenSource::RefreshToken {
        login_url: LoginUrl::parse(org.url()).unwrap(),
        client_id: org.client_id().to_owned(),
        client_secret: Some(SecretString::from(org.client_secret().to_owned())),
        refresh_token: SecretString::from(org.refresh_token()),
    });
    cfg.retry = RetryPolicy {
        max_attempts: 5,
        backoff: domain::Backoff::new(Duration::from_millis(5), Duration::from_millis(40)),
    };
    cfg
}

async fn connect(org: &RunningOrg) -> Client {
    Client::connect(config(org))
        .await
        .expect("connects with the org's refresh token")
}

fn record(v: Value) -> Record {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

/// Inserts `n` leads of company `company` through the control plane (no API calls).
fn insert_leads(org: &RunningOrg, company: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            org.control()
                .insert("Lead", json!({"LastName": format!("Lead {i}"), "Company": company, "Email": format!("{company}.{i}@example.com").to_lowercase()}))
                .expect("insert lead")
        })
        .collect()
}

#[tokio::test]
async fn connects_and_knows_who_it_is() {
    let org = org().await;
    let client = connect(&org).await;
    let me = client.identity().await.unwrap();
    assert_eq!(me.username, org.username());
    assert_eq!(client.instance_url(), org.url());
}

#[tokio::test]
async fn describe_is_cached_and_revalidated_with_304() {
    let org = org().await;
    let client = connect(&org).await;
    let lead = client.describe("Lead").await.unwrap();
    let score = lead
        .field("TrailSpark_Score__c")
        .expect("custom score field");
    assert_eq!(score.field_type, FieldType::String);
    assert_eq!(score.length, 255);
    assert!(score.custom && score.updateable);
    let reasoning = lead.field("TrailSpark_Reasoning__c").unwrap();
    assert_eq!(reasoning.field_type, FieldType::TextArea);
    assert_eq!(reasoning.length, 131_072);
    assert!(lead.field("LastName").unwrap().required_on_create());

    let again = client.describe("Lead").await.unwrap();
    assert!(Arc::ptr_eq(&lead, &again));
    let refreshed = client.describe_refresh("Lead").await.unwrap();
    assert!(
        Arc::ptr_eq(&lead, &refreshed),
        "unchanged metadata: 304 keeps the cached describe"
    );
    let describes: Vec<u16> = org
        .control()
        .calls()
        .iter()
        .filter(|c| c.kind == sfsim::control::CallKind::Describe)
        .map(|c| c.status)
        .collect();
    assert_eq!(describes, [200, 304]);
}

#[tokio::test]
async fn query_follows_pages() {
    let org = org().await;
    let ids = insert_leads(&org, "Pagecorp", 2_150);
    let client = connect(&org).await;
    let records = client
        .query("SELECT Id, Email FROM Lead WHERE Company = 'Pagecorp'")
        .await
        .unwrap();
    assert_eq!(records.len(), ids.len());
    let mut got: Vec<&str> = records.iter().map(|r| r["Id"].as_str().unwrap()).collect();
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want);
    let counters = org.control().counters();
    assert_eq!(counters.get(&sfsim::control::CallKind::Query), Some(&1));
    assert!(
        counters
            .get(&sfsim::control::CallKind::QueryMore)
            .copied()
            .unwrap_or(0)
            >= 1
    );
    assert_eq!(
        client.calls_made(),
        1 + counters[&sfsim::control::CallKind::QueryMore]
    );
}

#[tokio::test]
async fn query_many_packs_twelve_queries_into_three_composite_calls() {
    let org = org().await;
    insert_leads(&org, "Twelve", 12);
    let client = connect(&org).await;
    let soqls: Vec<String> = (0..12)
        .map(|i| {
            format!(
                "SELECT Id, Email FROM Lead WHERE Email = '{}'",
                salesforce::escape_soql_literal(&format!("twelve.{i}@example.com"))
            )
        })
        .collect();
    let before = org.control().api_calls_counted();
    let results = client.query_many(&soqls).await.unwrap();
    assert_eq!(
        org.control().api_calls_counted() - before,
        3,
        "12 queries, 5 per Composite request"
    );
    assert_eq!(client.calls_made(), 3);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.len(), 1, "query {i}");
        assert_eq!(
            r[0]["Email"],
            format!("twelve.{i}@example.com"),
            "results in input order"
        );
    }
}

#[tokio::test]
async fn query_many_follows_pages_inside_composite() {
    let org = org().await;
    insert_leads(&org, "Bigpage", 2_050);
    insert_leads(&org, "Small", 3);
    let client = connect(&org).await;
    let r = client
        .query_many(&[
            "SELECT Id FROM Lead WHERE Company = 'Bigpage'".into(),
            "SELECT Id FROM Lead WHERE Company = 'Small'".into(),
        ])
        .await
        .unwrap();
    assert_eq!(r[0].len(), 2_050);
    assert_eq!(r[1].len(), 3);
    assert_eq!(
        client.calls_made(),
        2,
        "the second page went in a second Composite request"
    );
}

#[tokio::test]
async fn write_many_creates_and_updates_with_a_per_record_failure() {
    let org = org().await;
    let existing = insert_leads(&org, "Writeco", 1).remove(0);
    let client = connect(&org).await;
    let ops = vec![
        CollectionWrite {
            action: WriteAction::Create,
            records: vec![
                record(
                    json!({"attributes": {"type": "Lead"}, "LastName": "New", "Company": "Writeco", "Email": "new@writeco.example", "TrailSpark_Score__c": "hot"}),
                ),
                // LastName is required on create.
                record(
                    json!({"attributes": {"type": "Lead"}, "Company": "Writeco", "Email": "nameless@writeco.example"}),
                ),
            ],
        },
        CollectionWrite {
            action: WriteAction::Update,
            records: vec![record(
                json!({"attributes": {"type": "Lead"}, "Id": existing, "TrailSpark_Score__c": "warm"}),
            )],
        },
    ];
    let before = org.control().api_calls_counted();
    let results = client
        .write_many(ops, WriteOptions::default())
        .await
        .unwrap();
    assert_eq!(
        org.control().api_calls_counted() - before,
        1,
        "both collections in one Composite request"
    );
    let created = results[0].as_ref().unwrap();
    assert!(created[0].success);
    let new_id = created[0].id.clone().unwrap();
    assert!(new_id.starts_with("00Q"));
    assert!(!created[1].success && created[1].id.is_none());
    assert_eq!(created[1].errors[0].status_code, "REQUIRED_FIELD_MISSING");
    assert!(results[1].as_ref().unwrap()[0].success);
    assert_eq!(
        org.control().record(&new_id).unwrap()["TrailSpark_Score__c"],
        "hot"
    );
    assert_eq!(
        org.control().record(&existing).unwrap()["TrailSpark_Score__c"],
        "warm"
    );
}

#[tokio::test]
async fn a_locked_record_is_a_per_record_result_not_a_client_retry() {
    let org = org().await;
    let id = insert_leads(&org, "Lockco", 1).remove(0);
    org.control().lock_records(&[id.as_str()], Some(1));
    let client = connect(&org).await;
    let ops = vec![CollectionWrite {
        action: WriteAction::Update,
        records: vec![record(
            json!({"attributes": {"type": "Lead"}, "Id": id, "TrailSpark_Score__c": "cold"}),
        )],
    }];
    let r = client
        .write_many(ops, WriteOptions::default())
        .await
        .unwrap();
    let result = &r[0].as_ref().unwrap()[0];
    assert!(!result.success);
    assert_eq!(result.errors[0].status_code, "UNABLE_TO_LOCK_ROW");
    assert_eq!(client.calls_made(), 1);
}

#[tokio::test]
async fn expired_session_is_refreshed_once_for_ten_concurrent_requests() {
    let org = org().await;
    let client = connect(&org).await;
    org.control().expire_tokens();
    let tasks = (0..10).map(|i| {
        let c = client.clone();
        tokio::spawn(async move {
            c.query(&format!(
                "SELECT Id FROM Lead WHERE Email = 'nobody{i}@example.com'"
            ))
            .await
        })
    });
    for t in futures::future::join_all(tasks).await {
        t.unwrap()
            .expect("query succeeds after the transparent refresh");
    }
    assert_eq!(client.call_counts().token, 2, "connect + one refresh");
}

#[tokio::test]
async fn a_burst_of_503_is_retried() {
    let org = org().await;
    let client = connect(&org).await;
    org.control().fail_next_calls(3);
    let r = client
        .query_many(&["SELECT Id FROM Lead LIMIT 1".into()])
        .await
        .unwrap();
    assert_eq!(r[0].len(), 1);
    assert_eq!(client.calls_made(), 4, "3 failures then success");
}

#[tokio::test]
async fn responses_are_counted_by_kind_and_status() {
    let org = org().await;
    let client = connect(&org).await;
    let before = client.calls_by_status();
    org.control().fail_next_calls(1);
    client.query("SELECT Id FROM Lead LIMIT 1").await.unwrap();
    let after = client.calls_by_status();
    let delta = |k: (&'static str, u16)| {
        after.get(&k).copied().unwrap_or(0) - before.get(&k).copied().unwrap_or(0)
    };
    assert_eq!(delta(("query", 503)), 1, "the injected 503: {after:?}");
    assert_eq!(
        delta(("query", 200)),
        1,
        "the retry that succeeded: {after:?}"
    );
    let total: u64 = after.values().sum();
    assert_eq!(total, client.calls_made(), "every data call has one status");
    // Every data call is timed too, under the same kind.
    let timed = client.call_latencies();
    let counted: u64 = timed.values().map(|l| l.count).sum();
    assert_eq!(counted, client.calls_made(), "{timed:?}");
    let query = &timed["query"];
    assert_eq!(query.buckets.iter().sum::<u64>(), query.count);
    assert!(query.count >= 2 && query.sum_seconds > 0.0, "{query:?}");
}

#[tokio::test]
async fn a_call_without_response_counts_as_transport_error() {
    // Once the org is gone its port refuses connections: calls get no HTTP status.
    let org = org().await;
    let client = connect(&org).await;
    org.shutdown().await;
    let err = client
        .query("SELECT Id FROM Lead LIMIT 1")
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Retryable, "{err}");
    let by_status = client.calls_by_status();
    assert_eq!(
        by_status
            .get(&("query", salesforce::TRANSPORT_ERROR_STATUS))
            .copied(),
        Some(client.calls_made()),
        "{by_status:?}"
    );
}

#[tokio::test]
async fn daily_limit_gives_limit_exceeded_and_usage_is_tracked() {
    let org = org().await;
    let client = connect(&org).await;
    client.query("SELECT Id FROM Lead LIMIT 1").await.unwrap();
    let usage = client.api_usage().expect("Sforce-Limit-Info seen");
    assert_eq!(usage.max, org.control().daily_limit());
    assert!(usage.used >= 1);
    let limits = client.limits().await.unwrap();
    assert_eq!(
        limits.daily_api_requests().unwrap().max as u64,
        org.control().daily_limit()
    );

    org.control().set_api_used(org.control().daily_limit());
    let err = client
        .query("SELECT Id FROM Lead LIMIT 1")
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some("REQUEST_LIMIT_EXCEEDED"));
    assert_eq!(err.class(), ErrorClass::LimitExceeded);
    let calls = client.calls_made();
    assert!(client.query("SELECT Id FROM Lead LIMIT 1").await.is_err());
    assert_eq!(client.calls_made(), calls + 1, "not retried");
}

#[tokio::test]
async fn duplicate_alert_rule_is_passed_only_with_allow_save() {
    let org = org().await;
    insert_leads(&org, "Dupco", 1);
    let client = connect(&org).await;
    let op = || CollectionWrite {
        action: WriteAction::Create,
        records: vec![record(
            json!({"attributes": {"type": "Lead"}, "LastName": "Again", "Company": "Dupco", "Email": "dupco.0@example.com"}),
        )],
    };
    let blocked = client
        .write_many(vec![op()], WriteOptions::default())
        .await
        .unwrap();
    let r = &blocked[0].as_ref().unwrap()[0];
    assert!(!r.success);
    assert_eq!(r.errors[0].status_code, "DUPLICATES_DETECTED");
    let saved = client
        .write_many(
            vec![op()],
            WriteOptions {
                allow_duplicate_save: true,
            },
        )
        .await
        .unwrap();
    assert!(saved[0].as_ref().unwrap()[0].success, "{saved:?}");
}
