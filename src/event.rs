//! The Debugger event, parsed once at the edge (`ingest`) and typed after.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// A Twilio SID: two letters and 32 hex digits (`NO…`, `AC…`, `CA…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(transparent)]
pub struct Sid(String);

impl Sid {
    /// Accepts `XX` + 32 hex digits; returns a message saying what is wrong otherwise.
    pub fn parse(raw: &str) -> Result<Sid, String> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("is empty".into());
        }
        let b = s.as_bytes();
        let ok = b.len() == 34
            && b[0].is_ascii_alphabetic()
            && b[1].is_ascii_alphabetic()
            && b[2..].iter().all(|c| c.is_ascii_hexdigit());
        if ok {
            Ok(Sid(s.to_string()))
        } else {
            Err("must be two letters followed by 32 hex digits".into())
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Two-letter prefix (`AC`, `NO`, ...).
    pub fn prefix(&self) -> &str {
        &self.0[..2]
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Twilio error code (`11200`, `30003`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// Accepts a string or number of up to 6 digits.
    pub fn parse(raw: &str) -> Option<ErrorCode> {
        let s = raw.trim();
        if s.is_empty() || s.len() > 6 || !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok().map(ErrorCode)
    }
    pub fn from_json(v: &Value) -> Option<ErrorCode> {
        match v {
            Value::String(s) => ErrorCode::parse(s),
            Value::Number(n) => n
                .as_u64()
                .filter(|n| *n < 1_000_000)
                .map(|n| ErrorCode(n as u32)),
            _ => None,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Event level; Twilio sends `ERROR`/`WARNING` (older docs: `DEBUG`/`INFO`) in any case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
    Info,
    Debug,
}

impl Level {
    /// Case-insensitive; `WARN` is accepted for `warning`. Unknown or missing levels
    /// are treated as `error` by ingest so an alert is never dropped for it.
    pub fn parse(raw: &str) -> Option<Level> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "error" | "err" => Some(Level::Error),
            "warning" | "warn" => Some(Level::Warning),
            "info" | "notice" => Some(Level::Info),
            "debug" => Some(Level::Debug),
            _ => None,
        }
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `webhook` sub-document of a payload: the request Twilio made to the user's
/// app and the response it got. Every part may be missing or null.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<WebhookRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<WebhookResponse>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WebhookRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Json>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WebhookResponse {
    /// Twilio sends a number; some producers a string. Kept as a number when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// A JSON value kept as the text it came in (checked to be JSON when it was
/// read). The webhook's request headers and parameters and its response headers
/// are bulk an alert shows a little of: they become a tree ([`Json::value`]) only
/// when a notification is rendered, not for every event on the ingest path (where
/// building, storing and freeing the tree cost more than the rest of the event).
#[derive(Clone, Serialize)]
#[serde(transparent)]
pub struct Json(Box<serde_json::value::RawValue>);

/// Read through a tree: a stored event's payload is read by way of serde's
/// buffering (its tagged enum), which cannot hand out raw text. Reading happens
/// when a notification is sent or shown, not on the ingest path.
impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        Value::deserialize(d).map(Json::from)
    }
}

impl Json {
    pub fn value(&self) -> Value {
        serde_json::from_str(self.0.get()).unwrap_or(Value::Null)
    }

    pub fn from_raw(raw: &serde_json::value::RawValue) -> Json {
        Json(raw.to_owned())
    }
}

impl From<Value> for Json {
    fn from(v: Value) -> Json {
        Json(serde_json::value::to_raw_value(&v).expect("a JSON value serializes"))
    }
}

/// The same JSON, whatever its spacing and key order.
impl PartialEq for Json {
    fn eq(&self, other: &Json) -> bool {
        self.0.get() == other.0.get() || self.value() == other.value()
    }
}

impl fmt::Debug for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.get())
    }
}

/// The decoded `Payload`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    pub error_code: ErrorCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub more_info: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Webhook>,
}

