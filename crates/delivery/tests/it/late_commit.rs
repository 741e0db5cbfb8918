//! Creates whose answer is lost while Salesforce commits them anyway (the emulated org's
//! late-commit fault), with and without the person-key field
//! (docs/product.md#the-person-key): with it, no retry, re-delivery or late commit makes a
//! second record for one email.

use std::time::Duration;

use serde_json::json;

use delivery::{DeliverOptions, Destination, after_retry};
use domain::{DestinationSettings, Evaluation, FailureKind, Outcome, WriteAction};
use salesforce::{Client, RetryPolicy};
use sfsim::control::CallKind;

use crate::sim::{client_config, empty_org};

const KEY: &str = "TrailSpark_Person_Key__c";
const EMAIL: &str = "Late.Commit@Example.com";

/// The empty org, with the person key on Lead and Contact when `keyed`.
async fn org(keyed: bool) -> sfsim::RunningOrg {
    let org = empty_org(Duration::ZERO).await;
    if keyed {
        let field = |object: &str| {
            format!(
                "[[fields]]\nobject = \"{object}\"\nname = \"{KEY}\"\ntype = \"string\"\nlength = 80\nexternal_id = true\nunique = true\n"
            )
        };
        org.control()
            .load_scenario_str(&format!("{}{}", field("Lead"), field("Contact")))
            .expect("key fields");
    }
    org
}

async fn destination(org: &sfsim::RunningOrg, retry: RetryPolicy) -> Destination {
    let mut cfg = client_config(org);
    cfg.retry = retry;
    let client = Client::connect(cfg).await.expect("connects");
    let mut s = DestinationSettings::suggested("sim");
    s.create_records.enabled = true;
    Destination::new(s, client).await.expect("destination")
}

fn one_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 2,
        backoff: domain::Backoff::new(Duration::from_millis(5), Duration::from_millis(10)),
    }
}

fn batch() -> Vec<Evaluation> {
    vec![
        Evaluation::parse_json(&json!({"id": "ev-late", "email": EMAIL, "score": "hot",
            "reasoning": "r", "evaluated_at": "2026-11-28T09:15:00Z"}))
        .expect("valid"),
    ]
}

fn leads(org: &sfsim::RunningOrg) -> Vec<serde_json::Value> {
    org.control()
        .query("SELECT Id FROM Lead WHERE Email = 'late.commit@example.com'")
        .expect("query")
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_key_a_create_answered_500_but_committed_is_matched_when_sent_again() {
    let org = org(true).await;
    let dest = destination(&org, one_retry()).await;
    dest.metadata().await.expect("described");
    let ctl = org.control();
    ctl.clear_calls();
    ctl.commit_late(1, Duration::ZERO);
    let r = &dest.deliver(&batch(), DeliverOptions::default()).await[0];
    let found = leads(&org);
    assert_eq!(found.len(), 1, "one Lead for one email");
    // The upsert was sent again after the 500 and matched the committed Lead; the
    // evaluation created it.
    assert_eq!(r.outcome, Outcome::Created, "{r:?}");
    assert_eq!(r.writes[0].action, WriteAction::Create);
    assert_eq!(
        r.writes[0].id.as_ref(),
        found[0]["Id"].as_str().map(String::from).as_ref()
    );
    assert_eq!(r.writes[0].fields[KEY], "late.commit@example.com");
    let upserts = ctl
        .calls()
        .iter()
        .filter(|c| c.kind == CallKind::CollectionsUpsert)
        .count();
    assert_eq!(upserts, 2, "sent, answered 500, sent again");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_key_a_commit_landing_after_the_redelivery_still_makes_one_record() {
    let org = org(true).await;
    let dest = destination(&org, RetryPolicy::none()).await;
    org.control().commit_late(1, Duration::from_millis(400));
    let first = dest.deliver(&batch(), DeliverOptions::default()).await;
    assert_eq!(first[0].outcome, Outcome::Failed);
    assert!(first[0].error.as_ref().unwrap().transient);
    assert!(leads(&org).is_empty(), "not committed yet");
    // Delivered again before the commit lands: the look-up misses it, the upsert creates.
    let second = dest.deliver(&batch(), DeliverOptions::default()).await;
    assert_eq!(second[0].outcome, Outcome::Created);
    tokio::time::sleep(Duration::from_millis(800)).await;
    // The late upsert matched the record the second one made.
    assert_eq!(leads(&org).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_key_a_commit_landing_after_the_redelivery_makes_a_second_record() {
    // What the key prevents: the look-up-again rule cannot see a commit still to come.
    let org = org(false).await;
    let dest = destination(&org, RetryPolicy::none()).await;
    org.control().commit_late(1, Duration::from_millis(400));
    let first = dest.deliver(&batch(), DeliverOptions::default()).await;
    assert_eq!(
        first[0].error.as_ref().map(|e| e.kind),
        Some(FailureKind::AmbiguousCreate)
    );
    let second = dest.deliver(&batch(), DeliverOptions::default()).await;
    assert_eq!(second[0].outcome, Outcome::Created);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(leads(&org).len(), 2, "two Leads for one email");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redelivery_that_finds_the_lost_create_reports_created() {
    for keyed in [false, true] {
        let org = org(keyed).await;
        let dest = destination(&org, RetryPolicy::none()).await;
        org.control().commit_late(1, Duration::ZERO);
        let first = dest.deliver(&batch(), DeliverOptions::default()).await;
        assert_eq!(first[0].outcome, Outcome::Failed, "keyed: {keyed}");
        // The next attempt finds the committed Lead holding every value: on its own it
        // reads `unchanged`; after the lost create it is what the evaluation created.
        let second = dest.deliver(&batch(), DeliverOptions::default()).await;
        assert_eq!(second[0].outcome, Outcome::Unchanged, "keyed: {keyed}");
        let r = after_retry(first[0].clone(), second[0].clone());
        assert_eq!(r.outcome, Outcome::Created, "keyed: {keyed}");
        assert_eq!(r.writes[0].action, WriteAction::Create);
        assert!(!r.writes[0].failed);
        assert_eq!(leads(&org).len(), 1, "keyed: {keyed}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_deliveries_of_one_person_make_one_record_with_the_key() {
    let org = org(true).await;
    let a = destination(&org, one_retry()).await;
    let b = destination(&org, one_retry()).await;
    // Both look up before either writes (latency holds the look-ups in flight together).
    org.control().set_extra_latency(Duration::from_millis(50));
    let evaluations = batch();
    let (ra, rb) = tokio::join!(
        a.deliver(&evaluations, DeliverOptions::default()),
        b.deliver(&evaluations, DeliverOptions::default())
    );
    assert_eq!(leads(&org).len(), 1, "{ra:?} {rb:?}");
    assert!(ra[0].outcome == Outcome::Created && rb[0].outcome == Outcome::Created);
}
