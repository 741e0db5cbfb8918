//! The destination's pause: a pure state machine over the org-wide trouble the batches
//! meet (org unavailable, throttled, out of requests, the concurrent limit) and the probes
//! that tell when it is over. Times are passed in, so the machine is tested without
//! clocks; `gate.rs` drives it with real time, one cheap probe at a time.

use std::time::Duration;

use domain::FailureKind;
use tokio::time::Instant;

/// Why the destination is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The org does not answer (503, connection refused, timeout).
    Unavailable,
    /// HTTP 429: not before `Retry-After`.
    Throttled,
    /// The daily request limit (`REQUEST_LIMIT_EXCEEDED`).
    RequestLimit,
    /// The org's daily API usage passed `pause_at_api_usage`.
    UsageShare,
    /// The concurrent long-running request limit (short-lived).
    ConcurrentLimit,
}

impl Why {
    /// The org-wide failure kinds that pause the destination (a refused sign-in does not:
    /// it waits for a reconnect instead, see `resolver.rs`).
    pub fn from_kind(kind: FailureKind) -> Option<Why> {
        match kind {
            FailureKind::OrgUnavailable => Some(Why::Unavailable),
            FailureKind::Throttled => Some(Why::Throttled),
            FailureKind::RequestLimit => Some(Why::RequestLimit),
            FailureKind::ConcurrentLimit => Some(Why::ConcurrentLimit),
            _ => None,
        }
    }

    /// The stable name shown in `GET /api/v1/integrations` and `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            Why::Unavailable => "org_unavailable",
            Why::Throttled => "throttled",
            Why::RequestLimit => "request_limit",
            Why::UsageShare => "api_usage",
            Why::ConcurrentLimit => "concurrent_limit",
        }
    }

    /// In words, for the status and the service log.
    pub fn describe(self) -> &'static str {
        match self {
            Why::Unavailable => "Salesforce is not answering (503, refused or timed out)",
            Why::Throttled => "Salesforce asked to slow down (HTTP 429)",
            Why::RequestLimit => {
                "Salesforce answered REQUEST_LIMIT_EXCEEDED (daily API limit reached)"
            }
            Why::UsageShare => "the org's daily API usage passed pause_at_api_usage",
            Why::ConcurrentLimit => "the org's concurrent long-running request limit was reached",
        }
    }

    /// The daily limit frees calls slowly: re-read at the fixed recheck interval rather
    /// than from one second up.
    fn is_daily(self) -> bool {
        matches!(self, Why::RequestLimit | Why::UsageShare)
    }
}

/// How often to probe while paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbePolicy {
    /// First probe after this long; doubled after each failed probe...
    pub first: Duration,
    /// ...up to this.
    pub max: Duration,
    /// For the daily limit: this interval throughout.
    pub daily_recheck: Duration,
}

impl Default for ProbePolicy {
    /// 1 s doubling to 8 s (an outage's end is noticed within 8 s), the daily limit every 30 s.
    fn default() -> Self {
        ProbePolicy {
            first: Duration::from_secs(1),
            max: Duration::from_secs(8),
            daily_recheck: Duration::from_secs(30),
        }
    }
}

/// Where the destination stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Delivering,
    Paused {
        why: Why,
        since: Instant,
        /// No lease and no probe before this.
        next_probe: Instant,
        /// The wait after the next failed probe (before doubling).
        interval: Duration,
    },
}

/// A change worth announcing (status, metrics, one log line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Paused(Why),
    /// Still paused, for another reason.
    Now(Why),
    /// Delivering again after this long.
    Resumed(Duration),
}

#[derive(Debug, Clone)]
pub struct Pause {
    pub state: State,
    pub policy: ProbePolicy,
}

impl Pause {
    pub fn new(policy: ProbePolicy) -> Pause {
        Pause {
            state: State::Delivering,
            policy,
        }
    }

    pub fn is_paused(&self) -> bool {
        matches!(self.state, State::Paused { .. })
    }

    /// A batch (or the usage check) met org-wide trouble at `now`.
    pub fn trouble(
        &mut self,
        why: Why,
        retry_after: Option<Duration>,
        now: Instant,
    ) -> Option<Change> {
        let not_before = now + retry_after.unwrap_or_default();
        match &mut self.state {
            State::Delivering => {
                let first = self.first_interval(why);
                self.state = State::Paused {
                    why,
                    since: now,
                    next_probe: (now + first).max(not_before),
                    interval: self.after(first, why),
                };
                Some(Change::Paused(why))
            }
            State::Paused {
                why: was,
                next_probe,
                ..
            } => {
                // Other batches still in flight report the same trouble: no new schedule,
                // but a later Retry-After is honoured.
                *next_probe = (*next_probe).max(not_before);
                if *was != why {
                    *was = why;
                    return Some(Change::Now(why));
                }
                None
            }
        }
    }

    /// Whether a probe may be sent now (paused and its time has come).
    pub fn probe_due(&self, now: Instant) -> bool {
        matches!(self.state, State::Paused { next_probe, .. } if now >= next_probe)
    }

    /// When the next probe is due, while paused.
    pub fn next_probe(&self) -> Option<Instant> {
        match self.state {
            State::Paused { next_probe, .. } => Some(next_probe),
            State::Delivering => None,
        }
    }

