//! The template context (SPEC 5), built once per render from a [`Notification`]
//! and its catalog entry. Typed here, serialized for Handlebars.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

use crate::catalog::{docs_url, CatalogEntry};
use crate::event::{Level, PayloadState, Sid, Webhook};
use crate::notification::Notification;

/// Twilio's list of error codes, for events whose code is unknown.
const ERRORS_INDEX: &str = "https://www.twilio.com/docs/api/errors";
const CONSOLE: &str = "https://console.twilio.com/us1/monitor/logs";

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Context {
    pub event: EventCtx,
    pub error: ErrorCtx,
    pub route: String,
    pub channel: String,
    /// The route's `mention` (trusted config, e.g. `<!here>`).
    pub mention: Option<String>,
    pub digest: Option<DigestCtx>,
    pub links: Links,
    /// "11200 HTTP retrieval failure".
    pub title: String,
    /// `more_info.Msg`: Twilio's one-line explanation for this event.
    pub msg: Option<String>,
    pub style: Style,
    /// RFC 3339, when twilert accepted the event.
    pub received_at: String,
    /// RFC 3339: the event's own timestamp when readable, else `received_at`.
    pub occurred_at: String,
    /// `occurred_at` as unix seconds (Slack's `<!date^…>`).
    pub occurred_unix: i64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct EventCtx {
    pub sid: String,
    pub account_sid: String,
    pub parent_account_sid: Option<String>,
    pub timestamp: Option<String>,
    pub level: String,
    pub error_code: Option<u32>,
    pub resource_sid: Option<String>,
    pub service_sid: Option<String>,
    pub more_info: Option<Value>,
    pub webhook: Option<Webhook>,
    pub payload_raw: String,
    /// Why the payload could not be read; absent when it was.
    pub payload_unreadable: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ErrorCtx {
    pub code: Option<u32>,
    pub message: String,
    pub secondary_message: Option<String>,
    pub log_level: Option<String>,
    pub product: Option<String>,
    pub causes: Option<String>,
    pub solutions: Option<String>,
    pub docs_url: String,
    /// Whether the catalog knew the code.
    pub known: bool,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct DigestCtx {
    pub count: u64,
    pub first_seen: String,
    pub last_seen: String,
    pub resources: Vec<String>,
    pub resources_total: u64,
    /// `resources_total` minus the ones listed.
    pub more_resources: u64,
    pub sample_sids: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Links {
    pub docs: String,
    pub console: String,
    /// The call or message in the Twilio console, when the resource is one.
    pub resource: Option<String>,
    /// "call" or "message", naming `resource`.
    pub resource_kind: Option<String>,
}

/// Presentation derived from the level, so templates need no lookup tables.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Style {
    /// "ERROR", "WARNING", ...
    pub label: String,
    pub emoji: String,
    /// `#rrggbb`.
    pub color_hex: String,
    /// Discord embed colour.
    pub color_int: u32,
    /// Adaptive Card TextBlock colour.
    pub teams_color: String,
    /// PagerDuty severity: error → error, warning → warning, else info.
    pub severity: String,
}

pub(crate) fn build(n: &Notification, entry: Option<&CatalogEntry>) -> Context {
    let ev = &n.event;
    let parsed = ev.parsed();
    let code = ev.error_code();
    let unreadable = match &ev.payload {
        PayloadState::Unreadable { reason, .. } => Some(reason.clone()),
        PayloadState::Parsed(_) => None,
    };
    let error = match (code, entry) {
        (Some(c), Some(e)) => ErrorCtx {
            code: Some(c.0),
            message: e.message.clone(),
            secondary_message: e.secondary_message.clone(),
            log_level: e.log_level.clone(),
            product: e.product.clone(),
            causes: e.causes.clone(),
            solutions: e.solutions.clone(),
            docs_url: docs_url(c),
            known: true,
        },
        (Some(c), None) => ErrorCtx {
            message: format!("Unknown error code {c}"),
            docs_url: docs_url(c),
            ..empty_error(Some(c.0))
        },
        (None, _) => ErrorCtx {
            message: "Unreadable Debugger payload".into(),
            docs_url: ERRORS_INDEX.into(),
            ..empty_error(None)
        },
    };
    let title = match (code, entry) {
        (Some(c), Some(_)) => format!("{c} {}", error.message),
        _ => error.message.clone(),
    };
    let more_info = parsed.and_then(|p| p.more_info.clone());
    let msg = more_info.as_ref().and_then(more_info_msg);
    let received = rfc3339_ms(ev.received_at_ms);
    let event_time = ev
        .timestamp
        .as_deref()
        .and_then(|t| humantime::parse_rfc3339_weak(t.trim()).ok());
    let time_st = event_time.unwrap_or_else(|| system_time_ms(ev.received_at_ms));
    let resource_sid = ev.resource_sid().map(str::to_string);
    let (resource, resource_kind) = resource_link(resource_sid.as_deref(), ev.account_sid.as_str());
    Context {
        event: EventCtx {
            sid: ev.sid.to_string(),
            account_sid: ev.account_sid.to_string(),
            parent_account_sid: ev.parent_account_sid.clone(),
            timestamp: ev.timestamp.clone(),
            level: ev.level.as_str().to_string(),
            error_code: code.map(|c| c.0),
            resource_sid,
            service_sid: ev.service_sid().map(str::to_string),
            more_info,
            webhook: parsed.and_then(|p| p.webhook.clone()),
            // Events read back from the store keep raw text only for unreadable payloads.
            payload_raw: match (ev.raw_payload.is_empty(), parsed) {
                (true, Some(p)) => serde_json::to_string(p).unwrap_or_default(),
                _ => ev.raw_payload.clone(),
            },
            payload_unreadable: unreadable,
        },
        error,
        route: n.route.clone(),
        channel: n.channel.clone(),
        mention: n.mention.clone().filter(|m| !m.trim().is_empty()),
        digest: n.digest.as_ref().map(|d| DigestCtx {
            count: d.count,
            first_seen: rfc3339_ms(d.first_seen_ms),
            last_seen: rfc3339_ms(d.last_seen_ms),
            resources: d.resources.clone(),
            resources_total: d.resources_total.max(d.resources.len() as u64),
            more_resources: d.resources_total.saturating_sub(d.resources.len() as u64),
            sample_sids: d.sample_sids.clone(),
        }),
        links: Links {
            docs: code.map(docs_url).unwrap_or_else(|| ERRORS_INDEX.into()),
            console: format!("{CONSOLE}/debugger/errors/{}", ev.sid),
            resource,
            resource_kind,
        },
        title,
        msg,
        style: style(&ev.level),
        received_at: received,
        occurred_at: humantime::format_rfc3339_seconds(time_st).to_string(),
        occurred_unix: time_st
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    }
}

fn empty_error(code: Option<u32>) -> ErrorCtx {
    ErrorCtx {
        code,
        message: String::new(),
        secondary_message: None,
        log_level: None,
        product: None,
        causes: None,
        solutions: None,
        docs_url: String::new(),
        known: false,
    }
}

/// `Msg` (Twilio's spelling), `msg` or `message`, when a non-empty string.
fn more_info_msg(v: &Value) -> Option<String> {
    ["Msg", "msg", "message"]
        .iter()
        .find_map(|k| v.get(k).and_then(Value::as_str))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Console pages for calls and messages. Only well-formed Sids make a URL, so
/// event text never reaches a link.
fn resource_link(resource: Option<&str>, account: &str) -> (Option<String>, Option<String>) {
    let Some(sid) = resource.and_then(|r| Sid::parse(r).ok()) else {
        return (None, None);
    };
    match sid.prefix() {
        "CA" => (
            Some(format!(
                "{CONSOLE}/calls?frameUrl=%2Fconsole%2Fvoice%2Fcalls%2Flogs%2F{sid}"
            )),
            Some("call".into()),
        ),
        "SM" | "MM" => (
            Some(format!(
                "{CONSOLE}/sms?frameUrl=%2Fconsole%2Fsms%2Flogs%2F{account}%2F{sid}"
            )),
            Some("message".into()),
        ),
        _ => (None, None),
    }
}

fn style(level: &Level) -> Style {
    let (emoji, hex, teams, severity) = match level {
        Level::Error => ("🔴", 0xD9_2D_20, "Attention", "error"),
        Level::Warning => ("🟠", 0xE8_91_2D, "Warning", "warning"),
        Level::Info => ("🔵", 0x1F_6F_EB, "Accent", "info"),
        Level::Debug => ("⚪", 0x8C_95_9F, "Default", "info"),
    };
    Style {
        label: level.as_str().to_ascii_uppercase(),
        emoji: emoji.into(),
        color_hex: format!("#{hex:06x}"),
        color_int: hex,
        teams_color: teams.into(),
        severity: severity.into(),
    }
}

fn system_time_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

/// Unix milliseconds → `2024-05-01T12:00:03Z`.
pub(crate) fn rfc3339_ms(ms: i64) -> String {
    humantime::format_rfc3339_seconds(system_time_ms(ms)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::samples::{catalog_entry, sample};

    #[test]
    fn known_code_title_links_and_resource() {
        let n = sample("http-retrieval-failure");
        let c = build(&n, catalog_entry(11200).as_ref());
        assert_eq!(c.title, "11200 HTTP retrieval failure");
        assert_eq!(
            c.error.docs_url,
            "https://www.twilio.com/docs/api/errors/11200"
        );
        assert!(c
            .links
            .console
            .ends_with(&format!("/debugger/errors/{}", n.event.sid)));
        assert_eq!(c.links.resource_kind.as_deref(), Some("call"));
        assert_eq!(c.style.severity, "error");
        assert!(c.msg.is_some());
    }

    #[test]
    fn unknown_and_unreadable() {
        let n = sample("unknown-code");
        let c = build(&n, None);
        assert_eq!(
            c.error.message,
            format!("Unknown error code {}", c.error.code.unwrap_or(0))
        );
        assert!(!c.error.known);
        let n = sample("unreadable");
        let c = build(&n, None);
        assert_eq!(c.error.message, "Unreadable Debugger payload");
        assert!(c.event.payload_unreadable.is_some());
        assert_eq!(c.links.docs, ERRORS_INDEX);
    }

    #[test]
    fn digest_counts() {
        let n = sample("digest");
        let c = build(&n, catalog_entry(11200).as_ref());
        let d = c.digest.expect("digest");
        assert_eq!(
            d.more_resources,
            d.resources_total - d.resources.len() as u64
        );
        assert!(d.first_seen.ends_with('Z'));
    }

    #[test]
    fn hostile_resource_makes_no_link() {
        assert_eq!(resource_link(Some("CA<!channel>"), "AC1"), (None, None));
    }
}
