//! Slack app mode (SPEC 6 `slack` (app), SPEC 13): the Web API with a bot token,
//! and living alerts. A first alert is `chat.postMessage`, its `channel` + `ts` the
//! receipt kept with the group; a digest with that parent is a thread reply
//! (`thread_ts`) and edits the parent (`chat.update`: running total, last seen,
//! resources), coalesced to one edit per message per `update_interval`
//! ([`super::slack_edits`]); a resolved notice edits the parent once more, at
//! once. A parent that is gone (`message_not_found`, `thread_not_found`,
//! `cant_update_message`) falls back to a new top-level post.
//!
//! HTTP 200 is not success: the body's `"ok"` is. 429 / `ratelimited` (with
//! `Retry-After`), 5xx, network, and Slack's own server-side errors are retried;
//! `invalid_auth`, `token_revoked`, `account_inactive`, `channel_not_found`,
//! `not_in_channel`, `is_archived` mark the channel broken; `invalid_blocks` /
//! `msg_too_long` are sent once more as plain text; any other `ok:false` is
//! permanent, with Slack's error name. The token is a header, never in a URL or
//! a message.

use super::channel::{json_of, Attempt, Channel, SendFuture};
use super::http::{network_error, parse_retry_after, snippet};
use super::slack::AppSettings;
use super::slack_edits::{Due, Edits, Key, Offer};
use super::{Delivery, Receipt, Scrubber};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The channel no longer works until its settings change.
const BROKEN: &[&str] = &[
    "invalid_auth",
    "token_revoked",
    "account_inactive",
    "channel_not_found",
    "not_in_channel",
    "is_archived",
];
/// The message to thread under or edit is gone.
const PARENT_GONE: &[&str] = &[
    "message_not_found",
    "thread_not_found",
    "cant_update_message",
];
/// The payload was refused: sent once more as plain text.
const BAD_PAYLOAD: &[&str] = &["invalid_blocks", "msg_too_long"];
/// Slack's side is struggling (its 5xx, said with HTTP 200).
const TRANSIENT: &[&str] = &[
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

/// A Web API answer, classified.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Answer {
    /// `"ok": true`; the body.
    Ok(Value),
    /// The message to thread under or edit is gone (the reason).
    ParentGone(String),
    /// Blocks refused or too long (the reason): try once more as plain text.
    BadPayload(String),
    Failed(Delivery),
}

/// Classifies one Web API answer (SPEC 6). `method`: `chat.postMessage`, ...
pub(super) fn classify(
    method: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: &str,
) -> Answer {
    let why = |what: String| format!("Slack {method}: {what}");
    match status {
        200..=299 => {}
        429 => {
            return Answer::Failed(Delivery::Retry {
                reason: why(format!("HTTP 429 rate limited: {}", snippet(body))),
                after: retry_after,
            })
        }
        500..=599 => {
            return Answer::Failed(Delivery::Retry {
                reason: why(format!("HTTP {status}: {}", snippet(body))),
                after: retry_after,
            })
        }
        401 | 403 | 404 | 410 => {
            return Answer::Failed(Delivery::Broken {
                reason: why(format!(
                    "HTTP {status} (check api_url and bot_token): {}",
                    snippet(body)
                )),
            })
        }
        _ => {
            return Answer::Failed(Delivery::permanent(why(format!(
                "HTTP {status}: {}",
                snippet(body)
            ))))
        }
    }
    let v: Value = match serde_json::from_str(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return Answer::Failed(Delivery::permanent(why(format!(
                "HTTP {status} but not a Web API answer: {}",
                snippet(body)
            ))))
        }
    };
    if v["ok"] == Value::Bool(true) {
        return Answer::Ok(v);
    }
    let error = v["error"].as_str().unwrap_or("no error given");
    let reason = why(format!("ok:false error={}", snippet(error)));
    if TRANSIENT.contains(&error) {
        Answer::Failed(Delivery::Retry {
            reason,
            after: retry_after,
        })
    } else if BROKEN.contains(&error) {
        Answer::Failed(Delivery::Broken {
            reason: format!("{reason} (the bot token or channel no longer works)"),
        })
    } else if PARENT_GONE.contains(&error) {
        Answer::ParentGone(reason)
    } else if BAD_PAYLOAD.contains(&error) {
        Answer::BadPayload(reason)
    } else {
        Answer::Failed(Delivery::permanent(reason))
    }
}

