//! Event Streams bodies → events (SPEC 16): a JSON array of CloudEvents 1.0 (a
//! single object is tolerated). `com.twilio.error-logs.error.logged` becomes the
//! same [`DebuggerEvent`] the Debugger webhook gives; every other type is only
//! named, to be counted as ignored.
//!
//! Mapping of an error log's `data` (Twilio's `ErrorLogs.Error` schema):
//! `sid` → Sid (the dedup key; else the CloudEvent `id`), `account_sid`,
//! `master_account_sid` → parent (when it differs), `date_created` (else the
//! CloudEvent `time`) → timestamp, `level`, `error_code`, `resource_sid` (else
//! `request_sid`), `service_sid`; `payload` (a JSON string or object, as in the
//! Debugger webhook) gives `more_info`, `webhook` and the rest. Every field not
//! mapped (`product_name`, `correlation_sid`, the payload's `message`, ...) is
//! kept in `more_info`, so templates and the store still have it.

use super::decode::{
    capped, lenient_string, payload_from_value, required_json_sid, sid_string, DecodeError,
};
use crate::event::{DebuggerEvent, Level, PayloadState, Sid, Source};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The CloudEvent type of a Twilio error log.
pub const ERROR_LOGGED: &str = "com.twilio.error-logs.error.logged";

/// One CloudEvent of a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Error(Box<DebuggerEvent>),
    /// Any other type, by its `type`.
    Ignored(String),
}

/// Decodes a whole request body. An error names the event (`[2].data.account_sid`);
/// the request is then refused as a whole.
pub fn decode_events(body: &[u8], received_at_ms: i64) -> Result<Vec<Item>, DecodeError> {
    let items = match serde_json::from_slice(body) {
        Ok(Value::Array(items)) => items,
        Ok(v @ Value::Object(_)) => vec![v],
        Ok(_) => {
            return Err(DecodeError::Body(
                "body is not a JSON array of CloudEvents".into(),
            ))
        }
        Err(e) => return Err(DecodeError::Body(format!("body is not valid JSON: {e}"))),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| decode_one(v, received_at_ms).map_err(|e| e.at(i)))
        .collect()
}

fn decode_one(value: Value, received_at_ms: i64) -> Result<Item, DecodeError> {
    let Value::Object(mut ce) = value else {
        return Err(DecodeError::Body(
            "a CloudEvent must be a JSON object".into(),
        ));
    };
    let kind = match ce.remove("type") {
        Some(Value::String(t)) if !t.trim().is_empty() => t,
        Some(Value::String(_)) | Some(Value::Null) | None => {
            return Err(DecodeError::Missing { field: "type" })
        }
        Some(_) => {
            return Err(DecodeError::Invalid {
                field: "type",
                reason: "must be a string".into(),
            })
        }
    };
    if kind.trim() != ERROR_LOGGED {
        return Ok(Item::Ignored(kind));
    }
    let mut data = match ce.remove("data") {
        Some(Value::Object(m)) => m,
        // `data` sent as JSON text (a sink that stringifies it).
        Some(Value::String(s)) => match serde_json::from_str(&s) {
            Ok(Value::Object(m)) => m,
            _ => return Err(not_object("data")),
        },
        None | Some(Value::Null) => return Err(DecodeError::Missing { field: "data" }),
        Some(_) => return Err(not_object("data")),
    };
    let sid = event_sid(data.remove("sid"), ce.remove("id"))?;
    let account_sid = required_json_sid("data.account_sid", data.remove("account_sid"))?;
    let parent = data
        .remove("master_account_sid")
        .and_then(lenient_string)
        .filter(|p| !p.trim().is_empty() && p.trim() != account_sid.as_str());
    let parent = capped("data.master_account_sid", parent)?;
    let timestamp = data
        .remove("date_created")
        .and_then(lenient_string)
        .or_else(|| ce.remove("time").and_then(lenient_string))
        .filter(|t| !t.trim().is_empty());
    let level = match data.remove("level") {
        Some(Value::String(l)) => Level::parse(&l),
        _ => None,
    };
    let (payload, raw_payload) = payload(data).map_err(prefix_data)?;
    Ok(Item::Error(Box::new(DebuggerEvent {
        sid,
        account_sid,
        parent_account_sid: parent,
        timestamp,
        level: level.unwrap_or(Level::Error),
        payload,
        raw_payload,
        received_at_ms,
        source: Source::EventStreams,
    })))
}

