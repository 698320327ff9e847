//! The README's and docs/OPERATIONS.md's examples, run as written against the shipped
//! `config.toml`: the quick start (the sample sender, a storm's alert and digest), the
//! operator commands, the exit-code table, and the output samples the docs show. A
//! doc line's `…` or `...` stands for any text.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn doc(name: &str) -> String {
    std::fs::read_to_string(root().join(name)).expect("doc readable")
}

/// The first fenced block after the first line containing `marker`.
fn block_after(doc: &str, marker: &str) -> Vec<String> {
    let at = doc
        .find(marker)
        .unwrap_or_else(|| panic!("{marker:?} not in the doc"));
    let rest = &doc[at..];
    let open = rest.find("\n```").expect("a fenced block follows");
    let body = &rest[open + 4..];
    let body = &body[body.find('\n').expect("fence line") + 1..];
    let close = body.find("\n```").expect("the block closes");
    body[..close].lines().map(str::to_string).collect()
}

/// Whether some line of `output` is `doc_line`, its `…`/`...` matching any text.
fn shows(output: &str, doc_line: &str) -> bool {
    let want = doc_line.trim().replace("...", "…");
    let parts: Vec<&str> = want.split('…').collect();
    output.lines().any(|line| {
        let line = line.trim();
        let mut rest = line;
        for (i, part) in parts.iter().enumerate() {
            if i == 0 {
                match rest.strip_prefix(part) {
                    Some(r) => rest = r,
                    None => return false,
                }
            } else if let Some(at) = rest.find(part) {
                rest = &rest[at + part.len()..];
            } else {
                return false;
            }
        }
        parts.len() > 1 || rest.is_empty()
    })
}

fn assert_shows(output: &str, doc_lines: &[String], what: &str) {
    for l in doc_lines.iter().filter(|l| !l.trim().is_empty()) {
        assert!(
            shows(output, l),
            "{what}: the doc shows {l:?}, the real output is:\n{output}"
        );
    }
}

/// `twilert ARGS` in `dir` with only `vars` set (plus `PATH`).
fn twilert(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_twilert"));
    cmd.env_clear()
        .env("NO_COLOR", "1")
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(dir)
        .args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let o: Output = cmd.output().expect("run twilert");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A temp dir holding a copy of the shipped config.toml, edited by `edit`.
fn shipped_copy(edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(root().join("config.toml")).expect("config.toml");
    std::fs::write(dir.path().join("config.toml"), edit(text)).expect("write config");
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running `twilert ARGS` (`serve`) whose stdout (the console channel) and stderr
/// (the log) are collected.
struct Served {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

fn collect(mut pipe: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            let chunk = String::from_utf8_lossy(&buf[..n]).into_owned();
            sink.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push_str(&chunk);
        }
    });
    text
}

