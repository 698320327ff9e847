//! Spawning the app and talking to it like Twilio does.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};
use twilert::clock::{ManualClock, SharedClock, SystemClock};
use twilert::control::Control;
use twilert::ingest::signature;
use twilert::startup::Application;
// The store's read views, for the tests that look into it.
pub use twilert::store::Views;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const TOKEN: &str = "test-auth-token";
pub const PUBLIC_URL: &str = "https://alerts.example.com/twilio/debugger";
pub const ACCOUNT: &str = "AC00000000000000000000000000000001";
/// The Event Streams sink URL the tests sign for (`server.event_streams_path`).
pub const EVENTS_URL: &str = "https://alerts.example.com/twilio/events";

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
    /// The admin listener (`/metrics`, `/-/reload`, the API).
    pub admin_address: String,
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
    let mut text = config
        .replace("{slack}", &slack.uri())
        .replace("{dir}", &dir.path().display().to_string());
    text = with_test_admin(&text);
    // A test that names its own store (a PostgreSQL it controls) keeps it.
    if !names_store_url(&text) {
        if let Some(url) = backend_database(dir.path()).await {
            text = with_store_url(&text, &url);
        }
    }
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
    let admin_port = app.admin_port();
    let control = app.control();
    let (stop, rx) = tokio::sync::oneshot::channel();
    let join = tokio::spawn(app.run_until(rx));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        admin_address: format!("http://127.0.0.1:{admin_port}"),
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

/// Whether this run puts the end-to-end tests on PostgreSQL
/// (`TWILERT_TEST_BACKEND=postgres`; scripts/test.sh runs the core modules so).
pub fn on_postgres() -> bool {
    std::env::var("TWILERT_TEST_BACKEND").is_ok_and(|v| v == "postgres")
}

/// On PostgreSQL runs, the database of the store directory `dir`: a fresh one the
/// first time, the same one when a test starts the app again on `dir` (a restart).
/// Kept for the whole run (a restarted app must find its data); stale ones are
/// dropped by the next run's first `fresh_database`.
pub async fn backend_database(dir: &std::path::Path) -> Option<String> {
    if !on_postgres() {
        return None;
    }
    static DATABASES: std::sync::Mutex<Vec<(std::path::PathBuf, crate::pg::PgDatabase)>> =
        std::sync::Mutex::new(Vec::new());
    if let Some((_, db)) = DATABASES.lock().unwrap().iter().find(|(d, _)| d == dir) {
        return Some(db.url.clone());
    }
    let db = crate::pg::fresh_database()
        .await
        .expect("TWILERT_TEST_BACKEND=postgres needs a PostgreSQL");
    let url = db.url.clone();
    DATABASES.lock().unwrap().push((dir.to_path_buf(), db));
    Some(url)
}

/// Whether the `[store]` table of `text` has a `url`.
fn names_store_url(text: &str) -> bool {
    text.split_once("[store]").is_some_and(|(_, rest)| {
        let table = rest.split("\n[").next().unwrap_or("");
        table.lines().any(|l| l.trim_start().starts_with("url"))
    })
}

