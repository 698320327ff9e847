//! One delivery worker per channel: due notification → rate limit → render → send →
//! classify → settle in the store. State lives in the store, so a worker stopped at
//! any point loses nothing: its notification is still pending and is sent again.

use super::retry::{Decision, RetryPolicy};
use super::{Delivery, Sender};
use crate::clock::SharedClock;
use crate::config::ChannelSettings;
use crate::dispatch::{Dispatcher, Settled, Wakers};
use crate::runtime::Shared;
use crate::store::{Queued, Reader};
use crate::telemetry::Metrics;
use governor::{DefaultDirectRateLimiter, RateLimiter};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Longest idle wait before looking at the store again.
const IDLE_POLL: Duration = Duration::from_millis(1000);

pub struct Worker {
    pub channel: String,
    pub shared: Shared,
    pub dispatcher: Dispatcher,
    /// Behind a mutex only to make the worker `Sync`; never contended.
    pub reader: std::sync::Mutex<Reader>,
    pub wakers: Wakers,
    pub clock: SharedClock,
    pub metrics: Arc<Metrics>,
    pub http: reqwest::Client,
    pub shutdown: watch::Receiver<bool>,
}

/// The sender and limiter for one version of the configuration; rebuilt after a
/// reload (secrets print as `[REDACTED]`, so settings cannot be compared by text).
struct Active {
    runtime: Arc<crate::runtime::Runtime>,
    sender: Option<Sender>,
    limiter: DefaultDirectRateLimiter,
    /// No sends before this instant (a provider's 429 Retry-After).
    paused_until_ms: i64,
}

