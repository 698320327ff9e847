//! SPEC 8 reload: `POST /-/reload` and SIGHUP. A bad config is rejected, the running
//! one keeps working and the failure shows in `/metrics`; a good one takes effect for
//! new events without losing work in flight.

use crate::helpers::*;
use std::process::{Child, Command};
use std::time::Duration;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The base config plus a route sending carrier failures (300xx) to Slack.
fn with_sms_route(base: &str) -> String {
    format!("{base}\n[[routes]]\nname = \"sms\"\nerror_codes = [\"30001-30010\"]\nchannels = [\"slack\"]\n")
}

/// The config as the test app wrote it (placeholders filled in).
fn current_config(app: &TestApp) -> String {
    std::fs::read_to_string(&app.config_path).expect("read config")
}

async fn reload(app: &TestApp) -> (u16, serde_json::Value) {
    app.reload().await
}

/// The value of a sample line `name{labels} value` (or `name value`) in `/metrics`.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (key, value) = l.rsplit_once(' ')?;
        (key == name).then(|| value.parse().ok())?
    })
}

async fn slack_bodies(app: &TestApp) -> Vec<String> {
    app.slack
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect()
}

#[tokio::test]
async fn a_good_reload_adds_a_route_for_new_events() {
    let app = spawn_app().await;
    // Before: 30003 matches no route and there are no default channels.
    app.send_event(1, "30003", &call_sid(1)).await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            app.snapshot().await.counters.unrouted == 1
        })
        .await,
        "unrouted before the reload"
    );

    std::fs::write(&app.config_path, with_sms_route(&current_config(&app))).expect("write");
    let (status, body) = reload(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "reloaded");
    let m = app.metrics().await;
    assert_eq!(
        metric(&m, "twilert_config_reload_success"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "twilert_config_reloads_total{result=\"success\"}"),
        Some(1.0),
        "{m}"
    );
    assert!(metric(&m, "twilert_config_reload_timestamp_seconds").is_some_and(|t| t > 0.0));

    app.send_event(2, "30003", &call_sid(2)).await;
    let msgs = app.slack_messages(1, Duration::from_secs(5)).await;
    assert_eq!(msgs.len(), 1, "the new route delivers");
    let all = slack_text(&msgs[0]);
    assert!(all.contains("30003") && all.contains("sms"), "{all}");
    assert!(
        all.contains(&sid(2)),
        "the new event, not the old one: {all}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_bad_reload_is_rejected_and_the_old_config_keeps_working() {
    let app = spawn_app().await;
    let good = current_config(&app);
    // A typo, a bad pattern and a missing variable.
    let bad = with_sms_route(&good)
        .replace("error_codes = [\"112xx\"]", "error_code = [\"112xx\"]")
        .replace("\"30001-30010\"", "\"300o1\"");
    std::fs::write(&app.config_path, bad).expect("write");
    let (status, body) = reload(&app).await;
    assert_eq!(status, 400, "{body}");
    let errors = body["errors"].to_string();
    assert!(errors.contains("error_code"), "names the key: {errors}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("running one stays")),
        "{body}"
    );

    let m = app.metrics().await;
    assert_eq!(
        metric(&m, "twilert_config_reload_success"),
        Some(0.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "twilert_config_reloads_total{result=\"failure\"}"),
        Some(1.0),
        "{m}"
    );

    // The old config still routes 112xx to Slack.
    app.send_event(1, "11200", &call_sid(1)).await;
    let msgs = app.slack_messages(1, Duration::from_secs(5)).await;
    assert_eq!(msgs.len(), 1, "old route still delivers");
    assert!(slack_text(&msgs[0]).contains("11200"));

    // A missing environment variable is rejected too.
    std::fs::write(
        &app.config_path,
        good.replace(
            "test-auth-token\"]",
            "test-auth-token\", \"${TWILERT_TEST_UNSET_TOKEN}\"]",
        ),
    )
    .expect("write");
    let (status, body) = reload(&app).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["errors"]
            .to_string()
            .contains("TWILERT_TEST_UNSET_TOKEN"),
        "{body}"
    );

    // Fixed: accepted, and the new route takes effect.
    std::fs::write(&app.config_path, with_sms_route(&good)).expect("write");
    let (status, body) = reload(&app).await;
    assert_eq!(status, 200, "{body}");
    let m = app.metrics().await;
    assert_eq!(
        metric(&m, "twilert_config_reload_success"),
        Some(1.0),
        "{m}"
    );
    app.send_event(2, "30005", &call_sid(2)).await;
    let msgs = app.slack_messages(2, Duration::from_secs(5)).await;
    assert_eq!(msgs.len(), 2, "new route delivers after the fix");
    assert!(slack_text(&msgs[1]).contains("30005"));
    app.stop().await;
}

