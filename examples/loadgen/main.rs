//! twilert's benchmark (its performance targets; docs/BENCH.md): signed Twilio-shaped events over
//! loopback against the release binary and two reference handlers, in one
//! invocation, so the ratios hold however busy the machine is.
//!
//! ```sh
//! cargo build --release --bin twilert --example loadgen
//! target/release/examples/loadgen run [--quick] [--events N] [--storm N] [--connections C]
//!                                     [--rate-seconds S] [--repeat R] [--backlog N] [--bin PATH]
//!                                     [--rounds R] [--wrk-seconds S] [--wrk-warmup S]
//!                                     [--wrk-threads T] [--lua PATH] [--no-cases | --cases-only]
//! target/release/examples/loadgen load --port P [--events N] [--resources K]  # a running service
//! target/release/examples/loadgen slack --port N               # a mock Slack, for profiling
//! target/release/examples/loadgen console [--events N] [--keep S] # console pages at N stored events
//! target/release/examples/loadgen --floor http|durable|postgres --port N [--db PATH|URL]
//! target/release/examples/loadgen run --postgres [--postgres-url URL] [--replicas N] [--quick] [--rounds R] ...
//! ```
//! First the ingest cases (cases.rs): wrk and this program's load against twilert
//! and the durable floor, signatures off, alternating rounds, three cases.
//! Then per repetition, each target starts fresh (new process, new store) and gets the
//! maximum-rate load, then a fixed 1,000 events/s; then each gets a storm of one
//! code on one resource and one over distinct resources. The mock Slack checks
//! that twilert's messages account for every storm event.

mod cases;
mod console;
mod floors;
mod load;
mod postgres;
mod procs;
mod slack;
mod storms;
mod wrk;

use load::{load, signed, Outcome};

use procs::{status_kb, Foreign, Proc};
use std::time::Duration;

