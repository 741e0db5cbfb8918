//! The one backoff schedule of the product: the Salesforce client's own retries (when a
//! caller lets it retry), the store's per-delivery retries in the service and the retry
//! rounds of `trailspark sync` all wait [`Backoff::delay`]. The formula is pure (the
//! random part is passed in) so it is tested without chance; [`Backoff::jittered`] draws
//! it from the thread's random generator (`rand`).

use std::time::Duration;

/// Exponential backoff with "equal jitter": before retry `n` (1-based) the ceiling is
/// `min(cap, base · 2^(n-1))`; half of it is always waited and the other half scaled by a
/// random share, so many clients that failed in the same instant (one 503, one row lock)
/// do not come back in lockstep, yet none comes back sooner than half the ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling before the first retry.
    pub base: Duration,
    /// The longest wait, whatever the retry number.
    pub cap: Duration,
}

impl Backoff {
    pub const fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff { base, cap }
    }

    /// The wait's upper bound before retry `retry` (1-based; 0 counts as 1).
    pub fn ceiling(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(31);
        self.base
            .checked_mul(1u32 << exponent)
            .unwrap_or(self.cap)
            .min(self.cap)
    }

    /// The wait's lower bound before retry `retry`: half the ceiling.
    pub fn floor(&self, retry: u32) -> Duration {
        self.ceiling(retry) / 2
    }

    /// The wait before retry `retry` for a random share `unit` ∈ [0, 1] (clamped; not a
    /// number counts as 0): half the ceiling plus `unit` of the other half.
    pub fn delay(&self, retry: u32, unit: f64) -> Duration {
        let ceiling = self.ceiling(retry);
        let half = ceiling / 2;
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        half + (ceiling - half).mul_f64(unit)
    }

    /// [`Backoff::delay`] with a fresh random share.
    pub fn jittered(&self, retry: u32) -> Duration {
        self.delay(retry, jitter())
    }
}

/// A random share in [0, 1) from the thread's generator, for callers that draw one jitter
/// for several retries (records that failed together are retried together).
pub fn jitter() -> f64 {
    rand::random::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn b() -> Backoff {
        Backoff::new(S(2), S(60))
    }

    #[test]
    fn doubles_per_retry_before_jitter() {
        assert_eq!(b().delay(1, 1.0), S(2));
        assert_eq!(b().delay(2, 1.0), S(4));
        assert_eq!(b().delay(3, 1.0), S(8));
    }

    #[test]
    fn never_exceeds_the_cap() {
        for retry in 1..200 {
            assert!(b().delay(retry, 1.0) <= S(60));
        }
        assert_eq!(b().delay(10, 1.0), S(60));
        assert_eq!(b().delay(u32::MAX, 1.0), S(60));
        let huge = Backoff::new(Duration::MAX / 2, Duration::MAX);
        assert_eq!(huge.ceiling(40), Duration::MAX);
    }

    #[test]
    fn jitter_spreads_between_half_and_full() {
        assert_eq!(b().delay(3, 0.0), S(4));
        assert_eq!(b().delay(3, 0.5), S(6));
        assert_eq!(b().delay(3, 7.0), S(8));
        assert_eq!(b().delay(3, f64::NAN), S(4));
        assert_eq!(b().floor(3), S(4));
    }

    #[test]
    fn zeroth_retry_behaves_like_first() {
        assert_eq!(b().delay(0, 1.0), b().delay(1, 1.0));
    }

    #[test]
    fn random_draws_stay_within_the_bounds() {
        for retry in 1..8 {
            for _ in 0..50 {
                let d = b().jittered(retry);
                assert!(d >= b().floor(retry) && d <= b().ceiling(retry), "{d:?}");
            }
        }
        let draws: Vec<f64> = (0..64).map(|_| jitter()).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        assert!(draws.iter().any(|u| *u != draws[0]), "the draws vary");
    }
}
