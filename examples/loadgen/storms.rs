//! The storms (100,000 events of one code, on one resource and on distinct
//! resources; the mock Slack checks every event is accounted for) and the
//! long-outage phase (ingest at 1,000/s with a backlog waiting on retry).

use crate::load::{self, load, signed};
use crate::procs::{self, status_kb};
use crate::{median, resource, slack, Opts, Target};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A long outage: `o.backlog` alerts wait on a retry backoff (Slack unreachable),
/// then ingest at a fixed 1,000/s is measured. Returns the median p99 (ms).
pub fn backlog(o: &Opts) -> f64 {
    println!(
        "\nlong outage: {} notifications waiting on retry, then 1,000 ev/s for {} s:",
        o.backlog, o.rate_secs
    );
    let mut p99s = vec![];
    for rep in 0..o.repeat {
        let dir = tempfile::tempdir().expect("tempdir");
        // Slack at a closed port: every alert fails at once and waits a minute.
        let dead = procs::free_port();
        let p = procs::twilert_with(
            &o.bin,
            dir.path(),
            dead,
            "5m",
            "rate_limit = \"100000/s\"\nburst = 100000\n[delivery]\ninitial_backoff = \"60s\"\nmax_backoff = \"10m\"",
        );
        let waiting = signed(o.backlog, "11200", resource);
        let filled = load(p.port, waiting, o.connections, 0);
        // Let every alert be tried once, so all of them wait on their backoff.
        std::thread::sleep(Duration::from_secs(3));
        let events = signed(1000 * o.rate_secs as usize, "11200", |i| resource(i % 50));
        let fixed = load(p.port, events, o.connections, 1000);
        println!(
            "  run {} backlog of {} ({} errors) | 1000/s p50 {:.2} ms p99 {:.2} ms ({} errors) | RSS peak {} KB",
            rep + 1,
            filled.events,
            filled.errors,
            fixed.p50_ms,
            fixed.p99_ms,
            fixed.errors,
            status_kb(p.pid(), "VmHWM:")
        );
        p99s.push(fixed.p99_ms);
    }
    median(p99s)
}

/// One storm against one target; for twilert, waits until the mock Slack has
/// heard about every accepted event. Returns (accounted for, peak RSS KB).
pub fn storm(
    o: &Opts,
    mock: &slack::MockSlack,
    target: Target,
    name: &str,
    events: Arc<Vec<load::Signed>>,
) -> (bool, u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    mock.counts.reset();
    let p = target.start(o, dir.path(), mock.port, "2s");
    let r = load(p.port, events, o.connections, 0);
    let mut line = format!(
        "  {name:<19} {:<14} {:>6.0} ev/s accepted ({} errors, p99 {:.2} ms)",
        target.name(),
        r.rate(),
        r.errors,
        r.p99_ms
    );
    let mut ok = r.errors == 0;
    if target == Target::Twilert {
        // Digests go out at the window's end; a folded backlog drains at Slack's 1/s.
        let expected = (r.events - r.errors) as u64;
        let t = Instant::now();
        while mock.counts.events() < expected && t.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let c = &mock.counts;
        ok &= c.events() == expected;
        line +=
            &format!(
            "; Slack: {} messages for {} events ({} alerts + {} in {} digests, {} of them first windows that include their alert) after {:.1} s {}",
            c.messages(),
            c.events(),
            slack::Counts::get(&c.alerts),
            slack::Counts::get(&c.digested),
            slack::Counts::get(&c.digests),
            slack::Counts::get(&c.first_windows),
            t.elapsed().as_secs_f64(),
            if ok { "✔" } else { "✘ not all accounted for" }
        );
    }
    let peak = status_kb(p.pid(), "VmHWM:");
    println!("{line}; peak RSS {:.1} MB", peak as f64 / 1024.0);
    (ok, peak)
}
