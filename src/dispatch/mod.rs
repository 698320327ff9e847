//! The dispatch engine: one thread that owns the store's write connection and the
//! group windows. Ingest, delivery results and the window ticker send it commands;
//! it applies a whole batch of them in one transaction (group commit), then
//! answers. An accepted event is committed before its answer. What it changes
//! (groups, notifications, counts) is written in the same transaction, except
//! under load on a single-writer store: there the events commit alone and their
//! state follows within [`DEFER_FOR`], rebuilt from the stored events after a
//! crash ([`Engine::replay`]).

mod apply;
mod fold;
pub mod plan;
pub mod silences;

use crate::clock::SharedClock;
use crate::event::DebuggerEvent;
use crate::group::{GroupState, Groups};
use crate::runtime::Runtime;
use crate::silence::{Silence, SilenceError, SilenceSpec};
use crate::store::{Counters, Outbox, OutboxTx, StoreError};
use crate::telemetry::Metrics;
use std::collections::{BTreeSet, HashMap};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use tokio::sync::{oneshot, Notify};

/// Largest number of commands applied in one transaction.
const MAX_BATCH: usize = 2048;
/// A batch of at least this many events (and nothing else) on a single-writer
/// store commits them alone and leaves what they change to a later batch: under
/// load the groups, alerts and counts are written once per many commits instead
/// of with each. A quieter batch writes everything with its events.
const DEFER_MIN: usize = 8;
/// Deferred state is written this long after the first batch that left it (in a
/// transaction of its own, once the batch then due has its answers; a timed wait
/// when none comes), or with the next batch that is not only events (a tick is one
/// every 200 ms)...
const DEFER_FOR: std::time::Duration = std::time::Duration::from_millis(50);
/// ...or once this many events wait for it.
const DEFER_EVENTS: usize = 4096;
/// Due groups one tick closes at most on a shared store (the rest at the next).
const TICK_GROUPS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    New,
    /// The Sid was seen before (a Twilio retry): stored once, not notified again.
    Duplicate,
}

/// How a delivery attempt ended, as decided by the worker's retry policy.
#[derive(Debug, Clone)]
pub enum Settled {
    /// Delivered; `receipt`: what the provider gave back for the group's first
    /// alert (kept with the group for threading, edits and resolving).
    Sent {
        group_key: String,
        receipt: Option<crate::notification::Receipt>,
        /// The receipt names a new top-level message standing in for a parent that
        /// is gone (a deleted Slack message): later digests thread under it.
        replaces: bool,
    },
    Retry {
        attempts: u32,
        next_at_ms: i64,
        error: String,
    },
    Dead {
        attempts: u32,
        error: String,
    },
}

/// The accounting invariant's terms (SPEC 4), at one instant.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    pub counters: Counters,
    /// Accepted events still waiting: in open groups or in pending notifications.
    pub pending: u64,
    pub open_groups: usize,
}

impl Snapshot {
    /// notified + digested + muted + unrouted + dead-lettered + below threshold +
    /// silenced + pending.
    pub fn accounted(&self) -> u64 {
        let c = &self.counters;
        c.notified
            + c.digested
            + c.muted
            + c.unrouted
            + c.dead_lettered
            + c.below_threshold
            + c.silenced
            + self.pending
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("{0}")]
    Store(String),
    /// A silence that cannot be created as asked (names the field).
    #[error("{0}")]
    Invalid(SilenceError),
    #[error("dispatch engine stopped")]
    Stopped,
}

/// An event on its way to the engine with its stored JSON and its routes, both
/// made on the caller's (HTTP worker's) thread: the engine thread is serial, every
/// batch waits for it, so work that can happen before it does.
pub(crate) struct Incoming {
    event: DebuggerEvent,
    body: String,
    /// Routed with the configuration current when the event arrived (a reload
    /// racing it is as if the event had come just before the reload).
    routed: apply::Routed,
}

impl Incoming {
    fn new(event: DebuggerEvent, rt: &Runtime) -> Result<Incoming, DispatchError> {
        let body = event
            .to_stored_json()
            .map_err(|e| DispatchError::Store(format!("event {}: {e}", event.sid)))?;
        let routed = apply::route(rt, &event);
        Ok(Incoming {
            event,
            body,
            routed,
        })
    }
}

