//! SPEC 13 thresholds: `threshold = { count, within }` sends nothing until a group
//! has seen `count` events within `within` (sliding); the alert says how many led
//! to it; events that never reach it end as `below_threshold`. Injected clock.

use crate::helpers::*;
use std::time::Duration;
use twilert::clock::ManualClock;

fn config() -> String {
    BASE_CONFIG.replace(
        "error_codes = [\"112xx\"]\nchannels = [\"slack\"]",
        "error_codes = [\"112xx\"]\nchannels = [\"slack\"]\nthreshold = { count = 5, within = \"5m\" }",
    )
}

#[tokio::test]
async fn four_events_send_nothing_and_the_fifth_alerts_stating_five() {
    let clock = ManualClock::new(1_700_000_000_000);
    let app = spawn_with(&config(), slack_answering(&[]).await, Some(clock.clone())).await;
    let res = call_sid(1);
    for i in 1..=4 {
        app.send_event(i, "11200", &res).await;
        clock.advance_ms(30_000);
    }
    app.control.dispatcher.tick().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.slack.received_requests().await.unwrap().len(),
        0,
        "below the threshold"
    );
    let s = app.snapshot().await;
    assert_eq!((s.counters.accepted, s.pending), (4, 4), "held, not lost");

    app.send_event(5, "11200", &res).await;
    let msgs = app.slack_messages(1, Duration::from_secs(5)).await;
    assert_eq!(msgs.len(), 1, "one alert at the threshold");
    let text = slack_text(&msgs[0]);
    assert!(text.contains("5 events within 5m"), "{text}");
    assert!(
        eventually(Duration::from_secs(3), || async {
            let s = app.snapshot().await;
            s.counters.notified == 5 && s.pending == 0 && s.accounted() == 5
        })
        .await,
        "{:?}",
        app.snapshot().await
    );
    // Past the threshold the group counts like any other: the next event waits for
    // the digest, it does not alert again.
    app.send_event(6, "11200", &res).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.slack.received_requests().await.unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn events_that_never_reach_the_threshold_end_below_it() {
    let clock = ManualClock::new(1_700_000_000_000);
    let app = spawn_with(&config(), slack_answering(&[]).await, Some(clock.clone())).await;
    // Three events, then a quiet six minutes: they leave the sliding window.
    for i in 1..=3 {
        app.send_event(i, "11200", &call_sid(7)).await;
        clock.advance_ms(10_000);
    }
    clock.advance_ms(6 * 60_000);
    app.control.dispatcher.tick().await;
    let s = app.snapshot().await;
    assert_eq!(s.counters.below_threshold, 3, "{s:?}");
    assert_eq!((s.pending, s.open_groups), (0, 0));
    assert_eq!(s.accounted(), 3);
    let m = app.metrics().await;
    assert!(
        m.contains("twilert_events_outcome{outcome=\"below_threshold\"} 3"),
        "{m}"
    );
    assert_eq!(app.slack.received_requests().await.unwrap().len(), 0);
    app.stop().await;
}

#[tokio::test]
async fn the_window_slides() {
    let clock = ManualClock::new(1_700_000_000_000);
    let app = spawn_with(&config(), slack_answering(&[]).await, Some(clock.clone())).await;
    let res = call_sid(9);
    // 4 events at t = 0, 1, 2, 3 min; the 5th at 5.5 min: the first has left the
    // 5-minute window, so only 4 are inside — no alert; the 6th at 5.6 min makes 5.
    let mut now_ms = 0i64;
    for (i, at_min) in [0.0, 1.0, 2.0, 3.0, 5.5, 5.6].iter().enumerate() {
        let at = (at_min * 60_000.0) as i64;
        clock.advance_ms(at - now_ms);
        now_ms = at;
        app.send_event(i as u32 + 1, "11200", &res).await;
        if i == 4 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(
                app.slack.received_requests().await.unwrap().len(),
                0,
                "4 within 5m"
            );
        }
    }
    let msgs = app.slack_messages(1, Duration::from_secs(5)).await;
    assert_eq!(msgs.len(), 1);
    assert!(slack_text(&msgs[0]).contains("5 events within 5m"));
    assert!(
        eventually(Duration::from_secs(3), || async {
            let s = app.snapshot().await;
            s.counters.below_threshold == 1 && s.counters.notified == 5 && s.accounted() == 6
        })
        .await,
        "{:?}",
        app.snapshot().await
    );
    app.stop().await;
}

#[test]
fn a_zero_threshold_is_a_config_error_naming_the_route() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("c.toml");
    let text = BASE_CONFIG
        .replace("{slack}", "http://127.0.0.1:9")
        .replace("{dir}", &dir.path().display().to_string())
        .replace(
            "channels = [\"slack\"]\n\n[[routes]]\nname = \"muted-warnings\"",
            "channels = [\"slack\"]\nthreshold = { count = 0, within = \"5m\" }\n\n[[routes]]\nname = \"muted-warnings\"",
        );
    std::fs::write(&p, text).expect("write");
    let s = twilert::config::load(&p).expect("parses");
    let errors = twilert::runtime::Runtime::build(s).expect_err("refused");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("routes[0] (\"voice\").threshold.count")),
        "{errors:?}"
    );
}
