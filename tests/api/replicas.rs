//! SPEC 12: three real `twilert serve` processes on one PostgreSQL database, events
//! round-robin over them, acknowledged Sids re-sent to other replicas, one replica
//! killed with SIGKILL mid-storm. Checked against capture sinks: nothing
//! acknowledged is lost, one first alert per group, digest counts that add up, the
//! combined Slack rate within its limit, the same accounting on every replica.

use crate::helpers::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Every request a sink got, with when it arrived.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<(Instant, serde_json::Value)>>>);

impl Respond for Capture {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body = serde_json::from_slice(&req.body).unwrap_or(serde_json::Value::Null);
        self.0.lock().unwrap().push((Instant::now(), body));
        ResponseTemplate::new(200).set_body_string("ok")
    }
}

impl Capture {
    async fn sink(&self) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(self.clone())
            .mount(&server)
            .await;
        server
    }

    fn got(&self) -> Vec<(Instant, serde_json::Value)> {
        self.0.lock().unwrap().clone()
    }
}

const SLACK_RATE: usize = 10;

fn config(db: &str, slack: &str, hook: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
workers = 1

[twilio]
public_url = "{PUBLIC_URL}"
auth_tokens = ["{TOKEN}"]

[store]
url = "{db}"

[delivery]
lease = "2s"
initial_backoff = "50ms"
max_backoff = "200ms"
shutdown_grace = "1s"

[defaults]
window = "1s"

[channels.slack]
kind = "slack"
url = "{slack}/services/T/B/X"
rate_limit = "{SLACK_RATE}/s"
burst = 1

[channels.hook]
kind = "webhook"
url = "{hook}/hook"
rate_limit = "1000/s"
burst = 100

[[routes]]
name = "voice"
error_codes = ["112xx"]
channels = ["slack", "hook"]
"#
    )
}