enum Command {
    /// The event comes back with the answer: the HTTP worker that decoded it frees
    /// it (its own allocator arena; freeing on the serial engine thread, or on a
    /// thread of its own, costs more).
    Ingest {
        event: Box<Incoming>,
        reply: oneshot::Sender<Result<(Accepted, Box<Incoming>), DispatchError>>,
    },
    /// Several events that commit together or not at all (an Event Streams request).
    IngestBatch {
        events: Vec<Incoming>,
        reply: oneshot::Sender<Result<Vec<Accepted>, DispatchError>>,
    },
    Settle {
        id: i64,
        channel: String,
        result: Settled,
        reply: oneshot::Sender<Result<(), DispatchError>>,
    },
    /// Whether the store takes writes (identity, last write); probes after a failure.
    Health {
        reply: oneshot::Sender<Result<(), String>>,
    },
    Tick {
        reply: Option<oneshot::Sender<()>>,
    },
    Reload(Arc<Runtime>),
    RetryDead {
        id: Option<i64>,
        reply: oneshot::Sender<Result<usize, DispatchError>>,
    },
    Snapshot {
        reply: oneshot::Sender<Snapshot>,
    },
    Prune {
        before_ms: i64,
        reply: oneshot::Sender<Option<u64>>,
    },
    /// Creates a silence (SPEC 14), stamped with the engine's clock.
    AddSilence {
        spec: Box<SilenceSpec>,
        reply: oneshot::Sender<Result<Silence, DispatchError>>,
    },
    /// Expires a silence now; answers it, or `None` when none such is in force.
    ExpireSilence {
        id: String,
        by: String,
        reply: oneshot::Sender<Result<Option<Silence>, DispatchError>>,
    },
    /// Acknowledges an open group: no more digests until it closes or resolves.
    Acknowledge {
        key: String,
        by: String,
        reply: oneshot::Sender<Result<bool, DispatchError>>,
    },
    /// This replica runs configuration `config`: which replicas are there?
    Heartbeat {
        config: String,
        within_ms: i64,
        reply: oneshot::Sender<Result<Vec<crate::store::ReplicaSeen>, DispatchError>>,
    },
    /// Finish the commands already queued, then stop.
    Stop,
}

/// Writes what a batch's events (and the deferred ones before) changed: their
/// alerts, groups, silence tallies and counts, and the mark that the store's state
/// now accounts for every stored event.
fn write_state(
    b: &impl OutboxTx,
    groups: &mut Groups,
    backlogged: &mut fold::Backlogged,
    now: i64,
    out: &mut BatchOutcome,
) -> Result<(), StoreError> {
    fold::write_queued(b, backlogged, now, out)?;
    groups.drain_dirty(
        |key, row, g| b.save_group(key, row, g),
        |seeds| b.save_seeds(seeds),
    )?;
    silences::flush(b, &out.tallies)?;
    b.add_counters(&out.delta)?;
    b.mark_applied()
}

/// Brings the cold groups among `keys` into memory before a batch plans: rows read
/// back, seeded groups made again from their events.
fn warm<'k>(
    b: &impl OutboxTx,
    groups: &mut Groups,
    keys: impl IntoIterator<Item = &'k str>,
) -> Result<(), StoreError> {
    let cold = groups.cold_among(keys);
    if !cold.rows.is_empty() {
        let mut stored: HashMap<String, GroupState> =
            b.read_groups(&cold.rows)?.into_iter().collect();
        for (k, _) in &cold.rows {
            groups.warm(k, stored.remove(k));
        }
    }
    if !cold.seeds.is_empty() {
        let ids: Vec<i64> = cold.seeds.iter().map(|(_, id)| *id).collect();
        let events: HashMap<i64, (String, Option<String>)> = b
            .seed_events(&ids)?
            .into_iter()
            .map(|(id, sid, resource)| (id, (sid, resource)))
            .collect();
        for (k, id) in &cold.seeds {
            let state = events
                .get(id)
                .and_then(|(sid, resource)| groups.seed_state(k, sid, resource.as_deref()));
            groups.warm(k, state);
        }
    }
    Ok(())
}

/// Loads an embedded store's groups into `groups`: rows, then seeds.
fn load_groups(store: &impl Outbox, groups: &mut Groups) -> Result<(), StoreError> {
    groups.load(store.load_groups()?);
    groups.load_seeds(store.load_seeds()?);
    Ok(())
}

/// Answers write commands with the store's failure (`503` for events).
fn refuse(writes: Vec<Command>, cause: &str) {
    let err = || DispatchError::Store(cause.to_string());
    for c in writes {
        match c {
            Command::Ingest { reply, .. } => drop(reply.send(Err(err()))),
            Command::IngestBatch { reply, .. } => drop(reply.send(Err(err()))),
            Command::Settle { reply, .. } => drop(reply.send(Err(err()))),
            Command::RetryDead { reply, .. } => drop(reply.send(Err(err()))),
            Command::AddSilence { reply, .. } => drop(reply.send(Err(err()))),
            Command::ExpireSilence { reply, .. } => drop(reply.send(Err(err()))),
            Command::Acknowledge { reply, .. } => drop(reply.send(Err(err()))),
            // A tick's waiter is released; the rest were answered before.
            _ => {}
        }
    }
}

/// Wakes the worker of a channel when it has new work.
#[derive(Debug, Default, Clone)]
pub struct Wakers(Arc<Mutex<HashMap<String, Arc<Notify>>>>);

impl Wakers {
    pub fn get(&self, channel: &str) -> Arc<Notify> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(channel.to_string()).or_default().clone()
    }
    fn wake(&self, channel: &str) {
        self.get(channel).notify_one();
    }
}

/// The handle the rest of the service uses; cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    tx: mpsc::Sender<Command>,
    /// The configuration events are routed with, on the caller's thread.
    runtime: Arc<Mutex<Arc<Runtime>>>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher").finish_non_exhaustive()
    }
}

