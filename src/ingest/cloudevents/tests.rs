use super::*;
use crate::event::ErrorCode;
use serde_json::json;

const NO: &str = "NO0123456789abcdef0123456789abcdef";
const AC: &str = "AC0123456789abcdef0123456789abcdef";
const AC_MASTER: &str = "AC00000000000000000000000000000009";

/// Twilio's documented example (ErrorLogs.Error v2), with full-length Sids.
fn documented() -> Value {
    json!({
        "specversion": "1.0",
        "type": "com.twilio.error-logs.error.logged",
        "source": "AB00000000000000000000000001",
        "id": NO,
        "dataschema": "https://events-schemas.twilio.com/ErrorLogs.Error/2",
        "datacontenttype": "2025-10-08T07:17:02.363Z",
        "data": {
            "sid": NO,
            "account_sid": AC,
            "date_created": "2025-01-01T00:00:00.000Z",
            "level": "INFO",
            "master_account_sid": AC,
            "request_sid": "RQ0000000000000000000000000000001",
            "service_sid": "ZH0000000000000000000000000000001",
            "correlation_sid": "ZE0000000000000000000000000000001",
            "product_name": "Event Streams",
            "error_code": "93101",
            "payload": "{\"error_code\":93101,\"message\":\"Error delivering event to webhook: 500 Internal Server Error\"}"
        }
    })
}

