//! Delivery: one worker per channel reads due notifications from the store, waits
//! for the channel's rate limit, renders, sends, and reports the classified outcome
//! (SPEC 6) to the dispatch engine. One file per channel kind ([`channel`]), one
//! row per kind in [`crate::kinds::KINDS`].

pub mod channel;
pub mod console;
pub mod discord;
pub mod email;
pub mod http;
pub mod limits;
pub mod pagerduty;
pub mod retry;
pub mod scrub;
pub mod slack;
mod slack_api;
pub mod slack_app;
pub mod slack_buttons;
mod slack_edits;
pub mod teams;
pub mod webhook;
pub mod worker;

pub use crate::kinds::{self, KindInfo, KINDS};
pub use channel::{Attempt, Channel, ChannelConfig, Delivery, Receipt};
pub use scrub::Scrubber;

use crate::config::ChannelSettings;
use crate::notification::Notification;
use crate::render::{Kind, Payload, Rendered};

/// A configured channel, ready to send: its kind's sender, the templates it
/// renders, and the scrubber for what its provider answers.
#[derive(Debug)]
pub struct Sender {
    channel: Box<dyn Channel>,
    render: Kind,
    info: &'static KindInfo,
    capabilities: kinds::Capabilities,
    scrub: Scrubber,
}

impl Sender {
    /// The one place a channel's sender is made (the worker and `send-test` both
    /// come here).
    pub fn build(
        name: &str,
        ch: &ChannelSettings,
        http: &reqwest::Client,
    ) -> Result<Sender, String> {
        let cfg = ch.inner();
        Ok(Sender {
            channel: cfg.build(name, http)?,
            render: cfg.render_kind(),
            info: cfg.kind(),
            capabilities: cfg.capabilities(),
            scrub: Scrubber::new(cfg.secrets()),
        })
    }

    /// Which templates this channel renders.
    pub fn kind(&self) -> Kind {
        self.render
    }

    /// Its row in the kinds table.
    pub fn info(&self) -> &'static KindInfo {
        self.info
    }

    /// What this channel (in its configured mode) can do with an alert already sent.
    pub fn capabilities(&self) -> kinds::Capabilities {
        self.capabilities
    }

    /// Cleans text of this channel's secrets (for messages made outside `send`).
    pub fn scrub(&self) -> &Scrubber {
        &self.scrub
    }

    /// Sends once and classifies the answer. `plain`: the built-in plain message
    /// for this kind, escaped like any payload (Slack's retry-as-text after a 400).
    /// Every reason is scrubbed of the channel's secrets before it is returned.
    /// `parent_view`: see [`Attempt::parent_view`] (`None` for a first alert or a
    /// channel that cannot edit). `pacer`: see [`Attempt::pacer`].
    pub async fn send(
        &self,
        n: &Notification,
        rendered: &Rendered,
        plain: &Payload,
        parent_view: Option<&Rendered>,
        pacer: Option<&std::sync::Arc<dyn crate::store::Queue>>,
    ) -> Delivery {
        let attempt = Attempt {
            notification: n,
            rendered,
            plain,
            parent_view,
            scrub: &self.scrub,
            pacer,
        };
        let delivery = self.channel.send(attempt).await;
        // The same classification with its reason cleaned.
        delivery.map_reason(|r| self.scrub.clean(&r))
    }
}

/// Checks a channel's settings at start (URLs parse, addresses are valid, ...);
/// messages name the channel and key and never contain the secret.
pub fn validate_channel(name: &str, ch: &ChannelSettings) -> Result<(), Vec<String>> {
    let errors = ch.inner().validate(name);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// One channel of every kind, as a user writes them.
    const EVERY_KIND: &str = r#"
[channels.console]
kind = "console"
format = "slack"
[channels.slack]
kind = "slack"
url = "https://hooks.example.com/services/T/B/slack-secret-123"
[channels.teams]
kind = "teams"
url = "https://example.com/workflows/x?sig=teams-secret-123"
[channels.email]
kind = "email"
smtp_url = "smtp://u:email-secret-123@127.0.0.1:2525?tls=none"
from = "a@example.com"
to = ["b@example.com"]
[channels.webhook]
kind = "webhook"
url = "https://example.com/hook"
headers = { Authorization = "Bearer webhook-secret-123" }
[channels.discord]
kind = "discord"
url = "https://discord.example.com/api/webhooks/1/discord-secret-123"
[channels.pagerduty]
kind = "pagerduty"
routing_key = "pagerduty-secret-123"
"#;

    #[tokio::test]
    async fn every_kind_maps_to_its_row_and_builds_one_way() {
        let s = crate::config::from_toml_str(EVERY_KIND, "t", |_| None, HashMap::new())
            .expect("config loads");
        assert_eq!(s.channels.len(), KINDS.len(), "a channel per row");
        let http = reqwest::Client::new();
        for (name, ch) in &s.channels {
            let info = ch.kind();
            assert_eq!(info.name, name.as_str(), "the serde tag and the row agree");
            assert!(validate_channel(name, ch).is_ok(), "{name}");
            assert!(ch.enabled(), "{name}");
            let sender = Sender::build(name, ch, &http).expect("builds");
            assert!(std::ptr::eq(sender.info(), info));
            let expected = if name == "console" {
                Kind::Slack
            } else {
                info.render
            };
            assert_eq!(sender.kind(), expected, "{name}");
            let dbg = format!("{sender:?}");
            assert!(!dbg.contains("secret-123"), "{dbg}");
            let secrets = ch.inner().secrets().len();
            assert!(
                secrets <= info.secret_keys.len() && (secrets == 0) == info.secret_keys.is_empty(),
                "{name}: a secret per key set"
            );
            if secrets > 0 {
                let cleaned = sender
                    .scrub()
                    .clean(&format!("echo {dbg} {name}-secret-123"));
                assert!(!cleaned.contains("secret-123"), "{name}: {cleaned}");
            }
            let limits = limits::ChannelLimits::from_settings(name, ch).expect("limits");
            assert_eq!(limits, limits::ChannelLimits::default_for(info));
        }
    }
}
