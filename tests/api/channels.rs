//! SPEC 6, HTTP channels: what Teams, a generic webhook, Discord and PagerDuty
//! receive (asserted on the body wiremock got), and how each answer is classified.

use crate::helpers::*;
use serde_json::Value;
use std::time::{Duration, Instant};
use twilert::clock::ManualClock;
use twilert::render::HOSTILE_TEXT;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// The test app's settings with one channel `ch` (its TOML body `channel`; `{slack}`
/// is the mock's address) routed 112xx events to, with a `window`.
fn config(channel: &str, window: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
workers = 1

[twilio]
public_url = "https://alerts.example.com/twilio/debugger"
auth_tokens = ["test-auth-token"]

[store]
path = "{{dir}}/twilert.db"

[delivery]
initial_backoff = "50ms"
max_backoff = "200ms"
max_attempts = 4
shutdown_grace = "2s"
timeout = "2s"

[defaults]
window = "{window}"

[channels.ch]
{channel}
rate_limit = "1000/s"
burst = 1000

[[routes]]
name = "voice"
error_codes = ["112xx"]
channels = ["ch"]
"#
    )
}

/// A Debugger event whose `Msg` is hostile text (quotes, mentions, markup, braces).
pub(crate) fn hostile_event(n: u32, resource: &str) -> Vec<(String, String)> {
    let mut p = event_params(n, "11200", resource);
    let payload = serde_json::json!({
        "resource_sid": resource,
        "error_code": "11200",
        "more_info": {"Msg": HOSTILE_TEXT},
        "webhook": {
            "request": {"method": "POST", "url": "https://example.com/voice?x=\"<b>", "parameters": {}},
            "response": {"status_code": 502, "body": "</div>@everyone"}
        }
    });
    for (k, v) in p.iter_mut() {
        if k == "Payload" {
            *v = payload.to_string();
        }
    }
    p
}

