//! Coalescing a living alert's edits (SPEC 13): at most one `chat.update` per
//! message per `update_interval`. Pure: times are passed in (milliseconds on a
//! monotonic clock), so every decision is unit-tested without sleeping.
//!
//! An edit that comes too soon is not dropped: it is kept as the message's
//! *pending* edit (a newer one replaces it: only the newest state matters) and
//! applied by one timer when the interval has passed. The resolved edit is never
//! coalesced: it cancels the pending one and every later running-total edit of
//! that message is dropped, so "resolved" is the message's last word.

use serde_json::Value;
use std::collections::HashMap;

/// A message: its channel id and `ts`.
pub(super) type Key = (String, String);

/// A timer's edit that failed for a passing reason is tried this many times.
const MAX_TIMER_ATTEMPTS: u32 = 5;
/// Idle entries are forgotten after this long (a resolved one included: a late
/// retried digest after that may edit once more, which is harmless).
const KEEP_MS: i64 = 3_600_000;

#[derive(Debug, Default)]
struct Entry {
    last_edit_ms: Option<i64>,
    pending: Option<Value>,
    /// A timer is scheduled to apply `pending`.
    timer: bool,
    resolved: bool,
    attempts: u32,
    touched_ms: i64,
}

/// What to do with a running-total edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Offer {
    /// Kept as pending; schedule a timer for `at_ms` (now, when the interval has
    /// passed) that applies it ([`Edits::take_due`]).
    At { at_ms: i64 },
    /// Kept as pending; a timer is already scheduled.
    Queued,
    /// The message already says resolved: dropped.
    Resolved,
}

/// What a timer finds when it fires.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Due {
    Apply(Value),
    /// Not yet: sleep until `at_ms` and look again.
    Wait {
        at_ms: i64,
    },
    Nothing,
}

#[derive(Debug)]
pub(super) struct Edits {
    interval_ms: i64,
    map: HashMap<Key, Entry>,
}

impl Edits {
    pub fn new(interval: std::time::Duration) -> Edits {
        Edits {
            interval_ms: interval.as_millis().min(i64::MAX as u128) as i64,
            map: HashMap::new(),
        }
    }

    /// A digest's new state of message `key` (the `chat.update` body). Every edit
    /// goes through a timer (at once when the interval allows), so the one that
    /// applies it checks, under the edit lock, that the message has not resolved.
    pub fn offer(&mut self, key: &Key, body: Value, now: i64) -> Offer {
        self.prune(now);
        let interval = self.interval_ms;
        let e = self.map.entry(key.clone()).or_default();
        e.touched_ms = now;
        if e.resolved {
            return Offer::Resolved;
        }
        e.pending = Some(body);
        if e.timer {
            return Offer::Queued;
        }
        e.timer = true;
        Offer::At {
            at_ms: e
                .last_edit_ms
                .map_or(now, |last| (last + interval).max(now)),
        }
    }

    /// The timer's turn: the newest pending edit to apply now; or wait longer (an
    /// edit finished after this timer was set, and the interval counts from
    /// there); or nothing left (applied already, or the message resolved).
    pub fn take_due(&mut self, key: &Key, now: i64) -> Due {
        let interval = self.interval_ms;
        let Some(e) = self.map.get_mut(key) else {
            return Due::Nothing;
        };
        e.touched_ms = now;
        if e.resolved {
            e.timer = false;
            e.pending = None;
            return Due::Nothing;
        }
        if e.pending.is_none() {
            e.timer = false;
            return Due::Nothing;
        }
        if let Some(last) = e.last_edit_ms.filter(|last| now < last + interval) {
            return Due::Wait {
                at_ms: last + interval,
            };
        }
        e.timer = false;
        e.last_edit_ms = Some(now);
        e.pending.take().map_or(Due::Nothing, Due::Apply)
    }

    pub fn interval_ms(&self) -> i64 {
        self.interval_ms
    }

    /// Whether `key` has an entry (not forgotten nor pruned).
    pub fn knows(&self, key: &Key) -> bool {
        self.map.contains_key(key)
    }

    /// When `key` was last edited (by this process), for [`Edits::put_back`].
    pub fn last_edit(&self, key: &Key) -> Option<i64> {
        self.map.get(key).and_then(|e| e.last_edit_ms)
    }

