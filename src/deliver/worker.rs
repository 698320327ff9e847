//! One delivery worker per channel: due notification → rate limit → render → send →
//! classify → settle in the store. State lives in the store, so a worker stopped at
//! any point loses nothing: its notification is still pending and is sent again.

use super::retry::{Decision, RetryPolicy};
use super::{Delivery, Sender};
use crate::clock::SharedClock;
use crate::config::ChannelSettings;
use crate::dispatch::{Dispatcher, Settled, Wakers};
use crate::runtime::Shared;
use crate::store::{Permit, Queue, Queued};
use crate::telemetry::Metrics;
use governor::{DefaultDirectRateLimiter, RateLimiter};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Longest idle wait before looking at the store again.
const IDLE_POLL: Duration = Duration::from_millis(1000);
/// Wait between attempts to record a delivery while the store cannot be written.
const STORE_RETRY: Duration = Duration::from_millis(500);

pub struct Worker {
    pub channel: String,
    pub shared: Shared,
    pub dispatcher: Dispatcher,
    /// Shared with the channel (Slack app mode paces its edits through it).
    pub reader: Arc<dyn Queue>,
    pub wakers: Wakers,
    pub clock: SharedClock,
    pub metrics: Arc<Metrics>,
    pub http: reqwest::Client,
    pub shutdown: watch::Receiver<bool>,
    /// Deliveries that ended but could not be recorded (the store refused the
    /// write): recorded again before anything else, and never sent again.
    pub unrecorded: BTreeMap<i64, Settled>,
}

/// The sender and limiter for one version of the configuration; rebuilt after a
/// reload (secrets print as `[REDACTED]`, so settings cannot be compared by text).
struct Active {
    runtime: Arc<crate::runtime::Runtime>,
    sender: Option<Sender>,
    limits: super::limits::ChannelLimits,
    limiter: DefaultDirectRateLimiter,
    /// No sends before this instant (a provider's 429 Retry-After).
    paused_until_ms: i64,
    /// The channel carries a broken mark (this replica's or, on a shared store,
    /// another's): the next success clears it.
    shared_broken: bool,
}

