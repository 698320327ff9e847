//! The Slack Web API as twilert uses it (SPEC 6 `slack` (app)): one call with
//! the bot token as `Authorization: Bearer` and a JSON body, its answer
//! classified. HTTP 200 is not success: the body's `"ok"` is. 429 /
//! `ratelimited` (with `Retry-After`), 5xx, network, and Slack's own server-side
//! errors are retried; `invalid_auth`, `token_revoked`, `account_inactive`,
//! `channel_not_found`, `not_in_channel`, `is_archived` mark the channel broken;
//! `invalid_blocks` / `msg_too_long` are for the caller to send once more as
//! plain text; a message that is gone is for it to post anew; any other
//! `ok:false` is permanent, with Slack's error name. The token is a header, never
//! in a URL or a message.

use super::http::{network_error, parse_retry_after, snippet};
use super::{Delivery, Receipt};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::time::Duration;

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
pub(crate) enum Answer {
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
pub(super) fn message(payload: &Value, extra: &Value) -> Value {
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
pub(super) fn plain_edit(body: &Value) -> Value {
    json!({
        "channel": body["channel"],
        "ts": body["ts"],
        "text": body["text"].as_str().unwrap_or("twilert alert"),
        "blocks": [],
        "attachments": [],
    })
}

pub(super) fn receipt_of(v: &Value) -> Option<Receipt> {
    Some(Receipt::Slack {
        channel: v["channel"].as_str()?.to_string(),
        ts: v["ts"].as_str()?.to_string(),
    })
}

/// One Web API call: JSON body, the token as `Authorization: Bearer`.
pub(crate) async fn call(
    http: &reqwest::Client,
    api_url: &str,
    token: &SecretString,
    method: &str,
    body: &Value,
) -> Answer {
    let resp = http
        .post(format!("{api_url}/{method}"))
        .bearer_auth(token.expose_secret())
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
            return Answer::Failed(network_error(e).map_reason(|r| format!("Slack {method}: {r}")))
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
