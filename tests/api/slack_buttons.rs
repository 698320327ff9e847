//! SPEC 14's Slack buttons, end to end: a real Slack-app alert posted to the fake
//! Slack Web API ([`crate::fake_slack`]) carries "Silence 1h", "Silence until
//! quiet" and "Acknowledge"; the interactivity request Slack would send for a
//! press (`payload=<block_actions JSON>`, signed with the signing secret as Slack
//! signs, one signature cross-checked with Slack's own SDK) is POSTed to
//! `/slack/actions` on the public listener: the silence is created (the admin
//! API shows it, authored by the Slack user), later matching events are counted
//! `silenced` and not sent, and the message is edited to say who did it.
//! "Acknowledge" stops the group's digests until it resolves. Bad, stale and
//! missing signatures are 401, a malformed payload 400 naming the field, and
//! without `[slack] signing_secret` there are no buttons and the path is 404.

use crate::fake_slack::*;
use crate::helpers::*;
use serde_json::{json, Value};
use std::time::Duration;
use twilert::clock::{Clock, ManualClock};
use twilert::ingest::slack_signature::sign;

const SIGNING_SECRET: &str = "e2f7c1a9b3d84f0c9a6b5e4d3c2b1a09";
const ADMIN_TOKEN: &str = "admin-token-buttons-0123456789";
const T0: i64 = 1_700_000_000_000;
/// The first alert's `ts`, as the fake answers it.
const FIRST_TS: &str = "1700000000.000100";

fn config(signing_secret: bool) -> String {
    let slack = if signing_secret {
        format!("\n[slack]\nsigning_secret = \"{SIGNING_SECRET}\"\n")
    } else {
        String::new()
    };
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
max_attempts = 4
shutdown_grace = "2s"
timeout = "2s"

[defaults]
window = "1m"

[admin]
listen = "127.0.0.1:0"
tokens = ["{ADMIN_TOKEN}"]
reload_interval = "0s"
{slack}
[channels.slack]
kind = "slack"
bot_token = "{BOT_TOKEN}"
channel = "#alerts"
api_url = "{{slack}}/api"
update_interval = "1s"
rate_limit = "1000/s"
burst = 1000

[[routes]]
name = "voice"
error_codes = ["112xx"]
channels = ["slack"]
group_by = ["error_code"]
resolve_after = "10m"
"##
    )
}

async fn start(signing_secret: bool) -> (FakeSlack, ManualClock, TestApp) {
    let (slack, server) = FakeSlack::start().await;
    let clock = ManualClock::new(T0);
    let app = spawn_with(&config(signing_secret), server, Some(clock.clone())).await;
    (slack, clock, app)
}

/// The actions block of ours in a posted message, if any.
fn our_actions(body: &Value) -> Option<Value> {
    let atts = body["attachments"].as_array().cloned().unwrap_or_default();
    body["blocks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .chain(
            atts.iter()
                .flat_map(|a| a["blocks"].as_array().cloned().unwrap_or_default()),
        )
        .find(|b| b["block_id"] == "twilert_actions")
}

/// What Slack sends when `user` presses button `action_id` on the message
/// `posted` (a `chat.postMessage` body the fake answered with [`FIRST_TS`]).
fn interaction(app: &TestApp, posted: &Value, action_id: &str) -> Value {
    let actions = our_actions(posted).expect("the alert has twilert's buttons");
    let button = actions["elements"]
        .as_array()
        .expect("buttons")
        .iter()
        .find(|b| b["action_id"] == action_id)
        .unwrap_or_else(|| panic!("no button {action_id} in {actions}"))
        .clone();
    json!({
        "type": "block_actions",
        "user": {"id": "U0ANN42", "username": "ann", "name": "ann", "team_id": "T0TWILERT"},
        "api_app_id": "A0TWILERT",
        "token": "verification-token-deprecated",
        "container": {"type": "message", "message_ts": FIRST_TS, "channel_id": CHANNEL_ID, "is_ephemeral": false},
        "trigger_id": "1234567890.123.abcdef",
        "team": {"id": "T0TWILERT", "domain": "example"},
        "enterprise": null,
        "is_enterprise_install": false,
        "channel": {"id": CHANNEL_ID, "name": "alerts"},
        "message": {
            "type": "message", "subtype": "bot_message", "bot_id": "B0TWILERT",
            "text": posted["text"], "blocks": posted["blocks"], "attachments": posted["attachments"],
            "ts": FIRST_TS,
        },
        "state": {"values": {}},
        "response_url": format!("{}{RESPONSE_PATH}1/responsetoken", app.slack.uri()),
        "actions": [{
            "action_id": action_id, "block_id": "twilert_actions", "text": button["text"],
            "value": button["value"], "type": "button", "action_ts": "1700000001.000200",
        }],
    })
}

