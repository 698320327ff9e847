//! `loadgen console [--events N] [--bin PATH]`: fills a store with N events (default
//! 1,000,000) through the store's own insert path (the one ingest uses, with its
//! filter columns), plus notifications, dead letters and open groups; then starts
//! twilert on it and times every console page and API answer (SPEC 11: < 50 ms).
//! `--keep S` goes on serving for S seconds after (to look at it, or take screenshots).

use crate::procs::{free_port, wait_healthy};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use twilert::group::GroupState;
use twilert::notification::Notification;
use twilert::store::{Counters, EventRow, Outbox, OutboxTx, State, Store};

const CODES: [u32; 8] = [11200, 11205, 30003, 30005, 30007, 13224, 21610, 31005];
/// The bench config's routes, as they match the codes above (others: unrouted).
fn route_of(code: u32) -> Option<&'static str> {
    match code {
        11200..=11299 => Some("voice"),
        30000..=39999 => Some("messaging"),
        _ => None,
    }
}
/// Requests per page; the report gives the median and the slowest.
const TRIES: usize = 15;

fn sid(prefix: &str, i: usize) -> String {
    format!("{prefix}{i:032x}")
}

fn event_json(i: usize, code: u32, resource: &str) -> Vec<u8> {
    serde_json::json!({
        "Sid": sid("NO", i),
        "AccountSid": sid("AC", 1),
        "Level": if i.is_multiple_of(100) { "WARNING" } else { "ERROR" },
        "Timestamp": "2026-12-01T10:00:00Z",
        "Payload": {
            "resource_sid": resource,
            "error_code": code.to_string(),
            "more_info": {"Msg": format!("An attempt to retrieve content from https://example.com/{i} returned the HTTP status code 502")},
        },
    })
    .to_string()
    .into_bytes()
}

/// Fills `db` over the last 24 hours; returns (a Sid with notifications, a resource).
fn fill(db: &Path, events: usize) -> (String, String) {
    let mut store = Store::open(db).expect("open the bench store");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let span = 24 * 3_600_000i64;
    let t = Instant::now();
    let mut i = 0;
    while i < events {
        let end = (i + 2048).min(events);
        store
            .batch(|b| {
                // The accounting as the engine keeps it: each event is either behind
                // a notification (sent or dead later) or counted into a digest.
                let mut delta = Counters {
                    accepted: (end - i) as u64,
                    ..Default::default()
                };
                for n in i..end {
                    // Codes spread over the day, and a storm of one code (ten times
                    // the usual rate) for about an hour in the evening.
                    let storm = (events * 80 / 100..events * 84 / 100).contains(&n);
                    let code = if storm && !n.is_multiple_of(10) {
                        CODES[2]
                    } else {
                        CODES[n % CODES.len()]
                    };
                    let resource = sid("CA", n % 10_000);
                    let at = now - span + (n as i64 * span / events as i64);
                    let ev =
                        twilert::ingest::decode::decode_json(&event_json(n, code, &resource), at)
                            .expect("a valid event");
                    let body = ev.to_stored_json().expect("stored json");
                    let route = route_of(code);
                    b.insert_indexed_event(&EventRow {
                        sid: ev.sid.as_str(),
                        received_at_ms: at,
                        body: &body,
                        error_code: Some(code),
                        resource_sid: Some(&resource),
                        level: Some(ev.level.as_str()),
                        route,
                    })?;
                    let Some(route) = route else {
                        delta.unrouted += 1;
                        continue;
                    };
                    if n.is_multiple_of(50) {
                        let note = Notification {
                            channel: "ops-console".into(),
                            route: route.into(),
                            group_key: format!("{route}|error_code={code}|resource_sid={resource}"),
                            template: None,
                            mention: None,
                            event: ev.clone().into(),
                            digest: None,
                            threshold: None,
                            resolved: None,
                            silence: None,
                            parent: None,
                        };
                        let id = b.insert_notification(&note, 1, at)?;
                        if n.is_multiple_of(5000) {
                            b.set_state(id, State::Dead, 3, at, Some("HTTP 404: no_service"))?;
                            delta.dead_lettered += 1;
                        }
                    } else {
                        delta.digested += 1;
                    }
                    if n.is_multiple_of(1000) {
                        let g = GroupState::open(
                            route,
                            vec!["ops-console".into()],
                            None,
                            None,
                            3_600_000,
                            &ev,
                            now,
                        );
                        b.save_group(
                            &format!("{route}|error_code={code}|resource_sid={resource}"),
                            None,
                            Some(&g),
                        )?;
                    }
                }
                b.add_counters(&delta)
            })
            .expect("insert a batch");
        i = end;
    }
    // 100 silences, half of them expired, each having held events back.
    store
        .batch(|b| {
            for n in 0..100u32 {
                let req: twilert::silence::SilenceRequest =
                    serde_json::from_value(serde_json::json!({
                        "error_codes": [CODES[n as usize % CODES.len()].to_string()],
                        "resource_sids": [format!("CA{:02}*", n % 100)],
                        "for": "2h", "author": format!("oncall-{n}"), "comment": "bench silence",
                    }))
                    .expect("a silence request");
                let s = req
                    .check(&[])
                    .and_then(|spec| spec.build(format!("{n:016x}"), now - 600_000))
                    .expect("a silence");
                b.insert_silence(&s)?;
                b.add_suppressed(&s.id, 42, now - 60_000)?;
                if n % 2 == 0 {
                    b.expire_silence(&s.id, now - 1_000, Some("bench"))?;
                }
            }
            Ok(())
        })
        .expect("insert silences");
    println!(
        "filled {events} events in {:.1} s ({:.0} ev/s through Batch::insert_indexed_event)",
        t.elapsed().as_secs_f64(),
        events as f64 / t.elapsed().as_secs_f64()
    );
    (sid("NO", 50 * (events / 100)), sid("CA", 4242))
}

