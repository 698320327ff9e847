//! The seam every channel kind plugs into: [`ChannelConfig`] (implemented by the
//! kind's settings struct: checks, limits, secrets, and building the sender) and
//! [`Channel`] (send one rendered payload, classify the provider's answer into a
//! [`Delivery`]). A kind is one file implementing both, plus its row in
//! [`crate::kinds::KINDS`].

use super::scrub::Scrubber;
use crate::config::Throttle;
use crate::kinds::{Capabilities, KindInfo};
use crate::notification::Notification;
use crate::render::{Kind, Payload, Rendered};
use crate::store::Queue;
use secrecy::SecretString;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A provider's answer, classified (SPEC 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Accepted; `receipt` is what the provider gave back that later sends need.
    Sent { receipt: Option<Receipt> },
    /// Try again later (429, 5xx, network, timeout, SMTP 4xx); `after`: the
    /// provider's `Retry-After`.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// The channel itself no longer works (webhook revoked, SMTP auth refused):
    /// every later send would fail the same way until its settings are fixed.
    Broken { reason: String },
    /// This notification will never be accepted as sent (an invalid payload).
    Permanent { reason: String },
}

impl Delivery {
    /// Success without a receipt (webhooks answer nothing worth keeping).
    pub fn sent() -> Delivery {
        Delivery::Sent { receipt: None }
    }

    /// A retry without a `Retry-After`.
    pub fn retry(reason: impl Into<String>) -> Delivery {
        Delivery::Retry {
            reason: reason.into(),
            after: None,
        }
    }

    pub fn permanent(reason: impl Into<String>) -> Delivery {
        Delivery::Permanent {
            reason: reason.into(),
        }
    }

    /// The failure's reason; `None` for [`Delivery::Sent`].
    pub fn reason(&self) -> Option<&str> {
        match self {
            Delivery::Sent { .. } => None,
            Delivery::Retry { reason, .. }
            | Delivery::Broken { reason }
            | Delivery::Permanent { reason } => Some(reason),
        }
    }

    /// The same classification with `f` applied to the reason.
    pub fn map_reason(self, f: impl FnOnce(String) -> String) -> Delivery {
        match self {
            sent @ Delivery::Sent { .. } => sent,
            Delivery::Retry { reason, after } => Delivery::Retry {
                reason: f(reason),
                after,
            },
            Delivery::Broken { reason } => Delivery::Broken { reason: f(reason) },
            Delivery::Permanent { reason } => Delivery::Permanent { reason: f(reason) },
        }
    }
}

pub use crate::notification::Receipt;

/// One send: the notification, its rendered payload and the built-in plain
/// form (Slack's retry-as-text), and the channel's [`Scrubber`].
#[derive(Clone, Copy)]
pub struct Attempt<'a> {
    pub notification: &'a Notification,
    pub rendered: &'a Rendered,
    pub plain: &'a Payload,
    /// For a channel that can edit, on a digest or resolved notice with a parent:
    /// the group's first alert as its message should now read (running total,
    /// or resolved), from [`crate::render::Renderer::render_parent`].
    pub parent_view: Option<&'a Rendered>,
    /// The returned [`Delivery`] is scrubbed by [`super::Sender::send`]; a channel
    /// that logs provider text itself passes it through this first.
    pub scrub: &'a Scrubber,
    /// The store's shared pacing (SPEC 12), for a channel that edits messages:
    /// every replica's edits of one message draw from one budget. `None` outside
    /// the delivery workers (`send-test`).
    pub pacer: Option<&'a Arc<dyn Queue>>,
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Delivery> + Send + 'a>>;

/// A configured channel, ready to send.
pub trait Channel: std::fmt::Debug + Send + Sync {
    /// Sends one rendered payload and classifies the answer. Never panics; every
    /// failure is a [`Delivery`].
    fn send<'a>(&'a self, attempt: Attempt<'a>) -> SendFuture<'a>;
}

/// What a channel's settings provide, whatever its kind. Implemented by each
/// kind's settings struct, in the kind's file; [`crate::config::ChannelSettings::inner`]
/// is the one place listing the variants.
pub trait ChannelConfig: std::fmt::Debug + Send + Sync {
    /// The kind's row in the kinds table.
    fn kind(&self) -> &'static KindInfo;