/// Posts a signed event; the status, or None when the replica did not answer.
async fn post(http: &reqwest::Client, port: u16, params: &[(String, String)]) -> Option<u16> {
    let sig = twilert::ingest::signature::compute(TOKEN, PUBLIC_URL, params);
    http.post(format!("http://127.0.0.1:{port}/twilio/debugger"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", sig)
        .body(serde_urlencoded::to_string(params).expect("encode"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_one_database_kill_one_mid_storm() {
    let Some(db) = crate::pg::fresh_database().await else {
        return;
    };
    let (slack, hook) = (Capture::default(), Capture::default());
    let (slack_server, hook_server) = (slack.sink().await, hook.sink().await);
    let dir = tempfile::tempdir().unwrap();
    let text = config(&db.url, &slack_server.uri(), &hook_server.uri());
    let mut replicas: Vec<Option<Served>> = (0..3)
        .map(|i| {
            let path = dir.path().join(format!("replica{i}.toml"));
            std::fs::write(&path, &text).unwrap();
            Some(serve_binary(&path))
        })
        .collect();
    let ports: Vec<u16> = replicas.iter().map(|r| r.as_ref().unwrap().port).collect();
    let http = reqwest::Client::new();

    // 600 events over 20 resources (20 groups), round-robin, 8 in flight at once;
    // each acknowledged Sid is sent again to the next replica (a Twilio retry that
    // lands elsewhere). Replica 2 is killed after 250 events.
    const EVENTS: u32 = 600;
    const GROUPS: u32 = 20;
    let acked: Arc<Mutex<BTreeSet<u32>>> = Arc::default();
    let duplicates = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let alive = Arc::new(Mutex::new(vec![true, true, true]));
    let mut killed_in_flight: BTreeSet<String> = BTreeSet::new();
    let mut next = 0u32;
    while next < EVENTS {
        if next == 250 {
            // Freeze it, note what it had claimed (a send it may have made but not
            // recorded), then kill it: SPEC 12's only allowed duplicate.
            let served = replicas[2].take().unwrap();
            let pid = served.child.id() as i32;
            unsafe { libc::kill(pid, libc::SIGSTOP) };
            let c = db.client().await;
            for r in c
                .query(
                    "SELECT group_key FROM notifications WHERE state = 0 AND lease_holder LIKE $1",
                    &[&format!("%-{pid}-%")],
                )
                .await
                .unwrap()
            {
                killed_in_flight.insert(r.get(0));
            }
            unsafe { libc::kill(pid, libc::SIGKILL) };
            drop(served);
            alive.lock().unwrap()[2] = false;
        }
        let mut batch = vec![];
        for n in next..(next + 8).min(EVENTS) {
            let (http, ports, acked, alive, dups) = (
                http.clone(),
                ports.clone(),
                acked.clone(),
                alive.clone(),
                duplicates.clone(),
            );
            batch.push(tokio::spawn(async move {
                let params = event_params(n, "11200", &call_sid(n % GROUPS));
                let mut target = n as usize % 3;
                // A replica that does not answer is retried on the next one (as a
                // load balancer does); only a 200 counts as acknowledged.
                for _ in 0..6 {
                    if !alive.lock().unwrap()[target] {
                        target = (target + 1) % 3;
                        continue;
                    }
                    if post(&http, ports[target], &params).await == Some(200) {
                        acked.lock().unwrap().insert(n);
                        break;
                    }
                    target = (target + 1) % 3;
                }
                // The retry on another live replica: a duplicate, not a new event.
                let other = (0..3)
                    .map(|k| (target + 1 + k) % 3)
                    .find(|t| alive.lock().unwrap()[*t])
                    .unwrap();
                if post(&http, ports[other], &params).await == Some(200) {
                    dups.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }));
        }
        for b in batch {
            b.await.unwrap();
        }
        next += 8;
    }
    let acked = acked.lock().unwrap().clone();
    assert_eq!(
        acked.len(),
        EVENTS as usize,
        "every event acknowledged by some replica"
    );

    // Everything settles: windows (1s) close, leases (2s) of the dead replica expire.
    let live: Vec<&Served> = replicas.iter().flatten().collect();
    let settled = eventually(Duration::from_secs(30), || async {
        let m = live[0].metrics().await;
        metric(&m, "twilert_groups_open") == Some(0.0)
            && metric(&m, "twilert_events_pending") == Some(0.0)
    })
    .await;
    let m0 = live[0].metrics().await;
    assert!(settled, "every group closed and nothing pending:\n{m0}");

    // Nothing acknowledged lost, duplicates recognised across replicas.
    assert_eq!(
        metric(&m0, "twilert_events_accepted_total"),
        Some(EVENTS as f64),
        "{m0}"
    );
    // (At least: a request the killed replica committed but never answered was
    // acknowledged by the next one as a duplicate.)
    let dup = metric(&m0, "twilert_events_duplicate_total").unwrap_or(0.0);
    assert!(
        dup >= duplicates.load(std::sync::atomic::Ordering::Relaxed) as f64,
        "{m0}"
    );
    // The same accounting on every live replica (read from the shared store).
    let terms = [
        "twilert_events_accepted_total",
        "twilert_events_duplicate_total",
        "twilert_events_accounted",
        "twilert_events_outcome{outcome=\"notified\"}",
        "twilert_events_outcome{outcome=\"digested\"}",
    ];
    for r in &live[1..] {
        let m = r.metrics().await;
        for t in terms {
            assert_eq!(
                metric(&m, t),
                metric(&m0, t),
                "{t} differs between replicas"
            );
        }
    }
    assert_eq!(
        metric(&m0, "twilert_events_accounted"),
        Some(EVENTS as f64),
        "accepted = notified + digested + ... + pending"
    );

    // One first alert per group: no two replicas opened a group at once. (A group
    // whose 1 s window passed without an event closes; the next event opens it
    // again with a new first alert, a window or more later, on a slow run.)
    let c = db.client().await;
    let opened = c
        .query(
            "SELECT group_key, created_at FROM notifications
             WHERE channel = 'hook' AND NOT is_digest ORDER BY group_key, created_at",
            &[],
        )
        .await
        .unwrap();
    let mut openings: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in &opened {
        openings.entry(r.get(0)).or_default().push(r.get(1));
    }
    assert_eq!(
        openings.len(),
        GROUPS as usize,
        "every group alerted: {openings:?}"
    );
    for (key, at) in &openings {
        for w in at.windows(2) {
            assert!(
                w[1] - w[0] >= 1_000,
                "{key} opened twice {} ms apart (window 1 s): {at:?}",
                w[1] - w[0]
            );
        }
    }
    // Each first alert was sent once (the webhook's JSON says which it is), and
    // the alerts' and digests' counts add up to every accepted event.
    let hooks = hook.got();
    let mut firsts: BTreeMap<String, usize> = BTreeMap::new();
    let mut counted = 0u64;
    for (_, v) in &hooks {
        let sid = v["event"]["sid"].as_str().unwrap_or("?").to_string();
        match v["digest"]["count"].as_u64() {
            Some(c) => counted += c,
            None => {
                *firsts.entry(sid).or_default() += 1;
                counted += 1;
            }
        }
    }
    assert_eq!(
        firsts.len(),
        opened.len(),
        "one message per opening: {firsts:?}"
    );
    let resent: Vec<_> = firsts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        resent.is_empty() || (!killed_in_flight.is_empty() && resent.iter().all(|(_, n)| **n == 2)),
        "first alerts sent more than once: {resent:?} (in flight on the killed replica: {killed_in_flight:?})"
    );
    if killed_in_flight.is_empty() {
        assert_eq!(
            counted, EVENTS as u64,
            "the webhook's alerts and digests add up"
        );
    } else {
        // A notification the killed replica may have sent is sent again.
        assert!(
            counted >= EVENTS as u64,
            "the webhook's alerts and digests: {counted}"
        );
    }

    // The provider saw at most the configured rate in total (burst 1): in any one
    // second, at most SLACK_RATE + 1 messages from all replicas together.
    let mut times: Vec<Instant> = slack.got().into_iter().map(|(t, _)| t).collect();
    times.sort();
    assert!(
        times.len() >= GROUPS as usize,
        "{} Slack messages",
        times.len()
    );
    for (i, t) in times.iter().enumerate() {
        let in_second = times[i..]
            .iter()
            .take_while(|u| u.duration_since(*t) < Duration::from_secs(1))
            .count();
        assert!(
            in_second <= SLACK_RATE + 1,
            "{in_second} Slack messages within one second (limit {SLACK_RATE}/s over all replicas)"
        );
    }
    eprintln!(
        "replicas: {} webhook and {} Slack messages, {} duplicates, in flight on the killed replica: {:?}",
        hooks.len(),
        times.len(),
        dup,
        killed_in_flight
    );
    drop(replicas);
}

#[tokio::test]
async fn replicas_running_different_routes_say_so_in_metrics_and_readyz() {
    let Some(db) = crate::pg::fresh_database().await else {
        return;
    };
    let sink = Capture::default().sink().await;
    let dir = tempfile::tempdir().unwrap();
    let old = config(&db.url, &sink.uri(), &sink.uri());
    let new = format!(
        "{old}\n[[routes]]\nname = \"sms\"\nerror_codes = [\"30003\"]\nchannels = [\"hook\"]\n"
    );
    let serve = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        serve_binary(&path)
    };
    let (a, b) = (serve("a.toml", &old), serve("b.toml", &new));
    // Heartbeats run four times per lease (2s here).
    for r in [&a, &b] {
        let said = eventually(Duration::from_secs(5), || async {
            metric(&r.metrics().await, "twilert_config_mismatch") == Some(1.0)
        })
        .await;
        assert!(
            said,
            "twilert_config_mismatch 1 on each:\n{}",
            r.metrics().await
        );
        let ready: serde_json::Value = reqwest::get(r.admin_url("/readyz"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            ready["status"], "ready",
            "a rollout in progress stays ready: {ready}"
        );
        assert_eq!(ready["config_mismatch"], true, "{ready}");
        assert!(
            ready["detail"]
                .as_str()
                .unwrap()
                .contains("different routes"),
            "{ready}"
        );
        assert_eq!(
            metric(&r.metrics().await, "twilert_replicas_seen"),
            Some(2.0)
        );
    }
    // The rollout completes: the same configuration everywhere clears it.
    drop(b);
    let c = serve("c.toml", &old);
    let cleared = eventually(Duration::from_secs(10), || async {
        metric(&c.metrics().await, "twilert_config_mismatch") == Some(0.0)
            && metric(&a.metrics().await, "twilert_config_mismatch") == Some(0.0)
    })
    .await;
    assert!(cleared, "{}", a.metrics().await);
}

#[tokio::test]
async fn a_lost_database_connection_is_503_then_recovers_by_itself() {
    let Some(db) = crate::pg::fresh_database().await else {
        return;
    };
    let cfg = with_store_url(BASE_CONFIG, &db.url);
    let app = spawn_with(&cfg, slack_answering(&[]).await, None).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    // The server drops every connection twilert has (a restart, a failover).
    let admin = crate::pg::connect(&crate::pg::server_url()).await.unwrap();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            &[&db.name],
        )
        .await
        .unwrap();
    let mut statuses = vec![];
    for n in 2..=6 {
        let status = app
            .post_signed(&event_params(n, "11200", &call_sid(n)))
            .await
            .status();
        statuses.push(status.as_u16());
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        statuses.last(),
        Some(&200),
        "recovers by itself: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "503 while the store cannot write, never anything else: {statuses:?}"
    );
    let ready = app
        .http
        .get(format!("{}/readyz", app.admin_address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let accepted = app.snapshot().await.counters.accepted;
    assert_eq!(accepted, 2, "the first event and the one answered 200");
    app.stop().await;
}
