//! Renders every kind for every sample notification (realistic and hostile)
//! with the shipped templates and checks the payloads — with our own
//! assertions, and with the providers' own validators:
//! Slack's `slack-sdk` Block Kit models (tests/validators/slack_validate.py) and
//! Microsoft's `adaptivecards` SDK (tests/validators/teams_validate.js).
//!
//! Needs Python + slack-sdk (tests/support/python.rs says which Python) and node +
//! adaptivecards: run `scripts/test-deps.sh`.
//! Set `TWILERT_RENDER_OUT=dir` to keep the rendered payloads for a look.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "support/python.rs"]
mod python;

use serde_json::Value;
use twilert::catalog::{Catalog, CatalogEntry};
use twilert::notification::Notification;
use twilert::render::{
    hostile_catalog_entry, sample_notifications, Kind, Payload, Rendered, Renderer,
};

const DEPS_HINT: &str = "run scripts/test-deps.sh to install the payload validators";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn renderer() -> Renderer {
    Renderer::load(&root().join("templates")).expect("templates/ loads")
}

/// Every sample, rendered with its catalog entry, plus a copy of each without
/// a mention so "nothing pings" can be checked strictly.
fn cases() -> Vec<(String, Notification, Option<CatalogEntry>)> {
    let catalog = Catalog::builtin();
    let mut out = Vec::new();
    for (name, n) in sample_notifications() {
        let entry = if name.starts_with("hostile") {
            Some(hostile_catalog_entry())
        } else {
            n.event.error_code().and_then(|c| catalog.get(c)).cloned()
        };
        let mut quiet = n.clone();
        quiet.mention = None;
        out.push((name.to_string(), n, entry.clone()));
        out.push((format!("{name}-nomention"), quiet, entry));
    }
    out
}

fn json(r: &Rendered, what: &str) -> Value {
    assert_eq!(r.fallback, None, "{what}: template failed");
    match &r.payload {
        Payload::Json(v) => {
            // What the sender will POST must parse back as the same JSON.
            let text = serde_json::to_string(v).expect("serializes");
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: invalid JSON: {e}"))
        }
        other => panic!("{what}: expected JSON, got {other:?}"),
    }
}

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

fn write(dir: &Path, name: &str, v: &Value) {
    let body = serde_json::to_string_pretty(v).expect("serializes");
    std::fs::write(dir.join(format!("{name}.json")), &body).expect("write payload");
    keep(&format!("{name}.json"), &body);
}

/// Copies a rendered payload to `$TWILERT_RENDER_OUT`, when set.
fn keep(file: &str, body: &str) {
    if let Some(dir) = std::env::var_os("TWILERT_RENDER_OUT") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("create TWILERT_RENDER_OUT");
        std::fs::write(dir.join(file), body).expect("keep payload");
    }
}

fn keep_json(file: &str, v: &Value) {
    keep(file, &serde_json::to_string_pretty(v).expect("serializes"));
}

fn run_validator(program: impl AsRef<OsStr>, script: &str, dir: &Path) {
    let program = program.as_ref();
    let out = Command::new(program)
        .arg(root().join("tests/validators").join(script))
        .arg(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); {DEPS_HINT}",
                program.to_string_lossy()
            )
        });
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{script} rejected payloads ({}):\n{report}",
        out.status
    );
    println!("{report}");
}

/// Fails (never skips) when a validator or its package is missing.
fn require_validators() {
    let python = Command::new(python::python())
        .args(["-c", "import slack_sdk.models.blocks"])
        .output();
    match python {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "{} cannot import slack_sdk ({}); {DEPS_HINT}",
            python::python().display(),
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!(
            "{} not found ({e}); {DEPS_HINT}",
            python::python().display()
        ),
    }
    if let Err(e) = Command::new("node").arg("--version").output() {
        panic!("node not found ({e}); {DEPS_HINT}");
    }
    let bundle = root().join("tests/validators/node_modules/adaptivecards/dist/adaptivecards.js");
    assert!(
        bundle.is_file(),
        "{} is missing; {DEPS_HINT}",
        bundle.display()
    );
}

#[test]
fn slack_payloads_pass_slack_sdk_and_ping_nobody() {
    require_validators();
    let r = renderer();
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, n, entry) in cases() {
        let v = json(
            &r.render(Kind::Slack, &n, entry.as_ref()),
            &format!("slack/{name}"),
        );
        let mut texts = Vec::new();
        strings(&v, &mut texts);
        let all = texts.join("\n");
        assert!(
            !all.contains("<!channel>"),
            "slack/{name}: <!channel> survived"
        );
        assert!(
            !all.contains("<!everyone>"),
            "slack/{name}: <!everyone> survived"
        );
        assert!(
            !all.contains("<@U12345>"),
            "slack/{name}: user mention survived"
        );
        let here = all.matches("<!here>").count();
        // A resolved notice pings nobody, the route's mention included.
        let expected = if n.mention.is_some() && n.resolved.is_none() {
            2
        } else {
            0
        };
        assert_eq!(
            here, expected,
            "slack/{name}: <!here> only from the route's mention"
        );
        assert!(
            !all.contains("@here") && !all.contains("@channel"),
            "slack/{name}: bare @here"
        );
        assert!(
            v["text"].as_str().is_some_and(|t| !t.is_empty()),
            "slack/{name}: text fallback"
        );
        write(dir.path(), &format!("slack-{name}"), &v);
        // The plain payload (fallback and retry-as-plain-text) must be valid too.
        if let Payload::Json(p) = r.plain_payload(Kind::Slack, &n, entry.as_ref()) {
            assert!(!p.to_string().contains("<!channel>"), "slack plain/{name}");
            write(dir.path(), &format!("slack-plain-{name}"), &p);
        }
        // A living alert's parent as a digest or resolving edits it (app mode).
        if let Some(p) = r.render_parent(Kind::Slack, &n, entry.as_ref()) {
            let v = json(&p, &format!("slack-parent/{name}"));
            let mut texts = Vec::new();
            strings(&v, &mut texts);
            let all = texts.join("\n");
            assert!(
                !all.contains("<!channel>") && !all.contains("<!everyone>"),
                "slack-parent/{name}"
            );
            write(dir.path(), &format!("slack-parent-{name}"), &v);
        }
    }
    run_validator(python::python(), "slack_validate.py", dir.path());
}

