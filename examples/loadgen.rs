//! twilert's benchmark: signed Twilio-shaped events over loopback against the
//! release binary and two reference handlers, in one invocation (SPEC 11).
//!
//! ```sh
//! cargo build --release --examples && target/release/examples/loadgen run
//! ```
//! Phases per target: maximum ingest rate, fixed 1,000 events/s, and (twilert
//! only) a storm of one code and a storm over distinct resources with a mock
//! Slack counting messages and digest totals. Prints events/s, p50/p99 accept
//! latency, RSS, and the ratios to the reference handlers:
//! - http floor: reads the body, answers 200;
//! - durable floor: form decode + X-Twilio-Signature + Payload parse + SQLite
//!   group-commit insert (WAL, synchronous=FULL), nothing else.

use actix_web::{web, App, HttpResponse, HttpServer};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use twilert::ingest::{decode, signature};

const TOKEN: &str = "bench-token";
const PUBLIC_URL: &str = "https://alerts.example.com/twilio/debugger";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    match args.get(1).map(String::as_str) {
        Some("floor-http") => {
            floor_http(arg("--port").and_then(|p| p.parse().ok()).unwrap_or(9101))
        }
        Some("floor-durable") => floor_durable(
            arg("--port").and_then(|p| p.parse().ok()).unwrap_or(9102),
            arg("--db").unwrap_or_else(|| "/tmp/twilert-floor.db".into()),
        ),
        Some("load") => {
            // Load an already running service (for profiling): loadgen load --port P --events N
            let n = arg("--events")
                .and_then(|v| v.parse().ok())
                .unwrap_or(40_000);
            let port = arg("--port").and_then(|v| v.parse().ok()).unwrap_or(8080);
            let r = load(
                port,
                bodies(n, "11200", |i| format!("CA{:032x}", i % 50)),
                32,
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
        Some("run") => run(Opts {
            events: arg("--events")
                .and_then(|v| v.parse().ok())
                .unwrap_or(40_000),
            storm: arg("--storm")
                .and_then(|v| v.parse().ok())
                .unwrap_or(100_000),
            concurrency: arg("--concurrency")
                .and_then(|v| v.parse().ok())
                .unwrap_or(32),
            rate_secs: arg("--rate-seconds")
                .and_then(|v| v.parse().ok())
                .unwrap_or(5),
            bin: arg("--bin").unwrap_or_else(|| "target/release/twilert".into()),
        }),
        _ => {
            eprintln!("usage: loadgen run [--events N] [--storm N] [--concurrency C] [--rate-seconds S] [--bin PATH]");
            std::process::exit(2);
        }
    }
}

struct Opts {
    events: usize,
    storm: usize,
    concurrency: usize,
    rate_secs: u64,
    bin: String,
}

// ---------- events ----------

fn event_body(n: usize, code: &str, resource: &str) -> (String, String) {
    let payload = serde_json::json!({
        "resource_sid": resource, "service_sid": null, "error_code": code,
        "more_info": {"Msg": "An attempt to retrieve content from https://example.com/voice returned the HTTP status code 502", "sourceComponent": "14100"},
        "webhook": {"type": "application/x-www-form-urlencoded",
            "request": {"method": "POST", "url": "https://example.com/voice", "headers": {"User-Agent": "TwilioProxy/1.1"}, "parameters": {"CallSid": resource}},
            "response": {"status_code": 502, "headers": {"Content-Type": "text/html"}, "body": "<html>Bad Gateway</html>"}}
    });
    let params: Vec<(String, String)> = vec![
        (
            "Sid".into(),
            format!(
                "NO{:032x}",
                n as u128 + (fastrand::u64(..) as u128) * (1 << 40)
            ),
        ),
        (
            "AccountSid".into(),
            "AC00000000000000000000000000000001".into(),
        ),
        ("ParentAccountSid".into(), String::new()),
        ("Timestamp".into(), "2026-11-26T10:00:00.123Z".into()),
        ("Level".into(), "ERROR".into()),
        ("PayloadType".into(), "application/json".into()),
        ("Payload".into(), payload.to_string()),
    ];
    let sig = signature::compute(TOKEN, PUBLIC_URL, &params);
    (
        serde_urlencoded::to_string(&params).unwrap_or_default(),
        sig,
    )
}

/// Pre-signed bodies, so signing costs nothing during the timed part.
fn bodies(n: usize, code: &str, resource: impl Fn(usize) -> String) -> Arc<Vec<(String, String)>> {
    Arc::new((0..n).map(|i| event_body(i, code, &resource(i))).collect())
}

// ---------- load ----------

struct Result_ {
    events: usize,
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: usize,
}

impl Result_ {
    fn rate(&self) -> f64 {
        self.events as f64 / self.secs
    }
}

/// Sends every body with `concurrency` keep-alive connections; `per_sec` paces the
/// sends (0 = as fast as possible).
fn load(
    port: u16,
    bodies: Arc<Vec<(String, String)>>,
    concurrency: usize,
    per_sec: u64,
) -> Result_ {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(concurrency)
            .build()
            .expect("client");
        let url = format!("http://127.0.0.1:{port}/twilio/debugger");
        let next = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let mut tasks = vec![];
        for _ in 0..concurrency {
            let (http, url, next, errors, bodies) = (
                http.clone(),
                url.clone(),
                next.clone(),
                errors.clone(),
                bodies.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(bodies.len() / concurrency + 1);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if i >= bodies.len() {
                        break;
                    }
                    if per_sec > 0 {
                        let due = start + Duration::from_secs_f64(i as f64 / per_sec as f64);
                        tokio::time::sleep_until(due.into()).await;
                    }
                    let (body, sig) = &bodies[i];
                    let t = Instant::now();
                    let ok = http
                        .post(&url)
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .header("X-Twilio-Signature", sig)
                        .body(body.clone())
                        .send()
                        .await
                        .map(|r| r.status().as_u16() == 200)
                        .unwrap_or(false);
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    if !ok {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                lat
            }));
        }
        let mut all = vec![];
        for t in tasks {
            all.extend(t.await.unwrap_or_default());
        }
        let secs = start.elapsed().as_secs_f64();
        all.sort_by(|a, b| a.total_cmp(b));
        let pct = |p: f64| {
            all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0.0)
        };
        Result_ {
            events: all.len(),
            secs,
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
            errors: errors.load(Ordering::Relaxed) as usize,
        }
    })
}

