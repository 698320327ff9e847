//! SPEC 6 `slack` (app) and SPEC 13, living alerts: a fake Slack Web API (it
//! checks the bearer token and the channel like Slack does, hands out `ts`, and
//! forgets deleted messages) and real ingest with an injected clock. One
//! `chat.postMessage` per group, digests in its thread, the parent edited with
//! the running total (coalesced per `update_interval`), resolved in place; a
//! deleted parent falls back to a new post; `ok:false` classified as SPEC 6 says.

use crate::helpers::*;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use twilert::clock::ManualClock;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const BOT_TOKEN: &str = "xoxb-1234567890-TESTBOTTOKEN-s3cr3t";
/// The channel id the fake workspace gives `#alerts`.
const CHANNEL_ID: &str = "C0ALERTS01";

fn config(update_interval: &str) -> String {
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

[channels.slack]
kind = "slack"
bot_token = "{BOT_TOKEN}"
channel = "#alerts"
api_url = "{{slack}}/api"
update_interval = "{update_interval}"
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

/// One Web API call the fake received.
#[derive(Debug, Clone)]
struct Call {
    at: Instant,
    method: String,
    body: Value,
}

#[derive(Default)]
struct State {
    next_ts: u32,
    /// Deleted messages (their `ts`).
    gone: HashSet<String>,
    /// Answers to give first, per method, before behaving.
    scripted: HashMap<String, VecDeque<ResponseTemplate>>,
    calls: Vec<Call>,
}

/// A Slack Web API that behaves: `Authorization: Bearer <token>` or `not_authed` /
/// `invalid_auth`; `#alerts` or its id, else `channel_not_found`; `chat.update`
/// needs the id (as Slack's does); replies to or edits of a deleted message fail
/// with `thread_not_found` / `message_not_found`.
#[derive(Clone, Default)]
struct FakeSlack(Arc<Mutex<State>>);

fn ok_false(error: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": error}))
}

impl Respond for FakeSlack {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let method = req.url.path().trim_start_matches("/api/").to_string();
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let json_body = req
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let mut s = self.0.lock().expect("lock");
        s.calls.push(Call {
            at: Instant::now(),
            method: method.clone(),
            body: body.clone(),
        });
        if let Some(r) = s.scripted.get_mut(&method).and_then(VecDeque::pop_front) {
            return r;
        }
        if auth.is_empty() {
            return ok_false("not_authed");
        }
        if auth != format!("Bearer {BOT_TOKEN}") {
            return ok_false("invalid_auth");
        }
        if !json_body {
            return ok_false("invalid_arguments");
        }
        let channel = body["channel"].as_str().unwrap_or_default();
        match method.as_str() {
            "chat.postMessage" => {
                if channel != "#alerts" && channel != CHANNEL_ID {
                    return ok_false("channel_not_found");
                }
                if body["text"].as_str().is_none_or(str::is_empty) && body.get("blocks").is_none() {
                    return ok_false("no_text");
                }
                if let Some(t) = body["thread_ts"].as_str() {
                    if s.gone.contains(t) {
                        return ok_false("thread_not_found");
                    }
                }
                s.next_ts += 1;
                let ts = format!("1700000000.{:06}", s.next_ts * 100);
                ResponseTemplate::new(200)
                    .set_body_json(json!({"ok": true, "channel": CHANNEL_ID, "ts": ts}))
            }
            "chat.update" => {
                if channel != CHANNEL_ID {
                    return ok_false("channel_not_found");
                }
                let ts = body["ts"].as_str().unwrap_or_default();
                if s.gone.contains(ts) || ts.is_empty() {
                    return ok_false("message_not_found");
                }
                ResponseTemplate::new(200).set_body_json(
                    json!({"ok": true, "channel": CHANNEL_ID, "ts": ts, "text": body["text"]}),
                )
            }
            _ => ok_false("unknown_method"),
        }
    }
}

