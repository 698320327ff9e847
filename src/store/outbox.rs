//! The outbox interface (STYLE "An outbox trait"): what the dispatch engine, the
//! delivery workers and the CLI need of a store, so that a second backend
//! (PostgreSQL, for several replicas) is an implementation, not a fork. The
//! embedded SQLite store (`Store`, `Batch`, `Reader` in this module's parent)
//! is the first implementation. Errors are the store's own ([`StoreError`]).

use super::{
    Backlog, CodeSeries, Counters, DeadLetter, EventFilter, EventPage, EventRow, EventSummary,
    FoldBucket, NotificationView, Queued, ReplicaSeen, Result, State,
};
use crate::group::{GroupState, Seeds};
use crate::notification::{Notification, Receipt};
use crate::silence::{Silence, SilenceHit};

/// A page of [`Views::scan_groups`] and the cursor of the next, if any.
pub type GroupScan = (Vec<(String, GroupState)>, Option<String>);

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

    /// Whether other processes write this store too (several replicas): the engine
    /// then locks and reads the groups each batch touches instead of trusting its
    /// memory, and ticks only under the ticker lease.
    fn shared(&self) -> bool;

    /// Takes or renews lease `name` for `lease_ms` when it is free, expired or
    /// already ours; true while this process holds it.
    fn take_lease(&mut self, name: &str, now_ms: i64, lease_ms: i64) -> Result<bool>;

    /// Records that this process runs configuration `config` (now) and returns the
    /// replicas heard from within `within_ms`, this one included.
    fn heartbeat(&mut self, config: &str, now_ms: i64, within_ms: i64) -> Result<Vec<ReplicaSeen>>;

    /// Open groups and the accepted events counted in them (a shared store's view).
    fn open_group_totals(&self) -> Result<(usize, u64)>;

    fn counters(&self) -> Result<Counters>;
    /// Accepted events counted in waiting notifications (SPEC 4 invariant).
    fn pending_notification_events(&self) -> Result<u64>;
    fn load_groups(&self) -> Result<Vec<(String, GroupState)>>;
    /// The seeded groups' rows, oldest first ([`OutboxTx::save_seeds`]); a store
    /// that never saves seeds (a shared one) has none.
    fn load_seeds(&self) -> Result<Vec<Seeds>> {
        Ok(vec![])
    }
    /// The stored ids and bodies of the events after the last transaction that wrote the
    /// engine's state ([`OutboxTx::mark_applied`]), oldest first: events a single
    /// writer committed alone under load, whose groups, alerts and counts were
    /// still only in its memory when it stopped. None on a store that writes the
    /// state with every batch (a shared one).
    fn unapplied_events(&self) -> Result<Vec<(i64, String)>>;
    /// Deletes delivered work older than `before_ms`; returns the rows removed.
    fn prune(&mut self, before_ms: i64) -> Result<usize>;
    fn size_bytes(&self) -> u64;
    /// Silences not expired yet (active, pending, or ended but not yet marked
    /// expired), oldest first: what the engine matches events against.
    fn active_silences(&self) -> Result<Vec<Silence>>;
}

