//! SPEC 6 `slack` (app) and SPEC 13, living alerts: a fake Slack Web API
//! ([`crate::fake_slack`]) and real ingest with an injected clock. One
//! `chat.postMessage` per group, digests in its thread, the parent edited with
//! the running total (coalesced per `update_interval`), resolved in place; a
//! deleted parent falls back to a new post; `ok:false` classified as SPEC 6 says.

use crate::fake_slack::*;
use crate::helpers::*;
use serde_json::json;
use std::time::{Duration, Instant};
use twilert::clock::ManualClock;
use wiremock::ResponseTemplate;

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

/// The first alert's `ts`, as the fake answered it.
fn first_ts() -> String {
    "1700000000.000100".into()
}

/// Closes the current window: the digest (or, after `resolve_after`, the
/// resolution) — once the first alert is settled, so the group holds its receipt
/// (a digest made before that has no parent to thread under).
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

    // The new post stands in for the deleted one: resolving edits it.
    advance(&app, &clock, 11 * 60_000).await;
    let updates = slack.wait("chat.update", 1, Duration::from_secs(5)).await;
    assert_eq!(updates.len(), 1, "{:?}", slack.calls());
    assert_ne!(updates[0].body["ts"], first_ts(), "not the deleted message");
    assert!(
        updates[0].body.to_string().contains("Resolved"),
        "{}",
        updates[0].body
    );
    assert_eq!(slack.posts().len(), 2, "no third post: {:?}", slack.calls());
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
    app.read(|v| v.dead_letters().expect("dead letters").remove(0).last_error)
        .await
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
    // A type error quoting the token (pasted into the wrong key), and a token
    // written as a number: named, never shown.
    let pasted = text.replace("burst = 1000", &format!("burst = \"{BOT_TOKEN}\""));
    std::fs::write(&cfg, &pasted).expect("write config");
    let (code, out) = twilert(&cfg, &["check"]);
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("channels.slack"), "{out}");
    assert!(!out.contains("TESTBOTTOKEN"), "{out}");
    let number = text.replace(&format!("\"{BOT_TOKEN}\""), "12345678901234");
    std::fs::write(&cfg, &number).expect("write config");
    let (code, out) = twilert(&cfg, &["check"]);
    assert_ne!(code, Some(0), "{out}");
    assert!(
        out.contains("channels.slack") && out.contains("expected a string"),
        "{out}"
    );
    assert!(!out.contains("12345678901234"), "{out}");
}

#[tokio::test]
async fn a_digest_made_while_the_first_alert_was_retrying_still_threads_under_it() {
    let (slack, server) = FakeSlack::start().await;
    slack.script("chat.postMessage", [ResponseTemplate::new(500)]);
    let clock = ManualClock::new(1_700_000_000_000);
    let app = spawn_with(&config("1s"), server, Some(clock.clone())).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    app.send_event(2, "11200", &call_sid(2)).await;
    slack
        .wait("chat.postMessage", 1, Duration::from_secs(5))
        .await;
    // The first alert waits on its retry backoff when the window closes: the
    // digest is made before the group has the alert's receipt.
    assert!(
        eventually(Duration::from_secs(5), || async {
            app.read(|v| v.backlog("slack", 0).expect("backlog").retrying)
                .await
                == 1
        })
        .await
    );
    clock.advance_ms(61_000);
    app.control.dispatcher.tick().await;
    let posts = slack
        .wait("chat.postMessage", 3, Duration::from_secs(5))
        .await;
    assert_eq!(posts.len(), 3, "{:?}", slack.calls());
    assert!(posts[1].body.get("thread_ts").is_none(), "the first alert");
    assert_eq!(
        posts[2].body["thread_ts"],
        first_ts(),
        "the digest found the receipt when it was sent: {}",
        posts[2].body
    );
    app.stop().await;
}
