//! Per-channel rate limits and backlog size (SPEC 4), with defaults that respect
//! each provider.

use crate::config::ChannelSettings;
use crate::kinds::KindInfo;
use governor::Quota;
use std::num::NonZeroU32;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelLimits {
    /// Messages per `per`.
    pub count: u32,
    pub per: Duration,
    pub burst: u32,
    /// Pending notifications past which a backlog is folded into digests.
    pub max_pending: usize,
}

impl ChannelLimits {
    /// The kind's defaults (its row in [`crate::kinds::KINDS`]).
    pub fn default_for(kind: &KindInfo) -> ChannelLimits {
        let d = kind.limits;
        ChannelLimits {
            count: d.count,
            per: Duration::from_secs(d.per_secs),
            burst: d.burst,
            max_pending: d.max_pending,
        }
    }

    pub fn from_settings(name: &str, ch: &ChannelSettings) -> Result<ChannelLimits, String> {
        let t = ch.throttle();
        let mut l = Self::default_for(ch.kind());
        if let Some(r) = &t.rate_limit {
            let (count, per) =
                parse_rate(r).map_err(|e| format!("channels.{name}.rate_limit: {e}"))?;
            l.count = count;
            l.per = per;
            if t.burst.is_none() {
                l.burst = l.burst.min(count.max(1));
            }
        }
        if let Some(b) = t.burst {
            if b == 0 {
                return Err(format!("channels.{name}.burst: must be at least 1"));
            }
            l.burst = b;
        }
        if let Some(m) = t.max_pending {
            if m == 0 {
                return Err(format!("channels.{name}.max_pending: must be at least 1"));
            }
            l.max_pending = m;
        }
        Ok(l)
    }

    /// Milliseconds between messages at the steady rate (a shared limiter's step).
    pub fn interval_ms(&self) -> i64 {
        (self.per.as_millis() as i64 / i64::from(self.count.max(1))).max(1)
    }

    pub fn quota(&self) -> Quota {
        let period = self.per / self.count.max(1);
        let burst = NonZeroU32::new(self.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(period.max(Duration::from_micros(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst)
    }

    pub fn describe(&self) -> String {
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "m",
            3600 => "h",
            _ => "?",
        };
        format!(
            "{}/{unit} burst {} max_pending {}",
            self.count, self.burst, self.max_pending
        )
    }
}

/// `"N/s"`, `"N/m"`, `"N/h"` (also `sec`, `min`, `hour`).
pub fn parse_rate(s: &str) -> Result<(u32, Duration), String> {
    let bad = || format!("{s:?} is not a rate like \"1/s\", \"20/m\" or \"100/h\"");
    let (n, unit) = s.trim().split_once('/').ok_or_else(bad)?;
    let n: u32 = n.trim().parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(format!("{s:?}: the count must be at least 1"));
    }
    let per = match unit.trim() {
        "s" | "sec" | "second" => 1,
        "m" | "min" | "minute" => 60,
        "h" | "hour" => 3600,
        _ => return Err(bad()),
    };
    Ok((n, Duration::from_secs(per)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("1/s").unwrap(), (1, Duration::from_secs(1)));
        assert_eq!(
            parse_rate(" 20 / m ").unwrap(),
            (20, Duration::from_secs(60))
        );
        assert_eq!(
            parse_rate("100/h").unwrap(),
            (100, Duration::from_secs(3600))
        );
        for bad in ["", "1", "x/s", "0/s", "1/d", "-1/s"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn governor_holds_the_rate() {
        use governor::clock::FakeRelativeClock;
        use governor::RateLimiter;
        let l = ChannelLimits {
            count: 1,
            per: Duration::from_secs(1),
            burst: 3,
            max_pending: 10,
        };
        let clock = FakeRelativeClock::default();
        let lim = RateLimiter::direct_with_clock(l.quota(), clock.clone());
        // A burst of 3, then one per second.
        assert!((0..3).all(|_| lim.check().is_ok()));
        assert!(lim.check().is_err());
        clock.advance(Duration::from_millis(999));
        assert!(lim.check().is_err());
        clock.advance(Duration::from_millis(1));
        assert!(lim.check().is_ok());
        assert!(lim.check().is_err());
    }
}
