//! Slack incoming webhooks: Block Kit with a `text` fallback (SPEC 6).
//! 200 success; 429 (Retry-After), 5xx, network: retry; 400: one retry as plain
//! text; 403/404/410: permanent, channel broken.

use super::http::{post_json, Answer};
use super::Outcome;
use crate::config::SlackChannel;
use crate::render::{Payload, Rendered};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

pub struct Slack {
    url: SecretString,
    http: reqwest::Client,
}

impl std::fmt::Debug for Slack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Slack { url: [hidden] }")
    }
}

impl Slack {
    pub fn new(c: &SlackChannel, http: reqwest::Client) -> Slack {
        Slack {
            url: c.url.clone(),
            http,
        }
    }

    /// `plain` is the escaped built-in message (`Renderer::plain_payload`), never raw
    /// event text: a retry must not ping the channel either.
    pub async fn send(&self, rendered: &Rendered, plain: &Payload) -> Outcome {
        let plain = match plain {
            Payload::Json(v) => v.clone(),
            Payload::Text(t) | Payload::Email { text: t, .. } => json!({ "text": t }),
        };
        let body = match &rendered.payload {
            Payload::Json(v) => v.clone(),
            _ => plain.clone(),
        };
        let first = match post_json(&self.http, self.url.expose_secret(), &body, &[]).await {
            Ok(a) => a,
            Err(o) => return o,
        };
        match first.status {
            400 => {
                // Slack rejected the blocks (invalid_blocks, ...): the alert still goes out as text.
                tracing::warn!(answer = %first.body, "Slack refused the Block Kit payload; retrying once as plain text");
                match post_json(&self.http, self.url.expose_secret(), &plain, &[]).await {
                    Ok(a) if a.status == 200 => Outcome::Success,
                    Ok(a) => classify(&a, Some(&first)),
                    Err(o) => o,
                }
            }
            _ => classify(&first, None),
        }
    }
}

fn classify(a: &Answer, earlier: Option<&Answer>) -> Outcome {
    let why = |a: &Answer| format!("HTTP {}: {}", a.status, a.body);
    match a.status {
        200..=299 => Outcome::Success,
        429 => Outcome::Retry {
            reason: why(a),
            retry_after: a.retry_after,
        },
        500..=599 => Outcome::Retry {
            reason: why(a),
            retry_after: a.retry_after,
        },
        403 | 404 | 410 => Outcome::Permanent {
            reason: format!("{} (webhook revoked or channel gone)", why(a)),
            broken: true,
        },
        _ => Outcome::Permanent {
            reason: match earlier {
                Some(e) => format!("{}; plain-text retry: {}", why(e), why(a)),
                None => why(a),
            },
            broken: false,
        },
    }
}
