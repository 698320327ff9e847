//! Retry policy (SPEC 7): a pure function of the attempt, the provider's answer,
//! the time and a random number, so it is tested without clocks or luck.

use crate::config::DeliverySettings;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub max_age: Duration,
    pub initial: Duration,
    pub max_backoff: Duration,
    pub max_retry_after: Duration,
}

impl From<&DeliverySettings> for RetryPolicy {
    fn from(d: &DeliverySettings) -> Self {
        RetryPolicy {
            max_attempts: d.max_attempts.max(1),
            max_age: d.max_age.0,
            initial: d.initial_backoff.0,
            max_backoff: d.max_backoff.0,
            max_retry_after: d.max_retry_after.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    RetryAt(i64),
    GiveUp(String),
}

impl RetryPolicy {
    /// Delay before attempt `attempts + 1`, after `attempts` failed ones.
    /// Exponential (initial × 2^(attempts-1), capped) with equal jitter
    /// (half fixed, half random); a `Retry-After` is honoured, clamped to `max_retry_after`.
    pub fn delay(&self, attempts: u32, retry_after: Option<Duration>, rand01: f64) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(self.max_retry_after);
        }
        let exp = attempts.saturating_sub(1).min(30);
        let base = self
            .initial
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff);
        let half = base / 2;
        half + half.mul_f64(rand01.clamp(0.0, 1.0))
    }

    /// After a retryable failure: when to try again, or give up (dead letter).
    pub fn decide(
        &self,
        attempts: u32,
        created_at_ms: i64,
        now_ms: i64,
        retry_after: Option<Duration>,
        rand01: f64,
    ) -> Decision {
        if attempts >= self.max_attempts {
            return Decision::GiveUp(format!("gave up after {attempts} attempts"));
        }
        let at = now_ms + self.delay(attempts, retry_after, rand01).as_millis() as i64;
        if at - created_at_ms > self.max_age.as_millis() as i64 {
            return Decision::GiveUp(format!(
                "gave up: next attempt would be past delivery.max_age ({}s)",
                self.max_age.as_secs()
            ));
        }
        Decision::RetryAt(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            max_age: Duration::from_secs(3600),
            initial: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(120),
        }
    }

    #[test]
    fn exponential_with_jitter_and_cap() {
        let p = p();
        assert_eq!(p.delay(1, None, 0.0), Duration::from_millis(500));
        assert_eq!(p.delay(1, None, 1.0), Duration::from_secs(1));
        assert_eq!(p.delay(3, None, 1.0), Duration::from_secs(4));
        assert_eq!(p.delay(3, None, 0.5), Duration::from_secs(3));
        assert_eq!(p.delay(20, None, 1.0), Duration::from_secs(60));
        assert_eq!(p.delay(u32::MAX, None, 1.0), Duration::from_secs(60));
    }

    #[test]
    fn retry_after_honoured_and_clamped() {
        let p = p();
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(30)), 0.9),
            Duration::from_secs(30)
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(86400)), 0.9),
            Duration::from_secs(120)
        );
    }

    #[test]
    fn gives_up_on_attempts_and_age() {
        let p = p();
        assert_eq!(p.decide(1, 0, 1000, None, 1.0), Decision::RetryAt(2000));
        assert!(
            matches!(p.decide(5, 0, 1000, None, 1.0), Decision::GiveUp(m) if m.contains("5 attempts"))
        );
        assert!(
            matches!(p.decide(2, 0, 3_599_000, None, 1.0), Decision::GiveUp(m) if m.contains("max_age"))
        );
    }
}
