//! Renderer tests: built-in templates, lookup, fallback, check.

use std::fs;

use serde_json::Value;

use super::samples::{catalog_entry, sample, HOSTILE_CODE};
use super::*;

fn builtin() -> Renderer {
    Renderer::builtin().expect("shipped templates compile")
}

fn json_of(r: &Rendered) -> &Value {
    match &r.payload {
        Payload::Json(v) => v,
        other => panic!("expected JSON, got {other:?}"),
    }
}

fn render(r: &Renderer, kind: Kind, name: &str) -> Rendered {
    let n = sample(name);
    let entry = n.event.error_code().and_then(|c| catalog_entry(c.0));
    r.render(kind, &n, entry.as_ref())
}

fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, body) in files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(path, body).expect("write template");
    }
    dir
}

#[test]
fn renderer_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Renderer>();
}

#[test]
fn kind_names_round_trip() {
    for k in Kind::ALL {
        assert_eq!(Kind::parse(k.as_str()), Some(k));
    }
    assert_eq!(Kind::parse("sms"), None);
}

#[test]
fn every_kind_renders_every_sample_without_fallback() {
    let r = builtin();
    for (name, _) in sample_notifications() {
        for kind in Kind::ALL {
            let out = render(&r, kind, name);
            assert_eq!(out.fallback, None, "{kind} / {name}");
            if name != "hostile" {
                assert!(!out.truncated, "{kind} / {name}: over limits");
            }
        }
    }
}

#[test]
fn slack_shows_code_title_and_pings_only_the_configured_mention() {
    let r = builtin();
    let v = json_of(&render(&r, Kind::Slack, "http-retrieval-failure")).clone();
    let text = v["text"].as_str().expect("text");
    assert_eq!(
        text,
        "<!here> 🔴 11200 HTTP retrieval failure — POST voice.example.com/answer → 502 · CA…8f90 · Voice"
    );
    assert_eq!(v["blocks"][1]["type"], "header");
    assert_eq!(
        v["attachments"][0]["color"], "#d92d20",
        "the level's colour"
    );
    let all = v.to_string();
    assert!(all.contains("POST voice.example.com/answer → 502"));
    assert!(all.contains("https://www.twilio.com/docs/api/errors/11200"));
    assert!(!all.contains("X-Twilio-Signature") && !all.contains("+15551230000"));

    let hostile = json_of(&render(&r, Kind::Slack, "hostile")).to_string();
    assert!(!hostile.contains("<!channel>"));
    assert!(!hostile.contains("<@U12345>"));
    assert!(!hostile.contains("@here"), "bare @here must be broken");
    // <!here> appears only where the route's mention put it (text + first block).
    assert_eq!(hostile.matches("<!here>").count(), 2);
    assert!(hostile.contains("&lt;!channel&gt;"));
}

#[test]
fn discord_never_allows_broadcast_mentions() {
    let r = builtin();
    let v = json_of(&render(&r, Kind::Discord, "hostile")).clone();
    assert_eq!(v["allowed_mentions"], serde_json::json!({"parse": []}));
    assert!(!v.to_string().contains("@everyone"));
    assert!(v["content"]
        .as_str()
        .is_some_and(|c| c.chars().count() <= 2000));
}

