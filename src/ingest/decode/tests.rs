//! Decoding Twilio's form and JSON bodies: realistic, odd, broken and hostile.

use super::*;
use serde_json::json;

const SID: &str = "NO0123456789abcdef0123456789abcdef";
const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const CALL: &str = "CA0123456789abcdef0123456789abcdef";

fn realistic_payload() -> String {
    json!({
        "resource_sid": CALL,
        "service_sid": null,
        "error_code": "11200",
        "more_info": {"Msg": "An attempt to retrieve content returned 502", "sourceComponent": "14100"},
        "webhook": {
            "type": "application/json",
            "request": {
                "method": "POST",
                "url": "https://example.com/voice",
                "headers": {},
                "parameters": {"CallSid": CALL}
            },
            "response": {
                "status_code": 502,
                "headers": {},
                "body": "<html>Bad Gateway</html>"
            }
        }
    })
    .to_string()
}

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    serde_urlencoded::to_string(pairs).unwrap().into_bytes()
}

fn twilio_form(payload: &str) -> Vec<u8> {
    form(&[
        ("AccountSid", ACCOUNT),
        ("Level", "ERROR"),
        ("ParentAccountSid", ""),
        ("Payload", payload),
        ("PayloadType", "application/json"),
        ("Sid", SID),
        ("Timestamp", "2024-05-01T12:34:56.789Z"),
    ])
}

fn parsed(state: &PayloadState) -> &Payload {
    match state {
        PayloadState::Parsed(p) => p,
        other => panic!("expected a parsed payload, got {other:?}"),
    }
}

#[test]
fn realistic_twilio_form() {
    let payload = realistic_payload();
    let body = twilio_form(&payload);
    let (event, pairs) = decode_form(&body, 42).unwrap();
    assert_eq!(event.sid.as_str(), SID);
    assert_eq!(event.account_sid.as_str(), ACCOUNT);
    assert_eq!(event.parent_account_sid, None);
    assert_eq!(event.timestamp.as_deref(), Some("2024-05-01T12:34:56.789Z"));
    assert_eq!(event.level, Level::Error);
    assert_eq!(event.received_at_ms, 42);
    assert_eq!(event.raw_payload, payload);
    let p = parsed(&event.payload);
    assert_eq!(p.error_code, ErrorCode(11200));
    assert_eq!(p.resource_sid.as_deref(), Some(CALL));
    assert_eq!(p.service_sid, None);
    assert_eq!(p.more_info.as_ref().unwrap()["sourceComponent"], "14100");
    let wh = p.webhook.as_ref().unwrap();
    assert_eq!(wh.kind.as_deref(), Some("application/json"));
    let req = wh.request.as_ref().unwrap();
    assert_eq!(req.method.as_deref(), Some("POST"));
    assert_eq!(req.url.as_deref(), Some("https://example.com/voice"));
    assert_eq!(req.parameters, Some(json!({"CallSid": CALL}).into()));
    let resp = wh.response.as_ref().unwrap();
    assert_eq!(resp.status_code, Some(502));
    assert_eq!(resp.body.as_deref(), Some("<html>Bad Gateway</html>"));
    // Pairs come back in received order for signature verification.
    let names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "AccountSid",
            "Level",
            "ParentAccountSid",
            "Payload",
            "PayloadType",
            "Sid",
            "Timestamp"
        ]
    );
    assert_eq!(pairs[3].1, payload);
}

#[test]
fn timestamp_spellings_and_precision() {
    let p = realistic_payload();
    for (name, ts) in [
        ("Timestamp", "2024-05-01T12:34:56Z"),
        ("TimeStamp", "2024-05-01T12:34:56Z"),
        ("TimeStamp", "2024-05-01T12:34:56.123Z"),
        ("Timestamp", "2024-05-01T12:34:56.123+00:00"),
    ] {
        let body = form(&[
            ("Sid", SID),
            ("AccountSid", ACCOUNT),
            (name, ts),
            ("Payload", &p),
        ]);
        let (event, _) = decode_form(&body, 0).unwrap();
        assert_eq!(event.timestamp.as_deref(), Some(ts), "{name}={ts}");
    }
    let body = form(&[("Sid", SID), ("AccountSid", ACCOUNT), ("Payload", &p)]);
    assert_eq!(decode_form(&body, 0).unwrap().0.timestamp, None);
}

