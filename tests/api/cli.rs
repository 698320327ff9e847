//! SPEC 9 command line: `check`, `route` and `send-test`, run as the real binary on a
//! config in a temp dir, asserting on stdout, stderr and the exit code.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const FORM_EVENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/debugger-11200.form"
);
const JSON_EVENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/debugger-30003.json"
);
const CLOUDEVENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/eventstreams-11200.json"
);

/// The Slack webhook's path; its last part is the secret that must never be printed.
/// A made-up webhook path (not a real token): what `check` must never print.
const SLACK_PATH: &str = "/services/T000/B000/not-a-real-secret-42";
const SLACK_SECRET: &str = "not-a-real-secret-42";

/// A valid config: Slack at `{slack}`, console, three routes. `{dir}` is the temp dir.
const GOOD: &str = r#"
[server]
listen = "127.0.0.1:0"

[twilio]
public_url = "https://alerts.example.com/twilio/debugger"
auth_tokens = ["${TWILIO_AUTH_TOKEN}"]

[store]
path = "{dir}/twilert.db"

[templates]
dir = "{dir}/templates"

[delivery]
timeout = "3s"

[channels.slack]
kind = "slack"
url = "${SLACK_WEBHOOK_URL}"

[channels.console]
kind = "console"
target = "{dir}/console.log"

[[routes]]
name = "voice"
error_codes = ["112xx"]
channels = ["slack", "console"]
window = "10m"

[[routes]]
name = "sms"
error_codes = ["30001-30010"]
group_by = ["error_code"]
channels = ["console"]

[[routes]]
name = "quiet"
levels = ["warning"]
mute = true
"#;

struct Env {
    dir: tempfile::TempDir,
    slack: String,
}

impl Env {
    fn new(slack: &str) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("templates")).expect("templates dir");
        Env {
            dir,
            slack: slack.to_string(),
        }
    }

    fn config(&self, text: &str) -> PathBuf {
        let p = self.dir.path().join("config.toml");
        let text = text.replace("{dir}", &self.dir.path().display().to_string());
        std::fs::write(&p, text).expect("write config");
        p
    }

    /// Runs `twilert --config <config> ARGS` with only the given variables set.
    fn run(&self, config: &Path, args: &[&str]) -> Output {
        self.run_env(config, args, &[("TWILIO_AUTH_TOKEN", "tok-abcdef-123456")])
    }

    fn run_env(&self, config: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_twilert"));
        cmd.env_clear()
            .env("NO_COLOR", "1")
            .env("SLACK_WEBHOOK_URL", format!("{}{SLACK_PATH}", self.slack))
            .current_dir(self.dir.path())
            .arg("--config")
            .arg(config)
            .args(args);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.output().expect("run twilert")
    }
}

fn out(o: &Output) -> (i32, String, String) {
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Runs a blocking command from an async test (wiremock keeps serving meanwhile).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("join")
}

fn assert_no_secrets(stdout: &str, stderr: &str) {
    for s in [SLACK_SECRET, "tok-abcdef-123456"] {
        assert!(
            !stdout.contains(s) && !stderr.contains(s),
            "secret {s} printed:\n{stdout}\n{stderr}"
        );
    }
}

// ---------------------------------------------------------------- check