#[test]
fn email_is_escaped_and_subject_one_line() {
    let r = builtin();
    let Payload::Email {
        subject,
        text,
        html,
    } = render(&r, Kind::Email, "http-retrieval-failure").payload
    else {
        panic!("email")
    };
    assert_eq!(
        subject,
        "[twilert] ERROR 11200 HTTP retrieval failure — POST voice.example.com/answer → 502 · CA…8f90 · Voice"
    );
    assert!(text.contains("\nPOST voice.example.com/answer → 502 · CA…8f90 · Voice\n"));
    assert!(html.contains("POST voice.example.com/answer → 502"));
    assert!(
        html.contains(r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#)
    );
    let Payload::Email { subject, html, .. } = render(&r, Kind::Email, "digest").payload else {
        panic!("email")
    };
    assert_eq!(
        subject,
        "[twilert] 16× 11200 HTTP retrieval failure — 16 events on 6 resources, 12:00:03–12:00:06 UTC"
    );
    assert!(html.contains("16 events on 6 resources"));
    assert!(html.contains("+3 more") && !html.contains("Possible causes"));
    let Payload::Email { subject, html, .. } = render(&r, Kind::Email, "hostile").payload else {
        panic!("email")
    };
    assert!(!subject.contains('\n'));
    assert!(!html.contains("<script>") && !html.contains("</div><script"));
}

#[test]
fn console_is_readable_and_inert() {
    let r = builtin();
    let Payload::Text(t) = render(&r, Kind::Console, "hostile").payload else {
        panic!("text")
    };
    assert!(!t.contains('\u{1b}'));
    let Payload::Text(t) = render(&r, Kind::Console, "digest").payload else {
        panic!("text")
    };
    assert!(
        t.starts_with("🔴 ERROR  16× 11200 HTTP retrieval failure\n"),
        "{t}"
    );
    assert!(t.contains("   16 events on 6 resources, 12:00:03–12:00:06 UTC\n"));
}

#[test]
fn pagerduty_maps_severity_and_leaves_routing_key_out() {
    let r = builtin();
    let v = json_of(&render(&r, Kind::Pagerduty, "message-undelivered")).clone();
    assert_eq!(v["payload"]["severity"], "warning");
    assert_eq!(v["payload"]["class"], "30003");
    assert_eq!(v["payload"]["group"], "messaging");
    assert!(v.get("routing_key").is_none());
    let v = json_of(&render(&r, Kind::Pagerduty, "unknown-code")).clone();
    assert_eq!(v["payload"]["severity"], "info");
}

#[test]
fn webhook_carries_event_and_digest_as_json() {
    let r = builtin();
    let v = json_of(&render(&r, Kind::Webhook, "digest")).clone();
    assert_eq!(v["digest"]["total"], 16);
    assert_eq!(v["digest"]["count"], 15);
    assert_eq!(v["event"]["error_code"], 11200);
    assert_eq!(v["error"]["message"], "HTTP retrieval failure");
    let v = json_of(&render(&r, Kind::Webhook, "hostile")).clone();
    // Event text arrives as text, with only control characters made visible.
    assert_eq!(
        v["event"]["more_info"]["Msg"],
        HOSTILE_TEXT.replace('\u{1b}', "␛")
    );
}

#[test]
fn broken_json_output_falls_back_to_plain_message() {
    let dir = dir_with(&[("default.slack.hbs", r#"{"text": "{{title}}",}"#)]);
    let r = Renderer::load(dir.path()).expect("loads");
    let out = render(&r, Kind::Slack, "hostile");
    let why = out.fallback.clone().expect("fallback");
    assert!(
        why.contains("default.slack.hbs") && why.contains("not valid JSON"),
        "{why}"
    );
    let v = json_of(&out);
    let text = v["text"].as_str().expect("text");
    assert!(
        text.starts_with(&format!("<!here> [ERROR] 123457× {HOSTILE_CODE} Title")),
        "{text}"
    );
    assert!(!text.contains("<!channel>"));
}

#[test]
fn runtime_error_falls_back_and_names_file() {
    let dir = dir_with(&[("default.teams.hbs", "{{no_such_helper title}}")]);
    let r = Renderer::load(dir.path()).expect("loads");
    let out = render(&r, Kind::Teams, "http-retrieval-failure");
    assert!(out
        .fallback
        .as_deref()
        .is_some_and(|f| f.contains("default.teams.hbs")));
    assert_eq!(json_of(&out)["attachments"][0]["content"]["version"], "1.4");
}

#[test]
fn syntax_error_and_unknown_kind_name_the_file() {
    let dir = dir_with(&[("ops.slack.hbs", "{{#if x}}open")]);
    let err = Renderer::load(dir.path()).err().expect("error").to_string();
    assert!(
        err.contains("ops.slack.hbs") && err.contains("line"),
        "{err}"
    );
    let dir = dir_with(&[("ops.sms.hbs", "x")]);
    let err = Renderer::load(dir.path()).err().expect("error").to_string();
    assert!(err.contains("ops.sms.hbs"), "{err}");
}

#[test]
fn lookup_uses_route_template_then_default() {
    let dir = dir_with(&[
        ("ops.slack.hbs", r#"{"text": "ops {{title}}"}"#),
        ("team/a.console.hbs", "team-a {{title}}"),
    ]);
    let r = Renderer::load(dir.path()).expect("loads");
    let mut n = sample("http-retrieval-failure");
    let e = catalog_entry(11200);
    n.template = Some("ops".into());
    assert_eq!(
        json_of(&r.render(Kind::Slack, &n, e.as_ref()))["text"],
        "ops 11200 HTTP retrieval failure"
    );
    // no ops.teams.hbs: default
    let teams = r.render(Kind::Teams, &n, e.as_ref());
    assert!(teams.fallback.is_none() && json_of(&teams)["type"] == "message");
    n.template = Some("team/a".into());
    assert_eq!(
        r.render(Kind::Console, &n, e.as_ref()).payload,
        Payload::Text("team-a 11200 HTTP retrieval failure".into())
    );
    n.template = Some("nope".into());
    assert!(
        matches!(r.render(Kind::Console, &n, e.as_ref()).payload, Payload::Text(t) if t.starts_with("🔴 ERROR"))
    );
    assert!(r.template_names().contains(&"team/a.console".to_string()));
}

#[test]
fn check_passes_shipped_templates_and_reports_broken_ones() {
    let catalog = crate::catalog::Catalog::builtin();
    assert_eq!(builtin().check(&catalog), Vec::<String>::new());
    let dir = dir_with(&[
        (
            "ops.slack.hbs",
            r#"{"text": "x {{trusted event.more_info.Msg}}"}"#,
        ),
        ("ops.discord.hbs", r#"{"content": "{{title}}""#),
    ]);
    let problems = Renderer::load(dir.path()).expect("loads").check(&catalog);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("ops.slack.hbs") && p.contains("<!channel>")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("ops.discord.hbs") && p.contains("not valid JSON")),
        "{problems:#?}"
    );
}

#[test]
fn plain_payload_is_escaped_for_slack() {
    let r = builtin();
    let n = sample("hostile");
    let Payload::Json(v) = r.plain_payload(Kind::Slack, &n, Some(&hostile_catalog_entry())) else {
        panic!("json")
    };
    let text = v["text"].as_str().expect("text");
    assert!(text.starts_with("<!here> ") && !text.contains("<!channel>"));
    let plain = r.plain_text(&n, None);
    assert!(plain.starts_with(&format!(
        "[ERROR] 123457× Unknown error code {HOSTILE_CODE}"
    )));
}
