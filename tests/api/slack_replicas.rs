//! SPEC 12 + 13: living Slack alerts with two real `twilert serve` processes on one
//! PostgreSQL database, pointed at one fake Slack Web API ([`crate::fake_slack`]).
//! Events for a few groups arrive round-robin over both replicas; whichever replica
//! opens a group, closes its windows or resolves it, Slack sees one parent message
//! per group, every digest in that parent's thread, the parent edited at most once
//! per digest or resolution and never twice within `update_interval`, and each
//! parent's last edit says resolved — also when windows are shorter than
//! `update_interval`, so digests come faster than the parent may be edited and
//! from either replica (the store's shared pacing keeps the interval). Real clock
//! (subprocesses): 11–15 s each.

use crate::fake_slack::*;
use crate::helpers::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const GROUPS: u32 = 4;
/// Each group gets an event this often, for `SENDING`.
const EVERY: Duration = Duration::from_millis(500);
const SENDING: Duration = Duration::from_millis(4_500);

/// A run's windows and edit spacing.
#[derive(Clone, Copy)]
struct Timing {
    window: Duration,
    update_interval: Duration,
    resolve_after: Duration,
    /// Freeze replica 0 (SIGSTOP) from .0 to .1 into the sending: a stall longer
    /// than the leases (2 s), so replica 1 takes over ticking and delivering, and
    /// replica 0 comes back with its own edits of the same messages pending.
    freeze: Option<(Duration, Duration)>,
}

fn config(db: &str, api: &str, t: Timing) -> String {
    format!(
        r##"
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
timeout = "2s"

[defaults]
window = "{}ms"

[channels.slack]
kind = "slack"
bot_token = "{BOT_TOKEN}"
channel = "#alerts"
api_url = "{api}/api"
update_interval = "{}ms"
rate_limit = "100/s"
burst = 20

[[routes]]
name = "voice"
error_codes = ["112xx"]
channels = ["slack"]
resolve_after = "{}ms"
"##,
        t.window.as_millis(),
        t.update_interval.as_millis(),
        t.resolve_after.as_millis()
    )
}

