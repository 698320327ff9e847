//! Slack (SPEC 6): the channel's settings and its two modes, and the incoming
//! webhook sender: Block Kit with a `text` fallback; 200 success; 429
//! (Retry-After), 5xx, network: retry; 400: one retry as plain text; 403/404/410:
//! the channel is broken. App mode (`bot_token` + `channel`, the Web API, living
//! alerts) is [`super::slack_app`].

use super::channel::{check_url, Attempt, Channel, ChannelConfig, SendFuture};
use super::http::{post_json, Answer};
use super::Delivery;
use crate::config::{SlackChannel, Throttle};
use crate::kinds::{Capabilities, KindInfo};
use crate::render::{Kind, Payload};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use std::time::Duration;

/// Slack's Web API, unless `api_url` says otherwise.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";
/// At most one edit of a living alert's message per this long, unless configured.
pub use super::slack_app::AppSettings;

pub const DEFAULT_UPDATE_INTERVAL: Duration = Duration::from_secs(10);

/// How a `kind = "slack"` channel talks to Slack: the one place its keys are read
/// and app mode's defaults applied.
#[derive(Debug)]
pub enum SlackMode<'a> {
    /// `url`: an incoming webhook (no receipts, nothing to edit).
    Webhook { url: &'a SecretString },
    /// `bot_token` + `channel`: the Web API, living alerts (SPEC 13).
    App(AppSettings<'a>),
}

impl SlackChannel {
    /// The mode its keys select, or what is wrong with them (`channels.<name>.<key>:
    /// ...`, never showing a secret).
    pub fn mode(&self, name: &str) -> Result<SlackMode<'_>, String> {
        let app_only = [
            ("channel", self.channel.is_some()),
            ("api_url", self.api_url.is_some()),
            ("update_interval", self.update_interval.is_some()),
        ];
        match (&self.url, &self.bot_token) {
            (Some(_), Some(_)) => Err(format!(
                "channels.{name}.bot_token: give either url (an incoming webhook) or bot_token + channel (app mode), not both"
            )),
            (None, None) => Err(format!(
                "channels.{name}.url: missing; give url (an incoming webhook) or bot_token + channel (app mode)"
            )),
            (Some(url), None) => match app_only.iter().find(|(_, set)| *set) {
                Some((key, _)) => Err(format!(
                    "channels.{name}.{key}: only with bot_token (app mode); an incoming webhook posts where it was made"
                )),
                None => Ok(SlackMode::Webhook { url }),
            },
            (None, Some(token)) => {
                let channel = self.channel.as_deref().map(str::trim).unwrap_or_default();
                if channel.is_empty() {
                    return Err(format!(
                        "channels.{name}.channel: required with bot_token: the channel to post in (an id like C0123456789, or #name)"
                    ));
                }
                let api_url = self
                    .api_url
                    .as_deref()
                    .unwrap_or(DEFAULT_API_URL)
                    .trim()
                    .trim_end_matches('/')
                    .to_string();
                Ok(SlackMode::App(AppSettings {
                    token,
                    channel,
                    api_url,
                    update_interval: self
                        .update_interval
                        .map_or(DEFAULT_UPDATE_INTERVAL, |d| d.0),
                }))
            }
        }
    }
}

