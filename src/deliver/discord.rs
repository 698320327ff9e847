//! Discord webhooks: `content` and `embeds` within Discord's limits (enforced by
//! the renderer) and `allowed_mentions: {parse: []}` so event text pings nobody
//! (SPEC 6). 2xx success; 429 retry after the body's `retry_after` (seconds,
//! float) or the `Retry-After` header, whichever is longer; 5xx, network: retry;
//! other 4xx permanent (404: the webhook was deleted, channel broken).

use super::channel::{check_url, json_of, Attempt, Channel, ChannelConfig, SendFuture};
use super::http::{classify, post_json, Answer};
use super::Delivery;
use crate::config::{DiscordChannel, Throttle};
use crate::kinds::KindInfo;
use crate::render::Kind;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::time::Duration;

impl ChannelConfig for DiscordChannel {
    fn kind(&self) -> &'static KindInfo {
        KindInfo::of(Kind::Discord)
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
        Ok(Box::new(Discord {
            url: self.url.clone(),
            http: http.clone(),
        }))
    }
}

pub struct Discord {
    url: SecretString,
    http: reqwest::Client,
}

impl std::fmt::Debug for Discord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Discord { url: [hidden] }")
    }
}

impl Channel for Discord {
    fn send<'a>(&'a self, a: Attempt<'a>) -> SendFuture<'a> {
        Box::pin(self.post(a))
    }
}

impl Discord {
    async fn post(&self, a: Attempt<'_>) -> Delivery {
        let Some(body) = json_of(&a.rendered.payload).or_else(|| json_of(a.plain)) else {
            return Delivery::permanent("no Discord message to send (renderer produced no JSON)");
        };
        let body = with_mentions_pinned(body);
        match post_json(&self.http, self.url.expose_secret(), &body, &[]).await {
            Ok(a) => classify_discord(&a),
            Err(d) => d,
        }
    }
}

/// The renderer already sets `allowed_mentions`; a payload without it (a bug)
/// still must not ping: it gets `{parse: []}`.
fn with_mentions_pinned(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(obj) = v.as_object_mut() {
        let ok = obj
            .get("allowed_mentions")
            .and_then(|m| m.get("parse"))
            .and_then(Value::as_array)
            .is_some_and(|p| p.is_empty());
        if !ok {
            obj.insert("allowed_mentions".into(), json!({ "parse": [] }));
        }
    }
    v
}

fn classify_discord(a: &Answer) -> Delivery {
    match classify(a) {
        Delivery::Retry { reason, after } if a.status == 429 => {
            let from_body = body_retry_after(&a.body);
            let after = match (from_body, after) {
                (Some(b), Some(h)) => Some(b.max(h)),
                (b, h) => b.or(h),
            };
            Delivery::Retry { reason, after }
        }
        other => other,
    }
}

/// `retry_after` from a 429 body like `{"message": "You are being rate limited.",
/// "retry_after": 0.342, "global": false}`. Read from the text, so a body cut
/// short for error messages still yields it.
fn body_retry_after(body: &str) -> Option<Duration> {
    let at = body.find("\"retry_after\"")? + "\"retry_after\"".len();
    let rest = body[at..].trim_start().strip_prefix(':')?.trim_start();
    let num: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        .collect();
    let secs: f64 = num.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86400.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, retry_after: Option<Duration>, body: &str) -> Answer {
        Answer {
            status,
            retry_after,
            body: body.into(),
        }
    }

    #[test]
    fn rate_limit_uses_body_and_header() {
        let body =
            r#"{"message": "You are being rate limited.", "retry_after": 2.5, "global": false}"#;
        let got = classify_discord(&answer(429, None, body));
        assert!(
            matches!(got, Delivery::Retry { after: Some(d), .. } if d == Duration::from_millis(2500)),
            "{got:?}"
        );
        let got = classify_discord(&answer(429, Some(Duration::from_secs(3)), body));
        assert!(
            matches!(got, Delivery::Retry { after: Some(d), .. } if d == Duration::from_secs(3)),
            "{got:?}"
        );
        let got = classify_discord(&answer(429, Some(Duration::from_secs(1)), "not json"));
        assert!(
            matches!(got, Delivery::Retry { after: Some(d), .. } if d == Duration::from_secs(1)),
            "{got:?}"
        );
        assert_eq!(body_retry_after(r#"{"retry_after":-1}"#), None);
        assert_eq!(body_retry_after(r#"{"retry_after": "x"}"#), None);
        assert_eq!(
            body_retry_after(r#"{"retry_after":1e400}"#),
            None,
            "infinite is ignored"
        );
    }

    #[test]
    fn classification() {
        assert_eq!(classify_discord(&answer(204, None, "")), Delivery::sent());
        assert!(matches!(
            classify_discord(&answer(503, None, "")),
            Delivery::Retry { .. }
        ));
        assert!(matches!(
            classify_discord(&answer(400, None, "{\"embeds\": [\"0\"]}")),
            Delivery::Permanent { .. }
        ));
        assert!(matches!(
            classify_discord(&answer(404, None, "Unknown Webhook")),
            Delivery::Broken { .. }
        ));
    }

    #[test]
    fn mentions_always_pinned() {
        let v = with_mentions_pinned(
            &json!({"content": "@everyone", "allowed_mentions": {"parse": ["everyone"]}}),
        );
        assert_eq!(v["allowed_mentions"], json!({"parse": []}));
        let kept = json!({"content": "x", "allowed_mentions": {"parse": [], "roles": ["1"]}});
        assert_eq!(with_mentions_pinned(&kept), kept);
    }
}
