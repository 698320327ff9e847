//! Sample notifications: realistic ones and a hostile one, for `twilert check`,
//! `send-test` and the render tests.

use serde_json::json;

use crate::catalog::CatalogEntry;
use crate::event::{
    DebuggerEvent, ErrorCode, Level, Payload, PayloadState, Sid, Webhook, WebhookRequest,
    WebhookResponse,
};
use crate::notification::{Digest, Notification};

/// 2024-05-01T12:00:03Z.
const T0_MS: i64 = 1_714_564_803_000;
const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const CALL: &str = "CAa1b2c3d4e5f60718293a4b5c6d7e8f90";
const MESSAGE: &str = "SM5f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// Untrusted text that tries everything: JSON breakers, Slack/Discord pings,
/// HTML, Markdown, template syntax, terminal escapes, emoji.
pub const HOSTILE_TEXT: &str = "Quote \" backslash \\ newline\nnext\ttab 🚨🔥 <!channel> <!here> \
<@U12345> <http://evil.example|click me> @here @channel @everyone </div><script>alert('x')</script> \
}]} \"},{\"type\":\"x {{title}} ``` *bold* _it_ ~s~ [link](http://evil.example) &amp; \u{1b}[31mred\u{1b}[0m";

/// The sample notifications, by name. Names starting with `hostile` are expected
/// to hit provider limits (and be truncated); the others should fit.
pub fn sample_notifications() -> Vec<(&'static str, Notification)> {
    vec![
        ("http-retrieval-failure", http_retrieval_failure()),
        ("message-undelivered", message_undelivered()),
        ("digest", digest()),
        ("unreadable", unreadable()),
        ("unknown-code", unknown_code()),
        ("hostile", hostile()),
        ("resolved", resolved()),
    ]
}

/// The notice that a group resolved (`resolve_after`).
fn resolved() -> Notification {
    let mut n = http_retrieval_failure();
    n.resolved = Some(crate::notification::ResolvedNote {
        quiet_since_ms: T0_MS + 600_000,
        events: 16,
        group_total: 0,
    });
    n
}

/// The catalog entry the hostile sample is rendered with (catalog texts are
/// untrusted too: they come from a downloaded file).
pub fn hostile_catalog_entry() -> CatalogEntry {
    CatalogEntry {
        code: HOSTILE_CODE,
        message: format!("Title {HOSTILE_TEXT}"),
        secondary_message: Some(HOSTILE_TEXT.into()),
        log_level: Some("ERROR".into()),
        product: Some(format!("Product <b>{HOSTILE_TEXT}</b>")),
        causes: Some(format!("- {HOSTILE_TEXT}\n- second cause")),
        solutions: Some(format!("- {HOSTILE_TEXT}\n- second solution")),
    }
}

pub(crate) const HOSTILE_CODE: u32 = 82002;

fn sid(s: &str) -> Sid {
    Sid::parse(s).expect("sample Sids are well formed")
}

fn event(n: u8, level: Level, payload: PayloadState) -> DebuggerEvent {
    let raw_payload = match &payload {
        PayloadState::Parsed(p) => serde_json::to_string(p).unwrap_or_default(),
        PayloadState::Unreadable { .. } => "{\"error_code\": 11200, \"webhook\": {".into(),
    };
    DebuggerEvent {
        sid: sid(&format!("NO{:032x}", 0xa11c_e000 + u32::from(n))),
        account_sid: sid(ACCOUNT),
        parent_account_sid: None,
        timestamp: Some("2024-05-01T12:00:02.512Z".into()),
        level,
        payload,
        raw_payload,
        received_at_ms: T0_MS,
        source: Default::default(),
    }
}

fn notification(event: DebuggerEvent) -> Notification {
    Notification {
        channel: "ops-slack".into(),
        route: "voice-webhooks".into(),
        group_key: "voice-webhooks|11200".into(),
        template: None,
        mention: None,
        event: event.into(),
        digest: None,
        threshold: None,
        resolved: None,
        silence: None,
        parent: None,
    }
}

fn http_retrieval_failure() -> Notification {
    let payload = Payload {
        error_code: ErrorCode(11200),
        resource_sid: Some(CALL.into()),
        service_sid: None,
        more_info: Some(json!({
            "Msg": "Unable to connect: connection timed out after 15000ms",
            "sourceComponent": "14100",
            "ErrorCode": "11200",
            "LogLevel": "ERROR",
            "url": "https://voice.example.com/answer",
        })),
        webhook: Some(Webhook {
            kind: Some("application/json".into()),
            request: Some(WebhookRequest {
                method: Some("POST".into()),
                url: Some("https://voice.example.com/answer".into()),
                headers: Some(json!({"X-Twilio-Signature": "sig"}).into()),
                parameters: Some(json!({"CallSid": CALL, "From": "+15551230000"}).into()),
            }),
            response: Some(WebhookResponse {
                status_code: Some(502),
                headers: Some(json!({"Content-Type": "text/html"}).into()),
                body: Some("<html><body><h1>502 Bad Gateway</h1></body></html>".into()),
            }),
        }),
    };
    let mut n = notification(event(1, Level::Error, PayloadState::Parsed(payload)));
    n.mention = Some("<!here>".into());
    n
}