fn one(v: Value) -> DebuggerEvent {
    match decode_events(v.to_string().as_bytes(), 7)
        .unwrap()
        .remove(0)
    {
        Item::Error(e) => *e,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_documented_error_log_maps_onto_the_event() {
    let ev = one(json!([documented()]));
    assert_eq!(ev.sid.as_str(), NO);
    assert_eq!(ev.account_sid.as_str(), AC);
    assert_eq!(
        ev.parent_account_sid, None,
        "master = account: not a subaccount"
    );
    assert_eq!(ev.timestamp.as_deref(), Some("2025-01-01T00:00:00.000Z"));
    assert_eq!(ev.level, Level::Info);
    assert_eq!(ev.source, Source::EventStreams);
    assert_eq!(ev.received_at_ms, 7);
    assert_eq!(ev.error_code(), Some(ErrorCode(93101)));
    assert_eq!(ev.resource_sid(), Some("RQ0000000000000000000000000000001"));
    assert_eq!(ev.service_sid(), Some("ZH0000000000000000000000000000001"));
    let more = ev.parsed().unwrap().more_info.as_ref().unwrap();
    assert_eq!(more["product_name"], "Event Streams");
    assert_eq!(more["correlation_sid"], "ZE0000000000000000000000000000001");
    assert_eq!(
        more["Msg"],
        "Error delivering event to webhook: 500 Internal Server Error"
    );
    assert!(ev.raw_payload.contains("93101"));
    // The store's form reads back the same (source included).
    let back: DebuggerEvent = serde_json::from_str(&ev.to_stored_json().unwrap()).unwrap();
    assert_eq!(back.source, Source::EventStreams);
    assert_eq!(back.payload, ev.payload);
}

#[test]
fn a_debugger_shaped_payload_keeps_webhook_and_more_info() {
    let mut ce = documented();
    ce["data"]["master_account_sid"] = json!(AC_MASTER);
    ce["data"]["level"] = json!("ERROR");
    ce["data"]["payload"] = json!({
        "resource_sid": "CA0123456789abcdef0123456789abcdef",
        "error_code": 11200,
        "more_info": {"Msg": "returned 502", "sourceComponent": "14100"},
        "webhook": {"request": {"url": "https://example.com/voice"}, "response": {"status_code": 502}}
    });
    ce["data"]["error_code"] = json!(11200);
    let ev = one(ce);
    assert_eq!(ev.parent_account_sid.as_deref(), Some(AC_MASTER));
    assert_eq!(ev.level, Level::Error);
    assert_eq!(ev.error_code(), Some(ErrorCode(11200)));
    assert_eq!(
        ev.resource_sid(),
        Some("CA0123456789abcdef0123456789abcdef")
    );
    let p = ev.parsed().unwrap();
    assert_eq!(p.more_info.as_ref().unwrap()["Msg"], "returned 502");
    assert_eq!(
        p.more_info.as_ref().unwrap()["product_name"],
        "Event Streams"
    );
    let resp = p.webhook.as_ref().unwrap().response.as_ref().unwrap();
    assert_eq!(resp.status_code, Some(502));
}

#[test]
fn mixed_arrays_a_single_object_and_empty_arrays() {
    let other = json!({"specversion": "1.0", "type": "com.twilio.messaging.message.delivered", "id": "x", "data": {}});
    let items = decode_events(
        json!([other, documented(), {"type": "x.y"}])
            .to_string()
            .as_bytes(),
        0,
    )
    .unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(
        items[0],
        Item::Ignored("com.twilio.messaging.message.delivered".into())
    );
    assert!(matches!(items[1], Item::Error(_)));
    assert_eq!(items[2], Item::Ignored("x.y".into()));
    assert_eq!(
        decode_events(documented().to_string().as_bytes(), 0)
            .unwrap()
            .len(),
        1
    );
    assert!(decode_events(b"[]", 0).unwrap().is_empty());
}

#[test]
fn the_dedup_key_falls_back_to_the_cloudevent_id() {
    let mut ce = documented();
    ce["data"].as_object_mut().unwrap().remove("sid");
    assert_eq!(
        one(ce.clone()).sid.as_str(),
        NO,
        "an id that is a Sid is used as is"
    );
    ce["data"]["sid"] = json!("NO0000000000000000000000000000001"); // the docs' short example
    ce["id"] = json!("6f1c2a3e-0000-4000-8000-000000000001");
    let a = one(ce.clone());
    assert!(a.sid.as_str().starts_with("CE"), "{}", a.sid);
    assert_eq!(one(ce.clone()).sid, a.sid, "the same id, the same key");
    ce["id"] = json!("6f1c2a3e-0000-4000-8000-000000000002");
    assert_ne!(one(ce.clone()).sid, a.sid);
    ce.as_object_mut().unwrap().remove("id");
    let err = decode_events(json!([ce]).to_string().as_bytes(), 0).unwrap_err();
    assert_eq!(err.field(), "[0].data.sid");
}

#[test]
fn errors_name_the_event_and_the_field() {
    let mut ce = documented();
    ce["data"].as_object_mut().unwrap().remove("account_sid");
    let err = decode_events(json!([{"type": "a"}, ce]).to_string().as_bytes(), 0).unwrap_err();
    assert_eq!(err.field(), "[1].data.account_sid");
    assert_eq!(err.to_string(), "event [1]: data.account_sid is missing");

    let mut ce = documented();
    ce["data"]["resource_sid"] = json!("CA".to_string() + &"1".repeat(100));
    let err = decode_events(json!([ce]).to_string().as_bytes(), 0).unwrap_err();
    assert_eq!(err.field(), "[0].data.resource_sid");

    for (body, field) in [
        (json!([{"id": "x"}]), "[0].type"),
        (json!([{"type": 5}]), "[0].type"),
        (json!([3]), "[0]"),
        (json!([{"type": ERROR_LOGGED}]), "[0].data"),
        (json!([{"type": ERROR_LOGGED, "data": [1]}]), "[0].data"),
        (json!("str"), "body"),
    ] {
        let err = decode_events(body.to_string().as_bytes(), 0).unwrap_err();
        assert_eq!(err.field(), field, "{body}");
    }
    assert_eq!(decode_events(b"{oops", 0).unwrap_err().field(), "body");
}

#[test]
fn tolerant_of_stringified_data_odd_payloads_and_no_code() {
    let mut ce = documented();
    ce["data"] = json!(ce["data"].to_string());
    assert_eq!(one(ce).error_code(), Some(ErrorCode(93101)));

    let mut ce = documented();
    ce["data"]["payload"] = json!("not json {");
    let ev = one(ce);
    assert_eq!(ev.error_code(), Some(ErrorCode(93101)));
    assert_eq!(
        ev.parsed().unwrap().more_info.as_ref().unwrap()["payload_text"],
        "not json {"
    );

    let mut ce = documented();
    let data = ce["data"].as_object_mut().unwrap();
    data.remove("error_code");
    data.remove("payload");
    data.remove("date_created");
    ce["time"] = json!("2026-01-01T00:00:00Z");
    let ev = one(ce);
    assert_eq!(
        ev.error_code(),
        None,
        "no code: an unreadable payload, still an alert"
    );
    assert!(matches!(ev.payload, PayloadState::Unreadable { .. }));
    assert_eq!(ev.timestamp.as_deref(), Some("2026-01-01T00:00:00Z"));
}