/// One GET over a fresh connection; (status, body length, ms).
fn get(port: u16, path: &str) -> (u16, usize, f64) {
    let t = Instant::now();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
    );
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let status = std::str::from_utf8(buf.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, buf.len(), ms)
}

/// `keep`: seconds to go on serving after the timings (for screenshots), 0: stop.
pub fn run(events: usize, bin: &str, keep: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("twilert.db");
    let (with_notes, resource) = fill(&db, events);
    let (port, admin) = (free_port(), free_port());
    let cfg = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[admin]\nlisten = \"127.0.0.1:{admin}\"\n\
         [twilio]\nverify_signature = false\n[store]\npath = \"{}\"\n\
         [channels.ops-console]\nkind = \"console\"\n\
         [[routes]]\nname = \"voice\"\nerror_codes = [\"112xx\"]\nchannels = [\"ops-console\"]\n\
         [[routes]]\nname = \"messaging\"\nerror_codes = [\"3xxxx\"]\nchannels = [\"ops-console\"]\n",
        db.display()
    );
    let cfg_path = dir.path().join("config.toml");
    std::fs::write(&cfg_path, cfg).expect("write config");
    let mut child = Command::new(bin)
        .arg("--config")
        .arg(&cfg_path)
        .arg("serve")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    assert!(
        wait_healthy(admin, Duration::from_secs(30)),
        "twilert did not start"
    );
    let deep = events as i64 / 10;
    let pages = [
        "/ui/".to_string(),
        "/ui/events".into(),
        "/ui/events?code=30005".into(),
        format!("/ui/events?resource={resource}"),
        "/ui/events?route=messaging&level=warning".into(),
        "/ui/events?level=debug".into(),
        "/ui/events?code=99999".into(),
        "/ui/events?since=10m".into(),
        format!("/ui/events?before={deep}"),
        format!("/ui/events/{with_notes}"),
        "/ui/groups".into(),
        "/ui/dead-letters".into(),
        "/ui/route-tester".into(),
        "/ui/silences".into(),
        "/ui/silences?all=true".into(),
        "/ui/silences/preview?error_codes=11200&resource_sids=CA*".into(),
        "/api/v1/events?limit=100".into(),
        "/api/v1/events?code=11200&since=1h".into(),
        format!("/api/v1/events/{with_notes}"),
        "/api/v1/groups?limit=100".into(),
        "/api/v1/dead-letters".into(),
        "/api/v1/channels".into(),
        "/api/v1/accounting".into(),
        "/api/v1/silences?all=true".into(),
    ];
    println!("{events} stored events; {TRIES} requests each (median / slowest):");
    for p in &pages {
        let mut times = vec![];
        let mut last = (0, 0);
        for _ in 0..TRIES {
            let (status, len, ms) = get(admin, p);
            last = (status, len);
            times.push(ms);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        let verdict = if times[TRIES / 2] < 50.0 {
            "✔"
        } else {
            "✘"
        };
        println!(
            "  {verdict} {:<48} {:>7.1} ms / {:>7.1} ms   ({} , {} bytes)",
            p,
            times[TRIES / 2],
            times[TRIES - 1],
            last.0,
            last.1
        );
    }
    if keep > 0 {
        println!("serving the console at http://127.0.0.1:{admin}/ui/ for {keep} s");
        std::thread::sleep(Duration::from_secs(keep));
    }
    let _ = child.kill();
    let _ = child.wait();
}