impl FakeSlack {
    async fn start() -> (FakeSlack, MockServer) {
        let fake = FakeSlack::default();
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::method("POST"))
            .respond_with(fake.clone())
            .mount(&server)
            .await;
        (fake, server)
    }

    fn calls(&self) -> Vec<Call> {
        self.0.lock().expect("lock").calls.clone()
    }

    fn of(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// Top-level posts (no `thread_ts`).
    fn posts(&self) -> Vec<Call> {
        self.of("chat.postMessage")
            .into_iter()
            .filter(|c| c.body.get("thread_ts").is_none())
            .collect()
    }

    fn replies(&self) -> Vec<Call> {
        self.of("chat.postMessage")
            .into_iter()
            .filter(|c| c.body.get("thread_ts").is_some())
            .collect()
    }

    fn script(&self, method: &str, answers: impl IntoIterator<Item = ResponseTemplate>) {
        self.0
            .lock()
            .expect("lock")
            .scripted
            .entry(method.into())
            .or_default()
            .extend(answers);
    }

    fn delete(&self, ts: &str) {
        self.0.lock().expect("lock").gone.insert(ts.into());
    }

    /// Waits until `method` was called `n` times.
    async fn wait(&self, method: &str, n: usize, within: Duration) -> Vec<Call> {
        eventually(within, || async { self.of(method).len() >= n }).await;
        self.of(method)
    }
}

/// The first alert's `ts`, as the fake answered it.
fn first_ts() -> String {
    "1700000000.000100".into()
}

/// Closes the current window: the digest (or, after `resolve_after`, the resolution).
async fn advance(app: &TestApp, clock: &ManualClock, ms: i64) {
    clock.advance_ms(ms);
    app.control.dispatcher.tick().await;
}

