//! The README's quick start as written, on the shipped `config.toml`: the sample
//! sender waits for the service or says in one line that it cannot reach it; the
//! alert the README shows; `--code`; a storm's alert then digest. Also what a running
//! service shows: JSON log fields, 405 on the webhook path.

use crate::docs::{assert_shows, block_after, doc, free_port, root, shipped_copy};
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
            // Parallel runs cannot share the shipped admin port.
            .env(
                "TWILERT__ADMIN__LISTEN",
                format!("127.0.0.1:{}", free_port()),
            )
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
    let out = wait_for(&served.stdout, "50× 11200", Duration::from_secs(15));
    let alert = block_after(&readme, "The first terminal shows the alert");
    assert_shows(&out, &alert, "README quick start alert");
    assert!(
        out.contains("30003 Unreachable destination handset"),
        "--code 30003:\n{out}"
    );
    assert!(out.contains("route demo → console"), "{out}");
    assert!(
        out.contains("50× 11200") && out.contains("50 events on 1 resource"),
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
