//! Fuzz harnesses (`fuzz/`, run with `cargo fuzz`), kept in the library so the same
//! checks replay every saved input in `cargo test` (tests/fuzz_regressions.rs).
//! Each panics on a broken property; none may panic on any input otherwise.

use crate::catalog::Catalog;
use crate::event::{
    DebuggerEvent, ErrorCode, Level, Payload, PayloadState, Sid, Webhook, WebhookRequest,
    WebhookResponse,
};
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

fn round_trip(ev: &DebuggerEvent) {
    let json = serde_json::to_string(ev).expect("an event serializes");
    let back: DebuggerEvent = serde_json::from_str(&json).expect("a stored event reads back");
    assert_eq!(&back, ev, "store round trip changed the event");
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

/// Templates with hostile event text in every free-text field: rendering never
/// panics, never pings, and never lets HTML through into email.
pub fn render(data: &[u8]) {
    let s = String::from_utf8_lossy(data).into_owned();
    let ev = DebuggerEvent {
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
                    headers: None,
                    parameters: None,
                }),
                response: Some(WebhookResponse {
                    status_code: Some(500),
                    headers: None,
                    body: Some(s.clone()),
                }),
            }),
        }),
        raw_payload: s.clone(),
        received_at_ms: 0,
    };
    for digest in [
        None,
        Some(Digest {
            count: 3,
            resources: vec![s.clone()],
            resources_total: 1,
            sample_sids: vec![s.clone()],
            ..Default::default()
        }),
    ] {
        let n = Notification {
            channel: "c".into(),
            route: "r".into(),
            group_key: s.clone(),
            template: None,
            mention: None,
            event: ev.clone(),
            digest,
        };
        for kind in Kind::ALL {
            let out = renderer().render(kind, &n, catalog().get(ErrorCode(11200)));
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