    /// A due edit that may not be applied yet after all (another replica edited
    /// the message within the interval): pending again, unless a newer one came
    /// meanwhile, with the timer still the caller's; `was` is [`Edits::last_edit`]
    /// from before [`Edits::take_due`].
    pub fn put_back(&mut self, key: &Key, body: Value, was: Option<i64>) {
        let e = self.map.entry(key.clone()).or_default();
        if e.resolved {
            return;
        }
        e.pending.get_or_insert(body);
        e.last_edit_ms = was;
        e.timer = true;
    }

    /// A timer's edit failed for a passing reason (rate limited, 5xx, network):
    /// it stays pending (unless a newer one came meanwhile) and is tried again at
    /// the returned time — not before `after_ms` (Retry-After) nor the interval.
    /// `None`: given up, or no longer needed.
    pub fn retry_later(&mut self, key: &Key, body: Value, now: i64, after_ms: i64) -> Option<i64> {
        let interval = self.interval_ms;
        let e = self.map.get_mut(key)?;
        e.attempts += 1;
        if e.resolved || e.timer || e.attempts >= MAX_TIMER_ATTEMPTS {
            return None;
        }
        e.pending.get_or_insert(body);
        e.timer = true;
        Some(now + after_ms.max(interval).max(1))
    }

    /// An edit was applied (Slack answered at `now`): the next one waits a full
    /// interval from here, and the message's failures are behind it.
    pub fn applied(&mut self, key: &Key, now: i64) {
        if let Some(e) = self.map.get_mut(key) {
            e.attempts = 0;
            e.last_edit_ms = Some(e.last_edit_ms.map_or(now, |l| l.max(now)));
        }
    }

    /// The resolved edit is being applied: pending edits are cancelled and later
    /// running totals dropped.
    pub fn resolve(&mut self, key: &Key, now: i64) {
        let e = self.map.entry(key.clone()).or_default();
        e.resolved = true;
        e.pending = None;
        e.last_edit_ms = Some(now);
        e.touched_ms = now;
    }

    /// The message is gone (deleted): nothing to edit any more.
    pub fn forget(&mut self, key: &Key) {
        self.map.remove(key);
    }

