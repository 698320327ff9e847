//! The PostgreSQL phase (`loadgen run --postgres [--postgres-url URL]`,
//! `scripts/bench.sh --postgres`; SPEC 11's second line): two `twilert serve`
//! replicas on one PostgreSQL database, the load split over them, against the
//! PostgreSQL durable floor (floors.rs, `--floor postgres`) on the same server,
//! in alternating rounds, each measurement on a fresh database:
//! - wrk, signatures off on both sides, one resource: one wrk per replica with
//!   half the threads and connections each (rates summed, the worse p99), one
//!   wrk with all of them against the floor;
//! - the loadgen, signatures checked, 50 resources, round robin over the
//!   replicas: the maximum rate, then a fixed 1,000 events/s (p99).
//!
//! The server URL: `--postgres-url`, else `TWILERT_TEST_POSTGRES_URL` (which
//! scripts/bench.sh sets from scripts/find-postgres.sh), else the local default.
//! A twilert that refuses `[store] url` (no PostgreSQL backend in this build) is
//! reported and only the floor is measured.

use crate::load::{self, load_spread, signed, Outcome};
use crate::procs::{self, Foreign, Proc};
use crate::{median, resource, slack, wrk::Wrk};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub struct PgOpts {
    pub server: String,
    pub rounds: usize,
    /// Events per maximum-rate loadgen run.
    pub events: usize,
    pub rate_secs: u64,
    pub connections: usize,
    pub wrk: Option<Wrk>,
    pub bin: String,
    pub replicas: usize,
}

/// A database of its own for one measurement, dropped afterwards.
struct Db {
    server: String,
    name: String,
    url: String,
}

fn admin(server: &str, sql: &str) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(server, tokio_postgres::NoTls)
            .await
            .map_err(|e| format!("{e}: {:?}", std::error::Error::source(&e)))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client.batch_execute(sql).await.map_err(|e| e.to_string())
    })
}

impl Db {
    fn create(server: &str) -> Db {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "twilert_b_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        admin(server, &format!("CREATE DATABASE \"{name}\""))
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let mut url = url::Url::parse(server).expect("the PostgreSQL URL is a postgres:// URL");
        url.set_path(&format!("/{name}"));
        Db {
            server: server.to_string(),
            name,
            url: url.to_string(),
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if let Err(e) = admin(&self.server, &sql) {
            eprintln!("  could not drop {}: {e}", self.name);
        }
    }
}

/// Either side's processes for one measurement (dropped: killed, then the database).
struct Running {
    procs: Vec<Proc>,
    _dirs: Vec<tempfile::TempDir>,
    _db: Db,
}

impl Running {
    fn ports(&self) -> Vec<u16> {
        self.procs.iter().map(|p| p.port).collect()
    }
    /// CPU not used by these processes, the load generator or PostgreSQL from now on.
    fn noise(&self) -> Foreign {
        Foreign::with_postgres(&self.procs.iter().map(Proc::pid).collect::<Vec<_>>())
    }
}

fn start_floor(o: &PgOpts, verify: bool) -> Running {
    let db = Db::create(&o.server);
    let flags: &[&str] = if verify { &[] } else { &["--no-verify"] };
    Running {
        procs: vec![procs::pg_floor(&db.url, flags)],
        _dirs: vec![],
        _db: db,
    }
}

