//! The delivery listing: newest first, filtered, paginated without gaps or repeats.

use std::collections::HashSet;
use std::time::Duration;

use domain::Outcome;
use serde_json::json;
use store::{
    DeliveryFilter, DeliveryOutcome, DeliveryResult, Disposition, HourlyCount, RetryPolicy,
    StoreError,
};

use crate::support::{Harness, T0, both_backends, eval, seed};

both_backends!(
    pages_cover_every_delivery_once_newest_first,
    filters_narrow_the_listing,
    bad_cursor_is_an_error,
    outcome_counts_are_per_hour_and_outcome,
    database_size_grows_with_the_data,
);

async fn pages_cover_every_delivery_once_newest_first(h: Harness) {
    // 25 deliveries: 10 stored at T0, 15 a second later (ties broken by id).
    seed(h.store.as_ref(), 10).await;
    h.advance(Duration::from_secs(1));
    let later: Vec<_> = (10..25).map(|n| eval(&format!("ev-{n}"), n)).collect();
    h.store.ingest(later).await.unwrap();

    let filter = DeliveryFilter::default();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = h
            .store
            .list_deliveries(&filter, cursor.as_deref(), 7)
            .await
            .unwrap();
        pages += 1;
        assert!(page.items.len() <= 7);
        seen.extend(
            page.items
                .iter()
                .map(|v| (v.delivery.updated_at, v.delivery.id)),
        );
        if pages == 2 {
            // New rows arriving mid-listing go to the top: the remaining pages are unaffected.
            h.advance(Duration::from_secs(1));
            h.store.ingest(vec![eval("ev-new", 99)]).await.unwrap();
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(seen.len(), 25);
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 25);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first");
    let first = h.store.list_deliveries(&filter, None, 1).await.unwrap();
    assert_eq!(first.items[0].delivery.evaluation_id, "ev-new");
    assert_eq!(first.items[0].email, "person99@example.com");
}

async fn filters_narrow_the_listing(h: Harness) {
    seed(h.store.as_ref(), 3).await;
    let mut other = eval("ev-x", 7);
    other.destinations = vec!["elsewhere".into()];
    h.store.ingest(vec![other]).await.unwrap();
    h.advance(Duration::from_secs(10));
    let leased = h.lease(1, "w").await;
    let done = DeliveryResult {
        id: leased[0].id,
        worker: "w".into(),
        token: leased[0].token,
        disposition: Disposition::Final(Outcome::Updated),
        report: json!({}),
        wrote: true,
    };
    h.store
        .complete(vec![done], &RetryPolicy::default())
        .await
        .unwrap();

    let list = |f: DeliveryFilter| {
        let store = h.store.clone();
        async move {
            let page = store.list_deliveries(&f, None, 100).await.unwrap();
            page.items
                .into_iter()
                .map(|v| v.delivery.evaluation_id)
                .collect::<Vec<_>>()
        }
    };
    let updated = DeliveryFilter {
        outcome: Some(DeliveryOutcome::Final(Outcome::Updated)),
        ..Default::default()
    };
    assert_eq!(list(updated).await, ["ev-0"]);
    let pending = DeliveryFilter {
        outcome: Some(DeliveryOutcome::Pending),
        ..Default::default()
    };
    assert_eq!(list(pending).await.len(), 3);
    let since = DeliveryFilter {
        since: Some(h.now()),
        ..Default::default()
    };
    assert_eq!(list(since).await, ["ev-0"]);
    let email = DeliveryFilter {
        email: Some(" Person2@EXAMPLE.com".into()),
        ..Default::default()
    };
    assert_eq!(list(email).await, ["ev-2"]);
    let dest = DeliveryFilter {
        destination: Some("elsewhere".into()),
        ..Default::default()
    };
    assert_eq!(list(dest).await, ["ev-x"]);
    let all = DeliveryFilter::default();
    assert_eq!(list(all).await.len(), 4);
}

async fn bad_cursor_is_an_error(h: Harness) {
    let r = h
        .store
        .list_deliveries(&DeliveryFilter::default(), Some("garbage"), 10)
        .await;
    assert!(matches!(r, Err(StoreError::InvalidCursor)));
}

async fn outcome_counts_are_per_hour_and_outcome(h: Harness) {
    // T0: 4 deliveries queued (3 to salesforce, 1 elsewhere). T0 + 90 min: one updated,
    // one failed. The range starts 30 minutes before T0.
    seed(h.store.as_ref(), 3).await;
    let mut other = eval("ev-x", 7);
    other.destinations = vec!["elsewhere".into()];
    h.store.ingest(vec![other]).await.unwrap();
    h.advance(Duration::from_secs(90 * 60));
    let leased = h.lease(2, "w").await;
    let results = leased
        .iter()
        .zip([Outcome::Updated, Outcome::Failed])
        .map(|(l, o)| DeliveryResult {
            id: l.id,
            worker: "w".into(),
            token: l.token,
            disposition: Disposition::Final(o),
            report: json!({}),
            wrote: o == Outcome::Updated,
        })
        .collect();
    h.store
        .complete(results, &RetryPolicy::default())
        .await
        .unwrap();

    let from = T0 - Duration::from_secs(30 * 60);
    let to = h.now() + Duration::from_secs(1);
    let count = |hour, outcome, count| HourlyCount {
        hour,
        outcome,
        count,
    };
    let pending = DeliveryOutcome::Pending;
    let updated = DeliveryOutcome::Final(Outcome::Updated);
    let failed = DeliveryOutcome::Final(Outcome::Failed);
    let sf = h
        .store
        .outcome_counts(Some("salesforce"), from, to)
        .await
        .unwrap();
    assert_eq!(
        sf,
        [
            count(0, pending, 1),
            count(2, updated, 1),
            count(2, failed, 1)
        ]
    );
    let all = h.store.outcome_counts(None, from, to).await.unwrap();
    assert_eq!(
        all,
        [
            count(0, pending, 2),
            count(2, updated, 1),
            count(2, failed, 1)
        ]
    );
    // The range is half-open and cuts by the last change.
    let before = h.store.outcome_counts(None, from, T0).await.unwrap();
    assert!(before.is_empty(), "{before:?}");
    let later = h
        .store
        .outcome_counts(None, T0 + Duration::from_secs(1), to)
        .await;
    assert_eq!(later.unwrap(), [count(1, updated, 1), count(1, failed, 1)]);
}

async fn database_size_grows_with_the_data(h: Harness) {
    let empty = h.store.database_size().await.unwrap();
    assert!(empty > 0, "the schema alone takes room");
    seed(h.store.as_ref(), 2000).await;
    let full = h.store.database_size().await.unwrap();
    assert!(full > empty, "{full} after seeding, {empty} before");
}
