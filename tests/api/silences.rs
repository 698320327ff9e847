//! SPEC 14 silences and acknowledgement, end to end: a silence holds back matching
//! events (stored, counted `silenced`, nothing sent; the invariant holds), other
//! codes still alert, expiring it sends one summary per affected route naming the
//! code and the count, later events alert again; `until_quiet` ends by itself; the
//! admin API refuses without the token and names bad fields; an acknowledged group
//! sends no more digests; the CLI adds and expires beside a running `twilert serve`;
//! on PostgreSQL, two replicas share a silence and send one summary.
//! Injected clock for the in-process tests.

use crate::helpers::*;
use serde_json::{json, Value};
use std::time::Duration;
use twilert::clock::ManualClock;

const ADMIN_TOKEN: &str = "admin-token-0123456789";

/// The base routes, a one-minute window, and an admin listener with a token.
fn config() -> String {
    BASE_CONFIG.replace("window = \"1h\"", "window = \"1m\"")
        + &format!("\n[admin]\nlisten = \"127.0.0.1:0\"\ntokens = [\"{ADMIN_TOKEN}\"]\nreload_interval = \"0s\"\n")
}

const T0: i64 = 1_900_000_000_000;

impl TestApp {
    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.admin_address))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("admin request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or_default())
    }

    async fn silence(&self, body: Value) -> Value {
        let (status, v) = self
            .admin(reqwest::Method::POST, "/api/v1/silences", Some(body))
            .await;
        assert_eq!(status, 201, "{v}");
        v
    }

    async fn tick_and_settle(&self) {
        self.control.dispatcher.tick().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    async fn slack_count(&self) -> usize {
        self.slack
            .received_requests()
            .await
            .unwrap_or_default()
            .len()
    }
}

#[tokio::test]
async fn a_silence_holds_back_events_and_its_end_sends_one_summary() {
    holds_back_then_summarises(config()).await;
}

/// The same on PostgreSQL (SPEC 12: silences live in the shared store), with the
/// real binary and its own clock: expiring is explicit, so no time needs to pass.
#[tokio::test]
async fn a_silence_holds_back_events_and_its_end_sends_one_summary_on_postgres() {
    let Some(db) = crate::pg::fresh_database().await else {
        return;
    };
    let slack = slack_answering(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let admin_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let text = config()
        .replace("{slack}", &slack.uri())
        .replace(
            "path = \"{dir}/twilert.db\"",
            &format!("path = \"{{dir}}/twilert.db\"\nurl = \"{}\"", db.url),
        )
        .replace("{dir}", &dir.path().display().to_string())
        .replace(
            "[admin]\nlisten = \"127.0.0.1:0\"",
            &format!("[admin]\nlisten = \"127.0.0.1:{admin_port}\""),
        );
    assert!(text.contains("url = \"postgres"), "{text}");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, text).unwrap();
    let served = serve_binary(&config);
    let http = reqwest::Client::new();
    let admin = |m: reqwest::Method, path: &str, body: Option<Value>| {
        let req = http
            .request(m, served.admin_url(path))
            .bearer_auth(ADMIN_TOKEN);
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        async move {
            let r = req.send().await.expect("admin request");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or_default())
        }
    };
    let (status, s) = admin(
        reqwest::Method::POST,
        "/api/v1/silences",
        Some(json!({"error_codes": ["11200"], "for": "2h", "author": "ann", "comment": "deploy"})),
    )
    .await;
    assert_eq!(status, 201, "{s}");
    let id = s["id"].as_str().unwrap().to_string();
    let url = served.url("/twilio/debugger");
    for i in 1..=20 {
        let r = post_signed_to(&http, &url, &event_params(i, "11200", &call_sid(i))).await;
        assert_eq!(r.status().as_u16(), 200);
    }
    let r = post_signed_to(&http, &url, &event_params(30, "11205", &call_sid(30))).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        wait_for_requests(&slack, 1, Duration::from_secs(5))
            .await
            .len(),
        1
    );
    tokio::time::sleep(Duration::from_millis(1500)).await; // a tick passes
    assert_eq!(
        slack.received_requests().await.unwrap().len(),
        1,
        "only the other code"
    );
    let (_, list) = admin(reqwest::Method::GET, "/api/v1/silences", None).await;
    assert_eq!(list["silences"][0]["suppressed"], 20, "{list}");
    let (_, acc) = admin(reqwest::Method::GET, "/api/v1/accounting", None).await;
    assert_eq!(acc["terms"]["silenced"], 20, "{acc}");
    assert_eq!(acc["balanced"], true, "{acc}");
    let (status, _) = admin(
        reqwest::Method::DELETE,
        &format!("/api/v1/silences/{id}?by=bob"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let got = wait_for_requests(&slack, 2, Duration::from_secs(5)).await;
    let summary = got[1]["text"].as_str().unwrap_or_default();
    assert!(
        summary.contains("11200") && summary.contains("20 events") && summary.contains("bob"),
        "{summary}"
    );
    let r = post_signed_to(&http, &url, &event_params(40, "11200", &call_sid(40))).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        wait_for_requests(&slack, 3, Duration::from_secs(5))
            .await
            .len(),
        3
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        slack.received_requests().await.unwrap().len(),
        3,
        "one summary"
    );
    drop(served);
}