impl Dispatcher {
    fn runtime(&self) -> Arc<Runtime> {
        self.runtime
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stores, routes and groups one event; returns once it is committed.
    pub async fn ingest(&self, event: DebuggerEvent) -> Result<Accepted, DispatchError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Ingest {
                event: Box::new(Incoming::new(event, &self.runtime())?),
                reply,
            })
            .map_err(|_| DispatchError::Stopped)?;
        let (accepted, _event) = rx.await.map_err(|_| DispatchError::Stopped)??;
        Ok(accepted)
    }

    /// Stores, routes and groups every event in one transaction: all are committed,
    /// or none is (an error). Answers per event, in order.
    pub async fn ingest_batch(
        &self,
        events: Vec<DebuggerEvent>,
    ) -> Result<Vec<Accepted>, DispatchError> {
        let rt = self.runtime();
        let events = events
            .into_iter()
            .map(|e| Incoming::new(e, &rt))
            .collect::<Result<Vec<_>, _>>()?;
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::IngestBatch { events, reply })
            .map_err(|_| DispatchError::Stopped)?;
        rx.await.map_err(|_| DispatchError::Stopped)?
    }

    /// Records how a delivery ended; an error means it was NOT recorded (the store
    /// could not be written), and the caller must not send the notification again.
    pub async fn settle(
        &self,
        id: i64,
        channel: &str,
        result: Settled,
    ) -> Result<(), DispatchError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Settle {
                id,
                channel: channel.to_string(),
                result,
                reply,
            })
            .map_err(|_| DispatchError::Stopped)?;
        rx.await.map_err(|_| DispatchError::Stopped)?
    }

    /// `Ok` when the store takes writes; else the cause. `None`: the engine stopped.
    pub async fn health(&self) -> Option<Result<(), String>> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Health { reply }).ok()?;
        rx.await.ok()
    }

    /// Closes due windows (digests) and folds backlogs; waits until committed.
    pub async fn tick(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Command::Tick { reply: Some(reply) }).is_ok() {
            let _ = rx.await;
        }
    }

    pub fn reload(&self, rt: Arc<Runtime>) {
        *self.runtime.lock().unwrap_or_else(|p| p.into_inner()) = rt.clone();
        let _ = self.tx.send(Command::Reload(rt));
    }

    pub async fn retry_dead(&self, id: Option<i64>) -> Result<usize, DispatchError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::RetryDead { id, reply })
            .map_err(|_| DispatchError::Stopped)?;
        rx.await.map_err(|_| DispatchError::Stopped)?
    }

    /// Deletes delivered work older than `before_ms`; returns the store's size in bytes.
    pub async fn prune(&self, before_ms: i64) -> Option<u64> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Prune { before_ms, reply }).ok()?;
        rx.await.ok()?
    }

    /// Creates a silence; `Invalid` when its end is not after its start.
    pub async fn add_silence(&self, spec: SilenceSpec) -> Result<Silence, DispatchError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::AddSilence {
                spec: Box::new(spec),
                reply,
            })
            .map_err(|_| DispatchError::Stopped)?;
        rx.await.map_err(|_| DispatchError::Stopped)?
    }

    /// Expires silence `id` now (its summaries are queued); `None`: no such
    /// silence in force.
    pub async fn expire_silence(
        &self,
        id: &str,
        by: &str,
    ) -> Result<Option<Silence>, DispatchError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::ExpireSilence {
                id: id.to_string(),
                by: by.to_string(),
                reply,
            })
            .map_err(|_| DispatchError::Stopped)?;
        rx.await.map_err(|_| DispatchError::Stopped)?
    }

    /// Acknowledges the open group `key` (`by`: who); false when no such group is open.
    pub async fn acknowledge(&self, key: &str, by: &str) -> Result<bool, DispatchError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Acknowledge {
                key: key.to_string(),
                by: by.to_string(),
                reply,
            })
            .map_err(|_| DispatchError::Stopped)?;
        rx.await.map_err(|_| DispatchError::Stopped)?
    }

    /// Records this replica's heartbeat; the replicas heard from within `within_ms`.
    pub async fn heartbeat(
        &self,
        config: &str,
        within_ms: i64,
    ) -> Result<Vec<crate::store::ReplicaSeen>, DispatchError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Heartbeat {
                config: config.to_string(),
                within_ms,
                reply,
            })
            .map_err(|_| DispatchError::Stopped)?;
        rx.await.map_err(|_| DispatchError::Stopped)?
    }

    /// Asks the engine to stop once the commands queued before this one are applied.
    pub fn stop(&self) {
        let _ = self.tx.send(Command::Stop);
    }

    pub async fn snapshot(&self) -> Option<Snapshot> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Snapshot { reply }).ok()?;
        rx.await.ok()
    }
}