fn start_replicas(o: &PgOpts, verify: bool, slack_port: u16) -> Result<Running, String> {
    let db = Db::create(&o.server);
    let twilio = if verify {
        ""
    } else {
        "verify_signature = false"
    };
    let store = format!("url = \"{}\"", db.url);
    let (mut procs, mut dirs) = (vec![], vec![]);
    for _ in 0..o.replicas {
        let dir = tempfile::tempdir().expect("tempdir");
        procs.push(procs::twilert_store(
            &o.bin,
            dir.path(),
            slack_port,
            twilio,
            &store,
        )?);
        dirs.push(dir);
    }
    Ok(Running {
        procs,
        _dirs: dirs,
        _db: db,
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Floor,
    Twilert,
}

#[derive(Clone, Copy, PartialEq)]
enum Measure {
    Wrk,
    Max,
    Fixed,
}

pub fn run(o: &PgOpts) {
    let mock = slack::MockSlack::start();
    println!(
        "postgres: {} twilert replica(s) on one database vs the PostgreSQL durable floor, {} alternating round(s), server {}, {} cores, load average {}",
        o.replicas,
        o.rounds,
        redact(&o.server),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split(' ')
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    );
    if let Some(w) = &o.wrk {
        println!(
            "  wrk (signatures off, one resource): {} threads, {} connections in all, {} s after a {} s warm-up: {}",
            w.threads,
            w.connections,
            w.secs,
            w.warmup_secs,
            w.command(0, false).replace(":0/", ":PORT/")
        );
    } else {
        println!("  wrk: not installed, skipped (scripts/bench.sh installs it)");
    }
    println!(
        "  loadgen (signatures checked, 50 resources, round robin over the replicas): {} events over {} connections, then 1,000/s for {} s",
        o.events, o.connections, o.rate_secs
    );
    println!("  other load: CPU used by anything but the targets, the load generators and the PostgreSQL server (whose other clients count as ours)");
    let tmp = tempfile::tempdir().expect("tempdir");
    let body = tmp.path().join("body.form");
    std::fs::write(&body, load::template("11200")).expect("write the wrk body template");
    let max_events = signed(o.events, "11200", |i| resource(i % 50));
    let rate_events = signed(1000 * o.rate_secs as usize, "11200", |i| resource(i % 50));

    let mut rows: Vec<(usize, Side, Measure, Outcome)> = vec![];
    let mut refused: Option<String> = None;
    for round in 0..o.rounds {
        let order = if round % 2 == 0 {
            [Side::Floor, Side::Twilert]
        } else {
            [Side::Twilert, Side::Floor]
        };
        for side in order {
            if side == Side::Twilert && refused.is_some() {
                continue;
            }
            let start = |verify: bool| -> Result<Running, String> {
                match side {
                    Side::Floor => Ok(start_floor(o, verify)),
                    Side::Twilert => start_replicas(o, verify, mock.port),
                }
            };
            let name = match side {
                Side::Floor => "postgres floor".to_string(),
                Side::Twilert => format!("twilert ×{}", o.replicas),
            };
            let mut report = |m: Measure, r: Outcome, noise: f64, label: &str| {
                println!(
                    "  round {} {:<14} {label:<18} {:>6.0} ev/s (p50 {:.2} ms, p99 {:.2} ms, {} errors, other load {:.0}% of a core)",
                    round + 1,
                    name,
                    r.rate(),
                    r.p50_ms,
                    r.p99_ms,
                    r.errors,
                    noise
                );
                rows.push((round, side, m, r));
            };
            if let Some(w) = &o.wrk {
                match start(false) {
                    Ok(run) => {
                        std::thread::sleep(Duration::from_millis(200));
                        let noise = run.noise();
                        let r = if run.procs.len() == 1 {
                            w.measure(run.procs[0].port, false, &body)
                        } else {
                            w.measure_split(&run.ports(), false, &body)
                        };
                        match r {
                            Ok(r) => report(Measure::Wrk, r, noise.percent(), "wrk"),
                            Err(e) => eprintln!("  {e}"),
                        }
                    }
                    Err(e) => {
                        refused = Some(e);
                        continue;
                    }
                }
            }
            match start(true) {
                Ok(run) => {
                    std::thread::sleep(Duration::from_millis(200));
                    let noise = run.noise();
                    let r = load_spread(&run.ports(), max_events.clone(), o.connections, 0);
                    report(Measure::Max, r, noise.percent(), "loadgen max");
                    let noise = run.noise();
                    let r = load_spread(&run.ports(), rate_events.clone(), o.connections, 1000);
                    report(Measure::Fixed, r, noise.percent(), "loadgen 1000/s");
                }
                Err(e) => refused = Some(e),
            }
        }
    }

    let pick = |round: usize, side: Side, m: Measure| {
        rows.iter()
            .find(|(r, s, mm, _)| *r == round && *s == side && *mm == m)
            .map(|(.., o)| o)
    };
    let med = |side: Side, m: Measure, f: fn(&Outcome) -> f64| {
        median(
            (0..o.rounds)
                .filter_map(|r| pick(r, side, m).map(f))
                .collect(),
        )
    };
    let ratios = |m: Measure| -> Vec<f64> {
        (0..o.rounds)
            .filter_map(|r| {
                Some(pick(r, Side::Twilert, m)?.rate() / pick(r, Side::Floor, m)?.rate())
            })
            .collect()
    };
    let fmt = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("\nmedians of {} round(s):", o.rounds);
    for (m, label) in [(Measure::Wrk, "wrk"), (Measure::Max, "loadgen max")] {
        if !rows.iter().any(|(_, _, mm, _)| *mm == m) {
            continue;
        }
        let r = ratios(m);
        println!(
            "  {label:<12} postgres floor {:>6.0} ev/s p99 {:.2} ms | twilert ×{} {:>6.0} ev/s p99 {:.2} ms | ratio {:.2} (per round: {})",
            med(Side::Floor, m, Outcome::rate),
            med(Side::Floor, m, |o| o.p99_ms),
            o.replicas,
            med(Side::Twilert, m, Outcome::rate),
            med(Side::Twilert, m, |o| o.p99_ms),
            median(r.clone()),
            fmt(&r)
        );
    }
    println!(
        "  1000/s       postgres floor p99 {:.2} ms | twilert ×{} p99 {:.2} ms",
        med(Side::Floor, Measure::Fixed, |o| o.p99_ms),
        o.replicas,
        med(Side::Twilert, Measure::Fixed, |o| o.p99_ms),
    );

    let check = |ok: bool| if ok { "✔" } else { "✘" };
    println!("\nPostgreSQL targets (medians):");
    if let Some(e) = &refused {
        println!("  ✘ twilert with [store] url not measured: {e}");
        if e.contains("unknown field `url`") {
            println!("    (this build has no PostgreSQL backend; the floor's figures above stand on their own)");
        }
        return;
    }
    let r = median(ratios(Measure::Max));
    println!(
        "  {} ≥ 0.7× the PostgreSQL durable floor, {} replicas, loadgen (signed): {r:.2}",
        check(r >= 0.7),
        o.replicas
    );
    if o.wrk.is_some() {
        let r = median(ratios(Measure::Wrk));
        println!(
            "  {} ≥ 0.7× the PostgreSQL durable floor, {} replicas, wrk (unsigned): {r:.2}",
            check(r >= 0.7),
            o.replicas
        );
    }
    let p99 = med(Side::Twilert, Measure::Fixed, |o| o.p99_ms);
    println!(
        "  {} p99 < 20 ms at 1,000 ev/s, {} replicas: {p99:.2} ms",
        check(p99 < 20.0),
        o.replicas
    );
}

/// The URL with any password replaced by `***`.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}
