//! PagerDuty Events API v2: a `trigger` with `dedup_key` = the group key, so a
//! group's first alert and its digests are one incident (SPEC 6). The rendered
//! payload has no `routing_key`/`dedup_key`; they are added here. 202 success;
//! 429, 5xx, network: retry; 400 (invalid event) and other 4xx permanent.

use super::http::{classify, post_json};
use super::teams::json_of;
use super::webhook::redact_outcome;
use super::Outcome;
use crate::config::PagerDutyChannel;
use crate::event::Level;
use crate::notification::Notification;
use crate::render::{Payload, Rendered};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// PagerDuty's limit on `dedup_key`.
const DEDUP_KEY_MAX: usize = 255;

pub struct PagerDuty {
    routing_key: SecretString,
    url: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for PagerDuty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PagerDuty {{ url: {:?}, routing_key: [hidden] }}",
            self.url
        )
    }
}

impl PagerDuty {
    pub fn new(c: &PagerDutyChannel, http: reqwest::Client) -> PagerDuty {
        PagerDuty {
            routing_key: c.routing_key.clone(),
            url: c.url.trim().to_string(),
            http,
        }
    }

    pub async fn send(&self, n: &Notification, rendered: &Rendered, plain: &Payload) -> Outcome {
        let Some(body) = json_of(&rendered.payload).or_else(|| json_of(plain)) else {
            return Outcome::Permanent {
                reason: "no PagerDuty event to send (renderer produced no JSON)".into(),
                broken: false,
            };
        };
        let body = event(body, n, self.routing_key.expose_secret().trim());
        let outcome = match post_json(&self.http, &self.url, &body, &[]).await {
            Ok(a) => classify(&a),
            Err(o) => o,
        };
        redact_outcome(outcome, &[self.routing_key.expose_secret()])
    }
}

/// The rendered payload completed into an Events API v2 trigger.
fn event(rendered: &Value, n: &Notification, routing_key: &str) -> Value {
    let mut v = match rendered {
        Value::Object(_) => rendered.clone(),
        _ => json!({}),
    };
    let Some(obj) = v.as_object_mut() else {
        return v;
    };
    obj.insert("routing_key".into(), json!(routing_key));
    obj.insert("dedup_key".into(), json!(dedup_key(&n.group_key)));
    obj.entry("event_action").or_insert(json!("trigger"));
    let payload = obj.entry("payload").or_insert_with(|| json!({}));
    if let Some(p) = payload.as_object_mut() {
        let valid = p
            .get("severity")
            .and_then(Value::as_str)
            .is_some_and(|s| matches!(s, "critical" | "error" | "warning" | "info"));
        if !valid {
            p.insert("severity".into(), json!(severity(&n.event.level)));
        }
    }
    v
}

/// PagerDuty severity for a Debugger level.
fn severity(level: &Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warning => "warning",
        Level::Info | Level::Debug => "info",
    }
}

/// The group key, or (past PagerDuty's 255 characters) its start plus a hash of
/// the whole, so distinct long keys stay distinct.
fn dedup_key(group_key: &str) -> String {
    if group_key.len() <= DEDUP_KEY_MAX {
        return group_key.to_string();
    }
    let hash = hex::encode(Sha256::digest(group_key.as_bytes()));
    let mut head = String::new();
    for c in group_key.chars() {
        if head.len() + c.len_utf8() > DEDUP_KEY_MAX - 1 - 32 {
            break;
        }
        head.push(c);
    }
    format!("{head}#{}", &hash[..32])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::sample_notifications;

    #[test]
    fn adds_routing_and_dedup_keys() {
        let n = sample_notifications()
            .into_iter()
            .next()
            .expect("a sample")
            .1;
        let rendered = json!({"event_action": "trigger", "payload": {"summary": "s", "source": "x", "severity": "warning"}});
        let v = event(&rendered, &n, "R0UT1NGKEY");
        assert_eq!(v["routing_key"], "R0UT1NGKEY");
        assert_eq!(v["dedup_key"], json!(n.group_key));
        assert_eq!(v["payload"]["severity"], "warning", "the template's wins");
        let v = event(&json!({"payload": {"severity": "loud"}}), &n, "k");
        assert_eq!(v["payload"]["severity"], severity(&n.event.level));
        assert_eq!(v["event_action"], "trigger");
    }

    #[test]
    fn long_group_keys_are_hashed_within_the_limit() {
        let a = format!("{}a", "é".repeat(300));
        let b = format!("{}b", "é".repeat(300));
        let (ka, kb) = (dedup_key(&a), dedup_key(&b));
        assert!(ka.len() <= DEDUP_KEY_MAX && kb.len() <= DEDUP_KEY_MAX);
        assert_ne!(ka, kb);
        assert_eq!(dedup_key("voice|11200"), "voice|11200");
    }

    #[test]
    fn debug_hides_the_key() {
        let c = PagerDutyChannel {
            routing_key: SecretString::from("R0UT1NGKEY"),
            url: "https://events.pagerduty.com/v2/enqueue".into(),
            rate_limit: None,
            burst: None,
            max_pending: None,
        };
        let p = PagerDuty::new(&c, reqwest::Client::new());
        assert!(!format!("{p:?}").contains("R0UT1NGKEY"));
    }
}
