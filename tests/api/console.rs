//! The console and the JSON API (SPEC 15, 9): driven in headless Chromium through
//! chromedriver, and with plain HTTP for the API and the refusals.

use crate::helpers::*;
use crate::webdriver::Browser;
use serde_json::{json, Value};
use std::time::Duration;

const ADMIN_TOKEN: &str = "console-admin-token-1";

fn config_with_tokens() -> String {
    let port = spare_port();
    format!("{BASE_CONFIG}\n[admin]\nlisten = \"127.0.0.1:{port}\"\nreload_interval = \"0s\"\ntokens = [\"{ADMIN_TOKEN}\"]\n")
}

/// A Debugger event whose message and resource are markup.
fn hostile_params(n: u32) -> Vec<(String, String)> {
    let payload = json!({
        "resource_sid": "<img src=x onerror=\"window.__pwned=2\">",
        "service_sid": null,
        "error_code": "30007",
        "more_info": {"Msg": "<script>window.__pwned=1</script><b>bold</b>"},
    });
    vec![
        ("Sid".into(), sid(n)),
        ("AccountSid".into(), ACCOUNT.into()),
        ("Level".into(), "ERROR".into()),
        ("Payload".into(), payload.to_string()),
    ]
}

impl TestApp {
    async fn api(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.admin_address))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("api request");
        (r.status().as_u16(), r.json().await.unwrap_or_default())
    }

    async fn authed_metrics(&self) -> String {
        let r = self
            .http
            .get(format!("{}/metrics", self.admin_address))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("metrics");
        r.text().await.expect("text")
    }
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse::<f64>()
                .ok()
        })
        .unwrap_or_else(|| panic!("{name} not in /metrics")) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_needs_the_token_pages_by_keyset_and_names_bad_filters() {
    let app = spawn_with(&config_with_tokens(), slack_answering(&[]).await, None).await;
    for n in 1..=7 {
        let code = if n % 2 == 0 { "11200" } else { "11205" };
        app.send_event(n, code, &call_sid(n)).await;
    }
    let r = app
        .http
        .get(format!("{}/api/v1/events", app.admin_address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    for path in ["/ui/", "/api/v1/events", "/ui/login"] {
        let r = app
            .http
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404, "public listener serves {path}");
    }
    // Newest first, three at a time, following `next`.
    let mut seen = vec![];
    let mut path = "/api/v1/events?limit=3".to_string();
    loop {
        let (status, page) = app.api(&path).await;
        assert_eq!(status, 200, "{page}");
        for e in page["events"].as_array().unwrap() {
            seen.push(e["sid"].as_str().unwrap().to_string());
        }
        match page["next"].as_i64() {
            Some(next) => path = format!("/api/v1/events?limit=3&before={next}"),
            None => break,
        }
    }
    let expected: Vec<String> = (1..=7).rev().map(sid).collect();
    assert_eq!(seen, expected);
    let (_, page) = app.api("/api/v1/events?code=11200&route=voice").await;
    let codes: Vec<i64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["error_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, vec![11200, 11200, 11200]);
    let (status, err) = app.api("/api/v1/events?code=abc").await;
    assert_eq!(
        (status, err["field"].as_str()),
        (400, Some("code")),
        "{err}"
    );
    let (status, err) = app.api("/api/v1/events?since=soon").await;
    assert_eq!(
        (status, err["field"].as_str()),
        (400, Some("since")),
        "{err}"
    );
    let (status, err) = app.api("/api/v1/events?colour=red").await;
    assert_eq!(status, 400, "{err}");

    app.slack_messages(7, Duration::from_secs(5)).await;
    let (status, one) = app.api(&format!("/api/v1/events/{}", sid(2))).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["routes"][0]["route"], "voice");
    assert_eq!(one["stored"]["source"], "debugger", "which path it came by");
    assert!(
        eventually(Duration::from_secs(5), || async {
            let (_, one) = app.api(&format!("/api/v1/events/{}", sid(2))).await;
            one["notifications"][0]["state"] == "sent"
        })
        .await
    );
    assert_eq!(app.api(&format!("/api/v1/events/{}", sid(99))).await.0, 404);

    let (_, acc) = app.api("/api/v1/accounting").await;
    assert_eq!(acc["accepted"], 7);
    assert_eq!(acc["sum"], acc["accepted"], "{acc}");
    assert_eq!(
        acc["accepted"].as_u64().unwrap(),
        metric(&app.authed_metrics().await, "twilert_events_accepted_total")
    );
    let (_, groups) = app.api("/api/v1/groups?limit=2").await;
    assert_eq!(groups["groups"].as_array().unwrap().len(), 2, "{groups}");
    assert!(groups["next"].is_string());
    let (_, channels) = app.api("/api/v1/channels").await;
    assert_eq!(channels["channels"][0]["name"], "slack");
    assert_eq!(channels["channels"][0]["state"], "ok");
    assert!(
        !channels.to_string().contains("/services/"),
        "a channel URL leaked: {channels}"
    );
    let (status, dead) = app.api("/api/v1/dead-letters").await;
    assert_eq!(
        (status, dead["dead_letters"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    app.stop().await;
}

/// The CSRF token a page's form carries.
fn csrf_of(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no CSRF token in the page:\n{page}"))
        .to_string()
}

/// Logs in over plain HTTP: the session cookie (checked for its attributes).
async fn login_cookie(app: &TestApp) -> String {
    let page = app
        .http
        .get(format!("{}/ui/login", app.admin_address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .post(format!("{}/ui/login", app.admin_address))
        .form(&[("csrf", csrf.as_str()), ("token", ADMIN_TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    cookie.split(';').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_forms_need_their_csrf_token_and_pages_their_session() {
    let app = spawn_with(&config_with_tokens(), slack_answering(&[]).await, None).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .get(format!("{}/ui/events", app.admin_address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["location"].to_str().unwrap()
        ),
        (303, "/ui/login")
    );
    let cookie = login_cookie(&app).await;
    let page = client
        .get(format!("{}/ui/dead-letters", app.admin_address))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    // The cookie opens the console only, not the API.
    let r = client
        .get(format!("{}/api/v1/events", app.admin_address))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    for form in [
        vec![("all", "true")],
        vec![("all", "true"), ("csrf", "0000")],
    ] {
        let r = client
            .post(format!("{}/ui/dead-letters/retry", app.admin_address))
            .header("Cookie", &cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403, "{form:?}");
    }
    // With the session's token: the route tester dry-runs a stored event (picked by
    // Sid), and "retry all" is accepted.
    app.send_event(1, "11200", &call_sid(1)).await;
    let page = client
        .get(format!("{}/ui/route-tester", app.admin_address))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page);
    let sid1 = sid(1);
    let r = client
        .post(format!("{}/ui/route-tester", app.admin_address))
        .header("Cookie", &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("sid", sid1.as_str()),
            ("body", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let result = r.text().await.unwrap();
    assert!(
        result.contains("data-channel=\"slack\"") && result.contains("route voice"),
        "{result}"
    );
    let r = client
        .post(format!("{}/ui/route-tester", app.admin_address))
        .header("Cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("body", "Sid=nonsense")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = client
        .post(format!("{}/ui/dead-letters/retry", app.admin_address))
        .header("Cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("all", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_a_browser() {
    // Slack answers 404 once (the channel is broken: a dead letter), then 200.
    let app = spawn_with(&config_with_tokens(), slack_answering(&[404]).await, None).await;
    let Some(b) = Browser::start().await else {
        app.stop().await;
        return;
    };
    let ui = |p: &str| format!("{}{p}", app.admin_address);
    app.send_event(1, "11200", &call_sid(1)).await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            app.api("/api/v1/dead-letters").await.1["dead_letters"]
                .as_array()
                .is_some_and(|d| d.len() == 1)
        })
        .await,
        "the first delivery is dead-lettered"
    );
    // Unrouted (no later delivery clears the channel's broken state).
    app.send_event(3, "30003", &call_sid(3)).await;
    let hostile = app.post_signed(&hostile_params(4)).await;
    assert_eq!(hostile.status().as_u16(), 200);

    // Login: the overview is behind it.
    b.goto(&ui("/ui/")).await;
    assert!(b.url().await.ends_with("/ui/login"), "{}", b.url().await);
    b.type_into("#token", ADMIN_TOKEN).await;
    b.submit("#login").await;
    assert!(b.url().await.ends_with("/ui/"));
    let accepted: u64 = b.text("#acc-accepted").await.parse().unwrap();
    assert_eq!(
        accepted,
        metric(&app.authed_metrics().await, "twilert_events_accepted_total")
    );
    assert_eq!(accepted, 3);
    assert_eq!(b.text("#acc-sum").await, "3");
    assert!(b.source().await.contains("<svg"), "the chart is drawn");
    assert!(
        b.text("#channels").await.contains("broken"),
        "{}",
        b.text("#channels").await
    );
    shot(&b, "console-overview.png").await;
    app.send_event(2, "11205", &call_sid(2)).await;

    // Events: newest first, filter by code.
    b.goto(&ui("/ui/events")).await;
    let sids: Vec<String> = b.texts("#events td:nth-child(2)").await;
    assert_eq!(sids, [2, 4, 3, 1].map(sid).to_vec());
    b.goto(&ui("/ui/events?code=11205")).await;
    assert_eq!(b.texts("#events td:nth-child(2)").await, vec![sid(2)]);
    assert!(b.source().await.contains("id=\"chart\""));

    // The hostile event: shown as text, nothing runs.
    b.goto(&ui(&format!("/ui/events/{}", sid(4)))).await;
    assert_eq!(
        b.script("return typeof window.__pwned", json!([])).await,
        "undefined"
    );
    assert_eq!(
        b.text("#f-resource").await,
        "<img src=x onerror=\"window.__pwned=2\">"
    );
    assert_eq!(b.text("#f-source").await, "debugger");
    assert!(b
        .text("#f-more-info")
        .await
        .contains("<script>window.__pwned=1</script>"));
    assert_eq!(
        b.script(
            "return document.querySelectorAll('main img, main b, main script').length",
            json!([])
        )
        .await,
        0
    );

    // An event's page: its route and notification.
    b.goto(&ui(&format!("/ui/events/{}", sid(1)))).await;
    assert!(b.text("#routes").await.contains("voice"));
    assert!(b.text("#notifications").await.contains("dead"));
    shot(&b, "console-event.png").await;

    b.goto(&ui("/ui/groups")).await;
    assert!(b.text("#groups").await.contains("voice"));

    // Silence the first group from its row: the form comes prefilled, the live
    // count says what it would match, creating it holds the next event back.
    let link = b
        .script(
            "return document.getElementById('silence-0').href",
            json!([]),
        )
        .await;
    b.goto(link.as_str().expect("a Silence link")).await;
    assert!(b.url().await.contains("/ui/silences?"));
    assert_eq!(
        b.script(
            "return document.getElementById('error_codes').value",
            json!([])
        )
        .await,
        "11200"
    );
    b.type_into("#for", "1h").await;
    b.type_into("#author", "ann").await;
    b.type_into("#comment", "carrier incident").await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            b.text("#live-count")
                .await
                .contains("matches 1 open group(s) now")
        })
        .await,
        "live count: {}",
        b.text("#live-count").await
    );
    b.submit("#create").await;
    assert!(b.url().await.contains("created="), "{}", b.url().await);
    let silence = app.api("/api/v1/silences").await.1["silences"][0].clone();
    let silence_id = silence["id"].as_str().expect("created").to_string();
    assert_eq!(silence["author"], "ann");
    assert!(b.text("#silences").await.contains("carrier incident"));
    app.send_event(5, "11200", &call_sid(1)).await;
    b.goto(&ui("/ui/silences")).await;
    assert_eq!(b.text(&format!("#suppressed-{silence_id}")).await, "1");
    let before_summary = app
        .slack
        .received_requests()
        .await
        .unwrap_or_default()
        .len();
    b.type_into(&format!("#by-{silence_id}"), "bob").await;
    b.submit(&format!("#expire-{silence_id}")).await;
    assert!(
        b.text(&format!("#silence-{silence_id}"))
            .await
            .contains("expired by bob"),
        "{}",
        b.text("#silences").await
    );
    let got = app
        .slack_messages(before_summary + 1, Duration::from_secs(5))
        .await;
    assert!(
        slack_text(&got[before_summary]).contains("SILENCE ENDED"),
        "{}",
        got[before_summary]
    );
    // Acknowledge the other group from its row.
    b.goto(&ui("/ui/groups")).await;
    b.type_into("#ack-author-1", "carol").await;
    b.submit("#ack-1").await;
    assert!(b.text("#groups").await.contains("acknowledged by carol"));

    // A dead letter retried from the page reaches Slack.
    b.goto(&ui("/ui/dead-letters")).await;
    let id = app.api("/api/v1/dead-letters").await.1["dead_letters"][0]["id"]
        .as_i64()
        .unwrap();
    let before = app
        .slack
        .received_requests()
        .await
        .unwrap_or_default()
        .len();
    b.submit(&format!("#retry-{id}")).await;
    let delivered = app.slack_messages(before + 1, Duration::from_secs(5)).await;
    assert!(
        slack_text(&delivered[before]).contains("11200"),
        "{}",
        delivered[before]
    );
    assert!(
        eventually(Duration::from_secs(5), || async {
            b.goto(&ui("/ui/dead-letters")).await;
            b.source().await.contains("No dead letters")
        })
        .await
    );

    // The route tester renders Slack's payload for a pasted body; nothing is sent.
    let sent = app
        .slack
        .received_requests()
        .await
        .unwrap_or_default()
        .len();
    b.goto(&ui("/ui/route-tester")).await;
    let body = serde_urlencoded::to_string(event_params(50, "11200", &call_sid(50))).unwrap();
    b.script(
        "document.getElementById('body').value = arguments[0]",
        json!([body]),
    )
    .await;
    b.submit("#test").await;
    let payload: Value =
        serde_json::from_str(&b.text("pre.payload[data-channel=slack]").await).expect("Slack JSON");
    assert!(
        payload["blocks"].is_array() || payload["text"].is_string(),
        "{payload}"
    );
    assert!(b.text("#result").await.contains("voice"));
    shot(&b, "console-route-tester.png").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        app.slack
            .received_requests()
            .await
            .unwrap_or_default()
            .len(),
        sent
    );

    // A form whose CSRF token was removed is refused.
    b.goto(&ui("/ui/route-tester")).await;
    b.script(
        "document.querySelector('#tester input[name=csrf]').remove()",
        json!([]),
    )
    .await;
    b.submit("#test").await;
    assert!(
        b.title().await.starts_with("Refused"),
        "{}",
        b.title().await
    );

    // No secret on any page.
    for p in [
        "/ui/",
        "/ui/events",
        "/ui/groups",
        "/ui/dead-letters",
        "/ui/silences",
        "/ui/route-tester",
    ] {
        b.goto(&ui(p)).await;
        let s = b.source().await;
        assert!(
            !s.contains("/services/T000") && !s.contains(ADMIN_TOKEN) && !s.contains(TOKEN),
            "{p} shows a secret"
        );
    }
    // Logging out ends the session: the console asks for the token again.
    b.goto(&ui("/ui/login")).await;
    b.submit("#logout").await;
    b.goto(&ui("/ui/events")).await;
    assert!(b.url().await.ends_with("/ui/login"), "{}", b.url().await);
    drop(b);
    app.stop().await;
}

/// Saves a screenshot when `TWILERT_SCREENSHOTS` names a directory (README images).
async fn shot(b: &Browser, name: &str) {
    if let Ok(dir) = std::env::var("TWILERT_SCREENSHOTS") {
        std::fs::write(std::path::Path::new(&dir).join(name), b.screenshot().await)
            .expect("write screenshot");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_pause_shows_on_the_channel_until_when_and_why() {
    let slack = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(429).insert_header("Retry-After", "120"))
        .mount(&slack)
        .await;
    let app = spawn_with(&config_with_tokens(), slack, None).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    let paused = eventually(Duration::from_secs(5), || async {
        app.api("/api/v1/channels").await.1["channels"][0]["state"] == "paused"
    })
    .await;
    let (_, channels) = app.api("/api/v1/channels").await;
    assert!(paused, "{channels}");
    let slack_health = &channels["channels"][0];
    assert_eq!(slack_health["paused_by"], "retry_after", "{slack_health}");
    let until = slack_health["paused_until_ms"].as_i64().expect("until");
    let now = twilert::clock::Clock::now_ms(&twilert::clock::SystemClock);
    assert!(
        (now + 100_000..=now + 121_000).contains(&until),
        "about two minutes from now: {until} vs {now}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_page_by_cursor() {
    let app = spawn_with(
        &config_with_tokens(),
        slack_answering(&[404, 404, 404]).await,
        None,
    )
    .await;
    for n in 1..=3 {
        app.send_event(n, "11200", &call_sid(n)).await;
    }
    assert!(
        eventually(Duration::from_secs(5), || async {
            app.snapshot().await.counters.dead_lettered == 3
        })
        .await
    );
    let (status, first) = app.api("/api/v1/dead-letters?limit=2").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["dead_letters"].as_array().unwrap().len(), 2);
    assert_eq!(first["total"], 3);
    let next = first["next"].as_i64().expect("a next page");
    let (_, second) = app
        .api(&format!("/api/v1/dead-letters?limit=2&after={next}"))
        .await;
    assert_eq!(second["dead_letters"].as_array().unwrap().len(), 1);
    assert!(second["next"].is_null(), "{second}");
    let ids: Vec<i64> = [&first, &second]
        .iter()
        .flat_map(|p| {
            p["dead_letters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "oldest first, no repeats: {ids:?}"
    );
    let (status, bad) = app.api("/api/v1/dead-letters?limit=0").await;
    assert_eq!(status, 400);
    assert!(bad.to_string().contains("limit"), "{bad}");
    app.stop().await;
}
