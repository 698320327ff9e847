//! SPEC 5, what a responder sees: a crafted hostile event posted through the app
//! reaches Slack, Teams, Discord, PagerDuty and a webhook as inert text (no
//! formatting or link from event text, no control or bidi characters, no
//! credentials, bulk shortened); a single Slack alert fits ~25 lines; a digest
//! of 16 events over 6 resources says 16 everywhere and lists three resources
//! plus "+3 more".

use crate::helpers::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use twilert::clock::ManualClock;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CONFIG: &str = r#"
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
timeout = "2s"

[defaults]
window = "1m"

[channels.slack]
kind = "slack"
url = "{slack}/services/T000/B000/XXXX"
rate_limit = "1000/s"
burst = 1000

[channels.teams]
kind = "teams"
url = "{slack}/teams"
rate_limit = "1000/s"
burst = 1000

[channels.discord]
kind = "discord"
url = "{slack}/api/webhooks/1/x"
rate_limit = "1000/s"
burst = 1000

[channels.pd]
kind = "pagerduty"
routing_key = "R0UT1NGKEY0000000000000000000000"
url = "{slack}/v2/enqueue"
rate_limit = "1000/s"
burst = 1000

[channels.hook]
kind = "webhook"
url = "{slack}/hook"
rate_limit = "1000/s"
burst = 1000

[[routes]]
name = "voice"
error_codes = ["112xx"]
channels = ["slack", "teams", "discord", "pd", "hook"]
"#;

/// Event text an attacker controls, trying every kind of markup.
const HOSTILE_MSG: &str = "*bold* _it_ ~strike~ `code` ```block``` \
<https://evil.example/login|Reset your password> \
[Reset your Twilio password](https://evil.example/login) **x** \n# Heading\n\
<!channel> @here \u{202E}gnp.exe\u{2066} bell\u{7} esc\u{1b}[31m del\u{7f}";

const SIGNATURE: &str = "SIGSECRETsignature0123456789=";
const PHONE_FROM: &str = "+15551230000";
const PHONE_TO: &str = "+15557654321";

async fn sinks() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/enqueue"))
        .respond_with(ResponseTemplate::new(202).set_body_json(serde_json::json!({
            "status": "success", "message": "Event processed", "dedup_key": "x"
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    server
}

fn hostile_params(n: u32, resource: &str) -> Vec<(String, String)> {
    let mut p = event_params(n, "11200", resource);
    let body: String = "<html>".to_string() + &"x".repeat(60 * 1024) + "</html>";
    let payload = serde_json::json!({
        "resource_sid": resource,
        "error_code": "11200",
        "more_info": {"Msg": HOSTILE_MSG, "To": PHONE_TO},
        "webhook": {
            "type": "application/x-www-form-urlencoded",
            "request": {
                "method": "POST",
                "url": "https://voice.example.com/answer",
                "headers": {
                    "X-Twilio-Signature": SIGNATURE,
                    "Authorization": "Basic c2VjcmV0OnNlY3JldA==",
                    "Cookie": "session=s3cr3t",
                    "Content-Type": "application/x-www-form-urlencoded"
                },
                "parameters": {"CallSid": resource, "From": PHONE_FROM, "To": PHONE_TO}
            },
            "response": {"status_code": 404, "headers": {"Set-Cookie": "k=v"}, "body": body}
        }
    });
    for (k, v) in p.iter_mut() {
        if k == "Payload" {
            *v = payload.to_string();
        }
    }
    p
}

/// The requests each sink received, by channel, bodies parsed.
async fn received(server: &MockServer, n: usize) -> BTreeMap<&'static str, Vec<Value>> {
    let _ = wait_for_requests(server, n, Duration::from_secs(8)).await;
    let reqs = server.received_requests().await.unwrap_or_default();
    let mut out: BTreeMap<&'static str, Vec<Value>> = BTreeMap::new();
    for r in reqs {
        let kind = match r.url.path() {
            p if p.starts_with("/services") => "slack",
            "/teams" => "teams",
            p if p.starts_with("/api/webhooks") => "discord",
            "/v2/enqueue" => "pagerduty",
            "/hook" => "webhook",
            other => panic!("unexpected request to {other}"),
        };
        let v: Value = serde_json::from_slice(&r.body).expect("JSON body");
        out.entry(kind).or_default().push(v);
    }
    out
}

/// Every string in a JSON document.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => {
            for (k, x) in o {
                out.push(k.clone());
                strings(x, out);
            }
        }
        _ => {}
    }
}

fn all_text(v: &Value) -> String {
    let mut s = Vec::new();
    strings(v, &mut s);
    s.join("\n")
}