#[test]
fn check_good_config_prints_the_route_table_and_exits_0() {
    let env = Env::new("https://hooks.slack.com");
    let cfg = env.config(GOOD);
    let (code, stdout, stderr) = out(&env.run(&cfg, &["check"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for want in [
        "ROUTE",
        "MATCHERS",
        "CHANNELS",
        "WINDOW",
        "MUTE",
        "voice",
        "error_codes=[112xx]",
        "slack,console",
        "10m",
        "sms",
        "error_codes=[30001-30010]",
        "quiet",
        "levels=[warning]",
        "yes",
        "CHANNEL",
        "enabled",
        "templates:",
        "OK (3 route(s), 2 channel(s), 0 warning(s))",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
    assert!(stderr.trim().is_empty(), "{stderr}");
    assert_no_secrets(&stdout, &stderr);
}

#[test]
fn check_names_a_typo_a_bad_pattern_and_a_missing_variable_in_one_run() {
    let env = Env::new("https://hooks.slack.com");
    let cfg = env.config(
        &GOOD
            .replace(
                "name = \"voice\"\nerror_codes",
                "name = \"voice\"\nerror_code",
            )
            .replace("\"30001-30010\"", "\"300o1\"")
            .replace("${SLACK_WEBHOOK_URL}", "${SLACK_HOOK}"),
    );
    let (code, stdout, stderr) = out(&env.run(&cfg, &["check"]));
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    for want in [
        "channels.slack.url: environment variable SLACK_HOOK is not set",
        "routes[0] (\"voice\").error_code: unknown field `error_code`",
        "did you mean `error_codes`?",
        "routes[1] (\"sms\").error_codes[0]: \"300o1\" is not a code",
        "3 error(s)",
    ] {
        assert!(stderr.contains(want), "missing {want:?} in:\n{stderr}");
    }
    assert_no_secrets(&stdout, &stderr);
}

#[test]
fn check_names_each_kind_of_bad_config() {
    let env = Env::new("https://hooks.slack.com");
    let cases: &[(&str, String, &[&str])] = &[
        (
            "unknown key in a section",
            GOOD.replace("[delivery]\n", "[delivery]\nmax_atempts = 3\n"),
            &[
                "delivery.max_atempts: unknown field",
                "did you mean `max_attempts`?",
            ],
        ),
        (
            "bad duration",
            GOOD.replace("window = \"10m\"", "window = \"10 minutes-ish\""),
            &["routes[0] (\"voice\").window", "is not a duration"],
        ),
        (
            "unknown channel kind",
            GOOD.replace("kind = \"console\"", "kind = \"consol\""),
            &["channels.console.kind: unknown variant `consol`"],
        ),
        (
            "unknown channel in a route",
            GOOD.replace("channels = [\"console\"]", "channels = [\"consol\"]"),
            &["routes[1] (\"sms\").channels[0]: unknown channel \"consol\""],
        ),
        (
            "duplicate route name",
            GOOD.replace("name = \"sms\"", "name = \"voice\""),
            &["routes[1] (\"voice\").name: duplicate, also used by routes[0]"],
        ),
        (
            "reversed range",
            GOOD.replace("\"30001-30010\"", "\"30010-30001\""),
            &["routes[1] (\"sms\").error_codes[0]", "reversed range"],
        ),
        (
            "bad Sid glob and level",
            GOOD.replace(
                "levels = [\"warning\"]",
                "levels = [\"loud\"]\nresource_sids = [\"PN-*\"]",
            ),
            &[
                "routes[2] (\"quiet\").levels[0]: \"loud\" is not a level",
                "routes[2] (\"quiet\").resource_sids[0]",
            ],
        ),
        (
            "route without channels",
            GOOD.replace("mute = true\n", ""),
            &["routes[2] (\"quiet\").channels: is empty"],
        ),
        (
            "unknown default channel",
            format!("{GOOD}\n[defaults]\nchannels = [\"pager\"]\n"),
            &["defaults.channels[0]: unknown channel \"pager\""],
        ),
        (
            "no auth token while verifying signatures",
            GOOD.replace("auth_tokens = [\"${TWILIO_AUTH_TOKEN}\"]", ""),
            &["twilio.auth_tokens: no auth token configured"],
        ),
        (
            "public_url not a URL",
            GOOD.replace(
                "\"https://alerts.example.com/twilio/debugger\"",
                "\"alerts.example.com\"",
            ),
            &["twilio.public_url: \"alerts.example.com\" is not a URL"],
        ),
        (
            "TOML syntax error",
            GOOD.replace("[store]", "[store"),
            &["config.toml"],
        ),
    ];
    for (what, text, wants) in cases {
        let cfg = env.config(text);
        let (code, stdout, stderr) = out(&env.run(&cfg, &["check"]));
        assert_eq!(code, 1, "{what}: exit 1 expected\n{stdout}\n{stderr}");
        for want in *wants {
            assert!(
                stderr.contains(want),
                "{what}: missing {want:?} in:\n{stderr}"
            );
        }
        assert!(stderr.contains("error(s)"), "{what}: count line\n{stderr}");
        assert_no_secrets(&stdout, &stderr);
    }
}

#[test]
fn check_names_the_template_file_with_a_syntax_error() {
    let env = Env::new("https://hooks.slack.com");
    let cfg = env.config(GOOD);
    std::fs::write(
        env.dir.path().join("templates/default.slack.hbs"),
        "{\"text\": \"{{#if title}}{{title}}\"}",
    )
    .expect("write template");
    let (code, stdout, stderr) = out(&env.run(&cfg, &["check"]));
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stderr.contains("default.slack.hbs"), "{stderr}");
}

#[test]
fn check_reports_a_template_that_renders_an_invalid_payload() {
    let env = Env::new("https://hooks.slack.com");
    let cfg = env.config(GOOD);
    std::fs::write(
        env.dir.path().join("templates/default.slack.hbs"),
        "{\"text\": {{{title}}} }",
    )
    .expect("write template");
    let (code, stdout, stderr) = out(&env.run(&cfg, &["check"]));
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stderr.contains("default.slack.hbs"), "{stderr}");
    assert!(
        stderr.contains("samples:"),
        "names the sample events: {stderr}"
    );
}

#[test]
fn check_warns_without_failing() {
    let env = Env::new("https://hooks.slack.com");
    let long_url = format!("https://alerts.example.com/{}", "x".repeat(90));
    let text = GOOD
        .replace(
            "\"https://alerts.example.com/twilio/debugger\"",
            &format!("{long_url:?}"),
        )
        .replace("[twilio]\n", "[twilio]\nverify_signature = false\n")
        .replace(
            "[[routes]]\nname = \"sms\"",
            "[[routes]]\nname = \"everything\"\nchannels = [\"console\"]\ntemplate = \"opps\"\n\n[[routes]]\nname = \"sms\"",
        )
        + "\n[channels.spare]\nkind = \"console\"\n";
    let cfg = env.config(&text);
    let (code, stdout, stderr) = out(&env.run(&cfg, &["check"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for want in [
        "warning: routes[2] (\"sms\"): unreachable, routes[1] (\"everything\") matches every event",
        "warning: routes[3] (\"quiet\"): unreachable",
        "warning: channels.spare: no route uses it",
        "characters; Twilio's Debugger webhook allows at most 100",
        "warning: twilio.verify_signature = false",
        "routes[1] (\"everything\").template: no template named \"opps\"",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
}

#[test]
fn check_on_a_missing_file_names_it() {
    let env = Env::new("https://hooks.slack.com");
    let cfg = env.dir.path().join("nope.toml");
    let (code, _, stderr) = out(&env.run(&cfg, &["check"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("nope.toml"), "{stderr}");
}

#[test]
fn check_never_prints_literal_secrets_even_in_type_errors() {
    let env = Env::new("https://hooks.slack.com");
    let text = GOOD.replace(
        "url = \"${SLACK_WEBHOOK_URL}\"",
        &format!("url = \"https://hooks.example.invalid{SLACK_PATH}\"\nburst = \"https://hooks.example.invalid{SLACK_PATH}\""),
    );
    let cfg = env.config(&text);
    let (code, stdout, stderr) = out(&env.run(&cfg, &["check"]));
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stderr.contains("channels.slack"), "{stderr}");
    assert_no_secrets(&stdout, &stderr);
}

// ---------------------------------------------------------------- route

async fn silent_slack() -> MockServer {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(0)
        .mount(&slack)
        .await;
    slack
}

#[tokio::test]
async fn route_renders_the_digest_and_the_resolved_forms() {
    let slack = silent_slack().await;
    let env = Env::new(&slack.uri());
    let cfg = env.config(GOOD);
    let (digest, resolved) = blocking(move || {
        let d = env.run(
            &cfg,
            &[
                "route",
                FORM_EVENT,
                "--digest",
                "16",
                "--channel",
                "console",
            ],
        );
        let r = env.run(
            &cfg,
            &["route", FORM_EVENT, "--resolved", "--channel", "console"],
        );
        (d, r)
    })
    .await;
    let (code, stdout, stderr) = out(&digest);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("16× 11200 HTTP retrieval failure"),
        "{stdout}"
    );
    let (code, stdout, stderr) = out(&resolved);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("✅ RESOLVED 11200 HTTP retrieval failure"),
        "{stdout}"
    );
    drop(slack);
}

#[tokio::test]
async fn route_dry_runs_a_form_encoded_twilio_event() {
    let slack = silent_slack().await;
    let env = Env::new(&slack.uri());
    let cfg = env.config(GOOD);
    let o = blocking(move || {
        let o = env.run(&cfg, &["route", FORM_EVENT]);
        (o, env)
    })
    .await;
    let (code, stdout, stderr) = out(&o.0);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for want in [
        "event NO5f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "11200 HTTP retrieval failure",
        "route \"voice\" (routes[0])",
        "error_codes matched \"112xx\"",
        "group key    voice|error_code=11200|resource_sid=CA7b2d6b0b5c4e4f3e8a9b1c2d3e4f5a6b",
        "window       10m",
        "--- voice → slack (slack) ---",
        "\"blocks\"",
        "--- voice → console (console) ---",
        "dry run: nothing was sent",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("route \"sms\""), "first match wins");
    assert!(
        !o.1.dir.path().join("console.log").exists(),
        "console channel not written"
    );
    assert_no_secrets(&stdout, &stderr);
    drop(slack); // verifies expect(0): nothing reached Slack
}

#[tokio::test]
async fn route_reads_the_json_form_and_filters_by_channel() {
    let slack = silent_slack().await;
    let env = Env::new(&slack.uri());
    let cfg = env.config(GOOD);
    let o = blocking(move || env.run(&cfg, &["route", JSON_EVENT, "--channel", "console"])).await;
    let (code, stdout, stderr) = out(&o);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("route \"sms\" (routes[1])"), "{stdout}");
    assert!(
        stdout.contains("error_codes matched \"30001-30010\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("group key    sms|error_code=30003"),
        "{stdout}"
    );
    assert!(
        stdout.contains("--- sms → console (console) ---"),
        "{stdout}"
    );
    assert!(stdout.contains("30003"), "{stdout}");
    assert!(!stdout.contains("→ slack"), "filtered to console: {stdout}");
}

#[test]
fn route_shows_muted_unrouted_and_continue() {
    let env = Env::new("https://hooks.slack.com");
    // Warnings are muted; a 30003 warning still matches "sms" first (config order).
    let text = GOOD.replace(
        "name = \"voice\"",
        "name = \"voice\"\ncontinue = true",
    ) + "\n[[routes]]\nname = \"voice-audit\"\nerror_codes = [\"11200\"]\nchannels = [\"console\"]\n";
    let cfg = env.config(&text);
    let (code, stdout, _) = out(&env.run(&cfg, &["route", FORM_EVENT]));
    assert_eq!(code, 0);
    assert!(stdout.contains("continue     yes"), "{stdout}");
    // voice continues; sms/quiet do not match an ERROR 11200; voice-audit comes after quiet.
    assert!(stdout.contains("route \"voice-audit\""), "{stdout}");

    let muted = env.dir.path().join("muted.json");
    std::fs::write(
        &muted,
        r#"{"Sid":"NO00000000000000000000000000000009","AccountSid":"AC00000000000000000000000000000001","Level":"WARNING","Payload":{"error_code":"13227","resource_sid":"CA00000000000000000000000000000001"}}"#,
    )
    .expect("write");
    let (code, stdout, _) = out(&env.run(&cfg, &["route", muted.to_str().expect("utf-8")]));
    assert_eq!(code, 0);
    assert!(stdout.contains("route \"quiet\""), "{stdout}");
    assert!(stdout.contains("muted"), "{stdout}");
    assert!(
        !stdout.contains("---"),
        "no payload for a muted route: {stdout}"
    );

    let unrouted = env.dir.path().join("unrouted.json");
    std::fs::write(
        &unrouted,
        r#"{"Sid":"NO00000000000000000000000000000008","AccountSid":"AC00000000000000000000000000000001","Level":"ERROR","Payload":"{\"error_code\":\"20003\"}"}"#,
    )
    .expect("write");
    let (code, stdout, _) = out(&env.run(&cfg, &["route", unrouted.to_str().expect("utf-8")]));
    assert_eq!(code, 0);
    assert!(stdout.contains("no route matches"), "{stdout}");
    assert!(stdout.contains("unrouted"), "{stdout}");
}

#[test]
fn route_rejects_a_bad_event_file_and_an_unknown_channel() {
    let env = Env::new("https://hooks.slack.com");
    let cfg = env.config(GOOD);
    let bad = env.dir.path().join("bad.form");
    std::fs::write(
        &bad,
        "AccountSid=AC00000000000000000000000000000001&Level=ERROR\n",
    )
    .expect("write");
    let (code, _, stderr) = out(&env.run(&cfg, &["route", bad.to_str().expect("utf-8")]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("bad.form") && stderr.contains("Sid is missing"),
        "{stderr}"
    );

    let (code, _, stderr) = out(&env.run(&cfg, &["route", "missing.json"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("missing.json"), "{stderr}");

    let (code, _, stderr) = out(&env.run(&cfg, &["route", FORM_EVENT, "--channel", "pager"]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("\"pager\"") && stderr.contains("\"console\", \"slack\""),
        "{stderr}"
    );
}

#[test]
fn route_on_a_bad_config_exits_1_and_points_to_check() {
    let env = Env::new("https://hooks.slack.com");
    let cfg = env.config(&GOOD.replace("error_codes = [\"112xx\"]", "error_code = [\"112xx\"]"));
    let (code, stdout, stderr) = out(&env.run(&cfg, &["route", FORM_EVENT]));
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stderr.contains("error_code") && stderr.contains("check"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------- send-test

async fn slack_answering(status: u16, body: &str) -> MockServer {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SLACK_PATH))
        .respond_with(ResponseTemplate::new(status).set_body_string(body))
        .mount(&slack)
        .await;
    slack
}

#[tokio::test]
async fn send_test_sends_a_sample_and_reports_success() {
    let slack = slack_answering(200, "ok").await;
    let env = Env::new(&slack.uri());
    let cfg = env.config(GOOD);
    let o = blocking(move || env.run(&cfg, &["send-test", "slack"])).await;
    let (code, stdout, stderr) = out(&o);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("channels.slack: accepted"), "{stdout}");
    let got = slack.received_requests().await.unwrap_or_default();
    assert_eq!(got.len(), 1, "one real request");
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).expect("json");
    assert!(
        body["text"].as_str().is_some_and(|t| t.contains("11200")),
        "{body}"
    );
    assert_no_secrets(&stdout, &stderr);
}

#[tokio::test]
async fn send_test_sends_a_given_event() {
    let slack = slack_answering(200, "ok").await;
    let env = Env::new(&slack.uri());
    let cfg = env.config(GOOD);
    let o = blocking(move || env.run(&cfg, &["send-test", "slack", "--event", FORM_EVENT])).await;
    let (code, stdout, stderr) = out(&o);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("as route \"voice\""), "{stdout}");
    let got = slack.received_requests().await.unwrap_or_default();
    assert_eq!(got.len(), 1);
    let body = String::from_utf8_lossy(&got[0].body).into_owned();
    assert!(
        body.contains("NO5f1e2d3c4b5a69788796a5b4c3d2e1f0"),
        "{body}"
    );
}

#[tokio::test]
async fn send_test_reports_a_permanent_rejection() {
    let slack = slack_answering(404, "no_service").await;
    let env = Env::new(&slack.uri());
    let cfg = env.config(GOOD);
    let o = blocking(move || env.run(&cfg, &["send-test", "slack"])).await;
    let (code, stdout, stderr) = out(&o);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stderr.contains("permanent"), "{stderr}");
    assert!(
        stderr.contains("404") && stderr.contains("no_service"),
        "{stderr}"
    );
    assert!(
        stderr.contains("no longer works"),
        "broken channel: {stderr}"
    );
    assert_no_secrets(&stdout, &stderr);
}

#[tokio::test]
async fn send_test_reports_a_temporary_failure() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "30")
                .set_body_string("rate_limited"),
        )
        .mount(&slack)
        .await;
    let env = Env::new(&slack.uri());
    let cfg = env.config(GOOD);
    let o = blocking(move || env.run(&cfg, &["send-test", "slack"])).await;
    let (code, stdout, stderr) = out(&o);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stderr.contains("temporary"), "{stderr}");
    assert!(
        stderr.contains("429") && stderr.contains("Retry-After: 30s"),
        "{stderr}"
    );
}

#[tokio::test]
async fn send_test_reports_an_unreachable_provider_without_its_url() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let env = Env::new(&format!("http://127.0.0.1:{port}"));
    let cfg = env.config(GOOD);
    let o = blocking(move || env.run(&cfg, &["send-test", "slack"])).await;
    let (code, stdout, stderr) = out(&o);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stderr.contains("temporary"), "{stderr}");
    assert_no_secrets(&stdout, &stderr);
}

