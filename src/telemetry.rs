//! Logs (tracing) and metrics (Prometheus text at `/metrics`).
//!
//! Each [`crate::startup::Application`] owns its own recorder, so several can run in
//! one process (tests) without sharing counters. Labels carry only bounded values
//! (route, channel, kind, reason, outcome) — never Sids or URLs.

use crate::runtime::Runtime;
use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// Requests refused by this process, every reason: part of
    /// `twilert_events_received_total` (see [`Metrics::set_received`]).
    rejected: AtomicU64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

static META: Metadata<'static> = Metadata::new("twilert", metrics::Level::INFO, None);

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("twilert_delivery_latency_seconds".into()),
                &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0],
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("twilert_ingest_seconds".into()),
                    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25],
                )
            })
            .map(|b| b.build_recorder())
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        Metrics {
            recorder,
            handle,
            rejected: AtomicU64::new(0),
        }
    }

    fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
        Key::from_parts(
            name,
            labels
                .iter()
                .map(|(k, v)| Label::new(*k, v.to_string()))
                .collect::<Vec<_>>(),
        )
    }

    pub fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Counter {
        self.recorder
            .register_counter(&Self::key(name, labels), &META)
    }

    pub fn gauge(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Gauge {
        self.recorder
            .register_gauge(&Self::key(name, labels), &META)
    }

    pub fn histogram(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Histogram {
        self.recorder
            .register_histogram(&Self::key(name, labels), &META)
    }

    /// A refused ingest request: `twilert_events_rejected_total{reason}`.
    pub fn count_rejected(&self, reason: &'static str) {
        self.counter("twilert_events_rejected_total", &[("reason", reason)])
            .increment(1);
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// `twilert_events_received_total` = the store's accepted + duplicate events
    /// (store-wide, they survive restarts) + the requests this process refused. So
    /// received ≥ accepted always, also right after a restart.
    pub fn set_received(&self, accepted: u64, duplicates: u64) {
        let rejected = self.rejected.load(Ordering::Relaxed);
        self.counter("twilert_events_received_total", &[])
            .absolute(accepted + duplicates + rejected);
    }

    /// Registers every documented series at zero, so dashboards and `increase()`
    /// see them before their first event. Called at start and after each reload
    /// (for new channels and routes); registering an existing series keeps its value.
    pub fn register_series(&self, rt: &Runtime) {
        for name in [
            "twilert_events_received_total",
            "twilert_events_accepted_total",
            "twilert_events_duplicate_total",
            "twilert_store_errors_total",
            "twilert_admin_unauthorized_total",
        ] {
            self.counter(name, &[]).increment(0);
        }
        for result in SLACK_ACTION_RESULTS {
            self.counter("twilert_slack_actions_total", &[("result", result)])
                .increment(0);
        }
        for reason in crate::ingest::error::IngestError::REASONS {
            self.counter("twilert_events_rejected_total", &[("reason", reason)])
                .increment(0);
        }
        for outcome in OUTCOMES {
            self.gauge("twilert_events_outcome", &[("outcome", outcome)])
                .increment(0.0);
        }
        for name in [
            "twilert_events_pending",
            "twilert_events_accounted",
            "twilert_groups_open",
            "twilert_store_size_bytes",
            "twilert_config_reload_success",
            "twilert_config_reload_timestamp_seconds",
            "twilert_config_mismatch",
            "twilert_replicas_seen",
        ] {
            self.gauge(name, &[]).increment(0.0);
        }
        for result in ["success", "failure"] {
            self.counter("twilert_config_reloads_total", &[("result", result)])
                .increment(0);
        }
        let _ = self.histogram("twilert_ingest_seconds", &[]);
        for route in rt.router.routes().iter().chain(rt.router.fallback()) {
            let r = [("route", route.name.as_str())];
            self.counter("twilert_events_routed_total", &r).increment(0);
            self.counter("twilert_groups_overflow_total", &r)
                .increment(0);
            self.counter("twilert_groups_resolved_total", &r)
                .increment(0);
            self.counter("twilert_events_silenced_total", &r)
                .increment(0);
            if route.mute {
                self.counter("twilert_events_muted_total", &r).increment(0);
            } else {
                self.counter("twilert_events_suppressed_total", &r)
                    .increment(0);
            }
        }
        for how in ["ran_out", "expired"] {
            self.counter("twilert_silences_ended_total", &[("how", how)])
                .increment(0);
        }
        for channel in rt.settings.channels.keys() {
            let c = ("channel", channel.as_str());
            for kind in ["alert", "digest"] {
                self.counter("twilert_notifications_sent_total", &[c, ("kind", kind)])
                    .increment(0);
            }
            for reason in ["retry", "permanent"] {
                self.counter(
                    "twilert_notifications_failed_total",
                    &[c, ("reason", reason)],
                )
                .increment(0);
            }
            for reason in ["gave_up", "permanent"] {
                self.counter(
                    "twilert_notifications_dead_lettered_total",
                    &[c, ("reason", reason)],
                )
                .increment(0);
            }
            self.counter("twilert_notifications_folded_total", &[c])
                .increment(0);
            self.counter("twilert_template_failures_total", &[c])
                .increment(0);
            self.gauge("twilert_channel_broken", &[c]).increment(0.0);
            self.gauge("twilert_channel_paused_until_seconds", &[c])
                .increment(0.0);
            let _ = self.histogram("twilert_delivery_latency_seconds", &[c]);
        }
    }

    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Folds recorded histogram samples into their buckets. Without it the
    /// exporter keeps every sample until the next scrape: unbounded memory when
    /// nobody scrapes `/metrics`.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }
}

/// The `outcome` label values of `twilert_events_outcome`.
/// How a Slack button press ended (`twilert_slack_actions_total{result}`).
pub const SLACK_ACTION_RESULTS: [&str; 4] = ["done", "refused", "unauthorized", "malformed"];

pub const OUTCOMES: [&str; 7] = [
    "notified",
    "digested",
    "muted",
    "unrouted",
    "dead_lettered",
    "below_threshold",
    "silenced",
];

/// Log output format (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global tracing subscriber, writing to stderr; `RUST_LOG` overrides
/// the default `info`.
///
/// - `text`: one readable line per event, fields as `sid=NO… route=voice channel=slack`;
///   colours only when stderr is a terminal and `NO_COLOR` is unset (so journald and
///   log files get no escape codes).
/// - `json`: one object per line with `timestamp`, `level`, `target`, `message` and the
///   event's fields at the top level (`sid`, `route`, `channel`, ...), plus the
///   enclosing spans.
pub fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(color).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}