impl Worker {
    pub async fn run(mut self) {
        let wake = self.wakers.get(&self.channel);
        let mut active: Option<Active> = None;
        loop {
            if *self.shutdown.borrow() {
                break;
            }
            let rt = self.shared.get();
            let Some(settings) = rt
                .settings
                .channels
                .get(&self.channel)
                .filter(|_| rt.enabled.contains(&self.channel))
            else {
                // Channel removed or disabled by a reload: idle until woken.
                self.idle(&wake, IDLE_POLL).await;
                continue;
            };
            let active = match self.refresh(&mut active, settings, rt.clone()) {
                Some(a) => a,
                None => {
                    self.idle(&wake, IDLE_POLL).await;
                    continue;
                }
            };
            let now = self.clock.now_ms();
            if active.paused_until_ms > now {
                let wait = Duration::from_millis((active.paused_until_ms - now) as u64);
                self.sleep(wait).await;
                continue;
            }
            let due = self.reader().due(&self.channel, now, 1);
            let due = match due {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(channel = %self.channel, error = %e, "reading the queue failed");
                    self.sleep(IDLE_POLL).await;
                    continue;
                }
            };
            let Some(q) = due.into_iter().next() else {
                let next = self.reader().next_due_at(&self.channel);
                let wait = match next {
                    Ok(Some(at)) => Duration::from_millis(
                        (at - now).clamp(1, IDLE_POLL.as_millis() as i64) as u64,
                    ),
                    _ => IDLE_POLL,
                };
                self.idle(&wake, wait).await;
                continue;
            };
            // Over the rate limit: wait (never drop); the backlog stays in the store.
            tokio::select! {
                _ = active.limiter.until_ready() => {}
                _ = self.shutdown.changed() => break,
            }
            // While we waited, a backlog fold may have merged it into a digest.
            let still_pending = self.reader().is_pending(q.id);
            if !matches!(still_pending, Ok(true)) {
                continue;
            }
            self.deliver(active, &rt, q).await;
        }
        tracing::debug!(channel = %self.channel, "worker stopped");
    }

    /// The sender for the current runtime, rebuilt once after each reload; `None`
    /// when the channel cannot be built (logged once per configuration).
    fn refresh<'a>(
        &self,
        active: &'a mut Option<Active>,
        settings: &ChannelSettings,
        rt: Arc<crate::runtime::Runtime>,
    ) -> Option<&'a mut Active> {
        if active
            .as_ref()
            .map(|a| !Arc::ptr_eq(&a.runtime, &rt))
            .unwrap_or(true)
        {
            let limits = rt
                .limits
                .get(&self.channel)
                .cloned()
                .unwrap_or_else(|| super::limits::ChannelLimits::default_for(settings.kind()));
            let sender = match Sender::build(&self.channel, settings, &self.http) {
                Ok(sender) => {
                    self.metrics
                        .gauge("twilert_channel_broken", &[("channel", &self.channel)])
                        .set(0.0);
                    Some(sender)
                }
                Err(e) => {
                    tracing::error!(channel = %self.channel, error = %e, "channel cannot be built");
                    None
                }
            };
            *active = Some(Active {
                runtime: rt,
                sender,
                limiter: RateLimiter::direct(limits.quota()),
                paused_until_ms: 0,
            });
        }
        active.as_mut().filter(|a| a.sender.is_some())
    }

    async fn deliver(&self, active: &mut Active, rt: &crate::runtime::Runtime, q: Queued) {
        let n = &q.notification;
        let Some(sender) = active.sender.as_ref() else {
            return;
        };
        let kind = sender.kind();
        let entry = n.event.error_code().and_then(|c| rt.catalog.get(c));
        let rendered = rt.renderer.render(kind, n, entry);
        if let Some(err) = &rendered.fallback {
            tracing::error!(sid = %n.event.sid, route = %n.route, channel = %self.channel, error = %err, "template failed; sending the built-in plain message");
            self.metrics
                .counter(
                    "twilert_template_failures_total",
                    &[("channel", &self.channel)],
                )
                .increment(1);
        }
        let plain = rt.renderer.plain_payload(kind, n, entry);
        let timeout = rt.settings.delivery.timeout.0;
        let started = std::time::Instant::now();
        // Lines logged by the sender carry the event's Sid, route and channel.
        let span = tracing::info_span!("deliver", sid = %n.event.sid, route = %n.route, channel = %self.channel);
        let send = tracing::Instrument::instrument(sender.send(n, &rendered, &plain), span);
        let outcome = match tokio::time::timeout(timeout, send).await {
            Ok(o) => o,
            Err(_) => Delivery::retry(format!("timed out after {}s", timeout.as_secs_f32())),
        };
        let now = self.clock.now_ms();
        let attempts = q.attempts + 1;
        let what = if n.digest.is_some() {
            "digest"
        } else {
            "alert"
        };
        let settled = match outcome {
            Delivery::Sent { receipt: _ } => {
                self.metrics
                    .counter(
                        "twilert_notifications_sent_total",
                        &[("channel", &self.channel), ("kind", what)],
                    )
                    .increment(1);
                self.metrics
                    .histogram(
                        "twilert_delivery_latency_seconds",
                        &[("channel", &self.channel)],
                    )
                    .record(((now - q.created_at_ms).max(0) as f64) / 1000.0);
                tracing::info!(sid = %n.event.sid, route = %n.route, channel = %self.channel, what, attempts,
                    ms = started.elapsed().as_millis() as u64, "delivered");
                Settled::Sent
            }
            Delivery::Retry {
                reason,
                after: retry_after,
            } => {
                self.metrics
                    .counter(
                        "twilert_notifications_failed_total",
                        &[("channel", &self.channel), ("reason", "retry")],
                    )
                    .increment(1);
                if let Some(ra) = retry_after {
                    // The provider asked this channel to slow down: pause all its sends.
                    let ra = ra.min(rt.settings.delivery.max_retry_after.0);
                    active.paused_until_ms = now + ra.as_millis() as i64;
                }
                let policy = RetryPolicy::from(&rt.settings.delivery);
                match policy.decide(attempts, q.created_at_ms, now, retry_after, fastrand::f64()) {
                    Decision::RetryAt(at) => {
                        tracing::warn!(sid = %n.event.sid, route = %n.route, channel = %self.channel, attempts, error = %reason,
                            retry_in_ms = at - now, "delivery failed; will retry");
                        Settled::Retry {
                            attempts,
                            next_at_ms: at,
                            error: reason,
                        }
                    }
                    Decision::GiveUp(why) => {
                        self.dead_metric("gave_up");
                        tracing::error!(sid = %n.event.sid, route = %n.route, channel = %self.channel, attempts, error = %reason, "{why}; dead-lettered");
                        Settled::Dead {
                            attempts,
                            error: format!("{reason} ({why})"),
                        }
                    }
                }
            }
            outcome @ (Delivery::Permanent { .. } | Delivery::Broken { .. }) => {
                let broken = matches!(outcome, Delivery::Broken { .. });
                let reason = outcome.reason().unwrap_or_default().to_string();
                self.metrics
                    .counter(
                        "twilert_notifications_failed_total",
                        &[("channel", &self.channel), ("reason", "permanent")],
                    )
                    .increment(1);
                self.dead_metric("permanent");
                if broken {
                    self.metrics
                        .gauge("twilert_channel_broken", &[("channel", &self.channel)])
                        .set(1.0);
                    tracing::error!(channel = %self.channel, error = %reason, "channel is broken (fix its URL, reload, then `twilert dead-letters retry --all`)");
                }
                tracing::error!(sid = %n.event.sid, route = %n.route, channel = %self.channel, attempts, error = %reason, "permanent failure; dead-lettered");
                Settled::Dead {
                    attempts,
                    error: reason,
                }
            }
        };
        self.dispatcher.settle(q.id, &self.channel, settled).await;
    }

    fn reader(&self) -> std::sync::MutexGuard<'_, Reader> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn dead_metric(&self, reason: &'static str) {
        self.metrics
            .counter(
                "twilert_notifications_dead_lettered_total",
                &[("channel", &self.channel), ("reason", reason)],
            )
            .increment(1);
    }

    async fn idle(&mut self, wake: &tokio::sync::Notify, max: Duration) {
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(max) => {}
            _ = self.shutdown.changed() => {}
        }
    }

    async fn sleep(&mut self, d: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.shutdown.changed() => {}
        }
    }
}