/// Starts the engine thread. It ends when every [`Dispatcher`] handle is dropped.
pub fn spawn<O: Outbox>(
    store: O,
    runtime: Arc<Runtime>,
    clock: SharedClock,
    wakers: Wakers,
    metrics: Arc<Metrics>,
) -> Result<(Dispatcher, std::thread::JoinHandle<()>), StoreError> {
    let shared_runtime = Arc::new(Mutex::new(runtime.clone()));
    let engine = Engine::new(store, runtime, clock, wakers, metrics)?;
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("twilert-dispatch".into())
        .spawn(move || engine.run(rx))
        .map_err(|e| StoreError::Corrupt {
            what: "dispatch thread".into(),
            message: e.to_string(),
        })?;
    Ok((
        Dispatcher {
            tx,
            runtime: shared_runtime,
        },
        handle,
    ))
}

impl<O: Outbox> Engine<O> {
    fn new(
        store: O,
        runtime: Arc<Runtime>,
        clock: SharedClock,
        wakers: Wakers,
        metrics: Arc<Metrics>,
    ) -> Result<Engine<O>, StoreError> {
        let groups = if store.shared() {
            Groups::new()
        } else {
            // The only writer: memory is the authority between batches.
            let mut groups = Groups::seeding();
            load_groups(&store, &mut groups)?;
            groups
        };
        Ok(Engine {
            store,
            groups,
            // Read on the engine thread when it starts (a PostgreSQL store must not be
            // read from async code).
            silences: Vec::new(),
            runtime,
            clock,
            wakers,
            metrics,
            last_error: None,
            recovered: false,
            ticker: false,
            backlogged: Default::default(),
            deferred: None,
            stale: false,
        })
    }
}

struct Engine<O: Outbox> {
    store: O,
    groups: Groups,
    /// Silences not expired yet: a cache of the store's, reloaded at every tick (so
    /// another process's or replica's show up within one).
    silences: Vec<Silence>,
    runtime: Arc<Runtime>,
    clock: SharedClock,
    wakers: Wakers,
    metrics: Arc<Metrics>,
    /// Why the last write failed; `None` while writes succeed (`/readyz`).
    last_error: Option<String>,
    /// A copy of a deleted store file's contents was written (once).
    recovered: bool,
    /// This replica held the ticker lease at its last try (logged on change).
    ticker: bool,
    /// Channels over their `max_pending` at the last tick or still in a storm
    /// (their new alerts are written folded until the next).
    backlogged: fold::Backlogged,
    /// What committed events changed that is not written yet (see [`DEFER_MIN`]).
    deferred: Option<Deferred>,
    /// Memory could not be rebuilt from the store after a failed write: writes are
    /// refused until it is.
    stale: bool,
}

/// What batches that committed their events alone left for a later one to write:
/// the counts and alerts their events made. Their groups wait in [`Groups`]
/// (changed since the last save). A crash loses none of it: the events are
/// stored, and the ones after the store's `applied_through` mark are planned again at
/// start ([`Engine::replay`]).
struct Deferred {
    delta: Counters,
    tallies: silences::Tallies,
    queued: Vec<(crate::notification::Notification, u64)>,
    events: usize,
    /// When the first of these batches committed.
    since: std::time::Instant,
}

/// Replies held until the batch commits.
enum Reply {
    Ingest(
        oneshot::Sender<Result<(Accepted, Box<Incoming>), DispatchError>>,
        Accepted,
        Box<Incoming>,
    ),
    IngestBatch(
        oneshot::Sender<Result<Vec<Accepted>, DispatchError>>,
        Vec<Accepted>,
    ),
    Unit(oneshot::Sender<()>),
    Settle(oneshot::Sender<Result<(), DispatchError>>),
    Retry(oneshot::Sender<Result<usize, DispatchError>>, usize),
    Silence(
        oneshot::Sender<Result<Option<Silence>, DispatchError>>,
        Option<Silence>,
    ),
    Added(oneshot::Sender<Result<Silence, DispatchError>>, Silence),
    Ack(oneshot::Sender<Result<bool, DispatchError>>, bool),
}

#[derive(Default)]
struct BatchOutcome {
    delta: Counters,
    woken: BTreeSet<String>,
    /// Counter increments to apply after commit.
    metric_incs: MetricIncs,
    /// What silences held back in this batch (written at its end).
    tallies: silences::Tallies,
    /// Alerts the batch's events made, written before the next tick and at the
    /// batch's end ([`fold::write_queued`]).
    queued: Vec<(crate::notification::Notification, u64)>,
}

/// Counter increments summed over a batch: (name, label) → label value → count.
/// Adding one allocates only the first time a value is seen in the batch; an event
/// adds one or two, hashed with foldhash (not SipHash: the keys are ours).
#[derive(Default)]
pub(crate) struct MetricIncs(FastMap<(&'static str, &'static str), FastMap<String, u64>>);

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

impl MetricIncs {
    pub(crate) fn add(&mut self, name: &'static str, label: &'static str, value: &str) {
        let values = self.0.entry((name, label)).or_default();
        match values.get_mut(value) {
            Some(n) => *n += 1,
            None => {
                values.insert(value.to_string(), 1);
            }
        }
    }
}