#[test]
fn send_test_writes_to_the_console_channel() {
    let env = Env::new("https://hooks.slack.com");
    let cfg = env.config(GOOD);
    let (code, stdout, stderr) = out(&env.run(&cfg, &["send-test", "console"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let written = std::fs::read_to_string(env.dir.path().join("console.log")).expect("written");
    assert!(written.contains("11200"), "{written}");
}

#[test]
fn send_test_refuses_unknown_and_disabled_channels() {
    let env = Env::new("https://hooks.slack.com");
    let cfg = env.config(GOOD);
    let (code, _, stderr) = out(&env.run(&cfg, &["send-test", "teams"]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("no channel \"teams\"") && stderr.contains("\"console\", \"slack\""),
        "{stderr}"
    );

    let cfg = env.config(&GOOD.replace("${SLACK_WEBHOOK_URL}", "${SLACK_OFF:-}"));
    let (code, _, stderr) = out(&env.run(&cfg, &["send-test", "slack"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("channels.slack is disabled"), "{stderr}");
}

#[tokio::test]
async fn route_dry_runs_an_event_streams_cloudevent_array() {
    let slack = silent_slack().await;
    let env = Env::new(&slack.uri());
    let cfg = env.config(GOOD);
    let o = blocking(move || {
        let o = env.run(&cfg, &["route", CLOUDEVENT]);
        (o, env)
    })
    .await;
    let (code, stdout, stderr) = out(&o.0);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for want in [
        "event NO5f1e2d3c4b5a69788796a5b4c3d2e1f1",
        "source       event_streams",
        "11200 HTTP retrieval failure",
        "route \"voice\" (routes[0])",
        "group key    voice|error_code=11200|resource_sid=CA7b2d6b0b5c4e4f3e8a9b1c2d3e4f5a6b",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
}
