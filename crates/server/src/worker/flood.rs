//! Floods: while evaluations arrive about as fast as batches leave (many POSTs of 1,000 in a
//! row), a loop that leases at once takes each POST's worth on its own, and every such
//! lease pays its own lookup call and a partly filled write. So once a lease comes back
//! full, the destination is *flooding* for a short while: one loop at a time gathers, until
//! no evaluation has arrived for `gather` (at most five times that), before taking a large
//! lease (up to `max_batch_size`), and the others leave the queue to it. A lone evaluation
//! (no full lease lately) still leaves after `linger`.

use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard, Notify};
use tokio::time::Instant;

/// Shared by the loops of one destination.
pub(super) struct Flood {
    gather: Duration,
    /// When a lease last came back with a full batch.
    last_full: std::sync::Mutex<Option<Instant>>,
    /// Held by the loop that gathers, from the start of its wait until its lease returns.
    gathering: Mutex<()>,
}

/// What a loop about to lease should do.
pub(super) enum Turn<'a> {
    /// No flood: lease as usual.
    Lease,
    /// This loop gathered; lease a large batch, holding the guard until the lease returns.
    Gathered { _guard: MutexGuard<'a, ()> },
    /// Another loop is gathering: leave the queue to it.
    Skip,
}

impl Flood {
    pub(super) fn new(gather: Duration) -> Flood {
        Flood {
            gather,
            last_full: std::sync::Mutex::new(None),
            gathering: Mutex::new(()),
        }
    }

    /// Records a lease's size; a full one (at least one batch) starts or extends the flood.
    pub(super) fn leased(&self, count: usize, batch_size: usize) {
        if count >= batch_size && !self.gather.is_zero() {
            *self
                .last_full
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
        }
    }

    fn flooding(&self, now: Instant) -> bool {
        let last = *self
            .last_full
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        is_flooding(last, self.gather, now)
    }

    /// Before a lease: during a flood, the first loop here gathers (then leases large);
    /// while it gathers, the others skip their turn. `arrivals` is woken by every ingest.
    pub(super) async fn turn(&self, arrivals: &Notify) -> Turn<'_> {
        match self.gathering.try_lock() {
            Err(_) => Turn::Skip,
            Ok(guard) if self.flooding(Instant::now()) => {
                self.gather_until_quiet(arrivals).await;
                Turn::Gathered { _guard: guard }
            }
            Ok(_) => Turn::Lease,
        }
    }

    /// Returns once no ingest has arrived for `gather`, or after five times `gather`.
    async fn gather_until_quiet(&self, arrivals: &Notify) {
        let cap = tokio::time::sleep(self.gather * 5);
        tokio::pin!(cap);
        loop {
            tokio::select! {
                _ = arrivals.notified() => {}
                _ = tokio::time::sleep(self.gather) => return,
                _ = &mut cap => return,
            }
        }
    }
}

/// Pure: a full lease less than `gather` ago means evaluations are still pouring in.
fn is_flooding(last_full: Option<Instant>, gather: Duration, now: Instant) -> bool {
    last_full.is_some_and(|t| now.saturating_duration_since(t) < gather)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recent_full_lease_means_a_flood_and_it_ends_by_itself() {
        let t0 = Instant::now();
        let g = Duration::from_secs(1);
        assert!(!is_flooding(None, g, t0));
        assert!(is_flooding(Some(t0), g, t0 + Duration::from_millis(999)));
        assert!(!is_flooding(Some(t0), g, t0 + g));
    }

    #[tokio::test]
    async fn one_loop_gathers_and_the_others_skip() {
        let gather = Duration::from_millis(20);
        let f = Flood::new(gather);
        assert!(
            matches!(f.turn(&Notify::new()).await, Turn::Lease),
            "no flood yet"
        );
        f.leased(999, 1000);
        assert!(
            matches!(f.turn(&Notify::new()).await, Turn::Lease),
            "a partial lease is no flood"
        );
        f.leased(1000, 1000);
        let start = Instant::now();
        let first = f.turn(&Notify::new()).await;
        assert!(matches!(first, Turn::Gathered { .. }));
        assert!(start.elapsed() >= gather, "it gathered first");
        f.leased(1000, 1000);
        assert!(
            matches!(f.turn(&Notify::new()).await, Turn::Skip),
            "one gatherer at a time"
        );
        drop(first);
        assert!(
            matches!(f.turn(&Notify::new()).await, Turn::Gathered { .. }),
            "the next one's turn"
        );
    }

    #[tokio::test]
    async fn arrivals_keep_the_gatherer_waiting_up_to_its_bound() {
        let gather = Duration::from_millis(30);
        let f = Flood::new(gather);
        f.leased(1000, 1000);
        let arrivals = std::sync::Arc::new(Notify::new());
        let ticker = arrivals.clone();
        let start = Instant::now();
        tokio::spawn(async move {
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                ticker.notify_waiters();
            }
        });
        assert!(matches!(f.turn(&arrivals).await, Turn::Gathered { .. }));
        assert!(
            start.elapsed() >= gather * 5,
            "arrivals every 10 ms kept it gathering until the bound"
        );
    }

    #[tokio::test]
    async fn no_gathering_when_switched_off() {
        let f = Flood::new(Duration::ZERO);
        f.leased(5000, 1000);
        assert!(matches!(f.turn(&Notify::new()).await, Turn::Lease));
    }
}