#[test]
fn level_any_case_and_missing_is_error() {
    let p = realistic_payload();
    for (level, expected) in [
        (Some("warning"), Level::Warning),
        (Some("Error"), Level::Error),
        (Some("WARNING"), Level::Warning),
        (Some("debug"), Level::Debug),
        (Some("bogus"), Level::Error),
        (Some(""), Level::Error),
        (None, Level::Error),
    ] {
        let mut pairs = vec![
            ("Sid", SID),
            ("AccountSid", ACCOUNT),
            ("Payload", p.as_str()),
        ];
        if let Some(l) = level {
            pairs.push(("Level", l));
        }
        let (event, _) = decode_form(&form(&pairs), 0).unwrap();
        assert_eq!(event.level, expected, "{level:?}");
    }
}

#[test]
fn parent_account_sid_kept_when_present() {
    let p = realistic_payload();
    let parent = "AC00000000000000000000000000000000";
    let body = form(&[
        ("Sid", SID),
        ("AccountSid", ACCOUNT),
        ("ParentAccountSid", parent),
        ("Payload", &p),
    ]);
    let (event, _) = decode_form(&body, 0).unwrap();
    assert_eq!(event.parent_account_sid.as_deref(), Some(parent));
}

#[test]
fn numeric_error_code_and_null_webhook_pieces() {
    let raw = json!({
        "resource_sid": 12345,
        "service_sid": {"odd": true},
        "error_code": 30003,
        "more_info": null,
        "webhook": {
            "type": null,
            "request": {"method": null, "url": null, "headers": null, "parameters": null},
            "response": {"status_code": "404", "headers": null, "body": {"k": [1, 2]}}
        }
    })
    .to_string();
    let state = parse_payload(&raw).unwrap();
    let p = parsed(&state);
    assert_eq!(p.error_code, ErrorCode(30003));
    assert_eq!(p.resource_sid.as_deref(), Some("12345"));
    assert_eq!(p.service_sid, None);
    assert_eq!(p.more_info, None);
    let wh = p.webhook.as_ref().unwrap();
    assert_eq!(wh.kind, None);
    assert_eq!(wh.request, Some(WebhookRequest::default()));
    let resp = wh.response.as_ref().unwrap();
    assert_eq!(resp.status_code, Some(404));
    assert_eq!(resp.headers, None);
    assert_eq!(resp.body.as_deref(), Some(r#"{"k":[1,2]}"#));

    for webhook in [json!(null), json!("nope"), json!(3)] {
        let raw = json!({"error_code": "11200", "webhook": webhook}).to_string();
        assert_eq!(parsed(&parse_payload(&raw).unwrap()).webhook, None);
    }
    let raw =
        json!({"error_code": "11200", "webhook": {"request": null, "response": []}}).to_string();
    let state = parse_payload(&raw).unwrap();
    let wh = parsed(&state).webhook.as_ref().unwrap();
    assert_eq!((&wh.request, &wh.response), (&None, &None));
}

#[test]
fn status_code_forms() {
    assert_eq!(status_code(json!(502)), Some(502));
    assert_eq!(status_code(json!(" 502 ")), Some(502));
    assert_eq!(status_code(json!(502.0)), Some(502));
    assert_eq!(status_code(json!(502.5)), None);
    assert_eq!(status_code(json!(70000)), None);
    assert_eq!(status_code(json!(-1)), None);
    assert_eq!(status_code(json!("5xx")), None);
    assert_eq!(status_code(json!(null)), None);
}

#[test]
fn missing_sid_names_the_field() {
    let p = realistic_payload();
    let err = decode_form(&form(&[("AccountSid", ACCOUNT), ("Payload", &p)]), 0).unwrap_err();
    assert_eq!(err.field(), "Sid");
    assert_eq!(err.to_string(), "Sid is missing");
    let err = decode_form(&form(&[("Sid", ""), ("AccountSid", ACCOUNT)]), 0).unwrap_err();
    assert_eq!(
        (err.field().as_ref(), err.to_string().as_str()),
        ("Sid", "Sid is missing")
    );
    let err = decode_form(&form(&[("Sid", SID)]), 0).unwrap_err();
    assert_eq!(err.field(), "AccountSid");
}

#[test]
fn malformed_account_sid_names_the_field() {
    let body = form(&[("Sid", SID), ("AccountSid", "AC123")]);
    let err = decode_form(&body, 0).unwrap_err();
    assert_eq!(err.field(), "AccountSid");
    assert_eq!(
        err.to_string(),
        "AccountSid must be two letters followed by 32 hex digits"
    );
    let err = decode_json(
        json!({"Sid": SID, "AccountSid": 7}).to_string().as_bytes(),
        0,
    )
    .unwrap_err();
    assert_eq!(err.field(), "AccountSid");
}

#[test]
fn broken_payload_is_unreadable_with_raw_kept() {
    let raw = r#"{"resource_sid":"CA1","error_code":"#;
    let (event, _) = decode_form(&twilio_form(raw), 0).unwrap();
    assert_eq!(event.raw_payload, raw);
    match &event.payload {
        PayloadState::Unreadable { reason, .. } => {
            assert!(reason.starts_with("Payload is not JSON"), "{reason}")
        }
        other => panic!("{other:?}"),
    }

    let no_code = json!({"resource_sid": CALL, "more_info": {}}).to_string();
    let (event, _) = decode_form(&twilio_form(&no_code), 0).unwrap();
    assert_eq!(
        event.payload,
        PayloadState::Unreadable {
            reason: "Payload has no error_code".into(),
            resource_sid: Some(CALL.into())
        }
    );
    assert_eq!(event.resource_sid(), Some(CALL));
    assert_eq!(event.error_code(), None);

    let bad_code = json!({"error_code": "11x00"}).to_string();
    assert!(matches!(
        parse_payload(&bad_code).unwrap(),
        PayloadState::Unreadable { .. }
    ));
    for raw in ["", "  ", "[1,2]", "\"str\"", "null", "11200"] {
        assert!(
            matches!(parse_payload(raw).unwrap(), PayloadState::Unreadable { .. }),
            "{raw:?}"
        );
    }

    let body = form(&[("Sid", SID), ("AccountSid", ACCOUNT)]);
    let (event, _) = decode_form(&body, 0).unwrap();
    assert_eq!(event.raw_payload, "");
    assert!(matches!(
        &event.payload,
        PayloadState::Unreadable { reason, .. } if reason == "Payload is missing"
    ));
}

#[test]
fn json_body_with_payload_as_object_and_as_string() {
    let payload: Value = serde_json::from_str(&realistic_payload()).unwrap();
    let as_object = json!({
        "Sid": SID,
        "AccountSid": ACCOUNT,
        "Level": "WARNING",
        "TimeStamp": "2024-05-01T12:34:56Z",
        "PayloadType": "application/json",
        "Payload": payload,
    });
    let event = decode_json(as_object.to_string().as_bytes(), 7).unwrap();
    assert_eq!(event.level, Level::Warning);
    assert_eq!(event.timestamp.as_deref(), Some("2024-05-01T12:34:56Z"));
    assert_eq!(event.error_code(), Some(ErrorCode(11200)));
    assert_eq!(
        serde_json::from_str::<Value>(&event.raw_payload).unwrap(),
        payload
    );

    let as_string = json!({
        "sid": SID,
        "accountSid": ACCOUNT,
        "payload": realistic_payload(),
    });
    let event2 = decode_json(as_string.to_string().as_bytes(), 7).unwrap();
    assert_eq!(event2.raw_payload, realistic_payload());
    assert_eq!(event2.payload, event.payload);
    assert_eq!(event2.level, Level::Error);

    let event3 = decode_json(
        json!({"Sid": SID, "AccountSid": ACCOUNT, "Payload": null})
            .to_string()
            .as_bytes(),
        0,
    )
    .unwrap();
    assert!(matches!(event3.payload, PayloadState::Unreadable { .. }));
}

#[test]
fn json_body_errors() {
    for body in [&b"[]"[..], b"\"x\"", b"null", b"{", b"", b"\xff\xfe"] {
        let err = decode_json(body, 0).unwrap_err();
        assert_eq!(err.field(), "body", "{body:?}");
    }
    let err = decode_json(json!({"AccountSid": ACCOUNT}).to_string().as_bytes(), 0).unwrap_err();
    assert_eq!(err.field(), "Sid");
}

#[test]
fn hostile_strings_survive_byte_for_byte() {
    let hostile =
        "\"quoted\" 'single' \\ back\nnew line\r\n\t<!channel> @here <script>&amp; 🔥🚨 ünï";
    // SID-like fields are capped at 64 characters; a hostile one within it.
    let short = "\"q\" 'q' \\ \n\r\t<!channel> @here <b>&amp; 🔥 ü";
    let raw = json!({
        "error_code": "11200",
        "resource_sid": short,
        "more_info": {"Msg": hostile},
        "webhook": {"response": {"body": hostile}}
    })
    .to_string();
    let body = form(&[
        ("Sid", SID),
        ("AccountSid", ACCOUNT),
        ("Timestamp", hostile),
        ("ParentAccountSid", short),
        ("Payload", &raw),
    ]);
    let (event, pairs) = decode_form(&body, 0).unwrap();
    assert_eq!(event.timestamp.as_deref(), Some(hostile));
    assert_eq!(event.parent_account_sid.as_deref(), Some(short));
    assert_eq!(event.raw_payload, raw);
    assert_eq!(pairs[4].1, raw);
    let p = parsed(&event.payload);
    assert_eq!(p.resource_sid.as_deref(), Some(short));
    assert_eq!(p.more_info.as_ref().unwrap()["Msg"], hostile);
    let resp = p.webhook.as_ref().unwrap().response.as_ref().unwrap();
    assert_eq!(resp.body.as_deref(), Some(hostile));

    let json_body = json!({"Sid": SID, "AccountSid": ACCOUNT, "Payload": raw}).to_string();
    let event = decode_json(json_body.as_bytes(), 0).unwrap();
    assert_eq!(event.raw_payload, raw);
    assert_eq!(parsed(&event.payload).resource_sid.as_deref(), Some(short));
}

#[test]
fn over_long_sid_fields_are_refused_naming_the_field() {
    let long = "CA".to_string() + &"0".repeat(MAX_SID_FIELD_LEN - 1);
    let ok = "CA".to_string() + &"0".repeat(MAX_SID_FIELD_LEN - 2);
    for field in ["resource_sid", "service_sid"] {
        let raw = json!({"error_code": "11200", field: long}).to_string();
        let err = decode_form(&twilio_form(&raw), 0).unwrap_err();
        assert_eq!(err.field(), field);
        assert!(err.to_string().contains("longer than 64"), "{err}");
        let raw = json!({"error_code": "11200", field: ok}).to_string();
        assert!(decode_form(&twilio_form(&raw), 0).is_ok());
    }
    // Capped even when the payload is otherwise unreadable (no error_code).
    let raw = json!({"resource_sid": long}).to_string();
    assert_eq!(
        decode_form(&twilio_form(&raw), 0).unwrap_err().field(),
        "resource_sid"
    );
    let body = form(&[
        ("Sid", SID),
        ("AccountSid", ACCOUNT),
        ("ParentAccountSid", &long),
    ]);
    assert_eq!(
        decode_form(&body, 0).unwrap_err().field(),
        "ParentAccountSid"
    );
    let j = json!({"Sid": SID, "AccountSid": ACCOUNT, "Payload": {"error_code": 1, "service_sid": long}});
    assert_eq!(
        decode_json(j.to_string().as_bytes(), 0)
            .unwrap_err()
            .field(),
        "service_sid"
    );
    // The Sid itself is exactly 34 characters; a 30 KB one is refused as malformed.
    let huge = "NO".to_string() + &"0".repeat(30_000);
    let body = form(&[("Sid", &huge), ("AccountSid", ACCOUNT)]);
    let err = decode_form(&body, 0).unwrap_err();
    assert_eq!(err.field(), "Sid");
    assert!(err.to_string().len() < 100);
    assert_eq!(
        DecodeError::Missing {
            field: "data.account_sid"
        }
        .at(2)
        .field(),
        "[2].data.account_sid"
    );
    assert_eq!(DecodeError::Body("x".into()).at(0).field(), "[0]");
}

#[test]
fn odd_form_bodies_do_not_panic() {
    for body in [
        &b""[..],
        b"&&&==",
        b"Sid=%ZZ&AccountSid",
        b"\xff\xfe=\x00",
        b"Payload=%7B%22error_code%22%3A",
    ] {
        let _ = decode_form(body, 0);
    }
}

proptest::proptest! {
    /// The hand-written form decoder reads every body as `serde_urlencoded` does:
    /// `+`, `%XX`, stray and truncated `%`, empty parts, `=` in values, bytes that
    /// are not UTF-8.
    #[test]
    fn form_pairs_agree_with_serde_urlencoded(
        body in proptest::collection::vec(
            proptest::sample::select(b"ab=&+%%2F0fAz\xc3\xa9\xff \x00".to_vec()),
            0..80,
        )
    ) {
        let ours = form_pairs(&body).unwrap();
        let theirs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap();
        proptest::prop_assert_eq!(ours, theirs);
    }
}

#[test]
fn form_pairs_decode_a_twilio_body() {
    let body = twilio_form(&realistic_payload());
    let theirs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap();
    assert_eq!(form_pairs(&body).unwrap(), theirs);
}

proptest::proptest! {
    /// The Payload is read from its fields' JSON text without building the tree of
    /// the bulky ones; that reads every payload as the tree-based reader does:
    /// odd types, nulls, nesting that is not an object, unknown and repeated keys.
    #[test]
    fn raw_payload_reading_agrees_with_the_tree(
        fields in proptest::collection::vec(
            (
                proptest::sample::select(vec![
                    "resource_sid", "service_sid", "error_code", "more_info", "webhook", "other",
                ]),
                proptest::sample::select(vec![
                    "null", "11200", "\"11200\"", "\"CA0123456789abcdef0123456789abcdef\"", "12.5",
                    "true", "[1,\"a\"]", "[1,\"a\",null]", "[\"x\",{},{},4]", "{}", "{\"Msg\":\"m\"}", "\"\"",
                    "{\"type\":\"application/json\",\"request\":{\"method\":\"POST\",\"url\":\"https://x\",\"headers\":{\"A\":\"b\"},\"parameters\":{\"CallSid\":\"CA1\"}},\"response\":{\"status_code\":502,\"headers\":{},\"body\":\"<b>x</b>\"}}",
                    "{\"request\":\"POST\",\"response\":{\"status_code\":\"404\",\"body\":7,\"headers\":null}}",
                    "{\"request\":{\"method\":1,\"url\":null,\"headers\":[1],\"parameters\":\"p\",\"url\":\"dup\"},\"response\":[]}",
                    "{\"type\":3,\"type\":4}",
                ]),
            ),
            0..7,
        )
    ) {
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
        let raw = format!("{{{}}}", body.join(", "));
        let tree = serde_json::from_str::<Value>(&raw).unwrap();
        proptest::prop_assert_eq!(parse_payload(&raw), payload_from_value(tree), "{}", raw);
    }
}