// ---------- processes ----------

fn rss_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn wait_port(port: u16, within: Duration) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < within {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut buf = [0u8; 12];
            if s.read(&mut buf)
                .map(|n| n >= 12 && &buf[9..12] == b"200")
                .unwrap_or(false)
            {
                return Some(t.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(9100)
}

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_twilert(
    bin: &str,
    dir: &std::path::Path,
    slack_port: u16,
    window: &str,
) -> (Proc, u16, Duration) {
    let port = free_port();
    let cfg = format!(
        r#"[server]
listen = "127.0.0.1:{port}"
[twilio]
public_url = "{PUBLIC_URL}"
auth_tokens = ["{TOKEN}"]
[store]
path = "{db}"
[defaults]
channels = ["slack"]
window = "{window}"
[channels.slack]
kind = "slack"
url = "http://127.0.0.1:{slack_port}/services/T/B/X"
"#,
        db = dir.join("twilert.db").display()
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, cfg).expect("write config");
    let t = Instant::now();
    let child = Command::new(bin)
        .args(["--config", path.to_str().unwrap_or_default(), "serve"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e} (cargo build --release first)"));
    let proc = Proc(child);
    wait_port(port, Duration::from_secs(10)).expect("twilert did not start");
    (proc, port, t.elapsed())
}

fn start_floor(kind: &str, dir: &std::path::Path) -> (Proc, u16) {
    let port = free_port();
    let me = std::env::current_exe().expect("current exe");
    let child = Command::new(me)
        .args([
            kind,
            "--port",
            &port.to_string(),
            "--db",
            dir.join("floor.db").to_str().unwrap_or_default(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start floor");
    let p = Proc(child);
    wait_port(port, Duration::from_secs(10)).expect("floor did not start");
    (p, port)
}

// ---------- the run ----------

fn run(o: Opts) {
    let slack = MockSlack::start();
    println!(
        "twilert bench: {} events, concurrency {}, fixed rate 1000/s for {}s, storm {}",
        o.events, o.concurrency, o.rate_secs, o.storm
    );
    println!(
        "cores: {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let max_bodies = bodies(o.events, "11200", |i| format!("CA{:032x}", i % 50));
    let rate_bodies = |seed: usize| {
        bodies(1000 * o.rate_secs as usize, "11200", move |i| {
            format!("CA{:032x}", seed + i % 50)
        })
    };

    let mut rows = vec![];
    for target in ["twilert", "durable floor", "http floor"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (proc, port, startup) = match target {
            "twilert" => start_twilert(&o.bin, dir.path(), slack.port, "5m"),
            "durable floor" => {
                let (p, port) = start_floor("floor-durable", dir.path());
                (p, port, Duration::ZERO)
            }
            _ => {
                let (p, port) = start_floor("floor-http", dir.path());
                (p, port, Duration::ZERO)
            }
        };
        let pid = proc.0.id();
        std::thread::sleep(Duration::from_millis(300));
        let idle = rss_kb(pid, "VmRSS:");
        let max = load(port, max_bodies.clone(), o.concurrency, 0);
        let fixed = load(port, rate_bodies(1_000_000), o.concurrency, 1000);
        let peak = rss_kb(pid, "VmHWM:");
        println!(
            "{target:<14} max {:>8.0} ev/s (p50 {:.2} ms, p99 {:.2} ms, {} errors) | 1000/s: p50 {:.2} ms p99 {:.2} ms ({} errors) | idle RSS {} KB, peak {} KB{}",
            max.rate(), max.p50_ms, max.p99_ms, max.errors, fixed.p50_ms, fixed.p99_ms, fixed.errors, idle, peak,
            if target == "twilert" { format!(", start-up {:.0} ms", startup.as_secs_f64() * 1000.0) } else { String::new() }
        );
        rows.push((target, max.rate()));
        drop(proc);
    }
    let rate = |name: &str| {
        rows.iter()
            .find(|r| r.0 == name)
            .map(|r| r.1)
            .unwrap_or(f64::NAN)
    };
    println!(
        "ratios: twilert / durable floor = {:.2}, twilert / http floor = {:.2}",
        rate("twilert") / rate("durable floor"),
        rate("twilert") / rate("http floor")
    );

    for (name, distinct) in [
        ("storm: one code, one resource", false),
        ("storm: one code, distinct resources", true),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        slack.reset();
        let (proc, port, _) = start_twilert(&o.bin, dir.path(), slack.port, "2s");
        let pid = proc.0.id();
        let storm = bodies(o.storm, "11200", move |i| {
            if distinct {
                format!("CA{i:032x}")
            } else {
                format!("CA{:032x}", 7)
            }
        });
        let r = load(port, storm, o.concurrency, 0);
        // Digests go out at window end; folded backlogs drain at Slack's 1/s.
        let t = Instant::now();
        while slack.events() < (o.storm - r.errors) as u64 && t.elapsed() < Duration::from_secs(60)
        {
            std::thread::sleep(Duration::from_millis(200));
        }
        println!(
            "{name:<38} {:>8.0} ev/s accepted ({} errors); Slack got {} messages accounting for {} events ({} alerts + {} in digests) in {:.1}s; peak RSS {} KB",
            r.rate(), r.errors, slack.messages(), slack.events(), slack.alerts.load(Ordering::Relaxed), slack.digested.load(Ordering::Relaxed),
            t.elapsed().as_secs_f64(), rss_kb(pid, "VmHWM:")
        );
        drop(proc);
    }
}

// ---------- mock Slack ----------

struct MockSlack {
    port: u16,
    alerts: Arc<AtomicU64>,
    digested: Arc<AtomicU64>,
}

impl MockSlack {
    fn start() -> MockSlack {
        let port = free_port();
        let alerts = Arc::new(AtomicU64::new(0));
        let digested = Arc::new(AtomicU64::new(0));
        let (a, d) = (alerts.clone(), digested.clone());
        std::thread::spawn(move || {
            let sys = actix_web::rt::System::new();
            sys.block_on(async move {
                let state = web::Data::new((a, d));
                let _ = HttpServer::new(move || {
                    App::new().app_data(state.clone()).default_service(web::to(
                        |body: web::Bytes, s: web::Data<(Arc<AtomicU64>, Arc<AtomicU64>)>| async move {
                            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                            let text = v["text"].as_str().unwrap_or("");
                            // Digests read "🔴 57× 11200 …": the count before "×".
                            match text.split('×').next().and_then(|h| h.rsplit(' ').next()).and_then(|n| n.trim().parse::<u64>().ok()) {
                                Some(n) if text.contains('×') => {
                                    DIGESTS.fetch_add(1, Ordering::Relaxed);
                                    s.1.fetch_add(n, Ordering::Relaxed)
                                }
                                _ => s.0.fetch_add(1, Ordering::Relaxed),
                            };
                            HttpResponse::Ok().body("ok")
                        },
                    ))
                })
                .workers(1)
                .bind(("127.0.0.1", port))
                .expect("bind mock slack")
                .run()
                .await;
            });
        });
        wait_port(port, Duration::from_secs(5));
        MockSlack {
            port,
            alerts,
            digested,
        }
    }
    fn reset(&self) {
        DIGESTS.store(0, Ordering::Relaxed);
        self.alerts.store(0, Ordering::Relaxed);
        self.digested.store(0, Ordering::Relaxed);
    }
    fn events(&self) -> u64 {
        self.alerts.load(Ordering::Relaxed) + self.digested.load(Ordering::Relaxed)
    }
    fn messages(&self) -> u64 {
        self.alerts.load(Ordering::Relaxed) + self.digest_messages()
    }
    fn digest_messages(&self) -> u64 {
        DIGESTS.load(Ordering::Relaxed)
    }
}

static DIGESTS: AtomicU64 = AtomicU64::new(0);

// ---------- reference handlers ----------

fn floor_http(port: u16) {
    let sys = actix_web::rt::System::new();
    sys.block_on(async move {
        let _ = HttpServer::new(|| {
            App::new()
                .route(
                    "/healthz",
                    web::get().to(|| async { HttpResponse::Ok().finish() }),
                )
                .route(
                    "/twilio/debugger",
                    web::post().to(|body: web::Bytes| async move {
                        HttpResponse::Ok().body(format!("{}", body.len()))
                    }),
                )
        })
        .bind(("127.0.0.1", port))
        .expect("bind")
        .run()
        .await;
    });
}

type Job = (String, i64, String, tokio::sync::oneshot::Sender<bool>);

fn floor_durable(port: u16, db: String) {
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    std::thread::spawn(move || {
        let mut conn = rusqlite::Connection::open(&db).expect("open db");
        conn.pragma_update(None, "journal_mode", "WAL")
            .expect("wal");
        conn.pragma_update(None, "synchronous", "FULL")
            .expect("sync");
        conn.pragma_update(None, "cache_size", -8192)
            .expect("cache");
        conn.execute_batch("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, sid TEXT NOT NULL UNIQUE, received_at INTEGER NOT NULL, body TEXT NOT NULL)")
            .expect("schema");
        while let Ok(first) = rx.recv() {
            let mut jobs = vec![first];
            while let Ok(j) = rx.try_recv() {
                jobs.push(j);
                if jobs.len() >= 2048 {
                    break;
                }
            }
            let tx = conn.transaction().expect("tx");
            let mut results = vec![];
            {
                let mut st = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO events (sid, received_at, body) VALUES (?1, ?2, ?3)",
                    )
                    .expect("prepare");
                for (sid, at, body, reply) in jobs {
                    let ok = st.execute(rusqlite::params![sid, at, body]).is_ok();
                    results.push((reply, ok));
                }
            }
            let committed = tx.commit().is_ok();
            for (reply, ok) in results {
                let _ = reply.send(ok && committed);
            }
        }
    });
    let tx = web::Data::new(std::sync::Mutex::new(tx));
    let verifier = web::Data::new(signature::Verifier::new(vec![TOKEN.to_string().into()]));
    let sys = actix_web::rt::System::new();
    sys.block_on(async move {
        let _ = HttpServer::new(move || {
            App::new()
                .app_data(tx.clone())
                .app_data(verifier.clone())
                .route(
                    "/healthz",
                    web::get().to(|| async { HttpResponse::Ok().finish() }),
                )
                .route(
                    "/twilio/debugger",
                    web::post().to(
                        |req: actix_web::HttpRequest,
                         body: web::Bytes,
                         tx: web::Data<std::sync::Mutex<std::sync::mpsc::Sender<Job>>>,
                         v: web::Data<signature::Verifier>| async move {
                            let Ok((event, pairs)) = decode::decode_form(&body, 0) else {
                                return HttpResponse::BadRequest().finish();
                            };
                            let header = req
                                .headers()
                                .get("X-Twilio-Signature")
                                .and_then(|h| h.to_str().ok());
                            if v.verify_form(header, PUBLIC_URL, &pairs).is_err() {
                                return HttpResponse::Forbidden().finish();
                            }
                            let json = event.to_stored_json().unwrap_or_default(); // same stored form as twilert
                            let (reply, rx) = tokio::sync::oneshot::channel();
                            let sent = tx
                                .lock()
                                .map(|t| t.send((event.sid.to_string(), 0, json, reply)).is_ok())
                                .unwrap_or(false);
                            match (sent, rx.await) {
                                (true, Ok(true)) => HttpResponse::Ok().body("ok"),
                                _ => HttpResponse::ServiceUnavailable().finish(),
                            }
                        },
                    ),
                )
        })
        .bind(("127.0.0.1", port))
        .expect("bind")
        .run()
        .await;
    });
}