/// A message body for `method`: the payload's `text`, `blocks` and `attachments`
/// with `extra` (channel, thread_ts, ts) added.
fn message(payload: &Value, extra: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for key in ["text", "blocks", "attachments"] {
        if let Some(v) = payload.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Value::Object(m) = extra {
        out.extend(m.clone());
    }
    Value::Object(out)
}

/// The plain-text form of an edit: its text alone, blocks and attachments removed.
fn plain_edit(body: &Value) -> Value {
    json!({
        "channel": body["channel"],
        "ts": body["ts"],
        "text": body["text"].as_str().unwrap_or("twilert alert"),
        "blocks": [],
        "attachments": [],
    })
}

fn receipt_of(v: &Value) -> Option<Receipt> {
    Some(Receipt::Slack {
        channel: v["channel"].as_str()?.to_string(),
        ts: v["ts"].as_str()?.to_string(),
    })
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
            let offer = self.edits().offer(key, body, now);
            if let Offer::At { at_ms } = offer {
                self.schedule(key.clone(), at_ms - now, a.scrub.clone());
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

    /// Applies the pending edit of `key` after `delay_ms` (a running total).
    fn schedule(self: &Arc<Self>, key: Key, delay_ms: i64, scrub: Scrubber) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut delay_ms = delay_ms;
            let (body, _order) = loop {
                tokio::time::sleep(Duration::from_millis(delay_ms.max(0) as u64)).await;
                let order = me.edit_lock.lock().await;
                let now = me.now_ms();
                let due = me.edits().take_due(&key, now);
                match due {
                    Due::Apply(body) => break (body, order),
                    Due::Wait { at_ms } => delay_ms = at_ms - now,
                    Due::Nothing => return,
                }
            };
            match me.update(&scrub, &body).await {
                Answer::Ok(_) => me.edits().applied(&key, me.now_ms()),
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
                        me.schedule(key.clone(), at - now, scrub.clone());
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

    /// One Web API call: JSON body, the token as `Authorization: Bearer`.
    async fn call(&self, method: &str, body: &Value) -> Answer {
        let resp = self
            .http
            .post(format!("{}/{method}", self.api_url))
            .bearer_auth(self.token.expose_secret())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )
            .body(body.to_string())
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                return Answer::Failed(
                    network_error(e).map_reason(|r| format!("Slack {method}: {r}")),
                )
            }
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let text = resp.text().await.unwrap_or_default();
        classify(method, status, retry_after, &text)
    }

    fn edits(&self) -> MutexGuard<'_, Edits> {
        self.edits.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now_ms(&self) -> i64 {
        self.started.elapsed().as_millis() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok_false(error: &str) -> Answer {
        classify(
            "chat.postMessage",
            200,
            Some(Duration::from_secs(3)),
            &json!({"ok": false, "error": error}).to_string(),
        )
    }

    #[test]
    fn http_200_is_not_success_the_body_is() {
        let ok = classify(
            "chat.postMessage",
            200,
            None,
            r#"{"ok":true,"channel":"C1","ts":"1.2"}"#,
        );
        let Answer::Ok(v) = ok else { panic!("{ok:?}") };
        assert_eq!(
            receipt_of(&v),
            Some(Receipt::Slack {
                channel: "C1".into(),
                ts: "1.2".into()
            })
        );
        assert!(matches!(
            classify("chat.update", 200, None, "ok"),
            Answer::Failed(Delivery::Permanent { reason }) if reason.contains("not a Web API answer")
        ));
        assert!(matches!(
            classify("chat.update", 200, None, r#"{"ok":"yes"}"#),
            Answer::Failed(Delivery::Permanent { .. })
        ));
    }

    #[test]
    fn ok_false_errors_are_classified_as_spec_6_says() {
        for e in BROKEN {
            assert!(
                matches!(ok_false(e), Answer::Failed(Delivery::Broken { reason }) if reason.contains(e)),
                "{e}"
            );
        }
        assert_eq!(
            ok_false("ratelimited"),
            Answer::Failed(Delivery::Retry {
                reason: "Slack chat.postMessage: ok:false error=ratelimited".into(),
                after: Some(Duration::from_secs(3)),
            })
        );
        for e in ["internal_error", "service_unavailable"] {
            assert!(
                matches!(ok_false(e), Answer::Failed(Delivery::Retry { .. })),
                "{e}"
            );
        }
        for e in PARENT_GONE {
            assert!(
                matches!(ok_false(e), Answer::ParentGone(r) if r.contains(e)),
                "{e}"
            );
        }
        for e in BAD_PAYLOAD {
            assert!(
                matches!(ok_false(e), Answer::BadPayload(r) if r.contains(e)),
                "{e}"
            );
        }
        assert_eq!(
            ok_false("no_text"),
            Answer::Failed(Delivery::permanent(
                "Slack chat.postMessage: ok:false error=no_text"
            ))
        );
        assert!(matches!(
            classify("chat.update", 200, None, r#"{"ok":false}"#),
            Answer::Failed(Delivery::Permanent { reason }) if reason.contains("no error given")
        ));
    }

    #[test]
    fn http_statuses() {
        let after = Some(Duration::from_secs(30));
        assert_eq!(
            classify("chat.postMessage", 429, after, ""),
            Answer::Failed(Delivery::Retry {
                reason: "Slack chat.postMessage: HTTP 429 rate limited: ".into(),
                after,
            })
        );
        assert!(matches!(
            classify("chat.update", 503, None, "<html>"),
            Answer::Failed(Delivery::Retry { after: None, .. })
        ));
        for s in [401, 403, 404, 410] {
            assert!(
                matches!(
                    classify("chat.update", s, None, ""),
                    Answer::Failed(Delivery::Broken { .. })
                ),
                "{s}"
            );
        }
        assert!(matches!(
            classify("chat.update", 400, None, "bad"),
            Answer::Failed(Delivery::Permanent { .. })
        ));
    }

    #[test]
    fn messages_keep_the_payload_and_add_where() {
        let payload = json!({"text": "t", "blocks": [1], "attachments": [2], "junk": 3});
        let m = message(&payload, &json!({"channel": "C1", "thread_ts": "1.2"}));
        assert_eq!(
            m,
            json!({"text": "t", "blocks": [1], "attachments": [2], "channel": "C1", "thread_ts": "1.2"})
        );
        assert_eq!(
            plain_edit(&json!({"channel": "C1", "ts": "1.2", "text": "t", "blocks": [1]})),
            json!({"channel": "C1", "ts": "1.2", "text": "t", "blocks": [], "attachments": []})
        );
    }
}
