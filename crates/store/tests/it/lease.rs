//! Leasing: exclusive, oldest first, taken over after expiry, completed by the owner only.

use std::collections::HashSet;
use std::time::Duration;

use domain::Outcome;
use serde_json::json;
use store::{
    CompleteStatus, DeliveryResult, DeliveryState, Disposition, LeasedDelivery, RetryPolicy, Store,
};

use crate::support::{Harness, LEASE, both_backends, eval, seed};

fn done(l: &LeasedDelivery, worker: &str, outcome: Outcome) -> DeliveryResult {
    DeliveryResult {
        id: l.id,
        worker: worker.into(),
        token: l.token,
        disposition: Disposition::Final(outcome),
        report: json!({"outcome": outcome.as_str()}),
        wrote: false,
    }
}

both_backends!(
    every_delivery_is_leased_exactly_once_under_concurrency,
    lease_takes_the_oldest_due_first_and_returns_payloads,
    expired_lease_is_taken_over_and_the_stale_owner_cannot_complete,
    release_makes_deliveries_due_again,
    extend_lease_keeps_others_away,
    final_outcomes_end_the_delivery,
    complete_applies_each_lease_once,
    large_batches_complete_in_one_call,
    each_lease_has_its_own_token_and_only_the_current_one_applies,
    a_stale_result_that_wrote_is_logged_without_moving_the_delivery,
    an_expired_lease_is_not_revived_by_extending_it,
);

async fn every_delivery_is_leased_exactly_once_under_concurrency(h: Harness) {
    seed(h.store.as_ref(), 1000).await;
    // Half the workers use a second connection pool, as a second process would.
    let second = h.reopen().await;
    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = if w % 2 == 0 {
            h.store.clone()
        } else {
            second.clone()
        };
        tasks.push(tokio::spawn(async move {
            let worker = format!("w{w}");
            let mut mine = Vec::new();
            loop {
                let batch = store
                    .lease_batch("salesforce", 37, LEASE, &worker)
                    .await
                    .unwrap();
                if batch.is_empty() {
                    break;
                }
                mine.extend(batch.into_iter().map(|l| l.id));
            }
            mine
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for t in tasks {
        for id in t.await.unwrap() {
            total += 1;
            assert!(seen.insert(id), "delivery {id} leased twice");
        }
    }
    assert_eq!(total, 1000);
    let stats = h.store.queue_stats(None).await.unwrap();
    assert_eq!(stats.by_state[&DeliveryState::Leased], 1000);
    assert_eq!(stats.due, 0);
}

async fn lease_takes_the_oldest_due_first_and_returns_payloads(h: Harness) {
    h.store.ingest(vec![eval("ev-a", 1)]).await.unwrap();
    h.advance(Duration::from_secs(1));
    h.store.ingest(vec![eval("ev-b", 2)]).await.unwrap();
    let mut other = eval("ev-c", 3);
    other.destinations = vec!["elsewhere".into()];
    h.store.ingest(vec![other]).await.unwrap();

    let first = h.lease(1, "w").await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].evaluation_id, "ev-a");
    assert_eq!(first[0].destination, "salesforce");
    assert_eq!(first[0].attempts, 0);
    assert_eq!(first[0].lease_expires_at, h.now() + LEASE);
    assert_eq!(first[0].payload, eval("ev-a", 1).payload);
    assert_eq!(first[0].received_at, h.now() - Duration::from_secs(1));
    let rest = h.lease(10, "w").await;
    let ids: Vec<&str> = rest.iter().map(|l| l.evaluation_id.as_str()).collect();
    assert_eq!(ids, ["ev-b"], "other destinations are not leased");
    assert!(h.lease(0, "w").await.is_empty());
}

async fn expired_lease_is_taken_over_and_the_stale_owner_cannot_complete(h: Harness) {
    h.store.ingest(vec![eval("ev-1", 1)]).await.unwrap();
    let a = h.lease(10, "old").await;
    assert_eq!(a.len(), 1);
    assert!(h.lease(10, "new").await.is_empty());

    h.advance(LEASE + Duration::from_secs(1));
    let b = h.lease(10, "new").await;
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].id, a[0].id);

    let policy = RetryPolicy::default();
    let stale = h
        .store
        .complete(vec![done(&a[0], "old", Outcome::Created)], &policy)
        .await
        .unwrap();
    assert_eq!(stale, vec![CompleteStatus::Stale]);
    assert_eq!(h.store.release(&[a[0].id], "old").await.unwrap(), 0);
    assert_eq!(
        h.store
            .extend_lease(&[a[0].id], "old", LEASE)
            .await
            .unwrap(),
        0
    );
    let got = h.store.get_evaluation("ev-1").await.unwrap().unwrap();
    assert_eq!(got.deliveries[0].state, DeliveryState::Leased);
    assert_eq!(got.deliveries[0].lease_owner.as_deref(), Some("new"));
    assert!(h.store.evaluation_log("ev-1").await.unwrap().is_empty());

    let ok = h
        .store
        .complete(vec![done(&b[0], "new", Outcome::Updated)], &policy)
        .await
        .unwrap();
    assert_eq!(ok, vec![CompleteStatus::Applied(DeliveryState::Done)]);
    // Completing twice is refused: the lease is gone.
    let again = h
        .store
        .complete(vec![done(&b[0], "new", Outcome::Updated)], &policy)
        .await
        .unwrap();
    assert_eq!(again, vec![CompleteStatus::Stale]);
}