impl ChannelConfig for SlackChannel {
    fn kind(&self) -> &'static KindInfo {
        KindInfo::of(Kind::Slack)
    }
    fn throttle(&self) -> Throttle {
        crate::throttle_of!(self)
    }
    fn secrets(&self) -> Vec<&SecretString> {
        // Whichever of `url`, `bot_token` is set (the mode's own first).
        match (&self.url, &self.bot_token) {
            (None, Some(t)) => vec![t],
            (u, t) => u.iter().chain(t.iter()).collect(),
        }
    }
    fn switch_key(&self) -> Option<&'static str> {
        Some(if self.url.is_none() && self.bot_token.is_some() {
            "bot_token"
        } else {
            "url"
        })
    }
    fn capabilities(&self) -> Capabilities {
        match self.mode("") {
            Ok(SlackMode::App(_)) => self.kind().capabilities,
            _ => Capabilities::default(),
        }
    }
    fn validate(&self, name: &str) -> Vec<String> {
        match self.mode(name) {
            Err(e) => vec![e],
            Ok(SlackMode::Webhook { url }) => check_url(name, "url", url.expose_secret())
                .into_iter()
                .collect(),
            Ok(SlackMode::App(app)) => check_url(name, "api_url", &app.api_url)
                .into_iter()
                .collect(),
        }
    }
    fn build(&self, name: &str, http: &reqwest::Client) -> Result<Box<dyn Channel>, String> {
        Ok(match self.mode(name)? {
            SlackMode::Webhook { url } => Box::new(Slack {
                url: url.clone(),
                http: http.clone(),
            }),
            SlackMode::App(app) => Box::new(super::slack_app::SlackApp::new(name, &app, http)),
        })
    }
}

pub struct Slack {
    url: SecretString,
    http: reqwest::Client,
}

impl std::fmt::Debug for Slack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Slack { url: [hidden] }")
    }
}

impl Channel for Slack {
    fn send<'a>(&'a self, a: Attempt<'a>) -> SendFuture<'a> {
        Box::pin(self.post(a))
    }
}

impl Slack {
    /// `plain` is the escaped built-in message (`Renderer::plain_payload`), never raw
    /// event text: a retry must not ping the channel either.
    async fn post(&self, a: Attempt<'_>) -> Delivery {
        let plain = match a.plain {
            Payload::Json(v) => v.clone(),
            Payload::Text(t) | Payload::Email { text: t, .. } => json!({ "text": t }),
        };
        let body = match &a.rendered.payload {
            Payload::Json(v) => v.clone(),
            _ => plain.clone(),
        };
        let first = match post_json(&self.http, self.url.expose_secret(), &body, &[]).await {
            Ok(a) => a,
            Err(d) => return d,
        };
        match first.status {
            400 => {
                // Slack rejected the blocks (invalid_blocks, ...): the alert still goes out as text.
                tracing::warn!(answer = %a.scrub.clean(&first.body), "Slack refused the Block Kit payload; retrying once as plain text");
                match post_json(&self.http, self.url.expose_secret(), &plain, &[]).await {
                    Ok(a) if a.status == 200 => Delivery::sent(),
                    Ok(a) => classify(&a, Some(&first)),
                    Err(d) => d,
                }
            }
            _ => classify(&first, None),
        }
    }
}

