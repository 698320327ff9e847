//! The template context (SPEC 5), built once per render from a [`Notification`]
//! and its catalog entry. Typed here, serialized for Handlebars.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

use super::layout::{self, Fact, Request};
use super::summary::{self, DigestCtx};
use super::untrusted;
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
    /// `more_info.Msg`: Twilio's one-line explanation for this event, unless it
    /// only repeats the title.
    pub msg: Option<String>,
    /// `msg`, else the catalog's secondary message (unless it repeats the title).
    pub detail: Option<String>,
    /// The event's product: the catalog's, else the resource Sid prefix's.
    pub product: Option<String>,
    /// The failing webhook request: method, `host/path`, response status.
    pub request: Option<Request>,
    /// `POST voice.example.com/answer → 404 · CA…0002 · Voice`.
    pub what: String,
    /// `CA…0002`.
    pub resource_short: Option<String>,
    /// Useful `more_info` fields (`To` for 21610, ...).
    pub facts: Vec<Fact>,
    /// The first three causes / solutions, and whether the docs have more.
    pub causes: Vec<String>,
    pub causes_more: bool,
    pub solutions: Vec<String>,
    pub solutions_more: bool,
    /// One line of at most 120 characters (PagerDuty summary, plain text):
    /// `11200 HTTP retrieval failure: POST voice.example.com/answer → 404 (CA…0002)`.
    pub one_line: String,
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
pub(crate) struct Links {
    pub docs: String,
    pub console: String,
    /// The Debugger's error list filtered to this code (digests).
    pub debugger_code: String,
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
    let resource_sid = ev.resource_sid().map(str::to_string);
    let product = entry.and_then(|e| e.product.clone()).or_else(|| {
        resource_sid
            .as_deref()
            .and_then(crate::product::from_sid)
            .map(str::to_string)
    });
    let mut error = match (code, entry) {
        (Some(c), Some(e)) => ErrorCtx {
            code: Some(c.0),
            message: e.message.clone(),
            secondary_message: e.secondary_message.clone(),
            log_level: e.log_level.clone(),
            product: None,
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
    error.product = product.clone();
    let title = match (code, entry) {
        (Some(c), Some(_)) => format!("{c} {}", error.message),
        _ => error.message.clone(),
    };
    let raw_more_info = parsed.and_then(|p| p.more_info.as_ref());
    let webhook = parsed
        .and_then(|p| p.webhook.as_ref())
        .map(untrusted::webhook);
    let request = Request::of(webhook.as_ref());
    let msg = raw_more_info
        .and_then(more_info_msg)
        .filter(|m| !layout::repeats(m, &title))
        .filter(|m| !layout::restates_request(m, webhook.as_ref()));
    let detail = msg.clone().or_else(|| {
        error
            .secondary_message
            .clone()
            .filter(|m| !layout::repeats(m, &title))
    });
    let more_info = raw_more_info.map(|m| untrusted::bounded(m, true));
    let (causes, causes_more) = layout::top_bullets(error.causes.as_deref());
    let (solutions, solutions_more) = layout::top_bullets(error.solutions.as_deref());
    let resource_short = resource_sid.as_deref().map(layout::short_sid);
    let what = layout::what_where(
        request.as_ref(),
        resource_sid.as_deref(),
        product.as_deref(),
    );
    let received = crate::clock::rfc3339(ev.received_at_ms);
    let event_time = ev
        .timestamp
        .as_deref()
        .and_then(|t| humantime::parse_rfc3339_weak(t.trim()).ok());
    let time_st = event_time.unwrap_or_else(|| system_time_ms(ev.received_at_ms));
    let (resource, resource_kind) = resource_link(resource_sid.as_deref(), ev.account_sid.as_str());
    let digest = n
        .digest
        .as_ref()
        .map(|d| summary::digest(d, unreadable.is_some()));
    let one_line = summary::one_line(
        &title,
        request.as_ref(),
        resource_short.as_deref(),
        digest.as_ref(),
        detail.as_deref(),
    );
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
            payload_raw: payload_raw(ev, more_info.as_ref(), webhook.as_ref()),
            more_info,
            webhook,
            payload_unreadable: unreadable,
        },
        error,
        route: n.route.clone(),
        channel: n.channel.clone(),
        mention: n.mention.clone().filter(|m| !m.trim().is_empty()),
        digest,
        links: Links {
            docs: code.map(docs_url).unwrap_or_else(|| ERRORS_INDEX.into()),
            console: format!("{CONSOLE}/debugger/errors/{}", ev.sid),
            debugger_code: match code {
                Some(c) => format!("{CONSOLE}/debugger/errors?errorCode={c}"),
                None => format!("{CONSOLE}/debugger/errors"),
            },
            resource,
            resource_kind,
        },
        title,
        msg,
        detail,
        product,
        request,
        what,
        resource_short,
        facts: threshold_fact(n)
            .into_iter()
            .chain(layout::facts(raw_more_info))
            .collect(),
        causes,
        causes_more,
        solutions,
        solutions_more,
        one_line,
        style: style(&ev.level),
        received_at: received,
        occurred_at: humantime::format_rfc3339_seconds(time_st).to_string(),
        occurred_unix: time_st
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    }
}

/// The payload as text for templates: for a parsed payload, its fields as
/// templates see them (credential headers gone, bulk shortened); for an
/// unreadable one, the start of what arrived with credential-looking values
/// blanked.
fn payload_raw(
    ev: &crate::event::DebuggerEvent,
    more_info: Option<&Value>,
    webhook: Option<&Webhook>,
) -> String {
    match ev.parsed() {
        Some(p) => serde_json::json!({
            "error_code": p.error_code.0,
            "resource_sid": p.resource_sid,
            "service_sid": p.service_sid,
            "more_info": more_info,
            "webhook": webhook,
        })
        .to_string(),
        None => untrusted::redact_text(&untrusted::shorten(&ev.raw_payload, untrusted::MAX_BODY)),
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
/// The alert a route's `threshold` let through says how many led to it.
fn threshold_fact(n: &Notification) -> Option<layout::Fact> {
    let t = n.threshold?;
    let within =
        humantime::format_duration(std::time::Duration::from_millis(t.within_ms.max(0) as u64));
    Some(layout::Fact {
        name: "Threshold".into(),
        value: format!("{} events within {within}", t.count),
    })
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
        assert_eq!(
            c.what,
            "POST voice.example.com/answer → 502 · CA…8f90 · Voice"
        );
        assert_eq!(c.product.as_deref(), Some("Programmable Voice"));
        assert_eq!(
            c.one_line,
            "11200 HTTP retrieval failure: POST voice.example.com/answer → 502 (CA…8f90)"
        );
        // The request's X-Twilio-Signature never reaches a template.
        assert!(!serde_json::to_string(&c)
            .unwrap_or_default()
            .contains("X-Twilio-Signature"));
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
        assert_eq!((d.count, d.total), (15, 16));
        assert_eq!(d.resources_short.len(), 3);
        assert_eq!(d.more_resources, 3);
        assert!(!d.continued);
        assert_eq!(
            d.headline,
            "16 events on 6 resources, 12:00:03–12:00:06 UTC"
        );
        assert!(d.first_seen.ends_with('Z'));
        assert!(c.links.debugger_code.ends_with("errors?errorCode=11200"));
    }

    #[test]
    fn hostile_resource_makes_no_link() {
        assert_eq!(resource_link(Some("CA<!channel>"), "AC1"), (None, None));
    }
}
