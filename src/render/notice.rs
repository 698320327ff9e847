//! A built-in one-line notice (a group resolved, a silence ended) in each kind's
//! simplest form: the parts the notices share, so each says only what is its own.

use super::escape::{discord_text, html_escape, slack_text, teams_text};
use super::Payload;
use serde_json::json;

/// Slack: the line as `text` (markup escaped).
pub(super) fn slack(text: &str) -> Payload {
    Payload::Json(json!({ "text": slack_text(text) }))
}

/// Discord: the line, mentioning nobody.
pub(super) fn discord(text: &str) -> Payload {
    Payload::Json(json!({
        "content": discord_text(text),
        "allowed_mentions": { "parse": [] },
    }))
}

/// Teams: one text block in an Adaptive Card, in `color` when given (`Good`).
pub(super) fn teams(text: &str, color: Option<&str>) -> Payload {
    let mut block = json!({ "type": "TextBlock", "text": teams_text(text), "wrap": true });
    if let Some(c) = color {
        block["color"] = json!(c);
    }
    Payload::Json(json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [block],
            },
        }],
    }))
}

/// Email: `subject`, the line as text and as one escaped HTML paragraph.
pub(super) fn email(subject: String, text: String) -> Payload {
    Payload::Email {
        subject,
        html: format!(
            "<p style=\"font-family:sans-serif\">{}</p>",
            html_escape(&text)
        ),
        text,
    }
}
