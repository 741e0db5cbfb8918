//! Ingest: idempotent by id and content, durable before it returns.

use store::{DeliveryOutcome, DeliveryState, IngestResult};

use crate::support::{Harness, both_backends, eval};

both_backends!(
    new_evaluations_are_stored_with_one_pending_delivery_per_destination,
    same_id_same_content_is_a_duplicate_and_different_content_a_conflict,
    repeats_within_one_batch_are_judged_against_the_first,
    ingest_is_committed_before_it_returns,
    empty_batch_is_fine,
    payloads_are_kept_exactly_even_with_nul_characters,
);

async fn new_evaluations_are_stored_with_one_pending_delivery_per_destination(h: Harness) {
    let mut e = eval("ev-1", 1);
    e.destinations = vec!["salesforce".into(), "hubspot".into(), "salesforce".into()];
    let r = h.store.ingest(vec![e.clone()]).await.unwrap();
    assert_eq!(r, vec![IngestResult::Stored]);

    let got = h
        .store
        .get_evaluation("ev-1")
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(got.evaluation.payload, e.payload);
    assert_eq!(got.evaluation.email, "person1@example.com");
    assert_eq!(got.evaluation.content_hash, "hash-1");
    assert_eq!(got.evaluation.evaluated_at, e.evaluated_at);
    assert_eq!(got.evaluation.received_at, h.now());
    let dests: Vec<&str> = got
        .deliveries
        .iter()
        .map(|d| d.destination.as_str())
        .collect();
    assert_eq!(dests, ["hubspot", "salesforce"]);
    for d in &got.deliveries {
        assert_eq!(d.state, DeliveryState::Pending);
        assert_eq!(d.outcome, DeliveryOutcome::Pending);
        assert_eq!(d.attempts, 0);
        assert_eq!(d.next_attempt_at, h.now());
    }
    assert!(
        h.store
            .get_evaluation("ev-unknown")
            .await
            .unwrap()
            .is_none()
    );
}

async fn same_id_same_content_is_a_duplicate_and_different_content_a_conflict(h: Harness) {
    h.store
        .ingest(vec![eval("ev-1", 1), eval("ev-2", 2)])
        .await
        .unwrap();
    let mut changed = eval("ev-2", 2);
    changed.content_hash = "other".into();
    changed.payload = serde_json::json!({"changed": true});
    let r = h
        .store
        .ingest(vec![eval("ev-1", 1), changed, eval("ev-3", 3)])
        .await
        .unwrap();
    assert_eq!(
        r,
        vec![
            IngestResult::Duplicate,
            IngestResult::Conflict,
            IngestResult::Stored
        ]
    );

    // The conflicting item changed nothing, and the duplicate made no second delivery.
    let ev2 = h.store.get_evaluation("ev-2").await.unwrap().unwrap();
    assert_eq!(ev2.evaluation.content_hash, "hash-2");
    let ev1 = h.store.get_evaluation("ev-1").await.unwrap().unwrap();
    assert_eq!(ev1.deliveries.len(), 1);
    let stats = h.store.queue_stats(None).await.unwrap();
    assert_eq!(stats.by_state[&DeliveryState::Pending], 3);
}

async fn repeats_within_one_batch_are_judged_against_the_first(h: Harness) {
    let mut other = eval("ev-1", 1);
    other.content_hash = "other".into();
    let r = h
        .store
        .ingest(vec![eval("ev-1", 1), eval("ev-1", 1), other])
        .await
        .unwrap();
    assert_eq!(
        r,
        vec![
            IngestResult::Stored,
            IngestResult::Duplicate,
            IngestResult::Conflict
        ]
    );
    assert_eq!(
        h.store.queue_stats(None).await.unwrap().by_state[&DeliveryState::Pending],
        1
    );
}

async fn ingest_is_committed_before_it_returns(h: Harness) {
    let batch: Vec<_> = (0..1000).map(|n| eval(&format!("ev-{n}"), n)).collect();
    let r = h.store.ingest(batch).await.unwrap();
    assert!(r.iter().all(|x| *x == IngestResult::Stored));
    // A second process (a fresh pool) sees every row at once.
    let other = h.reopen().await;
    assert!(other.get_evaluation("ev-999").await.unwrap().is_some());
    let stats = other.queue_stats(Some("salesforce")).await.unwrap();
    assert_eq!(stats.by_state[&DeliveryState::Pending], 1000);
}

async fn empty_batch_is_fine(h: Harness) {
    assert!(h.store.ingest(Vec::new()).await.unwrap().is_empty());
}

async fn payloads_are_kept_exactly_even_with_nul_characters(h: Harness) {
    let mut e = eval("ev-nul", 1);
    e.payload = serde_json::json!({"id": "ev-nul", "reasoning": "a\u{0}b \u{1F600} \"quoted\"",
                                   "nested": {"n": 1.5, "list": [true, null]}});
    h.store.ingest(vec![e.clone()]).await.unwrap();
    let got = h.store.get_evaluation("ev-nul").await.unwrap().unwrap();
    assert_eq!(got.evaluation.payload, e.payload);
    let leased = h.lease(1, "w").await;
    assert_eq!(leased[0].payload, e.payload);
}
