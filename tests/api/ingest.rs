//! SPEC 2: what Twilio's request gets back, and what reaches Slack.

use crate::helpers::*;
use std::time::Duration;

#[tokio::test]
async fn signed_event_becomes_a_slack_block_kit_alert() {
    let app = spawn_app().await;
    app.send_event(1, "11200", &call_sid(7)).await;
    let msgs = app.slack_messages(1, Duration::from_secs(5)).await;
    assert_eq!(msgs.len(), 1, "one alert");
    let m = &msgs[0];
    let text = m["text"].as_str().expect("text fallback");
    assert!(
        text.contains("11200") && text.contains("HTTP retrieval failure"),
        "{text}"
    );
    let blocks = m["blocks"].as_array().expect("blocks");
    assert_eq!(blocks[0]["type"], "header");
    // The rest sits in an attachment whose bar has the level's colour.
    let att = &m["attachments"][0];
    assert_eq!(att["color"], "#d92d20");
    assert!(att["blocks"].as_array().is_some_and(|b| b.len() >= 3));
    let all = m.to_string();
    assert!(all.contains(&call_sid(7)), "resource shown");
    assert!(
        all.contains("POST example.com/voice → 502"),
        "failing webhook and status shown on one line"
    );
    assert!(
        all.contains("https://www.twilio.com/docs/api/errors/11200"),
        "docs link"
    );
    app.stop().await;
}

async fn json_body(r: reqwest::Response) -> (u16, serde_json::Value) {
    let status = r.status().as_u16();
    let v = r.json().await.unwrap_or(serde_json::Value::Null);
    (status, v)
}

#[tokio::test]
async fn every_documented_status() {
    let app = spawn_app().await;
    let good = event_params(2, "11200", &call_sid(1));

    // 403: no signature, wrong signature, signature over other params.
    let (s, v) = json_body(app.post_form(&good, None).await).await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["field"], "X-Twilio-Signature");
    let (s, _) = json_body(
        app.post_form(&good, Some("RSOYDt4T1cUTdK1PDd93/VVr8B8="))
            .await,
    )
    .await;
    assert_eq!(s, 403);
    let sig = twilert::ingest::signature::compute(TOKEN, PUBLIC_URL, &good);
    let mut tampered = good.clone();
    tampered[4].1 = "WARNING".into();
    let (s, _) = json_body(app.post_form(&tampered, Some(&sig)).await).await;
    assert_eq!(s, 403, "a changed parameter breaks the signature");
    let other = twilert::ingest::signature::compute("another-token", PUBLIC_URL, &good);
    let (s, _) = json_body(app.post_form(&good, Some(&other)).await).await;
    assert_eq!(s, 403, "another account's token");

    // 400: missing / malformed Sid and AccountSid, signed (so it is not a 403).
    let mut no_sid = good.clone();
    no_sid.retain(|(k, _)| k != "Sid");
    let (s, v) = json_body(app.post_signed(&no_sid).await).await;
    assert_eq!((s, v["field"].as_str()), (400, Some("Sid")), "{v}");
    let mut bad_account = good.clone();
    bad_account[1].1 = "AC123".into();
    let (s, v) = json_body(app.post_signed(&bad_account).await).await;
    assert_eq!((s, v["field"].as_str()), (400, Some("AccountSid")), "{v}");
    assert!(v["error"].as_str().unwrap_or("").contains("AccountSid"));

    // 415: other content types.
    let r = app
        .http
        .post(app.ingest_url())
        .header("Content-Type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    let (s, v) = json_body(r).await;
    assert_eq!((s, v["field"].as_str()), (415, Some("Content-Type")), "{v}");
    let r = app
        .http
        .post(app.ingest_url())
        .body("no type")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);

    // 413: over server.max_body_bytes (64 KiB default), announced or streamed.
    let mut big = good.clone();
    big[6].1 = "x".repeat(70 * 1024);
    let (s, v) = json_body(app.post_signed(&big).await).await;
    assert_eq!(s, 413, "{v}");
    assert!(v["error"].as_str().unwrap_or("").contains("max_body_bytes"));

    // 200, then 200 again for the same Sid (Twilio retry), notified once.
    let (s, v) = json_body(app.post_signed(&good).await).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("accepted")), "{v}");
    let (s, v) = json_body(app.post_signed(&good).await).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("duplicate")), "{v}");
    let msgs = app.slack_messages(1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.slack.received_requests().await.unwrap().len(),
        1,
        "duplicate not notified: {msgs:?}"
    );

    // Rejections are counted by reason.
    let m = app.metrics().await;
    assert!(
        m.contains("twilert_events_rejected_total{reason=\"bad_signature\"} 4"),
        "{m}"
    );
    assert!(m.contains("twilert_events_duplicate_total 1"), "{m}");
    app.stop().await;
}

