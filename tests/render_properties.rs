//! Property tests for SPEC 5 safety: arbitrary event text (in `Msg`, the
//! resource Sid, the webhook URL and the response body) rendered for every
//! channel kind by the shipped templates never breaks the payload, never
//! carries a control or bidi character, and never becomes markup.

use proptest::prelude::*;
use serde_json::Value;
use twilert::event::PayloadState;
use twilert::render::{sample_notifications, Kind, Payload, Renderer};

/// Text built from the characters markup is made of, plus anything at all.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[*_~`<>\\[\\]()#@!&|:/\\\\\"{}a-z0-9 \\n\\t\\x{202A}-\\x{202E}\\x{2066}-\\x{2069}\\x{00}-\\x{1f}\\x{7f}]{0,120}",
        Just("[Reset your Twilio password](https://evil.example/login)".to_string()),
        Just("<https://evil.example|click> *bold* ```x``` @here <!channel>".to_string()),
    ]
}

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| {
            out.push(k.clone());
            strings(x, out)
        }),
        _ => {}
    }
}

fn forbidden(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn texts(p: &Payload) -> Vec<String> {
    match p {
        Payload::Json(v) => {
            let mut out = Vec::new();
            strings(v, &mut out);
            out
        }
        Payload::Email {
            subject,
            text,
            html,
        } => vec![subject.clone(), text.clone(), html.clone()],
        Payload::Text(t) => vec![t.clone()],
    }
}

/// Built once: the renderer and the built-in catalog.
fn shared() -> &'static (Renderer, twilert::catalog::Catalog) {
    static SHARED: std::sync::OnceLock<(Renderer, twilert::catalog::Catalog)> =
        std::sync::OnceLock::new();
    SHARED.get_or_init(|| {
        (
            Renderer::builtin().expect("shipped templates"),
            twilert::catalog::Catalog::builtin(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_event_text_renders_inert_in_every_kind(text in hostile_text(), digest in any::<bool>()) {
        let (renderer, catalog) = shared();
        let (_, mut n) = sample_notifications()
            .into_iter()
            .find(|(name, _)| *name == if digest { "digest" } else { "http-retrieval-failure" })
            .expect("sample");
        if let PayloadState::Parsed(p) = &mut std::sync::Arc::make_mut(&mut n.event).payload {
            p.more_info = Some(serde_json::json!({"Msg": text, "To": text}));
            p.resource_sid = Some(format!("CA{text}"));
            if let Some(w) = p.webhook.as_mut() {
                if let Some(r) = w.request.as_mut() {
                    r.url = Some(format!("https://x.example/{text}"));
                }
                if let Some(r) = w.response.as_mut() {
                    r.body = Some(text.clone());
                }
            }
        }
        n.mention = None;
        for kind in Kind::ALL {
            let entry = n.event.error_code().and_then(|c| catalog.get(c));
            let out = renderer.render(kind, &n, entry);
            prop_assert_eq!(&out.fallback, &None, "{} fell back", kind);
            for t in texts(&out.payload) {
                prop_assert!(!t.chars().any(forbidden), "{}: control/bidi in {:?}", kind, t);
            }
            match (kind, &out.payload) {
                (Kind::Slack, Payload::Json(v)) => {
                    // Our own `<!date^…>` is the only Slack markup with angle brackets.
                    for t in texts(&out.payload) {
                        for (i, _) in t.match_indices('<') {
                            prop_assert!(t[i..].starts_with("<!date^"), "Slack markup from text: {:?}", t);
                        }
                    }
                    prop_assert!(v["text"].as_str().is_some_and(|t| !t.contains('`') && !t.contains('*')));
                }
                (Kind::Teams, Payload::Json(v)) => {
                    let mut body = Vec::new();
                    strings(&v["attachments"][0]["content"]["body"], &mut body);
                    for t in body {
                        prop_assert!(!t.contains("](") && !t.contains('`') && !t.contains("**") && !t.contains('<'),
                            "Teams Markdown from text: {:?}", t);
                    }
                }
                (Kind::Discord, Payload::Json(v)) => {
                    prop_assert_eq!(&v["allowed_mentions"]["parse"], &serde_json::json!([]));
                    let d = v["embeds"][0]["description"].as_str().unwrap_or("");
                    for (i, _) in d.match_indices('[') {
                        prop_assert!(i > 0 && d.as_bytes()[i - 1] == b'\\', "unescaped [ in {:?}", d);
                    }
                }
                (Kind::Email, Payload::Email { html, .. }) => {
                    prop_assert!(!html.contains("<script") && !html.contains("href=\"https://evil") && !html.contains("href=\"https://x.example"));
                    prop_assert!(html.contains("name=\"viewport\""));
                }
                (Kind::Pagerduty, Payload::Json(v)) => {
                    let s = v["payload"]["summary"].as_str().unwrap_or("");
                    prop_assert!(!s.is_empty() && s.chars().count() <= 120, "{:?}", s);
                    prop_assert!(!s.contains('\n'));
                }
                _ => {}
            }
        }
    }
}
