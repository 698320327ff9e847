//! SPEC 16: Event Streams CloudEvents and shared-key signatures, end to end.
//! Shared-key requests are signed by Twilio's own Node SDK (npm `twilio`, whose
//! webhook validator implements X-Twilio-Webhooks-Signature-Settings); run
//! scripts/test-deps.sh once to install it.

use crate::helpers::*;
use serde_json::{json, Value};
use std::time::Duration;
use twilert::ingest::signature;

const KEY_ID: &str = "KS00000000000000000000000000000007";
const KEY_SECRET: &str = "shared-key-secret-for-tests";
const SETTINGS: &str = "key=KS00000000000000000000000000000007,algorithm=HMAC_SHA256";

fn config() -> String {
    BASE_CONFIG.replace(
        "auth_tokens = [\"test-auth-token\"]",
        &format!("auth_tokens = [\"test-auth-token\"]\nshared_keys = {{ \"{KEY_ID}\" = \"{KEY_SECRET}\" }}"),
    )
}

fn other(kind: &str) -> Value {
    json!({"specversion": "1.0", "type": kind, "source": "x", "id": "EV1", "data": {"a": 1}})
}

/// Signs with Twilio's Node SDK; returns (url, signature) per case.
fn node_sign(cases: &Value) -> Vec<(String, String)> {
    sdk_signatures(
        "node",
        "twilio_node_sign.js",
        cases,
        "Twilio's Node SDK signer (npm `twilio`)",
    )
}

/// POSTs `body` to the Event Streams path with the query of `signed_url`.
async fn post_events(
    app: &TestApp,
    body: &str,
    signed_url: &str,
    sig: &str,
    settings: Option<&str>,
) -> reqwest::Response {
    let query = signed_url.split_once('?').map_or("", |(_, q)| q);
    let mut req = app
        .http
        .post(format!("{}/twilio/events?{query}", app.address))
        .header("Content-Type", "application/json")
        .header("X-Twilio-Signature", sig)
        .body(body.to_string());
    if let Some(s) = settings {
        req = req.header("X-Twilio-Webhooks-Signature-Settings", s);
    }
    req.send().await.expect("request")
}

/// Signed with the auth token, as Event Streams signs by default.
async fn post_events_signed(app: &TestApp, body: &str) -> reqwest::Response {
    let (url, sig) = signature::sign_json_url(TOKEN, EVENTS_URL, body.as_bytes());
    post_events(app, body, &url, &sig, None).await
}

async fn status_json(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn stored_body(app: &TestApp, sid: &str) -> Option<String> {
    let sid = sid.to_string();
    app.read(move |v| v.event(&sid).expect("read").map(|(_, body)| body))
        .await
}

#[tokio::test]
async fn error_logs_alert_with_code_and_title_other_types_are_ignored() {
    let app = spawn_with(&config(), slack_answering(&[]).await, None).await;
    let body = json!([
        other("com.twilio.eventstreams.test-event"),
        error_log(1, "11200", &call_sid(1)),
        other("com.twilio.messaging.message.delivered"),
        error_log(2, "11205", &call_sid(2)),
        other("com.twilio.messaging.message.delivered"),
    ])
    .to_string();
    let (status, v) = status_json(post_events_signed(&app, &body).await).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["accepted"], 2, "{v}");
    assert_eq!(v["ignored"], 3, "{v}");
    let msgs = app.slack_messages(2, Duration::from_secs(5)).await;
    assert_eq!(msgs.len(), 2);
    let all: String = msgs.iter().map(|m| m.to_string()).collect();
    assert!(
        all.contains("11200") && all.contains("HTTP retrieval failure"),
        "{all}"
    );
    assert!(all.contains("11205") && all.contains(&call_sid(2)), "{all}");
    let m = app.metrics().await;
    assert!(
        m.contains(
            "twilert_events_ignored_total{type=\"com.twilio.messaging.message.delivered\"} 2"
        ) && m.contains(
            "twilert_events_ignored_total{type=\"com.twilio.eventstreams.test-event\"} 1"
        ),
        "{m}"
    );
    // The stored event says which path it came by.
    let row = stored_body(&app, &sid(1)).await.expect("stored");
    assert!(row.contains("\"source\":\"event_streams\""), "{row}");
    app.send_event(3, "11200", &call_sid(3)).await;
    assert!(stored_body(&app, &sid(3))
        .await
        .unwrap()
        .contains("\"source\":\"debugger\""));
    app.stop().await;
}

