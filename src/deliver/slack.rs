//! Slack incoming webhooks: Block Kit with a `text` fallback (SPEC 6).
//! 200 success; 429 (Retry-After), 5xx, network: retry; 400: one retry as plain
//! text; 403/404/410: the channel is broken.

use super::channel::{check_url, Attempt, Channel, ChannelConfig, SendFuture};
use super::http::{post_json, Answer};
use super::kinds::KindInfo;
use super::Delivery;
use crate::config::{SlackChannel, Throttle};
use crate::render::{Kind, Payload};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

impl ChannelConfig for SlackChannel {
    fn kind(&self) -> &'static KindInfo {
        KindInfo::of(Kind::Slack)
    }
    fn throttle(&self) -> Throttle {
        crate::throttle_of!(self)
    }
    fn secrets(&self) -> Vec<&SecretString> {
        vec![&self.url]
    }
    fn validate(&self, name: &str) -> Vec<String> {
        check_url(name, "url", self.url.expose_secret())
            .into_iter()
            .collect()
    }
    fn build(&self, _name: &str, http: &reqwest::Client) -> Result<Box<dyn Channel>, String> {
        Ok(Box::new(Slack {
            url: self.url.clone(),
            http: http.clone(),
        }))
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
