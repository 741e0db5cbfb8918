//! Retention: finished evaluations past the cutoff go with their deliveries and log, in
//! batches; pending, leased and recently changed ones stay. The database's size is known.

use std::time::Duration;

use domain::Outcome;
use serde_json::json;
use store::{DeliveryResult, Disposition, RetryPolicy};

use crate::support::{Harness, both_backends, seed};

const DAY: Duration = Duration::from_secs(86_400);

both_backends!(retention_purges_finished_evaluations_in_batches_and_keeps_the_rest);

async fn retention_purges_finished_evaluations_in_batches_and_keeps_the_rest(h: Harness) {
    seed(h.store.as_ref(), 6).await; // ev-0 .. ev-5
    let leased = h.lease(4, "w").await;
    let finish = |i: usize, o: Outcome| DeliveryResult {
        id: leased[i].id,
        worker: "w".into(),
        token: leased[i].token,
        disposition: Disposition::Final(o),
        report: json!({}),
        wrote: true,
    };
    let results = vec![
        finish(0, Outcome::Updated),
        finish(1, Outcome::Created),
        finish(2, Outcome::Failed),
    ];
    h.store
        .complete(results, &RetryPolicy::default())
        .await
        .unwrap();
    // ev-3 stays leased, ev-4 and ev-5 pending (a destination paused for months, say).
    h.advance(100 * DAY);
    // Retried today: ev-2's delivery is pending again.
    assert_eq!(h.store.retry_failed(None).await.unwrap(), 1);
    let size_before = h.store.database_size().await.unwrap();
    assert!(size_before > 0);

    let cutoff = h.now() - 90 * DAY;
    assert_eq!(
        h.store
            .purge_evaluations_older_than(cutoff, 1)
            .await
            .unwrap(),
        1,
        "one batch deletes at most its limit"
    );
    assert_eq!(
        h.store
            .purge_evaluations_older_than(cutoff, 10)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        h.store
            .purge_evaluations_older_than(cutoff, 10)
            .await
            .unwrap(),
        0
    );
    for gone in ["ev-0", "ev-1"] {
        assert!(
            h.store.get_evaluation(gone).await.unwrap().is_none(),
            "{gone}"
        );
        assert!(
            h.store.evaluation_log(gone).await.unwrap().is_empty(),
            "{gone}"
        );
    }
    for kept in ["ev-2", "ev-3", "ev-4", "ev-5"] {
        assert!(
            h.store.get_evaluation(kept).await.unwrap().is_some(),
            "{kept}"
        );
    }
    let stats = h.store.queue_stats(None).await.unwrap();
    assert_eq!(
        stats.by_state.values().sum::<u64>(),
        4,
        "their deliveries went too"
    );

    // Nothing is older than a cutoff before the first evaluation.
    assert_eq!(
        h.store
            .purge_evaluations_older_than(cutoff - 30 * DAY, 10)
            .await
            .unwrap(),
        0
    );
}
