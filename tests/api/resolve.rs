//! SPEC 13 resolution: a group with no event for `resolve_after` is resolved and
//! each channel is told — PagerDuty `resolve` with the trigger's dedup_key, the
//! webhook `status = "resolved"`, Slack (webhook mode) one line; a channel with
//! `notify_resolved = false` hears nothing; a group that fires again after
//! resolving is a new alert. Injected clock.

use crate::helpers::*;
use std::time::Duration;
use twilert::clock::ManualClock;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const CONFIG: &str = r#"
[server]
listen = "127.0.0.1:0"
workers = 1

[twilio]
public_url = "https://alerts.example.com/twilio/debugger"
auth_tokens = ["test-auth-token"]

[store]
path = "{dir}/twilert.db"

[defaults]
window = "1m"

[channels.slack]
kind = "slack"
url = "{slack}/services/T/B/X"

[channels.pd]
kind = "pagerduty"
routing_key = "R0123456789abcdef0123456789abcde"
url = "{slack}/v2/enqueue"

[channels.hook]
kind = "webhook"
url = "{slack}/hook"

[channels.teams]
kind = "teams"
url = "{slack}/teams"
notify_resolved = false

[[routes]]
name = "voice"
error_codes = ["112xx"]
channels = ["slack", "pd", "hook", "teams"]
resolve_after = "10m"
"#;

async fn mock() -> MockServer {
    let m = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/enqueue"))
        .respond_with(ResponseTemplate::new(202).set_body_string(r#"{"status":"success"}"#))
        .mount(&m)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&m)
        .await;
    m
}

fn at(reqs: &[Request], p: &str) -> Vec<serde_json::Value> {
    reqs.iter()
        .filter(|r| r.url.path() == p)
        .map(|r| serde_json::from_slice(&r.body).unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn a_quiet_group_resolves_on_every_channel_that_wants_it() {
    let clock = ManualClock::new(1_700_000_000_000);
    let app = spawn_with(CONFIG, mock().await, Some(clock.clone())).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    assert_eq!(app.slack_messages(4, Duration::from_secs(5)).await.len(), 4);

    // The window ends quiet: not yet resolved (10 minutes of quiet are needed).
    clock.advance_ms(61_000);
    app.control.dispatcher.tick().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.slack.received_requests().await.unwrap().len(), 4);

    clock.advance_ms(10 * 60_000);
    app.control.dispatcher.tick().await;
    let reqs = {
        wait_for_requests(&app.slack, 7, Duration::from_secs(5)).await;
        app.slack.received_requests().await.unwrap()
    };
    let pd = at(&reqs, "/v2/enqueue");
    assert_eq!(pd.len(), 2, "{pd:?}");
    assert_eq!(pd[0]["event_action"], "trigger");
    assert_eq!(pd[1]["event_action"], "resolve");
    assert_eq!(pd[1]["dedup_key"], pd[0]["dedup_key"], "the same incident");
    let hook = at(&reqs, "/hook");
    assert_eq!(hook.len(), 2);
    assert_eq!(hook[1]["status"], "resolved");
    assert_eq!(hook[1]["events"], 1);
    let slack = at(&reqs, "/services/T/B/X");
    assert_eq!(slack.len(), 2);
    let line = slack[1]["text"].as_str().unwrap_or_default();
    assert!(
        line.contains("RESOLVED") && line.contains("11200"),
        "{line}"
    );
    assert_eq!(at(&reqs, "/teams").len(), 1, "notify_resolved = false");
    let s = app.snapshot().await;
    assert_eq!((s.open_groups, s.pending), (0, 0));
    assert_eq!(
        s.accounted(),
        s.counters.accepted,
        "resolving accounts for nothing new"
    );
    // The engine counts after its commit; a worker polling the store may deliver
    // the resolved notices before that (seen once on PostgreSQL under CI load).
    let resolved = "twilert_groups_resolved_total{route=\"voice\"} 1";
    let mut counted = false;
    for _ in 0..40 {
        if app.metrics().await.contains(resolved) {
            counted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(counted, "{resolved} not in /metrics within 2 s");

    // Firing again after resolving is a new alert (and a new trigger).
    clock.advance_ms(60_000);
    app.send_event(2, "11200", &call_sid(1)).await;
    wait_for_requests(&app.slack, 11, Duration::from_secs(5)).await;
    let reqs = app.slack.received_requests().await.unwrap();
    let pd = at(&reqs, "/v2/enqueue");
    assert_eq!(pd.len(), 3);
    assert_eq!(pd[2]["event_action"], "trigger");
    app.stop().await;
}

#[tokio::test]
async fn without_resolve_after_a_quiet_group_just_closes() {
    let clock = ManualClock::new(1_700_000_000_000);
    let config = CONFIG.replace("resolve_after = \"10m\"\n", "");
    let app = spawn_with(&config, mock().await, Some(clock.clone())).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    assert_eq!(app.slack_messages(4, Duration::from_secs(5)).await.len(), 4);
    clock.advance_ms(61_000);
    app.control.dispatcher.tick().await;
    clock.advance_ms(60 * 60_000);
    app.control.dispatcher.tick().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.slack.received_requests().await.unwrap().len(), 4);
    assert_eq!(app.snapshot().await.open_groups, 0);
    app.stop().await;
}

#[tokio::test]
async fn receipts_are_kept_with_the_group_and_carried_by_its_digest() {
    let clock = ManualClock::new(1_700_000_000_000);
    let app = spawn_with(CONFIG, mock().await, Some(clock.clone())).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    let reqs = {
        wait_for_requests(&app.slack, 4, Duration::from_secs(5)).await;
        app.slack.received_requests().await.unwrap()
    };
    let trigger = at(&reqs, "/v2/enqueue")[0]["dedup_key"].clone();
    let group_receipt = || async {
        let groups = app.read(|v| v.open_groups(None, 10).expect("groups")).await;
        assert_eq!(groups.len(), 1, "one open group");
        serde_json::to_value(&groups[0].1.receipts).expect("json")["pd"].clone()
    };
    assert!(
        eventually(Duration::from_secs(3), || async {
            group_receipt().await["dedup_key"] == trigger
        })
        .await,
        "the PagerDuty receipt is stored with the group: {}",
        group_receipt().await
    );
    // The digest of the group carries it as its parent.
    clock.advance_ms(1_000);
    app.send_event(2, "11200", &call_sid(1)).await;
    clock.advance_ms(61_000);
    app.control.dispatcher.tick().await;
    if on_postgres() {
        // The digest row's body is read with SQLite below; the receipt in the
        // shared group (above) is what PostgreSQL adds.
        app.stop().await;
        return;
    }
    let conn = rusqlite::Connection::open(app.dir.path().join("twilert.db")).expect("open");
    let parent: String = conn
        .query_row(
            "SELECT body FROM notifications WHERE channel = 'pd' AND is_digest = 1",
            [],
            |r| r.get(0),
        )
        .expect("the digest row");
    let v: serde_json::Value = serde_json::from_str(&parent).expect("json");
    assert_eq!(v["parent"]["dedup_key"], trigger);
    app.stop().await;
}