fn form(payload: &Value) -> String {
    serde_urlencoded::to_string([("payload", payload.to_string())]).expect("form")
}

/// POSTs `body` to `/slack/actions` with these headers.
async fn post_raw(app: &TestApp, body: &str, ts: Option<&str>, sig: Option<&str>) -> (u16, Value) {
    let mut req = app
        .http
        .post(format!("{}/slack/actions", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string());
    if let Some(ts) = ts {
        req = req.header("X-Slack-Request-Timestamp", ts);
    }
    if let Some(sig) = sig {
        req = req.header("X-Slack-Signature", sig);
    }
    let r = req.send().await.expect("POST /slack/actions");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

/// Signed now (the service's clock), as Slack signs.
async fn press(app: &TestApp, clock: &ManualClock, body: &str) -> (u16, Value) {
    let ts = (clock.now_ms() / 1000).to_string();
    let sig = sign(SIGNING_SECRET, &ts, body.as_bytes());
    post_raw(app, body, Some(&ts), Some(&sig)).await
}

async fn admin_get(app: &TestApp, path: &str) -> Value {
    let r = app
        .http
        .get(format!("{}{path}", app.admin_address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("admin GET");
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.expect("JSON")
}

async fn first_alert(slack: &FakeSlack) -> Value {
    let posts = slack
        .wait("chat.postMessage", 1, Duration::from_secs(5))
        .await;
    assert_eq!(posts.len(), 1);
    posts[0].body.clone()
}

/// Closes the window once the first alert is settled (its receipt kept).
async fn advance(app: &TestApp, clock: &ManualClock, ms: i64) {
    assert!(
        eventually(Duration::from_secs(5), || async {
            app.snapshot().await.counters.notified >= 1
        })
        .await,
        "the first alert is not settled"
    );
    clock.advance_ms(ms);
    app.control.dispatcher.tick().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
}

async fn admin_metrics(app: &TestApp) -> String {
    app.http
        .get(format!("{}/metrics", app.admin_address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("text")
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(-1.0)
}

#[tokio::test]
async fn silence_1h_from_a_button_holds_back_the_group_and_the_message_says_who() {
    let (slack, clock, app) = start(true).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    let posted = first_alert(&slack).await;
    // One more in the window before the press: counted for the next digest.
    app.send_event(2, "11200", &call_sid(2)).await;
    let actions = our_actions(&posted).expect("buttons on a Slack app alert");
    let labels: Vec<&str> = actions["elements"]
        .as_array()
        .expect("buttons")
        .iter()
        .map(|b| b["text"]["text"].as_str().expect("label"))
        .collect();
    assert_eq!(labels, ["Silence 1h", "Silence until quiet", "Acknowledge"]);
    let value: Value =
        serde_json::from_str(actions["elements"][0]["value"].as_str().expect("value"))
            .expect("the value is JSON");
    assert_eq!(
        value,
        json!({"channel": "slack", "group": "voice|error_code=11200",
               "silence": {"routes": ["voice"], "error_codes": ["11200"]}})
    );

    // Slack's request for a press of "Silence 1h", signed with the signing secret;
    // Slack's own SDK agrees on its signature and accepts it.
    let body = form(&interaction(&app, &posted, "twilert_silence_1h"));
    let now = clock.now_ms() / 1000;
    let ts = now.to_string();
    let ours = sign(SIGNING_SECRET, &ts, body.as_bytes());
    let sdk = crate::slack_sdk::sdk(&json!([
        {"secret": SIGNING_SECRET, "timestamp": ts, "body": body, "now": now, "signature": ours}
    ]));
    assert_eq!(sdk[0], (ours.clone(), true), "Slack's SDK signs the same");
    let started = std::time::Instant::now();
    let (status, answer) = post_raw(&app, &body, Some(&ts), Some(&ours)).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered within Slack's 3 s"
    );

    // The silence, as the admin API shows it.
    let list = admin_get(&app, "/api/v1/silences").await;
    let silences = list["silences"].as_array().expect("silences");
    assert_eq!(silences.len(), 1, "{list}");
    let s = &silences[0];
    assert_eq!(s["author"], "@ann (U0ANN42)", "{s}");
    assert_eq!(s["error_codes"], json!(["11200"]), "{s}");
    assert_eq!(s["routes"], json!(["voice"]), "{s}");
    assert_eq!(
        s["ends_at"],
        twilert::clock::rfc3339(T0 + 3_600_000).as_str(),
        "{s}"
    );
    let id = s["id"].as_str().expect("id").to_string();

    // The message is edited: the buttons give way to who silenced it.
    let updates = slack.wait("chat.update", 1, Duration::from_secs(5)).await;
    assert_eq!(updates.len(), 1);
    let edit = &updates[0].body;
    assert_eq!(
        (&edit["channel"], &edit["ts"]),
        (&json!(CHANNEL_ID), &json!(FIRST_TS))
    );
    let text = edit.to_string();
    assert!(
        text.contains(&format!(
            "🔕 Silenced for 1h by <@U0ANN42> (silence `{id}`)"
        )),
        "{edit}"
    );
    assert!(our_actions(edit).is_none(), "no buttons left: {edit}");
    assert_eq!(edit["blocks"], posted["blocks"], "the header kept");
    assert_eq!(
        edit["attachments"][0]["blocks"].as_array().map(Vec::len),
        posted["attachments"][0]["blocks"].as_array().map(Vec::len),
        "the alert's blocks kept, the buttons' replaced"
    );
    assert_eq!(edit["text"], posted["text"]);

    // Later events of the group: stored, counted silenced, not sent; the one
    // counted before the press makes no digest either (no reply, and no running
    // total bringing the buttons back).
    for i in 3..=5 {
        app.send_event(i, "11200", &call_sid(i)).await;
    }
    advance(&app, &clock, 61_000).await;
    assert_eq!(slack.of("chat.postMessage").len(), 1, "{:?}", slack.calls());
    assert_eq!(slack.of("chat.update").len(), 1, "{:?}", slack.calls());
    let snap = app.snapshot().await;
    assert_eq!(
        snap.counters.silenced, 4,
        "1 before the press, 3 after: {snap:?}"
    );
    assert_eq!(snap.accounted(), snap.counters.accepted, "{snap:?}");
    let list = admin_get(&app, "/api/v1/silences").await;
    assert_eq!(list["silences"][0]["suppressed"], 3, "{list}");
    // Another code of the route still alerts (with its own buttons).
    app.send_event(6, "11205", &call_sid(6)).await;
    let posts = slack
        .wait("chat.postMessage", 2, Duration::from_secs(5))
        .await;
    assert!(our_actions(&posts[1].body).is_some());
    let m = admin_metrics(&app).await;
    assert_eq!(
        metric(&m, "twilert_slack_actions_total{result=\"done\"}"),
        1.0,
        "{m}"
    );
    assert!(slack.responses().is_empty(), "nothing to tell the presser");
    assert_valid_block_kit(&slack.calls());
    app.stop().await;
}

#[tokio::test]
async fn silence_until_quiet_from_a_running_total_edit_ends_by_itself() {
    let (slack, clock, app) = start(true).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    first_alert(&slack).await;
    // A digest: its reply in the thread has no buttons; the message's running
    // total keeps them, and the press comes from that edited message.
    app.send_event(2, "11200", &call_sid(2)).await;
    advance(&app, &clock, 61_000).await;
    let edited = slack.wait("chat.update", 1, Duration::from_secs(5)).await[0]
        .body
        .clone();
    assert!(edited.to_string().contains("2 events in all"), "{edited}");
    assert!(our_actions(&edited).is_some(), "{edited}");
    assert!(our_actions(&slack.replies()[0].body).is_none());
    let body = form(&interaction(&app, &edited, "twilert_silence_until_quiet"));
    assert_eq!(press(&app, &clock, &body).await.0, 200);
    let list = admin_get(&app, "/api/v1/silences").await;
    assert_eq!(list["silences"][0]["until_quiet"], "30m", "{list}");
    let updates = slack.wait("chat.update", 2, Duration::from_secs(5)).await;
    let marked = updates[1].body.to_string();
    assert!(
        marked.contains("2 events in all"),
        "the running total kept: {marked}"
    );
    assert!(
        marked.contains(
            "🔕 Silenced until quiet (ends after 30m without a matching event) by <@U0ANN42>"
        ),
        "{marked}"
    );
    assert!(our_actions(&updates[1].body).is_none(), "{marked}");
    app.send_event(3, "11200", &call_sid(3)).await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            app.snapshot().await.counters.silenced == 1
        })
        .await
    );
    // Quiet for 31 minutes: the silence ends (its summary goes out).
    advance(&app, &clock, 31 * 60_000).await;
    let list = admin_get(&app, "/api/v1/silences").await;
    assert!(
        list["silences"].as_array().is_some_and(Vec::is_empty),
        "ended: {list}"
    );
    assert_valid_block_kit(&slack.calls());
    app.stop().await;
}

#[tokio::test]
async fn acknowledge_from_a_button_stops_digests_until_the_group_resolves() {
    let (slack, clock, app) = start(true).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    let posted = first_alert(&slack).await;
    app.send_event(2, "11200", &call_sid(2)).await;
    app.send_event(3, "11200", &call_sid(3)).await;
    let body = form(&interaction(&app, &posted, "twilert_acknowledge"));
    let (status, v) = press(&app, &clock, &body).await;
    assert_eq!(status, 200, "{v}");
    let updates = slack.wait("chat.update", 1, Duration::from_secs(5)).await;
    assert!(
        updates[0]
            .body
            .to_string()
            .contains("👀 Acknowledged by <@U0ANN42>: no more digests until it resolves"),
        "{}",
        updates[0].body
    );
    assert!(our_actions(&updates[0].body).is_none());
    let groups = admin_get(&app, "/api/v1/groups").await;
    assert_eq!(
        groups["groups"][0]["acknowledged"]["by"], "@ann (U0ANN42)",
        "{groups}"
    );

    // Its window closes: no digest (no reply, no running-total edit); the two
    // counted events and later ones are silenced.
    advance(&app, &clock, 61_000).await;
    app.send_event(4, "11200", &call_sid(4)).await;
    advance(&app, &clock, 60_000).await;
    assert!(slack.replies().is_empty(), "no digest: {:?}", slack.calls());
    assert_eq!(slack.of("chat.update").len(), 1, "{:?}", slack.calls());
    let snap = app.snapshot().await;
    assert_eq!(snap.counters.silenced, 3, "{snap:?}");
    assert_eq!(snap.accounted(), snap.counters.accepted, "{snap:?}");

    // Pressing it again once the group resolved does nothing and says so, to the
    // presser alone.
    advance(&app, &clock, 11 * 60_000).await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            app.snapshot().await.open_groups == 0
        })
        .await
    );
    let (status, _) = press(&app, &clock, &body).await;
    assert_eq!(status, 200);
    let told = {
        eventually(Duration::from_secs(5), || async {
            !slack.responses().is_empty()
        })
        .await;
        slack.responses()
    };
    assert_eq!(told.len(), 1, "{:?}", slack.calls());
    assert_eq!(told[0].body["response_type"], "ephemeral");
    assert!(
        told[0].body["text"]
            .as_str()
            .is_some_and(|t| t.contains("no longer open")),
        "{}",
        told[0].body
    );
    // It fires again: a new alert, with buttons.
    app.send_event(5, "11200", &call_sid(5)).await;
    let posts = slack
        .wait("chat.postMessage", 2, Duration::from_secs(5))
        .await;
    assert!(our_actions(&posts[1].body).is_some());
    let m = admin_metrics(&app).await;
    assert_eq!(
        metric(&m, "twilert_slack_actions_total{result=\"refused\"}"),
        1.0,
        "{m}"
    );
    assert_valid_block_kit(&slack.calls());
    app.stop().await;
}