impl Worker {
    pub async fn run(mut self) {
        let wake = self.wakers.get(&self.channel);
        let mut active: Option<Active> = None;
        loop {
            if *self.shutdown.borrow() {
                break;
            }
            // Pause while the store cannot record what was already delivered.
            if !self.record_unrecorded().await {
                self.sleep(STORE_RETRY).await;
                continue;
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
            let lease = rt.settings.delivery.lease.0.as_millis() as i64;
            let due = self.reader.claim(&self.channel, now, 1, lease).await;
            let due = match due {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(channel = %self.channel, error = %e, "reading the queue failed");
                    self.sleep(IDLE_POLL).await;
                    continue;
                }
            };
            let Some(q) = due.into_iter().next() else {
                let next = self.reader.next_due_at(&self.channel).await;
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
            if !self.wait_for_permit(active).await {
                break;
            }
            // While we waited, a backlog fold may have merged it into a digest.
            let still_pending = self.reader.is_pending(q.id).await;
            if !matches!(still_pending, Ok(true)) {
                continue;
            }
            let settled = self.deliver(active, &rt, &q).await;
            if let Err(e) = self
                .dispatcher
                .settle(q.id, &self.channel, settled.clone())
                .await
            {
                tracing::error!(sid = %q.notification.event.sid, channel = %self.channel, id = q.id, error = %e,
                    "delivery done but not recorded (store unavailable); recording again before anything else, never re-sending");
                self.unrecorded.insert(q.id, settled);
            }
        }
        if !self.unrecorded.is_empty() {
            // Last chance before exit; what is left is sent again at the next start
            // (at-least-once), which is all a store that cannot be written allows.
            self.record_unrecorded().await;
        }
        tracing::debug!(channel = %self.channel, "worker stopped");
    }

    /// Waits until the channel may send: its own limiter, or on a shared store the
    /// budget every replica draws from. False when shutting down.
    async fn wait_for_permit(&mut self, active: &mut Active) -> bool {
        loop {
            // Wall time, as the local limiter uses real time: the budget is shared
            // by replicas on other hosts, and an injected test clock stands still.
            let now = crate::clock::Clock::now_ms(&crate::clock::SystemClock);
            let permit = self
                .reader
                .permit(
                    &self.channel,
                    active.limits.interval_ms(),
                    active.limits.burst,
                    now,
                )
                .await;
            let wait = match permit {
                Ok(Permit::Local) => {
                    return tokio::select! {
                        _ = active.limiter.until_ready() => true,
                        _ = self.shutdown.changed() => false,
                    };
                }
                Ok(Permit::Now { broken }) => {
                    self.metrics
                        .gauge("twilert_channel_broken", &[("channel", &self.channel)])
                        .set(if broken.is_some() { 1.0 } else { 0.0 });
                    active.shared_broken = broken.is_some();
                    return true;
                }
                Ok(Permit::WaitUntil(at)) => (at - now).clamp(1, IDLE_POLL.as_millis() as i64),
                Ok(Permit::Paused(until)) => {
                    // Another replica was told to wait: so is this one.
                    self.note_pause(until);
                    (until - now).clamp(1, IDLE_POLL.as_millis() as i64)
                }
                Err(e) => {
                    tracing::error!(channel = %self.channel, error = %e, "reading the channel's shared rate limit failed");
                    IDLE_POLL.as_millis() as i64
                }
            };
            self.sleep(Duration::from_millis(wait as u64)).await;
            if *self.shutdown.borrow() {
                return false;
            }
        }
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
                Ok(sender) => Some(sender),
                Err(e) => {
                    tracing::error!(channel = %self.channel, error = %e, "channel cannot be built");
                    None
                }
            };
            // A reload keeps the limiter's state (a flood of reloads must not refill
            // the burst) and any Retry-After pause; a changed limit starts afresh.
            let (limiter, paused_until_ms) = match active.take() {
                Some(a) if a.limits == limits => (a.limiter, a.paused_until_ms),
                Some(a) => (RateLimiter::direct(limits.quota()), a.paused_until_ms),
                None => (RateLimiter::direct(limits.quota()), 0),
            };
            *active = Some(Active {
                runtime: rt,
                sender,
                limits,
                limiter,
                paused_until_ms,
                shared_broken: false,
            });
        }
        active.as_mut().filter(|a| a.sender.is_some())
    }

    /// Records the deliveries the store refused earlier; true when none is left.
    async fn record_unrecorded(&mut self) -> bool {
        while let Some((&id, settled)) = self.unrecorded.iter().next() {
            if self
                .dispatcher
                .settle(id, &self.channel, settled.clone())
                .await
                .is_err()
            {
                return false;
            }
            tracing::info!(channel = %self.channel, id, "delivery recorded after the store recovered");
            self.unrecorded.remove(&id);
        }
        true
    }

    /// Sends one notification and decides what happened to it.
    async fn deliver(
        &self,
        active: &mut Active,
        rt: &crate::runtime::Runtime,
        q: &Queued,
    ) -> Settled {
        let Some(sender) = active.sender.as_ref() else {
            return Settled::Retry {
                attempts: q.attempts,
                next_at_ms: self.clock.now_ms() + IDLE_POLL.as_millis() as i64,
                error: "channel cannot be built".into(),
            };
        };
        // A digest or resolved notice made before the group's first alert was
        // delivered carries no parent; the group may hold its receipt by now.
        let caps = sender.capabilities();
        let late_parent = if q.notification.parent.is_none()
            && (q.notification.digest.is_some() || q.notification.resolved.is_some())
            && (caps.can_edit || caps.can_thread || caps.can_resolve)
        {
            self.reader
                .receipt(&q.notification.group_key, &self.channel)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(channel = %self.channel, error = %e, "reading the group's receipt failed");
                    None
                })
        } else {
            None
        };
        let with_parent;
        let n = match late_parent {
            Some(parent) => {
                let mut copy = q.notification.clone();
                copy.parent = Some(parent);
                with_parent = copy;
                &with_parent
            }
            None => &q.notification,
        };
        let kind = sender.kind();
        let entry = n.event.error_code().and_then(|c| rt.catalog.get(c));
        let mut rendered = rt.renderer.render(kind, n, entry);
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
        // A living alert's message, as the digest or resolved notice makes it read.
        let mut parent_view = (sender.capabilities().can_edit && n.parent.is_some())
            .then(|| rt.renderer.render_parent(kind, n, entry))
            .flatten();
        // Slack's buttons (SPEC 14): on a living alert's message while it fires —
        // the first alert, and its running total's edits; never on a reply, a
        // resolved message or a silence's summary.
        if kind == crate::render::Kind::Slack
            && sender.capabilities().can_edit
            && rt.settings.slack.signing_secret().is_some()
            && n.resolved.is_none()
            && n.silence.is_none()
        {
            let target = if n.digest.is_none() {
                Some(&mut rendered)
            } else {
                parent_view.as_mut()
            };
            if let Some(crate::render::Payload::Json(msg)) = target.map(|r| &mut r.payload) {
                if !crate::render::buttons::add(msg, n) {
                    tracing::warn!(sid = %n.event.sid, route = %n.route, channel = %self.channel,
                        "no Slack buttons on this alert: its group key is too long for a button's value, or the message has 50 blocks");
                }
            }
        }
        let timeout = rt.settings.delivery.timeout.0;
        let started = std::time::Instant::now();
        // Lines logged by the sender carry the event's Sid, route and channel.
        let span = tracing::info_span!("deliver", sid = %n.event.sid, route = %n.route, channel = %self.channel);
        let send = tracing::Instrument::instrument(
            sender.send(
                n,
                &rendered,
                &plain,
                parent_view.as_ref(),
                Some(&self.reader),
            ),
            span,
        );
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
            Delivery::Sent { receipt } => {
                if std::mem::take(&mut active.shared_broken) {
                    self.shared_state(self.reader.set_broken(&self.channel, None).await);
                }
                self.metrics
                    .gauge("twilert_channel_broken", &[("channel", &self.channel)])
                    .set(0.0);
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
                let first = n.digest.is_none() && n.resolved.is_none() && n.silence.is_none();
                // A Slack message posted in place of a parent that is gone.
                let replaces = !first
                    && n.parent.is_some()
                    && matches!(receipt, Some(crate::notification::Receipt::Slack { .. }))
                    && receipt != n.parent;
                Settled::Sent {
                    group_key: n.group_key.clone(),
                    // A first alert's receipt names the group's message, or one
                    // that stands in for it.
                    receipt: receipt.filter(|_| first || replaces),
                    replaces,
                }
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
                    // Shared in wall time, like the rate budget.
                    let wall = crate::clock::Clock::now_ms(&crate::clock::SystemClock);
                    self.note_pause(wall + ra.as_millis() as i64);
                    self.shared_state(
                        self.reader
                            .pause(&self.channel, wall + ra.as_millis() as i64)
                            .await,
                    );
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
                    active.shared_broken = true;
                    self.shared_state(self.reader.set_broken(&self.channel, Some(&reason)).await);
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
        settled
    }

    /// `twilert_channel_paused_until_seconds`: until when the provider asked this
    /// channel to wait (the console shows it).
    fn note_pause(&self, until_wall_ms: i64) {
        self.metrics
            .gauge(
                "twilert_channel_paused_until_seconds",
                &[("channel", &self.channel)],
            )
            .set(until_wall_ms as f64 / 1000.0);
    }

    /// Logs a failure to share a pause or broken mark (this worker still honours it).
    fn shared_state(&self, r: crate::store::Result<()>) {
        if let Err(e) = r {
            tracing::error!(channel = %self.channel, error = %e, "sharing the channel's state with other replicas failed");
        }
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