/// The payload as received: decoded, or kept raw with the reason it could not be read.
/// A broken payload still produces an alert (SPEC 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
#[allow(clippy::large_enum_variant)] // one per event, never in bulk arrays
pub enum PayloadState {
    Parsed(Payload),
    Unreadable {
        reason: String,
        /// Partial fields we could still pull out of a broken payload.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resource_sid: Option<String>,
    },
}

/// Longest value kept for a SID-like free field (`resource_sid`, `service_sid`,
/// `ParentAccountSid`); Twilio's are 34 characters. Longer is a `400` naming the field.
pub const MAX_SID_FIELD_LEN: usize = 64;

/// Which way an event came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The Console Debugger webhook (`server.path`); also every event stored before
    /// the field existed.
    #[default]
    Debugger,
    /// An Event Streams webhook sink (`server.event_streams_path`).
    EventStreams,
}

impl Source {
    pub fn as_str(&self) -> &'static str {
        match self {
            Source::Debugger => "debugger",
            Source::EventStreams => "event_streams",
        }
    }
}

/// One Twilio Debugger event, validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DebuggerEvent {
    pub sid: Sid,
    pub account_sid: Sid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_account_sid: Option<String>,
    /// As sent (`Timestamp` or `TimeStamp`), ISO 8601 with or without milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    pub level: Level,
    pub payload: PayloadState,
    /// The raw `Payload` text, kept for templates and for unreadable payloads.
    /// The store keeps it only for unreadable payloads (see [`DebuggerEvent::to_stored_json`]).
    #[serde(default)]
    pub raw_payload: String,
    /// When twilert accepted it, unix milliseconds.
    pub received_at_ms: i64,
    /// The path it came by; rows stored before this field read as `debugger`.
    #[serde(default)]
    pub source: Source,
}

/// The stored form of an event: the same fields, but the raw payload text only when
/// it could not be parsed — for a parsed payload it repeats what `payload` holds, and
/// escaping it was the largest part of storing an event.
#[derive(Serialize)]
struct Stored<'a> {
    sid: &'a Sid,
    account_sid: &'a Sid,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_account_sid: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: &'a Option<String>,
    level: &'a Level,
    payload: &'a PayloadState,
    #[serde(skip_serializing_if = "str::is_empty")]
    raw_payload: &'a str,
    received_at_ms: i64,
    source: Source,
}

impl DebuggerEvent {
    /// JSON for the store; reads back with `serde_json::from_str::<DebuggerEvent>`.
    pub fn to_stored_json(&self) -> serde_json::Result<String> {
        let raw = match self.payload {
            PayloadState::Parsed(_) => "",
            PayloadState::Unreadable { .. } => &self.raw_payload,
        };
        serde_json::to_string(&Stored {
            sid: &self.sid,
            account_sid: &self.account_sid,
            parent_account_sid: &self.parent_account_sid,
            timestamp: &self.timestamp,
            level: &self.level,
            payload: &self.payload,
            raw_payload: raw,
            received_at_ms: self.received_at_ms,
            source: self.source,
        })
    }

    /// The event without its webhook details, `more_info` and raw payload (sid,
    /// account, level, times, code and resource stay): what a notification needs
    /// until it is queued. The store keeps a notification without its event and
    /// joins the stored event back when a worker reads it, so the engine's plan (on
    /// its serial thread) need not copy the whole event into each notification.
    pub fn summary(&self) -> DebuggerEvent {
        let payload = match &self.payload {
            PayloadState::Parsed(p) => PayloadState::Parsed(Payload {
                error_code: p.error_code,
                resource_sid: p.resource_sid.clone(),
                service_sid: p.service_sid.clone(),
                more_info: None,
                webhook: None,
            }),
            PayloadState::Unreadable {
                reason,
                resource_sid,
            } => PayloadState::Unreadable {
                reason: reason.clone(),
                resource_sid: resource_sid.clone(),
            },
        };
        DebuggerEvent {
            sid: self.sid.clone(),
            account_sid: self.account_sid.clone(),
            parent_account_sid: self.parent_account_sid.clone(),
            timestamp: self.timestamp.clone(),
            level: self.level.clone(),
            payload,
            raw_payload: String::new(),
            received_at_ms: self.received_at_ms,
            source: self.source,
        }
    }

