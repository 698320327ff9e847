//! The summary sent when a silence ends (SPEC 14): what was silenced, by whom,
//! for how long and how many events it held back on the route. Built in, like the
//! resolved notice: it needs no template. The author and comment are what someone
//! typed into the CLI, the API or the console: untrusted, made inert and escaped
//! for each kind like event text.

use serde_json::json;

use super::context::Context;
use super::helpers::cut;
use super::untrusted::inert;
use super::{notice, Kind, Payload};
use crate::clock::duration_text;
use crate::notification::SilenceNote;

fn at(ms: i64) -> String {
    super::helpers::format_time(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64),
        "",
    )
}

/// `🔕 SILENCE ENDED error_codes=[11200] resource_sids=[CA*] · set by ann ("deploy") ·
/// 2h (… to …) · held back 20 events (11200 HTTP retrieval failure) · route voice`.
pub(crate) fn line(c: &Context, s: &SilenceNote) -> String {
    let events = if s.held_back == 1 {
        "1 event".to_string()
    } else {
        format!("{} events", s.held_back)
    };
    let author = cut(&inert(&s.author), 100);
    let comment = if s.comment.trim().is_empty() {
        String::new()
    } else {
        format!(" (\"{}\")", cut(&inert(&s.comment).replace('\n', " "), 200))
    };
    let how = match (&s.expired_by, s.until_quiet_ms) {
        (Some(by), _) => format!(" · expired by {}", cut(&inert(by), 100)),
        (None, Some(q)) => format!(
            " · ended after {} without a matching event",
            duration_text(q)
        ),
        (None, None) => String::new(),
    };
    let what = if s.held_back > 0 {
        format!(" ({})", cut(&c.title, 150))
    } else {
        String::new()
    };
    format!(
        "🔕 SILENCE ENDED {} · set by {author}{comment} · {} ({} to {}) · held back {events}{what} · route {}{how}",
        cut(&s.matchers, 300),
        duration_text(s.ended_ms - s.started_ms),
        at(s.started_ms),
        at(s.ended_ms),
        c.route
    )
}

pub(crate) fn payload(kind: Kind, c: &Context, s: &SilenceNote) -> Payload {
    let text = line(c, s);
    match kind {
        Kind::Slack => notice::slack(&text),
        Kind::Discord => notice::discord(&text),
        Kind::Teams => notice::teams(&text, None),
        Kind::Webhook => Payload::Json(json!({
            "status": "silence_ended",
            "route": c.route,
            "silence_id": s.id,
            "matchers": s.matchers,
            "author": inert(&s.author),
            "comment": inert(&s.comment),
            "started_at": crate::clock::rfc3339(s.started_ms),
            "ended_at": crate::clock::rfc3339(s.ended_ms),
            "held_back": s.held_back,
            "expired_by": s.expired_by.as_deref().map(inert),
            "error_code": c.error.code,
            "title": c.title,
            "text": text,
        })),
        // Not sent to PagerDuty (a trigger would page); an info event if rendered.
        Kind::Pagerduty => Payload::Json(json!({
            "event_action": "trigger",
            "payload": { "summary": cut(&text, 1000), "severity": "info", "source": "twilert" },
        })),
        Kind::Email => notice::email(
            format!("[twilert] silence ended: {}", cut(&inert(&s.matchers), 150)),
            text,
        ),
        Kind::Console => Payload::Text(super::escape::visible_controls(&text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::samples::sample;
    use crate::render::Renderer;

    fn note(author: &str, comment: &str) -> SilenceNote {
        SilenceNote {
            id: "s1".into(),
            matchers: "error_codes=[11200]".into(),
            author: author.into(),
            comment: comment.into(),
            started_ms: 1_700_000_000_000,
            ended_ms: 1_700_000_000_000 + 7_200_000,
            held_back: 20,
            expired_by: Some("bob".into()),
            until_quiet_ms: None,
        }
    }

    #[test]
    fn says_what_who_how_long_and_how_many_in_every_kind() {
        let r = Renderer::builtin().unwrap();
        let mut n = sample("http-retrieval-failure");
        n.silence = Some(note("ann", "deploy"));
        for kind in Kind::ALL {
            let out = r.render(kind, &n, None);
            let text = match &out.payload {
                Payload::Json(v) => v.to_string(),
                Payload::Email { text, .. } => text.clone(),
                Payload::Text(t) => t.clone(),
            };
            assert!(out.fallback.is_none(), "{kind}");
            if kind != Kind::Pagerduty {
                for want in ["11200", "ann", "deploy", "20 events", "2h", "bob"] {
                    assert!(text.contains(want), "{kind}: {want} in {text}");
                }
            }
        }
    }

    #[test]
    fn typed_text_is_inert() {
        let r = Renderer::builtin().unwrap();
        let mut n = sample("http-retrieval-failure");
        n.silence = Some(note("<!channel> @here", "*bold* <http://x|y>\u{202E}\u{7}"));
        let Payload::Json(v) = r.render(Kind::Slack, &n, None).payload else {
            panic!()
        };
        let text = v["text"].as_str().unwrap();
        assert!(
            !text.contains("<!channel>") && !text.contains("<http"),
            "{text}"
        );
        assert!(
            !text.contains('\u{202E}') && !text.contains('\u{7}'),
            "{text}"
        );
        assert!(!text.contains("@here"), "a broadcast is broken: {text}");
    }
}