impl<O: Outbox> Engine<O> {
    fn run(mut self, rx: mpsc::Receiver<Command>) {
        self.reload_silences();
        if let Err(e) = self.replay() {
            tracing::error!(error = %e, "planning the events stored after the last state write failed; writes wait until it succeeds");
            self.write_failed(&e);
            self.stale = true;
        }
        let mut stopping = false;
        loop {
            // What deferred batches left is written once it is DEFER_FOR old: after
            // the batch then due has its answers, or when no command came in that long.
            let first = match &self.deferred {
                None => match rx.recv() {
                    Ok(c) => c,
                    Err(_) => break,
                },
                Some(d) => match rx.recv_timeout(DEFER_FOR.saturating_sub(d.since.elapsed())) {
                    Ok(c) => c,
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        self.apply(Vec::new());
                        continue;
                    }
                },
            };
            let mut cmds = vec![first];
            while cmds.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(c) => cmds.push(c),
                    Err(_) => break,
                }
            }
            if cmds.iter().any(|c| matches!(c, Command::Stop)) {
                stopping = true;
            }
            self.apply(cmds);
            if stopping {
                break;
            }
        }
        if self.deferred.is_some() {
            self.apply(Vec::new()); // every handle gone: nothing is left unwritten
        }
        tracing::debug!("dispatch engine stopped");
    }

    fn apply(&mut self, cmds: Vec<Command>) {
        let only_events = cmds
            .iter()
            .all(|c| matches!(c, Command::Ingest { .. } | Command::IngestBatch { .. }));
        let mut writes = Vec::with_capacity(cmds.len());
        for c in cmds {
            match c {
                Command::Reload(rt) => self.runtime = rt,
                Command::Stop => {}
                Command::Snapshot { reply } => {
                    let _ = reply.send(self.snapshot());
                }
                Command::Health { reply } => {
                    let _ = reply.send(self.health());
                }
                Command::Heartbeat {
                    config,
                    within_ms,
                    reply,
                } => {
                    let now = self.clock.now_ms();
                    let seen = self
                        .store
                        .heartbeat(&config, now, within_ms)
                        .map_err(|e| DispatchError::Store(e.to_string()));
                    let _ = reply.send(seen);
                }
                Command::Prune { before_ms, reply } => {
                    let now = self.clock.now_ms();
                    let pruned = if self.store.shared() && !self.hold_ticker(now) {
                        Ok(0) // the replica holding the ticker lease prunes
                    } else {
                        self.store.prune(before_ms)
                    };
                    let size = match pruned {
                        Ok(n) => {
                            if n > 0 {
                                tracing::info!(
                                    rows = n,
                                    "pruned delivered events past store.retention"
                                );
                            }
                            Some(self.store.size_bytes())
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "pruning the store failed");
                            None
                        }
                    };
                    let _ = reply.send(size);
                }
                other => writes.push(other),
            }
        }
        if writes.is_empty() && self.deferred.is_none() {
            return;
        }
        if self.stale {
            self.recover();
            if self.stale {
                let cause = self.last_error.clone().unwrap_or_default(); // set by recover
                refuse(writes, &cause);
                return;
            }
        }
        let now = self.clock.now_ms();
        if writes.iter().any(|c| matches!(c, Command::Tick { .. })) {
            self.reload_silences();
        }
        let rt = self.runtime.clone();
        let shared = self.store.shared();
        // Another replica may hold the window ticks; without the lease a tick only
        // answers (its waiter) and leaves the windows to the holder.
        let ticks_here = !shared
            || !writes.iter().any(|c| matches!(c, Command::Tick { .. }))
            || self.hold_ticker(now);
        // Events in the batch, each routed before it came (on its HTTP worker, which
        // also frees its routes with the event after the answer).
        let batch_events: usize = writes
            .iter()
            .map(|c| match c {
                Command::Ingest { .. } => 1,
                Command::IngestBatch { events, .. } => events.len(),
                _ => 0,
            })
            .sum();
        let mut replies = Vec::with_capacity(writes.len());
        let carried = self.deferred.take();
        let defer = !shared && only_events && batch_events >= DEFER_MIN;
        // The deferred state is due: written in a transaction of its own once this
        // batch's events are answered, so that they do not wait for it.
        let due = defer
            && carried.as_ref().is_some_and(|d| {
                d.since.elapsed() >= DEFER_FOR || d.events + batch_events > DEFER_EVENTS
            });
        let (mut out, since, deferred_events) = match carried {
            Some(d) => (
                BatchOutcome {
                    delta: d.delta,
                    tallies: d.tallies,
                    queued: d.queued,
                    ..Default::default()
                },
                Some(d.since),
                d.events,
            ),
            None => (BatchOutcome::default(), None, 0),
        };
        let groups = &mut self.groups;
        let silences = &mut self.silences;
        let backlogged = &mut self.backlogged;
        let result = self.store.batch(|b| {
            let incoming = writes.iter().flat_map(|c| match c {
                Command::Ingest { event, .. } => std::slice::from_ref(&**event),
                Command::IngestBatch { events, .. } => events.as_slice(),
                _ => &[],
            });
            let rows: Vec<crate::store::EventRow<'_>> = incoming
                .clone()
                .map(|e| e.routed.row(&e.event, &e.body))
                .collect();
            // Every group key the batch may touch.
            let keys = || {
                incoming
                    .clone()
                    .flat_map(|e| e.routed.group_keys().iter().map(String::as_str))
                    .chain(writes.iter().filter_map(|c| match c {
                        Command::Settle {
                            result: Settled::Sent { group_key, .. },
                            ..
                        } => Some(group_key.as_str()),
                        Command::Acknowledge { key, .. } => Some(key.as_str()),
                        _ => None,
                    }))
            };
            let fresh = if shared {
                // The store owns the groups: lock and read the ones this batch
                // touches (other replicas' batches on them wait), nothing else;
                // sent with the events' insert.
                let keys: Vec<String> = keys().map(str::to_string).collect();
                let (fresh, locked, open) = b.insert_and_lock(&rows, &keys)?;
                *groups = Groups::locked(locked, open);
                fresh
            } else {
                let fresh = b.insert_events(&rows)?;
                if groups.has_cold() {
                    // Memory keeps a key for groups only the store holds: read the
                    // ones this batch touches before it plans.
                    warm(b, groups, keys())?;
                }
                fresh
            };
            drop(rows);
            let mut next = fresh.into_iter();
            for c in writes {
                match c {
                    Command::Ingest { event, reply } => {
                        let new = next.next().expect("one answer per event");
                        let a = apply::ingest_one(
                            groups,
                            silences,
                            &rt,
                            &event.event,
                            &event.routed,
                            new,
                            now,
                            &mut out,
                        );
                        replies.push(Reply::Ingest(reply, a, event));
                    }
                    Command::IngestBatch { events, reply } => {
                        let mut answers = Vec::with_capacity(events.len());
                        for e in &events {
                            let new = next.next().expect("one answer per event");
                            answers.push(apply::ingest_one(
                                groups, silences, &rt, &e.event, &e.routed, new, now, &mut out,
                            ));
                        }
                        replies.push(Reply::IngestBatch(reply, answers));
                    }
                    Command::Settle {
                        id,
                        channel,
                        result,
                        reply,
                    } => {
                        apply::settle_one(b, groups, id, &channel, result, now, &mut out)?;
                        replies.push(Reply::Settle(reply));
                    }
                    Command::Tick { reply } => {
                        fold::write_queued(b, backlogged, now, &mut out)?;
                        if ticks_here {
                            // Silences end under the ticker lease: one replica
                            // sends their summaries.
                            silences::expire_due(b, &rt, silences, now, &mut out)?;
                            b.drop_seeds(now)?;
                            if shared {
                                // Due windows of groups no other batch holds now;
                                // the rest are due at the next tick.
                                let due = b.lock_due_groups(now, TICK_GROUPS)?;
                                // A group this batch already holds is newer in memory.
                                let fresh: Vec<_> = due
                                    .into_iter()
                                    .filter(|(k, _)| groups.get(k).is_none())
                                    .collect();
                                groups.restore(fresh);
                            }
                            apply::emit_digests(b, groups, &rt, now, &mut out)?;
                            fold::fold_backlogs(b, &rt, now, backlogged, &mut out)?;
                        } else {
                            // Another replica folds: this one no longer knows
                            // which channels are over max_pending.
                            backlogged.clear();
                        }
                        if let Some(r) = reply {
                            replies.push(Reply::Unit(r));
                        }
                    }
                    Command::RetryDead { id, reply } => {
                        let rows = b.requeue_dead(id, now)?;
                        out.woken.extend(rt.enabled.iter().cloned());
                        replies.push(Reply::Retry(reply, rows));
                    }
                    Command::AddSilence { spec, reply } => {
                        match spec.build(crate::silence::new_id(), now) {
                            Ok(s) => {
                                b.insert_silence(&s)?;
                                tracing::info!(silence = %s.id, author = %s.author, matchers = %s.describe(), ends_at = %crate::clock::rfc3339(s.ends_at_ms()), "silence added");
                                silences.push(s.clone());
                                replies.push(Reply::Added(reply, s));
                            }
                            Err(e) => {
                                let _ = reply.send(Err(DispatchError::Invalid(e)));
                            }
                        }
                    }
                    Command::ExpireSilence { id, by, reply } => {
                        let s = silences::expire(b, &rt, &id, &by, now, &mut out.woken)?;
                        if s.is_some() {
                            silences.retain(|x| x.id != id);
                            out.metric_incs
                                .add("twilert_silences_ended_total", "how", "expired");
                        }
                        replies.push(Reply::Silence(reply, s));
                    }
                    Command::Acknowledge { key, by, reply } => {
                        let moved = groups.acknowledge(&key, &by, now);
                        if let Some(n) = moved {
                            out.delta.silenced += n;
                            tracing::info!(group = %key, by = %by, silenced = n, "group acknowledged: no more digests until it closes or resolves");
                        }
                        replies.push(Reply::Ack(reply, moved.is_some()));
                    }
                    // Reload, Snapshot, Prune and Stop were handled before the transaction.
                    _ => {}
                }
            }
            if !defer {
                write_state(b, groups, backlogged, now, &mut out)?;
            }
            Ok(out)
        });
        if shared {
            // Memory is not the authority on a shared store.
            self.groups = Groups::new();
        }
        match result {
            Ok(mut out) => {
                self.probe_after_failure();
                if defer {
                    self.deferred = Some(Deferred {
                        delta: out.delta,
                        tallies: std::mem::take(&mut out.tallies),
                        queued: std::mem::take(&mut out.queued),
                        events: deferred_events + batch_events,
                        since: since.unwrap_or_else(std::time::Instant::now),
                    });
                }
                for ((name, label), values) in out.metric_incs.0 {
                    for (value, n) in values {
                        self.metrics.counter(name, &[(label, &value)]).increment(n);
                    }
                }
                for ch in &out.woken {
                    self.wakers.wake(ch);
                }
                for r in replies {
                    match r {
                        Reply::Ingest(tx, a, event) => {
                            let _ = tx.send(Ok((a, event)));
                        }
                        Reply::IngestBatch(tx, a) => {
                            let _ = tx.send(Ok(a));
                        }
                        Reply::Unit(tx) => {
                            let _ = tx.send(());
                        }
                        Reply::Settle(tx) => {
                            let _ = tx.send(Ok(()));
                        }
                        Reply::Retry(tx, n) => {
                            let _ = tx.send(Ok(n));
                        }
                        Reply::Silence(tx, s) => {
                            let _ = tx.send(Ok(s));
                        }
                        Reply::Added(tx, s) => {
                            let _ = tx.send(Ok(s));
                        }
                        Reply::Ack(tx, found) => {
                            let _ = tx.send(Ok(found));
                        }
                    }
                }
                if due {
                    self.apply(Vec::new());
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "store write failed; events in this batch are answered 503");
                self.metrics
                    .counter("twilert_store_errors_total", &[])
                    .increment(1);
                self.write_failed(&e);
                // Group counts moved in memory for events that were not stored.
                self.recover();
                self.reload_silences();
                for r in replies {
                    match r {
                        Reply::Ingest(tx, _, _) => {
                            let _ = tx.send(Err(DispatchError::Store(e.to_string())));
                        }
                        Reply::IngestBatch(tx, _) => {
                            let _ = tx.send(Err(DispatchError::Store(e.to_string())));
                        }
                        Reply::Unit(tx) => drop(tx),
                        Reply::Settle(tx) => {
                            let _ = tx.send(Err(DispatchError::Store(e.to_string())));
                        }
                        Reply::Retry(tx, _) => {
                            let _ = tx.send(Err(DispatchError::Store(e.to_string())));
                        }
                        Reply::Silence(tx, _) => {
                            let _ = tx.send(Err(DispatchError::Store(e.to_string())));
                        }
                        Reply::Added(tx, _) => {
                            let _ = tx.send(Err(DispatchError::Store(e.to_string())));
                        }
                        Reply::Ack(tx, _) => {
                            let _ = tx.send(Err(DispatchError::Store(e.to_string())));
                        }
                    }
                }
            }
        }
    }

    /// Plans again the events stored after the store's written state (a single
    /// writer stopped before writing what they changed) and writes it, in one
    /// transaction: the same groups, alerts and counts as if it had not stopped.
    /// Each is planned as of when it was received, with the configuration and
    /// silences of now.
    fn replay(&mut self) -> Result<(), StoreError> {
        let bodies = self.store.unapplied_events()?;
        if bodies.is_empty() {
            return Ok(());
        }
        let mut events = Vec::with_capacity(bodies.len());
        for (id, body) in &bodies {
            match serde_json::from_str::<DebuggerEvent>(body) {
                Ok(ev) => {
                    let routed = apply::route(&self.runtime, &ev);
                    events.push((*id, ev, routed));
                }
                // Stored by this twilert, so readable; kept in the store if not.
                Err(e) => {
                    tracing::error!(error = %e, "a stored event cannot be read back; it is not planned again")
                }
            }
        }
        let rt = self.runtime.clone();
        let (groups, silences, backlogged) =
            (&mut self.groups, &mut self.silences, &mut self.backlogged);
        let out = self.store.batch(|b| {
            let mut out = BatchOutcome::default();
            warm(
                b,
                groups,
                events
                    .iter()
                    .flat_map(|(_, _, r)| r.group_keys().iter().map(String::as_str)),
            )?;
            for (id, ev, routed) in &events {
                apply::ingest_one(
                    groups,
                    silences,
                    &rt,
                    ev,
                    routed,
                    Some(*id),
                    ev.received_at_ms,
                    &mut out,
                );
            }
            write_state(b, groups, backlogged, self.clock.now_ms(), &mut out)?;
            Ok(out)
        })?;
        tracing::warn!(events = events.len(), "events stored after the last state write (an unclean stop) planned again: their groups, alerts and counts are written");
        for ch in &out.woken {
            self.wakers.wake(ch);
        }
        Ok(())
    }

    /// Memory from the store again, after a failed write: its groups, then the
    /// committed events whose state was only in memory ([`Engine::replay`]).
    /// Until that succeeds, writes are refused (`stale`).
    fn recover(&mut self) {
        self.groups = Groups::new();
        self.deferred = None;
        self.stale = false;
        if self.store.shared() {
            return; // the store holds every group; memory only caches a batch's
        }
        self.groups = Groups::seeding();
        let loaded = load_groups(&self.store, &mut self.groups).and_then(|()| self.replay());
        if let Err(e) = loaded {
            tracing::error!(error = %e, "rebuilding group state from the store failed; writes wait until it succeeds");
            self.write_failed(&e);
            self.groups = Groups::new();
            self.stale = true;
        }
    }

    /// The store's silences replace the cached ones (new ones from the CLI or another
    /// replica, expiries, other replicas' matches); on a read error the cache stays.
    fn reload_silences(&mut self) {
        match self.store.active_silences() {
            Ok(s) => self.silences = s,
            Err(e) => tracing::error!(error = %e, "reading silences failed; the ones known stay"),
        }
    }

    /// Whether this replica holds (or just took) the lease for window ticks and
    /// pruning; any replica takes over within `delivery.lease` of the holder's end.
    fn hold_ticker(&mut self, now: i64) -> bool {
        let lease = self.runtime.settings.delivery.lease.0.as_millis() as i64;
        match self.store.take_lease("ticker", now, lease) {
            Ok(held) => {
                if held != self.ticker {
                    tracing::info!(
                        held,
                        "window ticks and pruning: lease {}",
                        if held {
                            "taken"
                        } else {
                            "held by another replica"
                        }
                    );
                    self.ticker = held;
                }
                held
            }
            Err(e) => {
                tracing::error!(error = %e, "taking the ticker lease failed");
                false
            }
        }
    }

    /// After a failure, a committed batch proves nothing by itself: one that wrote
    /// nothing (a quiet tick, only duplicates) commits on a full disk too. A probe
    /// write decides whether the store is ready again.
    fn probe_after_failure(&mut self) {
        if self.last_error.is_none() {
            return;
        }
        match self.store.probe_write(self.clock.now_ms()) {
            Ok(()) => self.write_succeeded(),
            Err(e) => self.write_failed(&e),
        }
    }

    fn write_succeeded(&mut self) {
        if let Some(cause) = self.last_error.take() {
            tracing::info!(store = %self.store.describe(), previous = %cause, "store takes writes again; ready");
            self.metrics.gauge("twilert_store_ready", &[]).set(1.0);
        }
    }

    fn write_failed(&mut self, e: &StoreError) {
        if self.last_error.is_none() {
            self.metrics.gauge("twilert_store_ready", &[]).set(0.0);
        }
        self.last_error = Some(e.to_string());
        self.save_deleted_store();
    }

    /// When the store's file was deleted under us, everything it held is still in
    /// the open connection: save it once, so nothing acknowledged is lost.
    fn save_deleted_store(&mut self) {
        if self.recovered {
            return;
        }
        let store = self.store.describe();
        match self.store.rescue(self.clock.now_ms()) {
            None => {}
            Some(Ok(copy)) => {
                self.recovered = true;
                tracing::error!(store = %store, copy = %copy,
                "the store file was deleted while open: everything it held is saved in the copy; \
                 stop twilert, move the copy to store.path (removing any stale -wal/-shm files) and start it again")
            }
            Some(Err(err)) => {
                self.recovered = true;
                tracing::error!(store = %store, error = %err, "the store file was deleted while open and saving a copy failed")
            }
        }
    }

    /// `/readyz`: the file is still ours and takes writes; after a failure, a probe
    /// write shows when the cause went away (disk space back, file restored).
    fn health(&mut self) -> Result<(), String> {
        if let Err(e) = self.store.check() {
            self.write_failed(&e);
            return Err(e.to_string());
        }
        self.probe_after_failure();
        match &self.last_error {
            None => Ok(()),
            Some(cause) => Err(cause.clone()),
        }
    }

    /// Counters are read from the store, which is also where `twilert dead-letters
    /// retry` (another process) records what it moves back to pending.
    fn snapshot(&self) -> Snapshot {
        let counters = self.store.counters().unwrap_or_else(|e| {
            tracing::error!(error = %e, "reading counters failed");
            Counters::default()
        });
        let pending_notes = self
            .store
            .pending_notification_events()
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "reading pending count failed");
                0
            });
        let (open_groups, in_groups) = if self.store.shared() {
            self.store.open_group_totals().unwrap_or_else(|e| {
                tracing::error!(error = %e, "reading open groups failed");
                (0, 0)
            })
        } else {
            (self.groups.len(), self.groups.pending_count())
        };
        let mut counters = counters;
        let mut pending = in_groups + pending_notes;
        if let Some(d) = &self.deferred {
            counters.add(&d.delta);
            pending += d.queued.iter().map(|(_, n)| n).sum::<u64>();
        }
        Snapshot {
            counters,
            pending,
            open_groups,
        }
    }
}

#[cfg(test)]
mod tests;
