//! Writes carrying creates are never resent after an ambiguous failure (the records may
//! already exist); update-only writes are idempotent and still retried.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use salesforce::{Client, CollectionWrite, ErrorClass, Record, WriteAction, WriteOptions};
use serde_json::{Value, json};

use crate::fake::{Fake, Reply, composite_reply};

fn record(v: Value) -> Record {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

fn create_op() -> CollectionWrite {
    CollectionWrite {
        action: WriteAction::Create,
        records: vec![record(
            json!({"attributes": {"type": "Lead"}, "LastName": "Ada", "Company": "Acme", "Email": "ada@x.com"}),
        )],
    }
}

fn update_op() -> CollectionWrite {
    CollectionWrite {
        action: WriteAction::Update,
        records: vec![record(
            json!({"attributes": {"type": "Lead"}, "Id": "00Q5e00000AbCdEEAV", "TrailSpark_Score__c": "hot"}),
        )],
    }
}

/// A client whose data calls time out: the fake answers after 300 ms, the client gives up
/// after 100 ms (the request reached the server: an ambiguous failure).
async fn timing_out() -> (Fake, Client) {
    let fake = Fake::start(composite_reply).await;
    let mut cfg = fake.config();
    cfg.timeout = Duration::from_millis(100);
    let client = Client::connect(cfg).await.unwrap();
    fake.set_data_delay(Duration::from_millis(300));
    (fake, client)
}

#[tokio::test]
async fn timed_out_create_is_sent_once_and_fails_as_retryable() {
    let (fake, client) = timing_out().await;
    let err = client
        .write_many(vec![create_op(), update_op()], WriteOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Retryable, "{err}");
    assert!(err.is_ambiguous(), "{err}");
    assert_eq!(fake.data_requests().len(), 1, "a create is never resent");
}

#[tokio::test]
async fn timed_out_update_is_retried() {
    let (fake, client) = timing_out().await;
    let err = client
        .write_many(vec![update_op()], WriteOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Retryable, "{err}");
    // max_attempts is 4 in the fake's config.
    assert_eq!(fake.data_requests().len(), 4, "updates are idempotent");
}

/// HTTP 500 on the first Composite request, then normal answers.
async fn first_composite_500() -> (Fake, Client) {
    let n = Arc::new(AtomicU32::new(0));
    let fake = Fake::start(move |c| {
        if n.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::json(
                500,
                json!([{"errorCode": "UNKNOWN_EXCEPTION", "message": "An unexpected error occurred"}]),
            )
        } else {
            composite_reply(c)
        }
    })
    .await;
    let client = Client::connect(fake.config()).await.unwrap();
    (fake, client)
}

#[tokio::test]
async fn create_answered_500_is_not_resent() {
    let (fake, client) = first_composite_500().await;
    let err = client
        .write_many(vec![create_op()], WriteOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(500));
    assert_eq!(err.class(), ErrorClass::Retryable);
    assert_eq!(fake.data_requests().len(), 1);
}

#[tokio::test]
async fn update_answered_500_is_retried_and_succeeds() {
    let (fake, client) = first_composite_500().await;
    let results = client
        .write_many(vec![update_op()], WriteOptions::default())
        .await
        .unwrap();
    assert!(results[0].as_ref().unwrap()[0].success);
    assert_eq!(fake.data_requests().len(), 2);
}

#[tokio::test]
async fn create_answered_503_is_retried_and_succeeds() {
    let n = Arc::new(AtomicU32::new(0));
    let fake = Fake::start(move |c| {
        if n.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::json(
                503,
                json!([{"errorCode": "SERVER_UNAVAILABLE", "message": "try later"}]),
            )
        } else {
            composite_reply(c)
        }
    })
    .await;
    let client = Client::connect(fake.config()).await.unwrap();
    let results = client
        .write_many(vec![create_op()], WriteOptions::default())
        .await
        .unwrap();
    assert!(results[0].as_ref().unwrap()[0].success);
    assert_eq!(
        fake.data_requests().len(),
        2,
        "a 503 means nothing was processed"
    );
}
