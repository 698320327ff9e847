//! Slack app mode (SPEC 6 `slack` (app), SPEC 13): the Web API with a bot token,
//! and living alerts. A first alert is `chat.postMessage`, its `channel` + `ts` the
//! receipt kept with the group; a digest with that parent is a thread reply
//! (`thread_ts`) and edits the parent (`chat.update`: running total, last seen,
//! resources), coalesced to one edit per message per `update_interval`
//! ([`super::slack_edits`]); a resolved notice edits the parent once more, at
//! once. A parent that is gone (`message_not_found`, `thread_not_found`,
//! `cant_update_message`) falls back to a new top-level post.
//!
//! On a shared store (replicas, SPEC 12) the interval holds across replicas: an
//! edit first takes its turn from the store's pacing ([`crate::store::Queue::permit`],
//! keyed by the message), and waits for it when another replica edited the message
//! less than `update_interval` ago; resolving marks the message there (a pause),
//! so no replica's running total lands after "resolved". The newest total wins:
//! each applied edit records its group total in the store
//! ([`crate::store::Queue::record_shown`], a maximum that only grows), and an edit
//! whose total is not above it is dropped, so a replica that waited its turn with
//! an older digest's total cannot overwrite a newer one.
//!
//! Refused blocks (`invalid_blocks`, `msg_too_long`) are sent once more as plain
//! text. Each call and its classification (SPEC 6) is [`super::slack_api`].

use super::channel::{json_of, Attempt, Channel, SendFuture};
use super::slack_api::{call, message, plain_edit, receipt_of, Answer};
use super::slack_edits::{Due, Edits, Key, Offer};
use super::{Delivery, Receipt, Scrubber};
use crate::clock::{Clock, SystemClock};
use crate::store::{Permit, Queue};
use secrecy::SecretString;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// App mode's keys, as `[channels.<name>]` gives them (read in `slack.rs`).
#[derive(Debug, Clone)]
pub struct AppSettings<'a> {
    pub token: &'a SecretString,
    pub channel: &'a str,
    /// Without a trailing `/`; methods are `<api_url>/chat.postMessage`, ...
    pub api_url: String,
    pub update_interval: Duration,
}

/// How long a resolved message stays marked in the shared pacing: no running
/// total of it is applied by any replica meanwhile.
const RESOLVED_MARK_MS: i64 = 24 * 3_600_000;

/// Turns given up for being stale before one edit goes anyway (the edit timer,
/// [`Inner::schedule`]).
const MAX_STALE_TURNS: u32 = 3;

/// An edit's turn in the shared pacing.
enum Turn {
    Now,
    /// Another replica edited the message: wait this long.
    After(i64),
    /// Another replica resolved it.
    Resolved,
}

/// A `slack` channel in app mode, ready to send.
pub struct SlackApp {
    inner: Arc<Inner>,
}

struct Inner {
    /// `[channels.<name>]`, for log lines.
    name: String,
    token: SecretString,
    channel: String,
    api_url: String,
    http: reqwest::Client,
    edits: Mutex<Edits>,
    /// Per message: the newest group total offered here (its pending edit's).
    totals: Mutex<std::collections::HashMap<Key, u64>>,
    /// Held across each `chat.update`, so edits of a message reach Slack in the
    /// order decided (a pending running total never lands after "resolved").
    edit_lock: tokio::sync::Mutex<()>,
    /// The coalescing clock (monotonic).
    started: Instant,
}

impl std::fmt::Debug for SlackApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SlackApp {{ channel: {:?}, api_url: {:?}, bot_token: [hidden] }}",
            self.inner.channel, self.inner.api_url
        )
    }
}

impl SlackApp {
    pub fn new(name: &str, app: &AppSettings<'_>, http: &reqwest::Client) -> SlackApp {
        SlackApp {
            inner: Arc::new(Inner {
                name: name.to_string(),
                token: app.token.clone(),
                channel: app.channel.to_string(),
                api_url: app.api_url.clone(),
                http: http.clone(),
                edits: Mutex::new(Edits::new(app.update_interval)),
                totals: Mutex::default(),
                edit_lock: tokio::sync::Mutex::new(()),
                started: Instant::now(),
            }),
        }
    }
}

