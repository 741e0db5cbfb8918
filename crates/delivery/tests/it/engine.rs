//! The engine against the emulated org: lock-safe grouping under concurrency, whole-batch
//! failures that never lose an evaluation, metadata caching, limits.

use std::time::Duration;

use serde_json::json;

use delivery::{DeliverOptions, Destination};
use domain::{DestinationSettings, Evaluation, Outcome};
use salesforce::{Client, ClientConfig, RetryPolicy, SecretString, TokenSource};
use sfsim::control::CallKind;

use crate::sim::{client_config, empty_org};

async fn destination(org: &sfsim::RunningOrg, retry: RetryPolicy) -> Destination {
    let mut cfg = client_config(org);
    cfg.retry = retry;
    let client = Client::connect(cfg).await.expect("connects");
    Destination::new(DestinationSettings::suggested("sim"), client)
        .await
        .expect("destination")
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 2,
        backoff: domain::Backoff::new(Duration::from_millis(5), Duration::from_millis(10)),
    }
}

fn ev(i: usize, email: &str) -> Evaluation {
    Evaluation::parse_json(
        &json!({"id": format!("ev-{i}"), "email": email, "score": "hot", "reasoning": "r",
        "evaluated_at": "2026-11-28T09:15:00Z", "propensity": "high"}),
    )
    .expect("valid")
}

