//! The running service's control surface: the current configuration, the engine
//! handle, the delivery workers and reloads. Built by `startup`, used by the admin
//! endpoints and the signal handler.

use crate::clock::SharedClock;
use crate::deliver::worker::Worker;
use crate::dispatch::{Dispatcher, Wakers};
use crate::runtime::{Runtime, Shared};
use crate::telemetry::Metrics;
use anyhow::Context;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Everything the admin endpoints and the signal handler need.
#[derive(Clone)]
pub struct Control {
    pub shared: Shared,
    pub dispatcher: Dispatcher,
    pub metrics: Arc<Metrics>,
    pub config_path: Option<PathBuf>,
    /// The service's clock (injected in tests): what "now" is for silences' states.
    pub clock: SharedClock,
    workers: Arc<Mutex<WorkerSet>>,
    /// When the last reload ran (reloads are spaced by `admin.reload_interval`).
    last_reload: Arc<Mutex<Option<std::time::Instant>>>,
    /// The replicas on the store at the last heartbeat.
    replicas: Arc<Mutex<Replicas>>,
}

/// The replicas this one last heard of on the store (SPEC 12).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Replicas {
    /// This process's id among them.
    pub me: String,
    pub seen: Vec<crate::store::ReplicaSeen>,
    /// Replicas whose routes/channels differ from this one's (a rollout half done).
    pub mismatched: Vec<String>,
}

pub struct WorkerSet {
    running: BTreeSet<String>,
    handles: Vec<tokio::task::JoinHandle<()>>,
    wakers: Wakers,
    clock: SharedClock,
    http: reqwest::Client,
    shutdown: watch::Receiver<bool>,
}

impl WorkerSet {
    pub fn new(
        wakers: Wakers,
        clock: SharedClock,
        http: reqwest::Client,
        shutdown: watch::Receiver<bool>,
    ) -> WorkerSet {
        WorkerSet {
            running: BTreeSet::new(),
            handles: vec![],
            wakers,
            clock,
            http,
            shutdown,
        }
    }
}

impl Control {
    pub fn new(
        shared: Shared,
        dispatcher: Dispatcher,
        metrics: Arc<Metrics>,
        config_path: Option<PathBuf>,
        workers: WorkerSet,
    ) -> Control {
        Control {
            shared,
            dispatcher,
            metrics,
            config_path,
            clock: workers.clock.clone(),
            workers: Arc::new(Mutex::new(workers)),
            last_reload: Arc::new(Mutex::new(None)),
            replicas: Arc::default(),
        }
    }

    /// The running configuration's route names (the fallback's too): what a
    /// silence's `routes` may name.
    pub fn route_names(&self) -> Vec<String> {
        let rt = self.shared.get();
        rt.router
            .routes()
            .iter()
            .chain(rt.router.fallback())
            .map(|r| r.name.clone())
            .collect()
    }

    /// The delivery workers' tasks, to wait for at shutdown.
    pub fn take_worker_handles(&self) -> Vec<tokio::task::JoinHandle<()>> {
        std::mem::take(
            &mut self
                .workers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .handles,
        )
    }

    /// Starts a worker for every configured channel that has none yet.
    pub fn start_workers(&self) -> anyhow::Result<()> {
        let rt = self.shared.get();
        let mut ws = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        for name in rt.settings.channels.keys() {
            if ws.running.contains(name) {
                continue;
            }
            let reader = crate::store::open_queue(&rt.settings.store)
                .with_context(|| format!("opening a reader on {}", rt.settings.store.describe()))?;
            let w = Worker {
                channel: name.clone(),
                shared: self.shared.clone(),
                dispatcher: self.dispatcher.clone(),
                reader: reader.into(),
                wakers: ws.wakers.clone(),
                clock: ws.clock.clone(),
                metrics: self.metrics.clone(),
                http: ws.http.clone(),
                shutdown: ws.shutdown.clone(),
                unrecorded: Default::default(),
            };
            ws.handles.push(tokio::spawn(w.run()));
            ws.running.insert(name.clone());
        }
        Ok(())
    }

    /// Admits a reload when none ran within `admin.reload_interval`; else how long
    /// to wait.
    pub fn reload_gate(&self) -> Result<(), Duration> {
        let interval = self.shared.get().settings.admin.reload_interval.0;
        let mut last = self.last_reload.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        if let Some(wait) = reload_wait(*last, now, interval) {
            return Err(wait);
        }
        *last = Some(now);
        Ok(())
    }

    /// Re-reads the config file and templates; a bad one is rejected and the running
    /// one kept. Returns the warnings of the new config, or the errors.
    pub fn reload(&self) -> Result<Vec<String>, Vec<String>> {
        let result = self.try_reload();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        match &result {
            Ok(_) => {
                self.metrics
                    .gauge("twilert_config_reload_success", &[])
                    .set(1.0);
                self.metrics
                    .gauge("twilert_config_reload_timestamp_seconds", &[])
                    .set(now);
                self.metrics
                    .counter("twilert_config_reloads_total", &[("result", "success")])
                    .increment(1);
                tracing::info!("configuration reloaded");
            }
            Err(errors) => {
                self.metrics
                    .gauge("twilert_config_reload_success", &[])
                    .set(0.0);
                self.metrics
                    .counter("twilert_config_reloads_total", &[("result", "failure")])
                    .increment(1);
                tracing::error!(errors = %errors.join("; "), "reload rejected; the running configuration stays");
            }
        }
        result
    }