fn message_undelivered() -> Notification {
    let payload = Payload {
        error_code: ErrorCode(30003),
        resource_sid: Some(MESSAGE.into()),
        service_sid: Some("MG00112233445566778899aabbccddeeff".into()),
        more_info: Some(json!({"Msg": "Unreachable destination handset", "To": "+15557654321"})),
        webhook: None,
    };
    let mut n = notification(event(2, Level::Warning, PayloadState::Parsed(payload)));
    n.route = "messaging".into();
    n.group_key = "messaging|30003".into();
    n
}

fn digest() -> Notification {
    let mut n = http_retrieval_failure();
    n.mention = None;
    // A group's first window: the alert went out for the first event, 15 more
    // were counted, on six calls in all.
    n.digest = Some(Digest {
        count: 15,
        total: 16,
        first_seen_ms: T0_MS,
        last_seen_ms: T0_MS + 3_000,
        resources: (0..6).map(|i| format!("CA{:032x}", 0xc0ffee + i)).collect(),
        resources_total: 6,
        sample_sids: (0..3).map(|i| format!("NO{:032x}", 0xbeef + i)).collect(),
        group_total: 16,
    });
    n
}

fn unreadable() -> Notification {
    let state = PayloadState::Unreadable {
        reason: "EOF while parsing an object at line 1 column 36".into(),
        resource_sid: None,
    };
    notification(event(4, Level::Error, state))
}

fn unknown_code() -> Notification {
    let payload = Payload {
        error_code: ErrorCode(99_999),
        resource_sid: Some("PN00000000000000000000000000000001".into()),
        service_sid: None,
        more_info: None,
        webhook: None,
    };
    notification(event(5, Level::Info, PayloadState::Parsed(payload)))
}

fn hostile() -> Notification {
    let mut body = String::new();
    while body.len() < 20 * 1024 {
        body.push_str(HOSTILE_TEXT);
        body.push('\n');
    }
    let payload = Payload {
        error_code: ErrorCode(HOSTILE_CODE),
        resource_sid: Some(format!("CA{HOSTILE_TEXT}")),
        service_sid: Some(HOSTILE_TEXT.into()),
        more_info: Some(json!({
            "Msg": HOSTILE_TEXT,
            "key/with~slash": HOSTILE_TEXT,
            "nested": {"deep": [HOSTILE_TEXT, 1, null, true]},
        })),
        webhook: Some(Webhook {
            kind: Some(HOSTILE_TEXT.into()),
            request: Some(WebhookRequest {
                method: Some(format!("POST {HOSTILE_TEXT}")),
                url: Some(format!("https://example.com/?q={HOSTILE_TEXT}")),
                headers: Some(json!({ "X-Evil": HOSTILE_TEXT }).into()),
                parameters: Some(json!({ "Body": HOSTILE_TEXT }).into()),
            }),
            response: Some(WebhookResponse {
                status_code: Some(500),
                headers: Some(json!({ "X-Evil": HOSTILE_TEXT }).into()),
                body: Some(body),
            }),
        }),
    };
    let mut ev = event(6, Level::Error, PayloadState::Parsed(payload));
    ev.parent_account_sid = Some(HOSTILE_TEXT.into());
    ev.timestamp = Some(HOSTILE_TEXT.into());
    Notification {
        channel: format!("chan {HOSTILE_TEXT}"),
        route: format!("route {HOSTILE_TEXT}"),
        group_key: HOSTILE_TEXT.into(),
        template: None,
        mention: Some("<!here>".into()),
        event: ev.into(),
        digest: Some(Digest {
            count: 123_456,
            total: 123_457,
            first_seen_ms: T0_MS,
            last_seen_ms: T0_MS + 60_000,
            resources: (0..60).map(|i| format!("{HOSTILE_TEXT} {i}")).collect(),
            resources_total: 1000,
            sample_sids: (0..60).map(|i| format!("{HOSTILE_TEXT} {i}")).collect(),
            group_total: 123_457,
        }),
        threshold: None,
        resolved: None,
        silence: None,
        parent: None,
    }
}

/// One sample by name (tests).
#[cfg(test)]
pub(crate) fn sample(name: &str) -> Notification {
    sample_notifications()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, n)| n)
        .unwrap_or_else(|| panic!("no sample {name}"))
}

/// Realistic catalog entries for the sample codes (tests; `check` uses the real catalog).
#[cfg(test)]
pub(crate) fn catalog_entry(code: u32) -> Option<CatalogEntry> {
    let e = |message: &str, level: &str, product: &str| CatalogEntry {
        code,
        message: message.into(),
        secondary_message: None,
        log_level: Some(level.into()),
        product: Some(product.into()),
        causes: Some("- The server did not respond in time".into()),
        solutions: Some("- Check that the URL is reachable".into()),
    };
    match code {
        11200 => Some(e("HTTP retrieval failure", "ERROR", "Programmable Voice")),
        30003 => Some(e(
            "Unreachable destination handset",
            "WARNING",
            "Programmable Messaging",
        )),
        HOSTILE_CODE => Some(hostile_catalog_entry()),
        _ => None,
    }
}
