//! A Debugger event from a file, for `route` and `send-test`: the form-encoded body
//! Twilio posts, or its JSON form, decoded exactly as the service decodes requests.

use crate::clock::{Clock, SystemClock};
use crate::event::DebuggerEvent;
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

/// JSON when the body starts with `{`, else a form body. Surrounding whitespace (a
/// trailing newline from an editor) is ignored.
pub(crate) fn parse(bytes: &[u8], received_at_ms: i64) -> Result<DebuggerEvent, String> {
    let body = bytes.trim_ascii();
    if body.is_empty() {
        return Err("is empty; expected a Debugger event (form body or JSON)".into());
    }
    if body.starts_with(b"{") {
        decode_json(body, received_at_ms).map_err(|e| format!("not a Debugger event (JSON): {e}"))
    } else {
        decode_form(body, received_at_ms)
            .map(|(event, _)| event)
            .map_err(|e| format!("not a Debugger event (form body): {e}"))
    }
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
