//! Issue 10 item 6, run as the real binary: receivers that echo the request
//! ("Cannot POST /services/T000/B000/...?token=...", an SMTP server repeating the
//! AUTH line) must not put a channel's secret into the serve log, `dead-letters
//! list` or `send-test` output; secrets from the environment are never coerced
//! into numbers nor echoed.

use crate::email::sink::{Mechanism, Sink};
use crate::helpers::{call_sid, event_params, post_signed_to, serve_binary_with};
use base64::Engine;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Answers `status` with the request line echoed back, the way Express and many
/// proxies do ("Cannot POST <path>?<query>"), plus its `Authorization` header.
struct Echo(u16);

impl Respond for Echo {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut what = req.url.path().to_string();
        if let Some(q) = req.url.query() {
            what = format!("{what}?{q}");
        }
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(|v| format!(" (Authorization: {v})"))
            .unwrap_or_default();
        ResponseTemplate::new(self.0).set_body_string(format!("Cannot POST {what}{auth}"))
    }
}

/// A receiver echoing with `first` once (if any), then with `then` for good.
async fn echoing(first: Option<u16>, then: u16) -> MockServer {
    let server = MockServer::start().await;
    if let Some(s) = first {
        Mock::given(method("POST"))
            .respond_with(Echo(s))
            .up_to_n_times(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .respond_with(Echo(then))
        .mount(&server)
        .await;
    server
}

const SMTP_USER: &str = "alerts@example.com";
const PLAIN_PASS: &str = "SMTP-PASS-6x";
const LOGIN_PASS: &str = "SMTP-PASS-7y";

/// Everything that must never be printed: URL paths, tokens, passwords, and the
/// base64 AUTH strings an echoing SMTP server repeats.
fn secrets() -> Vec<String> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut s: Vec<String> = [
        "/services/T000/B000",
        "XXXXslack-secret-1",
        "tok-slack-2",
        "/workflows/abc123",
        "TEAMS-SIG-SECRET-3",
        "/hooks/receiver",
        "tok-hook-4",
        "hook-bearer-5",
        PLAIN_PASS,
        LOGIN_PASS,
    ]
    .map(String::from)
    .to_vec();
    s.push(b64(&format!("\0{SMTP_USER}\0{PLAIN_PASS}")));
    s.push(b64(LOGIN_PASS));
    s.push(b64(SMTP_USER));
    s
}

fn assert_clean(what: &str, text: &str) {
    for s in secrets() {
        assert!(!text.contains(&s), "{what} shows {s:?}:\n{text}");
    }
}

fn config(dir: &str, slack: &str, teams: &str, hook: &str, plain: u16, login: u16) -> String {
    format!(
        r#"
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
max_backoff = "100ms"
max_attempts = 3
timeout = "3s"
shutdown_grace = "1s"

[channels.slack]
kind = "slack"
url = "{slack}/services/T000/B000/XXXXslack-secret-1?token=tok-slack-2"

[channels.teams]
kind = "teams"
url = "{teams}/workflows/abc123/triggers/manual/paths/invoke?sig=TEAMS-SIG-SECRET-3"

[channels.hook]
kind = "webhook"
url = "{hook}/hooks/receiver?token=tok-hook-4"
headers = {{ Authorization = "Bearer hook-bearer-5" }}

[channels.mail_plain]
kind = "email"
smtp_url = "smtp://alerts%40example.com:{PLAIN_PASS}@127.0.0.1:{plain}?tls=none"
from = "Twilert <alerts@example.com>"
to = ["oncall@example.com"]

[channels.mail_login]
kind = "email"
smtp_url = "smtp://alerts%40example.com:{LOGIN_PASS}@127.0.0.1:{login}?tls=none"
from = "Twilert <alerts@example.com>"
to = ["oncall@example.com"]

[[routes]]
name = "voice"
error_codes = ["112xx"]
channels = ["slack", "teams", "hook", "mail_plain", "mail_login"]
"#
    )
}

fn twilert(dir: &std::path::Path, config: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twilert"))
        .env_clear()
        .env("NO_COLOR", "1")
        .current_dir(dir)
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("run twilert")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("join")
}

#[tokio::test]
async fn echoing_receivers_leak_no_secret_into_logs_dead_letters_or_send_test() {
    // Slack: Block Kit refused (400, logged), then the plain retry 404: broken.
    // Teams: 503 (retried, logged), then 404. Webhook: 401. Both SMTP servers
    // refuse the login repeating the AUTH exchange.
    let slack = echoing(Some(400), 404).await;
    let teams = echoing(Some(503), 404).await;
    let hook = echoing(None, 401).await;
    let plain = Sink::start().await;
    plain.echo_auth(Mechanism::Plain);
    let login = Sink::start().await;
    login.echo_auth(Mechanism::Login);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config.toml");
    let text_cfg = config(
        &dir.path().display().to_string(),
        &slack.uri(),
        &teams.uri(),
        &hook.uri(),
        plain.port,
        login.port,
    );
    std::fs::write(&cfg, text_cfg).expect("write config");

    let served = blocking({
        let cfg = cfg.clone();
        move || serve_binary_with(&cfg, &[("RUST_LOG", "debug")])
    })
    .await;
    let url = format!("http://127.0.0.1:{}/twilio/debugger", served.port);
    let r = post_signed_to(
        &reqwest::Client::new(),
        &url,
        &event_params(1, "11200", &call_sid(1)),
    )
    .await;
    assert_eq!(r.status().as_u16(), 200);

    // Every channel ends dead-lettered (the list is read beside the running service).
    let deadline = Instant::now() + Duration::from_secs(20);
    let listed = loop {
        let (d, c) = (dir.path().to_path_buf(), cfg.clone());
        let out = text(&blocking(move || twilert(&d, &c, &["dead-letters", "list"])).await);
        if out.contains("5 dead letter(s)") || Instant::now() > deadline {
            break out;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(listed.contains("5 dead letter(s)"), "{listed}");
    for ch in ["slack", "teams", "hook", "mail_plain", "mail_login"] {
        assert!(listed.contains(ch), "{ch} in {listed}");
    }
    assert!(listed.contains("Cannot POST [hidden]"), "{listed}");
    assert!(listed.contains("535"), "{listed}");
    assert_clean("dead-letters list", &listed);
    assert!(
        plain.logins().iter().any(|l| l.ends_with(PLAIN_PASS))
            && login.logins().iter().any(|l| l.ends_with(LOGIN_PASS)),
        "both servers heard (and echoed) the credentials"
    );

    let log = blocking(move || {
        // Everything it logged, up to its end.
        let mut served = served;
        let _ = served.child.kill();
        let _ = served.child.wait();
        std::thread::sleep(Duration::from_millis(200));
        served.log_text()
    })
    .await;
    assert!(
        log.contains("Slack refused the Block Kit payload"),
        "the 400 answer is logged: {log}"
    );
    assert!(log.contains("will retry"), "Teams' 503 is logged: {log}");
    assert_eq!(
        log.matches("permanent failure; dead-lettered").count(),
        5,
        "{log}"
    );
    assert!(log.contains("[hidden]"), "{log}");
    assert_clean("the serve log", &log);

    for ch in ["slack", "teams", "hook", "mail_plain", "mail_login"] {
        let (d, c) = (dir.path().to_path_buf(), cfg.clone());
        let o = blocking(move || twilert(&d, &c, &["send-test", ch])).await;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{ch}: {out}");
        assert!(out.contains("[hidden]"), "{ch}: {out}");
        assert_clean(&format!("send-test {ch}"), &out);
    }
}

#[test]
fn numeric_secrets_from_the_environment_stay_strings_and_unshown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config.toml");
    let base = format!(
        r#"
[twilio]
public_url = "https://alerts.example.com/twilio/debugger"
auth_tokens = ["placeholder"]

[store]
path = "{}/twilert.db"

[channels.pd]
kind = "pagerduty"
routing_key = ""

[[routes]]
name = "voice"
error_codes = ["112xx"]
channels = ["pd"]
"#,
        dir.path().display()
    );
    std::fs::write(&cfg, &base).expect("write");
    let run = |vars: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_twilert"));
        cmd.env_clear()
            .env("NO_COLOR", "1")
            .current_dir(dir.path())
            .arg("--config")
            .arg(&cfg)
            .arg("check");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.output().expect("run twilert")
    };
    let o = run(&[
        ("TWILERT__CHANNELS__PD__ROUTING_KEY", "0123456789"),
        ("TWILERT__TWILIO__AUTH_TOKENS", "987654321"),
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("pd"), "{out}");
    for s in ["0123456789", "123456789", "987654321"] {
        assert!(!out.contains(s), "{s} printed:\n{out}");
    }

    // Written unquoted in the file, a secret is refused by its type, unshown.
    std::fs::write(
        &cfg,
        base.replace("routing_key = \"\"", "routing_key = 55554444"),
    )
    .expect("write");
    let o = run(&[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("channels.pd") && out.contains("expected a string"),
        "{out}"
    );
    assert!(!out.contains("55554444"), "{out}");
}