fn classify(a: &Answer, earlier: Option<&Answer>) -> Delivery {
    let why = |a: &Answer| format!("HTTP {}: {}", a.status, a.body);
    match a.status {
        200..=299 => Delivery::sent(),
        429 | 500..=599 => Delivery::Retry {
            reason: why(a),
            after: a.retry_after,
        },
        403 | 404 | 410 => Delivery::Broken {
            reason: format!("{} (webhook revoked or channel gone)", why(a)),
        },
        _ => Delivery::permanent(match earlier {
            Some(e) => format!("{}; plain-text retry: {}", why(e), why(a)),
            None => why(a),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            retry_after: Some(Duration::from_secs(7)),
            body: body.into(),
        }
    }

    #[test]
    fn classification() {
        assert_eq!(classify(&answer(200, "ok"), None), Delivery::sent());
        for s in [429, 500, 503] {
            assert_eq!(
                classify(&answer(s, "x"), None),
                Delivery::Retry {
                    reason: format!("HTTP {s}: x"),
                    after: Some(Duration::from_secs(7))
                }
            );
        }
        for s in [403, 404, 410] {
            assert!(
                matches!(classify(&answer(s, "no_service"), None), Delivery::Broken { reason } if reason.contains("no_service")),
                "{s}"
            );
        }
        let first = answer(400, "invalid_blocks");
        assert_eq!(
            classify(&answer(400, "no_text"), Some(&first)),
            Delivery::permanent("HTTP 400: invalid_blocks; plain-text retry: HTTP 400: no_text")
        );
    }
}

#[cfg(test)]
mod mode_tests {
    use super::*;
    use crate::config::ChannelSettings;

    fn slack(keys: &str) -> SlackChannel {
        let text = format!("[channels.s]\nkind = \"slack\"\n{keys}\n");
        let s = crate::config::from_toml_str(&text, "t", |_| None, Default::default())
            .expect("config loads");
        match s.channels.get("s") {
            Some(ChannelSettings::Slack(c)) => c.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn app_mode_with_its_defaults() {
        let c = slack("bot_token = \"xoxb-secret-123456\"\nchannel = \"C0123\"");
        let Ok(SlackMode::App(app)) = c.mode("s") else {
            panic!("app mode")
        };
        assert_eq!(app.channel, "C0123");
        assert_eq!(app.api_url, DEFAULT_API_URL);
        assert_eq!(app.update_interval, DEFAULT_UPDATE_INTERVAL);
        assert!(c.validate("s").is_empty());
        assert_eq!(c.switch_key(), Some("bot_token"));
        assert!(c.capabilities().can_edit && c.capabilities().can_thread);
        assert!(c.enabled());
        let c = slack(
            "bot_token = \"xoxb-secret-123456\"\nchannel = \"C0123\"\napi_url = \"http://127.0.0.1:9/api/\"\nupdate_interval = \"2s\"",
        );
        let Ok(SlackMode::App(app)) = c.mode("s") else {
            panic!("app mode")
        };
        assert_eq!(app.api_url, "http://127.0.0.1:9/api");
        assert_eq!(app.update_interval, Duration::from_secs(2));
        assert!(
            !slack("bot_token = \"\"\nchannel = \"C1\"").enabled(),
            "off when empty"
        );
    }

    #[test]
    fn webhook_mode_as_before() {
        let c = slack("url = \"https://hooks.slack.com/services/T/B/secret123\"");
        assert!(matches!(c.mode("s"), Ok(SlackMode::Webhook { .. })));
        assert!(c.validate("s").is_empty());
        assert_eq!(c.switch_key(), Some("url"));
        assert_eq!(c.capabilities(), Capabilities::default(), "cannot edit");
        assert!(!slack("url = \"\"").enabled());
    }

    #[test]
    fn one_mode_exactly_and_errors_name_the_key() {
        let cases = [
            (
                "url = \"https://hooks.slack.com/services/T/B/secret123\"\nbot_token = \"xoxb-secret-123456\"\nchannel = \"C1\"",
                "channels.s.bot_token: give either url",
            ),
            ("rate_limit = \"1/s\"", "channels.s.url: missing"),
            ("bot_token = \"xoxb-secret-123456\"", "channels.s.channel: required with bot_token"),
            ("bot_token = \"xoxb-secret-123456\"\nchannel = \" \"", "channels.s.channel: required"),
            (
                "url = \"https://hooks.slack.com/services/T/B/secret123\"\nchannel = \"C1\"",
                "channels.s.channel: only with bot_token",
            ),
            (
                "url = \"https://hooks.slack.com/services/T/B/secret123\"\nupdate_interval = \"1s\"",
                "channels.s.update_interval: only with bot_token",
            ),
            (
                "bot_token = \"xoxb-secret-123456\"\nchannel = \"C1\"\napi_url = \"ftp://x\"",
                "channels.s.api_url: not an http(s) URL",
            ),
        ];
        for (keys, want) in cases {
            let errors = slack(keys).validate("s");
            assert_eq!(errors.len(), 1, "{keys}: {errors:?}");
            assert!(errors[0].starts_with(want), "{keys}: {errors:?}");
            assert!(!errors[0].contains("secret"), "{errors:?}");
        }
    }
}