async fn holds_back_then_summarises(config: String) {
    let clock = ManualClock::new(T0);
    let app = spawn_with(&config, slack_answering(&[]).await, Some(clock.clone())).await;
    let s = app
        .silence(
            json!({"error_codes": ["11200"], "resource_sids": ["CA*"], "for": "2h",
                        "author": "ann", "comment": "carrier deploy"}),
        )
        .await;
    let id = s["id"].as_str().expect("an id").to_string();
    assert_eq!(s["error_codes"], json!(["11200"]));
    assert_eq!(s["resource_sids"], json!(["CA*"]));
    assert_eq!(s["matching_groups"], 0);
    assert_eq!(s["state"], "active");

    for i in 1..=20 {
        app.send_event(i, "11200", &call_sid(i)).await;
    }
    app.tick_and_settle().await;
    assert_eq!(app.slack_count().await, 0, "nothing sent while silenced");
    let snap = app.snapshot().await;
    assert_eq!(snap.counters.silenced, 20, "{snap:?}");
    assert_eq!(snap.accounted(), snap.counters.accepted, "{snap:?}");
    assert_eq!(snap.open_groups, 0, "silenced events open no group");
    let (_, list) = app
        .admin(reqwest::Method::GET, "/api/v1/silences", None)
        .await;
    assert_eq!(list["silences"][0]["suppressed"], 20, "{list}");
    let (_, acc) = app
        .admin(reqwest::Method::GET, "/api/v1/accounting", None)
        .await;
    assert_eq!(acc["terms"]["silenced"], 20, "{acc}");
    assert_eq!(acc["balanced"], true);
    let metrics = app
        .http
        .get(format!("{}/metrics", app.admin_address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("twilert_events_outcome{outcome=\"silenced\"} 20"),
        "{metrics}"
    );

    // Another code of the same route still alerts.
    app.send_event(30, "11205", &call_sid(30)).await;
    assert_eq!(app.slack_messages(1, Duration::from_secs(5)).await.len(), 1);

    let (status, expired) = app
        .admin(
            reqwest::Method::DELETE,
            &format!("/api/v1/silences/{id}?by=bob"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{expired}");
    assert_eq!(expired["expired_by"], "bob");
    let got = app.slack_messages(2, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 2, "{got:?}");
    let summary = got[1]["text"].as_str().unwrap_or_default().to_string();
    for want in [
        "SILENCE ENDED",
        "11200",
        "20 events",
        "ann",
        "carrier deploy",
        "bob",
        "route voice",
    ] {
        assert!(summary.contains(want), "{want:?} in {summary}");
    }
    // Exactly one: more ticks send nothing more; the accounting still adds up.
    clock.advance_ms(120_000);
    app.tick_and_settle().await;
    assert_eq!(app.slack_count().await, 2);
    let snap = app.snapshot().await;
    assert_eq!(snap.accounted(), snap.counters.accepted, "{snap:?}");
    let (status, _) = app
        .admin(
            reqwest::Method::DELETE,
            &format!("/api/v1/silences/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 404, "already expired");

    // Later events alert again.
    app.send_event(40, "11200", &call_sid(40)).await;
    let got = app.slack_messages(3, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 3);
    assert!(!got[2].to_string().contains("SILENCE ENDED"));
    let (_, all) = app
        .admin(reqwest::Method::GET, "/api/v1/silences?all=true", None)
        .await;
    assert_eq!(all["silences"][0]["state"], "expired");
    let (_, active) = app
        .admin(reqwest::Method::GET, "/api/v1/silences", None)
        .await;
    assert_eq!(active["silences"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn until_quiet_ends_by_itself_and_an_ended_silence_without_summary_says_nothing() {
    let clock = ManualClock::new(T0);
    let app = spawn_with(&config(), slack_answering(&[]).await, Some(clock.clone())).await;
    app.silence(json!({"error_codes": ["11200"], "until_quiet": "10m", "author": "ann"}))
        .await;
    let quiet_off = app
        .silence(json!({"error_codes": ["11210"], "for": "5m", "author": "ann", "summary": false}))
        .await;
    assert_eq!(quiet_off["summary"], false);
    for i in 1..=3 {
        app.send_event(i, "11200", &call_sid(i)).await;
    }
    app.send_event(9, "11210", &call_sid(9)).await;
    clock.advance_ms(6 * 60_000);
    app.tick_and_settle().await; // the 5m silence ends: no summary (summary = false)
    app.send_event(4, "11200", &call_sid(4)).await; // still silenced: quiet counts from here
    clock.advance_ms(9 * 60_000);
    app.tick_and_settle().await;
    assert_eq!(
        app.slack_count().await,
        0,
        "9 minutes quiet: still in force"
    );
    clock.advance_ms(2 * 60_000);
    app.control.dispatcher.tick().await;
    let got = app.slack_messages(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let text = got[0]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("4 events") && text.contains("10m without a matching event"),
        "{text}"
    );
    let (_, all) = app
        .admin(reqwest::Method::GET, "/api/v1/silences?all=true", None)
        .await;
    assert!(
        all["silences"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "expired"),
        "{all}"
    );
    let snap = app.snapshot().await;
    assert_eq!(snap.counters.silenced, 5);
    assert_eq!(snap.accounted(), snap.counters.accepted);
    app.stop().await;
}

#[tokio::test]
async fn the_api_needs_the_token_and_names_the_bad_field() {
    let app = spawn_with(&config(), slack_answering(&[]).await, None).await;
    let url = format!("{}/api/v1/silences", app.admin_address);
    let body = json!({"error_codes": ["11200"], "for": "1h", "author": "ann"});
    assert_eq!(
        app.http.get(&url).send().await.unwrap().status().as_u16(),
        401
    );
    let r = app.http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = app
        .http
        .delete(format!("{url}/abc"))
        .bearer_auth("wrong-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let (_, list) = app
        .admin(reqwest::Method::GET, "/api/v1/silences", None)
        .await;
    assert_eq!(
        list["silences"],
        json!([]),
        "nothing was created without the token"
    );

    for (bad, field) in [
        (
            json!({"error_codes": ["11x0"], "for": "1h", "author": "a"}),
            "error_codes",
        ),
        (
            json!({"error_codes": "11200", "for": "1h", "author": "a"}),
            "error_codes",
        ),
        (
            json!({"error_code": ["11200"], "for": "1h", "author": "a"}),
            "body",
        ),
        (json!({"error_codes": ["11200"], "author": "a"}), "ends_at"),
        (
            json!({"error_codes": ["11200"], "for": "soon", "author": "a"}),
            "for",
        ),
        (
            json!({"error_codes": ["11200"], "ends_at": "2020-01-01T00:00:00Z", "author": "a"}),
            "ends_at",
        ),
        (json!({"error_codes": ["11200"], "for": "1h"}), "author"),
        (
            json!({"routes": ["nope"], "for": "1h", "author": "a"}),
            "routes",
        ),
        (json!({"for": "1h", "author": "a"}), "matchers"),
    ] {
        let (status, v) = app
            .admin(reqwest::Method::POST, "/api/v1/silences", Some(bad.clone()))
            .await;
        assert_eq!(status, 400, "{bad}: {v}");
        assert_eq!(v["field"], field, "{bad}: {v}");
        assert!(v["error"].as_str().unwrap_or("").contains(field), "{v}");
    }
    let s = app.silence(body).await;
    assert!(s["id"].as_str().is_some_and(|id| id.len() == 16), "{s}");
    // What someone typed is shown as text on the console's page.
    app.silence(json!({"error_codes": ["11205"], "for": "1h",
                       "author": "<script>alert(1)</script>", "comment": "<img src=x onerror=alert(2)>"}))
        .await;
    let page = app
        .http
        .get(format!("{}/ui/silences", app.admin_address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(
        !page.contains("<script>alert") && !page.contains("<img src=x"),
        "{page}"
    );
    let (status, v) = app
        .admin(
            reqwest::Method::DELETE,
            "/api/v1/silences/0000000000000000",
            None,
        )
        .await;
    assert_eq!(status, 404, "{v}");
    let (status, _) = app
        .admin(
            reqwest::Method::POST,
            "/api/v1/groups/voice%7Cerror_code%3D1/acknowledge",
            Some(json!({"author": "ann"})),
        )
        .await;
    assert_eq!(status, 404, "no such open group");
    let (status, v) = app
        .admin(
            reqwest::Method::POST,
            "/api/v1/groups/x/acknowledge",
            Some(json!({})),
        )
        .await;
    assert_eq!((status, v["field"].as_str()), (400, Some("author")));
    app.stop().await;
}

#[tokio::test]
async fn an_acknowledged_group_sends_no_more_digests_and_its_events_are_silenced() {
    let clock = ManualClock::new(T0);
    let app = spawn_with(&config(), slack_answering(&[]).await, Some(clock.clone())).await;
    for i in 1..=6 {
        app.send_event(i, "11200", &call_sid(1)).await;
    }
    assert_eq!(app.slack_messages(1, Duration::from_secs(5)).await.len(), 1);
    let (_, groups) = app
        .admin(reqwest::Method::GET, "/api/v1/groups", None)
        .await;
    let key = groups["groups"][0]["key"].as_str().unwrap().to_string();
    let enc: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
    let (status, v) = app
        .admin(
            reqwest::Method::POST,
            &format!("/api/v1/groups/{enc}/acknowledge"),
            Some(json!({"author": "ann"})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    for i in 7..=9 {
        app.send_event(i, "11200", &call_sid(1)).await;
    }
    clock.advance_ms(61_000);
    app.tick_and_settle().await;
    assert_eq!(
        app.slack_count().await,
        1,
        "no digest for an acknowledged group"
    );
    let (_, groups) = app
        .admin(reqwest::Method::GET, "/api/v1/groups", None)
        .await;
    assert_eq!(groups["groups"][0]["acknowledged"]["by"], "ann", "{groups}");
    let snap = app.snapshot().await;
    assert_eq!(
        snap.counters.silenced, 8,
        "5 counted before, 3 after: {snap:?}"
    );
    assert_eq!(snap.accounted(), snap.counters.accepted, "{snap:?}");
    // A quiet window closes it; the next event alerts again.
    clock.advance_ms(61_000);
    app.tick_and_settle().await;
    app.send_event(10, "11200", &call_sid(1)).await;
    assert_eq!(app.slack_messages(2, Duration::from_secs(5)).await.len(), 2);
    app.stop().await;
}

fn twilert(config: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_twilert"))
        .env_clear()
        .env("NO_COLOR", "1")
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("run twilert");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_cli_silences_beside_a_running_service_through_its_admin_api() {
    let slack = slack_answering(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let admin_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let text = config()
        .replace("{slack}", &slack.uri())
        .replace("{dir}", &dir.path().display().to_string())
        .replace(
            "[admin]\nlisten = \"127.0.0.1:0\"",
            &format!("[admin]\nlisten = \"127.0.0.1:{admin_port}\""),
        );
    let config = dir.path().join("config.toml");
    std::fs::write(&config, text).unwrap();
    let served = serve_binary(&config);
    let http = reqwest::Client::new();
    let post = |n: u32, code: &'static str| {
        let (http, url) = (http.clone(), served.url("/twilio/debugger"));
        async move {
            let r = post_signed_to(&http, &url, &event_params(n, code, &call_sid(n))).await;
            assert_eq!(r.status().as_u16(), 200);
        }
    };
    post(1, "11200").await; // opens a group: the silence will match it
    assert_eq!(
        wait_for_requests(&slack, 1, Duration::from_secs(5))
            .await
            .len(),
        1
    );

    let (code, stdout, stderr) = twilert(
        &config,
        &[
            "silence",
            "add",
            "--code",
            "11200",
            "--resource",
            "CA*",
            "--for",
            "2h",
            "--comment",
            "deploy",
            "--author",
            "ann",
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("matches 1 open group(s) now"), "{stdout}");
    let id = stdout
        .split_whitespace()
        .nth(1)
        .expect("silence <id> added")
        .to_string();
    for i in 2..=21 {
        post(i, "11200").await;
    }
    post(50, "11205").await; // another code still alerts
    assert_eq!(
        wait_for_requests(&slack, 2, Duration::from_secs(5))
            .await
            .len(),
        2
    );

    let (code, stdout, _) = twilert(&config, &["silence", "list", "--output", "json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&stdout).expect("JSON list");
    assert_eq!(v["silences"][0]["id"], id.as_str());
    assert_eq!(v["silences"][0]["suppressed"], 20, "{v}");
    let (_, text, _) = twilert(&config, &["silence", "list"]);
    assert!(text.contains(&id) && text.contains(" 20 "), "{text}");

    let (code, stdout, stderr) = twilert(&config, &["silence", "expire", &id, "--author", "bob"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("held back 20 event(s)"), "{stdout}");
    let got = wait_for_requests(&slack, 3, Duration::from_secs(5)).await;
    let summary = got[2]["text"].as_str().unwrap_or_default();
    assert!(
        summary.contains("11200") && summary.contains("20 events") && summary.contains("bob"),
        "{summary}"
    );
    let (code, _, stderr) = twilert(&config, &["silence", "expire", &id]);
    assert_eq!(code, 1, "already expired");
    assert!(stderr.contains("no silence"), "{stderr}");
    let (code, _, stderr) = twilert(
        &config,
        &["silence", "add", "--code", "11x0", "--for", "1h"],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("error_codes[0]"), "{stderr}");
    let metrics = http
        .get(served.admin_url("/metrics"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("twilert_events_outcome{outcome=\"silenced\"} 20"),
        "{metrics}"
    );
}

/// SPEC 12 + 14: two replicas on one PostgreSQL database share a silence. One
/// replica creates it, events arriving at either are held back and counted into
/// the same store, the other expires it, and exactly one summary goes out.
#[tokio::test]
async fn replicas_share_a_silence_and_send_one_summary() {
    let Some(db) = crate::pg::fresh_database().await else {
        return;
    };
    let slack = slack_answering(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let text = BASE_CONFIG
        .replace("{slack}", &slack.uri())
        .replace(
            "path = \"{dir}/twilert.db\"",
            &format!("url = \"{}\"", db.url),
        )
        .replace("{dir}", &dir.path().display().to_string());
    let replicas: Vec<Served> = (0..2)
        .map(|i| {
            let config = dir.path().join(format!("replica-{i}.toml"));
            std::fs::write(&config, &text).unwrap();
            serve_binary(&config)
        })
        .collect();
    let http = reqwest::Client::new();
    let r = http
        .post(replicas[0].admin_url("/api/v1/silences"))
        .json(&json!({"error_codes": ["11200"], "for": "1h", "author": "ann"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_millis(600)).await; // the other replica ticks
    for i in 1..=20u32 {
        let url = replicas[(i % 2) as usize].url("/twilio/debugger");
        let r = post_signed_to(&http, &url, &event_params(i, "11200", &call_sid(i))).await;
        assert_eq!(r.status().as_u16(), 200);
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        slack.received_requests().await.unwrap().len(),
        0,
        "held back on both"
    );
    for s in &replicas {
        let v: Value = http
            .get(s.admin_url("/api/v1/silences"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["silences"][0]["suppressed"], 20, "{v}");
        let acc: Value = http
            .get(s.admin_url("/api/v1/accounting"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(acc["terms"]["silenced"], 20, "{acc}");
        assert_eq!(acc["balanced"], true, "{acc}");
    }
    let r = http
        .delete(replicas[1].admin_url(&format!("/api/v1/silences/{id}?by=bob")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let got = wait_for_requests(&slack, 1, Duration::from_secs(5)).await;
    let summary = got[0]["text"].as_str().unwrap_or_default();
    assert!(
        summary.contains("20 events") && summary.contains("bob"),
        "{summary}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        slack.received_requests().await.unwrap().len(),
        1,
        "one summary in all"
    );
    let r = http
        .delete(replicas[0].admin_url(&format!("/api/v1/silences/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        404,
        "already expired, by the other replica"
    );
}