async fn release_makes_deliveries_due_again(h: Harness) {
    seed(h.store.as_ref(), 3).await;
    let leased = h.lease(10, "w").await;
    assert_eq!(leased.len(), 3);
    let ids: Vec<_> = leased.iter().map(|l| l.id).collect();
    assert_eq!(h.store.release(&ids[..2], "someone-else").await.unwrap(), 0);
    assert_eq!(h.store.release(&ids[..2], "w").await.unwrap(), 2);
    let again = h.lease(10, "w2").await;
    let again: Vec<_> = again.iter().map(|l| l.id).collect();
    assert_eq!(again, ids[..2]);
    assert_eq!(h.store.release(&[], "w").await.unwrap(), 0);
}

async fn extend_lease_keeps_others_away(h: Harness) {
    seed(h.store.as_ref(), 1).await;
    let leased = h.lease(10, "w").await;
    h.advance(LEASE - Duration::from_secs(1));
    assert_eq!(
        h.store
            .extend_lease(&[leased[0].id], "w", LEASE)
            .await
            .unwrap(),
        1
    );
    h.advance(Duration::from_secs(2));
    assert!(h.lease(10, "w2").await.is_empty());
    h.advance(LEASE);
    assert_eq!(h.lease(10, "w2").await.len(), 1);
}

async fn final_outcomes_end_the_delivery(h: Harness) {
    seed(h.store.as_ref(), 2).await;
    let leased = h.lease(10, "w").await;
    let policy = RetryPolicy::default();
    let st = h
        .store
        .complete(
            // Not in id order: statuses still follow the input order.
            vec![
                done(&leased[1], "w", Outcome::Failed),
                done(&leased[0], "w", Outcome::Unchanged),
            ],
            &policy,
        )
        .await
        .unwrap();
    assert_eq!(
        st,
        vec![
            CompleteStatus::Applied(DeliveryState::Failed),
            CompleteStatus::Applied(DeliveryState::Done)
        ]
    );
    let d = delivery(h.store.as_ref(), &leased[1].evaluation_id).await;
    assert_eq!(d.state, DeliveryState::Failed);
    assert_eq!(d.attempts, 1);
    assert_eq!(d.last_report, Some(json!({"outcome": "failed"})));
    assert!(d.lease_owner.is_none());
    h.advance(Duration::from_secs(3600));
    assert!(h.lease(10, "w").await.is_empty());
    let log = h
        .store
        .evaluation_log(&leased[0].evaluation_id)
        .await
        .unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].attempt, 1);
    assert_eq!(log[0].worker, "w");
    assert_eq!(log[0].outcome.as_str(), "unchanged");
    assert_eq!(log[0].report, json!({"outcome": "unchanged"}));
}