#[tokio::test]
async fn bad_stale_and_missing_signatures_are_401_and_a_malformed_payload_400() {
    let (slack, clock, app) = start(true).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    let posted = first_alert(&slack).await;
    let body = form(&interaction(&app, &posted, "twilert_silence_1h"));
    let now = clock.now_ms() / 1000;
    let ts = now.to_string();

    // Signed with another secret, or the body altered after signing.
    let wrong = sign("not-the-signing-secret", &ts, body.as_bytes());
    assert_eq!(post_raw(&app, &body, Some(&ts), Some(&wrong)).await.0, 401);
    let good = sign(SIGNING_SECRET, &ts, body.as_bytes());
    let altered = body.replace("U0ANN42", "U0EVE66");
    let (status, v) = post_raw(&app, &altered, Some(&ts), Some(&good)).await;
    assert_eq!(status, 401, "{v}");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("does not match")),
        "{v}"
    );
    // Stale: properly signed, but more than 5 minutes old (a replay).
    let old = (now - 301).to_string();
    let stale = sign(SIGNING_SECRET, &old, body.as_bytes());
    let (status, v) = post_raw(&app, &body, Some(&old), Some(&stale)).await;
    assert_eq!(status, 401, "{v}");
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("5 minutes")),
        "{v}"
    );
    // Missing headers.
    assert_eq!(post_raw(&app, &body, None, Some(&good)).await.0, 401);
    assert_eq!(post_raw(&app, &body, Some(&ts), None).await.0, 401);
    assert_eq!(post_raw(&app, &body, None, None).await.0, 401);

    // Signed, but not a payload twilert can read: 400 naming the field.
    for (bad, field) in [
        ("text=hello".to_string(), "payload"),
        ("payload=%7Bnot%20json".to_string(), "payload"),
        (
            form(
                &json!({"type": "block_actions", "user": {"id": "U1"}, "actions": [
                {"action_id": "twilert_silence_1h", "value": "voice"}]}),
            ),
            "payload.actions[0].value",
        ),
        (
            form(
                &json!({"type": "block_actions", "user": {"id": "U1"}, "actions": [
                {"action_id": "deploy_button", "value": "x"}]}),
            ),
            "payload.actions[0].action_id",
        ),
        (
            form(&json!({"type": "view_submission", "user": {"id": "U1"}})),
            "payload.type",
        ),
    ] {
        let (status, v) = press(&app, &clock, &bad).await;
        assert_eq!(
            (status, v["field"].as_str()),
            (400, Some(field)),
            "{bad}: {v}"
        );
    }

    // Nothing was done; everything refused is counted.
    let list = admin_get(&app, "/api/v1/silences").await;
    assert!(
        list["silences"].as_array().is_some_and(Vec::is_empty),
        "{list}"
    );
    assert!(slack.of("chat.update").is_empty());
    let m = admin_metrics(&app).await;
    assert_eq!(
        metric(&m, "twilert_slack_actions_total{result=\"unauthorized\"}"),
        6.0,
        "{m}"
    );
    assert_eq!(
        metric(&m, "twilert_slack_actions_total{result=\"malformed\"}"),
        5.0,
        "{m}"
    );
    assert!(!m.contains(SIGNING_SECRET));

    // A button of a channel twilert no longer has: 200, the presser is told.
    let mut press_gone = interaction(&app, &posted, "twilert_silence_1h");
    let mut value: Value =
        serde_json::from_str(press_gone["actions"][0]["value"].as_str().expect("value"))
            .expect("JSON");
    value["channel"] = json!("old-slack");
    press_gone["actions"][0]["value"] = json!(value.to_string());
    assert_eq!(press(&app, &clock, &form(&press_gone)).await.0, 200);
    assert!(
        eventually(Duration::from_secs(5), || async {
            !slack.responses().is_empty()
        })
        .await
    );
    let told = &slack.responses()[0].body;
    assert!(
        told["text"]
            .as_str()
            .is_some_and(|t| t.contains("\"old-slack\"")),
        "{told}"
    );
    let list = admin_get(&app, "/api/v1/silences").await;
    assert!(
        list["silences"].as_array().is_some_and(Vec::is_empty),
        "{list}"
    );
    app.stop().await;
}

#[tokio::test]
async fn without_a_signing_secret_no_buttons_and_no_endpoint() {
    let (slack, clock, app) = start(false).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    let posted = first_alert(&slack).await;
    assert!(our_actions(&posted).is_none(), "{posted}");
    let body = "payload=%7B%7D";
    let ts = (clock.now_ms() / 1000).to_string();
    let sig = sign(SIGNING_SECRET, &ts, body.as_bytes());
    assert_eq!(post_raw(&app, body, Some(&ts), Some(&sig)).await.0, 404);
    // `check` shows no secret; the admin listener has no /slack/actions either.
    let r = app
        .http
        .post(format!("{}/slack/actions", app.admin_address))
        .bearer_auth(ADMIN_TOKEN)
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 404);
    app.stop().await;
}