#[tokio::test]
async fn json_form_with_body_hash_and_port_variants() {
    let app = spawn_app().await;
    let body = serde_json::json!({
        "Sid": sid(3), "AccountSid": ACCOUNT, "Level": "error", "Timestamp": "2026-11-26T10:00:00Z",
        "PayloadType": "application/json",
        "Payload": {"resource_sid": call_sid(3), "service_sid": null, "error_code": 11205, "webhook": null}
    })
    .to_string();
    let (url, sig) = twilert::ingest::signature::sign_json_url(TOKEN, PUBLIC_URL, body.as_bytes());
    let query = url.split_once('?').map(|(_, q)| q.to_string()).unwrap();
    let post = |q: String, sig: String, body: String| {
        let app_url = format!("{}?{}", app.ingest_url(), q);
        let http = app.http.clone();
        async move {
            http.post(app_url)
                .header("Content-Type", "application/json")
                .header("X-Twilio-Signature", sig)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    // A different body with the same hash/signature: 403.
    let r = post(query.clone(), sig.clone(), body.replace("11205", "11206")).await;
    assert_eq!(r.status().as_u16(), 403);
    let r = post(query.clone(), sig.clone(), body.clone()).await;
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    let msgs = app.slack_messages(1, Duration::from_secs(5)).await;
    assert!(msgs[0].to_string().contains("11205"));

    // Signed over the URL with :443 (as some SDKs do): still accepted.
    let params = event_params(4, "11200", &call_sid(4));
    let sig443 = twilert::ingest::signature::compute(
        TOKEN,
        "https://alerts.example.com:443/twilio/debugger",
        &params,
    );
    let r = app.post_form(&params, Some(&sig443)).await;
    assert_eq!(r.status().as_u16(), 200);
    app.stop().await;
}

#[tokio::test]
async fn tolerant_parsing_and_broken_payload_still_alerts() {
    let app = spawn_app().await;
    // TimeStamp (older docs), level in lower case, numeric error_code, null webhook parts.
    let mut p = event_params(5, "11200", &call_sid(5));
    p[3].0 = "TimeStamp".into();
    p[3].1 = "2026-11-26T10:00:00Z".into();
    p[4].1 = "error".into();
    p[6].1 = serde_json::json!({"resource_sid": call_sid(5), "service_sid": null, "error_code": 11200,
        "more_info": {"msg": "lower-case key"},
        "webhook": {"type": null, "request": {"method": null, "url": null, "headers": null, "parameters": null}, "response": null}})
    .to_string();
    let r = app.post_signed(&p).await;
    assert_eq!(r.status().as_u16(), 200);

    // A broken Payload goes to routes without error_codes: add a catch-all via defaults.
    let mut broken = event_params(6, "11200", &call_sid(6));
    broken[6].1 = "{not json".into();
    let r = app.post_signed(&broken).await;
    assert_eq!(
        r.status().as_u16(),
        200,
        "a malformed payload is still accepted"
    );
    let msgs = app.slack_messages(1, Duration::from_secs(5)).await;
    assert_eq!(msgs.len(), 1);
    // The voice route has error_codes, so the broken one is unrouted (no defaults here) — counted.
    let snap = app.snapshot().await;
    assert_eq!(snap.counters.unrouted, 1);
    assert_eq!(snap.counters.accepted, 2);
    app.stop().await;
}

#[tokio::test]
async fn broken_payload_alert_says_so() {
    let slack = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&slack)
        .await;
    let cfg = BASE_CONFIG.replace("[defaults]\n", "[defaults]\nchannels = [\"slack\"]\n");
    let app = spawn_with(&cfg, slack, None).await;
    let mut broken = event_params(7, "11200", &call_sid(7));
    broken[6].1 = "{\"resource_sid\": \"CA1\", \"error_code\": ".into();
    assert_eq!(app.post_signed(&broken).await.status().as_u16(), 200);
    let msgs = app.slack_messages(1, Duration::from_secs(5)).await;
    let all = msgs[0].to_string().to_lowercase();
    assert!(all.contains("unreadable"), "{all}");
    app.stop().await;
}

#[tokio::test]
async fn hostile_event_text_cannot_ping_or_break_the_payload() {
    let app = spawn_app().await;
    let mut p = event_params(8, "11200", &call_sid(8));
    p[6].1 = serde_json::json!({"resource_sid": call_sid(8), "error_code": "11200",
        "more_info": {"Msg": "<!channel> @here \"}]} </div><script>alert(1)</script> \\ \n 🚨"},
        "webhook": {"request": {"method": "POST", "url": "https://x.example/<!everyone>"}, "response": {"status_code": 500, "body": "<!here>"}}})
    .to_string();
    assert_eq!(app.post_signed(&p).await.status().as_u16(), 200);
    let msgs = app.slack_messages(1, Duration::from_secs(5)).await;
    let raw = msgs[0].to_string();
    for ping in ["<!channel>", "<!here>", "<!everyone>"] {
        assert!(!raw.contains(ping), "{ping} survived: {raw}");
    }
    assert!(msgs[0]["blocks"].is_array(), "layout kept");
    app.stop().await;
}

#[tokio::test]
async fn never_a_500_for_garbage() {
    let app = spawn_app().await;
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("application/x-www-form-urlencoded", b"%%%&&&===".to_vec()),
        (
            "application/x-www-form-urlencoded",
            vec![0xff, 0xfe, 0x00, 0x01],
        ),
        ("application/json", b"[1,2,3]".to_vec()),
        ("application/json", b"{\"Sid\": 5}".to_vec()),
        (
            "application/json; charset=utf-8",
            b"\"just a string\"".to_vec(),
        ),
        ("application/x-www-form-urlencoded", Vec::new()),
    ];
    for (ct, body) in bodies {
        let r = app
            .http
            .post(app.ingest_url())
            .header("Content-Type", ct)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        assert!((400..500).contains(&s), "{ct} {body:?} → {s}");
    }
    // Unsigned requests are refused as unsigned even when also malformed.
    let r = app.post_form(&[("Sid".into(), "x".into())], None).await;
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(
        app.http
            .get(format!("{}/healthz", app.address))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        app.http
            .get(format!("{}/readyz", app.address))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn store_unavailable_is_503_with_retry_after() {
    let app = spawn_app().await;
    // The writer is gone (as when the disk fails): nothing can be stored.
    app.control.dispatcher.stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = app
        .post_signed(&event_params(9, "11200", &call_sid(9)))
        .await;
    assert_eq!(r.status().as_u16(), 503);
    assert!(r.headers().get("retry-after").is_some());
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(
        v["error"].as_str().unwrap().contains("could not be stored"),
        "{v}"
    );
    app.stop().await;
}