async fn complete_applies_each_lease_once(h: Harness) {
    seed(h.store.as_ref(), 2).await;
    let leased = h.lease(10, "w").await;
    let policy = RetryPolicy::default();
    let st = h
        .store
        .complete(
            vec![
                done(&leased[0], "intruder", Outcome::Created),
                done(&leased[0], "w", Outcome::Updated),
                done(&leased[0], "w", Outcome::Created),
                DeliveryResult {
                    id: store::DeliveryId(424_242),
                    ..done(&leased[0], "w", Outcome::Created)
                },
            ],
            &policy,
        )
        .await
        .unwrap();
    assert_eq!(
        st,
        vec![
            CompleteStatus::Stale,
            CompleteStatus::Applied(DeliveryState::Done),
            CompleteStatus::Stale,
            CompleteStatus::Stale
        ]
    );
    let d = delivery(h.store.as_ref(), &leased[0].evaluation_id).await;
    assert_eq!(d.outcome.as_str(), "updated");
    assert_eq!(
        h.store
            .evaluation_log(&leased[0].evaluation_id)
            .await
            .unwrap()
            .len(),
        1
    );
    // The other lease is untouched.
    let other = delivery(h.store.as_ref(), &leased[1].evaluation_id).await;
    assert_eq!(other.state, DeliveryState::Leased);
}

