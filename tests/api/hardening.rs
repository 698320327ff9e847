//! Hardening (SPEC 7, 9): the admin listener and its tokens, reload floods, a store
//! that is deleted, truncated, overwritten, shared or full while running, long
//! outages, bounded group state. Each of these failed before the fix.

use crate::helpers::*;
use std::time::Duration;
use twilert::startup::Application;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn status(http: &reqwest::Client, method: reqwest::Method, url: String) -> u16 {
    http.request(method, url)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[tokio::test]
async fn admin_endpoints_are_absent_from_the_public_listener() {
    let app = spawn_app().await;
    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;
    let public = |p: &str| format!("{}{p}", app.address);
    let admin = |p: &str| format!("{}{p}", app.admin_address);
    assert_eq!(
        status(&app.http, get.clone(), public("/metrics")).await,
        404
    );
    assert_eq!(
        status(&app.http, post.clone(), public("/-/reload")).await,
        404
    );
    assert_eq!(
        status(&app.http, get.clone(), public("/healthz")).await,
        200
    );
    assert_eq!(status(&app.http, get.clone(), public("/readyz")).await, 200);
    assert_eq!(status(&app.http, get.clone(), admin("/metrics")).await, 200);
    assert_eq!(status(&app.http, get.clone(), admin("/readyz")).await, 200);
    assert_eq!(status(&app.http, post, admin("/-/reload")).await, 200);
    // The webhook itself is not on the admin listener.
    let r = post_signed_to(
        &app.http,
        &admin("/twilio/debugger"),
        &event_params(1, "11200", &call_sid(1)),
    )
    .await;
    assert_eq!(r.status().as_u16(), 404);
    app.stop().await;
}

#[tokio::test]
async fn admin_tokens_are_required_and_refusals_counted() {
    let config = format!(
        "{BASE_CONFIG}\n[admin]\nlisten = \"127.0.0.1:0\"\ntokens = [\"first-admin-token\", \"second-admin-token\"]\n"
    );
    let app = spawn_with(&config, slack_answering(&[]).await, None).await;
    let url = format!("{}/metrics", app.admin_address);
    let get = |token: Option<&'static str>| {
        let mut req = app.http.get(url.clone());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move { req.send().await.expect("request") }
    };
    assert_eq!(get(None).await.status().as_u16(), 401);
    assert_eq!(get(Some("first-admin-tokenX")).await.status().as_u16(), 401);
    let reload = app
        .http
        .post(format!("{}/-/reload", app.admin_address))
        .send()
        .await
        .expect("reload");
    assert_eq!(reload.status().as_u16(), 401, "reload needs the token too");
    let ok = get(Some("second-admin-token")).await;
    assert_eq!(ok.status().as_u16(), 200);
    let text = ok.text().await.expect("text");
    assert!(
        text.contains("twilert_admin_unauthorized_total 3"),
        "{text}"
    );
    assert!(!text.contains("admin-token"), "no token in metrics");
    app.stop().await;
}

#[tokio::test]
async fn an_admin_listener_off_loopback_needs_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = BASE_CONFIG
        .replace("{slack}", "http://127.0.0.1:9")
        .replace("{dir}", &dir.path().display().to_string())
        + "\n[admin]\nlisten = \"0.0.0.0:0\"\n";
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).expect("write");
    let settings = twilert::config::load(&path).expect("loads");
    let err = Application::build(settings, None)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("admin.tokens") && err.contains("0.0.0.0:0"),
        "{err}"
    );
}

