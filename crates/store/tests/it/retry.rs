//! Retries: backoff then failed, manual retry, replay of a window, stats, retention.

use std::time::Duration;

use domain::Outcome;
use serde_json::json;
use store::{
    CompleteStatus, DeliveryOutcome, DeliveryResult, DeliveryState, Disposition, RetryOutcome,
    RetryPolicy, TimeBasis,
};

use crate::lease::delivery;
use crate::support::{Harness, LEASE, T0, both_backends, eval, eval_at, seed};

fn result(l: &store::LeasedDelivery, disposition: Disposition) -> DeliveryResult {
    DeliveryResult {
        id: l.id,
        worker: "w".into(),
        token: l.token,
        disposition,
        report: json!({"n": 1}),
        wrote: true,
    }
}

both_backends!(
    transient_failures_back_off_then_fail_after_max_attempts,
    retry_requeues_one_finished_delivery,
    retry_failed_requeues_every_failed_delivery,
    replay_requeues_a_window_and_creates_missing_deliveries,
    stats_count_states_outcomes_and_due_age,
    purge_removes_old_log_entries_only,
);

async fn transient_failures_back_off_then_fail_after_max_attempts(h: Harness) {
    seed(h.store.as_ref(), 1).await;
    let policy = RetryPolicy {
        max_attempts: 3,
        backoff: domain::Backoff::new(Duration::from_secs(10), Duration::from_secs(15)),
    };
    let mut expected_max_delay = [Duration::from_secs(10), Duration::from_secs(15)].into_iter();
    for attempt in 1..=3u32 {
        let leased = h.lease(10, "w").await;
        assert_eq!(leased.len(), 1, "attempt {attempt} is due");
        assert_eq!(leased[0].attempts, attempt - 1);
        let st = h
            .store
            .complete(vec![result(&leased[0], Disposition::Transient)], &policy)
            .await
            .unwrap();
        let d = delivery(h.store.as_ref(), "ev-0").await;
        assert_eq!(d.attempts, attempt);
        if attempt < 3 {
            assert_eq!(st, vec![CompleteStatus::Applied(DeliveryState::Pending)]);
            assert_eq!(d.outcome, DeliveryOutcome::Retrying);
            let max = expected_max_delay.next().unwrap();
            let wait = d.next_attempt_at - h.now();
            assert!(
                wait >= max / 2 && wait <= max,
                "attempt {attempt}: waits {wait}"
            );
            // Not due before its time...
            h.advance(Duration::try_from(wait).unwrap() - Duration::from_millis(1));
            assert!(h.lease(10, "w").await.is_empty());
            // ...and due at it.
            h.advance(Duration::from_millis(1));
        } else {
            assert_eq!(st, vec![CompleteStatus::Applied(DeliveryState::Failed)]);
            assert_eq!(d.state, DeliveryState::Failed);
            assert_eq!(d.outcome, DeliveryOutcome::Final(Outcome::Failed));
        }
    }
    h.advance(Duration::from_secs(3600));
    assert!(h.lease(10, "w").await.is_empty());
    let log = h.store.evaluation_log("ev-0").await.unwrap();
    let attempts: Vec<u32> = log.iter().map(|l| l.attempt).collect();
    assert_eq!(attempts, [1, 2, 3]);
    let outcomes: Vec<&str> = log.iter().map(|l| l.outcome.as_str()).collect();
    assert_eq!(outcomes, ["retrying", "retrying", "failed"]);
}

async fn retry_requeues_one_finished_delivery(h: Harness) {
    seed(h.store.as_ref(), 2).await;
    let leased = h.lease(1, "w").await;
    let id = leased[0].id;
    let policy = RetryPolicy::default();
    h.store
        .complete(
            vec![result(&leased[0], Disposition::Final(Outcome::Failed))],
            &policy,
        )
        .await
        .unwrap();
    h.advance(Duration::from_secs(5));
    assert_eq!(
        h.store.retry_delivery(id).await.unwrap(),
        RetryOutcome::Requeued
    );
    let d = delivery(h.store.as_ref(), &leased[0].evaluation_id).await;
    assert_eq!(
        (d.state, d.outcome, d.attempts),
        (DeliveryState::Pending, DeliveryOutcome::Pending, 0)
    );
    assert_eq!(d.next_attempt_at, h.now());
    assert_eq!(
        h.store.retry_delivery(id).await.unwrap(),
        RetryOutcome::AlreadyQueued
    );
    assert_eq!(
        h.store
            .retry_delivery(store::DeliveryId(987_654))
            .await
            .unwrap(),
        RetryOutcome::NotFound
    );
    let again = h.lease(10, "w").await;
    assert_eq!(again.len(), 2);
}

async fn retry_failed_requeues_every_failed_delivery(h: Harness) {
    seed(h.store.as_ref(), 3).await;
    let leased = h.lease(10, "w").await;
    let policy = RetryPolicy::default();
    h.store
        .complete(
            vec![
                result(&leased[0], Disposition::Final(Outcome::Failed)),
                result(&leased[1], Disposition::Final(Outcome::Failed)),
                result(&leased[2], Disposition::Final(Outcome::Updated)),
            ],
            &policy,
        )
        .await
        .unwrap();
    assert_eq!(h.store.retry_failed(Some("elsewhere")).await.unwrap(), 0);
    assert_eq!(h.store.retry_failed(Some("salesforce")).await.unwrap(), 2);
    assert_eq!(h.store.retry_failed(None).await.unwrap(), 0);
    let again = h.lease(10, "w").await;
    let ids: Vec<_> = again.iter().map(|l| l.id).collect();
    assert_eq!(ids, [leased[0].id, leased[1].id]);
}

