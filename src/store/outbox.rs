//! The outbox interface (STYLE "An outbox trait"): what the dispatch engine, the
//! delivery workers and the CLI need of a store, so that a second backend
//! (PostgreSQL, for several replicas) is an implementation, not a fork. The
//! embedded SQLite store (`Store`, `Batch`, `Reader` in this module's parent)
//! is the first implementation. Errors are the store's own ([`StoreError`]).

use super::{
    Counters, DeadLetter, EventFilter, EventPage, EventRow, FoldBucket, Queued, Result, State,
};
use crate::group::GroupState;
use crate::notification::Notification;
use crate::silence::{Silence, SilenceHit};

/// The writer side: one per service, owned by the dispatch engine.
pub trait Outbox: Send + 'static {
    type Tx<'t>: OutboxTx
    where
        Self: 't;

    /// Runs `f` in one transaction (group commit): everything it wrote is durable
    /// together, or none of it is (an error). Refuses when the store is not the one
    /// opened or cannot be written (see [`Outbox::check`]).
    fn batch<T>(&mut self, f: impl FnOnce(&Self::Tx<'_>) -> Result<T>) -> Result<T>;

    /// Whether the store is still the one opened and looks sound; the error names
    /// the cause (`/readyz`).
    fn check(&mut self) -> Result<()>;

    /// A tiny write: proves the store takes writes again after a failure.
    fn probe_write(&mut self, now_ms: i64) -> Result<()>;

    /// Saves what the open store still holds when its storage vanished under it
    /// (a deleted SQLite file); returns where, or `None` when there is nothing to do.
    fn rescue(&mut self, now_ms: i64) -> Option<Result<String>>;

    /// Where the store is, for logs (never a password).
    fn describe(&self) -> String;

    fn counters(&self) -> Result<Counters>;
    /// Accepted events counted in waiting notifications (SPEC 4 invariant).
    fn pending_notification_events(&self) -> Result<u64>;
    fn load_groups(&self) -> Result<Vec<(String, GroupState)>>;
    /// Deletes delivered work older than `before_ms`; returns the rows removed.
    fn prune(&mut self, before_ms: i64) -> Result<usize>;
    fn size_bytes(&self) -> u64;
    /// Silences not expired yet (active, pending, or ended but not yet marked
    /// expired), oldest first: what the engine matches events against.
    fn active_silences(&self) -> Result<Vec<Silence>>;
}

/// Operations inside one write transaction.
pub trait OutboxTx {
    /// Stores an event with its filter columns; false when its Sid was seen before
    /// (a retry).
    fn insert_event(&self, row: &EventRow<'_>) -> Result<bool>;
    fn get_event(&self, sid: &str) -> Result<Option<String>>;
    fn save_group(&self, key: &str, g: Option<&GroupState>) -> Result<()>;
    fn add_counters(&self, delta: &Counters) -> Result<()>;

    /// Queues a notification; `event_count`: the accepted events it accounts for.
    fn insert_notification(&self, n: &Notification, event_count: u64, now_ms: i64) -> Result<i64>;
    /// Settles a waiting notification; false when it was no longer waiting.
    fn set_state(
        &self,
        id: i64,
        state: State,
        attempts: u32,
        now_ms: i64,
        error: Option<&str>,
    ) -> Result<bool>;
    fn reschedule(
        &self,
        id: i64,
        attempts: u32,
        next_at_ms: i64,
        now_ms: i64,
        error: &str,
    ) -> Result<()>;
    /// A notification's accounted event count and whether it is a digest.
    fn accounting(&self, id: i64) -> Result<(u64, bool)>;
    /// After a success: what waits on a retry backoff becomes due now.
    fn hurry_retries(&self, channel: &str, now_ms: i64) -> Result<usize>;
    /// Dead letters back in the queue (`None`: all); returns the rows requeued.
    fn requeue_dead(&self, id: Option<i64>, now_ms: i64) -> Result<usize>;

    fn pending_count(&self, channel: &str) -> Result<u64>;
    fn fold_buckets(&self, channel: &str) -> Result<Vec<FoldBucket>>;
    fn fold_samples(&self, channel: &str, b: &FoldBucket, limit: usize) -> Result<Vec<Queued>>;
    fn mark_folded(&self, channel: &str, b: &FoldBucket, now_ms: i64) -> Result<usize>;

    /// Stores a new silence (its id is new).
    fn insert_silence(&self, s: &Silence) -> Result<()>;
    /// One silence, expired or not.
    fn silence(&self, id: &str) -> Result<Option<Silence>>;
    /// Marks a silence expired at `now_ms` (`by`: who expired it early; `None`: it
    /// ran out). False when it is unknown or was already expired (by another
    /// replica, say), so exactly one writer sends its summaries.
    fn expire_silence(&self, id: &str, now_ms: i64, by: Option<&str>) -> Result<bool>;
    /// Adds `events` held back to a silence and moves its last match to
    /// `last_match_ms` if later (what `until_quiet` counts from).
    fn add_suppressed(&self, id: &str, events: u64, last_match_ms: i64) -> Result<()>;
    /// Adds `events` held back on `route`; `sample_sid` is kept from the first call.
    fn add_silence_hits(&self, id: &str, route: &str, events: u64, sample_sid: &str) -> Result<()>;
    /// What a silence held back, per route.
    fn silence_hits(&self, id: &str) -> Result<Vec<SilenceHit>>;
}

/// What a delivery worker reads: its channel's due notifications.
pub trait Queue: Send {
    /// Waiting notifications of `channel` due at `now_ms`, oldest first.
    fn due(&self, channel: &str, now_ms: i64, limit: usize) -> Result<Vec<Queued>>;
    fn is_pending(&self, id: i64) -> Result<bool>;
    fn next_due_at(&self, channel: &str) -> Result<Option<i64>>;
}

/// Read views for the CLI, the API and the console.
pub trait Views: Send {
    fn dead_letters(&self) -> Result<Vec<DeadLetter>>;
    fn pending_count(&self, channel: &str) -> Result<u64>;
    /// Events newest first, filtered, `limit` at most, with the next page's cursor.
    fn events(&self, filter: &EventFilter, limit: usize) -> Result<EventPage>;
    /// Silences, newest first: not expired ones, or (`all`) every one.
    fn silences(&self, all: bool) -> Result<Vec<Silence>>;
}
