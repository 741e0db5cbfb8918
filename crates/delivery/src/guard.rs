//! The lease guard: whether the worker delivering a batch still holds its lease, checked
//! before every write request (`write::execute`). The worker that owns the lease keeps it
//! current; a guard that dropped stops the batch's writes, so a worker that stalled past its
//! lease, or could not extend it, never writes what another worker now owns.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Shared by the worker (which moves it) and the delivery (which reads it); cloning shares.
#[derive(Debug, Clone)]
pub struct LeaseGuard {
    /// Writes may start before this instant; `None` once the lease is known lost.
    until: Arc<Mutex<Option<Instant>>>,
}

impl LeaseGuard {
    /// A guard that holds until `until` (by this process's monotonic clock, which keeps
    /// running while the process is stopped, so a stall past it is seen on resume).
    pub fn until(until: Instant) -> LeaseGuard {
        LeaseGuard {
            until: Arc::new(Mutex::new(Some(until))),
        }
    }

    /// A guard for a lease taken at `taken` for `lease_for`: writes may start during the
    /// first two thirds of it, leaving the last third for a write in flight to finish.
    pub fn for_lease(taken: Instant, lease_for: Duration) -> LeaseGuard {
        LeaseGuard::until(taken + lease_for * 2 / 3)
    }

    /// The lease was extended at `at` (measured before asking) for `lease_for`. A guard
    /// that was lost stays lost.
    pub fn extended(&self, at: Instant, lease_for: Duration) {
        let mut until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        if until.is_some() {
            *until = Some(at + lease_for * 2 / 3);
        }
    }

    /// The lease is lost (an extension failed or came back short): no further writes.
    pub fn lose(&self) {
        *self.until.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Whether a write request may be sent now.
    pub fn held(&self) -> bool {
        self.until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|u| Instant::now() < u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_until_its_time_or_until_lost() {
        let g = LeaseGuard::for_lease(Instant::now(), Duration::from_secs(60));
        assert!(g.held());
        let shared = g.clone();
        shared.extended(Instant::now(), Duration::from_secs(60));
        assert!(g.held());
        shared.lose();
        assert!(!g.held(), "clones share the guard");
        g.extended(Instant::now(), Duration::from_secs(60));
        assert!(
            !g.held(),
            "a lost lease is not won back by a late extension"
        );
    }

    #[test]
    fn a_stall_past_the_lease_drops_it() {
        let taken = Instant::now() - Duration::from_secs(50);
        assert!(!LeaseGuard::for_lease(taken, Duration::from_secs(60)).held());
        assert!(!LeaseGuard::until(Instant::now()).held());
    }
}