/// Waits until `text` contains `want`; returns all of it.
fn wait_for(text: &Mutex<String>, want: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let out = text.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if out.contains(want) || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Served {
    /// `twilert ARGS` in `dir` on a free port; returns it and its webhook URL.
    fn start(dir: &Path, args: &[&str]) -> (Served, String) {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}/twilio/debugger");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_twilert"));
        cmd.env_clear()
            .env("NO_COLOR", "1")
            .env("TWILERT__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("TWILERT_PUBLIC_URL", &url)
            .current_dir(dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("twilert serve starts");
        let stdout = collect(child.stdout.take().expect("stdout"));
        let stderr = collect(child.stderr.take().expect("stderr"));
        (
            Served {
                child,
                stdout,
                stderr,
            },
            url,
        )
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sample sender with `args` (a README line's arguments) plus `--url`.
fn send_sample(args: &[&str], url: &str) -> (i32, String, String) {
    let o = Command::new(crate::python::python())
        .arg(root().join("scripts/send-sample-event.py"))
        .args(args)
        .args(["--url", url])
        .env_remove("TWILIO_AUTH_TOKEN")
        .env_remove("TWILERT_PUBLIC_URL")
        .output()
        .expect("python runs the sample sender");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The README's quick start, its lines as written: the sample alert as the README shows
/// it, `--code 30003` sending a 30003, and `--storm` giving one alert and then a digest
/// (the demo route's 20 s window shortened to 2 s here; everything else as shipped).
#[test]
fn readme_quick_start_shows_the_alert_then_the_storm_digest() {
    let readme = doc("README.md");
    let commands = block_after(&readme, "In another terminal");
    let dir = shipped_copy(|t| {
        assert_eq!(t.matches("window = \"20s\"").count(), 1, "one 20 s window");
        t.replace("window = \"20s\"", "window = \"2s\"")
    });
    // Started right before the sender: it must wait for the listener.
    let (served, url) = Served::start(dir.path(), &["serve"]);
    for line in &commands {
        let cmd = line.split('#').next().unwrap_or("").trim();
        let args: Vec<&str> = cmd.split_whitespace().skip(2).collect();
        assert!(
            cmd.starts_with("python3 scripts/send-sample-event.py"),
            "{line}"
        );
        let (code, stdout, stderr) = send_sample(&args, &url);
        assert_eq!(code, 0, "{line}:\n{stdout}\n{stderr}");
    }
    let out = wait_for(&served.stdout, "49× 11200", Duration::from_secs(15));
    let alert = block_after(&readme, "The first terminal shows the alert");
    assert_shows(&out, &alert, "README quick start alert");
    assert!(
        out.contains("30003 Unreachable destination handset"),
        "--code 30003:\n{out}"
    );
    assert!(out.contains("route     demo → console"), "{out}");
    assert!(
        out.contains("49× 11200") && out.contains("49 more between"),
        "the storm's digest:\n{out}"
    );
}

#[test]
fn the_sample_sender_says_in_one_line_when_twilert_is_not_running() {
    let url = format!("http://127.0.0.1:{}/twilio/debugger", free_port());
    let (code, stdout, stderr) = send_sample(&["--wait", "0.5"], &url);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line:\n{stderr}");
    assert!(
        stderr.contains("cannot reach twilert") || stderr.contains("gave up"),
        "{stderr}"
    );
    assert!(!stderr.contains("Traceback"), "{stderr}");
}

/// docs/OPERATIONS.md's operator commands on the shipped config, from the checkout.
#[test]
fn operator_commands_run_on_the_shipped_config() {
    let (code, stdout, stderr) = twilert(&root(), &["check"], &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for want in [
        "config.toml: OK",
        "demo",
        "resource_sids=[CAdemo*]",
        "app-webhooks",
        "warning: channels.slack: disabled",
    ] {
        assert!(stdout.contains(want), "check: missing {want:?}:\n{stdout}");
    }

    let (code, stdout, _) = twilert(
        &root(),
        &["route", "tests/fixtures/debugger-11200.form"],
        &[],
    );
    assert_eq!(code, 0);
    assert!(
        stdout.contains("error_codes matched \"112xx\"") && stdout.contains("app-webhooks"),
        "{stdout}"
    );

    let (code, stdout, stderr) = twilert(
        &root(),
        &[
            "route",
            "tests/fixtures/debugger-30003.json",
            "--channel",
            "slack",
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("message-delivery"), "{stdout}");

    let (code, _, stderr) = twilert(&root(), &["send-test", "slack"], &[]);
    assert_eq!(code, 1, "send-test slack without SLACK_WEBHOOK_URL");
    let shipped = block_after(&doc("docs/OPERATIONS.md"), "On the shipped config, where");
    assert_shows(
        &stderr,
        &shipped,
        "OPERATIONS send-test on the shipped config",
    );

    let (code, stdout, _) = twilert(&root(), &["send-test", "console"], &[]);
    assert_eq!(code, 0);
    assert!(stdout.contains("channels.console: accepted by the provider"));
}

#[test]
fn operations_check_sample_is_what_check_prints() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("config.toml"),
        r#"
[twilio]
auth_tokens = ["not-a-real-token"]

[channels.slack]
kind = "slack"
url = "${SLACK_HOOK}"

[[routes]]
name = "voice"
error_code = ["112xx"]
channels = ["slack"]

[[routes]]
name = "sms"
error_codes = ["300o1"]
channels = ["slack"]
"#,
    )
    .expect("write config");
    let (code, _, stderr) = twilert(dir.path(), &["check"], &[]);
    assert_eq!(code, 1);
    let sample = block_after(&doc("docs/OPERATIONS.md"), "so one run names every problem");
    assert_shows(&stderr, &sample, "OPERATIONS check sample");
    // serve names the same problems and points to check.
    let (code, _, serve_err) = twilert(dir.path(), &["serve"], &[]);
    assert_eq!(code, 1);
    assert_shows(&serve_err, &sample[..3], "serve on a bad config");
    assert!(
        serve_err.contains("3 error(s)") && serve_err.contains("check"),
        "{serve_err}"
    );
}

#[test]
fn readme_unknown_key_sample_is_what_check_prints() {
    let readme = doc("README.md");
    let dir = shipped_copy(|t| {
        t.replace("name = \"app-webhooks\"", "name = \"voice-webhooks\"")
            .replace("error_codes = [\"112xx\"", "eror_codes = [\"112xx\"")
    });
    let (code, _, stderr) = twilert(dir.path(), &["check"], &[]);
    assert_eq!(code, 1);
    let at = readme
        .find("``routes[1] (\"voice-webhooks\")")
        .expect("README's sample");
    let sample = readme[at + 2..].split("``").next().unwrap_or_default();
    assert!(
        shows(&stderr, &format!("error: {sample}")),
        "README: {sample}\nreal: {stderr}"
    );
}

async fn slack(status: u16, body: &str) -> MockServer {
    let s = MockServer::start().await;
    let mut answer = ResponseTemplate::new(status).set_body_string(body);
    if status == 429 {
        answer = answer.insert_header("Retry-After", "30");
    }
    Mock::given(method("POST"))
        .respond_with(answer)
        .mount(&s)
        .await;
    s
}

#[tokio::test]
async fn operations_send_test_samples_are_what_send_test_prints() {
    let ops = doc("docs/OPERATIONS.md");
    for (status, body, marker, code) in [
        (200, "ok", "and reports the answer", 0),
        (404, "no_service", "a Slack webhook that was revoked", 1),
        (429, "rate_limited", "and so does a temporary failure", 1),
    ] {
        let server = slack(status, body).await;
        let hook = format!("{}/services/T000/B000/not-a-real-secret", server.uri());
        let sample = block_after(&ops, marker);
        let (got, stdout, stderr) = tokio::task::spawn_blocking(move || {
            twilert(
                &root(),
                &["send-test", "slack"],
                &[("SLACK_WEBHOOK_URL", hook.as_str())],
            )
        })
        .await
        .expect("join");
        assert_eq!(got, code, "HTTP {status}:\n{stdout}\n{stderr}");
        assert_shows(
            &format!("{stdout}{stderr}"),
            &sample,
            &format!("send-test, HTTP {status}"),
        );
    }
}

/// The README's exit-code table, row by row, on a copy of the shipped config.
#[test]
fn exit_codes_are_the_readme_table() {
    let readme = doc("README.md");
    assert!(readme.contains("| command | 0 | 1 | 2 |"));
    let dir = shipped_copy(|t| t);
    let d = dir.path();
    let cases: &[(&[&str], i32, &str)] = &[
        (&["check"], 0, "OK"),
        (&["route", "missing.form"], 1, "missing.form"),
        (&["send-test", "nope"], 1, "nope"),
        (&["dead-letters", "list"], 0, "no dead letters"),
        (
            &["dead-letters", "retry", "--all"],
            0,
            "no dead letters to retry",
        ),
        (
            &["dead-letters", "retry", "42"],
            1,
            "no dead letter with id 42",
        ),
        (&["dead-letters", "retry"], 2, "--all"),
        (&["no-such-command"], 2, "no-such-command"),
    ];
    for (args, code, want) in cases {
        let (got, stdout, stderr) = twilert(d, args, &[]);
        assert_eq!(got, *code, "twilert {args:?}:\n{stdout}\n{stderr}");
        assert!(
            stdout.contains(want) || stderr.contains(want),
            "twilert {args:?}: missing {want:?}:\n{stdout}\n{stderr}"
        );
    }
}

/// JSON logs carry `channel` as a plain string field (it was a Debug-formatted list).
#[test]
fn json_logs_carry_the_channel_as_a_plain_field() {
    let dir = shipped_copy(|t| t);
    let (served, url) = Served::start(dir.path(), &["--log-format", "json", "serve"]);
    let (code, stdout, stderr) = send_sample(&[], &url);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let log = wait_for(&served.stderr, "alert queued", Duration::from_secs(10));
    let queued: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "alert queued")
        .collect();
    assert!(!queued.is_empty(), "{log}");
    for v in &queued {
        assert!(
            v["sid"].as_str().is_some_and(|s| s.starts_with("NO")),
            "{v}"
        );
        assert_eq!(v["route"], "app-webhooks", "{v}");
        assert!(v.get("channels").is_none(), "{v}");
    }
    let channels: Vec<&str> = queued
        .iter()
        .filter_map(|v| v["channel"].as_str())
        .collect();
    assert_eq!(channels, ["console"], "slack is off in the shipped config");
}

/// The webhook path answers other methods 405 with `Allow: POST`, not 404.
#[test]
fn get_on_the_webhook_path_is_405_with_allow_post() {
    let dir = shipped_copy(|t| t);
    let (_served, url) = Served::start(dir.path(), &["serve"]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (status, allow) = rt.block_on(async {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match http.get(&url).send().await {
                Ok(r) => {
                    let allow = r
                        .headers()
                        .get("allow")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    return (r.status().as_u16(), allow);
                }
                Err(e) if Instant::now() > deadline => panic!("twilert did not start: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    assert_eq!(status, 405);
    assert_eq!(allow.as_deref(), Some("POST"));
}

/// README: without `twilio.public_url`, `check` warns (signatures then depend on
/// proxy headers).
#[test]
fn check_warns_when_public_url_is_unset() {
    let readme = doc("README.md");
    assert!(readme.contains("check` warns when `public_url` is unset"));
    let dir = shipped_copy(|t| {
        let line = t
            .lines()
            .find(|l| l.starts_with("public_url = "))
            .expect("the shipped public_url")
            .to_string();
        t.replace(&line, "")
    });
    let (code, stdout, stderr) = twilert(dir.path(), &["check"], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("warning: twilio.public_url is not set")
            && stdout.contains("X-Forwarded-Proto"),
        "{stdout}"
    );
    let (_, shipped, _) = twilert(&root(), &["check"], &[]);
    assert!(!shipped.contains("public_url is not set"), "{shipped}");
}