#[tokio::test]
async fn a_reload_that_changes_the_store_or_listener_is_rejected() {
    let app = spawn_app().await;
    let good = current_config(&app);
    std::fs::write(&app.config_path, good.replace("twilert.db", "other.db")).expect("write");
    let (status, body) = reload(&app).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"].to_string().contains("store.path"), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_reload_during_delivery_loses_and_repeats_nothing() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("ok")
                .set_delay(Duration::from_millis(700)),
        )
        .mount(&slack)
        .await;
    let app = spawn_with(BASE_CONFIG, slack, None).await;
    let good = current_config(&app);
    app.send_event(1, "11200", &call_sid(1)).await;
    // Wait until the delivery is in flight, then reload mid-request.
    assert!(
        eventually(Duration::from_secs(5), || async {
            !app.slack
                .received_requests()
                .await
                .unwrap_or_default()
                .is_empty()
        })
        .await
    );
    std::fs::write(&app.config_path, with_sms_route(&good)).expect("write");
    let (status, body) = reload(&app).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        eventually(Duration::from_secs(5), || async {
            let s = app.snapshot().await;
            s.counters.notified == 1 && s.pending == 0
        })
        .await,
        "the in-flight alert settles as sent"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(slack_bodies(&app).await.len(), 1, "sent exactly once");
    app.stop().await;
}

// ------------------------------------------------------------ SIGHUP, real binary

#[cfg(unix)]
fn hup(child: &Child) {
    let ok = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "SIGHUP sent");
}

#[cfg(unix)]
#[tokio::test]
async fn sighup_reloads_the_running_service() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&slack)
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let good = with_test_admin(
        &BASE_CONFIG
            .replace("{slack}", &slack.uri())
            .replace("{dir}", &dir.path().display().to_string()),
    );
    let config = dir.path().join("config.toml");
    std::fs::write(&config, &good).expect("write");
    let served = tokio::task::spawn_blocking({
        let config = config.clone();
        move || serve_binary(&config)
    })
    .await
    .expect("join");
    let http = reqwest::Client::new();
    let metrics_url = format!("http://127.0.0.1:{}/metrics", served.admin_port);
    let metrics = || async {
        http.get(&metrics_url)
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .unwrap_or_default()
    };

    std::fs::write(&config, good.replace("window = \"1h\"", "windw = \"1h\"")).expect("write");
    hup(&served.child);
    assert!(
        eventually(Duration::from_secs(5), || async {
            metric(&metrics().await, "twilert_config_reload_success") == Some(0.0)
        })
        .await,
        "bad config rejected: {}",
        metrics().await
    );
    let ready = http
        .get(format!("http://127.0.0.1:{}/readyz", served.port))
        .send()
        .await
        .expect("readyz");
    assert_eq!(
        ready.status().as_u16(),
        200,
        "still serving on the old config"
    );

    std::fs::write(&config, with_sms_route(&good)).expect("write");
    hup(&served.child);
    assert!(
        eventually(Duration::from_secs(5), || async {
            let m = metrics().await;
            metric(&m, "twilert_config_reload_success") == Some(1.0)
                && metric(&m, "twilert_config_reloads_total{result=\"success\"}") == Some(1.0)
        })
        .await,
        "good config accepted: {}",
        metrics().await
    );

    // The new route takes effect on a new signed event.
    let params = event_params(1, "30003", &call_sid(1));
    let r = post_signed_to(
        &http,
        &format!("http://127.0.0.1:{}/twilio/debugger", served.port),
        &params,
    )
    .await;
    assert_eq!(r.status().as_u16(), 200);
    let msgs = wait_for_requests(&slack, 1, Duration::from_secs(5)).await;
    assert_eq!(msgs.len(), 1);
    assert!(slack_text(&msgs[0]).contains("30003"));
    drop(served);
}
