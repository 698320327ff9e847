//! Delivery: one worker per channel reads due notifications from the store, waits
//! for the channel's rate limit, renders, sends, and reports the classified outcome
//! (SPEC 6) to the dispatch engine. One file per channel kind.

pub mod console;
pub mod discord;
pub mod email;
pub mod http;
pub mod limits;
pub mod pagerduty;
pub mod retry;
pub mod slack;
pub mod teams;
pub mod webhook;
pub mod worker;

use crate::config::ChannelSettings;
use crate::notification::Notification;
use crate::render::{Kind, Payload, Rendered};
use std::time::Duration;

/// A provider's answer, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Try again later (429, 5xx, network, timeout, SMTP 4xx).
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Will never work as sent; `broken`: the channel itself is gone (Slack 403/404/410).
    Permanent {
        reason: String,
        broken: bool,
    },
}

/// A configured channel, ready to send.
#[derive(Debug)]
pub enum Sender {
    Slack(slack::Slack),
    Console(console::Console),
    Teams(teams::Teams),
    Email(email::Email),
    Webhook(webhook::Webhook),
    Discord(discord::Discord),
    Pagerduty(pagerduty::PagerDuty),
}

impl Sender {
    pub fn build(
        name: &str,
        ch: &ChannelSettings,
        http: &reqwest::Client,
    ) -> Result<Sender, String> {
        match ch {
            ChannelSettings::Slack(c) => Ok(Sender::Slack(slack::Slack::new(c, http.clone()))),
            ChannelSettings::Console(c) => Ok(Sender::Console(console::Console::new(c))),
            ChannelSettings::Teams(c) => Ok(Sender::Teams(teams::Teams::new(c, http.clone()))),
            ChannelSettings::Email(c) => email::Email::new(name, c).map(Sender::Email),
            ChannelSettings::Webhook(c) => {
                webhook::Webhook::new(name, c, http.clone()).map(Sender::Webhook)
            }
            ChannelSettings::Discord(c) => {
                Ok(Sender::Discord(discord::Discord::new(c, http.clone())))
            }
            ChannelSettings::Pagerduty(c) => Ok(Sender::Pagerduty(pagerduty::PagerDuty::new(
                c,
                http.clone(),
            ))),
        }
    }

    /// Which templates this channel renders.
    pub fn kind(&self) -> Kind {
        match self {
            Sender::Slack(_) => Kind::Slack,
            Sender::Console(c) => c.render_kind(),
            Sender::Teams(_) => Kind::Teams,
            Sender::Email(_) => Kind::Email,
            Sender::Webhook(_) => Kind::Webhook,
            Sender::Discord(_) => Kind::Discord,
            Sender::Pagerduty(_) => Kind::Pagerduty,
        }
    }

    /// `plain`: the built-in plain message for this kind, escaped like any payload
    /// (Slack's retry-as-text after a 400).
    pub async fn send(&self, n: &Notification, rendered: &Rendered, plain: &Payload) -> Outcome {
        match self {
            Sender::Slack(s) => s.send(rendered, plain).await,
            Sender::Console(c) => c.send(n, rendered).await,
            Sender::Teams(s) => s.send(rendered, plain).await,
            Sender::Email(s) => s.send(n, rendered, plain).await,
            Sender::Webhook(s) => s.send(rendered, plain).await,
            Sender::Discord(s) => s.send(rendered, plain).await,
            Sender::Pagerduty(s) => s.send(n, rendered, plain).await,
        }
    }
}

/// Checks a channel's settings at start (URLs parse, addresses are valid, ...);
/// messages name the channel and key and never contain the secret.
pub fn validate_channel(name: &str, ch: &ChannelSettings) -> Result<(), Vec<String>> {
    use secrecy::ExposeSecret;
    let mut errors = vec![];
    let url_ok = |key: &str, v: &str, errors: &mut Vec<String>| {
        if !v.trim().is_empty() {
            match url::Url::parse(v.trim()) {
                Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {}
                _ => errors.push(format!(
                    "channels.{name}.{key}: not an http(s) URL (value hidden)"
                )),
            }
        }
    };
    match ch {
        ChannelSettings::Slack(c) => url_ok("url", c.url.expose_secret(), &mut errors),
        ChannelSettings::Teams(c) => url_ok("url", c.url.expose_secret(), &mut errors),
        ChannelSettings::Discord(c) => url_ok("url", c.url.expose_secret(), &mut errors),
        ChannelSettings::Webhook(c) => {
            url_ok("url", c.url.expose_secret(), &mut errors);
            errors.extend(webhook::check_headers(name, c));
        }
        ChannelSettings::Pagerduty(c) => url_ok("url", &c.url, &mut errors),
        // An empty smtp_url switches the channel off: nothing else to check then.
        ChannelSettings::Email(c) if c.smtp_url.expose_secret().trim().is_empty() => {}
        ChannelSettings::Email(c) => {
            if let Err(e) = email::check(name, c) {
                errors.extend(e);
            }
        }
        ChannelSettings::Console(c) => {
            if Kind::parse(&c.format).is_none() {
                errors.push(format!("channels.{name}.format: {:?} is not a template kind (console, slack, teams, ...)", c.format));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}