impl Channel for SlackApp {
    fn send<'a>(&'a self, a: Attempt<'a>) -> SendFuture<'a> {
        Box::pin(self.inner.send(a))
    }
}

impl Inner {
    async fn send(self: &Arc<Self>, a: Attempt<'_>) -> Delivery {
        let Some(payload) = json_of(&a.rendered.payload) else {
            return Delivery::permanent("Slack: the rendered payload is not JSON");
        };
        let n = a.notification;
        let parent = match &n.parent {
            Some(Receipt::Slack { channel, ts }) => Some((channel.clone(), ts.clone())),
            _ => None,
        };
        match parent {
            Some(key) if n.resolved.is_some() => self.resolve(&a, &key, payload).await,
            Some(key) if n.digest.is_some() => self.reply(&a, &key, payload).await,
            // A first alert, or a group without a receipt (restored, or its first
            // alert went elsewhere): a message of its own.
            _ => self.top_level(&a, payload).await,
        }
    }

    async fn top_level(&self, a: &Attempt<'_>, payload: &Value) -> Delivery {
        match self.post(a, payload, None).await {
            Answer::Ok(v) => {
                let receipt = receipt_of(&v);
                if receipt.is_none() {
                    tracing::warn!(channel = %self.name, "Slack accepted the message but gave no channel and ts: it cannot be threaded or edited");
                }
                Delivery::Sent { receipt }
            }
            Answer::ParentGone(r) | Answer::BadPayload(r) => Delivery::permanent(r),
            Answer::Failed(d) => d,
        }
    }

    /// A digest: a reply in the alert's thread, then the alert's edit.
    async fn reply(self: &Arc<Self>, a: &Attempt<'_>, key: &Key, payload: &Value) -> Delivery {
        match self.post(a, payload, Some(key)).await {
            Answer::Ok(_) => {}
            Answer::ParentGone(why) => {
                tracing::warn!(channel = %self.name, error = %a.scrub.clean(&why),
                    "the alert's Slack message is gone; posting the digest as a new message");
                self.edits().forget(key);
                return self.top_level(a, payload).await;
            }
            Answer::BadPayload(r) => return Delivery::permanent(r),
            Answer::Failed(d) => return d,
        }
        if let Some(view) = a.parent_view.and_then(|r| json_of(&r.payload)) {
            let body = message(view, &json!({"channel": key.0, "ts": key.1}));
            let now = self.now_ms();
            if let Some(total) = n_total(a) {
                let mut totals = self.totals.lock().unwrap_or_else(|p| p.into_inner());
                // Only messages still coalesced here (idle ones are pruned there).
                let edits = self.edits();
                totals.retain(|k, _| k == key || edits.knows(k));
                drop(edits);
                let t = totals.entry(key.clone()).or_default();
                *t = (*t).max(total);
            }
            let offer = self.edits().offer(key, body, now);
            if let Offer::At { at_ms } = offer {
                self.schedule(key.clone(), at_ms - now, a.scrub.clone(), a.pacer.cloned());
            }
        }
        Delivery::Sent { receipt: None }
    }

    /// A resolved notice: the alert's last edit, never coalesced away.
    async fn resolve(&self, a: &Attempt<'_>, key: &Key, payload: &Value) -> Delivery {
        let view = a
            .parent_view
            .and_then(|r| json_of(&r.payload))
            .unwrap_or(payload);
        let body = message(view, &json!({"channel": key.0, "ts": key.1}));
        let answer = {
            let _order = self.edit_lock.lock().await;
            self.edits().resolve(key, self.now_ms());
            if let Some(p) = a.pacer {
                let until = SystemClock.now_ms() + RESOLVED_MARK_MS;
                if let Err(e) = p.pause(&self.pace_key(key), until).await {
                    tracing::warn!(channel = %self.name, error = %e,
                        "marking the alert's Slack message resolved for the other replicas failed");
                }
            }
            self.update(a.scrub, &body).await
        };
        match answer {
            Answer::Ok(_) => Delivery::sent(),
            Answer::ParentGone(why) => {
                tracing::warn!(channel = %self.name, error = %a.scrub.clean(&why),
                    "the alert's Slack message is gone; posting the resolved notice as a new message");
                self.edits().forget(key);
                self.top_level(a, payload).await
            }
            Answer::BadPayload(r) => Delivery::permanent(r),
            Answer::Failed(d) => d,
        }
    }

