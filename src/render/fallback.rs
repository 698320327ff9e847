//! The built-in plain message: used when a template fails, and by Slack's
//! retry-as-plain-text. Needs no template, so an alert is never lost.

use serde_json::{json, Value};

use super::context::Context;
use super::escape::{discord_text, html_escape, slack_text};
use super::helpers::cut;
use super::{Kind, Payload};

/// A short multi-line plain message, unescaped.
pub(crate) fn plain_text(c: &Context) -> String {
    let count = c
        .digest
        .as_ref()
        .map(|d| format!("{}× ", d.total))
        .unwrap_or_default();
    let mut lines = vec![format!("[{}] {count}{}", c.style.label, cut(&c.title, 200))];
    let mut where_ = Vec::new();
    if let Some(r) = &c.event.resource_sid {
        where_.push(format!("resource {}", cut(r, 80)));
    }
    if let Some(p) = &c.error.product {
        where_.push(cut(p, 80));
    }
    if !where_.is_empty() {
        lines.push(where_.join(" · "));
    }
    if let Some(m) = &c.msg {
        lines.push(cut(m, 300));
    }
    if let Some(w) = &c.event.webhook {
        let req = w.request.as_ref();
        let method = req.and_then(|r| r.method.as_deref()).unwrap_or("");
        let url = req.and_then(|r| r.url.as_deref()).unwrap_or("");
        let status = w
            .response
            .as_ref()
            .and_then(|r| r.status_code)
            .map(|s| format!(" → {s}"))
            .unwrap_or_default();
        if !url.is_empty() || !status.is_empty() {
            lines.push(format!(
                "Webhook: {} {}{status}",
                cut(method, 10),
                cut(url, 300)
            ));
        }
    }
    if let Some(reason) = &c.event.payload_unreadable {
        lines.push(format!("Payload unreadable: {}", cut(reason, 200)));
    }
    if let Some(d) = &c.digest {
        lines.push(d.headline.clone());
    }
    lines.push(format!("Event {} at {}", c.event.sid, c.occurred_at));
    lines.push(format!("Docs: {}", c.links.docs));
    lines.push(format!("Debugger: {}", c.links.console));
    lines.join("\n")
}

/// One-line subject for email.
pub(crate) fn subject(c: &Context) -> String {
    let title = cut(&c.title, 150);
    match (&c.digest, &c.event.resource_sid) {
        (Some(d), _) => format!("[twilert] {}× {title} — {}", d.total, d.headline),
        (None, Some(r)) => format!("[twilert] {} {title} — {}", c.style.label, cut(r, 40)),
        (None, None) => format!("[twilert] {} {title}", c.style.label),
    }
}

/// The plain message as a payload for `kind`, escaped for it.
pub(crate) fn payload(kind: Kind, c: &Context) -> Payload {
    let text = plain_text(c);
    let with_mention = |escaped: String| match &c.mention {
        Some(m) => format!("{m} {escaped}"),
        None => escaped,
    };
    match kind {
        Kind::Slack => Payload::Json(json!({ "text": with_mention(slack_text(&text)) })),
        Kind::Discord => Payload::Json(json!({
            "content": with_mention(discord_text(&text)),
            "allowed_mentions": { "parse": [] },
        })),
        Kind::Teams => Payload::Json(teams_card(c, &text)),
        Kind::Webhook => Payload::Json(json!({
            "event": c.event, "error": c.error, "route": c.route, "channel": c.channel,
            "digest": c.digest, "links": c.links, "title": c.title, "text": text,
        })),
        Kind::Pagerduty => Payload::Json(pagerduty(c)),
        Kind::Email => Payload::Email {
            subject: subject(c),
            html: format!(
                "<pre style=\"font-family:monospace;white-space:pre-wrap\">{}</pre>",
                html_escape(&text)
            ),
            text,
        },
        Kind::Console => Payload::Text(text),
    }
}

fn teams_card(c: &Context, text: &str) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [{ "type": "TextBlock", "text": text, "wrap": true }],
                "actions": [
                    { "type": "Action.OpenUrl", "title": "Docs", "url": c.links.docs },
                    { "type": "Action.OpenUrl", "title": "Debugger", "url": c.links.console },
                ],
            },
        }],
    })
}

fn pagerduty(c: &Context) -> Value {
    json!({
        "event_action": "trigger",
        "payload": {
            "summary": c.one_line,
            "source": c.event.resource_sid.clone().unwrap_or_else(|| c.event.account_sid.clone()),
            "severity": c.style.severity,
            "timestamp": c.occurred_at,
            "component": c.product.clone().unwrap_or_else(|| "Twilio".into()),
            "group": c.route,
            "class": c.error.code.map(|x| x.to_string()).unwrap_or_else(|| "unreadable".into()),
            // Flat facts only: no headers, no phone numbers, no bodies.
            "custom_details": {
                "error_code": c.error.code,
                "error": c.error.message,
                "level": c.style.label,
                "product": c.product,
                "method": c.request.as_ref().and_then(|r| r.method.clone()),
                "url": c.request.as_ref().and_then(|r| r.target.clone()),
                "status": c.request.as_ref().and_then(|r| r.status),
                "resource": c.event.resource_sid,
                "account": c.event.account_sid,
                "event": c.event.sid,
                "count": c.digest.as_ref().map_or(1, |d| d.total),
                "first_seen": c.digest.as_ref().map_or(&c.occurred_at, |d| &d.first_seen),
                "last_seen": c.digest.as_ref().map_or(&c.occurred_at, |d| &d.last_seen),
            },
        },
        "links": [
            { "href": c.links.docs, "text": "Twilio error docs" },
            { "href": c.links.console, "text": "Twilio Debugger" },
        ],
        "client": "twilert",
        "client_url": c.links.console,
    })
}