struct Opts {
    events: usize,
    storm: usize,
    connections: usize,
    rate_secs: u64,
    repeat: usize,
    /// Notifications left waiting on retry for the long-outage phase (0: skip it).
    backlog: usize,
    bin: String,
    /// The ingest cases (`None`: `--no-cases`), and whether to stop after them.
    cases: Option<cases::CaseOpts>,
    cases_only: bool,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let num = |name: &str, default: usize| {
        arg(name).map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} wants a number, got {v:?}"))
        })
    };
    // `floor-http`/`floor-durable`: the earlier spelling, still accepted.
    let legacy = args.get(1).and_then(|a| a.strip_prefix("floor-"));
    if let Some(kind) = arg("--floor").or(legacy.map(str::to_string)) {
        let db = arg("--db").unwrap_or_else(|| "/tmp/twilert-floor.db".into());
        let verify = !args.iter().any(|a| a == "--no-verify");
        return floors::run(&kind, num("--port", 9101) as u16, &db, verify);
    }
    let flag = |name: &str| args.iter().any(|a| a == name);
    // --quick: every phase, shorter (explicit flags still win).
    let q = |quick: usize, full: usize| if flag("--quick") { quick } else { full };
    match args.get(1).map(String::as_str) {
        Some("run") => {
            let connections = num("--connections", num("--concurrency", 32));
            let bin = arg("--bin").unwrap_or_else(|| "target/release/twilert".into());
            let wrk = wrk::available().then(|| wrk::Wrk {
                threads: num("--wrk-threads", 2),
                connections,
                warmup_secs: num("--wrk-warmup", q(1, 2)) as u64,
                secs: num("--wrk-seconds", q(3, 8)) as u64,
                lua: arg("--lua").unwrap_or_else(|| "scripts/bench/wrk-event.lua".into()),
            });
            if flag("--postgres") {
                // Only the PostgreSQL phase (postgres.rs).
                let server = arg("--postgres-url")
                    .or_else(|| std::env::var("TWILERT_TEST_POSTGRES_URL").ok())
                    .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into());
                return postgres::run(&postgres::PgOpts {
                    server,
                    rounds: num("--rounds", q(1, 3)).max(1),
                    events: num("--events", q(10_000, 40_000)),
                    rate_secs: num("--rate-seconds", q(2, 5)) as u64,
                    connections,
                    wrk,
                    bin,
                    replicas: num("--replicas", 2).max(1),
                });
            }
            let cases = (!flag("--no-cases")).then(|| cases::CaseOpts {
                rounds: num("--rounds", q(1, 3)).max(1),
                events: num("--events", q(10_000, 40_000)),
                connections,
                wrk,
                bin: bin.clone(),
            });
            run(Opts {
                events: num("--events", q(10_000, 40_000)),
                storm: num("--storm", q(20_000, 100_000)),
                connections,
                rate_secs: num("--rate-seconds", q(2, 5)) as u64,
                repeat: num("--repeat", q(1, 3)).max(1),
                backlog: num("--backlog", q(2_000, 10_000)),
                bin,
                cases,
                cases_only: flag("--cases-only"),
            })
        }
        Some("load") => {
            // --resources 0: every event on its own resource (a distinct-resources storm).
            let k = num("--resources", 50);
            let events = signed(num("--events", 40_000), "11200", |i| {
                resource(if k == 0 { i } else { i % k })
            });
            let r = load(
                num("--port", 8080) as u16,
                events,
                num("--connections", 32),
                0,
            );
            println!(
                "{:.0} ev/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
                r.rate(),
                r.p50_ms,
                r.p99_ms,
                r.errors
            );
        }
        Some("template") => {
            // The wrk script's body (scripts/bench/wrk-event.lua), its length on stderr.
            let body = load::template("11200");
            eprintln!("{} bytes", body.len());
            print!("{body}");
        }
        Some("console") => console::run(
            num("--events", 1_000_000),
            &arg("--bin").unwrap_or_else(|| "target/release/twilert".into()),
            num("--keep", 0) as u64,
        ),
        Some("slack") => {
            // A mock Slack for profiling by hand: prints what it has heard, every second.
            let mock = slack::MockSlack::start_on(num("--port", 9103) as u16);
            // Ends when the server does (actix stops it on SIGINT/SIGTERM).
            while procs::wait_healthy(mock.port, Duration::from_secs(1)) {
                std::thread::sleep(Duration::from_secs(1));
                let c = &mock.counts;
                println!("{} messages, {} events", c.messages(), c.events());
            }
        }
        _ => {
            eprintln!(
                "usage: loadgen run [--quick] [--events N] [--storm N] [--connections C] [--rate-seconds S] [--repeat R] [--backlog N] [--bin PATH]\n                   \
                 [--rounds R] [--wrk-seconds S] [--wrk-warmup S] [--wrk-threads T] [--lua PATH] [--no-cases | --cases-only]\n       \
                 loadgen load --port P [--events N] [--connections C] [--resources K]\n       \
                 loadgen slack --port N\n       \
                 loadgen run --postgres [--postgres-url URL] [--replicas N] [--quick] [--rounds R] [--events N] [--rate-seconds S]\n       \
                 loadgen --floor http|durable|postgres --port N [--db PATH|URL]"
            );
            std::process::exit(2);
        }
    }
}

pub fn resource(i: usize) -> String {
    format!("CA{i:032x}")
}

#[derive(Clone, Copy, PartialEq)]
enum Target {
    Twilert,
    Durable,
    Http,
}

impl Target {
    const ALL: [Target; 3] = [Target::Twilert, Target::Durable, Target::Http];
    fn name(self) -> &'static str {
        match self {
            Target::Twilert => "twilert",
            Target::Durable => "durable floor",
            Target::Http => "http floor",
        }
    }
    fn start(self, o: &Opts, dir: &std::path::Path, slack_port: u16, window: &str) -> Proc {
        match self {
            Target::Twilert => procs::twilert(&o.bin, dir, slack_port, window),
            Target::Durable => procs::floor("durable", dir),
            Target::Http => procs::floor("http", dir),
        }
    }
}

