//! Fuzz harnesses (`fuzz/`, run with `cargo fuzz`), kept in the library so the same
//! checks replay every saved input in `cargo test` (tests/fuzz_regressions.rs).
//! Each panics on a broken property; none may panic on any input otherwise.

use crate::catalog::Catalog;
use crate::event::{
    DebuggerEvent, ErrorCode, Level, Payload, PayloadState, Sid, Webhook, WebhookRequest,
    WebhookResponse,
};
use crate::ingest::cloudevents::{self, Item};
use crate::ingest::{decode, signature};
use crate::notification::{Digest, Notification};
use crate::render::{Kind, Payload as Rendered, Renderer};
use crate::route::{CodePattern, SidPattern};
use std::sync::OnceLock;

/// Form bodies: decoding never panics, and what decodes survives the store's
/// JSON round trip unchanged.
pub fn decode_form(data: &[u8]) {
    if let Ok((ev, _pairs)) = decode::decode_form(data, 0) {
        round_trip(&ev);
    }
}

/// JSON bodies, as [`decode_form`].
pub fn decode_json(data: &[u8]) {
    if let Ok(ev) = decode::decode_json(data, 0) {
        round_trip(&ev);
    }
}

/// Event Streams bodies (CloudEvents): decoding never panics; a decoded array has
/// one item per element; every error log is marked as coming from Event Streams and
/// survives the store's JSON round trip unchanged.
pub fn decode_events(data: &[u8]) {
    let Ok(items) = cloudevents::decode_events(data, 0) else {
        return;
    };
    if let Ok(serde_json::Value::Array(all)) = serde_json::from_slice(data) {
        assert_eq!(all.len(), items.len(), "an event was dropped or invented");
    }
    for item in items {
        if let Item::Error(ev) = item {
            assert_eq!(ev.source, crate::event::Source::EventStreams);
            round_trip(&ev);
        }
    }
}

/// The store's JSON form reads back as the same event (the raw Payload text is
/// kept only when it could not be parsed).
fn round_trip(ev: &DebuggerEvent) {
    let json = ev.to_stored_json().expect("an event serializes");
    let back: DebuggerEvent = serde_json::from_str(&json).expect("a stored event reads back");
    let mut want = ev.clone();
    if matches!(want.payload, PayloadState::Parsed(_)) {
        want.raw_payload.clear();
    }
    assert_eq!(back, want, "store round trip changed the event");
}

/// Signatures: any header/URL/params never panic; our own signature verifies; a
/// different token does not.
pub fn signature(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let (token, url, rest) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    if token.is_empty() {
        return;
    }
    let params: Vec<(String, String)> = rest
        .split('&')
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    let v = signature::Verifier::new(vec![token.to_string().into()]);
    let _ = v.verify_form(Some(rest), url, &params);
    let _ = v.verify_json(Some(token), url, data);
    let sig = signature::compute(token, url, &params);
    assert!(
        v.verify_form(Some(&sig), url, &params).is_ok(),
        "own signature refused"
    );
    let other = signature::Verifier::new(vec![format!("{token}x").into()]);
    assert!(
        other.verify_form(Some(&sig), url, &params).is_err(),
        "another token accepted"
    );
    // Shared keys: any settings header never panics; our HMAC-SHA256 signature
    // verifies under the key it names; SHA-1 under that header never does.
    let shared = signature::Verifier::new(vec![])
        .with_shared_keys([("KS1".to_string(), token.to_string().into())].into());
    let _ = shared.verify_form_with(Some(rest), Some(url), url, &params);
    let sig256 = signature::compute_sha256(token, url, &params);
    assert!(
        shared
            .verify_form_with(
                Some("key=KS1,algorithm=HMAC_SHA256"),
                Some(&sig256),
                url,
                &params
            )
            .is_ok(),
        "own shared-key signature refused"
    );
    assert!(
        shared
            .verify_form_with(
                Some("key=KS1,algorithm=HMAC_SHA1"),
                Some(&sig),
                url,
                &params
            )
            .is_err(),
        "SHA-1 accepted under the shared-key header"
    );
    // JSON bodies: signed over the URL with bodySHA256; another body is refused.
    // A URL already carrying a bodySHA256 value is not one Twilio signs (its own
    // validator reads the first value too), so that case only must not panic.
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    if url::form_urlencoded::parse(query.as_bytes())
        .any(|(k, v)| k == "bodySHA256" && !v.is_empty())
    {
        return;
    }
    let (signed_url, sig) = signature::sign_json_url(token, url, rest.as_bytes());
    assert!(
        v.verify_json(Some(&sig), &signed_url, rest.as_bytes())
            .is_ok(),
        "own JSON signature refused"
    );
    let altered = format!("{rest} ");
    assert!(
        v.verify_json(Some(&sig), &signed_url, altered.as_bytes())
            .is_err(),
        "a changed JSON body accepted"
    );
}

/// Route patterns: parsing never panics; what parses matches without panicking and
/// prints back to a pattern that parses to the same thing.
pub fn route_patterns(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        if let Ok(p) = CodePattern::parse(line) {
            for c in [0, 1, 11200, 30001, 99999, 999_999, u32::MAX] {
                let _ = p.matches(ErrorCode(c));
            }
            let again = CodePattern::parse(&p.to_string()).expect("a printed pattern parses");
            assert_eq!(again, p);
        }
        if let Ok(p) = SidPattern::parse(line) {
            let _ = p.matches(line);
            let _ = p.matches("CA00000000000000000000000000000001");
        }
    }
}

