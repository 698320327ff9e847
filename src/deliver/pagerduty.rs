//! PagerDuty Events API v2: a `trigger` with `dedup_key` = the group key, so a
//! group's first alert and its digests are one incident (SPEC 6). The rendered
//! payload has no `routing_key`/`dedup_key`; they are added here. 202 success;
//! 429, 5xx, network: retry; 400 (invalid event) and other 4xx permanent.

use super::channel::{check_url, json_of, Attempt, Channel, ChannelConfig, SendFuture};
use super::http::{classify, post_json, Answer};
use super::{Delivery, Receipt};
use crate::config::{PagerDutyChannel, Throttle};
use crate::event::Level;
use crate::kinds::KindInfo;
use crate::notification::Notification;
use crate::render::Kind;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

impl ChannelConfig for PagerDutyChannel {
    fn kind(&self) -> &'static KindInfo {
        KindInfo::of(Kind::Pagerduty)
    }
    fn throttle(&self) -> Throttle {
        crate::throttle_of!(self)
    }
    fn secrets(&self) -> Vec<&SecretString> {
        vec![&self.routing_key]
    }
    fn validate(&self, name: &str) -> Vec<String> {
        check_url(name, "url", &self.url).into_iter().collect()
    }
    fn build(&self, _name: &str, http: &reqwest::Client) -> Result<Box<dyn Channel>, String> {
        Ok(Box::new(PagerDuty {
            routing_key: self.routing_key.clone(),
            url: self.url.trim().to_string(),
            http: http.clone(),
        }))
    }
}

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

impl Channel for PagerDuty {
    fn send<'a>(&'a self, a: Attempt<'a>) -> SendFuture<'a> {
        Box::pin(self.post(a))
    }
}

impl PagerDuty {
    async fn post(&self, a: Attempt<'_>) -> Delivery {
        let Some(body) = json_of(&a.rendered.payload).or_else(|| json_of(a.plain)) else {
            return Delivery::permanent("no PagerDuty event to send (renderer produced no JSON)");
        };
        let body = event(
            body,
            a.notification,
            self.routing_key.expose_secret().trim(),
        );
        match post_json(&self.http, &self.url, &body, &[]).await {
            Ok(answer) => classify_pagerduty(&answer, &body),
            Err(d) => d,
        }
    }
}

/// The generic classification; on success the incident's `dedup_key` (PagerDuty's
/// answer names it; else the one sent) is the receipt, for the later `resolve`.
fn classify_pagerduty(a: &Answer, sent: &Value) -> Delivery {
    match classify(a) {
        Delivery::Sent { .. } => {
            let answered = serde_json::from_str::<Value>(&a.body)
                .ok()
                .and_then(|v| v.get("dedup_key")?.as_str().map(str::to_string));
            let dedup_key =
                answered.or_else(|| sent.get("dedup_key")?.as_str().map(str::to_string));
            Delivery::Sent {
                receipt: dedup_key.map(|dedup_key| Receipt::Pagerduty { dedup_key }),
            }
        }
        other => other,
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
    if obj.get("event_action") == Some(&json!("resolve")) {
        // A resolve names the incident by dedup_key alone.
        return v;
    }
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
            notify_resolved: None,
        };
        let p = c.build("pd", &reqwest::Client::new()).expect("builds");
        assert!(!format!("{p:?}").contains("R0UT1NGKEY"));
        assert!(c.validate("pd").is_empty());
    }

    #[test]
    fn classification_and_the_dedup_key_receipt() {
        let a = |status, body: &str| Answer {
            status,
            retry_after: None,
            body: body.into(),
        };
        let sent = json!({"dedup_key": "voice|11200"});
        let receipt = |k: &str| Delivery::Sent {
            receipt: Some(Receipt::Pagerduty {
                dedup_key: k.into(),
            }),
        };
        let accepted = r#"{"status":"success","message":"Event processed","dedup_key":"srv-key"}"#;
        assert_eq!(
            classify_pagerduty(&a(202, accepted), &sent),
            receipt("srv-key")
        );
        assert_eq!(
            classify_pagerduty(&a(202, ""), &sent),
            receipt("voice|11200")
        );
        assert!(matches!(
            classify_pagerduty(&a(429, ""), &sent),
            Delivery::Retry { .. }
        ));
        assert!(matches!(
            classify_pagerduty(&a(500, ""), &sent),
            Delivery::Retry { .. }
        ));
        assert_eq!(
            classify_pagerduty(&a(400, "Event object is invalid"), &sent),
            Delivery::permanent("HTTP 400: Event object is invalid")
        );
    }
}