/// Every message body Slack received passes Slack's own Block Kit models
/// (slack-sdk, tests/validators/slack_validate.py; scripts/test-deps.sh installs it).
fn assert_valid_block_kit(calls: &[Call]) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (i, c) in calls.iter().enumerate() {
        let path = dir.path().join(format!("{i:02}-{}.json", c.method));
        std::fs::write(path, c.body.to_string()).expect("write payload");
    }
    let script = format!(
        "{}/tests/validators/slack_validate.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = std::process::Command::new(crate::python::python())
        .arg(script)
        .arg(dir.path())
        .output()
        .expect("run the Slack validator (scripts/test-deps.sh installs it)");
    assert!(
        out.status.success(),
        "Slack's models refused a payload:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn text_of(c: &Call) -> String {
    c.body.to_string()
}

#[tokio::test]
async fn one_message_per_group_digests_in_its_thread_the_parent_kept_current_then_resolved() {
    let (slack, server) = FakeSlack::start().await;
    let clock = ManualClock::new(1_700_000_000_000);
    let app = spawn_with(&config("1s"), server, Some(clock.clone())).await;

    app.send_event(1, "11200", &call_sid(1)).await;
    let posts = slack
        .wait("chat.postMessage", 1, Duration::from_secs(5))
        .await;
    assert_eq!(posts.len(), 1);
    let first = &posts[0].body;
    assert_eq!(first["channel"], "#alerts");
    assert!(first.get("thread_ts").is_none());
    assert!(
        first["text"].as_str().is_some_and(|t| t.contains("11200")),
        "{first}"
    );
    assert!(
        first["blocks"].as_array().is_some_and(|b| !b.is_empty()),
        "Block Kit: {first}"
    );
    let received = app.slack.received_requests().await.unwrap_or_default();
    assert_eq!(
        received[0]
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some(format!("Bearer {BOT_TOKEN}").as_str())
    );
    assert!(
        !received[0].url.as_str().contains(BOT_TOKEN),
        "the token is a header"
    );

    // Two more in the window: counted, not posted.
    app.send_event(2, "11200", &call_sid(2)).await;
    app.send_event(3, "11200", &call_sid(3)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(slack.calls().len(), 1);

    // The window ends: one reply in the thread, the parent shows 3 in all.
    advance(&app, &clock, 61_000).await;
    let updates = slack.wait("chat.update", 1, Duration::from_secs(5)).await;
    let replies = slack.replies();
    assert_eq!(replies.len(), 1, "{:?}", slack.calls());
    assert_eq!(replies[0].body["thread_ts"], first_ts().as_str());
    assert_eq!(
        replies[0].body["channel"], CHANNEL_ID,
        "the parent's channel id"
    );
    assert!(text_of(&replies[0]).contains("3×"), "{}", replies[0].body);
    assert_eq!(updates.len(), 1);
    let edit = &updates[0].body;
    assert_eq!(
        (&edit["channel"], &edit["ts"]),
        (&json!(CHANNEL_ID), &json!(first_ts()))
    );
    assert!(text_of(&updates[0]).contains("3 events in all"), "{edit}");
    assert!(text_of(&updates[0]).contains("last seen <!date^"), "{edit}");
    assert!(text_of(&updates[0]).contains("3 resources"), "{edit}");

    // The next window: another reply, the parent now says 5 (within update_interval
    // of the last edit, so the edit waits for it).
    app.send_event(4, "11200", &call_sid(4)).await;
    app.send_event(5, "11200", &call_sid(2)).await;
    advance(&app, &clock, 60_000).await;
    let updates = slack.wait("chat.update", 2, Duration::from_secs(5)).await;
    assert_eq!(slack.replies().len(), 2);
    assert_eq!(updates.len(), 2);
    assert!(
        text_of(&updates[1]).contains("5 events in all"),
        "{}",
        updates[1].body
    );
    assert!(
        text_of(&updates[1]).contains("2 resources"),
        "{}",
        updates[1].body
    );
    let gap = updates[1].at - updates[0].at;
    assert!(gap >= Duration::from_millis(950), "edits {gap:?} apart");

    // Quiet for resolve_after: the parent says resolved; nothing new is posted.
    advance(&app, &clock, 11 * 60_000).await;
    let updates = slack.wait("chat.update", 3, Duration::from_secs(5)).await;
    assert_eq!(updates.len(), 3);
    let resolved = &updates[2].body;
    assert_eq!(resolved["ts"], first_ts().as_str());
    assert!(
        text_of(&updates[2]).contains("✅ *Resolved*, quiet since"),
        "{resolved}"
    );
    assert!(resolved["text"]
        .as_str()
        .is_some_and(|t| t.starts_with("✅ RESOLVED")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(slack.posts().len(), 1, "one top-level message per group");
    assert_eq!(slack.replies().len(), 2);
    let s = app.snapshot().await;
    assert_eq!((s.open_groups, s.pending), (0, 0));
    assert_eq!(s.accounted(), s.counters.accepted);
    assert_eq!(s.counters.accepted, 5);
    assert_valid_block_kit(&slack.calls());
    app.stop().await;
}

#[tokio::test]
async fn edits_are_coalesced_per_update_interval_and_the_newest_total_applies() {
    let (slack, server) = FakeSlack::start().await;
    let clock = ManualClock::new(1_700_000_000_000);
    let app = spawn_with(&config("2s"), server, Some(clock.clone())).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    slack
        .wait("chat.postMessage", 1, Duration::from_secs(5))
        .await;

    // Three windows in quick succession: 2, then 3 more, then 4 more events.
    let mut n = 1;
    for (window, events) in [2, 3, 4].into_iter().enumerate() {
        for _ in 0..events {
            n += 1;
            app.send_event(n, "11200", &call_sid(n)).await;
        }
        advance(&app, &clock, 61_000).await;
        slack
            .wait("chat.postMessage", window + 2, Duration::from_secs(5))
            .await;
    }
    assert_eq!(slack.replies().len(), 3, "every digest is in the thread");
    // The first edit at once; the other two within 2 s of it: one edit, the newest.
    let updates = slack.wait("chat.update", 2, Duration::from_secs(6)).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let updates_after = slack.of("chat.update");
    assert_eq!(updates_after.len(), 2, "{updates:?}");
    assert!(text_of(&updates_after[0]).contains("3 events in all"));
    assert!(
        text_of(&updates_after[1]).contains(&format!("{} events in all", n)),
        "the latest total: {}",
        updates_after[1].body
    );
    assert!(
        !updates_after
            .iter()
            .any(|u| text_of(u).contains("6 events in all")),
        "the middle state was coalesced away"
    );
    let gap = updates_after[1].at - updates_after[0].at;
    assert!(gap >= Duration::from_millis(1950), "edits {gap:?} apart");
    app.stop().await;
}

#[tokio::test]
async fn resolving_edits_at_once_even_inside_update_interval() {
    let (slack, server) = FakeSlack::start().await;
    let clock = ManualClock::new(1_700_000_000_000);
    let app = spawn_with(&config("30s"), server, Some(clock.clone())).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    app.send_event(2, "11200", &call_sid(1)).await;
    slack
        .wait("chat.postMessage", 1, Duration::from_secs(5))
        .await;
    advance(&app, &clock, 61_000).await;
    slack.wait("chat.update", 1, Duration::from_secs(5)).await;
    // A second digest: its edit waits 30 s ...
    app.send_event(3, "11200", &call_sid(1)).await;
    advance(&app, &clock, 60_000).await;
    slack
        .wait("chat.postMessage", 3, Duration::from_secs(5))
        .await;
    // ... but resolving does not, and the pending running total never lands after it.
    let started = Instant::now();
    advance(&app, &clock, 11 * 60_000).await;
    let updates = slack.wait("chat.update", 2, Duration::from_secs(5)).await;
    assert_eq!(updates.len(), 2, "{updates:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        text_of(&updates[1]).contains("Resolved"),
        "{}",
        updates[1].body
    );
    app.stop().await;
}

#[tokio::test]
async fn a_deleted_parent_falls_back_to_new_top_level_posts() {
    let (slack, server) = FakeSlack::start().await;
    let clock = ManualClock::new(1_700_000_000_000);
    let app = spawn_with(&config("1s"), server, Some(clock.clone())).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    app.send_event(2, "11200", &call_sid(1)).await;
    slack
        .wait("chat.postMessage", 1, Duration::from_secs(5))
        .await;
    slack.delete(&first_ts());

    // The digest's reply finds no thread (thread_not_found): it is posted on its own.
    advance(&app, &clock, 61_000).await;
    slack
        .wait("chat.postMessage", 3, Duration::from_secs(5))
        .await;
    let posts = slack.posts();
    assert_eq!(posts.len(), 2, "{:?}", slack.calls());
    assert!(
        text_of(&posts[1]).contains("2×"),
        "the digest: {}",
        posts[1].body
    );
    assert_eq!(slack.of("chat.update").len(), 0, "nothing to edit");

    // Resolving: chat.update answers message_not_found, the notice is posted instead.
    advance(&app, &clock, 11 * 60_000).await;
    slack
        .wait("chat.postMessage", 4, Duration::from_secs(5))
        .await;
    assert_eq!(slack.of("chat.update").len(), 1);
    let posts = slack.posts();
    assert_eq!(posts.len(), 3, "{:?}", slack.calls());
    assert!(text_of(&posts[2]).contains("RESOLVED"), "{}", posts[2].body);
    assert!(
        eventually(Duration::from_secs(5), || async {
            app.snapshot().await.pending == 0
        })
        .await
    );
    assert_eq!(app.snapshot().await.counters.dead_lettered, 0);
    app.stop().await;
}

/// The dead letter of the first alert, once there is one.
async fn dead_letter(app: &TestApp) -> String {
    assert!(
        eventually(Duration::from_secs(5), || async {
            app.snapshot().await.counters.dead_lettered == 1
        })
        .await,
        "expected a dead letter"
    );
    twilert::store::Reader::open(&app.dir.path().join("twilert.db"))
        .expect("store")
        .dead_letters()
        .expect("dead letters")
        .remove(0)
        .last_error
}

#[tokio::test]
async fn ok_false_is_no_success_and_each_error_class_is_handled() {
    // The channel no longer works: broken, with Slack's error name.
    for error in [
        "invalid_auth",
        "token_revoked",
        "account_inactive",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
    ] {
        let (slack, server) = FakeSlack::start().await;
        slack.script("chat.postMessage", [ok_false(error)]);
        let app = spawn_with(&config("1s"), server, None).await;
        app.send_event(1, "11200", &call_sid(1)).await;
        let why = dead_letter(&app).await;
        assert!(why.contains(&format!("error={error}")), "{error}: {why}");
        assert!(
            app.metrics()
                .await
                .contains("twilert_channel_broken{channel=\"slack\"} 1"),
            "{error}"
        );
        assert_eq!(slack.calls().len(), 1, "{error}: not retried");
        app.stop().await;
    }

    // Any other ok:false: permanent, named, the channel not broken.
    let (slack, server) = FakeSlack::start().await;
    slack.script("chat.postMessage", [ok_false("restricted_action")]);
    let app = spawn_with(&config("1s"), server, None).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    let why = dead_letter(&app).await;
    assert!(why.contains("error=restricted_action"), "{why}");
    assert!(!app
        .metrics()
        .await
        .contains("twilert_channel_broken{channel=\"slack\"} 1"));
    assert_eq!(slack.calls().len(), 1);
    app.stop().await;

    // invalid_blocks / msg_too_long: once more as plain text, which is the alert
    // the group's digests then thread under.
    for error in ["invalid_blocks", "msg_too_long"] {
        let (slack, server) = FakeSlack::start().await;
        slack.script("chat.postMessage", [ok_false(error)]);
        let clock = ManualClock::new(1_700_000_000_000);
        let app = spawn_with(&config("1s"), server, Some(clock.clone())).await;
        app.send_event(1, "11200", &call_sid(1)).await;
        app.send_event(2, "11200", &call_sid(1)).await;
        let posts = slack
            .wait("chat.postMessage", 2, Duration::from_secs(5))
            .await;
        assert!(posts[0].body.get("blocks").is_some());
        assert!(
            posts[1].body.get("blocks").is_none(),
            "plain: {}",
            posts[1].body
        );
        assert!(text_of(&posts[1]).contains("11200"), "{}", posts[1].body);
        advance(&app, &clock, 61_000).await;
        let posts = slack
            .wait("chat.postMessage", 3, Duration::from_secs(5))
            .await;
        assert_eq!(posts[2].body["thread_ts"], first_ts().as_str(), "{error}");
        assert_eq!(app.snapshot().await.counters.dead_lettered, 0);
        app.stop().await;
    }

    // Refused again as plain text: permanent, both answers named.
    let (slack, server) = FakeSlack::start().await;
    slack.script(
        "chat.postMessage",
        [ok_false("invalid_blocks"), ok_false("msg_too_long")],
    );
    let app = spawn_with(&config("1s"), server, None).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    let why = dead_letter(&app).await;
    assert!(
        why.contains("error=invalid_blocks")
            && why.contains("plain-text retry")
            && why.contains("error=msg_too_long"),
        "{why}"
    );
    app.stop().await;
}

#[tokio::test]
async fn rate_limits_honour_retry_after_and_server_errors_are_retried() {
    // HTTP 429 and HTTP 200 `ratelimited`, each with Retry-After: 1 (far past the
    // 200 ms backoff cap configured here).
    for limited in [
        ResponseTemplate::new(429).insert_header("Retry-After", "1"),
        ok_false("ratelimited").insert_header("Retry-After", "1"),
    ] {
        let (slack, server) = FakeSlack::start().await;
        slack.script("chat.postMessage", [limited]);
        let app = spawn_with(&config("1s"), server, None).await;
        app.send_event(1, "11200", &call_sid(1)).await;
        let posts = slack
            .wait("chat.postMessage", 2, Duration::from_secs(5))
            .await;
        assert_eq!(posts.len(), 2);
        let waited = posts[1].at - posts[0].at;
        assert!(
            waited >= Duration::from_millis(950),
            "retried after {waited:?}"
        );
        assert!(
            eventually(Duration::from_secs(5), || async {
                app.snapshot().await.counters.notified == 1
            })
            .await
        );
        app.stop().await;
    }

    // 5xx, then a Slack-side `internal_error`: retried, then delivered.
    let (slack, server) = FakeSlack::start().await;
    slack.script(
        "chat.postMessage",
        [ResponseTemplate::new(503), ok_false("internal_error")],
    );
    let app = spawn_with(&config("1s"), server, None).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    let posts = slack
        .wait("chat.postMessage", 3, Duration::from_secs(5))
        .await;
    assert_eq!(posts.len(), 3);
    assert!(
        eventually(Duration::from_secs(5), || async {
            let s = app.snapshot().await;
            s.counters.notified == 1 && s.pending == 0
        })
        .await
    );
    assert_eq!(app.snapshot().await.counters.dead_lettered, 0);
    app.stop().await;
}

/// The built binary, `args` on `config`, stdout + stderr.
fn twilert(config: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_twilert"))
        .env_clear()
        .env("NO_COLOR", "1")
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("run twilert");
    (
        o.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[tokio::test]
async fn the_bot_token_is_never_shown_in_logs_dead_letters_or_check() {
    // A hostile proxy echoing the token: its 500 is logged (will retry), its
    // ok:false dead-lettered, the token hidden in both.
    let (slack, server) = FakeSlack::start().await;
    slack.script(
        "chat.postMessage",
        [
            ResponseTemplate::new(500)
                .set_body_string(format!("upstream: Authorization: Bearer {BOT_TOKEN}")),
            ok_false(&format!("nope {BOT_TOKEN}")),
        ],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config.toml");
    let text = config("1s")
        .replace("{slack}", &server.uri())
        .replace("{dir}", &dir.path().display().to_string());
    std::fs::write(&cfg, &text).expect("write config");

    let (code, out) = twilert(&cfg, &["check"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        !out.contains(BOT_TOKEN) && !out.contains("TESTBOTTOKEN"),
        "{out}"
    );

    let served = tokio::task::spawn_blocking({
        let cfg = cfg.clone();
        move || serve_binary_with(&cfg, &[("RUST_LOG", "debug")])
    })
    .await
    .expect("join");
    let url = format!("http://127.0.0.1:{}/twilio/debugger", served.port);
    let r = post_signed_to(
        &reqwest::Client::new(),
        &url,
        &event_params(1, "11200", &call_sid(1)),
    )
    .await;
    assert_eq!(r.status().as_u16(), 200);
    // The dead letter is read beside the running service.
    let deadline = Instant::now() + Duration::from_secs(15);
    let listed = loop {
        let cfg = cfg.clone();
        let (_, out) =
            tokio::task::spawn_blocking(move || twilert(&cfg, &["dead-letters", "list"]))
                .await
                .expect("join");
        if out.contains("1 dead letter(s)") || Instant::now() > deadline {
            break out;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(listed.contains("1 dead letter(s)"), "{listed}");
    assert!(listed.contains("[hidden]"), "{listed}");
    assert!(!listed.contains("TESTBOTTOKEN"), "{listed}");
    // send-test posts through the Web API too (the fake now answers ok).
    let (code, out) = {
        let cfg = cfg.clone();
        tokio::task::spawn_blocking(move || twilert(&cfg, &["send-test", "slack"]))
            .await
            .expect("join")
    };
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("accepted"), "{out}");
    assert!(!out.contains("TESTBOTTOKEN"), "{out}");
    assert_eq!(
        slack.posts().last().map(|c| c.body["channel"].clone()),
        Some(json!("#alerts"))
    );
    let log = tokio::task::spawn_blocking(move || {
        let mut served = served;
        let _ = served.child.kill();
        let _ = served.child.wait();
        std::thread::sleep(Duration::from_millis(200));
        served.log_text()
    })
    .await
    .expect("join");
    assert!(log.contains("will retry"), "{log}");
    assert!(log.contains("[hidden]"), "{log}");
    assert!(!log.contains("TESTBOTTOKEN"), "{log}");

    // Both modes at once, or neither: `check` names the key and the channel.
    let both = text.replace(
        "channel = \"#alerts\"",
        "channel = \"#alerts\"\nurl = \"https://hooks.slack.com/services/T/B/WEBHOOKSECRET\"",
    );
    std::fs::write(&cfg, &both).expect("write config");
    let (code, out) = twilert(&cfg, &["check"]);
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("channels.slack.bot_token"), "{out}");
    assert!(
        !out.contains("TESTBOTTOKEN") && !out.contains("WEBHOOKSECRET"),
        "{out}"
    );
    let neither: String = text
        .lines()
        .filter(|l| !l.starts_with("bot_token"))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&cfg, &neither).expect("write config");
    let (code, out) = twilert(&cfg, &["check"]);
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("channels.slack.url: missing"), "{out}");
}
