//! Untrusted text made inert before any template sees it, and once more on
//! every finished payload (SPEC 5 "Safety"):
//!
//! - control characters (C0 except tab and newline, DEL, C1) are shown as
//!   Unicode control pictures (`BEL` → `␇`), a lone `\r` as a line break;
//!   bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069) and
//!   the invisible direction marks are removed, so text cannot reorder itself;
//! - request headers that carry credentials (`X-Twilio-Signature`,
//!   `Authorization`, `Cookie`, anything naming a token, key, secret, password
//!   or signature) are dropped, in request and response headers and in
//!   `more_info`;
//! - bulk (response bodies, request parameters, headers, long `more_info`
//!   strings) is shortened with "…".

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::event::{Webhook, WebhookRequest, WebhookResponse};

/// Characters of a response body or raw payload kept for templates.
pub(crate) const MAX_BODY: usize = 1500;
/// Characters of any one parameter, header or `more_info` string.
pub(crate) const MAX_VALUE: usize = 300;
/// Entries kept of a parameter, header or `more_info` object, or array items.
pub(crate) const MAX_ENTRIES: usize = 25;

/// Whether `c` is removed (bidi controls) — the set SPEC 5 names plus the
/// direction marks, which are just as invisible.
pub(crate) fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// A control character other than tab and newline.
fn is_hidden_control(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// Whether `s` needs [`inert`] at all (the common case is no).
pub(crate) fn needs_inert(s: &str) -> bool {
    s.chars().any(|c| is_hidden_control(c) || is_bidi(c))
}

/// `s` with controls shown as control pictures and bidi controls removed;
/// `\r\n` and a lone `\r` become `\n`.
pub(crate) fn inert(s: &str) -> Cow<'_, str> {
    if !needs_inert(s) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            '\n' | '\t' => out.push(c),
            c if is_bidi(c) => {}
            c if (c as u32) < 0x20 => {
                out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{FFFD}'))
            }
            '\u{7F}' => out.push('\u{2421}'),
            c if is_hidden_control(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Every string (and key) in `v` made [`inert`], in place.
pub(crate) fn inert_json(v: &mut Value) {
    match v {
        Value::String(s) if needs_inert(s) => *s = inert(s).into_owned(),
        Value::Array(items) => items.iter_mut().for_each(inert_json),
        Value::Object(map) => {
            if map.keys().any(|k| needs_inert(k)) {
                let old = std::mem::take(map);
                for (k, mut val) in old {
                    inert_json(&mut val);
                    map.insert(inert(&k).into_owned(), val);
                }
            } else {
                map.values_mut().for_each(inert_json);
            }
        }
        _ => {}
    }
}

/// A header or field name that carries a credential and is never forwarded.
pub(crate) fn is_credential_name(name: &str) -> bool {
    let n = name.trim().to_ascii_lowercase().replace('_', "-");
    const EXACT: [&str; 5] = [
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
    ];
    const PARTS: [&str; 8] = [
        "signature",
        "token",
        "secret",
        "password",
        "passwd",
        "apikey",
        "api-key",
        "credential",
    ];
    EXACT.contains(&n.as_str())
        || PARTS.iter().any(|p| n.contains(p))
        || n.ends_with("-key")
        || n == "key"
        || n.contains("auth")
}

/// At most `max` characters, "…" when cut.
pub(crate) fn shorten(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max.saturating_sub(1)) {
        Some((i, _)) if s[i..].chars().nth(1).is_some() => {
            let mut out = s[..i].to_string();
            out.push('…');
            Cow::Owned(out)
        }
        _ => Cow::Borrowed(s),
    }
}

/// A JSON value with long strings shortened, objects and arrays cut to
/// [`MAX_ENTRIES`] (a `"…": "N more"` entry says how many went), and — when
/// `redact` — credential-named keys dropped at every depth.
pub(crate) fn bounded(v: &Value, redact: bool) -> Value {
    bounded_at(v, redact, 0)
}

fn bounded_at(v: &Value, redact: bool, depth: usize) -> Value {
    match v {
        Value::String(s) => Value::String(shorten(s, MAX_VALUE).into_owned()),
        Value::Array(items) if depth > 4 => Value::String(format!("[{} items]", items.len())),
        Value::Object(map) if depth > 4 => Value::String(format!("{{{} keys}}", map.len())),
        Value::Array(items) => {
            let mut out: Vec<Value> = items
                .iter()
                .take(MAX_ENTRIES)
                .map(|x| bounded_at(x, redact, depth + 1))
                .collect();
            if items.len() > MAX_ENTRIES {
                out.push(Value::String(format!(
                    "… {} more",
                    items.len() - MAX_ENTRIES
                )));
            }
            Value::Array(out)
        }
        Value::Object(map) => {
            let kept: Vec<(&String, &Value)> = map
                .iter()
                .filter(|(k, _)| !(redact && is_credential_name(k)))
                .collect();
            let mut out = Map::new();
            for (k, x) in kept.iter().take(MAX_ENTRIES) {
                out.insert(
                    shorten(k, 80).into_owned(),
                    bounded_at(x, redact, depth + 1),
                );
            }
            if kept.len() > MAX_ENTRIES {
                out.insert(
                    "…".into(),
                    Value::String(format!("{} more", kept.len() - MAX_ENTRIES)),
                );
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// Headers as Twilio sends them (an object, or a raw `Name: value` block)
/// without credentials, shortened.
pub(crate) fn headers(v: &Value) -> Value {
    match v {
        Value::String(block) => {
            let kept: Vec<&str> = block
                .lines()
                .filter(|l| {
                    let name = l.split(':').next().unwrap_or("");
                    !is_credential_name(name)
                })
                .take(MAX_ENTRIES)
                .collect();
            Value::String(shorten(&kept.join("\n"), MAX_BODY).into_owned())
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|item| {
                    let name = item
                        .get("name")
                        .or_else(|| item.get("key"))
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    !is_credential_name(name)
                })
                .take(MAX_ENTRIES)
                .map(|x| bounded(x, true))
                .collect(),
        ),
        other => bounded(other, true),
    }
}

/// Raw text (an unreadable payload) with the value after any credential-like
/// name (`"X-Twilio-Signature": "…"`, `Authorization: Basic …`) blanked.
pub(crate) fn redact_text(s: &str) -> String {
    const NAMES: [&str; 7] = [
        "signature",
        "authorization",
        "cookie",
        "token",
        "secret",
        "password",
        "api-key",
    ];
    let lower = s.to_ascii_lowercase();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let hit = NAMES
            .iter()
            .filter_map(|n| lower[i..].find(n).map(|at| (i + at, n.len())))
            .min();
        let Some((at, len)) = hit else {
            out.push_str(&s[i..]);
            break;
        };
        let after_name = at + len;
        out.push_str(&s[i..after_name]);
        // Skip to the value: past quotes, spaces and one ':' or '='.
        let rest = &s[after_name..];
        let sep = rest
            .char_indices()
            .find(|(_, c)| !matches!(c, '"' | '\'' | ' ' | ':' | '=' | '\\'))
            .map_or(rest.len(), |(k, _)| k);
        let value_start = after_name + sep;
        let value_len = s[value_start..]
            .char_indices()
            .find(|(_, c)| matches!(c, '"' | '\'' | ',' | '}' | '\n' | '&' | '\\'))
            .map_or(s.len() - value_start, |(k, _)| k);
        out.push_str(&s[after_name..value_start]);
        if value_len > 0 && rest[..sep].contains([':', '=']) {
            out.push_str("[redacted]");
        } else {
            out.push_str(&s[value_start..value_start + value_len]);
        }
        i = value_start + value_len;
    }
    out
}

/// The webhook as templates see it: credential headers gone, bulk shortened.
pub(crate) fn webhook(w: &Webhook) -> Webhook {
    Webhook {
        kind: w.kind.as_deref().map(|k| shorten(k, 80).into_owned()),
        request: w.request.as_ref().map(|r| WebhookRequest {
            method: r.method.as_deref().map(|m| shorten(m, 16).into_owned()),
            url: r.url.as_deref().map(|u| shorten(u, 1000).into_owned()),
            headers: r.headers.as_ref().map(|h| headers(&h.value()).into()),
            parameters: r
                .parameters
                .as_ref()
                .map(|p| bounded(&p.value(), true).into()),
        }),
        response: w.response.as_ref().map(|r| WebhookResponse {
            status_code: r.status_code,
            headers: r.headers.as_ref().map(|h| headers(&h.value()).into()),
            body: r.body.as_deref().map(|b| shorten(b, MAX_BODY).into_owned()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn controls_visible_bidi_gone() {
        assert_eq!(inert("a\u{7}b\u{1b}[31m\u{7f}"), "a␇b␛[31m␡");
        assert_eq!(inert("x\u{202E}gnp.exe\u{2066}y\u{2069}"), "xgnp.exey");
        assert_eq!(inert("l1\r\nl2\rl3\tt"), "l1\nl2\nl3\tt");
        assert_eq!(inert("\u{85}"), "\u{FFFD}");
        assert!(matches!(inert("plain ✓ 🚨"), Cow::Borrowed(_)));
        let mut v = json!({"k\u{7}": ["\u{202D}x", {"y": "\u{0}"}], "n": 1});
        inert_json(&mut v);
        assert_eq!(v, json!({"k␇": ["x", {"y": "␀"}], "n": 1}));
    }

    #[test]
    fn credential_names() {
        for n in [
            "X-Twilio-Signature",
            "authorization",
            "Cookie",
            "X-Auth-Token",
            "x-api-key",
            "Client-Secret",
            "I-Twilio-Idempotency-Token",
            "password",
            "Stripe-Key",
        ] {
            assert!(is_credential_name(n), "{n}");
        }
        for n in [
            "Content-Type",
            "User-Agent",
            "X-Home-Region",
            "Accept",
            "CallSid",
        ] {
            assert!(!is_credential_name(n), "{n}");
        }
    }

    #[test]
    fn headers_and_bulk() {
        let h = headers(
            &json!({"X-Twilio-Signature": "s", "Content-Type": "text/xml", "Authorization": "Basic x"}),
        );
        assert_eq!(h, json!({"Content-Type": "text/xml"}));
        let h = headers(&json!("Host: x\nX-Twilio-Signature: s\nCookie: c"));
        assert_eq!(h, json!("Host: x"));
        let big: serde_json::Map<String, Value> = (0..40)
            .map(|i| (format!("k{i}"), json!("v".repeat(1000))))
            .collect();
        let b = bounded(&Value::Object(big), true);
        let o = b.as_object().expect("object");
        assert_eq!(o.len(), MAX_ENTRIES + 1);
        assert_eq!(o["…"], json!("15 more"));
        assert_eq!(o["k0"].as_str().map(|s| s.chars().count()), Some(MAX_VALUE));
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abcd", 4), "abcd");
        assert_eq!(shorten("", 0), "");
        assert_eq!(
            redact_text(
                r#"{"headers": {"X-Twilio-Signature": "abc+/=", "A": "b"}, "Authorization: Basic Zm9v"#
            ),
            r#"{"headers": {"X-Twilio-Signature": "[redacted]", "A": "b"}, "Authorization: [redacted]"#
        );
        assert_eq!(redact_text("no secrets here"), "no secrets here");
    }
}