    /// `rate_limit`, `burst`, `max_pending` as configured (unset: the kind's default).
    fn throttle(&self) -> Throttle;

    /// The values of the kind's secret keys (as listed in its row), for the
    /// [`Scrubber`]; the first one switches the channel off when empty.
    fn secrets(&self) -> Vec<&SecretString>;

    /// Problems in the settings, each `channels.<name>.<key>: ...`, never showing
    /// a secret.
    fn validate(&self, name: &str) -> Vec<String>;

    /// The sender. Called inside a tokio runtime (email starts its pool there).
    fn build(&self, name: &str, http: &reqwest::Client) -> Result<Box<dyn Channel>, String>;

    /// Which templates it renders (console: its `format`).
    fn render_kind(&self) -> Kind {
        self.kind().render
    }

    /// The key whose emptiness switches this channel off (its row's first secret
    /// key; Slack: `url` or `bot_token`, by mode).
    fn switch_key(&self) -> Option<&'static str> {
        self.kind().switch_key()
    }

    /// What this channel can do with an alert already sent.
    fn capabilities(&self) -> Capabilities {
        self.kind().capabilities
    }

    /// A channel whose first secret (URL, key) is empty is off: it is skipped with
    /// a warning at start, so the shipped config runs without any account.
    /// (`secrets()` lists the switching one first.)
    fn enabled(&self) -> bool {
        use secrecy::ExposeSecret;
        self.secrets()
            .first()
            .is_none_or(|s| !s.expose_secret().trim().is_empty())
    }
}

/// The [`Throttle`] of a settings struct (every kind has `rate_limit`, `burst`,
/// `max_pending`).
#[macro_export]
macro_rules! throttle_of {
    ($c:expr) => {
        $crate::config::Throttle {
            rate_limit: $c.rate_limit.clone(),
            burst: $c.burst,
            max_pending: $c.max_pending,
            notify_resolved: $c.notify_resolved,
        }
    };
}

/// `channels.<name>.<key>` must be an http(s) URL (an empty one switches the
/// channel off and is not checked). The message hides the value.
pub fn check_url(name: &str, key: &str, value: &str) -> Option<String> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    match url::Url::parse(v) {
        Ok(u) if u.scheme() == "https" || u.scheme() == "http" => None,
        _ => Some(format!(
            "channels.{name}.{key}: not an http(s) URL (value hidden)"
        )),
    }
}

/// The JSON body of a payload, if it is one.
pub fn json_of(p: &Payload) -> Option<&serde_json::Value> {
    match p {
        Payload::Json(v) => Some(v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_round_trip_as_tagged_json() {
        let r = Receipt::Slack {
            channel: "C123".into(),
            ts: "1700000000.000100".into(),
        };
        let v = serde_json::to_value(&r).expect("serializes");
        assert_eq!(
            v,
            serde_json::json!({"kind": "slack", "channel": "C123", "ts": "1700000000.000100"})
        );
        assert_eq!(serde_json::from_value::<Receipt>(v).expect("parses"), r);
        let pd = Receipt::Pagerduty {
            dedup_key: "voice|11200".into(),
        };
        let text = serde_json::to_string(&pd).expect("serializes");
        assert_eq!(serde_json::from_str::<Receipt>(&text).expect("parses"), pd);
    }

    #[test]
    fn map_reason_keeps_the_class() {
        let d = Delivery::Retry {
            reason: "a".into(),
            after: Some(Duration::from_secs(3)),
        };
        assert_eq!(
            d.map_reason(|r| r + "b"),
            Delivery::Retry {
                reason: "ab".into(),
                after: Some(Duration::from_secs(3))
            }
        );
        assert_eq!(
            Delivery::sent().map_reason(|_| "x".into()),
            Delivery::sent()
        );
        assert_eq!(Delivery::Broken { reason: "x".into() }.reason(), Some("x"));
    }

    #[test]
    fn urls_are_checked_without_showing_them() {
        assert_eq!(check_url("s", "url", ""), None);
        assert_eq!(check_url("s", "url", "https://hooks.example.com/x"), None);
        let e = check_url("s", "url", "ftp://secret-host/x").expect("refused");
        assert!(
            e.starts_with("channels.s.url:") && !e.contains("secret-host"),
            "{e}"
        );
    }
}
