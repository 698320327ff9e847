//! Not a check: what `scripts/render-previews.sh` turns into the pictures in the
//! README and docs/ALERTS.md. Three events through the real app to Slack, Teams
//! (wiremock) and email (the test SMTP sink): a realistic 11200 alert, the
//! digest of 16 such events over 6 calls, and a hostile event. The payloads the
//! channels received are written to `$TWILERT_PREVIEW_DIR` as
//! `{alert,digest,hostile}.{slack,teams,email}.json`.
//!
//! And a living alert (Slack app mode, SPEC 13) through the real app to the fake
//! Slack Web API: the first alert, 15 more events, the window's digest (a thread
//! reply and the parent's edit), then quiet until it resolves (the last edit):
//! `living-{parent,reply,resolved}.slack.json`.

use crate::email::sink::Sink;
use crate::email::{config, Parsed};
use crate::helpers::*;
use serde_json::Value;
use std::time::Duration;
use twilert::clock::ManualClock;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const ACCOUNT_SID: &str = "AC8d3f2a1b9c7e6d5f4a3b2c1d0e9f8a7b";

fn params(
    sid: &str,
    code: &str,
    call: &str,
    msg: &str,
    url: &str,
    status: u16,
) -> Vec<(String, String)> {
    let payload = serde_json::json!({
        "resource_sid": call,
        "service_sid": null,
        "error_code": code,
        "more_info": {"Msg": msg, "sourceComponent": "12000"},
        "webhook": {
            "type": "application/x-www-form-urlencoded",
            "request": {"method": "POST", "url": url,
                        "headers": {"X-Twilio-Signature": "c2lnbmF0dXJlLXNlY3JldA==", "Content-Type": "application/x-www-form-urlencoded"},
                        "parameters": {"CallSid": call, "From": "+15551230000", "To": "+15557654321"}},
            "response": {"status_code": status, "headers": {}, "body": "<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"}
        }
    });
    [
        ("Sid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("ParentAccountSid", ""),
        ("Timestamp", "2026-03-12T06:47:50.512Z"),
        ("Level", "ERROR"),
        ("PayloadType", "application/json"),
        ("Payload", &payload.to_string()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn call(i: u32) -> String {
    format!("CA3f9e1b7c2d4a6e8f0b1c3d5e7f9a{i:04x}")
}

fn event_sid(i: u32) -> String {
    format!("NO5c2a9d1e8f7b4a6c3d2e1f0a9b8c{i:04x}")
}

/// The payload among `got` whose text contains `needle`.
fn pick<'a>(got: &'a [Value], needle: &str) -> &'a Value {
    got.iter()
        .find(|v| v.to_string().contains(needle))
        .unwrap_or_else(|| panic!("no payload with {needle:?}"))
}

#[tokio::test]
#[ignore = "writes preview inputs; run by scripts/render-previews.sh"]
async fn previews_for_the_docs() {
    let Ok(out) = std::env::var("TWILERT_PREVIEW_DIR") else {
        panic!("set TWILERT_PREVIEW_DIR (scripts/render-previews.sh does)");
    };
    let out = std::path::PathBuf::from(out);
    std::fs::create_dir_all(&out).expect("preview dir");
    let sink = Sink::start().await;
    let slack = MockServer::start().await;
    let teams = MockServer::start().await;
    for (server, status) in [(&slack, 200), (&teams, 202)] {
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_string("ok"))
            .mount(server)
            .await;
    }
    let text = config(sink.port, "1m")
        .replace(
            "[channels.mail]",
            &format!(
                "[channels.slack]\nkind = \"slack\"\nurl = \"{{slack}}/services/T/B/X\"\n\n\
                 [channels.teams]\nkind = \"teams\"\nurl = \"{}/workflows/x\"\n\n[channels.mail]",
                teams.uri()
            ),
        )
        .replace(
            "channels = [\"mail\"]",
            "channels = [\"slack\", \"teams\", \"mail\"]\ngroup_by = [\"error_code\"]",
        )
        .replace(
            "error_codes = [\"112xx\"]",
            "error_codes = [\"112xx\", \"12100\"]",
        )
        .replace("name = \"voice\"", "name = \"voice-webhooks\"");
    let clock = ManualClock::new(1_773_298_070_000); // 2026-03-12T06:47:50Z
    let app = spawn_with(&text, slack, Some(clock.clone())).await;
    let url = "https://voice.example.com/answer";
    let msg = "An attempt to retrieve content from https://voice.example.com/answer returned the HTTP status code 404";

    // 1. The alert; then 15 more of the same code over six calls: the digest.
    app.post_signed(&params(&event_sid(1), "11200", &call(2), msg, url, 404))
        .await;
    for i in 2..=16u32 {
        clock.advance_ms(200);
        app.post_signed(&params(
            &event_sid(i),
            "11200",
            &call(1 + i % 6),
            msg,
            url,
            404,
        ))
        .await;
    }
    // 2. A hostile event (another code, so its own alert).
    let hostile = "Reset needed: [Reset your Twilio password](https://evil.example/login) \
        <https://evil.example|click here> *URGENT* ```rm -rf``` @here <!channel> \u{202E}gnp.exe\u{7}";
    app.post_signed(&params(
        &event_sid(99),
        "12100",
        &call(99),
        hostile,
        "https://voice.example.com/twiml?next=<script>",
        200,
    ))
    .await;
    clock.advance_ms(61_000);
    let mail = sink.wait_for(3, Duration::from_secs(8)).await;
    let slack_got = wait_for_requests(&app.slack, 3, Duration::from_secs(8)).await;
    let teams_got = wait_for_requests(&teams, 3, Duration::from_secs(8)).await;
    assert!(mail.len() >= 3 && slack_got.len() >= 3 && teams_got.len() >= 3);
    let mail: Vec<Value> = mail.iter().map(|m| Parsed::of(m).v).collect();
    let pretty = |v: &Value| serde_json::to_string_pretty(v).expect("json");
    for (name, needle_alert) in [
        ("alert", "11200 HTTP retrieval failure"),
        ("digest", "16×"),
        ("hostile", "12100"),
    ] {
        let choose = |got: &[Value]| -> Value {
            match name {
                // The alert: 11200 without a count.
                "alert" => got
                    .iter()
                    .find(|v| {
                        let s = v.to_string();
                        s.contains(needle_alert) && !s.contains("16×")
                    })
                    .cloned()
                    .expect("alert"),
                _ => pick(got, needle_alert).clone(),
            }
        };
        std::fs::write(
            out.join(format!("{name}.slack.json")),
            pretty(&choose(&slack_got)),
        )
        .expect("write");
        std::fs::write(
            out.join(format!("{name}.teams.json")),
            pretty(&choose(&teams_got)),
        )
        .expect("write");
        std::fs::write(
            out.join(format!("{name}.email.json")),
            pretty(&choose(&mail)),
        )
        .expect("write");
    }
    app.stop().await;
}

/// Slack app mode, one group per error code, resolved after 10 quiet minutes.
fn living_config() -> String {
    format!(
        r##"
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
shutdown_grace = "2s"
timeout = "5s"

[defaults]
window = "1m"

[channels.slack]
kind = "slack"
bot_token = "{}"
channel = "#alerts"
api_url = "{{slack}}/api"
update_interval = "1s"
rate_limit = "1000/s"
burst = 1000

[[routes]]
name = "voice-webhooks"
error_codes = ["112xx"]
channels = ["slack"]
group_by = ["error_code"]
resolve_after = "10m"
"##,
        crate::fake_slack::BOT_TOKEN
    )
}

#[tokio::test]
#[ignore = "writes preview inputs; run by scripts/render-previews.sh"]
async fn living_alert_previews_for_the_docs() {
    let Ok(out) = std::env::var("TWILERT_PREVIEW_DIR") else {
        panic!("set TWILERT_PREVIEW_DIR (scripts/render-previews.sh does)");
    };
    let out = std::path::PathBuf::from(out);
    std::fs::create_dir_all(&out).expect("preview dir");
    let (slack, server) = crate::fake_slack::FakeSlack::start().await;
    let clock = ManualClock::new(1_773_298_070_000); // 2026-03-12T06:47:50Z
    let app = spawn_with(&living_config(), server, Some(clock.clone())).await;
    let url = "https://voice.example.com/answer";
    let msg = "An attempt to retrieve content from https://voice.example.com/answer returned the HTTP status code 404";

    // The alert (posted), then 15 more over six calls within its window.
    app.post_signed(&params(&event_sid(1), "11200", &call(2), msg, url, 404))
        .await;
    slack
        .wait("chat.postMessage", 1, Duration::from_secs(5))
        .await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            app.snapshot().await.counters.notified >= 1
        })
        .await,
        "the first alert is settled (the group holds its ts)"
    );
    for i in 2..=16u32 {
        clock.advance_ms(200);
        app.post_signed(&params(
            &event_sid(i),
            "11200",
            &call(1 + i % 6),
            msg,
            url,
            404,
        ))
        .await;
    }
    // The window closes: the digest in the thread, the alert edited.
    clock.advance_ms(61_000);
    app.control.dispatcher.tick().await;
    slack.wait("chat.update", 1, Duration::from_secs(5)).await;
    // Quiet for 10 minutes: resolved, the alert edited once more.
    clock.advance_ms(11 * 60_000);
    app.control.dispatcher.tick().await;
    let updates = slack.wait("chat.update", 2, Duration::from_secs(5)).await;
    let replies = slack.replies();
    assert_eq!(
        (replies.len(), updates.len()),
        (1, 2),
        "{:?}",
        slack.calls()
    );
    let pretty = |v: &Value| serde_json::to_string_pretty(v).expect("json");
    for (name, call) in [
        ("parent", &updates[0]),
        ("reply", &replies[0]),
        ("resolved", &updates[1]),
    ] {
        std::fs::write(
            out.join(format!("living-{name}.slack.json")),
            pretty(&call.body),
        )
        .expect("write");
    }
    app.stop().await;
}