    pub fn error_code(&self) -> Option<ErrorCode> {
        match &self.payload {
            PayloadState::Parsed(p) => Some(p.error_code),
            PayloadState::Unreadable { .. } => None,
        }
    }
    pub fn resource_sid(&self) -> Option<&str> {
        match &self.payload {
            PayloadState::Parsed(p) => p.resource_sid.as_deref(),
            PayloadState::Unreadable { resource_sid, .. } => resource_sid.as_deref(),
        }
    }
    pub fn service_sid(&self) -> Option<&str> {
        match &self.payload {
            PayloadState::Parsed(p) => p.service_sid.as_deref(),
            PayloadState::Unreadable { .. } => None,
        }
    }
    pub fn parsed(&self) -> Option<&Payload> {
        match &self.payload {
            PayloadState::Parsed(p) => Some(p),
            PayloadState::Unreadable { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sid_shape() {
        assert!(Sid::parse("NO00000000000000000000000000000001").is_ok());
        assert!(Sid::parse("AC0123456789abcdef0123456789ABCDEF").is_ok());
        assert!(Sid::parse("").is_err());
        assert!(Sid::parse("NO123").is_err());
        assert!(Sid::parse("N000000000000000000000000000000001").is_err());
    }

    #[test]
    fn error_code_forms() {
        assert_eq!(ErrorCode::parse("11200"), Some(ErrorCode(11200)));
        assert_eq!(
            ErrorCode::from_json(&serde_json::json!(30003)),
            Some(ErrorCode(30003))
        );
        assert_eq!(
            ErrorCode::from_json(&serde_json::json!("30003")),
            Some(ErrorCode(30003))
        );
        assert_eq!(ErrorCode::parse("11x00"), None);
        assert_eq!(ErrorCode::from_json(&serde_json::json!(-1)), None);
    }

    #[test]
    fn stored_json_reads_back_without_the_parsed_raw_text() {
        let ev = DebuggerEvent {
            sid: Sid::parse("NO00000000000000000000000000000001").unwrap(),
            account_sid: Sid::parse("AC00000000000000000000000000000001").unwrap(),
            parent_account_sid: None,
            timestamp: Some("2026-11-26T10:00:00Z".into()),
            level: Level::Warning,
            payload: PayloadState::Parsed(Payload {
                error_code: ErrorCode(11200),
                resource_sid: Some("CA1".into()),
                service_sid: None,
                more_info: None,
                webhook: None,
            }),
            raw_payload: "{\"error_code\":\"11200\"}".into(),
            received_at_ms: 5,
            source: Source::EventStreams,
        };
        let back: DebuggerEvent = serde_json::from_str(&ev.to_stored_json().unwrap()).unwrap();
        assert_eq!(
            back,
            DebuggerEvent {
                raw_payload: String::new(),
                ..ev.clone()
            }
        );
        let broken = DebuggerEvent {
            payload: PayloadState::Unreadable {
                reason: "not JSON".into(),
                resource_sid: None,
            },
            raw_payload: "{oops".into(),
            ..ev
        };
        let back: DebuggerEvent = serde_json::from_str(&broken.to_stored_json().unwrap()).unwrap();
        assert_eq!(back, broken);
    }

    #[test]
    fn rows_stored_before_the_source_field_read_as_debugger() {
        let old = r#"{"sid":"NO00000000000000000000000000000001","account_sid":"AC00000000000000000000000000000001","level":"error","payload":{"state":"unreadable","reason":"x"},"received_at_ms":1}"#;
        let ev: DebuggerEvent = serde_json::from_str(old).unwrap();
        assert_eq!(ev.source, Source::Debugger);
        assert_eq!(Source::EventStreams.as_str(), "event_streams");
    }

    #[test]
    fn level_any_case() {
        assert_eq!(Level::parse("ERROR"), Some(Level::Error));
        assert_eq!(Level::parse("Warning"), Some(Level::Warning));
        assert_eq!(Level::parse("bogus"), None);
    }
}
