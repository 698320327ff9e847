//! The dispatch engine: one thread that owns the store's write connection and the
//! group windows. Ingest, delivery results and the window ticker send it commands;
//! it applies a whole batch of them in one SQLite transaction (group commit), then
//! answers. Routing and grouping happen inside that transaction, so an accepted
//! event's notifications and group counts are durable together with the event.

mod fold;

use crate::clock::SharedClock;
use crate::event::DebuggerEvent;
use crate::group::{GroupState, Groups, Observed};
use crate::notification::Notification;
use crate::route::{group_key, RouteInput};
use crate::runtime::Runtime;
use crate::store::{Batch, Counters, State, Store, StoreError};
use crate::telemetry::Metrics;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, Notify};

/// Largest number of commands applied in one transaction.
const MAX_BATCH: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    New,
    /// The Sid was seen before (a Twilio retry): stored once, not notified again.
    Duplicate,
}

/// How a delivery attempt ended, as decided by the worker's retry policy.
#[derive(Debug, Clone)]
pub enum Settled {
    Sent,
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
    /// notified + digested + muted + unrouted + dead-lettered + pending.
    pub fn accounted(&self) -> u64 {
        let c = &self.counters;
        c.notified + c.digested + c.muted + c.unrouted + c.dead_lettered + self.pending
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("{0}")]
    Store(String),
    #[error("dispatch engine stopped")]
    Stopped,
}

