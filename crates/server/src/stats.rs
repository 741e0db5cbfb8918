//! The store's figures that cost a scan of the deliveries (queue depth by state and
//! outcome, due count and oldest wait) and the database's size, read by one background
//! task and kept here for `/metrics` and the Overview: neither ever runs such a query for
//! a request, so a scrape or a page view stays cheap however large the queue grows.
//!
//! The task reads again [`MIN_INTERVAL`] after the previous read, or later when reading
//! took long: it waits at least [`COST_FACTOR`] times what the last read took, so it never
//! keeps the database busy more than a small share of the time.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use store::{QueueStats, Store};
use time::OffsetDateTime;
use tokio::sync::watch;

/// The shortest wait between two reads.
pub const MIN_INTERVAL: Duration = Duration::from_secs(5);
/// The wait is at least this many times the last read's duration.
const COST_FACTOR: u32 = 20;
/// The longest wait, however slow the last read.
const MAX_INTERVAL: Duration = Duration::from_secs(120);

/// One read of the store's figures.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// All destinations.
    pub queue: QueueStats,
    /// Bytes of data (see [`Store::database_size`]); None when it could not be read.
    pub database_bytes: Option<u64>,
    /// When the read finished.
    pub at: OffsetDateTime,
}

/// The latest [`Snapshot`], None until the first read finished.
#[derive(Default)]
pub struct StoreStats {
    latest: RwLock<Option<Arc<Snapshot>>>,
}

impl StoreStats {
    pub fn latest(&self) -> Option<Arc<Snapshot>> {
        self.latest.read().ok().and_then(|s| s.clone())
    }

    fn set(&self, s: Snapshot) {
        if let Ok(mut l) = self.latest.write() {
            *l = Some(Arc::new(s));
        }
    }

    /// Reads the figures once and keeps them; returns how long the read took.
    pub async fn refresh(&self, store: &dyn Store) -> Duration {
        let started = Instant::now();
        match store.queue_stats(None).await {
            Ok(queue) => {
                let database_bytes = match store.database_size().await {
                    Ok(n) => Some(n),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the database size");
                        None
                    }
                };
                self.set(Snapshot {
                    queue,
                    database_bytes,
                    at: OffsetDateTime::now_utc(),
                });
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the queue's figures"),
        }
        started.elapsed()
    }
}

/// The wait before the next read, after one that took `took`.
pub fn next_wait(took: Duration) -> Duration {
    (took * COST_FACTOR).clamp(MIN_INTERVAL, MAX_INTERVAL)
}

/// Reads the figures now and then again and again until `stop` turns true.
pub async fn refresh_loop(
    stats: Arc<StoreStats>,
    store: Arc<dyn Store>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let took = stats.refresh(store.as_ref()).await;
        tokio::select! {
            _ = tokio::time::sleep(next_wait(took)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_reads_are_spaced_out() {
        assert_eq!(next_wait(Duration::from_millis(3)), MIN_INTERVAL);
        assert_eq!(
            next_wait(Duration::from_millis(530)),
            Duration::from_millis(10_600)
        );
        assert_eq!(next_wait(Duration::from_secs(30)), MAX_INTERVAL);
    }
}