    fn prune(&mut self, now: i64) {
        self.map
            .retain(|_, e| e.timer || e.pending.is_some() || now - e.touched_ms < KEEP_MS);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn key() -> Key {
        ("C1".into(), "1.000100".into())
    }

    #[test]
    fn one_edit_per_interval_and_the_newest_wins() {
        let mut e = Edits::new(Duration::from_secs(10));
        assert_eq!(
            e.offer(&key(), json!(1), 0),
            Offer::At { at_ms: 0 },
            "at once"
        );
        assert_eq!(e.take_due(&key(), 0), Due::Apply(json!(1)));
        assert_eq!(
            e.offer(&key(), json!(2), 3_000),
            Offer::At { at_ms: 10_000 }
        );
        assert_eq!(e.offer(&key(), json!(3), 4_000), Offer::Queued);
        assert_eq!(
            e.take_due(&key(), 10_000),
            Due::Apply(json!(3)),
            "the newest state"
        );
        assert_eq!(e.take_due(&key(), 10_001), Due::Nothing, "applied once");
        // The timer's edit counts: the next one waits a full interval after it.
        assert_eq!(
            e.offer(&key(), json!(4), 15_000),
            Offer::At { at_ms: 20_000 }
        );
        assert_eq!(e.offer(&key(), json!(5), 31_000), Offer::Queued);
        assert_eq!(e.take_due(&key(), 31_000), Due::Apply(json!(5)));
        assert_eq!(
            e.offer(&key(), json!(6), 45_000),
            Offer::At { at_ms: 45_000 }
        );
    }

    #[test]
    fn the_interval_counts_from_when_slack_answered() {
        let mut e = Edits::new(Duration::from_secs(10));
        assert_eq!(e.offer(&key(), json!(1), 0), Offer::At { at_ms: 0 });
        assert_eq!(e.take_due(&key(), 0), Due::Apply(json!(1)));
        // The next digest while that edit is still on its way ...
        assert_eq!(e.offer(&key(), json!(2), 100), Offer::At { at_ms: 10_000 });
        // ... which Slack answered only at 1.5 s.
        e.applied(&key(), 1_500);
        assert_eq!(e.take_due(&key(), 10_000), Due::Wait { at_ms: 11_500 });
        assert_eq!(e.offer(&key(), json!(3), 10_100), Offer::Queued);
        assert_eq!(e.take_due(&key(), 11_500), Due::Apply(json!(3)));
    }

    #[test]
    fn messages_are_coalesced_apart() {
        let mut e = Edits::new(Duration::from_secs(10));
        let other: Key = ("C1".into(), "2.000200".into());
        assert_eq!(e.offer(&key(), json!(1), 0), Offer::At { at_ms: 0 });
        assert_eq!(e.offer(&other, json!(1), 1), Offer::At { at_ms: 1 });
    }

    #[test]
    fn resolving_cancels_the_pending_edit_and_later_ones() {
        let mut e = Edits::new(Duration::from_secs(10));
        assert_eq!(e.offer(&key(), json!(1), 0), Offer::At { at_ms: 0 });
        assert_eq!(e.take_due(&key(), 0), Due::Apply(json!(1)));
        assert_eq!(
            e.offer(&key(), json!(2), 1_000),
            Offer::At { at_ms: 10_000 }
        );
        e.resolve(&key(), 2_000);
        assert_eq!(
            e.take_due(&key(), 10_000),
            Due::Nothing,
            "never over the resolved state"
        );
        assert_eq!(e.offer(&key(), json!(3), 60_000), Offer::Resolved);
        assert_eq!(e.retry_later(&key(), json!(3), 60_000, 0), None);
    }

    #[test]
    fn a_failed_timer_edit_is_tried_again_a_few_times() {
        let mut e = Edits::new(Duration::from_secs(1));
        assert_eq!(e.offer(&key(), json!(1), 0), Offer::At { at_ms: 0 });
        assert_eq!(e.take_due(&key(), 0), Due::Apply(json!(1)));
        assert_eq!(e.offer(&key(), json!(2), 10), Offer::At { at_ms: 1_000 });
        let Due::Apply(body) = e.take_due(&key(), 1_000) else {
            panic!("due")
        };
        // Rate limited with Retry-After 5s: not before it.
        assert_eq!(e.retry_later(&key(), body, 1_000, 5_000), Some(6_000));
        assert_eq!(
            e.offer(&key(), json!(3), 2_000),
            Offer::Queued,
            "the newer one waits"
        );
        let Due::Apply(body) = e.take_due(&key(), 6_000) else {
            panic!("due")
        };
        assert_eq!(body, json!(3));
        // Tries so far: at 1s and at 6s.
        let mut at = 6_000;
        let mut tries = 2;
        while let Some(next) = e.retry_later(&key(), body.clone(), at, 0) {
            at = next;
            tries += 1;
            assert_eq!(e.take_due(&key(), at), Due::Apply(json!(3)));
        }
        assert_eq!(tries, MAX_TIMER_ATTEMPTS, "then it gives up");
    }

    #[test]
    fn an_edit_put_back_waits_and_a_newer_one_replaces_it() {
        let mut e = Edits::new(Duration::from_secs(10));
        assert_eq!(e.offer(&key(), json!(1), 0), Offer::At { at_ms: 0 });
        let was = e.last_edit(&key());
        assert_eq!(e.take_due(&key(), 0), Due::Apply(json!(1)));
        // Another replica edited it: back to pending, as if never applied.
        e.put_back(&key(), json!(1), was);
        assert_eq!(e.last_edit(&key()), None);
        assert_eq!(
            e.offer(&key(), json!(2), 100),
            Offer::Queued,
            "the timer is still on"
        );
        assert_eq!(
            e.take_due(&key(), 5_000),
            Due::Apply(json!(2)),
            "the newest"
        );
        e.put_back(&key(), json!(2), None);
        e.resolve(&key(), 6_000);
        assert_eq!(e.take_due(&key(), 7_000), Due::Nothing);
        e.put_back(&key(), json!(3), None);
        assert_eq!(
            e.take_due(&key(), 8_000),
            Due::Nothing,
            "resolved stays resolved"
        );
    }

    #[test]
    fn a_gone_message_and_idle_ones_are_forgotten() {
        let mut e = Edits::new(Duration::from_secs(10));
        assert_eq!(e.offer(&key(), json!(1), 0), Offer::At { at_ms: 0 });
        assert_eq!(e.take_due(&key(), 0), Due::Apply(json!(1)));
        e.forget(&key());
        assert_eq!(
            e.offer(&key(), json!(2), 1),
            Offer::At { at_ms: 1 },
            "a fresh start"
        );
        assert_eq!(e.take_due(&key(), 1), Due::Apply(json!(2)));
        let other: Key = ("C2".into(), "9.9".into());
        assert_eq!(
            e.offer(&other, json!(1), KEEP_MS + 10),
            Offer::At {
                at_ms: KEEP_MS + 10
            }
        );
        assert_eq!(e.len(), 1, "the idle entry was pruned");
    }
}