#[tokio::test]
async fn a_reload_flood_does_not_raise_the_delivery_rate() {
    let config = BASE_CONFIG.replace(
        "rate_limit = \"1000/s\"\nburst = 1000",
        "rate_limit = \"1/s\"\nburst = 2\nmax_pending = 100000",
    );
    let app = spawn_with(&config, slack_answering(&[]).await, None).await;
    for i in 1..=12 {
        app.send_event(i, "11200", &call_sid(i)).await; // 12 groups: 12 alerts queued
    }
    let started = std::time::Instant::now();
    let mut reloads = 0;
    while started.elapsed() < Duration::from_secs(3) {
        let (status, _) = app.reload().await;
        assert_eq!(status, 200);
        reloads += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent = app
        .slack
        .received_requests()
        .await
        .unwrap_or_default()
        .len();
    let secs = started.elapsed().as_secs_f64().ceil() as usize;
    // 1/s with a burst of 2: at most 2 + one a second (+1 for timing at the edges);
    // a limiter refilled by each reload would let 2 more through per reload.
    assert!(
        reloads >= 3 && sent <= 3 + secs,
        "{sent} messages in {secs} s with {reloads} reloads"
    );
    app.stop().await;
}

#[tokio::test]
async fn reloads_are_spaced_by_reload_interval() {
    // An hour apart: a loaded machine cannot make the second one late enough.
    let config =
        format!("{BASE_CONFIG}\n[admin]\nlisten = \"127.0.0.1:0\"\nreload_interval = \"1h\"\n");
    let app = spawn_with(&config, slack_answering(&[]).await, None).await;
    let (first, _) = app.reload().await;
    let r = app
        .http
        .post(format!("{}/-/reload", app.admin_address))
        .send()
        .await
        .expect("reload");
    assert_eq!(first, 200);
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().contains_key("retry-after"));
    app.stop().await;
}

async fn readyz(app: &TestApp) -> (u16, serde_json::Value) {
    let r = app
        .http
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .expect("readyz");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

fn stored_sids(db: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).expect("open copy");
    let mut st = conn
        .prepare("SELECT sid FROM events ORDER BY id")
        .expect("prepare");
    st.query_map([], |r| r.get(0))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
}

#[tokio::test]
async fn a_deleted_store_answers_503_and_keeps_what_was_acknowledged() {
    let app = spawn_app().await;
    for i in 1..=5 {
        app.send_event(i, "11200", &call_sid(i)).await;
    }
    let db = app.dir.path().join("twilert.db");
    std::fs::remove_file(&db).expect("rm store");
    let r = app
        .post_signed(&event_params(6, "11200", &call_sid(6)))
        .await;
    assert_eq!(
        r.status().as_u16(),
        503,
        "never 200 for a write to a deleted file"
    );
    let (code, body) = readyz(&app).await;
    assert_eq!(code, 503);
    assert!(
        body["cause"].as_str().unwrap_or("").contains("deleted"),
        "{body}"
    );
    let copy = std::fs::read_dir(app.dir.path())
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().contains("twilert.db.recovered-"))
        .expect("a recovered copy of the deleted store");
    let sids = stored_sids(&copy);
    assert_eq!(sids, (1..=5).map(sid).collect::<Vec<_>>());
    app.stop().await;
}

#[tokio::test]
async fn a_truncated_store_is_not_ready_and_not_restarted_as_empty() {
    let app = spawn_app().await;
    app.send_event(1, "11200", &call_sid(1)).await;
    let db = app.dir.path().join("twilert.db");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .and_then(|f| f.set_len(0))
        .expect("truncate");
    let r = app
        .post_signed(&event_params(2, "11200", &call_sid(2)))
        .await;
    assert_eq!(r.status().as_u16(), 503);
    let (code, body) = readyz(&app).await;
    assert_eq!(code, 503);
    assert!(
        body["cause"].as_str().unwrap_or("").contains("truncated"),
        "{body}"
    );
    let dir = app.dir.clone();
    let config = app.config_path.clone();
    app.stop().await;
    let settings = twilert::config::load(&config).expect("config");
    let err = Application::build(settings, None)
        .await
        .err()
        .map(|e| format!("{e:#}"))
        .expect("refused to start on an empty store file");
    assert!(
        err.contains("damaged") && err.contains("truncated"),
        "{err}"
    );
    drop(dir);
}