    /// The probe found the org still in trouble: wait longer (doubling, bounded).
    pub fn probe_failed(
        &mut self,
        why: Why,
        retry_after: Option<Duration>,
        now: Instant,
    ) -> Option<Change> {
        let (first, max, daily) = (
            self.policy.first,
            self.policy.max,
            self.policy.daily_recheck,
        );
        match &mut self.state {
            State::Delivering => self.trouble(why, retry_after, now),
            State::Paused {
                why: was,
                next_probe,
                interval,
                ..
            } => {
                let wait = if why.is_daily() {
                    daily
                } else if was.is_daily() {
                    first
                } else {
                    *interval
                };
                *next_probe = now + wait.max(retry_after.unwrap_or_default());
                *interval = if why.is_daily() {
                    daily
                } else {
                    (wait * 2).min(max).max(first)
                };
                if *was != why {
                    *was = why;
                    return Some(Change::Now(why));
                }
                None
            }
        }
    }

    /// The probe (or a batch) got through: deliver again.
    pub fn recovered(&mut self, now: Instant) -> Option<Change> {
        match self.state {
            State::Delivering => None,
            State::Paused { since, .. } => {
                self.state = State::Delivering;
                Some(Change::Resumed(now.saturating_duration_since(since)))
            }
        }
    }

    /// The wait that follows `wait` after a failed probe.
    fn after(&self, wait: Duration, why: Why) -> Duration {
        if why.is_daily() {
            self.policy.daily_recheck
        } else {
            (wait * 2).min(self.policy.max).max(self.policy.first)
        }
    }

    fn first_interval(&self, why: Why) -> Duration {
        if why.is_daily() {
            self.policy.daily_recheck
        } else {
            self.policy.first
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ProbePolicy {
        ProbePolicy {
            first: Duration::from_secs(1),
            max: Duration::from_secs(8),
            daily_recheck: Duration::from_secs(30),
        }
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn an_outage_pauses_once_and_probes_at_doubling_bounded_intervals() {
        let t0 = Instant::now();
        let mut p = Pause::new(policy());
        assert_eq!(
            p.trouble(Why::Unavailable, None, t0),
            Some(Change::Paused(Why::Unavailable))
        );
        // Other batches reporting the same trouble change nothing.
        assert_eq!(p.trouble(Why::Unavailable, None, t0), None);
        assert!(!p.probe_due(t0));
        let mut now = t0;
        let mut probes = Vec::new();
        while now < t0 + S(60) {
            let next = p.next_probe().unwrap();
            now = next;
            assert!(p.probe_due(now));
            probes.push(now.duration_since(t0).as_secs());
            assert_eq!(p.probe_failed(Why::Unavailable, None, now), None);
        }
        assert_eq!(probes, [1, 3, 7, 15, 23, 31, 39, 47, 55, 63]);
        assert_eq!(p.recovered(now + S(1)), Some(Change::Resumed(S(64))));
        assert!(!p.is_paused());
        assert_eq!(p.recovered(now + S(2)), None);
    }

    #[test]
    fn throttling_waits_for_retry_after_at_least() {
        let t0 = Instant::now();
        let mut p = Pause::new(policy());
        p.trouble(Why::Throttled, Some(S(5)), t0);
        assert_eq!(p.next_probe(), Some(t0 + S(5)));
        assert!(!p.probe_due(t0 + S(4)));
        p.probe_failed(Why::Throttled, Some(S(5)), t0 + S(5));
        assert_eq!(p.next_probe(), Some(t0 + S(10)));
        // A later Retry-After seen by another batch pushes the probe back, never forward.
        p.trouble(Why::Throttled, Some(S(7)), t0 + S(6));
        assert_eq!(p.next_probe(), Some(t0 + S(13)));
        p.trouble(Why::Throttled, Some(S(1)), t0 + S(6));
        assert_eq!(p.next_probe(), Some(t0 + S(13)));
    }

    #[test]
    fn the_daily_limit_is_rechecked_at_its_own_interval() {
        let t0 = Instant::now();
        let mut p = Pause::new(policy());
        p.trouble(Why::RequestLimit, None, t0);
        assert_eq!(p.next_probe(), Some(t0 + S(30)));
        p.probe_failed(Why::RequestLimit, None, t0 + S(30));
        assert_eq!(p.next_probe(), Some(t0 + S(60)));
        // The probe itself met an outage: probe from one second up.
        assert_eq!(
            p.probe_failed(Why::Unavailable, None, t0 + S(60)),
            Some(Change::Now(Why::Unavailable))
        );
        assert_eq!(p.next_probe(), Some(t0 + S(61)));
    }

    #[test]
    fn org_wide_kinds_pause_and_record_kinds_do_not() {
        use FailureKind::*;
        assert_eq!(Why::from_kind(OrgUnavailable), Some(Why::Unavailable));
        assert_eq!(Why::from_kind(Throttled), Some(Why::Throttled));
        assert_eq!(Why::from_kind(RequestLimit), Some(Why::RequestLimit));
        assert_eq!(Why::from_kind(ConcurrentLimit), Some(Why::ConcurrentLimit));
        for k in [Record, RecordTransient, AmbiguousCreate, SignedOut] {
            assert_eq!(Why::from_kind(k), None, "{k:?}");
        }
    }
}