fn renderer() -> &'static Renderer {
    static R: OnceLock<Renderer> = OnceLock::new();
    R.get_or_init(|| Renderer::builtin().expect("built-in templates load"))
}

fn catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(Catalog::builtin)
}

/// Templates with hostile event data: rendering never panics, never pings, and
/// never lets HTML through into email. An input starting with `{` is a Payload
/// (JSON) put through the real decoder, so every field the decoder keeps — webhook
/// headers and parameters, `more_info`, odd codes — reaches the templates as
/// Twilio would send it; any other input is text put in every free-text field.
pub fn render(data: &[u8]) {
    let ev = if data.first() == Some(&b'{') {
        payload_event(data)
    } else {
        text_event(String::from_utf8_lossy(data).into_owned())
    };
    let Some(ev) = ev else { return };
    let s = String::from_utf8_lossy(data).into_owned();
    render_all(&ev, &s);
}

/// A form event as Twilio posts it, with `data` as its Payload, decoded by ingest.
fn payload_event(data: &[u8]) -> Option<DebuggerEvent> {
    let params = [
        ("Sid", "NO00000000000000000000000000000001"),
        ("AccountSid", "AC00000000000000000000000000000001"),
        ("Level", "ERROR"),
        ("Timestamp", "2026-11-26T10:00:00Z"),
        ("PayloadType", "application/json"),
        ("Payload", &String::from_utf8_lossy(data)),
    ];
    let body = serde_urlencoded::to_string(params).ok()?;
    decode::decode_form(body.as_bytes(), 0)
        .ok()
        .map(|(ev, _)| ev)
}

fn text_event(s: String) -> Option<DebuggerEvent> {
    Some(DebuggerEvent {
        sid: Sid::parse("NO00000000000000000000000000000001").expect("sid"),
        account_sid: Sid::parse("AC00000000000000000000000000000001").expect("sid"),
        parent_account_sid: Some(s.clone()),
        timestamp: Some(s.clone()),
        level: Level::Error,
        payload: PayloadState::Parsed(Payload {
            error_code: ErrorCode(11200),
            resource_sid: Some(s.clone()),
            service_sid: Some(s.clone()),
            more_info: Some(serde_json::json!({ "Msg": s, s.clone(): s })),
            webhook: Some(Webhook {
                kind: Some(s.clone()),
                request: Some(WebhookRequest {
                    method: Some(s.clone()),
                    url: Some(s.clone()),
                    headers: Some(serde_json::json!({ s.clone(): s }).into()),
                    parameters: Some(serde_json::json!({ "CallSid": s, s.clone(): s }).into()),
                }),
                response: Some(WebhookResponse {
                    status_code: Some(500),
                    headers: Some(serde_json::json!({ s.clone(): s }).into()),
                    body: Some(s.clone()),
                }),
            }),
        }),
        raw_payload: s.clone(),
        received_at_ms: 0,
        source: Default::default(),
    })
}

fn render_all(ev: &DebuggerEvent, s: &str) {
    let code = ev.error_code().unwrap_or(ErrorCode(11200));
    for digest in [
        None,
        Some(Digest {
            count: 3,
            resources: vec![s.to_string()],
            resources_total: 1,
            sample_sids: vec![s.to_string()],
            ..Default::default()
        }),
    ] {
        let n = Notification {
            channel: "c".into(),
            route: "r".into(),
            group_key: s.to_string(),
            template: None,
            mention: None,
            event: ev.clone().into(),
            digest,
            threshold: None,
            resolved: None,
            silence: None,
            parent: None,
        };
        for kind in Kind::ALL {
            let out = renderer().render(kind, &n, catalog().get(code));
            assert_inert(kind, &out.payload);
            match &out.payload {
                Rendered::Json(v) => {
                    let text = v.to_string();
                    if matches!(kind, Kind::Slack) {
                        for ping in ["<!channel>", "<!here>", "<!everyone>"] {
                            assert!(!text.contains(ping), "{ping} survived in Slack");
                        }
                    }
                    if matches!(kind, Kind::Discord) {
                        assert_eq!(
                            v["allowed_mentions"]["parse"],
                            serde_json::json!([]),
                            "Discord may ping"
                        );
                    }
                }
                Rendered::Email { html, .. } => {
                    assert!(
                        !html.to_ascii_lowercase().contains("<script"),
                        "HTML injected into email"
                    );
                }
                Rendered::Text(_) => {}
            }
        }
    }
}

/// No control (C0 but tab/newline, DEL, C1) or bidi-override character in any
/// string of a rendered payload (SPEC 5).
fn assert_inert(kind: Kind, p: &Rendered) {
    fn walk(v: &serde_json::Value, f: &mut dyn FnMut(&str)) {
        match v {
            serde_json::Value::String(s) => f(s),
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, f)),
            serde_json::Value::Object(o) => o.iter().for_each(|(k, x)| {
                f(k);
                walk(x, f)
            }),
            _ => {}
        }
    }
    let mut check = |s: &str| {
        let bad = s.chars().find(|&c| {
            (c.is_control() && c != '\n' && c != '\t')
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        });
        assert!(bad.is_none(), "{kind}: {bad:?} reached the payload");
    };
    match p {
        Rendered::Json(v) => walk(v, &mut check),
        Rendered::Email {
            subject,
            text,
            html,
        } => [subject, text, html].into_iter().for_each(|s| check(s)),
        Rendered::Text(t) => check(t),
    }
}
