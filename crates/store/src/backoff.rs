//! The retry schedule: a pure function so it can be tested without a database.

use std::time::Duration;

use crate::RetryPolicy;

/// Delay before the next attempt after `attempts` ended attempts (1 after the first
/// failure): `base · 2^(attempts-1)`, capped at `cap`, then "equal jitter": half of it fixed
/// and half scaled by `jitter` ∈ [0, 1] (clamped), so retries of a batch that failed
/// together spread out instead of hitting Salesforce again in the same instant.
pub fn backoff_delay(policy: &RetryPolicy, attempts: u32, jitter: f64) -> Duration {
    let exponent = attempts.saturating_sub(1).min(32);
    let raw = policy
        .base
        .checked_mul(1u32 << exponent.min(31))
        .unwrap_or(policy.cap);
    let capped = raw.min(policy.cap);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let half = capped / 2;
    half + (capped - half).mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_secs(2),
            cap: Duration::from_secs(60),
        }
    }

    #[test]
    fn doubles_per_attempt_before_jitter() {
        let p = policy();
        assert_eq!(backoff_delay(&p, 1, 1.0), Duration::from_secs(2));
        assert_eq!(backoff_delay(&p, 2, 1.0), Duration::from_secs(4));
        assert_eq!(backoff_delay(&p, 3, 1.0), Duration::from_secs(8));
    }

    #[test]
    fn never_exceeds_the_cap() {
        let p = policy();
        for attempts in 1..200 {
            assert!(backoff_delay(&p, attempts, 1.0) <= p.cap);
        }
        assert_eq!(backoff_delay(&p, 10, 1.0), p.cap);
        assert_eq!(backoff_delay(&p, u32::MAX, 1.0), p.cap);
    }

    #[test]
    fn jitter_spreads_between_half_and_full() {
        let p = policy();
        assert_eq!(backoff_delay(&p, 3, 0.0), Duration::from_secs(4));
        assert_eq!(backoff_delay(&p, 3, 0.5), Duration::from_secs(6));
        assert_eq!(backoff_delay(&p, 3, 7.0), Duration::from_secs(8));
        assert_eq!(backoff_delay(&p, 3, f64::NAN), Duration::from_secs(4));
    }

    #[test]
    fn zeroth_attempt_behaves_like_first() {
        let p = policy();
        assert_eq!(backoff_delay(&p, 0, 1.0), backoff_delay(&p, 1, 1.0));
    }
}