#[tokio::test]
async fn shared_key_requests_signed_by_twilios_sdk_are_accepted_on_both_paths() {
    let app = spawn_with(&config(), slack_answering(&[]).await, None).await;
    let events = json!([error_log(11, "11200", &call_sid(11))]).to_string();
    let form = event_params(12, "11205", &call_sid(12));
    let signed = node_sign(&json!([
        {"secret": KEY_SECRET, "url": EVENTS_URL, "settings": SETTINGS, "body": events},
        {"secret": KEY_SECRET, "url": PUBLIC_URL, "settings": SETTINGS, "params": form},
        // The same requests with the shared secret but SHA-1 (refused under the header).
        {"secret": KEY_SECRET, "url": EVENTS_URL, "settings": "key=x,algorithm=HMAC_SHA1", "body": events},
        {"secret": KEY_SECRET, "url": PUBLIC_URL, "settings": "", "params": form},
    ]));
    let (events_url, events_sig) = &signed[0];
    let (_, form_sig) = &signed[1];
    // Our signer agrees with the SDK on the form string.
    assert_eq!(
        form_sig,
        &signature::compute_sha256(KEY_SECRET, PUBLIC_URL, &form)
    );

    // Tampered body, same signature: 403 (before anything is stored).
    let tampered = events.replace("11200", "11201");
    let r = post_events(&app, &tampered, events_url, events_sig, Some(SETTINGS)).await;
    assert_eq!(r.status().as_u16(), 403);
    // Unknown key id, and a known id signed with another secret.
    let unknown = SETTINGS.replace("0007", "0008");
    let (status, v) =
        status_json(post_events(&app, &events, events_url, events_sig, Some(&unknown)).await).await;
    assert_eq!(
        (status, v["field"].as_str()),
        (403, Some("X-Twilio-Webhooks-Signature-Settings")),
        "{v}"
    );
    let (url, wrong) = signature::sign_json_url("another-secret", EVENTS_URL, events.as_bytes());
    assert_eq!(
        post_events(&app, &events, &url, &wrong, Some(SETTINGS))
            .await
            .status()
            .as_u16(),
        403
    );
    // Unknown algorithm; SHA-1 under the header (with the shared secret or the auth token).
    for settings in [
        format!("key={KEY_ID},algorithm=HMAC_SHA512"),
        format!("key={KEY_ID},algorithm=HMAC_SHA1"),
        format!("key={KEY_ID}"),
    ] {
        let r = post_events(&app, &events, &signed[2].0, &signed[2].1, Some(&settings)).await;
        assert_eq!(r.status().as_u16(), 403, "{settings}");
        let r = app
            .http
            .post(app.ingest_url())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", &signed[3].1)
            .header("X-Twilio-Webhooks-Signature-Settings", &settings)
            .body(serde_urlencoded::to_string(&form).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403, "form, {settings}");
    }
    let token_sig = signature::compute(TOKEN, PUBLIC_URL, &form);
    let r = app
        .http
        .post(app.ingest_url())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", token_sig)
        .header("X-Twilio-Webhooks-Signature-Settings", SETTINGS)
        .body(serde_urlencoded::to_string(&form).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        403,
        "auth-token SHA-1 under the shared-key header"
    );
    assert!(
        app.slack_messages(1, Duration::from_millis(300))
            .await
            .is_empty(),
        "nothing refused was alerted"
    );

    // The SDK's signatures are accepted: the CloudEvent and the Debugger form.
    let (status, v) =
        status_json(post_events(&app, &events, events_url, events_sig, Some(SETTINGS)).await).await;
    assert_eq!((status, &v["accepted"]), (200, &json!(1)), "{v}");
    let r = app
        .http
        .post(app.ingest_url())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", form_sig)
        .header("X-Twilio-Webhooks-Signature-Settings", SETTINGS)
        .body(serde_urlencoded::to_string(&form).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let msgs = app.slack_messages(2, Duration::from_secs(5)).await;
    assert_eq!(msgs.len(), 2);
    let all: String = msgs.iter().map(|m| m.to_string()).collect();
    assert!(
        all.contains(&call_sid(11)) && all.contains(&call_sid(12)),
        "{all}"
    );
    let m = app.metrics().await;
    assert!(
        m.contains("twilert_events_rejected_total{reason=\"bad_signature\"} 10"),
        "{m}"
    );
    app.stop().await;
}

#[tokio::test]
async fn one_error_by_both_paths_alerts_once_and_a_resent_id_is_not_notified() {
    let app = spawn_with(&config(), slack_answering(&[]).await, None).await;
    // The Debugger webhook first, then Event Streams with the same NO… Sid.
    app.send_event(21, "11200", &call_sid(21)).await;
    let (status, v) = status_json(
        post_events_signed(
            &app,
            &json!([error_log(21, "11200", &call_sid(21))]).to_string(),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, &v["duplicate"], &v["accepted"]),
        (200, &json!(1), &json!(0)),
        "{v}"
    );
    // Event Streams first, then the Debugger webhook.
    post_events_signed(
        &app,
        &json!([error_log(22, "11200", &call_sid(22))]).to_string(),
    )
    .await;
    let r = app
        .post_signed(&event_params(22, "11200", &call_sid(22)))
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "duplicate");
    // No data.sid: the CloudEvent id is the key; a re-sent id is not notified again.
    let mut ce = error_log(23, "11200", &call_sid(23));
    ce["data"].as_object_mut().unwrap().remove("sid");
    ce["id"] = json!("0b7d7a4c-3f2e-4d55-9a51-000000000023");
    let body = json!([ce]).to_string();
    let (_, first) = status_json(post_events_signed(&app, &body).await).await;
    let (_, again) = status_json(post_events_signed(&app, &body).await).await;
    assert_eq!(
        (&first["accepted"], &again["duplicate"]),
        (&json!(1), &json!(1)),
        "{first} {again}"
    );
    // The same event twice in one array: stored once.
    let twice = json!([
        error_log(24, "11200", &call_sid(24)),
        error_log(24, "11200", &call_sid(24))
    ])
    .to_string();
    let (_, v) = status_json(post_events_signed(&app, &twice).await).await;
    assert_eq!(
        (&v["accepted"], &v["duplicate"]),
        (&json!(1), &json!(1)),
        "{v}"
    );

    let msgs = app.slack_messages(4, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let msgs_after = app.slack_messages(5, Duration::from_millis(10)).await;
    assert_eq!(
        (msgs.len(), msgs_after.len()),
        (4, 4),
        "one alert per error"
    );
    let snap = app.snapshot().await;
    assert_eq!((snap.counters.accepted, snap.counters.duplicates), (4, 4));
    app.stop().await;
}

#[tokio::test]
async fn a_store_failure_mid_array_is_503_for_the_whole_array() {
    let app = spawn_with(&config(), slack_answering(&[]).await, None).await;
    // The third event's insert fails (as a full disk would), inside the transaction.
    app.fail_inserts_of(&sid(33)).await;
    let body = json!([
        error_log(31, "11200", &call_sid(31)),
        other("com.twilio.messaging.message.delivered"),
        error_log(32, "11205", &call_sid(32)),
        error_log(33, "11200", &call_sid(33)),
    ])
    .to_string();
    let r = post_events_signed(&app, &body).await;
    assert_eq!(r.status().as_u16(), 503);
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(
        stored_body(&app, &sid(31)).await,
        None,
        "nothing of the array is stored"
    );
    assert!(app
        .slack_messages(1, Duration::from_millis(400))
        .await
        .is_empty());

    // The cause goes away; Twilio's retry of the same array is accepted whole, once.
    app.allow_inserts().await;
    let (status, v) = status_json(post_events_signed(&app, &body).await).await;
    assert_eq!(
        (status, &v["accepted"], &v["duplicate"]),
        (200, &json!(3), &json!(0)),
        "{v}"
    );
    assert_eq!(app.slack_messages(3, Duration::from_secs(5)).await.len(), 3);
    app.stop().await;
}

#[tokio::test]
async fn bad_arrays_are_400_naming_the_event_and_field_and_unsigned_ones_403() {
    let app = spawn_with(&config(), slack_answering(&[]).await, None).await;
    let mut ce = error_log(41, "11200", &call_sid(41));
    ce["data"].as_object_mut().unwrap().remove("account_sid");
    let body = json!([error_log(40, "11200", &call_sid(40)), ce]).to_string();
    let (status, v) = status_json(post_events_signed(&app, &body).await).await;
    assert_eq!(
        (status, v["field"].as_str()),
        (400, Some("[1].data.account_sid")),
        "{v}"
    );
    assert_eq!(stored_body(&app, &sid(40)).await, None, "all or nothing");
    for garbage in ["", "{", "null", "[1]", "\"x\""] {
        let (status, _) = status_json(post_events_signed(&app, garbage).await).await;
        assert_eq!(status, 400, "{garbage:?}");
    }
    // Unsigned, or signed for the Debugger path: 403.
    let body = json!([error_log(42, "11200", &call_sid(42))]).to_string();
    let r = app
        .http
        .post(format!("{}/twilio/events", app.address))
        .header("Content-Type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let (url, sig) = signature::sign_json_url(TOKEN, PUBLIC_URL, body.as_bytes());
    assert_eq!(
        post_events(&app, &body, &url, &sig, None)
            .await
            .status()
            .as_u16(),
        403
    );
    // Form bodies are not what Event Streams sends.
    let r = app
        .http
        .post(format!("{}/twilio/events", app.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("a=b")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    // An empty array is fine.
    assert_eq!(post_events_signed(&app, "[]").await.status().as_u16(), 200);
    app.stop().await;
}

#[tokio::test]
async fn twilert_events_lists_which_path_each_event_came_by() {
    let app = spawn_with(&config(), slack_answering(&[]).await, None).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    let body = json!([error_log(2, "11200", &call_sid(2))]).to_string();
    let (status, v) = status_json(post_events_signed(&app, &body).await).await;
    assert_eq!(status, 200, "{v}");
    let config = app.config_path.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_twilert"))
            .env_clear()
            .arg("--config")
            .arg(&config)
            .args(["events", "--code", "11200", "--output", "json"])
            .output()
            .expect("run twilert events")
    })
    .await
    .expect("join");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page: Value = serde_json::from_slice(&out.stdout).expect("json");
    let seen: Vec<(String, String)> = page["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["sid"].as_str().unwrap_or("").to_string(),
                e["source"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (sid(2), "event_streams".to_string()),
            (sid(1), "debugger".to_string())
        ],
        "newest first, each with its path"
    );
    app.stop().await;
}

/// SPEC 4 and 11: on a channel already over its `max_pending`, the new alerts of
/// one request (one engine batch) are stored as the one digest the next fold would
/// make of them, not a row each; every event still adds up.
#[tokio::test]
async fn new_alerts_of_one_array_on_a_backlogged_channel_are_stored_as_one_digest() {
    let cfg = config().replace(
        "rate_limit = \"1000/s\"\nburst = 1000",
        "rate_limit = \"1/s\"\nburst = 1\nmax_pending = 3",
    );
    let app = spawn_with(&cfg, slack_answering(&[]).await, None).await;
    // Five new groups: one alert goes, four wait; the next tick finds the channel
    // over max_pending = 3 and folds.
    for i in 1..=5 {
        app.send_event(i, "11200", &call_sid(300 + i)).await;
    }
    assert!(
        eventually(Duration::from_secs(3), || async {
            !app.metrics()
                .await
                .contains("twilert_notifications_folded_total{channel=\"slack\"} 0\n")
        })
        .await,
        "the backlog was folded"
    );
    let storm: Vec<Value> = (0..20)
        .map(|i| error_log(40 + i, "11200", &call_sid(400 + i)))
        .collect();
    let (status, v) = status_json(post_events_signed(&app, &json!(storm).to_string()).await).await;
    assert_eq!((status, &v["accepted"]), (200, &json!(20)), "{v}");
    // A batch this size commits its events first and its alerts within 50 ms.
    let read = || {
        let sids: Vec<String> = (40..60).map(sid).collect();
        app.read(move |v| {
            sids.iter()
                .map(|s| v.notifications_of(s).expect("read"))
                .collect::<Vec<_>>()
        })
    };
    assert!(
        eventually(Duration::from_secs(2), || async {
            !read().await[0].is_empty()
        })
        .await,
        "the alerts were written"
    );
    let rows = read().await;
    assert!(
        rows[0].len() == 1 && rows[0][0].is_digest,
        "the first event's row is the digest: {:?}",
        rows[0]
    );
    assert!(
        rows[1..].iter().all(|r| r.is_empty()),
        "no row of its own for the other 19: {rows:?}"
    );
    assert!(
        eventually(Duration::from_secs(10), || async {
            let s = app.snapshot().await;
            s.pending == 0 && s.counters.notified + s.counters.digested == 25
        })
        .await,
        "{:?}",
        app.snapshot().await
    );
    let told: u64 = app
        .slack
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            // A digest says `*20 more events on 20 resources, …*`; an alert is one.
            let body = String::from_utf8_lossy(&r.body).to_string();
            body.split_once(" more event")
                .and_then(|(before, _)| {
                    let digits: String = before
                        .chars()
                        .rev()
                        .take_while(|c| c.is_ascii_digit() || *c == ',')
                        .collect();
                    digits
                        .chars()
                        .rev()
                        .filter(char::is_ascii_digit)
                        .collect::<String>()
                        .parse::<u64>()
                        .ok()
                })
                .unwrap_or(1)
        })
        .sum();
    assert_eq!(told, 25, "what Slack was told adds up");
    app.stop().await;
}
