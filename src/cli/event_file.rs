//! A Debugger event from a file, for `route` and `send-test`: the form-encoded body
//! Twilio posts, its JSON form, or an Event Streams CloudEvent (one object or the
//! array a sink receives), decoded exactly as the service decodes requests.

use crate::clock::{Clock, SystemClock};
use crate::event::DebuggerEvent;
use crate::ingest::cloudevents::{self, Item};
use crate::ingest::decode::{decode_form, decode_json};
use std::io::Read;
use std::path::Path;

/// Reads `path` (`-`: standard input). Errors name the file and the field.
pub(super) fn read(path: &Path) -> Result<DebuggerEvent, String> {
    let name = path.display();
    let bytes = if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| format!("standard input: {e}"))?;
        buf
    } else {
        std::fs::read(path).map_err(|e| format!("{name}: {e}"))?
    };
    parse(&bytes, SystemClock.now_ms()).map_err(|e| format!("{name}: {e}"))
}

/// A CloudEvent (an array, or an object with `specversion`), else JSON when the
/// body starts with `{`, else a form body. Surrounding whitespace (a trailing
/// newline from an editor) is ignored.
pub(crate) fn parse(bytes: &[u8], received_at_ms: i64) -> Result<DebuggerEvent, String> {
    let body = bytes.trim_ascii();
    if body.is_empty() {
        return Err(
            "is empty; expected a Debugger event (form body or JSON) or a CloudEvent".into(),
        );
    }
    if is_cloudevent(body) {
        return cloud_event(body, received_at_ms);
    }
    if body.starts_with(b"{") {
        decode_json(body, received_at_ms).map_err(|e| format!("not a Debugger event (JSON): {e}"))
    } else {
        decode_form(body, received_at_ms)
            .map(|(event, _)| event)
            .map_err(|e| format!("not a Debugger event (form body): {e}"))
    }
}

fn is_cloudevent(body: &[u8]) -> bool {
    body.starts_with(b"[")
        || (body.starts_with(b"{")
            && serde_json::from_slice::<serde_json::Value>(body)
                .is_ok_and(|v| v.get("specversion").is_some()))
}

/// The first error log of a CloudEvent file; other types are named in the error.
fn cloud_event(body: &[u8], received_at_ms: i64) -> Result<DebuggerEvent, String> {
    let items = cloudevents::decode_events(body, received_at_ms)
        .map_err(|e| format!("not an Event Streams CloudEvent: {e} (field {})", e.field()))?;
    let mut others = Vec::new();
    for item in items {
        match item {
            Item::Error(ev) => return Ok(*ev),
            Item::Ignored(kind) => others.push(kind),
        }
    }
    Err(format!(
        "has no {} CloudEvent (found: {})",
        cloudevents::ERROR_LOGGED,
        if others.is_empty() {
            "none".to_string()
        } else {
            others.join(", ")
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOAD: &str = r#"{"resource_sid":"CA00000000000000000000000000000001","service_sid":null,"error_code":"11200","more_info":{"Msg":"boom"}}"#;

    #[test]
    fn reads_the_form_body_twilio_sends() {
        let body = serde_urlencoded::to_string([
            ("Sid", "NO00000000000000000000000000000001"),
            ("AccountSid", "AC00000000000000000000000000000001"),
            ("Level", "ERROR"),
            ("Payload", PAYLOAD),
        ])
        .unwrap()
            + "\n";
        let ev = parse(body.as_bytes(), 0).unwrap();
        assert_eq!(ev.error_code().map(|c| c.0), Some(11200));
        assert_eq!(
            ev.resource_sid(),
            Some("CA00000000000000000000000000000001")
        );
    }

    #[test]
    fn reads_the_json_form() {
        let body = serde_json::json!({
            "Sid": "NO00000000000000000000000000000001",
            "AccountSid": "AC00000000000000000000000000000001",
            "Level": "WARNING",
            "Payload": serde_json::from_str::<serde_json::Value>(PAYLOAD).unwrap(),
        });
        let ev = parse(format!("  {body}\n").as_bytes(), 0).unwrap();
        assert_eq!(ev.error_code().map(|c| c.0), Some(11200));
        assert_eq!(ev.level.as_str(), "warning");
    }

    #[test]
    fn reads_a_cloudevent_object_or_array() {
        let ce = serde_json::json!({
            "specversion": "1.0",
            "type": "com.twilio.error-logs.error.logged",
            "id": "NO00000000000000000000000000000002",
            "data": {
                "sid": "NO00000000000000000000000000000002",
                "account_sid": "AC00000000000000000000000000000001",
                "level": "ERROR",
                "error_code": "30003",
                "payload": PAYLOAD,
            }
        });
        let ev = parse(ce.to_string().as_bytes(), 0).unwrap();
        assert_eq!(ev.error_code().map(|c| c.0), Some(30003));
        assert_eq!(ev.source, crate::event::Source::EventStreams);
        let other = serde_json::json!({"specversion": "1.0", "type": "com.twilio.x.y", "id": "1"});
        let arr = serde_json::json!([other, ce]);
        assert_eq!(parse(arr.to_string().as_bytes(), 0).unwrap().sid, ev.sid);
        let e = parse(serde_json::json!([other]).to_string().as_bytes(), 0).unwrap_err();
        assert!(e.contains("com.twilio.x.y"), "{e}");
        let e = parse(b"[{\"type\": \"com.twilio.error-logs.error.logged\"}]", 0).unwrap_err();
        assert!(e.contains("[0].data"), "{e}");
    }

    #[test]
    fn names_what_is_missing() {
        let e = parse(b"AccountSid=AC00000000000000000000000000000001", 0).unwrap_err();
        assert!(
            e.contains("form body") && e.contains("Sid is missing"),
            "{e}"
        );
        let e = parse(b"{\"Sid\": 5", 0).unwrap_err();
        assert!(e.contains("JSON"), "{e}");
        assert!(parse(b" \n", 0).unwrap_err().contains("empty"));
    }
}