#[tokio::test(flavor = "multi_thread")]
async fn contacts_of_one_account_never_contend_for_its_lock() {
    let org = empty_org(Duration::from_millis(30)).await;
    let ctl = org.control();
    let mut batch = Vec::new();
    for a in 0..5 {
        let acc = ctl
            .insert("Account", json!({"Name": format!("A{a}")}))
            .expect("account");
        for c in 0..300 {
            let email = format!("c{c}@a{a}.com");
            ctl.insert(
                "Contact",
                json!({"LastName": "X", "Email": email, "AccountId": acc}),
            )
            .expect("contact");
            batch.push(ev(batch.len(), &email));
        }
    }
    // The org answers UNABLE_TO_LOCK_ROW when two in-flight requests write Contacts of one
    // Account; the client's retries are off so any contention would show as a failure.
    ctl.set_row_lock_contention(true);
    let dest = destination(&org, RetryPolicy::none()).await;
    ctl.clear_calls();
    let reports = dest
        .deliver(
            &batch,
            DeliverOptions {
                dry_run: false,
                concurrency: 4,
                lease: None,
            },
        )
        .await;
    let failed: Vec<_> = reports
        .iter()
        .filter(|r| r.outcome != Outcome::Updated)
        .collect();
    assert!(
        failed.is_empty(),
        "{} not updated, e.g. {:?}",
        failed.len(),
        failed.first()
    );
    let composites = ctl
        .calls()
        .iter()
        .filter(|c| c.kind == CallKind::Composite && !c.in_composite)
        .count();
    assert!(
        composites >= 3,
        "writes ran as several concurrent requests ({composites})"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_503_storm_fails_every_evaluation_as_transient_in_order() {
    let org = empty_org(Duration::ZERO).await;
    org.control()
        .insert("Contact", json!({"LastName": "X", "Email": "a@x.com"}))
        .expect("contact");
    let dest = destination(&org, fast_retry()).await;
    org.control().fail_next_calls(1_000);
    let batch = [ev(0, "a@x.com"), ev(1, "nobody@x.com"), ev(2, "a@x.com")];
    let reports = dest.deliver(&batch, DeliverOptions::default()).await;
    assert_eq!(reports.len(), 3);
    for (i, r) in reports.iter().enumerate() {
        assert_eq!(r.id, format!("ev-{i}"));
        assert_eq!(r.outcome, Outcome::Failed);
        let e = r.error.as_ref().expect("error");
        assert!(e.transient, "{e:?}");
        assert!(!e.hint.is_empty());
    }
    // Once the storm passes, the same batch goes through.
    org.control().clear_faults();
    let reports = dest.deliver(&batch, DeliverOptions::default()).await;
    assert_eq!(reports[2].outcome, Outcome::Updated, "{:?}", reports[2]);
}

#[tokio::test(flavor = "multi_thread")]
async fn field_metadata_is_described_once_per_destination() {
    let org = empty_org(Duration::ZERO).await;
    org.control()
        .insert(
            "Lead",
            json!({"LastName": "X", "Company": "Y", "Email": "a@x.com"}),
        )
        .expect("lead");
    let dest = destination(&org, fast_retry()).await;
    org.control().clear_calls();
    for _ in 0..3 {
        dest.deliver(&[ev(0, "a@x.com")], DeliverOptions::default())
            .await;
    }
    let describes = org
        .control()
        .calls()
        .iter()
        .filter(|c| c.kind == CallKind::Describe)
        .count();
    assert_eq!(describes, 3, "Lead, Contact and Account, once");
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_session_is_refreshed_without_failing_anything() {
    let org = empty_org(Duration::ZERO).await;
    org.control()
        .insert("Contact", json!({"LastName": "X", "Email": "a@x.com"}))
        .expect("contact");
    let dest = destination(&org, fast_retry()).await;
    org.control().expire_tokens();
    let reports = dest
        .deliver(&[ev(0, "a@x.com")], DeliverOptions::default())
        .await;
    assert_eq!(reports[0].outcome, Outcome::Updated, "{:?}", reports[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn daily_limit_reached_fails_as_transient_with_the_limit_hint() {
    let org = empty_org(Duration::ZERO).await;
    org.control()
        .insert("Contact", json!({"LastName": "X", "Email": "a@x.com"}))
        .expect("contact");
    let dest = destination(&org, fast_retry()).await;
    org.control().set_daily_limit(10);
    org.control().set_api_used(10);
    let reports = dest
        .deliver(&[ev(0, "a@x.com")], DeliverOptions::default())
        .await;
    let e = reports[0].error.as_ref().expect("failed");
    assert_eq!(e.code, "REQUEST_LIMIT_EXCEEDED");
    assert!(e.transient);
    assert!(e.hint.contains("resumes by itself"));
}

#[tokio::test(flavor = "multi_thread")]
async fn disabled_destination_makes_no_call() {
    let org = empty_org(Duration::ZERO).await;
    let mut cfg = ClientConfig::new(TokenSource::AccessToken {
        instance_url: org.url().to_string(),
        access_token: SecretString::from(org.access_token()),
    });
    cfg.retry = fast_retry();
    let client = Client::connect(cfg).await.expect("client");
    let mut s = DestinationSettings::suggested("sim");
    s.enabled = false;
    let dest = Destination::new(s, client).await.expect("destination");
    org.control().clear_calls();
    let reports = dest
        .deliver(
            &[ev(0, "a@x.com")],
            DeliverOptions {
                dry_run: true,
                concurrency: 1,
                lease: None,
            },
        )
        .await;
    assert_eq!(reports[0].reason, Some(domain::Reason::DestinationDisabled));
    assert!(reports[0].dry_run);
    assert!(org.control().calls().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn deliver_runs_on_a_spawned_task() {
    // The service's workers spawn deliveries: the future must be Send + 'static-friendly.
    let org = empty_org(Duration::ZERO).await;
    let c = org
        .control()
        .insert("Contact", json!({"LastName": "X", "Email": "a@x.com"}))
        .expect("contact");
    let dest = std::sync::Arc::new(destination(&org, fast_retry()).await);
    let task = {
        let dest = dest.clone();
        tokio::spawn(async move {
            dest.deliver(&[ev(0, "a@x.com")], DeliverOptions::default())
                .await
        })
    };
    let reports = task.await.expect("task");
    assert_eq!(reports[0].outcome, Outcome::Updated);
    assert_eq!(
        org.control().record(&c).expect("record")["TrailSpark_Score__c"],
        "hot"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_lease_stops_every_write_request() {
    let org = empty_org(Duration::ZERO).await;
    let ctl = org.control();
    let c = ctl
        .insert("Contact", json!({"LastName": "X", "Email": "a@x.com"}))
        .expect("contact");
    let dest = destination(&org, fast_retry()).await;
    let batch = [ev(0, "a@x.com")];
    // The worker lost its lease while the lookup ran: nothing may be written.
    let guard = delivery::LeaseGuard::until(std::time::Instant::now());
    ctl.clear_calls();
    let reports = dest
        .deliver(
            &batch,
            DeliverOptions {
                lease: Some(guard),
                ..DeliverOptions::default()
            },
        )
        .await;
    assert_eq!(reports.len(), 1, "never loses an evaluation");
    for r in &reports {
        assert_eq!(r.outcome, Outcome::Failed);
        let e = r.error.as_ref().expect("error");
        assert_eq!(
            (e.code.as_str(), e.kind),
            (domain::hints::LEASE_LOST, domain::FailureKind::LeaseLost)
        );
        assert!(e.transient);
    }
    let writes = || {
        ctl.calls()
            .iter()
            .filter(|c| {
                matches!(
                    c.kind,
                    CallKind::CollectionsCreate
                        | CallKind::CollectionsUpdate
                        | CallKind::Create
                        | CallKind::Update
                )
            })
            .count()
    };
    assert_eq!(writes(), 0, "no write request was sent");
    assert!(ctl.record(&c).expect("record")["TrailSpark_Score__c"].is_null());

    // A held lease writes as usual.
    let guard = delivery::LeaseGuard::for_lease(std::time::Instant::now(), Duration::from_secs(60));
    let reports = dest
        .deliver(
            &batch,
            DeliverOptions {
                lease: Some(guard),
                ..DeliverOptions::default()
            },
        )
        .await;
    assert_eq!(reports[0].outcome, Outcome::Updated);
    assert_eq!(
        ctl.record(&c).expect("record")["TrailSpark_Score__c"],
        "hot"
    );
}
