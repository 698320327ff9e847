//! Spawning the app and talking to it like Twilio does.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};
use twilert::clock::{ManualClock, SharedClock, SystemClock};
use twilert::ingest::signature;
use twilert::startup::{Application, Control};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const TOKEN: &str = "test-auth-token";
pub const PUBLIC_URL: &str = "https://alerts.example.com/twilio/debugger";
pub const ACCOUNT: &str = "AC00000000000000000000000000000001";

/// A config with one Slack channel pointing at `{slack}` and the store in `{dir}`.
/// `{slack}`, `{dir}` are replaced by [`spawn_with`].
pub const BASE_CONFIG: &str = r#"
[server]
listen = "127.0.0.1:0"
workers = 1

[twilio]
public_url = "https://alerts.example.com/twilio/debugger"
auth_tokens = ["test-auth-token"]

[store]
path = "{dir}/twilert.db"

[delivery]
initial_backoff = "50ms"
max_backoff = "200ms"
max_attempts = 4
shutdown_grace = "2s"
timeout = "2s"

[defaults]
window = "1h"

[channels.slack]
kind = "slack"
url = "{slack}/services/T000/B000/XXXX"
rate_limit = "1000/s"
burst = 1000

[[routes]]
name = "voice"
error_codes = ["112xx"]
channels = ["slack"]

[[routes]]
name = "muted-warnings"
levels = ["warning"]
mute = true
"#;

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub slack: MockServer,
    pub dir: Arc<tempfile::TempDir>,
    pub control: Control,
    pub config_path: std::path::PathBuf,
    pub http: reqwest::Client,
    pub clock: Option<ManualClock>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    join: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// The base config with Slack answering 200 "ok".
pub async fn spawn_app() -> TestApp {
    spawn_with(BASE_CONFIG, slack_answering(&[]).await, None).await
}

/// A mock Slack answering each of `statuses` once, then 200 "ok" for good.
pub async fn slack_answering(statuses: &[u16]) -> MockServer {
    let slack = MockServer::start().await;
    for s in statuses {
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(*s).set_body_string("oops"))
            .up_to_n_times(1)
            .mount(&slack)
            .await;
    }
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&slack)
        .await;
    slack
}

/// Starts the app on `config` (placeholders `{slack}`, `{dir}`), with Slack mocked by
/// `slack`; `clock` injects a manual clock for windows.
pub async fn spawn_with(config: &str, slack: MockServer, clock: Option<ManualClock>) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    spawn_in(config, slack, clock, dir).await
}

/// As [`spawn_with`], reusing a store directory (restart tests).
pub async fn spawn_in(
    config: &str,
    slack: MockServer,
    clock: Option<ManualClock>,
    dir: Arc<tempfile::TempDir>,
) -> TestApp {
    let text = config
        .replace("{slack}", &slack.uri())
        .replace("{dir}", &dir.path().display().to_string());
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, &text).expect("write config");
    let settings = twilert::config::load(&config_path).expect("config loads");
    let shared_clock: SharedClock = match &clock {
        Some(c) => Arc::new(c.clone()),
        None => Arc::new(SystemClock),
    };
    let app = Application::build_with_clock(settings, Some(config_path.clone()), shared_clock)
        .await
        .expect("app builds");
    let port = app.port();
    let control = app.control();
    let (stop, rx) = tokio::sync::oneshot::channel();
    let join = tokio::spawn(app.run_until(rx));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        slack,
        dir,
        control,
        config_path,
        http: reqwest::Client::new(),
        clock,
        stop: Some(stop),
        join: Some(join),
    }
}

/// A Debugger event as Twilio posts it (form fields, in Twilio's order).
pub fn event_params(n: u32, code: &str, resource: &str) -> Vec<(String, String)> {
    let payload = serde_json::json!({
        "resource_sid": resource,
        "service_sid": null,
        "error_code": code,
        "more_info": {"Msg": "An attempt to retrieve content from https://example.com/voice returned the HTTP status code 502", "sourceComponent": "14100"},
        "webhook": {
            "type": "application/x-www-form-urlencoded",
            "request": {"method": "POST", "url": "https://example.com/voice", "headers": {}, "parameters": {"CallSid": resource}},
            "response": {"status_code": 502, "headers": {}, "body": "<html>Bad Gateway</html>"}
        }
    });
    vec![
        ("Sid".into(), sid(n)),
        ("AccountSid".into(), ACCOUNT.into()),
        ("ParentAccountSid".into(), "".into()),
        ("Timestamp".into(), "2026-11-26T10:00:00.123Z".into()),
        ("Level".into(), "ERROR".into()),
        ("PayloadType".into(), "application/json".into()),
        ("Payload".into(), payload.to_string()),
    ]
}

pub fn sid(n: u32) -> String {
    format!("NO{n:032x}")
}

pub fn call_sid(n: u32) -> String {
    format!("CA{n:032x}")
}

impl TestApp {
    pub fn ingest_url(&self) -> String {
        format!("{}/twilio/debugger", self.address)
    }

    /// POSTs form params signed with the test token over the public URL.
    pub async fn post_signed(&self, params: &[(String, String)]) -> reqwest::Response {
        post_signed_to(&self.http, &self.ingest_url(), params).await
    }

    pub async fn post_form(
        &self,
        params: &[(String, String)],
        signature: Option<&str>,
    ) -> reqwest::Response {
        let body = serde_urlencoded::to_string(params).expect("encode");
        let mut req = self
            .http
            .post(self.ingest_url())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(s) = signature {
            req = req.header("X-Twilio-Signature", s);
        }
        req.send().await.expect("request")
    }

    pub async fn send_event(&self, n: u32, code: &str, resource: &str) {
        let r = self.post_signed(&event_params(n, code, resource)).await;
        assert_eq!(
            r.status().as_u16(),
            200,
            "event {n}: {}",
            r.text().await.unwrap_or_default()
        );
    }

    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// The engine's accounting snapshot.
    pub async fn snapshot(&self) -> twilert::dispatch::Snapshot {
        self.control
            .dispatcher
            .snapshot()
            .await
            .expect("engine runs")
    }

    /// Waits until Slack got at least `n` requests; returns their JSON bodies.
    pub async fn slack_messages(&self, n: usize, within: Duration) -> Vec<serde_json::Value> {
        wait_for_requests(&self.slack, n, within).await
    }

    /// Stops the app the way SIGTERM does and waits for it.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(j) = self.join.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), j).await;
        }
    }
}

/// POSTs form params to `url`, signed as Twilio signs them for [`PUBLIC_URL`].
pub async fn post_signed_to(
    http: &reqwest::Client,
    url: &str,
    params: &[(String, String)],
) -> reqwest::Response {
    let sig = signature::compute(TOKEN, PUBLIC_URL, params);
    http.post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", sig)
        .body(serde_urlencoded::to_string(params).expect("encode"))
        .send()
        .await
        .expect("request")
}

/// Waits until `server` received at least `n` requests; returns their JSON bodies.
pub async fn wait_for_requests(
    server: &MockServer,
    n: usize,
    within: Duration,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + within;
    loop {
        let got = server.received_requests().await.unwrap_or_default();
        if got.len() >= n || Instant::now() > deadline {
            return got
                .iter()
                .map(|r| serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null))
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `f` until it is true or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if f().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The text of every Slack block and the fallback, for assertions.
pub fn slack_text(v: &serde_json::Value) -> String {
    v.to_string()
}