fn is_forbidden(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Slack mrkdwn texts (the fallback, sections, fields, context), the ones Slack formats.
fn slack_mrkdwn(v: &Value) -> Vec<String> {
    let mut out = vec![v["text"].as_str().unwrap_or("").to_string()];
    let mut blocks: Vec<&Value> = v["blocks"].as_array().into_iter().flatten().collect();
    for a in v["attachments"].as_array().into_iter().flatten() {
        blocks.extend(a["blocks"].as_array().into_iter().flatten());
    }
    for b in blocks {
        let mut texts = vec![&b["text"]];
        texts.extend(b["fields"].as_array().into_iter().flatten());
        texts.extend(b["elements"].as_array().into_iter().flatten());
        for t in texts {
            if t["type"] == "mrkdwn" {
                out.push(t["text"].as_str().unwrap_or("").to_string());
            }
        }
    }
    out
}

/// Lines of text a Slack message shows: the header, every section/field/context
/// line, one line of buttons.
fn slack_lines(v: &Value) -> usize {
    let mut blocks: Vec<&Value> = v["blocks"].as_array().into_iter().flatten().collect();
    for a in v["attachments"].as_array().into_iter().flatten() {
        blocks.extend(a["blocks"].as_array().into_iter().flatten());
    }
    let lines = |t: &Value| t.as_str().map_or(0, |s| s.lines().count());
    blocks
        .iter()
        .map(|b| match b["type"].as_str() {
            Some("actions") => 1,
            Some("context") => 1,
            _ => {
                lines(&b["text"]["text"])
                    + b["fields"]
                        .as_array()
                        .map_or(0, |f| f.iter().map(|x| lines(&x["text"])).sum::<usize>())
            }
        })
        .sum()
}

#[tokio::test]
async fn a_hostile_event_reaches_every_channel_as_inert_text() {
    let app = spawn_with(CONFIG, sinks().await, None).await;
    let res = call_sid(2);
    app.post_signed(&hostile_params(1, &res)).await;
    let got = received(&app.slack, 5).await;
    assert_eq!(got.len(), 5, "one message per channel: {:?}", got.keys());

    for (kind, msgs) in &got {
        let text = all_text(&msgs[0]);
        assert!(
            !text.chars().any(is_forbidden),
            "{kind}: control/bidi character in {text}"
        );
        for secret in [SIGNATURE, "c2VjcmV0", "s3cr3t", "X-Twilio-Signature"] {
            assert!(!text.contains(secret), "{kind} received {secret:?}");
        }
        let size = msgs[0].to_string().len();
        assert!(
            size < 16 * 1024,
            "{kind}: {size} bytes; the 60 KB body must be shortened"
        );
    }

    // Slack: no mrkdwn from event text, no link but our own date token.
    let slack = &got["slack"][0];
    assert!(
        !all_text(slack).contains("<!channel>"),
        "Slack can be pinged"
    );
    for t in slack_mrkdwn(slack) {
        for bad in ["*bold*", "_it_", "~strike~", "`code`", "```", "**x**"] {
            assert!(!t.contains(bad), "Slack mrkdwn formats {bad:?}: {t}");
        }
        for (i, _) in t.match_indices('<') {
            assert!(
                t[i..].starts_with("<!date^"),
                "a Slack link/mention from event text: {t}"
            );
        }
        assert!(!t.lines().any(|l| l.trim_start().starts_with('>')), "{t}");
    }
    let lines = slack_lines(slack);
    assert!(lines <= 25, "a single Slack alert is {lines} lines");
    assert!(all_text(slack).contains("POST voice.example.com/answer → 404 · CA…0002 · Voice"));

    // Teams: Adaptive Card Markdown gets no link, emphasis, heading or code.
    let card = &got["teams"][0]["attachments"][0]["content"];
    let teams = all_text(&card["body"]);
    for bad in ["[Reset your Twilio password](", "**", "`", "\n#", "<https"] {
        assert!(
            !teams.contains(bad),
            "Teams Markdown from event text ({bad:?}): {teams}"
        );
    }
    assert!(
        teams.contains("Reset your Twilio password"),
        "the text itself is shown"
    );

    // Discord: Markdown escaped, nobody pinged.
    let discord = &got["discord"][0];
    assert_eq!(
        discord["allowed_mentions"],
        serde_json::json!({"parse": []})
    );
    let d = all_text(discord);
    assert!(
        !d.contains("[Reset your Twilio password]("),
        "a masked link: {d}"
    );
    assert!(!d.contains("*bold*") && !d.contains("```"), "{d}");
    assert!(!d.contains("@here") && !d.contains("@everyone"), "{d}");

    // PagerDuty: a one-line summary, flat details without headers, phones or bodies.
    let pd = &got["pagerduty"][0]["payload"];
    let summary = pd["summary"].as_str().expect("summary");
    assert_eq!(
        summary,
        "11200 HTTP retrieval failure: POST voice.example.com/answer → 404 (CA…0002)"
    );
    assert!(summary.chars().count() <= 120);
    let details = pd["custom_details"].as_object().expect("custom_details");
    assert!(
        details.values().all(|v| !v.is_object() && !v.is_array()),
        "flat: {details:?}"
    );
    assert_eq!(details["url"], "voice.example.com/answer");
    assert_eq!(details["status"], 404);
    assert_eq!(details["resource"], res.as_str());
    assert_eq!(details["count"], 1);
    let pd_text = got["pagerduty"][0].to_string();
    for bad in [PHONE_FROM, PHONE_TO, "<html>", "Cookie", "Authorization"] {
        assert!(!pd_text.contains(bad), "PagerDuty received {bad:?}");
    }

    // Webhook: the event as data, credentials gone, the body shortened.
    let hook = &got["webhook"][0];
    let headers = &hook["event"]["webhook"]["request"]["headers"];
    assert_eq!(
        headers,
        &serde_json::json!({"Content-Type": "application/x-www-form-urlencoded"})
    );
    let body = hook["event"]["webhook"]["response"]["body"]
        .as_str()
        .unwrap_or("");
    assert!(
        body.chars().count() <= 1500 && body.ends_with('…'),
        "{} chars",
        body.len()
    );
    app.stop().await;
}

#[tokio::test]
async fn a_plain_slack_alert_fits_25_lines() {
    let app = spawn_with(CONFIG, sinks().await, None).await;
    app.send_event(1, "11200", &call_sid(2)).await;
    let got = received(&app.slack, 5).await;
    let slack = &got["slack"][0];
    let lines = slack_lines(slack);
    assert!(lines <= 25, "{lines} lines: {slack}");
    let text = all_text(slack);
    assert!(
        text.contains("Possible causes") && text.contains("more in docs"),
        "{text}"
    );
    // Twilio's `Msg` only restates the request line here, so the catalog's
    // secondary message explains instead.
    assert!(
        !text.contains("returned the HTTP status code 502"),
        "{text}"
    );
    assert!(
        text.contains("There was a failure attempting to retrieve the contents of this URL"),
        "{text}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_digest_of_16_events_on_6_resources_says_16_everywhere() {
    let clock = ManualClock::new(1_700_000_000_000);
    // One group per code, whatever the resource: a storm over six calls.
    let cfg = CONFIG.replace(
        "channels = [\"slack\", \"teams\", \"discord\", \"pd\", \"hook\"]",
        "channels = [\"slack\", \"teams\", \"discord\", \"pd\", \"hook\"]\ngroup_by = [\"error_code\"]",
    );
    let app = spawn_with(&cfg, sinks().await, Some(clock.clone())).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    assert_eq!(
        received(&app.slack, 5).await.len(),
        5,
        "the first alert, everywhere"
    );
    for i in 2..=16u32 {
        clock.advance_ms(200);
        app.send_event(i, "11200", &call_sid(1 + i % 6)).await;
    }
    clock.advance_ms(61_000);
    let got = received(&app.slack, 10).await;
    let headline = "16 events on 6 resources, ";
    for (kind, msgs) in &got {
        assert_eq!(msgs.len(), 2, "{kind}: alert + digest");
        let text = all_text(&msgs[1]);
        if *kind == "pagerduty" {
            let d = &msgs[1]["payload"]["custom_details"];
            assert_eq!(
                (d["count"].as_u64(), d["resources"].as_u64()),
                (Some(16), Some(6))
            );
            assert!(msgs[1]["payload"]["summary"]
                .as_str()
                .is_some_and(|s| s.starts_with("16× 11200")));
        } else if *kind == "webhook" {
            assert_eq!(msgs[1]["digest"]["total"], 16);
            assert_eq!(msgs[1]["digest"]["resources_total"], 6);
        } else {
            assert!(text.contains(headline), "{kind}: {text}");
            assert!(text.contains("16× 11200"), "{kind}: {text}");
            assert!(text.contains("+3 more"), "{kind}: {text}");
            // The first alert's body and causes are not repeated.
            assert!(!text.contains("Possible causes"), "{kind}: {text}");
            // Three of the six resources are listed, no more.
            let listed = (1..=6u32)
                .filter(|i| text.contains(&format!("CA…{:04x}", i)))
                .count();
            assert!(listed <= 4, "{kind}: {listed} resources listed: {text}");
        }
        for wrong in ["15×", "15 more", "15 events", "resource(s)"] {
            assert!(!text.contains(wrong), "{kind} says {wrong:?}: {text}");
        }
        if *kind != "webhook" && *kind != "pagerduty" {
            assert!(
                text.contains("errorCode=11200"),
                "{kind}: the Debugger filtered to the code"
            );
        }
    }
    app.stop().await;
}