/// Posts a signed event to one replica; its status.
async fn post(http: &reqwest::Client, port: u16, params: &[(String, String)]) -> u16 {
    let sig = twilert::ingest::signature::compute(TOKEN, PUBLIC_URL, params);
    http.post(format!("http://127.0.0.1:{port}/twilio/debugger"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", sig)
        .body(serde_urlencoded::to_string(params).expect("encode"))
        // A replica frozen mid-batch holds its groups' locks: the other one's batch
        // on them waits out the freeze (2.5 s), longer on a busy machine.
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// The group (1..=GROUPS) a Slack message is about: the call Sid it names.
fn group_of(c: &Call) -> Option<u32> {
    let text = c.body.to_string();
    (1..=GROUPS).find(|g| text.contains(&call_sid(*g)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_one_parent_per_group_digests_in_its_thread_no_double_edits() {
    run(Timing {
        window: Duration::from_secs(2),
        update_interval: Duration::from_secs(1),
        resolve_after: Duration::from_secs(4),
        freeze: None,
    })
    .await;
}

/// Windows shorter than `update_interval`: digests come faster than the parent may
/// be edited, from either replica; the edits are still one per interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_coalesce_edits_when_digests_come_faster_than_update_interval() {
    run(Timing {
        window: Duration::from_secs(1),
        update_interval: Duration::from_secs(3),
        resolve_after: Duration::from_secs(4),
        freeze: Some((Duration::from_millis(1_200), Duration::from_millis(3_700))),
    })
    .await;
}

async fn run(t: Timing) {
    let update_interval = t.update_interval;
    let Some(db) = crate::pg::fresh_database().await else {
        return;
    };
    let started = Instant::now();
    let (slack, server) = FakeSlack::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let text = config(&db.url, &server.uri(), t);
    let replicas: Vec<Served> = (0..2)
        .map(|i| {
            let path = dir.path().join(format!("replica{i}.toml"));
            std::fs::write(&path, &text).expect("write config");
            serve_binary(&path)
        })
        .collect();
    let ports: Vec<u16> = replicas.iter().map(|r| r.port).collect();
    let http = reqwest::Client::new();

    // Round-robin: event n goes to replica n % 2, so each group's events (and the
    // windows they fall in) are spread over both.
    let mut n = 0u32;
    let mut sent: BTreeMap<u32, u64> = BTreeMap::new();
    let sending = Instant::now();
    let pid0 = replicas[0].child.id() as i32;
    let mut frozen = false;
    while sending.elapsed() < SENDING {
        let tick = Instant::now();
        if let Some((from, to)) = t.freeze {
            let now = sending.elapsed();
            if !frozen && now >= from && now < to {
                unsafe { libc::kill(pid0, libc::SIGSTOP) };
                frozen = true;
            } else if frozen && now >= to {
                unsafe { libc::kill(pid0, libc::SIGCONT) };
                frozen = false;
            }
        }
        for g in 1..=GROUPS {
            n += 1;
            let params = event_params(n, "11200", &call_sid(g));
            // A frozen replica answers nothing: its share goes to the other one.
            let target = if frozen { 1 } else { n as usize % 2 };
            let status = post(&http, ports[target], &params).await;
            assert_eq!(status, 200, "event {n} to replica {target}");
            *sent.entry(g).or_default() += 1;
        }
        tokio::time::sleep(EVERY.saturating_sub(tick.elapsed())).await;
    }
    if frozen {
        unsafe { libc::kill(pid0, libc::SIGCONT) };
    }
    let last_event = Instant::now();

    // Windows (2 s) close, the groups go quiet for resolve_after (4 s) and resolve:
    // one resolved edit per group.
    let resolved = |calls: &[Call]| {
        calls
            .iter()
            .filter(|c| c.method == "chat.update" && c.body.to_string().contains("Resolved"))
            .count()
    };
    let all = eventually(Duration::from_secs(12), || async {
        resolved(&slack.calls()) >= GROUPS as usize
    })
    .await;
    // Anything late (a double edit, a stray post) would come now.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let calls = slack.calls();
    assert!(
        all,
        "every group resolved within 12 s of its last event: {} resolved edits, {calls:#?}",
        resolved(&calls)
    );

    // Exactly one top-level post per group, whichever replica opened it.
    let mut parents: BTreeMap<u32, String> = BTreeMap::new();
    for p in slack.posts() {
        let g = group_of(&p).unwrap_or_else(|| panic!("a post about no group: {}", p.body));
        let ts = p.ts.clone().expect("the fake gave it a ts");
        assert!(
            parents.insert(g, ts).is_none(),
            "group {g} has a second top-level message (one parent per group across replicas): {:#?}",
            slack.posts()
        );
    }
    assert_eq!(parents.len(), GROUPS as usize, "every group posted once");

    // Every digest is a reply in its own group's thread.
    let replies = slack.replies();
    let mut digests: BTreeMap<u32, usize> = BTreeMap::new();
    for r in &replies {
        let g = group_of(r).unwrap_or_else(|| panic!("a reply about no group: {}", r.body));
        assert_eq!(
            r.body["thread_ts"].as_str(),
            Some(parents[&g].as_str()),
            "group {g}'s digest in its parent's thread: {}",
            r.body
        );
        assert_eq!(r.body["channel"], CHANNEL_ID, "the parent's channel id");
        *digests.entry(g).or_default() += 1;
    }
    // Events every 500 ms for 4.5 s in windows of 2 s or less: two digests at least.
    for g in 1..=GROUPS {
        assert!(
            digests.get(&g).copied().unwrap_or(0) >= 2,
            "group {g}: {digests:?} digests"
        );
    }

    // Edits: only of parents; per parent at most one per digest plus the
    // resolution, never two within update_interval, the last one resolved.
    let updates = slack.of("chat.update");
    let mut edits: BTreeMap<u32, Vec<&Call>> = BTreeMap::new();
    for u in &updates {
        let ts = u.body["ts"].as_str().unwrap_or_default();
        let g = parents
            .iter()
            .find(|(_, p)| p.as_str() == ts)
            .map(|(g, _)| *g)
            .unwrap_or_else(|| panic!("an edit of a message that is no parent: {}", u.body));
        assert_eq!(u.body["channel"], CHANNEL_ID);
        edits.entry(g).or_default().push(u);
    }
    for g in 1..=GROUPS {
        let e = edits.get(&g).cloned().unwrap_or_default();
        let d = digests.get(&g).copied().unwrap_or(0);
        assert!(
            e.len() <= d + 1,
            "group {g}: {} edits for {d} digests and one resolution",
            e.len()
        );
        assert!(
            e.len() >= 2,
            "group {g}: a running total and the resolution"
        );
        // (Resolving edits at once, never coalesced: README, SPEC 13.)
        for w in e
            .windows(2)
            .filter(|w| !w[1].body.to_string().contains("Resolved"))
        {
            let gap = w[1].at - w[0].at;
            // Slack's answer and the fake's clock: 50 ms of slack.
            assert!(
                gap + Duration::from_millis(50) >= update_interval,
                "group {g}: two edits {gap:?} apart (update_interval {update_interval:?}):\n{}\n{}",
                w[0].body,
                w[1].body
            );
        }
        let last = e.last().expect("edits").body.to_string();
        assert!(
            last.contains("✅ *Resolved*, quiet since"),
            "group {g}'s last edit: {last}"
        );
        assert!(
            last.contains(&format!("{} events in all", sent[&g])),
            "group {g} saw {} events: {last}",
            sent[&g]
        );
        assert_eq!(
            e.iter()
                .filter(|c| c.body.to_string().contains("Resolved"))
                .count(),
            1,
            "group {g} resolved once"
        );
        // The running totals grow.
        let totals: Vec<u64> = e
            .iter()
            .filter_map(|c| {
                let t = c.body.to_string();
                let at = t.find(" events in all")?;
                t[..at].rsplit(' ').next()?.parse().ok()
            })
            .collect();
        assert!(
            totals.windows(2).all(|w| w[0] <= w[1]),
            "group {g}: totals {totals:?}"
        );
    }
    // No call failed: nothing Slack refused, nothing dead-lettered.
    let c = db.client().await;
    let dead: i64 = c
        .query_one("SELECT COUNT(*) FROM notifications WHERE state = 2", &[])
        .await
        .map_or(-1, |r| r.get(0));
    assert_eq!(dead, 0, "nothing dead-lettered");
    // Both replicas took part: each delivered some of it (digests: how many of
    // the parents' edits each made).
    let count = |r: &Served, what: &str| {
        r.log_text()
            .lines()
            .filter(|l| l.contains("\"message\":\"delivered\"") && l.contains(what))
            .count()
    };
    let delivered: Vec<usize> = replicas.iter().map(|r| count(r, "")).collect();
    let digested: Vec<usize> = replicas
        .iter()
        .map(|r| count(r, "\"what\":\"digest\""))
        .collect();
    assert!(
        delivered.iter().all(|d| *d > 0),
        "deliveries per replica: {delivered:?}"
    );
    assert_valid_block_kit(&calls);
    eprintln!(
        "slack replicas: {n} events, {} posts, {} replies, {} edits, deliveries per replica {delivered:?} (digests {digested:?}); resolved {:?} after the last event, {:?} in all",
        parents.len(),
        replies.len(),
        updates.len(),
        last_event.elapsed(),
        started.elapsed()
    );
    drop(replicas);
}