/// `data.sid` when it is a Sid, else the CloudEvent `id`: as is when it is a Sid,
/// otherwise hashed into `CE` + 32 hex digits, so a re-sent id is still the same key.
fn event_sid(data_sid: Option<Value>, id: Option<Value>) -> Result<Sid, DecodeError> {
    if let Some(sid) = data_sid
        .and_then(sid_string)
        .and_then(|s| Sid::parse(&s).ok())
    {
        return Ok(sid);
    }
    let id = id
        .and_then(lenient_string)
        .filter(|s| !s.trim().is_empty())
        .ok_or(DecodeError::Missing { field: "data.sid" })?;
    if let Ok(sid) = Sid::parse(&id) {
        return Ok(sid);
    }
    let hash = hex::encode(Sha256::digest(id.as_bytes()));
    Sid::parse(&format!("CE{}", &hash[..32])).map_err(|reason| DecodeError::Invalid {
        field: "id",
        reason,
    })
}

/// The Debugger-shaped payload: `data.payload` (text or object) with `data`'s own
/// fields laid over it, and everything else folded into `more_info`.
fn payload(mut data: Map<String, Value>) -> Result<(PayloadState, String), DecodeError> {
    let (mut inner, raw) = match data.remove("payload") {
        Some(Value::String(text)) => match serde_json::from_str(&text) {
            Ok(Value::Object(m)) => (m, text),
            _ => {
                let mut m = Map::new();
                if !text.trim().is_empty() {
                    m.insert("payload_text".into(), Value::String(text.clone()));
                }
                (m, text)
            }
        },
        Some(Value::Object(m)) => {
            let raw = Value::Object(m.clone()).to_string();
            (m, raw)
        }
        _ => (Map::new(), String::new()),
    };
    for key in ["error_code", "service_sid"] {
        if let Some(v) = data.remove(key).filter(|v| !v.is_null()) {
            inner.insert(key.into(), v);
        }
    }
    let resource = data
        .remove("resource_sid")
        .and_then(sid_string)
        .or_else(|| inner.remove("resource_sid").and_then(sid_string))
        .or_else(|| data.get("request_sid").cloned().and_then(sid_string));
    if let Some(r) = resource {
        inner.insert("resource_sid".into(), Value::String(r));
    }
    // Unmapped fields of the payload and of `data` join `more_info`.
    let mut more = match inner.remove("more_info") {
        Some(Value::Object(m)) => m,
        Some(Value::Null) | None => Map::new(),
        Some(other) => Map::from_iter([("more_info".to_string(), other)]),
    };
    let mapped = ["error_code", "service_sid", "resource_sid", "webhook"];
    let extra: Vec<String> = inner
        .keys()
        .filter(|k| !mapped.contains(&k.as_str()))
        .cloned()
        .collect();
    for k in extra {
        if let Some(v) = inner.remove(&k) {
            more.entry(k).or_insert(v);
        }
    }
    for (k, v) in data {
        more.entry(k).or_insert(v);
    }
    if !more.contains_key("Msg") {
        if let Some(msg) = more.get("message").filter(|m| m.is_string()).cloned() {
            more.insert("Msg".into(), msg);
        }
    }
    if !more.is_empty() {
        inner.insert("more_info".into(), Value::Object(more));
    }
    let raw = if raw.is_empty() {
        Value::Object(inner.clone()).to_string()
    } else {
        raw
    };
    Ok((payload_from_value(Value::Object(inner))?, raw))
}

fn not_object(field: &'static str) -> DecodeError {
    DecodeError::Invalid {
        field,
        reason: "must be a JSON object".into(),
    }
}

/// Payload field errors are about `data.<field>` here.
fn prefix_data(e: DecodeError) -> DecodeError {
    match e {
        DecodeError::Invalid { field, reason } => DecodeError::Invalid {
            field: match field {
                "resource_sid" => "data.resource_sid",
                "service_sid" => "data.service_sid",
                other => other,
            },
            reason,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests;