    /// Applies the pending edit of `key` after `delay_ms` (a running total), when
    /// the shared pacing gives it its turn.
    fn schedule(
        self: &Arc<Self>,
        key: Key,
        delay_ms: i64,
        scrub: Scrubber,
        pacer: Option<Arc<dyn Queue>>,
    ) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut delay_ms = delay_ms;
            let mut stale_turns = 0;
            let (body, _order) = loop {
                tokio::time::sleep(Duration::from_millis(delay_ms.max(0) as u64)).await;
                let order = me.edit_lock.lock().await;
                let now = me.now_ms();
                let was = me.edits().last_edit(&key);
                let due = me.edits().take_due(&key, now);
                let body = match due {
                    Due::Apply(body) => body,
                    Due::Wait { at_ms } => {
                        delay_ms = at_ms - now;
                        continue;
                    }
                    Due::Nothing => return,
                };
                let asked = Instant::now();
                match me.shared_turn(pacer.as_deref(), &key).await {
                    Turn::Now if me.newer_than_shown(pacer.as_deref(), &key).await => {
                        // A turn is a moment: taken long ago (this process was
                        // paused, or the store slow), the next replica's may be
                        // close. Given up and asked for again (a few times at most:
                        // better a close edit than a message left stale).
                        let late =
                            asked.elapsed().as_millis() as i64 > me.edits().interval_ms() / 4;
                        if late && pacer.is_some() && stale_turns < MAX_STALE_TURNS {
                            stale_turns += 1;
                            tracing::debug!(channel = %me.name, "the shared edit turn went stale before the edit; asking again");
                            me.edits().put_back(&key, body, was);
                            delay_ms = 1;
                            continue;
                        }
                        break (body, order);
                    }
                    Turn::Now => {
                        tracing::debug!(channel = %me.name,
                            "another replica's edit showed a newer total; this one is dropped");
                        return;
                    }
                    Turn::After(ms) => {
                        me.edits().put_back(&key, body, was);
                        delay_ms = ms;
                    }
                    Turn::Resolved => {
                        me.edits().resolve(&key, now);
                        return;
                    }
                }
            };
            match me.update(&scrub, &body).await {
                Answer::Ok(_) => {
                    me.edits().applied(&key, me.now_ms());
                    me.record_shown(pacer.as_deref(), &key).await;
                }
                Answer::ParentGone(why) => {
                    tracing::warn!(channel = %me.name, error = %scrub.clean(&why),
                        "the alert's Slack message is gone; its running total is no longer edited");
                    me.edits().forget(&key);
                }
                Answer::Failed(Delivery::Retry { reason, after }) => {
                    let after_ms = after.map_or(0, |d| d.as_millis() as i64);
                    let now = me.now_ms();
                    let next = me.edits().retry_later(&key, body, now, after_ms);
                    tracing::warn!(channel = %me.name, error = %scrub.clean(&reason),
                        retry_in_ms = next.map(|t| t - now), "editing the alert's Slack message failed");
                    if let Some(at) = next {
                        me.schedule(key.clone(), at - now, scrub.clone(), pacer.clone());
                    }
                }
                Answer::Failed(d) => {
                    tracing::warn!(channel = %me.name, error = %scrub.clean(d.reason().unwrap_or_default()),
                        "editing the alert's Slack message failed; the next digest edits it again");
                }
                Answer::BadPayload(r) => {
                    tracing::warn!(channel = %me.name, error = %scrub.clean(&r),
                        "Slack refused the alert's edit, also as plain text");
                }
            }
        });
    }

    /// The shared pacing's key for edits of message `key`.
    fn pace_key(&self, key: &Key) -> String {
        format!("{}|edit|{}|{}", self.name, key.0, key.1)
    }

    /// Whether this replica may edit message `key` now (one process, or the store
    /// unreadable: yes; better an edit too many than a message left stale).
    async fn shared_turn(&self, pacer: Option<&dyn Queue>, key: &Key) -> Turn {
        let Some(p) = pacer else {
            return Turn::Now;
        };
        let interval = self.edits().interval_ms();
        let wall = SystemClock.now_ms();
        match p.permit(&self.pace_key(key), interval, 1, wall).await {
            Ok(Permit::Local | Permit::Now { .. }) => Turn::Now,
            Ok(Permit::WaitUntil(at)) => Turn::After((at - wall).max(1)),
            Ok(Permit::Paused(_)) => Turn::Resolved,
            Err(e) => {
                tracing::warn!(channel = %self.name, error = %e,
                    "reading the shared edit pacing failed; editing the alert's Slack message anyway");
                Turn::Now
            }
        }
    }

    /// The key recording the newest total shown in message `key`.
    fn shown_key(&self, key: &Key) -> String {
        format!("{}|{}|{}", self.name, key.0, key.1)
    }

    /// The newest total offered here for `key`, if known.
    fn local_total(&self, key: &Key) -> Option<u64> {
        let totals = self.totals.lock().unwrap_or_else(|p| p.into_inner());
        totals.get(key).copied().filter(|t| *t > 0)
    }

    /// Whether this replica's pending total for `key` is above the one a replica
    /// last showed (yes when either is unknown, or the store is not shared).
    async fn newer_than_shown(&self, pacer: Option<&dyn Queue>, key: &Key) -> bool {
        let (Some(p), Some(mine)) = (pacer, self.local_total(key)) else {
            return true;
        };
        match p.shown_total(&self.shown_key(key)).await {
            Ok(Some(shown)) => shown < mine,
            _ => true,
        }
    }

    /// Records the total this replica just showed in message `key`.
    async fn record_shown(&self, pacer: Option<&dyn Queue>, key: &Key) {
        let (Some(p), Some(mine)) = (pacer, self.local_total(key)) else {
            return;
        };
        if let Err(e) = p
            .record_shown(&self.shown_key(key), mine, SystemClock.now_ms())
            .await
        {
            tracing::warn!(channel = %self.name, error = %e,
                "recording the alert's shown total for the other replicas failed");
        }
    }

    /// `chat.postMessage` of `payload` (in `thread`'s thread when given), once more
    /// as plain text when Slack refuses its blocks.
    async fn post(&self, a: &Attempt<'_>, payload: &Value, thread: Option<&Key>) -> Answer {
        let mut extra = json!({
            "channel": thread.map_or(self.channel.as_str(), |k| k.0.as_str()),
            "unfurl_links": false,
            "unfurl_media": false,
        });
        if let Some((_, ts)) = thread {
            extra["thread_ts"] = Value::String(ts.clone());
        }
        let method = "chat.postMessage";
        match self.call(method, &message(payload, &extra)).await {
            Answer::BadPayload(why) => {
                tracing::warn!(channel = %self.name, error = %a.scrub.clean(&why),
                    "Slack refused the Block Kit message; retrying once as plain text");
                let plain = json_of(a.plain)
                    .cloned()
                    .unwrap_or_else(|| json!({"text": payload["text"]}));
                match self.call(method, &message(&plain, &extra)).await {
                    Answer::BadPayload(again) => Answer::Failed(Delivery::permanent(format!(
                        "{why}; plain-text retry: {again}"
                    ))),
                    other => other,
                }
            }
            other => other,
        }
    }

    /// `chat.update` of `body`, once more as plain text when Slack refuses it.
    async fn update(&self, scrub: &Scrubber, body: &Value) -> Answer {
        let method = "chat.update";
        match self.call(method, body).await {
            Answer::BadPayload(why) => {
                tracing::warn!(channel = %self.name, error = %scrub.clean(&why),
                    "Slack refused the edited Block Kit message; retrying once as plain text");
                match self.call(method, &plain_edit(body)).await {
                    Answer::BadPayload(again) => {
                        Answer::BadPayload(format!("{why}; plain-text retry: {again}"))
                    }
                    other => other,
                }
            }
            other => other,
        }
    }

    async fn call(&self, method: &str, body: &Value) -> Answer {
        call(&self.http, &self.api_url, &self.token, method, body).await
    }

    fn edits(&self) -> MutexGuard<'_, Edits> {
        self.edits.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now_ms(&self) -> i64 {
        self.started.elapsed().as_millis() as i64
    }
}

/// The group total a digest's edit shows (0 when unknown: no ordering).
fn n_total(a: &Attempt<'_>) -> Option<u64> {
    a.notification.digest.as_ref().map(|d| d.group_total)
}