enum Command {
    Ingest {
        event: Box<DebuggerEvent>,
        reply: oneshot::Sender<Result<Accepted, DispatchError>>,
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
    /// Finish the commands already queued, then stop.
    Stop,
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
#[derive(Debug, Clone)]
pub struct Dispatcher {
    tx: mpsc::UnboundedSender<Command>,
}

impl Dispatcher {
    /// Stores, routes and groups one event; returns once it is committed.
    pub async fn ingest(&self, event: DebuggerEvent) -> Result<Accepted, DispatchError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Ingest {
                event: Box::new(event),
                reply,
            })
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
pub fn spawn(
    store: Store,
    runtime: Arc<Runtime>,
    clock: SharedClock,
    wakers: Wakers,
    metrics: Arc<Metrics>,
) -> Result<(Dispatcher, std::thread::JoinHandle<()>), StoreError> {
    let mut groups = Groups::new();
    groups.restore(store.load_groups()?);
    let (tx, rx) = mpsc::unbounded_channel();
    let engine = Engine {
        store,
        groups,
        runtime,
        clock,
        wakers,
        metrics,
        last_error: None,
        recovered: false,
    };
    let handle = std::thread::Builder::new()
        .name("twilert-dispatch".into())
        .spawn(move || engine.run(rx))
        .map_err(|e| StoreError::Corrupt {
            what: "dispatch thread".into(),
            message: e.to_string(),
        })?;
    Ok((Dispatcher { tx }, handle))
}

struct Engine {
    store: Store,
    groups: Groups,
    runtime: Arc<Runtime>,
    clock: SharedClock,
    wakers: Wakers,
    metrics: Arc<Metrics>,
    /// Why the last write failed; `None` while writes succeed (`/readyz`).
    last_error: Option<String>,
    /// A copy of a deleted store file's contents was written (once).
    recovered: bool,
}

/// Replies held until the batch commits.
enum Reply {
    Ingest(oneshot::Sender<Result<Accepted, DispatchError>>, Accepted),
    Unit(oneshot::Sender<()>),
    Settle(oneshot::Sender<Result<(), DispatchError>>),
    Retry(oneshot::Sender<Result<usize, DispatchError>>, usize),
}

struct BatchOutcome {
    delta: Counters,
    woken: BTreeSet<String>,
    /// Counter increments to apply after commit.
    metric_incs: MetricIncs,
}

/// Counter increments summed over a batch: (name, label) → label value → count.
/// Adding one allocates only the first time a value is seen in the batch.
#[derive(Default)]
pub(crate) struct MetricIncs(HashMap<(&'static str, &'static str), HashMap<String, u64>>);

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

impl Engine {
    fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        let mut stopping = false;
        while let Some(first) = rx.blocking_recv() {
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
        tracing::debug!("dispatch engine stopped");
    }

    fn apply(&mut self, cmds: Vec<Command>) {
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
                Command::Prune { before_ms, reply } => {
                    let size = match self.store.prune(before_ms) {
                        Ok(n) => {
                            if n > 0 {
                                tracing::info!(
                                    rows = n,
                                    "pruned delivered events past store.retention"
                                );
                            }
                            Some(self.store.file_size())
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
        if writes.is_empty() {
            return;
        }
        let now = self.clock.now_ms();
        let rt = self.runtime.clone();
        let mut replies = Vec::with_capacity(writes.len());
        let groups = &mut self.groups;
        let result = self.store.batch(|b| {
            let mut out = BatchOutcome {
                delta: Counters::default(),
                woken: BTreeSet::new(),
                metric_incs: MetricIncs::default(),
            };
            for c in writes {
                match c {
                    Command::Ingest { event, reply } => {
                        let a = ingest_one(b, groups, &rt, &event, now, &mut out)?;
                        replies.push(Reply::Ingest(reply, a));
                    }
                    Command::Settle {
                        id,
                        channel,
                        result,
                        reply,
                    } => {
                        settle_one(b, id, &channel, result, now, &mut out)?;
                        replies.push(Reply::Settle(reply));
                    }
                    Command::Tick { reply } => {
                        emit_digests(b, groups, &rt, now, &mut out)?;
                        fold::fold_backlogs(b, &rt, now, &mut out)?;
                        if let Some(r) = reply {
                            replies.push(Reply::Unit(r));
                        }
                    }
                    Command::RetryDead { id, reply } => {
                        let rows = b.requeue_dead(id, now)?;
                        out.woken.extend(rt.enabled.iter().cloned());
                        replies.push(Reply::Retry(reply, rows));
                    }
                    // Reload, Snapshot, Prune and Stop were handled before the transaction.
                    _ => {}
                }
            }
            for (key, g) in groups.take_dirty() {
                b.save_group(&key, g.as_ref())?;
            }
            b.add_counters(&out.delta)?;
            Ok(out)
        });
        match result {
            Ok(out) => {
                self.write_succeeded();
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
                        Reply::Ingest(tx, a) => {
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
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "store write failed; events in this batch are answered 503");
                self.metrics
                    .counter("twilert_store_errors_total", &[])
                    .increment(1);
                self.write_failed(&e);
                // Group counts moved in memory for events that were not stored: reload.
                self.groups = Groups::new();
                match self.store.load_groups() {
                    Ok(g) => self.groups.restore(g),
                    Err(e) => tracing::error!(error = %e, "reloading group state failed"),
                }
                for r in replies {
                    match r {
                        Reply::Ingest(tx, _) => {
                            let _ = tx.send(Err(DispatchError::Store(e.to_string())));
                        }
                        Reply::Unit(tx) => drop(tx),
                        Reply::Settle(tx) => {
                            let _ = tx.send(Err(DispatchError::Store(e.to_string())));
                        }
                        Reply::Retry(tx, _) => {
                            let _ = tx.send(Err(DispatchError::Store(e.to_string())));
                        }
                    }
                }
            }
        }
    }

    fn write_succeeded(&mut self) {
        if let Some(cause) = self.last_error.take() {
            tracing::info!(store = %self.store.path().display(), previous = %cause, "store takes writes again; ready");
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

    /// When the store file was deleted under us, everything it held is still in the
    /// open connection: copy it next to the path once, so nothing acknowledged is lost.
    fn save_deleted_store(&mut self) {
        let path = self.store.path().to_path_buf();
        if self.recovered || path.exists() {
            return;
        }
        self.recovered = true;
        let dest = PathBuf::from(format!(
            "{}.recovered-{}",
            path.display(),
            self.clock.now_ms()
        ));
        match self.store.backup_to(&dest) {
            Ok(()) => tracing::error!(store = %path.display(), copy = %dest.display(),
                "the store file was deleted while open: everything it held is saved in the copy; \
                 stop twilert, move the copy to store.path (removing any stale -wal/-shm files) and start it again"),
            Err(err) => {
                tracing::error!(store = %path.display(), error = %err, "the store file was deleted while open and saving a copy failed")
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
        if self.last_error.is_none() {
            return Ok(());
        }
        match self.store.probe_write(self.clock.now_ms()) {
            Ok(()) => {
                self.write_succeeded();
                Ok(())
            }
            Err(e) => {
                self.write_failed(&e);
                Err(e.to_string())
            }
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
        Snapshot {
            counters,
            pending: self.groups.pending_count() + pending_notes,
            open_groups: self.groups.len(),
        }
    }
}

fn ingest_one(
    b: &Batch<'_>,
    groups: &mut Groups,
    rt: &Runtime,
    ev: &DebuggerEvent,
    now: i64,
    out: &mut BatchOutcome,
) -> Result<Accepted, StoreError> {
    let body = ev.to_stored_json().map_err(|e| StoreError::Corrupt {
        what: "event".into(),
        message: e.to_string(),
    })?;
    let product = ev.error_code().and_then(|c| rt.catalog.product(c));
    let matches = rt.router.routes_for(&RouteInput::from_event(ev, product));
    let row = crate::store::EventRow {
        sid: ev.sid.as_str(),
        received_at_ms: ev.received_at_ms,
        body: &body,
        error_code: ev.error_code().map(|c| c.0),
        resource_sid: ev.resource_sid(),
        level: Some(ev.level.as_str()),
        route: matches.first().map(|m| m.route.name.as_str()),
    };
    if !b.insert_indexed_event(&row)? {
        out.delta.duplicates += 1;
        tracing::info!(sid = %ev.sid, "duplicate Sid: already accepted, not notified again");
        return Ok(Accepted::Duplicate);
    }
    out.delta.accepted += 1;
    if matches.is_empty() {
        out.delta.unrouted += 1;
        tracing::info!(sid = %ev.sid, code = ?ev.error_code().map(|c| c.0), "no route matches: recorded as unrouted");
        return Ok(Accepted::New);
    }
    for (i, m) in matches.iter().enumerate() {
        let primary = i == 0;
        let route = &m.route;
        out.metric_incs
            .add("twilert_events_routed_total", "route", &route.name);
        if route.mute {
            out.delta.muted += u64::from(primary);
            out.metric_incs
                .add("twilert_events_muted_total", "route", &route.name);
            tracing::debug!(sid = %ev.sid, route = %route.name, "muted");
            continue;
        }
        let enabled = |c: &&String| rt.enabled.contains(*c);
        if !route.channels.iter().any(|c| enabled(&c)) {
            out.delta.unrouted += u64::from(primary);
            tracing::warn!(sid = %ev.sid, route = %route.name, "route has no enabled channel: recorded as unrouted");
            continue;
        }
        let mut key = group_key(route, ev, product);
        if groups.len() >= rt.settings.defaults.max_open_groups && groups.get(&key).is_none() {
            // Bounded memory: past the cap, new groups share one per route and code.
            key = overflow_key(route, ev);
            out.metric_incs
                .add("twilert_groups_overflow_total", "route", &route.name);
            tracing::info!(sid = %ev.sid, route = %route.name, group = %key, "defaults.max_open_groups reached: counted into the route's overflow group");
        }
        let window_ms = route.window.as_millis() as i64;
        let observed = groups.observe(&key, ev, now, primary, || {
            GroupState::open(
                &route.name,
                route.channels.iter().filter(enabled).cloned().collect(),
                route.template.clone(),
                route.mention.clone(),
                window_ms,
                ev,
                now,
            )
        });
        match observed {
            Observed::Counted => {
                out.metric_incs
                    .add("twilert_events_suppressed_total", "route", &route.name);
                tracing::debug!(sid = %ev.sid, route = %route.name, group = %key, "counted into group digest");
            }
            Observed::First => {
                let channels: Vec<&String> = route.channels.iter().filter(enabled).collect();
                for (j, ch) in channels.iter().enumerate() {
                    let n = Notification {
                        channel: (*ch).clone(),
                        route: route.name.clone(),
                        group_key: key.clone(),
                        template: route.template.clone(),
                        mention: route.mention.clone(),
                        event: ev.clone(),
                        digest: None,
                    };
                    b.insert_notification(&n, u64::from(primary && j == 0), now)?;
                    out.woken.insert((*ch).clone());
                    // One line per channel: `channel` is a plain field in JSON logs.
                    tracing::info!(sid = %ev.sid, route = %route.name, channel = %ch, "alert queued");
                }
            }
        }
    }
    Ok(Accepted::New)
}

/// The group that takes a route's new groups of one error code past the cap.
fn overflow_key(route: &crate::route::CompiledRoute, ev: &DebuggerEvent) -> String {
    let code = ev
        .error_code()
        .map(|c| c.to_string())
        .unwrap_or_else(|| "-".into());
    format!("{}|error_code={code}|overflow", route.name)
}

fn settle_one(
    b: &Batch<'_>,
    id: i64,
    channel: &str,
    result: Settled,
    now: i64,
    out: &mut BatchOutcome,
) -> Result<(), StoreError> {
    match result {
        Settled::Sent => {
            let (count, is_digest) = b.accounting(id)?;
            if b.hurry_retries(channel, now)? > 0 {
                out.woken.insert(channel.to_string());
            }
            if b.set_state(id, State::Sent, 0, now, None)? {
                // Digest rows carry their group's accounted count; single alerts 1 (or 0).
                if is_digest {
                    out.delta.digested += count;
                } else {
                    out.delta.notified += count;
                }
            }
        }
        Settled::Retry {
            attempts,
            next_at_ms,
            error,
        } => {
            b.reschedule(id, attempts, next_at_ms, now, &error)?;
            out.woken.insert(channel.to_string());
        }
        Settled::Dead { attempts, error } => {
            let (count, _) = b.accounting(id)?;
            if b.set_state(id, State::Dead, attempts, now, Some(&error))? {
                out.delta.dead_lettered = out.delta.dead_lettered.wrapping_add(count);
            }
        }
    }
    Ok(())
}

fn emit_digests(
    b: &Batch<'_>,
    groups: &mut Groups,
    rt: &Runtime,
    now: i64,
    out: &mut BatchOutcome,
) -> Result<(), StoreError> {
    for due in groups.due(now) {
        let event: Option<DebuggerEvent> = b
            .get_event(&due.state.first_sid)?
            .and_then(|body| serde_json::from_str(&body).ok());
        let channels: Vec<&String> = due
            .state
            .channels
            .iter()
            .filter(|c| rt.enabled.contains(*c))
            .collect();
        let Some(event) = event.filter(|_| !channels.is_empty()) else {
            out.delta.dead_lettered = out.delta.dead_lettered.wrapping_add(due.state.accounted);
            tracing::error!(group = %due.key, count = due.digest.count, "digest cannot be sent (first event missing or no enabled channel)");
            continue;
        };
        for (j, ch) in channels.iter().enumerate() {
            let n = Notification {
                channel: (*ch).clone(),
                route: due.state.route.clone(),
                group_key: due.key.clone(),
                template: due.state.template.clone(),
                mention: due.state.mention.clone(),
                event: event.clone(),
                digest: Some(due.digest.clone()),
            };
            b.insert_notification(&n, if j == 0 { due.state.accounted } else { 0 }, now)?;
            out.woken.insert((*ch).clone());
        }
        tracing::info!(sid = %event.sid, route = %due.state.route, group = %due.key, count = due.digest.count, "digest queued");
    }
    Ok(())
}
