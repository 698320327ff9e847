//! Request body → [`DebuggerEvent`], tolerant of everything but a missing or
//! malformed `Sid`/`AccountSid` (SPEC 2). A broken `Payload` still yields an event
//! ([`PayloadState::Unreadable`]): an alert about an error is never dropped for
//! being malformed.

use crate::event::{
    DebuggerEvent, ErrorCode, Json, Level, Payload, PayloadState, Sid, Source, Webhook,
    WebhookRequest, WebhookResponse, MAX_SID_FIELD_LEN,
};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Why a body could not become an event. Answered `400 {"error": msg, "field": field}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A required field is absent.
    #[error("{field} is missing")]
    Missing { field: &'static str },
    /// A required field is present but malformed; `reason` follows the field name.
    #[error("{field} {reason}")]
    Invalid { field: &'static str, reason: String },
    /// The body itself could not be decoded.
    #[error("{0}")]
    Body(String),
    /// The error is about the event at `index` of an array (Event Streams).
    #[error("event [{index}]: {inner}")]
    At {
        index: usize,
        inner: Box<DecodeError>,
    },
}

impl DecodeError {
    /// The field the error is about (`Sid`, `AccountSid`, `resource_sid`, `body`;
    /// `[2].data.account_sid` for an event of an array).
    pub fn field(&self) -> Cow<'_, str> {
        match self {
            DecodeError::Missing { field } | DecodeError::Invalid { field, .. } => {
                Cow::Borrowed(field)
            }
            DecodeError::Body(_) => Cow::Borrowed("body"),
            DecodeError::At { index, inner } => Cow::Owned(match inner.as_ref() {
                DecodeError::Body(_) => format!("[{index}]"),
                other => format!("[{index}].{}", other.field()),
            }),
        }
    }

    /// The same error, about the event at `index` of an array.
    pub fn at(self, index: usize) -> DecodeError {
        DecodeError::At {
            index,
            inner: Box::new(self),
        }
    }
}

/// Top-level names, matched case-insensitively (`Timestamp` and `TimeStamp` alike).
#[derive(Clone, Copy)]
enum Field {
    Sid,
    AccountSid,
    ParentAccountSid,
    Timestamp,
    Level,
    Payload,
}

impl Field {
    fn of(name: &str) -> Option<Field> {
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        Some(match name.len() {
            3 if is("Sid") => Field::Sid,
            5 if is("Level") => Field::Level,
            7 if is("Payload") => Field::Payload,
            9 if is("Timestamp") => Field::Timestamp,
            10 if is("AccountSid") => Field::AccountSid,
            16 if is("ParentAccountSid") => Field::ParentAccountSid,
            _ => return None,
        })
    }
}

/// Decodes a Twilio `application/x-www-form-urlencoded` body. Returns the event
/// and the decoded pairs in received order (for signature verification).
/// When a name is repeated, its first value is used.
pub fn decode_form(
    body: &[u8],
    received_at_ms: i64,
) -> Result<(DebuggerEvent, Vec<(String, String)>), DecodeError> {
    let pairs = form_pairs(body)?;
    let event = decode_pairs(&pairs, received_at_ms)?;
    Ok((event, pairs))
}

/// The name/value pairs of a form body, in received order, decoded as
/// `application/x-www-form-urlencoded` says (and as `serde_urlencoded` does:
/// `+` is a space, `%XX` a byte, a `%` not followed by two hex digits stays, bytes
/// that are not UTF-8 become U+FFFD). Runs without `%` or `+` are copied whole:
/// the `Payload` is most of a body and this is on every request's path.
pub fn form_pairs(body: &[u8]) -> Result<Vec<(String, String)>, DecodeError> {
    Ok(body
        .split(|b| *b == b'&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, value) = match part.iter().position(|b| *b == b'=') {
                Some(i) => (&part[..i], &part[i + 1..]),
                None => (part, &[][..]),
            };
            (form_decode(name), form_decode(value))
        })
        .collect())
}

fn form_decode(s: &[u8]) -> String {
    // Never longer than its input: written by index, then cut to length.
    let mut out = vec![0u8; s.len()];
    let (mut i, mut j) = (0, 0);
    while i < s.len() {
        let mut byte = s[i];
        i += 1;
        if byte == b'+' {
            byte = b' ';
        } else if byte == b'%' && i + 1 < s.len() {
            let (hi, lo) = (hex(&s[i]), hex(&s[i + 1]));
            if hi | lo < 16 {
                byte = hi << 4 | lo;
                i += 2;
            }
        }
        out[j] = byte;
        j += 1;
    }
    out.truncate(j);
    match String::from_utf8(out) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// A hex digit's value; 0xFF for any other byte.
fn hex(b: &u8) -> u8 {
    const TABLE: [u8; 256] = {
        let mut t = [0xFF; 256];
        let mut i = 0;
        while i < 10 {
            t[b'0' as usize + i] = i as u8;
            i += 1;
        }
        let mut i = 0;
        while i < 6 {
            t[b'a' as usize + i] = 10 + i as u8;
            t[b'A' as usize + i] = 10 + i as u8;
            i += 1;
        }
        t
    };
    TABLE[*b as usize]
}

/// The event in a form body's decoded pairs (see [`decode_form`]).
pub fn decode_pairs(
    pairs: &[(String, String)],
    received_at_ms: i64,
) -> Result<DebuggerEvent, DecodeError> {
    let mut sid = None;
    let mut account_sid = None;
    let mut parent = None;
    let mut timestamp = None;
    let mut level = None;
    let mut payload = None;
    for (name, value) in pairs {
        let slot = match Field::of(name) {
            Some(Field::Sid) => &mut sid,
            Some(Field::AccountSid) => &mut account_sid,
            Some(Field::ParentAccountSid) => &mut parent,
            Some(Field::Timestamp) => &mut timestamp,
            Some(Field::Level) => &mut level,
            Some(Field::Payload) => &mut payload,
            None => continue,
        };
        slot.get_or_insert(value.as_str());
    }

    let sid = required_sid("Sid", sid)?;
    let account_sid = required_sid("AccountSid", account_sid)?;
    let (payload, raw_payload) = match payload {
        Some(raw) => (parse_payload(raw)?, raw.to_owned()),
        None => (missing_payload(), String::new()),
    };
    Ok(DebuggerEvent {
        sid,
        account_sid,
        parent_account_sid: capped("ParentAccountSid", non_empty(parent))?,
        timestamp: non_empty(timestamp),
        level: level.and_then(Level::parse).unwrap_or(Level::Error),
        payload,
        raw_payload,
        received_at_ms,
        source: Source::Debugger,
    })
}

/// Decodes an `application/json` body with the same top-level names as the form
/// (any case). `Payload` may be an object or a JSON string.
pub fn decode_json(body: &[u8], received_at_ms: i64) -> Result<DebuggerEvent, DecodeError> {
    let map: Map<String, Value> = match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(DecodeError::Body("body is not a JSON object".into())),
        Err(e) => return Err(DecodeError::Body(format!("body is not valid JSON: {e}"))),
    };

    let mut sid = None;
    let mut account_sid = None;
    let mut parent = None;
    let mut timestamp = None;
    let mut level = None;
    let mut payload = None;
    for (name, value) in map {
        let slot = match Field::of(&name) {
            Some(Field::Sid) => &mut sid,
            Some(Field::AccountSid) => &mut account_sid,
            Some(Field::ParentAccountSid) => &mut parent,
            Some(Field::Timestamp) => &mut timestamp,
            Some(Field::Level) => &mut level,
            Some(Field::Payload) => &mut payload,
            None => continue,
        };
        if slot.is_none() && !value.is_null() {
            *slot = Some(value);
        }
    }

    let sid = required_json_sid("Sid", sid)?;
    let account_sid = required_json_sid("AccountSid", account_sid)?;
    let (payload, raw_payload) = match payload {
        Some(Value::String(raw)) => (parse_payload(&raw)?, raw),
        Some(value) => {
            let raw = value.to_string();
            (payload_from_value(value)?, raw)
        }
        None => (missing_payload(), String::new()),
    };
    let level = match level {
        Some(Value::String(s)) => Level::parse(&s),
        _ => None,
    };
    Ok(DebuggerEvent {
        sid,
        account_sid,
        parent_account_sid: capped(
            "ParentAccountSid",
            parent.and_then(lenient_string).filter(|s| !s.is_empty()),
        )?,
        timestamp: timestamp.and_then(lenient_string).filter(|s| !s.is_empty()),
        level: level.unwrap_or(Level::Error),
        payload,
        raw_payload,
        received_at_ms,
        source: Source::Debugger,
    })
}

/// Reads a `Payload` text. Fails only for an over-long SID field (a `400` naming
/// it); anything else unusable is [`PayloadState::Unreadable`] with a reason.
pub fn parse_payload(raw: &str) -> Result<PayloadState, DecodeError> {
    if raw.trim().is_empty() {
        return Ok(unreadable("Payload is empty", None));
    }
    if let Ok(fields) = serde_json::from_str::<RawPayload<'_>>(raw) {
        return payload_from_raw(fields);
    }
    // Not an object of distinct keys (or not JSON): the tree says which.
    match serde_json::from_str::<Value>(raw) {
        Ok(value) => payload_from_value(value),
        Err(e) => Ok(unreadable(format!("Payload is not JSON: {e}"), None)),
    }
}

/// A `Payload` object read in one pass: the small fields as JSON text, each then
/// read on its own as [`payload_from_value`] reads it; the webhook's bulky parts
/// (headers, parameters) kept as text, never built into a tree. Anything this
/// shape does not fit (a webhook that is not an object, repeated keys) fails it,
/// and then the tree decides.
#[derive(serde::Deserialize)]
struct RawPayload<'a> {
    #[serde(default, rename = "")]
    _object: NotAnArray,
    #[serde(borrow)]
    resource_sid: Option<&'a RawValue>,
    #[serde(borrow)]
    service_sid: Option<&'a RawValue>,
    #[serde(borrow)]
    error_code: Option<&'a RawValue>,
    #[serde(borrow)]
    more_info: Option<&'a RawValue>,
    #[serde(borrow)]
    webhook: Option<RawWebhook<'a>>,
}

#[derive(serde::Deserialize)]
struct RawWebhook<'a> {
    #[serde(default, rename = "")]
    _object: NotAnArray,
    #[serde(borrow, rename = "type")]
    kind: Option<&'a RawValue>,
    #[serde(borrow)]
    request: Option<RawRequest<'a>>,
    #[serde(borrow)]
    response: Option<RawResponse<'a>>,
}

#[derive(serde::Deserialize)]
struct RawRequest<'a> {
    #[serde(default, rename = "")]
    _object: NotAnArray,
    #[serde(borrow)]
    method: Option<&'a RawValue>,
    #[serde(borrow)]
    url: Option<&'a RawValue>,
    #[serde(borrow)]
    headers: Option<&'a RawValue>,
    #[serde(borrow)]
    parameters: Option<&'a RawValue>,
}

#[derive(serde::Deserialize)]
struct RawResponse<'a> {
    #[serde(default, rename = "")]
    _object: NotAnArray,
    #[serde(borrow)]
    status_code: Option<&'a RawValue>,
    #[serde(borrow)]
    headers: Option<&'a RawValue>,
    #[serde(borrow)]
    body: Option<&'a RawValue>,
}

/// First field of each raw shape, never read: serde would read an array into a
/// struct's fields by position, and this refuses any array's first element (in
/// an object it is only ever the key "", which fails the shape too).
#[derive(Default)]
struct NotAnArray;

impl<'de> serde::Deserialize<'de> for NotAnArray {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<NotAnArray, D::Error> {
        Err(serde::de::Error::custom("an object, not an array"))
    }
}

/// A small field's tree (a SID, a code, a method).
fn tree(raw: &RawValue) -> Value {
    serde_json::from_str(raw.get()).unwrap_or(Value::Null)
}

fn payload_from_raw(p: RawPayload<'_>) -> Result<PayloadState, DecodeError> {
    payload_of(
        p.resource_sid.map(tree),
        p.service_sid.map(tree),
        p.error_code.map(tree),
        p.more_info.map(tree),
        p.webhook.map(|w| Webhook {
            kind: w.kind.map(tree).and_then(lenient_string),
            request: w.request.map(|r| WebhookRequest {
                method: r.method.map(tree).and_then(lenient_string),
                url: r.url.map(tree).and_then(lenient_string),
                headers: r.headers.map(Json::from_raw),
                parameters: r.parameters.map(Json::from_raw),
            }),
            response: w.response.map(|r| WebhookResponse {
                status_code: r.status_code.map(tree).and_then(status_code),
                headers: r.headers.map(Json::from_raw),
                body: r.body.map(tree).and_then(lenient_string),
            }),
        }),
    )
}

/// Reads an already-parsed `Payload` by picking fields, so one odd field never
/// makes the rest unreadable.
pub fn payload_from_value(value: Value) -> Result<PayloadState, DecodeError> {
    let mut map = match value {
        Value::Object(map) => map,
        _ => return Ok(unreadable("Payload is not a JSON object", None)),
    };
    payload_of(
        map.remove("resource_sid"),
        map.remove("service_sid"),
        map.remove("error_code"),
        map.remove("more_info"),
        map.remove("webhook").and_then(webhook),
    )
}

/// A payload from its fields, however they were read: `resource_sid` and
/// `service_sid` longer than [`MAX_SID_FIELD_LEN`] are refused (they key groups
/// and fill alerts); without a readable `error_code` it is unreadable.
fn payload_of(
    resource_sid: Option<Value>,
    service_sid: Option<Value>,
    error_code: Option<Value>,
    more_info: Option<Value>,
    webhook: Option<Webhook>,
) -> Result<PayloadState, DecodeError> {
    let resource_sid = capped("resource_sid", resource_sid.and_then(sid_string))?;
    let service_sid = capped("service_sid", service_sid.and_then(sid_string))?;
    let error_code = match error_code {
        None | Some(Value::Null) => {
            return Ok(unreadable("Payload has no error_code", resource_sid))
        }
        Some(v) => match ErrorCode::from_json(&v) {
            Some(code) => code,
            None => {
                return Ok(unreadable(
                    "Payload error_code is not a Twilio error code (up to 6 digits)",
                    resource_sid,
                ))
            }
        },
    };
    Ok(PayloadState::Parsed(Payload {
        error_code,
        resource_sid,
        service_sid,
        more_info: more_info.and_then(non_null),
        webhook,
    }))
}

/// `value`, refused when longer than [`MAX_SID_FIELD_LEN`] characters.
pub(crate) fn capped(
    field: &'static str,
    value: Option<String>,
) -> Result<Option<String>, DecodeError> {
    match value {
        Some(v) if v.chars().count() > MAX_SID_FIELD_LEN => Err(DecodeError::Invalid {
            field,
            reason: format!("is longer than {MAX_SID_FIELD_LEN} characters"),
        }),
        other => Ok(other),
    }
}

fn webhook(value: Value) -> Option<Webhook> {
    let Value::Object(mut map) = value else {
        return None;
    };
    Some(Webhook {
        kind: map.remove("type").and_then(lenient_string),
        request: map.remove("request").and_then(webhook_request),
        response: map.remove("response").and_then(webhook_response),
    })
}

fn webhook_request(v: Value) -> Option<WebhookRequest> {
    let Value::Object(mut req) = v else {
        return None;
    };
    Some(WebhookRequest {
        method: req.remove("method").and_then(lenient_string),
        url: req.remove("url").and_then(lenient_string),
        headers: req.remove("headers").and_then(non_null).map(Json::from),
        parameters: req.remove("parameters").and_then(non_null).map(Json::from),
    })
}

fn webhook_response(v: Value) -> Option<WebhookResponse> {
    let Value::Object(mut resp) = v else {
        return None;
    };
    Some(WebhookResponse {
        status_code: resp.remove("status_code").and_then(status_code),
        headers: resp.remove("headers").and_then(non_null).map(Json::from),
        body: resp.remove("body").and_then(lenient_string),
    })
}

/// A number, or a numeric string; anything else is dropped.
fn status_code(v: Value) -> Option<u16> {
    match v {
        Value::Number(n) => match n.as_u64() {
            Some(u) => u16::try_from(u).ok(),
            None => n
                .as_f64()
                .filter(|f| f.fract() == 0.0 && (0.0..=f64::from(u16::MAX)).contains(f))
                .map(|f| f as u16),
        },
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(crate) fn required_sid(field: &'static str, raw: Option<&str>) -> Result<Sid, DecodeError> {
    match raw {
        None => Err(DecodeError::Missing { field }),
        Some(raw) if raw.trim().is_empty() => Err(DecodeError::Missing { field }),
        Some(raw) => Sid::parse(raw).map_err(|reason| DecodeError::Invalid { field, reason }),
    }
}

pub(crate) fn required_json_sid(
    field: &'static str,
    raw: Option<Value>,
) -> Result<Sid, DecodeError> {
    match raw {
        None => Err(DecodeError::Missing { field }),
        Some(Value::String(s)) => required_sid(field, Some(&s)),
        Some(_) => Err(DecodeError::Invalid {
            field,
            reason: "must be a string".into(),
        }),
    }
}

/// A SID-like field: strings as given, numbers stringified, anything else dropped.
pub(crate) fn sid_string(v: Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Strings as given, `null` dropped, any other JSON kept as its JSON text.
pub(crate) fn lenient_string(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn non_null(v: Value) -> Option<Value> {
    (!v.is_null()).then_some(v)
}

fn non_empty(raw: Option<&str>) -> Option<String> {
    raw.filter(|s| !s.trim().is_empty()).map(str::to_owned)
}

fn missing_payload() -> PayloadState {
    unreadable("Payload is missing", None)
}

fn unreadable(reason: impl Into<String>, resource_sid: Option<String>) -> PayloadState {
    PayloadState::Unreadable {
        reason: reason.into(),
        resource_sid,
    }
}

#[cfg(test)]
mod tests;