/// `text` with `[store] url` set (the section's other keys kept).
pub fn with_store_url(text: &str, url: &str) -> String {
    if text.contains("[store]") {
        text.replacen("[store]", &format!("[store]\nurl = \"{url}\""), 1)
    } else {
        format!("{text}\n[store]\nurl = \"{url}\"\n")
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

    /// [`Self::post_signed`] for owned params (for `join_all`); returns the status.
    pub async fn post_signed_owned(&self, params: Vec<(String, String)>) -> u16 {
        self.post_signed(&params).await.status().as_u16()
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
            .get(format!("{}/metrics", self.admin_address))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// `POST /-/reload` on the admin listener: status and JSON body.
    pub async fn reload(&self) -> (u16, serde_json::Value) {
        let r = self
            .http
            .post(format!("{}/-/reload", self.admin_address))
            .send()
            .await
            .expect("reload request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or_default())
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
    /// Reads the app's store through its configured read views (SQLite or
    /// PostgreSQL), off the test's runtime.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Views) -> T + Send + 'static,
    ) -> T {
        let store = self.control.shared.get().settings.store.clone();
        tokio::task::spawn_blocking(move || {
            let views = twilert::store::open_views(&store).expect("the store opens for reading");
            f(&*views)
        })
        .await
        .expect("the read ran")
    }

    /// Makes the store refuse to insert the event `sid` (a trigger), as a full
    /// disk would: the transaction fails.
    pub async fn fail_inserts_of(&self, sid: &str) {
        match backend_database(self.dir.path()).await {
            Some(url) => {
                let db = crate::pg::connect(&url).await.expect("connect");
                db.batch_execute(&format!(
                    "CREATE FUNCTION fail_insert() RETURNS trigger LANGUAGE plpgsql AS $$
                     BEGIN IF NEW.sid = '{sid}' THEN RAISE EXCEPTION 'simulated write failure'; END IF;
                     RETURN NEW; END $$;
                     CREATE TRIGGER fail_insert BEFORE INSERT ON events FOR EACH ROW
                     EXECUTE FUNCTION fail_insert();"
                ))
                .await
                .expect("trigger");
            }
            None => {
                let db = rusqlite::Connection::open(self.dir.path().join("twilert.db")).unwrap();
                db.execute_batch(&format!(
                    "CREATE TRIGGER fail_insert BEFORE INSERT ON events WHEN NEW.sid = '{sid}'
                     BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END;"
                ))
                .unwrap();
            }
        }
    }

    /// Undoes [`TestApp::fail_inserts_of`].
    pub async fn allow_inserts(&self) {
        match backend_database(self.dir.path()).await {
            Some(url) => {
                let db = crate::pg::connect(&url).await.expect("connect");
                db.batch_execute("DROP TRIGGER fail_insert ON events")
                    .await
                    .expect("drop trigger");
            }
            None => {
                let db = rusqlite::Connection::open(self.dir.path().join("twilert.db")).unwrap();
                db.execute_batch("DROP TRIGGER fail_insert;").unwrap();
            }
        }
    }

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

/// Adds an `[admin]` section on a free port to a config that has none (parallel
/// tests cannot share the default admin port); reloads are not spaced in tests.
pub fn with_test_admin(text: &str) -> String {
    if text.contains("[admin]") {
        return text.to_string();
    }
    // A concrete port, so the CLI (which reads the config) can reach the service.
    let port = spare_port();
    format!("{text}\n[admin]\nlisten = \"127.0.0.1:{port}\"\nreload_interval = \"0s\"\n")
}

/// A free port below the kernel's ephemeral range (32768 and up), so no other
/// test's `:0` bind takes it between this check and the service's bind.
pub fn spare_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let offset = (std::process::id() % 64) * 190;
    loop {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let port = (20_000 + (offset + n) % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A `twilert serve` process of the built binary; killed when dropped.
pub struct Served {
    pub child: std::process::Child,
    pub port: u16,
    pub admin_port: u16,
    /// Every log line it wrote (JSON), for assertions on what it said.
    pub logs: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin_port)
    }
    pub fn log_text(&self) -> String {
        self.logs.lock().map(|l| l.join("\n")).unwrap_or_default()
    }
    pub async fn metrics(&self) -> String {
        reqwest::get(self.admin_url("/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .unwrap_or_default()
    }
}

/// Starts `twilert serve` on `config` (written with [`with_test_admin`] applied) with
/// JSON logs, and reads both ports from its "twilert listening" line.
pub fn serve_binary(config: &std::path::Path) -> Served {
    serve_binary_with(config, &[])
}

/// As [`serve_binary`], with environment variables (e.g. `RUST_LOG`).
pub fn serve_binary_with(config: &std::path::Path, env: &[(&str, &str)]) -> Served {
    try_serve_binary_with(config, env)
        .unwrap_or_else(|logs| panic!("twilert did not start:\n{logs}"))
}

/// As [`serve_binary`]; `Err` carries what the process logged when it did not start.
pub fn try_serve_binary(config: &std::path::Path) -> Result<Served, String> {
    try_serve_binary_with(config, &[])
}

fn try_serve_binary_with(config: &std::path::Path, env: &[(&str, &str)]) -> Result<Served, String> {
    use std::io::{BufRead, BufReader};
    let text = std::fs::read_to_string(config).expect("read config");
    std::fs::write(config, with_test_admin(&text)).expect("write config");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_twilert"))
        .env_clear()
        .envs(env.iter().copied())
        .arg("--config")
        .arg(config)
        .args(["--log-format", "json", "serve"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start twilert");
    let logs = Arc::new(std::sync::Mutex::new(vec![]));
    let (tx, rx) = std::sync::mpsc::channel();
    for stream in [
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let (logs, tx) = (logs.clone(), tx.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    if v["message"] == "twilert listening" {
                        let _ = tx.send((v["port"].as_u64(), v["admin_port"].as_u64()));
                    }
                }
                if let Ok(mut l) = logs.lock() {
                    l.push(line);
                }
            }
        });
    }
    let got = rx.recv_timeout(Duration::from_secs(15)).ok();
    let ports = got.and_then(|(p, a)| Some((u16::try_from(p?).ok()?, u16::try_from(a?).ok()?)));
    match ports {
        Some((port, admin_port)) => Ok(Served {
            child,
            port,
            admin_port,
            logs,
        }),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(100));
            Err(logs.lock().map(|l| l.join("\n")).unwrap_or_default())
        }
    }
}

/// Runs one of Twilio's SDKs as a signer: `program script` reads the JSON `cases`
/// on stdin and prints `[{url, signature}, ...]`; returns (url, signature) per case.
pub fn sdk_signatures(
    program: impl AsRef<std::ffi::OsStr>,
    script: &str,
    cases: &serde_json::Value,
    what: &str,
) -> Vec<(String, String)> {
    use std::io::Write;
    let path = format!("{}/tests/validators/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut child = std::process::Command::new(program)
        .arg(&path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start it: run scripts/test-deps.sh ({e})"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(cases.to_string().as_bytes())
        .expect("write cases");
    let out = child.wait_with_output().expect("signer runs");
    assert!(
        out.status.success(),
        "{what} failed (run scripts/test-deps.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("signer JSON");
    v.iter()
        .map(|c| {
            (
                c["url"].as_str().unwrap_or_default().to_string(),
                c["signature"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// An error-log CloudEvent as Twilio's Event Streams sends it.
pub fn error_log(n: u32, code: &str, resource: &str) -> serde_json::Value {
    serde_json::json!({
        "specversion": "1.0",
        "type": "com.twilio.error-logs.error.logged",
        "source": "AB00000000000000000000000000000001",
        "id": sid(n),
        "dataschema": "https://events-schemas.twilio.com/ErrorLogs.Error/2",
        "datacontenttype": "application/json",
        "time": "2026-12-01T09:00:00.000Z",
        "data": {
            "sid": sid(n),
            "account_sid": ACCOUNT,
            "master_account_sid": ACCOUNT,
            "date_created": "2026-12-01T09:00:00.000Z",
            "level": "ERROR",
            "request_sid": "RQ00000000000000000000000000000001",
            "product_name": "Programmable Voice",
            "error_code": code,
            "payload": serde_json::json!({
                "resource_sid": resource,
                "error_code": code,
                "more_info": {"Msg": "An attempt to retrieve content returned 502"},
                "webhook": {"request": {"method": "POST", "url": "https://example.com/voice"}, "response": {"status_code": 502}}
            }).to_string()
        }
    })
}