#[test]
fn teams_cards_pass_adaptivecards_sdk() {
    require_validators();
    let r = renderer();
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, n, entry) in cases() {
        let v = json(
            &r.render(Kind::Teams, &n, entry.as_ref()),
            &format!("teams/{name}"),
        );
        let size = serde_json::to_string(&v)
            .map(|s| s.len())
            .unwrap_or(usize::MAX);
        assert!(size < 28 * 1024, "teams/{name}: {size} bytes");
        write(dir.path(), &format!("teams-{name}"), &v);
        if let Payload::Json(p) = r.plain_payload(Kind::Teams, &n, entry.as_ref()) {
            write(dir.path(), &format!("teams-plain-{name}"), &p);
        }
    }
    run_validator("node", "teams_validate.js", dir.path());
}

#[test]
fn discord_webhook_pagerduty_are_valid_and_inert() {
    let r = renderer();
    for (name, n, entry) in cases() {
        if n.resolved.is_some() {
            // The resolved notice: one line, the webhook's status, PagerDuty's resolve.
            let d = json(
                &r.render(Kind::Discord, &n, entry.as_ref()),
                "discord/resolved",
            );
            assert_eq!(d["allowed_mentions"]["parse"], serde_json::json!([]));
            assert!(d["content"]
                .as_str()
                .is_some_and(|c| c.contains("RESOLVED") && c.chars().count() <= 2000));
            let w = json(
                &r.render(Kind::Webhook, &n, entry.as_ref()),
                "webhook/resolved",
            );
            assert_eq!(w["status"], "resolved");
            let p = json(
                &r.render(Kind::Pagerduty, &n, entry.as_ref()),
                "pagerduty/resolved",
            );
            assert_eq!(p["event_action"], "resolve");
            continue;
        }
        let d = json(
            &r.render(Kind::Discord, &n, entry.as_ref()),
            &format!("discord/{name}"),
        );
        assert_eq!(
            d["allowed_mentions"]["parse"],
            serde_json::json!([]),
            "discord/{name}"
        );
        assert!(
            !d.to_string().contains("@everyone"),
            "discord/{name}: @everyone"
        );
        assert!(d["content"]
            .as_str()
            .is_some_and(|c| c.chars().count() <= 2000));
        let e = &d["embeds"][0];
        assert!(e["title"]
            .as_str()
            .is_some_and(|t| t.chars().count() <= 256));
        assert!(e["fields"].as_array().is_some_and(|f| f.len() <= 25
            && f.iter().all(|f| f["value"]
                .as_str()
                .is_some_and(|v| !v.is_empty() && v.chars().count() <= 1024))));

        keep_json(&format!("discord-{name}.json"), &d);
        let w = json(
            &r.render(Kind::Webhook, &n, entry.as_ref()),
            &format!("webhook/{name}"),
        );
        assert_eq!(w["event"]["sid"], n.event.sid.as_str(), "webhook/{name}");
        assert_eq!(w["digest"].is_null(), n.digest.is_none(), "webhook/{name}");

        keep_json(&format!("webhook-{name}.json"), &w);
        let p = json(
            &r.render(Kind::Pagerduty, &n, entry.as_ref()),
            &format!("pagerduty/{name}"),
        );
        assert_eq!(p["event_action"], "trigger");
        let summary = p["payload"]["summary"].as_str().unwrap_or_default();
        assert!(
            !summary.is_empty() && summary.chars().count() <= 1024,
            "pagerduty/{name}"
        );
        assert!(p.get("routing_key").is_none());
        keep_json(&format!("pagerduty-{name}.json"), &p);
    }
}

#[test]
fn email_and_console_are_escaped() {
    let r = renderer();
    for (name, n, entry) in cases() {
        let out = r.render(Kind::Email, &n, entry.as_ref());
        assert_eq!(out.fallback, None, "email/{name}");
        let Payload::Email {
            subject,
            text,
            html,
        } = out.payload
        else {
            panic!("email/{name}: not an email")
        };
        assert!(
            subject.starts_with("[twilert] ") && !subject.contains('\n'),
            "email/{name}: {subject}"
        );
        assert!(
            !html.contains("<script"),
            "email/{name}: raw <script> in HTML"
        );
        assert!(!html.contains("</div><script"), "email/{name}");
        assert!(!text.is_empty());
        keep(
            &format!("email-{name}.txt"),
            &format!("Subject: {subject}\n\n{text}"),
        );
        keep(&format!("email-{name}.html"), &html);
        let out = r.render(Kind::Console, &n, entry.as_ref());
        let Payload::Text(t) = out.payload else {
            panic!("console/{name}")
        };
        assert!(!t.contains('\u{1b}'), "console/{name}: raw escape sequence");
        keep(&format!("console-{name}.txt"), &t);
    }
}

#[test]
fn shipped_templates_pass_check() {
    assert_eq!(renderer().check(&Catalog::builtin()), Vec::<String>::new());
}
