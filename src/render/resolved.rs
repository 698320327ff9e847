//! The notice that a group resolved (SPEC 13, `resolve_after`): one line for chat
//! channels, `resolve` with the trigger's dedup_key for PagerDuty (added by the
//! sender), `status = "resolved"` for webhooks, a reply in the alert's thread for
//! email. Built in, like the plain fallback: it needs no template.

use serde_json::json;

use super::context::Context;
use super::helpers::cut;
use super::{notice, Kind, Payload};
use crate::notification::ResolvedNote;

/// `✅ RESOLVED 11200 HTTP retrieval failure · CA…cdef — quiet since … (16 events)`
/// (the title carries the code).
pub(crate) fn line(c: &Context, r: &ResolvedNote) -> String {
    let on = c
        .resource_short
        .as_ref()
        .map(|s| format!(" · {s}"))
        .unwrap_or_default();
    let events = if r.events == 1 {
        "1 event".to_string()
    } else {
        format!("{} events", r.events)
    };
    format!(
        "✅ RESOLVED {}{on} — quiet since {} ({events}) · route {}",
        cut(&c.title, 150),
        super::helpers::format_time(
            std::time::UNIX_EPOCH
                + std::time::Duration::from_millis(r.quiet_since_ms.max(0) as u64),
            "",
        ),
        c.route
    )
}

pub(crate) fn payload(kind: Kind, c: &Context, r: &ResolvedNote) -> Payload {
    let text = line(c, r);
    match kind {
        Kind::Slack => notice::slack(&text),
        Kind::Discord => notice::discord(&text),
        Kind::Teams => notice::teams(&text, Some("Good")),
        Kind::Webhook => Payload::Json(json!({
            "status": "resolved",
            "route": c.route,
            "error_code": c.error.code,
            "title": c.title,
            "resource_sid": c.event.resource_sid,
            "first_event_sid": c.event.sid,
            "quiet_since": crate::clock::rfc3339(r.quiet_since_ms),
            "events": r.events,
            "links": c.links,
            "text": text,
        })),
        // The sender adds routing_key and the trigger's dedup_key.
        Kind::Pagerduty => Payload::Json(json!({ "event_action": "resolve" })),
        Kind::Email => notice::email(format!("[twilert] RESOLVED {}", cut(&c.title, 150)), text),
        Kind::Console => Payload::Text(text),
    }
}