async fn replay_requeues_a_window_and_creates_missing_deliveries(h: Harness) {
    let hour = Duration::from_secs(3600);
    let items = vec![
        eval_at("early", 1, T0 - 3 * hour),
        eval_at("inside", 2, T0 - 2 * hour),
        eval_at("late", 3, T0 - hour),
    ];
    h.store.ingest(items).await.unwrap();
    let leased = h.lease(10, "w").await;
    let results = leased
        .iter()
        .map(|l| result(l, Disposition::Final(Outcome::Skipped)))
        .collect();
    h.store
        .complete(results, &RetryPolicy::default())
        .await
        .unwrap();

    let from = T0 - 2 * hour - Duration::from_secs(1);
    let to = T0 - hour; // exclusive: "late" stays done
    assert_eq!(
        h.store
            .replay("salesforce", TimeBasis::Evaluated, from, to)
            .await
            .unwrap(),
        1
    );
    let again = h.lease(10, "w").await;
    let ids: Vec<&str> = again.iter().map(|l| l.evaluation_id.as_str()).collect();
    assert_eq!(ids, ["inside"]);
    // Already queued (leased) deliveries are left alone.
    assert_eq!(
        h.store
            .replay("salesforce", TimeBasis::Evaluated, from, to)
            .await
            .unwrap(),
        0
    );

    // A destination the evaluations never had gets new deliveries; by receive time all three
    // arrived at T0.
    let n = h
        .store
        .replay(
            "hubspot",
            TimeBasis::Received,
            T0,
            T0 + Duration::from_secs(1),
        )
        .await
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(
        h.store
            .lease_batch("hubspot", 10, LEASE, "w")
            .await
            .unwrap()
            .len(),
        3
    );
    let none = h
        .store
        .replay("hubspot", TimeBasis::Received, T0 + hour, T0 + 2 * hour)
        .await
        .unwrap();
    assert_eq!(none, 0);
}

async fn stats_count_states_outcomes_and_due_age(h: Harness) {
    seed(h.store.as_ref(), 4).await;
    let mut other = eval("ev-x", 9);
    other.destinations = vec!["elsewhere".into()];
    h.store.ingest(vec![other]).await.unwrap();
    let leased = h.lease(2, "w").await;
    h.store
        .complete(
            vec![result(&leased[0], Disposition::Final(Outcome::Created))],
            &RetryPolicy::default(),
        )
        .await
        .unwrap();
    h.advance(Duration::from_secs(90));

    let s = h.store.queue_stats(Some("salesforce")).await.unwrap();
    assert_eq!(s.by_state[&DeliveryState::Pending], 2);
    assert_eq!(s.by_state[&DeliveryState::Leased], 1);
    assert_eq!(s.by_state[&DeliveryState::Done], 1);
    assert_eq!(s.by_state[&DeliveryState::Failed], 0);
    assert_eq!(s.by_outcome[&DeliveryOutcome::Pending], 3);
    assert_eq!(s.by_outcome[&DeliveryOutcome::Final(Outcome::Created)], 1);
    // Two pending plus one leased whose lease ran out, all due since T0.
    assert_eq!(s.due, 3);
    assert_eq!(s.oldest_due_age, Some(Duration::from_secs(90)));

    let all = h.store.queue_stats(None).await.unwrap();
    assert_eq!(all.by_state[&DeliveryState::Pending], 3);
    assert_eq!(all.due, 4);
}

async fn purge_removes_old_log_entries_only(h: Harness) {
    seed(h.store.as_ref(), 3).await;
    let policy = RetryPolicy::default();
    let leased = h.lease(2, "w").await;
    let results = leased
        .iter()
        .map(|l| result(l, Disposition::Final(Outcome::Updated)))
        .collect();
    h.store.complete(results, &policy).await.unwrap();
    h.advance(Duration::from_secs(86_400));
    let cutoff = h.now();
    let leased = h.lease(2, "w").await;
    let results = leased
        .iter()
        .map(|l| result(l, Disposition::Final(Outcome::Updated)))
        .collect();
    h.store.complete(results, &policy).await.unwrap();

    // In batches: at most `limit` entries per call.
    assert_eq!(h.store.purge_log_older_than(cutoff, 1).await.unwrap(), 1);
    assert_eq!(h.store.purge_log_older_than(cutoff, 10).await.unwrap(), 1);
    assert_eq!(h.store.purge_log_older_than(cutoff, 10).await.unwrap(), 0);
    assert!(h.store.evaluation_log("ev-0").await.unwrap().is_empty());
    assert_eq!(h.store.evaluation_log("ev-2").await.unwrap().len(), 1);
    // The deliveries themselves stay.
    assert_eq!(
        delivery(h.store.as_ref(), "ev-0").await.state,
        DeliveryState::Done
    );
}
