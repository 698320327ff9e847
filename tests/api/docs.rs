//! The README's and docs/OPERATIONS.md's examples, run as written against the shipped
//! `config.toml`: the operator commands, the exit-code table, and the output samples
//! the docs show (tests/api/quickstart.rs runs the quick start). A doc line's `…` or
//! `...` stands for any text.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn doc(name: &str) -> String {
    std::fs::read_to_string(root().join(name)).expect("doc readable")
}

/// The first fenced block after the first line containing `marker`.
pub(crate) fn block_after(doc: &str, marker: &str) -> Vec<String> {
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
pub(crate) fn shows(output: &str, doc_line: &str) -> bool {
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

pub(crate) fn assert_shows(output: &str, doc_lines: &[String], what: &str) {
    for l in doc_lines.iter().filter(|l| !l.trim().is_empty()) {
        assert!(
            shows(output, l),
            "{what}: the doc shows {l:?}, the real output is:\n{output}"
        );
    }
}

/// `twilert ARGS` in `dir` with only `vars` set (plus `PATH`).
pub(crate) fn twilert(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> (i32, String, String) {
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
pub(crate) fn shipped_copy(edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(root().join("config.toml")).expect("config.toml");
    std::fs::write(dir.path().join("config.toml"), edit(text)).expect("write config");
    dir
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
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
        (&["silence", "list"], 0, "no silences in force"),
        (
            &["silence", "add", "--code", "11x0", "--for", "1h"],
            1,
            "error_codes[0]",
        ),
        (
            &[
                "silence", "add", "--code", "11200", "--for", "1h", "--author", "ann",
            ],
            0,
            "added by ann",
        ),
        (&["silence", "expire", "0000000000000000"], 1, "no silence"),
        (&["silence", "expire"], 2, "<ID>"),
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

/// A route `template` no file provides, with no templates folder at all: the warning
/// says so instead of naming an empty folder (`in  (expected…)`).
#[test]
fn check_names_a_missing_templates_folder_plainly() {
    let dir =
        shipped_copy(|t| t.replace("name = \"demo\"\n", "name = \"demo\"\ntemplate = \"ops\"\n"));
    assert!(!dir.path().join("templates").exists());
    let (code, stdout, stderr) = twilert(dir.path(), &["check"], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("no template named \"ops\" (no templates folder: templates.dir is unset and ./templates does not exist); expected ops.<kind>.hbs"),
        "{stdout}"
    );
    assert!(!stdout.contains(" in  "), "{stdout}");
}
