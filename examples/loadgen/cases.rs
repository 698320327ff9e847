//! The ingest cases (issue 18): twilert against the durable floor, signature
//! verification off on both sides, each request a new Sid, in alternating
//! rounds with two load generators — wrk (scripts/bench/wrk-event.lua) and this
//! program's own reqwest load:
//! - (a) one resource (one group), a muted catch-all route: nothing delivered;
//! - (b) distinct resources (a new group per event), routed to the mock Slack;
//! - (c) one resource, routed to the mock Slack.

use crate::load::{self, load, Outcome};
use crate::procs::{self, Foreign, Proc};
use crate::{median, resource, wrk::Wrk};
use std::time::Duration;

#[derive(Clone, Copy)]
enum Case {
    OneMuted,
    DistinctRouted,
    OneRouted,
}

impl Case {
    const ALL: [Case; 3] = [Case::OneMuted, Case::DistinctRouted, Case::OneRouted];
    fn name(self) -> &'static str {
        match self {
            Case::OneMuted => "(a) one resource, muted",
            Case::DistinctRouted => "(b) distinct resources, routed",
            Case::OneRouted => "(c) one resource, routed",
        }
    }
    fn letter(self) -> char {
        match self {
            Case::OneMuted => 'a',
            Case::DistinctRouted => 'b',
            Case::OneRouted => 'c',
        }
    }
    fn distinct(self) -> bool {
        matches!(self, Case::DistinctRouted)
    }
    /// Config lines after the Slack channel: a muted catch-all route for (a);
    /// otherwise `[defaults].channels` sends every event to the mock Slack.
    fn routes(self) -> &'static str {
        match self {
            Case::OneMuted => "\n[[routes]]\nname = \"all\"\nmute = true\n",
            _ => "",
        }
    }
}

pub struct CaseOpts {
    pub rounds: usize,
    /// Events per round for the reqwest generator.
    pub events: usize,
    pub connections: usize,
    pub wrk: Option<Wrk>,
    pub bin: String,
    /// `--case a,b`: only these cases (empty: all).
    pub only: Vec<char>,
    /// `--wrk-only`: the cases with wrk alone (when wrk is installed).
    pub wrk_only: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Gen {
    Wrk,
    Reqwest,
}

impl Gen {
    fn name(self) -> &'static str {
        match self {
            Gen::Wrk => "wrk",
            Gen::Reqwest => "loadgen",
        }
    }
}

fn start(o: &CaseOpts, case: Case, twilert: bool, dir: &std::path::Path, slack: u16) -> Proc {
    if twilert {
        let twilio = "verify_signature = false";
        procs::twilert_cfg(&o.bin, dir, slack, "5m", twilio, case.routes())
    } else {
        procs::floor_with("durable", dir, &["--no-verify"])
    }
}

/// Runs every case; returns the median ratio (twilert / durable floor) of
/// each case with wrk (or the reqwest generator without wrk), in `Case::ALL` order.
pub fn run(o: &CaseOpts, slack_port: u16) -> Vec<f64> {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = dir.path().join("body.form");
    std::fs::write(&body, load::template("11200")).expect("write the wrk body template");
    println!(
        "\ningest cases: verify_signature = false on both sides, a new Sid per request, {} alternating round(s)",
        o.rounds
    );
    match &o.wrk {
        Some(w) => println!(
            "  wrk: {} threads, {} connections, {} s after a {} s warm-up: {}",
            w.threads,
            w.connections,
            w.secs,
            w.warmup_secs,
            w.command(0, false).replace(":0/", ":PORT/")
        ),
        None => println!("  wrk: not installed, skipped (scripts/bench.sh installs it)"),
    }
    println!(
        "  loadgen: {} events over {} connections",
        o.events, o.connections
    );
    let gens: Vec<Gen> = [Gen::Wrk, Gen::Reqwest]
        .into_iter()
        .filter(|g| match g {
            Gen::Wrk => o.wrk.is_some(),
            Gen::Reqwest => !(o.wrk_only && o.wrk.is_some()),
        })
        .collect();
    let mut headline = vec![];
    for case in Case::ALL {
        if !o.only.is_empty() && !o.only.contains(&case.letter()) {
            headline.push(f64::NAN); // not run (`--case`)
            continue;
        }
        println!("\n{}:", case.name());
        let signed = load::signed(o.events, "11200", |i| {
            resource(if case.distinct() { i } else { 7 })
        });
        // (gen, round, twilert?) → outcome
        let mut rows: Vec<(Gen, usize, bool, Outcome)> = vec![];
        for round in 0..o.rounds {
            for &gen in &gens {
                // Alternate who goes first, so drift hits both alike.
                for twilert in [round % 2 == 0, round % 2 == 1] {
                    let tmp = tempfile::tempdir().expect("tempdir");
                    let p = start(o, case, twilert, tmp.path(), slack_port);
                    std::thread::sleep(Duration::from_millis(200));
                    let noise = Foreign::start(p.pid());
                    let r = match (gen, &o.wrk) {
                        (Gen::Wrk, Some(w)) => match w.measure(p.port, case.distinct(), &body) {
                            Ok(r) => r,
                            Err(e) => {
                                eprintln!("  {e}");
                                continue;
                            }
                        },
                        _ => load(p.port, signed.clone(), o.connections, 0),
                    };
                    println!(
                        "  round {} {:<8} {:<14} {:>6.0} ev/s (p50 {:.2} ms, p99 {:.2} ms, {} errors, other load {:.0}% of a core) | peak RSS {:.1} MB",
                        round + 1,
                        gen.name(),
                        if twilert { "twilert" } else { "durable floor" },
                        r.rate(),
                        r.p50_ms,
                        r.p99_ms,
                        r.errors,
                        noise.percent(),
                        procs::status_kb(p.pid(), "VmHWM:") as f64 / 1024.0
                    );
                    rows.push((gen, round, twilert, r));
                }
            }
        }
        for &gen in &gens {
            let pick = |round: usize, tw: bool| {
                rows.iter()
                    .find(|(g, r, t, _)| *g == gen && *r == round && *t == tw)
                    .map(|(.., o)| o)
            };
            let ratios: Vec<f64> = (0..o.rounds)
                .filter_map(|r| Some(pick(r, true)?.rate() / pick(r, false)?.rate()))
                .collect();
            let med = |tw: bool, f: fn(&Outcome) -> f64| {
                median((0..o.rounds).filter_map(|r| pick(r, tw).map(f)).collect())
            };
            let ratio = median(ratios.clone());
            println!(
                "  {:<8} ratio twilert / durable floor {ratio:.2} (per round: {}) | twilert {:.0} ev/s p99 {:.2} ms, floor {:.0} ev/s p99 {:.2} ms (medians)",
                gen.name(),
                ratios
                    .iter()
                    .map(|x| format!("{x:.2}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                med(true, Outcome::rate),
                med(true, |o| o.p99_ms),
                med(false, Outcome::rate),
                med(false, |o| o.p99_ms),
            );
            if gen == gens[0] {
                headline.push(ratio);
            }
        }
    }
    headline
}
