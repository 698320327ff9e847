//! A living alert's parent message (SPEC 13, Slack app mode): the group's first
//! alert rendered as it was sent, with one status block under its header that a
//! digest keeps current (running total, last seen, distinct resources) and
//! resolving turns into "resolved, quiet since ...". Built in, like the resolved
//! notice: a template renders the alert, this only adds what changed since.

use serde_json::{json, Value};

use super::helpers::format_time;
use super::{Payload, Rendered};
use crate::notification::{Digest, Notification, ResolvedNote};

/// Slack's green, for a resolved alert's bar.
const RESOLVED_COLOR: &str = "#2eb886";

/// `first`: the group's first alert rendered for Slack (`n` without its digest,
/// resolved note and parent). `None` when `n` is neither a digest nor a resolved
/// notice, or `first` is not a Block Kit message.
pub(crate) fn parent(first: Rendered, n: &Notification) -> Option<Rendered> {
    let Payload::Json(mut msg) = first.payload else {
        return None;
    };
    let (status, fallback) = match (&n.resolved, &n.digest) {
        (Some(r), _) => resolved_status(r),
        (None, Some(d)) => running_status(d),
        (None, None) => return None,
    };
    let obj = msg.as_object_mut()?;
    let text = obj
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    obj.insert("text".into(), Value::String(format!("{fallback} · {text}")));
    let block = json!({"type": "context", "elements": [{"type": "mrkdwn", "text": status}]});
    match obj.get_mut("blocks").and_then(Value::as_array_mut) {
        Some(blocks) => {
            let at = blocks
                .iter()
                .position(|b| b["type"] == "header")
                .map_or(0, |i| i + 1);
            blocks.insert(at, block);
        }
        None => {
            obj.insert("blocks".into(), json!([block]));
        }
    }
    if n.resolved.is_some() {
        if let Some(att) = obj
            .get_mut("attachments")
            .and_then(Value::as_array_mut)
            .and_then(|a| a.first_mut())
            .and_then(Value::as_object_mut)
        {
            att.insert("color".into(), Value::String(RESOLVED_COLOR.into()));
        }
    }
    Some(Rendered {
        payload: Payload::Json(msg),
        fallback: first.fallback,
        truncated: first.truncated,
    })
}

/// `<!date^…|…>`: the reader's local time in Slack, UTC as the fallback.
fn slack_date(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    format!(
        "<!date^{}^{{date_short_pretty}} {{time_secs}}|{}>",
        ms.max(0) / 1000,
        format_time(t, "")
    )
}

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// (status block text, fallback prefix) while the group is still firing.
fn running_status(d: &Digest) -> (String, String) {
    let total = if d.group_total > 0 {
        d.group_total
    } else {
        d.total()
    };
    let events = plural(total, "event", "events");
    let resources = plural(d.resources_total, "resource", "resources");
    (
        format!(
            "🔁 *Still happening:* {events} in all · last seen {} · {resources} in the latest window · details in the thread",
            slack_date(d.last_seen_ms)
        ),
        format!("🔁 {events}"),
    )
}

fn resolved_status(r: &ResolvedNote) -> (String, String) {
    let text = if r.group_total > 0 {
        format!("{} in all", plural(r.group_total, "event", "events"))
    } else {
        format!("{} in its last window", plural(r.events, "event", "events"))
    };
    (
        format!(
            "✅ *Resolved*, quiet since {} ({text})",
            slack_date(r.quiet_since_ms)
        ),
        "✅ RESOLVED".to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{sample_notifications, Kind, Renderer};

    fn first_and(name: &str) -> (Renderer, Notification) {
        let r = Renderer::builtin().expect("templates");
        let n = sample_notifications()
            .into_iter()
            .find(|(k, _)| *k == name)
            .map(|(_, n)| n)
            .expect("sample");
        (r, n)
    }

    fn blocks(v: &Rendered) -> Vec<Value> {
        match &v.payload {
            Payload::Json(m) => m["blocks"].as_array().cloned().unwrap_or_default(),
            _ => vec![],
        }
    }

    #[test]
    fn a_digest_puts_the_running_total_under_the_header() {
        let (r, mut n) = first_and("digest");
        let d = n.digest.as_mut().expect("digest");
        d.group_total = 42;
        d.resources_total = 3;
        let view = r.render_parent(Kind::Slack, &n, None).expect("a view");
        let b = blocks(&view);
        let header = b
            .iter()
            .position(|b| b["type"] == "header")
            .expect("header");
        let status = b[header + 1]["elements"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(status.contains("42 events in all"), "{status}");
        assert!(status.contains("3 resources"), "{status}");
        assert!(status.contains("<!date^"), "{status}");
        let Payload::Json(m) = &view.payload else {
            panic!("json")
        };
        let text = m["text"].as_str().unwrap_or_default();
        assert!(text.starts_with("🔁 42 events · "), "{text}");
        // The alert itself, not the digest: no "N×" in its header.
        assert!(!b[header].to_string().contains('×'), "{}", b[header]);
    }

    #[test]
    fn resolving_says_so_and_turns_the_bar_green() {
        let (r, n) = first_and("resolved");
        let view = r.render_parent(Kind::Slack, &n, None).expect("a view");
        let Payload::Json(m) = &view.payload else {
            panic!("json")
        };
        assert!(
            m.to_string().contains("✅ *Resolved*, quiet since <!date^"),
            "{m}"
        );
        assert_eq!(m["attachments"][0]["color"], RESOLVED_COLOR);
        assert!(m["text"]
            .as_str()
            .unwrap_or_default()
            .starts_with("✅ RESOLVED · "));
    }

    #[test]
    fn only_digests_and_resolved_notices_with_slack_have_one() {
        let (r, n) = first_and("digest");
        let mut first = n.clone();
        first.digest = None;
        assert!(r.render_parent(Kind::Slack, &first, None).is_none());
        assert!(r.render_parent(Kind::Teams, &n, None).is_none());
    }
}
