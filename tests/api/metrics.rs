//! `/metrics`: every series docs/OPERATIONS.md documents exists from the start at
//! zero (per reason, channel and route, also for channels and routes a reload adds),
//! and `events_received_total` never drops below `events_accepted_total`, also after
//! a restart.

use crate::helpers::*;
use std::sync::Arc;

/// The value of the series `series` (name plus labels, as rendered), if present.
fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?.strip_prefix(' ')?;
        rest.trim().parse().ok()
    })
}

/// The metric names in docs/OPERATIONS.md's table (without the `twilert_` prefix).
fn documented() -> Vec<String> {
    let ops = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/OPERATIONS.md"))
        .expect("OPERATIONS.md");
    let section = ops
        .split("## Reading `/metrics`")
        .nth(1)
        .expect("the metrics section");
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .filter(|n| *n != "metric")
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn every_documented_series_exists_at_start_at_zero() {
    let app = spawn_app().await;
    let m = app.metrics().await;
    let names = documented();
    assert!(names.len() > 20, "the table was read: {names:?}");
    for name in &names {
        assert!(
            m.contains(&format!("twilert_{name}")),
            "documented twilert_{name} is missing at start:\n{m}"
        );
    }
    for reason in [
        "bad_request",
        "bad_signature",
        "too_large",
        "unsupported_type",
        "store_unavailable",
    ] {
        let s = format!("twilert_events_rejected_total{{reason=\"{reason}\"}}");
        assert_eq!(value(&m, &s), Some(0.0), "{s}");
    }
    for s in [
        "twilert_notifications_failed_total{channel=\"slack\",reason=\"retry\"}",
        "twilert_notifications_failed_total{channel=\"slack\",reason=\"permanent\"}",
        "twilert_notifications_dead_lettered_total{channel=\"slack\",reason=\"gave_up\"}",
        "twilert_notifications_sent_total{channel=\"slack\",kind=\"digest\"}",
        "twilert_template_failures_total{channel=\"slack\"}",
        "twilert_channel_broken{channel=\"slack\"}",
        "twilert_events_routed_total{route=\"voice\"}",
        "twilert_events_suppressed_total{route=\"voice\"}",
        "twilert_events_muted_total{route=\"muted-warnings\"}",
        "twilert_events_received_total",
        "twilert_delivery_latency_seconds_count{channel=\"slack\"}",
    ] {
        assert_eq!(value(&m, s), Some(0.0), "{s} at start:\n{m}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_reload_adds_the_series_of_new_channels_and_routes() {
    let app = spawn_app().await;
    let text = std::fs::read_to_string(&app.config_path).expect("config");
    let more = format!(
        "{text}\n[channels.ops]\nkind = \"console\"\ntarget = \"{}/ops.log\"\n\n\
         [[routes]]\nname = \"ops-route\"\nerror_codes = [\"30003\"]\nchannels = [\"ops\"]\n",
        app.dir.path().display()
    );
    std::fs::write(&app.config_path, more).expect("write config");
    let c = app.control.clone();
    let reloaded = tokio::task::spawn_blocking(move || c.reload())
        .await
        .expect("join");
    assert!(reloaded.is_ok(), "{reloaded:?}");
    let m = app.metrics().await;
    for s in [
        "twilert_notifications_sent_total{channel=\"ops\",kind=\"alert\"}",
        "twilert_template_failures_total{channel=\"ops\"}",
        "twilert_events_routed_total{route=\"ops-route\"}",
    ] {
        assert_eq!(value(&m, s), Some(0.0), "{s} after the reload:\n{m}");
    }
    app.stop().await;
}

#[tokio::test]
async fn received_is_never_below_accepted_also_after_a_restart() {
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let app = spawn_in(BASE_CONFIG, slack_answering(&[]).await, None, dir.clone()).await;
    for n in 0..3 {
        app.send_event(n, "11200", &call_sid(n)).await;
    }
    // A redelivery and a forged request.
    app.send_event(0, "11200", &call_sid(0)).await;
    let forged = app
        .post_form(&event_params(9, "11200", &call_sid(9)), Some("bm9wZQ=="))
        .await;
    assert_eq!(forged.status().as_u16(), 403);
    let m = app.metrics().await;
    assert_eq!(value(&m, "twilert_events_accepted_total"), Some(3.0));
    assert_eq!(value(&m, "twilert_events_duplicate_total"), Some(1.0));
    assert_eq!(value(&m, "twilert_events_received_total"), Some(5.0), "{m}");
    app.stop().await;

    let again = spawn_in(BASE_CONFIG, slack_answering(&[]).await, None, dir).await;
    let m = again.metrics().await;
    let accepted = value(&m, "twilert_events_accepted_total").expect("accepted");
    let received = value(&m, "twilert_events_received_total").expect("received");
    assert_eq!(accepted, 3.0, "accepted is the store's count");
    assert_eq!(
        received, 4.0,
        "stored accepted + duplicates; this process rejected none"
    );
    assert!(received >= accepted);
    again.stop().await;
}