#[tokio::test]
async fn a_store_overwritten_with_garbage_is_not_ready() {
    let app = spawn_app().await;
    app.send_event(1, "11200", &call_sid(1)).await;
    let db = app.dir.path().join("twilert.db");
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&db)
            .expect("open");
        f.write_all_at(&[0x5a; 4096], 0).expect("garbage");
    }
    let (code, body) = readyz(&app).await;
    assert_eq!(code, 503, "{body}");
    let r = app
        .post_signed(&event_params(2, "11200", &call_sid(2)))
        .await;
    assert_eq!(r.status().as_u16(), 503);
    app.stop().await;
}

#[tokio::test]
async fn a_second_service_on_the_same_store_is_refused() {
    let slack = slack_answering(&[]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let text = BASE_CONFIG
        .replace("{slack}", &slack.uri())
        .replace("{dir}", &dir.path().display().to_string());
    let (a, b) = (dir.path().join("a.toml"), dir.path().join("b.toml"));
    std::fs::write(&a, &text).expect("write");
    std::fs::write(&b, &text).expect("write");
    let first = serve_binary(&a);
    let second = try_serve_binary(&b);
    let logs = second.err().expect("the second serve must not start");
    assert!(
        logs.contains("in use by another twilert") && logs.contains("twilert.db"),
        "{logs}"
    );
    // The first one still works.
    let r = post_signed_to(
        &reqwest::Client::new(),
        &first.url("/twilio/debugger"),
        &event_params(1, "11200", &call_sid(1)),
    )
    .await;
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn after_an_outage_the_first_success_makes_retries_due_at_once() {
    let config = BASE_CONFIG
        .replace("initial_backoff = \"50ms\"", "initial_backoff = \"60s\"")
        .replace("max_backoff = \"200ms\"", "max_backoff = \"60s\"");
    let app = spawn_with(&config, slack_answering(&[503, 503, 503]).await, None).await;
    for i in 1..=3 {
        app.send_event(i, "11200", &call_sid(i)).await;
    }
    assert_eq!(app.slack_messages(3, Duration::from_secs(5)).await.len(), 3);
    // Each waits a minute on its backoff; a new alert goes through and ends that.
    app.send_event(4, "11200", &call_sid(4)).await;
    let msgs = app.slack_messages(7, Duration::from_secs(5)).await;
    assert_eq!(
        msgs.len(),
        7,
        "the three retries followed the first success"
    );
    let order: Vec<bool> = [1u32, 2, 3]
        .iter()
        .map(|i| slack_text(&msgs[4 + *i as usize - 1]).contains(&call_sid(*i)))
        .collect();
    assert_eq!(order, [true, true, true], "oldest first");
    app.stop().await;
}

#[tokio::test]
async fn open_groups_are_capped_and_the_rest_counted_into_an_overflow_group() {
    let config = BASE_CONFIG.replace(
        "[defaults]\nwindow = \"1h\"",
        "[defaults]\nwindow = \"1h\"\nmax_open_groups = 3",
    );
    let app = spawn_with(&config, slack_answering(&[]).await, None).await;
    for i in 1..=8 {
        app.send_event(i, "11200", &call_sid(i)).await;
    }
    // Three groups alert, the fourth resource opens the overflow group (one alert),
    // and the other four count into it.
    let msgs = app.slack_messages(5, Duration::from_secs(3)).await;
    assert_eq!(msgs.len(), 4, "{msgs:?}");
    let s = app.snapshot().await;
    assert_eq!(s.open_groups, 4);
    assert_eq!(s.counters.accepted, 8);
    assert_eq!(s.accounted(), 8);
    assert!(app
        .metrics()
        .await
        .contains("twilert_groups_overflow_total{route=\"voice\"} 5"));
    app.stop().await;
}

/// A small tmpfs for the disk-full test, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &std::path::Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fills the file system holding `path` until a write fails.
fn fill(path: &std::path::Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("filler");
    let block = vec![0u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    let small = [0u8; 512];
    while f.write_all(&small).is_ok() {}
    let _ = f.sync_all();
}

#[tokio::test]
async fn a_full_disk_is_503_and_a_delivery_it_could_not_record_is_never_resent() {
    let dir = std::sync::Arc::new(tempfile::tempdir().expect("tempdir"));
    let mnt = dir.path().join("mnt");
    let Some(_fs) = Tmpfs::mount(&mnt, "4m") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the disk-full test needs to mount a tmpfs (root); under CI this is a failure"
        );
        eprintln!("SKIPPED: cannot mount a tmpfs here (not root?)");
        return;
    };
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("ok")
                .set_delay(Duration::from_millis(1500)),
        )
        .mount(&slack)
        .await;
    let config = BASE_CONFIG.replace("{dir}/twilert.db", "{dir}/mnt/twilert.db");
    let app = spawn_in(&config, slack, None, dir.clone()).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    // The alert is in flight at Slack: fill the disk before the answer comes back.
    assert_eq!(app.slack_messages(1, Duration::from_secs(3)).await.len(), 1);
    // Empty the write-ahead log first: SQLite restarts a checkpointed log from its
    // beginning, and a write that fits in the log's old frames needs no new disk
    // space, so it would still be (rightly) accepted on a full disk.
    let db = rusqlite::Connection::open(mnt.join("twilert.db")).expect("open the store");
    let truncated = (0..50).any(|_| {
        let busy: i64 = db
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .unwrap_or(1);
        busy == 0 || {
            std::thread::sleep(Duration::from_millis(20));
            false
        }
    });
    assert!(truncated, "the write-ahead log could not be truncated");
    drop(db);
    let filler = mnt.join("filler");
    fill(&filler);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let r = app
        .post_signed(&event_params(2, "11200", &call_sid(2)))
        .await;
    assert_eq!(
        r.status().as_u16(),
        503,
        "a store that cannot write says 503"
    );
    // Let quiet ticks commit: a transaction that writes nothing commits on a full
    // disk too, and is no proof that the store takes writes again.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (code, _) = readyz(&app).await;
    assert_eq!(code, 503, "still not ready: the disk is full");
    assert_eq!(
        app.slack
            .received_requests()
            .await
            .unwrap_or_default()
            .len(),
        1,
        "the delivered alert is not sent again while its record fails"
    );
    std::fs::remove_file(&filler).expect("free the disk");
    assert!(
        eventually(Duration::from_secs(5), || async {
            readyz(&app).await.0 == 200
        })
        .await,
        "ready again once the disk has room"
    );
    app.send_event(3, "11200", &call_sid(3)).await;
    assert!(
        eventually(Duration::from_secs(8), || async {
            let s = app.snapshot().await;
            s.counters.notified == 2 && s.pending == 0
        })
        .await,
        "{:?}",
        app.snapshot().await
    );
    let got = app.slack.received_requests().await.unwrap_or_default();
    assert_eq!(got.len(), 2, "event 1 once, event 3 once");
    app.stop().await;
}

#[test]
fn migrate_creates_the_schema_and_refuses_a_newer_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    let text = BASE_CONFIG
        .replace("{slack}", "http://127.0.0.1:9")
        .replace("{dir}", &dir.path().display().to_string());
    std::fs::write(&config, text).expect("write");
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_twilert"))
            .env_clear()
            .arg("--config")
            .arg(&config)
            .arg("migrate")
            .output()
            .expect("run migrate")
    };
    let o = run();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.contains("schema version 9"),
        "{out}"
    );
    let db = dir.path().join("twilert.db");
    rusqlite::Connection::open(&db)
        .and_then(|c| {
            c.execute(
                "UPDATE meta SET value = '10' WHERE key = 'schema_version'",
                [],
            )
        })
        .expect("pretend a newer twilert wrote it");
    let o = run();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("version 10") && err.contains("upgrade twilert"),
        "{err}"
    );
}