    fn try_reload(&self) -> Result<Vec<String>, Vec<String>> {
        let path = self
            .config_path
            .as_ref()
            .ok_or_else(|| vec!["no config file to reload from".to_string()])?;
        let settings = crate::config::load(path).map_err(|e| {
            // Name every problem, not just the first.
            let d = crate::config::diagnose(path);
            if d.errors.is_empty() {
                vec![e.to_string()]
            } else {
                d.errors
            }
        })?;
        let old = self.shared.get();
        if settings.store.path != old.settings.store.path
            || settings.store.describe() != old.settings.store.describe()
            || settings.server.listen != old.settings.server.listen
            || settings.admin.listen != old.settings.admin.listen
        {
            return Err(vec![
                "store.path, store.url, server.listen and admin.listen cannot change on reload; restart instead".into(),
            ]);
        }
        let rt = Arc::new(Runtime::build(settings)?);
        let warnings = rt.warnings.clone();
        for w in &warnings {
            tracing::warn!("{w}");
        }
        self.metrics.register_series(&rt);
        self.shared.set(rt.clone());
        self.dispatcher.reload(rt);
        self.start_workers().map_err(|e| vec![e.to_string()])?;
        Ok(warnings)
    }
}

/// For `/metrics`: the accounting invariant's terms as metrics.
impl Control {
    /// Tells the store this replica is alive with its configuration, and notes which
    /// replicas run different routes or channels (`twilert_config_mismatch`).
    pub async fn heartbeat(&self) {
        let rt = self.shared.get();
        // Heard from within three leases: alive, or only just gone.
        let within = 3 * rt.settings.delivery.lease.0.as_millis() as i64;
        let seen = match self.dispatcher.heartbeat(&rt.config_digest, within).await {
            Ok(seen) => seen,
            Err(e) => {
                tracing::error!(error = %e, "recording this replica's heartbeat failed");
                return;
            }
        };
        let me = crate::store::postgres::replica_id();
        let mismatched: Vec<String> = seen
            .iter()
            .filter(|r| r.id != me && r.config != rt.config_digest)
            .map(|r| r.id.clone())
            .collect();
        let mut replicas = self.replicas.lock().unwrap_or_else(|p| p.into_inner());
        if mismatched != replicas.mismatched && !mismatched.is_empty() {
            tracing::warn!(replicas = ?mismatched, "replicas on this store run different routes or channels (a rollout half done?)");
        }
        self.metrics
            .gauge("twilert_config_mismatch", &[])
            .set(if mismatched.is_empty() { 0.0 } else { 1.0 });
        self.metrics
            .gauge("twilert_replicas_seen", &[])
            .set(seen.len() as f64);
        *replicas = Replicas {
            me,
            seen,
            mismatched,
        };
    }

    pub fn replicas(&self) -> Replicas {
        self.replicas
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

pub async fn export_accounting(control: &Control) {
    let Some(s) = control.dispatcher.snapshot().await else {
        return;
    };
    let m = &control.metrics;
    let c = s.counters;
    m.counter("twilert_events_accepted_total", &[])
        .absolute(c.accepted);
    m.set_received(c.accepted, c.duplicates);
    m.counter("twilert_events_duplicate_total", &[])
        .absolute(c.duplicates);
    let values = [
        c.notified,
        c.digested,
        c.muted,
        c.unrouted,
        c.dead_lettered,
        c.below_threshold,
        c.silenced,
    ];
    for (outcome, v) in crate::telemetry::OUTCOMES.into_iter().zip(values) {
        m.gauge("twilert_events_outcome", &[("outcome", outcome)])
            .set(v as f64);
    }
    m.gauge("twilert_events_pending", &[]).set(s.pending as f64);
    m.gauge("twilert_events_accounted", &[])
        .set(s.accounted() as f64);
    m.gauge("twilert_groups_open", &[])
        .set(s.open_groups as f64);
}

/// Time left until the next reload is allowed, given the last one and the interval.
pub(crate) fn reload_wait(
    last: Option<std::time::Instant>,
    now: std::time::Instant,
    interval: Duration,
) -> Option<Duration> {
    let last = last?;
    let since = now.saturating_duration_since(last);
    (since < interval).then(|| interval - since)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn reloads_are_spaced() {
        let t0 = Instant::now();
        let i = Duration::from_secs(1);
        assert_eq!(reload_wait(None, t0, i), None);
        assert_eq!(
            reload_wait(Some(t0), t0 + Duration::from_millis(300), i),
            Some(Duration::from_millis(700))
        );
        assert_eq!(reload_wait(Some(t0), t0 + i, i), None);
    }
}