/// A mock answering `statuses` once each, in order, then `last` for good.
async fn answering(statuses: &[ResponseTemplate], last: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    for s in statuses {
        Mock::given(method("POST"))
            .respond_with(s.clone())
            .up_to_n_times(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .respond_with(last)
        .mount(&server)
        .await;
    server
}

async fn requests(app: &TestApp, n: usize) -> Vec<Request> {
    let _ = wait_for_requests(&app.slack, n, Duration::from_secs(5)).await;
    app.slack.received_requests().await.unwrap_or_default()
}

async fn delivered(app: &TestApp, n: u64) -> bool {
    eventually(Duration::from_secs(5), || async {
        let s = app.snapshot().await;
        s.counters.notified + s.counters.digested >= n && s.pending == 0
    })
    .await
}

async fn dead_lettered(app: &TestApp) -> Vec<twilert::store::DeadLetter> {
    assert!(
        eventually(Duration::from_secs(5), || async {
            app.snapshot().await.counters.dead_lettered == 1
        })
        .await,
        "expected a dead letter"
    );
    app.read(|v| v.dead_letters().expect("dead letters")).await
}

fn json(r: &Request) -> Value {
    serde_json::from_slice(&r.body).expect("the channel received JSON")
}

// ---------------------------------------------------------------- Teams

const TEAMS: &str = r#"kind = "teams"
url = "{slack}/workflows/abc/triggers/manual/paths/invoke?sig=TEAMS-SECRET""#;

#[tokio::test]
async fn teams_receives_an_adaptive_card_1_4_and_202_is_success() {
    let server = answering(&[], ResponseTemplate::new(202)).await;
    let app = spawn_with(&config(TEAMS, "1h"), server, None).await;
    app.post_signed(&hostile_event(1, &call_sid(1))).await;
    let got = requests(&app, 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0]
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    assert!(got[0].body.len() < 28 * 1024, "{} bytes", got[0].body.len());
    let v = json(&got[0]);
    assert_eq!(v["type"], "message");
    assert_eq!(
        v["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &v["attachments"][0]["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    let text = card.to_string();
    assert!(text.contains("11200"), "{text}");
    assert!(text.contains(&call_sid(1)), "{text}");
    // The hostile text arrived as text, inside the card, not as structure or Markdown.
    assert!(text.contains("‹script›alert('x')‹/script›"), "{text}");
    assert!(
        !text.contains("[link](") && !text.contains("*bold*"),
        "{text}"
    );
    assert!(delivered(&app, 1).await);
    // Registered from start; no attempt failed.
    let m = app.metrics().await;
    assert!(
        m.contains("twilert_notifications_failed_total{channel=\"ch\",reason=\"retry\"} 0\n"),
        "{m}"
    );
    app.stop().await;
}

#[tokio::test]
async fn teams_429_is_retried_and_other_4xx_is_permanent() {
    let server = answering(
        &[ResponseTemplate::new(429).insert_header("Retry-After", "0")],
        ResponseTemplate::new(200),
    )
    .await;
    let app = spawn_with(&config(TEAMS, "1h"), server, None).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    assert_eq!(requests(&app, 2).await.len(), 2, "429, then 200");
    assert!(delivered(&app, 1).await);
    app.stop().await;

    let server = answering(&[], ResponseTemplate::new(400).set_body_string("bad card")).await;
    let app = spawn_with(&config(TEAMS, "1h"), server, None).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    let dead = dead_lettered(&app).await;
    assert!(dead[0].last_error.contains("HTTP 400"), "{:?}", dead[0]);
    assert!(!dead[0].last_error.contains("TEAMS-SECRET"));
    assert_eq!(requests(&app, 1).await.len(), 1, "no retry after a 400");
    app.stop().await;
}

// ---------------------------------------------------------------- webhook

const WEBHOOK: &str = r#"kind = "webhook"
url = "{slack}/hooks/PATH-SECRET"
headers = { Authorization = "Bearer hook-secret-123", "X-Team" = "voice" }"#;

#[tokio::test]
async fn webhook_posts_event_route_and_digest_with_headers() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/PATH-SECRET"))
        .and(header("Authorization", "Bearer hook-secret-123"))
        .and(header("X-Team", "voice"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/hooks/PATH-SECRET"))
        .and(header("Authorization", "Bearer hook-secret-123"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let app = spawn_with(&config(WEBHOOK, "1h"), server, None).await;
    app.post_signed(&hostile_event(7, &call_sid(7))).await;
    let got = requests(&app, 2).await;
    assert_eq!(got.len(), 2, "500 is retried, 204 is success");
    let v = json(&got[1]);
    assert_eq!(v["event"]["sid"], sid(7));
    assert_eq!(v["event"]["resource_sid"], call_sid(7));
    assert_eq!(v["route"], "voice");
    assert_eq!(v["channel"], "ch");
    assert_eq!(v["digest"], Value::Null);
    assert_eq!(
        v["event"]["more_info"]["Msg"],
        HOSTILE_TEXT.replace('\u{1b}', "␛"),
        "text kept exactly, control characters shown as control pictures"
    );
    assert_eq!(v["error"]["code"], 11200);
    assert!(delivered(&app, 1).await);
    app.stop().await;
}

#[tokio::test]
async fn webhook_4xx_is_permanent_and_secrets_stay_out_of_the_error() {
    // A receiver that echoes the request's headers in its error.
    let server = answering(
        &[],
        ResponseTemplate::new(401).set_body_string("unauthorized: Bearer hook-secret-123"),
    )
    .await;
    let app = spawn_with(&config(WEBHOOK, "1h"), server, None).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    let dead = dead_lettered(&app).await;
    let err = &dead[0].last_error;
    assert!(err.contains("HTTP 401"), "{err}");
    assert!(
        !err.contains("hook-secret-123") && !err.contains("PATH-SECRET"),
        "{err}"
    );
    assert_eq!(requests(&app, 1).await.len(), 1);
    let m = app.metrics().await;
    assert!(!m.contains("hook-secret-123") && !m.contains("PATH-SECRET"));
    app.stop().await;
}

// ---------------------------------------------------------------- Discord

const DISCORD: &str = r#"kind = "discord"
url = "{slack}/api/webhooks/123/DISCORD-TOKEN""#;

#[tokio::test]
async fn discord_pings_nobody_and_stays_within_limits() {
    let server = answering(&[], ResponseTemplate::new(204)).await;
    let app = spawn_with(&config(DISCORD, "1h"), server, None).await;
    app.post_signed(&hostile_event(1, &call_sid(1))).await;
    let got = requests(&app, 1).await;
    assert_eq!(got.len(), 1);
    let v = json(&got[0]);
    assert_eq!(v["allowed_mentions"], serde_json::json!({"parse": []}));
    let content = v["content"].as_str().expect("content");
    assert!(content.chars().count() <= 2000);
    assert!(content.contains("11200"), "{content}");
    let embeds = v["embeds"].as_array().expect("embeds");
    assert!(!embeds.is_empty() && embeds.len() <= 10);
    let total: usize = embeds
        .iter()
        .map(|e| {
            let s = |p: &str| {
                e.pointer(p)
                    .and_then(Value::as_str)
                    .map_or(0, |s| s.chars().count())
            };
            s("/title")
                + s("/description")
                + s("/footer/text")
                + e["fields"].as_array().map_or(0, |f| {
                    f.iter()
                        .map(|f| {
                            f["name"].as_str().map_or(0, |s| s.chars().count())
                                + f["value"].as_str().map_or(0, |s| s.chars().count())
                        })
                        .sum()
                })
        })
        .sum();
    assert!(total <= 6000, "{total}");
    // Event text cannot ping: the raw @everyone/@here never reaches Discord intact.
    let all = v.to_string();
    assert!(
        !all.contains("@everyone") && !all.contains("@here"),
        "{all}"
    );
    app.stop().await;
}

#[tokio::test]
async fn discord_429_waits_for_the_bodys_retry_after() {
    // No Retry-After header: only the JSON body says how long (0.6 s, far past
    // the 200 ms backoff cap configured here).
    let server = answering(
        &[ResponseTemplate::new(429).set_body_json(serde_json::json!({
            "message": "You are being rate limited.", "retry_after": 0.6, "global": false
        }))],
        ResponseTemplate::new(204),
    )
    .await;
    let app = spawn_with(&config(DISCORD, "1h"), server, None).await;
    let started = Instant::now();
    app.send_event(1, "11200", &call_sid(1)).await;
    let got = requests(&app, 2).await;
    assert_eq!(got.len(), 2, "429, then delivered");
    assert!(delivered(&app, 1).await);
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "retried after {:?}",
        started.elapsed()
    );
    app.stop().await;

    let server = answering(
        &[],
        ResponseTemplate::new(404).set_body_string("Unknown Webhook"),
    )
    .await;
    let app = spawn_with(&config(DISCORD, "1h"), server, None).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    let dead = dead_lettered(&app).await;
    assert!(!dead[0].last_error.contains("DISCORD-TOKEN"));
    assert!(app
        .metrics()
        .await
        .contains("twilert_channel_broken{channel=\"ch\"} 1"));
    app.stop().await;
}

// ---------------------------------------------------------------- PagerDuty

const PAGERDUTY: &str = r#"kind = "pagerduty"
routing_key = "R0UT1NGKEY0000000000000000000000"
url = "{slack}/v2/enqueue""#;

fn pd_accepted() -> ResponseTemplate {
    ResponseTemplate::new(202).set_body_json(serde_json::json!({
        "status": "success", "message": "Event processed", "dedup_key": "x"
    }))
}

#[tokio::test]
async fn pagerduty_triggers_with_routing_key_and_the_group_as_dedup_key() {
    let clock = ManualClock::new(1_700_000_000_000);
    let server = answering(&[], pd_accepted()).await;
    let app = spawn_with(&config(PAGERDUTY, "1m"), server, Some(clock.clone())).await;
    let res = call_sid(3);
    app.send_event(1, "11200", &res).await;
    let first = requests(&app, 1).await;
    assert_eq!(first.len(), 1);
    for i in 2..=4 {
        clock.advance_ms(1_000);
        app.send_event(i, "11200", &res).await;
    }
    clock.advance_ms(60_000);
    let got = requests(&app, 2).await;
    assert_eq!(got.len(), 2, "the alert, then the window's digest");
    let (a, d) = (json(&got[0]), json(&got[1]));
    for v in [&a, &d] {
        assert_eq!(v["routing_key"], "R0UT1NGKEY0000000000000000000000");
        assert_eq!(v["event_action"], "trigger");
        assert_eq!(v["payload"]["severity"], "error", "from the ERROR level");
        assert!(v["payload"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("11200") || s.to_lowercase().contains("http")));
    }
    let key = a["dedup_key"].as_str().expect("dedup_key");
    assert!(key.starts_with("voice"), "the group key: {key}");
    assert_eq!(d["dedup_key"], a["dedup_key"], "one incident per group");
    // The digest speaks for the group's four events (the alert and three more).
    assert_eq!(d["payload"]["custom_details"]["count"], 4);
    assert_eq!(a["payload"]["custom_details"]["count"], 1);
    assert!(delivered(&app, 4).await);
    app.stop().await;
}

#[tokio::test]
async fn pagerduty_retries_429_and_5xx_and_400_is_permanent() {
    let server = answering(
        &[ResponseTemplate::new(429), ResponseTemplate::new(503)],
        pd_accepted(),
    )
    .await;
    let app = spawn_with(&config(PAGERDUTY, "1h"), server, None).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    assert_eq!(requests(&app, 3).await.len(), 3, "429, 503, 202");
    assert!(delivered(&app, 1).await);
    app.stop().await;

    let server = answering(
        &[],
        ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "status": "invalid event", "message": "Event object is invalid",
            "errors": ["routing_key R0UT1NGKEY0000000000000000000000 is unknown"]
        })),
    )
    .await;
    let app = spawn_with(&config(PAGERDUTY, "1h"), server, None).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    let dead = dead_lettered(&app).await;
    let err = &dead[0].last_error;
    assert!(
        err.contains("HTTP 400") && err.contains("invalid event"),
        "{err}"
    );
    assert!(
        !err.contains("R0UT1NGKEY"),
        "the routing key is scrubbed: {err}"
    );
    assert_eq!(requests(&app, 1).await.len(), 1, "a 400 is not retried");
    app.stop().await;
}