/// One target, one repetition.
struct Sample {
    target: Target,
    max: Outcome,
    max_noise: f64,
    fixed: Outcome,
    idle_kb: u64,
    peak_kb: u64,
    startup: Duration,
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn spread(v: &[f64]) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{lo:.0}–{hi:.0}")
}

fn run(o: Opts) {
    let mock = slack::MockSlack::start();
    println!(
        "loadgen: {} events at max rate over {} connections, 1000/s for {} s, storms of {}, {} repetition(s), {} cores, load average {}",
        o.events,
        o.connections,
        o.rate_secs,
        o.storm,
        o.repeat,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split(' ').take(3).collect::<Vec<_>>().join(" "),
    );
    let case_ratios = o
        .cases
        .as_ref()
        .map(|c| cases::run(c, mock.port))
        .unwrap_or_default();
    let ab = |i: usize| case_ratios.get(i).copied().unwrap_or(f64::NAN);
    if o.cases_only {
        return;
    }
    println!("\nsignatures checked, 50 resources, the loadgen:");
    let max_events = signed(o.events, "11200", |i| resource(i % 50));
    let rate_events = signed(1000 * o.rate_secs as usize, "11200", |i| resource(i % 50));

    let mut samples: Vec<Sample> = vec![];
    for rep in 0..o.repeat {
        // Rotate the order so drift on a shared machine hits every target alike.
        for k in 0..3 {
            let target = Target::ALL[(rep + k) % 3];
            let dir = tempfile::tempdir().expect("tempdir");
            let p = target.start(&o, dir.path(), mock.port, "5m");
            std::thread::sleep(Duration::from_millis(300));
            let idle_kb = status_kb(p.pid(), "VmRSS:");
            let noise = Foreign::start(p.pid());
            let max = load(p.port, max_events.clone(), o.connections, 0);
            let max_noise = noise.percent();
            let fixed = load(p.port, rate_events.clone(), o.connections, 1000);
            let s = Sample {
                target,
                max,
                max_noise,
                fixed,
                idle_kb,
                peak_kb: status_kb(p.pid(), "VmHWM:"),
                startup: p.startup,
            };
            println!(
                "  run {} {:<14} max {:>6.0} ev/s (p50 {:.2} ms, p99 {:.2} ms, {} errors, other load {:.0}% of a core) | 1000/s p50 {:.2} ms p99 {:.2} ms ({} errors) | RSS idle {} KB peak {} KB | start-up {:.0} ms",
                rep + 1, target.name(), s.max.rate(), s.max.p50_ms, s.max.p99_ms, s.max.errors, s.max_noise,
                s.fixed.p50_ms, s.fixed.p99_ms, s.fixed.errors, s.idle_kb, s.peak_kb, s.startup.as_secs_f64() * 1000.0
            );
            samples.push(s);
        }
    }

    println!("\nmedian of {} run(s):", o.repeat);
    let of = |t: Target| samples.iter().filter(move |s| s.target == t);
    let med = |t: Target, f: fn(&Sample) -> f64| median(of(t).map(f).collect());
    for t in Target::ALL {
        let rates: Vec<f64> = of(t).map(|s| s.max.rate()).collect();
        println!(
            "{:<14} max {:>6.0} ev/s (range {}) p99 {:.2} ms | 1000/s p99 {:.2} ms | idle RSS {:.1} MB, peak {:.1} MB{}",
            t.name(),
            median(rates.clone()),
            spread(&rates),
            med(t, |s| s.max.p99_ms),
            med(t, |s| s.fixed.p99_ms),
            med(t, |s| s.idle_kb as f64) / 1024.0,
            med(t, |s| s.peak_kb as f64) / 1024.0,
            if t == Target::Twilert {
                format!(", start-up {:.0} ms", med(t, |s| s.startup.as_secs_f64() * 1000.0))
            } else {
                String::new()
            }
        );
    }
    // Ratios within each repetition (same minute, same machine state), then the median.
    let ratio = |floor: Target| -> Vec<f64> {
        samples
            .chunks(3)
            .map(|rep| {
                let rate = |t: Target| {
                    rep.iter()
                        .find(|s| s.target == t)
                        .map_or(f64::NAN, |s| s.max.rate())
                };
                rate(Target::Twilert) / rate(floor)
            })
            .collect()
    };
    let (vs_durable, vs_http) = (ratio(Target::Durable), ratio(Target::Http));
    let fmt = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "ratios: twilert / durable floor {:.2} (per run: {}), twilert / http floor {:.2} (per run: {})",
        median(vs_durable.clone()),
        fmt(&vs_durable),
        median(vs_http.clone()),
        fmt(&vs_http)
    );

    let mut storms_ok = true;
    let mut storm_peak_kb = 0;
    if o.storm > 0 {
        println!(
            "\nstorms of {} events of one code (window 2 s for twilert):",
            o.storm
        );
        for (name, distinct) in [("one resource", false), ("distinct resources", true)] {
            let events = signed(o.storm, "11200", move |i| {
                resource(if distinct { i } else { 7 })
            });
            for target in Target::ALL {
                let (ok, kb) = storms::storm(&o, &mock, target, name, events.clone());
                storms_ok &= ok;
                if target == Target::Twilert {
                    storm_peak_kb = storm_peak_kb.max(kb);
                }
            }
        }
    }

    let backlog_p99 = (o.backlog > 0).then(|| storms::backlog(&o));

    let tw = |f: fn(&Sample) -> f64| med(Target::Twilert, f);
    let check = |ok: bool| if ok { "✔" } else { "✘" };
    let rate = tw(|s| s.max.rate());
    let r = median(vs_durable);
    let p99 = tw(|s| s.fixed.p99_ms);
    let idle = tw(|s| s.idle_kb as f64) / 1024.0;
    let start = tw(|s| s.startup.as_secs_f64() * 1000.0);
    println!("\nperformance targets (medians):");
    println!(
        "  {} durable ingest ≥ 20,000 ev/s: {rate:.0}",
        check(rate >= 20_000.0)
    );
    println!("  {} ≥ 0.9× the durable floor: {r:.2}", check(r >= 0.9));
    if o.cases.is_some() {
        let gen = if o.cases.as_ref().is_some_and(|c| c.wrk.is_some()) {
            "wrk"
        } else {
            "loadgen"
        };
        for (i, name) in [
            (0, "(a) one resource, muted"),
            (1, "(b) distinct resources, routed"),
        ] {
            println!(
                "  {} ≥ 0.9× the durable floor, {name}, {gen}: {:.2}",
                check(ab(i) >= 0.9),
                ab(i)
            );
        }
    }
    println!(
        "  {} p99 < 5 ms at 1,000 ev/s: {p99:.2} ms",
        check(p99 < 5.0)
    );
    if o.storm > 0 {
        let mb = storm_peak_kb as f64 / 1024.0;
        println!(
            "  {} storms < 100 MB and every event accounted for: peak {mb:.1} MB",
            check(storms_ok && mb < 100.0)
        );
    }
    if let Some(p99) = backlog_p99 {
        println!(
            "  {} p99 < 5 ms at 1,000 ev/s with {} notifications waiting on retry: {p99:.2} ms",
            check(p99 < 5.0),
            o.backlog
        );
    }
    println!("  {} idle RSS < 15 MB: {idle:.1} MB", check(idle < 15.0));
    println!(
        "  {} start-up < 200 ms: {start:.0} ms",
        check(start < 200.0)
    );
}