async fn large_batches_complete_in_one_call(h: Harness) {
    seed(h.store.as_ref(), 1200).await;
    let leased = h.lease(1200, "w").await;
    assert_eq!(leased.len(), 1200);
    let results = leased
        .iter()
        .map(|l| done(l, "w", Outcome::Updated))
        .collect();
    let st = h
        .store
        .complete(results, &RetryPolicy::default())
        .await
        .unwrap();
    assert!(
        st.iter()
            .all(|s| *s == CompleteStatus::Applied(DeliveryState::Done))
    );
    let stats = h.store.queue_stats(None).await.unwrap();
    assert_eq!(stats.by_state[&DeliveryState::Done], 1200);
    let last = delivery(h.store.as_ref(), &leased[1199].evaluation_id).await;
    assert_eq!(last.last_report, Some(json!({"outcome": "updated"})));
    assert_eq!(
        h.store
            .evaluation_log(&leased[1199].evaluation_id)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn each_lease_has_its_own_token_and_only_the_current_one_applies(h: Harness) {
    h.store.ingest(vec![eval("ev-1", 1)]).await.unwrap();
    let first = h.lease(10, "w").await;
    h.advance(LEASE + Duration::from_secs(1));
    // The same worker name leases it again (a restarted process, say): a new token.
    let second = h.lease(10, "w").await;
    assert_eq!(second[0].id, first[0].id);
    assert!(second[0].token > first[0].token);
    let policy = RetryPolicy::default();
    let st = h
        .store
        .complete(vec![done(&first[0], "w", Outcome::Created)], &policy)
        .await
        .unwrap();
    assert_eq!(st, vec![CompleteStatus::Stale], "the older lease's result");
    assert_eq!(
        delivery(h.store.as_ref(), "ev-1").await.state,
        DeliveryState::Leased
    );
    let st = h
        .store
        .complete(vec![done(&second[0], "w", Outcome::Updated)], &policy)
        .await
        .unwrap();
    assert_eq!(st, vec![CompleteStatus::Applied(DeliveryState::Done)]);
    // A later lease (after a retry) takes the next token again.
    h.store.retry_delivery(first[0].id).await.unwrap();
    let third = h.lease(10, "w").await;
    assert!(third[0].token > second[0].token);
}

async fn a_stale_result_that_wrote_is_logged_without_moving_the_delivery(h: Harness) {
    h.store
        .ingest(vec![eval("ev-1", 1), eval("ev-2", 2)])
        .await
        .unwrap();
    let old = h.lease(10, "old").await;
    h.advance(LEASE + Duration::from_secs(1));
    let new = h.lease(10, "new").await;
    assert_eq!(new.len(), 2);
    let policy = RetryPolicy::default();

    // The stalled worker resumes: it created a record for ev-1 (that write happened) and
    // wrote nothing for ev-2.
    let created = DeliveryResult {
        wrote: true,
        ..done(&old[0], "old", Outcome::Created)
    };
    let nothing = done(&old[1], "old", Outcome::Failed);
    let st = h
        .store
        .complete(vec![created, nothing], &policy)
        .await
        .unwrap();
    assert_eq!(st, vec![CompleteStatus::Stale, CompleteStatus::Stale]);
    for (l, owner) in [(&old[0], "new"), (&old[1], "new")] {
        let d = delivery(h.store.as_ref(), &l.evaluation_id).await;
        assert_eq!(
            d.state,
            DeliveryState::Leased,
            "the delivery is the new owner's"
        );
        assert_eq!(d.lease_owner.as_deref(), Some(owner));
        assert_eq!(d.attempts, 0);
    }
    let log = h.store.evaluation_log("ev-1").await.unwrap();
    assert_eq!(log.len(), 1, "the write that happened is in the log");
    assert!(log[0].stale);
    assert_eq!(log[0].worker, "old");
    assert_eq!(log[0].outcome.as_str(), "created");
    assert_eq!(log[0].attempt, 1);
    assert!(h.store.evaluation_log("ev-2").await.unwrap().is_empty());

    // The new owner finds the record and records its own attempt.
    let st = h
        .store
        .complete(vec![done(&new[0], "new", Outcome::Unchanged)], &policy)
        .await
        .unwrap();
    assert_eq!(st, vec![CompleteStatus::Applied(DeliveryState::Done)]);
    let log = h.store.evaluation_log("ev-1").await.unwrap();
    let seen: Vec<_> = log
        .iter()
        .map(|e| (e.worker.as_str(), e.outcome.as_str(), e.stale))
        .collect();
    assert_eq!(
        seen,
        [("old", "created", true), ("new", "unchanged", false)]
    );
    let d = delivery(h.store.as_ref(), "ev-1").await;
    assert_eq!((d.state, d.attempts), (DeliveryState::Done, 1));
}

async fn an_expired_lease_is_not_revived_by_extending_it(h: Harness) {
    seed(h.store.as_ref(), 1).await;
    let leased = h.lease(10, "w").await;
    h.advance(LEASE);
    // Ran out (not yet taken over): the worker must stop, not carry on.
    assert_eq!(
        h.store
            .extend_lease(&[leased[0].id], "w", LEASE)
            .await
            .unwrap(),
        0
    );
    assert_eq!(h.lease(10, "w2").await.len(), 1);
}

/// PostgreSQL times leases by its own clock: a store opened without a test clock leases
/// until the database's `clock_timestamp()` + the lease, and another worker takes the
/// delivery over once the database's clock says the lease ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: TRAILSPARK_TEST_POSTGRES_URL (scripts/test.sh starts one)"]
async fn postgres_leases_are_timed_by_the_database_clock() {
    use sqlx::Connection;
    let url = crate::support::postgres_schema_url().await;
    let store = store::open(&url).await.unwrap();
    store.ingest(vec![eval("ev-1", 1)]).await.unwrap();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let us: i64 =
        sqlx::query_scalar("SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    let before = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000).unwrap();
    let lease = Duration::from_millis(600);
    let a = store
        .lease_batch("salesforce", 10, lease, "a")
        .await
        .unwrap();
    assert_eq!(a.len(), 1, "due at once by the database's clock");
    let slack = time::Duration::milliseconds(500);
    assert!(a[0].lease_expires_at >= before + lease);
    assert!(a[0].lease_expires_at <= before + lease + slack);
    assert_eq!(store.extend_lease(&[a[0].id], "a", lease).await.unwrap(), 1);
    assert!(
        store
            .lease_batch("salesforce", 10, lease, "b")
            .await
            .unwrap()
            .is_empty()
    );
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    let b = store
        .lease_batch("salesforce", 10, lease, "b")
        .await
        .unwrap();
    assert_eq!(b.len(), 1, "taken over after the lease ran out");
    assert!(b[0].token > a[0].token);
    let st = store
        .complete(
            vec![
                done(&a[0], "a", Outcome::Created),
                done(&b[0], "b", Outcome::Updated),
            ],
            &RetryPolicy::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        st,
        vec![
            CompleteStatus::Stale,
            CompleteStatus::Applied(DeliveryState::Done)
        ]
    );
}

pub async fn delivery(store: &dyn Store, evaluation_id: &str) -> store::Delivery {
    let mut e = store.get_evaluation(evaluation_id).await.unwrap().unwrap();
    e.deliveries.remove(0)
}