/// Operations inside one write transaction.
pub trait OutboxTx {
    /// Stores events with their filter columns, in order; per event, its stored id,
    /// or `None` when its Sid was seen before (a retry, or earlier in `rows`).
    fn insert_events(&self, rows: &[EventRow<'_>]) -> Result<Vec<Option<i64>>>;
    /// Locks groups `keys` for the rest of the transaction (another replica's batch
    /// touching one of them waits) and reads those that are open; with the number
    /// of groups open in the store in all.
    fn lock_groups(&self, keys: &[String]) -> Result<(Vec<(String, GroupState)>, usize)>;
    /// [`OutboxTx::insert_events`] then [`OutboxTx::lock_groups`], which a shared
    /// store sends together (one round trip; the insert needs no group lock).
    #[allow(clippy::type_complexity)]
    fn insert_and_lock(
        &self,
        rows: &[EventRow<'_>],
        keys: &[String],
    ) -> Result<(Vec<Option<i64>>, Vec<(String, GroupState)>, usize)> {
        let fresh = self.insert_events(rows)?;
        let (groups, open) = self.lock_groups(keys)?;
        Ok((fresh, groups, open))
    }
    /// Reads the open groups among `keys` (with the rows an earlier save or load
    /// gave, see [`GroupState::row`]): the embedded store's one writer warming its
    /// cold groups. The default locks them too ([`OutboxTx::lock_groups`]).
    fn read_groups(&self, keys: &[(String, Option<i64>)]) -> Result<Vec<(String, GroupState)>> {
        let keys: Vec<String> = keys.iter().map(|(k, _)| k.clone()).collect();
        self.lock_groups(&keys).map(|(groups, _)| groups)
    }
    /// Locks and reads up to `limit` groups whose window ended at `now_ms`, skipping
    /// any another transaction holds (they are due at the next tick).
    fn lock_due_groups(&self, now_ms: i64, limit: usize) -> Result<Vec<(String, GroupState)>>;
    fn get_event(&self, sid: &str) -> Result<Option<String>>;
    /// Records that the state this transaction writes accounts for every event
    /// stored so far (see [`Outbox::unapplied_events`]).
    fn mark_applied(&self) -> Result<()>;
    /// Saves group `key` (`None`: it closed, delete it). `row`: where an earlier
    /// save or load said the store keeps it; returns where it keeps it now.
    fn save_group(
        &self,
        key: &str,
        row: Option<i64>,
        g: Option<&GroupState>,
    ) -> Result<Option<i64>>;
    fn add_counters(&self, delta: &Counters) -> Result<()>;
    /// Saves fresh one-event groups together, as one row that stands until the last
    /// of their windows ends ([`OutboxTx::drop_seeds`]). Only the embedded store's
    /// engine seeds (its memory is the authority); a shared store refuses.
    fn save_seeds(&self, _seeds: &Seeds) -> Result<()> {
        Err(super::StoreError::Backend(
            "a shared store keeps no seeded groups".into(),
        ))
    }
    /// Deletes the seeds' rows whose every window ended at `now_ms`.
    fn drop_seeds(&self, _now_ms: i64) -> Result<()> {
        Ok(())
    }
    /// The Sid and resource of the stored events `ids` (seeded groups' first
    /// events), by id; an id not stored is left out.
    fn seed_events(&self, _ids: &[i64]) -> Result<Vec<(i64, String, Option<String>)>> {
        Err(super::StoreError::Backend(
            "a shared store keeps no seeded groups".into(),
        ))
    }

    /// Queues a notification; `event_count`: the accepted events it accounts for.
    fn insert_notification(&self, n: &Notification, event_count: u64, now_ms: i64) -> Result<()>;
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

/// A channel's send pacing on a shared store: every replica's sends of one channel
/// draw from one budget, so the provider sees the configured rate in total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permit {
    /// Not shared: the worker paces itself (one process).
    Local,
    /// Send now. `broken`: the channel's broken mark, shared by every replica.
    Now { broken: Option<String> },
    /// Over the rate: ask again then.
    WaitUntil(i64),
    /// Paused until then by a provider's `Retry-After` (another replica's answer).
    Paused(i64),
}

/// What a delivery worker reads and claims: its channel's due notifications.
#[async_trait::async_trait]
pub trait Queue: Send + Sync {
    /// Waiting notifications of `channel` due at `now_ms`, oldest first, claimed
    /// for `lease_ms`: no other replica takes them until the claim expires.
    async fn claim(
        &self,
        channel: &str,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<Queued>>;
    async fn is_pending(&self, id: i64) -> Result<bool>;
    async fn next_due_at(&self, channel: &str) -> Result<Option<i64>>;
    /// One send of `channel` under its rate (`interval_ms` per message, bursts of
    /// `burst`) and its `Retry-After` pause, across replicas.
    async fn permit(
        &self,
        channel: &str,
        interval_ms: i64,
        burst: u32,
        now_ms: i64,
    ) -> Result<Permit>;
    /// A provider's `Retry-After`: no replica sends on `channel` before `until_ms`.
    async fn pause(&self, channel: &str, until_ms: i64) -> Result<()>;
    /// What `channel`'s provider gave back for the first alert of group `key`, if
    /// the group is still open and has it.
    async fn receipt(&self, key: &str, channel: &str) -> Result<Option<Receipt>>;
    /// The newest running total a replica showed in living message `key` (a Slack
    /// alert being edited), on a shared store; `None` when unknown or not shared.
    async fn shown_total(&self, key: &str) -> Result<Option<u64>>;
    /// Records that `total` is shown in message `key` (kept only if it is newer).
    async fn record_shown(&self, key: &str, total: u64, now_ms: i64) -> Result<()>;
    /// Marks `channel` broken (`Some(reason)`) or working again.
    async fn set_broken(&self, channel: &str, reason: Option<&str>) -> Result<()>;
}

/// Read views for the CLI, the API and the console.
pub trait Views: Send {
    fn dead_letters(&self) -> Result<Vec<DeadLetter>>;
    /// Dead letters after id `after`, oldest first, `limit` at most; and how many
    /// there are in all.
    fn dead_letter_page(&self, after: Option<i64>, limit: usize) -> Result<(Vec<DeadLetter>, u64)>;
    fn pending_count(&self, channel: &str) -> Result<u64>;
    /// Events newest first, filtered, `limit` at most, with the next page's cursor.
    fn events(&self, filter: &EventFilter, limit: usize) -> Result<EventPage>;
    /// One event: its summary and stored body (JSON).
    fn event(&self, sid: &str) -> Result<Option<(EventSummary, String)>>;
    /// One event's stored body (JSON) alone: one lookup by Sid.
    fn event_body(&self, sid: &str) -> Result<Option<String>>;
    /// Every notification made for an event, oldest first.
    fn notifications_of(&self, sid: &str) -> Result<Vec<NotificationView>>;
    /// Open groups by key, at most `limit` after the key `after` (keyset).
    fn open_groups(&self, after: Option<&str>, limit: usize) -> Result<Vec<(String, GroupState)>>;
    /// Every open group, `limit` at a time in whatever order the store reads
    /// cheapest (the cursor is the store's own): for counting what matches, not
    /// for showing. The second value is the next page's cursor.
    fn scan_groups(&self, after: Option<&str>, limit: usize) -> Result<GroupScan>;
    /// Waiting work of one channel.
    fn backlog(&self, channel: &str, now_ms: i64) -> Result<Backlog>;
    /// The error of a channel's latest dead letter: why it is broken, when it is.
    fn last_dead_error(&self, channel: &str) -> Result<Option<String>>;
    /// The store's size on disk in bytes.
    fn size_bytes(&self) -> Result<u64>;
    /// Events per minute since `since_ms` for the `top` codes with the most events
    /// (just that code when `only` names one).
    fn per_minute(&self, since_ms: i64, top: usize, only: Option<u32>) -> Result<Vec<CodeSeries>>;
    /// Silences, newest first: not expired ones, or (`all`) every one.
    fn silences(&self, all: bool) -> Result<Vec<Silence>>;
}
