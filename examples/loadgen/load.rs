//! Pre-signed Twilio-shaped events and the HTTP load itself: N keep-alive
//! connections, as fast as possible or paced at a fixed rate.

use actix_web::web::Bytes;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use twilert::ingest::signature;

pub const TOKEN: &str = "bench-token";
pub const PUBLIC_URL: &str = "https://alerts.example.com/twilio/debugger";

/// One request, signed before any timing starts: `(form body, X-Twilio-Signature)`.
pub type Signed = (Bytes, String);

/// A Debugger event as Twilio posts it (cf. tests/api/helpers.rs): an 11200 with
/// its webhook request and response, form-encoded, signed over the public URL.
fn event(n: usize, run: u64, code: &str, resource: &str) -> Signed {
    let params = form(&format!("NO{run:016x}{n:016x}"), code, resource);
    let sig = signature::compute(TOKEN, PUBLIC_URL, &params);
    let body = serde_urlencoded::to_string(&params).unwrap_or_default();
    (Bytes::from(body), sig)
}

/// The Sid and resource placeholders of [`template`]: 32 characters each, like
/// the hex digits after `NO`/`CA` they stand for, and unchanged by form encoding.
pub const SID_SLOT: &str = "SSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSS";
pub const RESOURCE_SLOT: &str = "RRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRR";

/// The same event's form body with placeholders for the wrk script
/// (scripts/bench/wrk-event.lua) to fill per request: the same bytes and length
/// as [`event`]'s bodies once filled.
pub fn template(code: &str) -> String {
    let params = form(
        &format!("NO{SID_SLOT}"),
        code,
        &format!("CA{RESOURCE_SLOT}"),
    );
    serde_urlencoded::to_string(&params).unwrap_or_default()
}

fn form(sid: &str, code: &str, resource: &str) -> Vec<(String, String)> {
    // A realistic 11200 for an inbound call: the form body is 1,988 bytes.
    let payload = serde_json::json!({
        "resource_sid": resource, "service_sid": null, "error_code": code,
        "more_info": {"Msg": "An attempt to retrieve content from https://example.com/voice/answer returned the HTTP status code 502",
            "sourceComponent": "14100", "ErrorCode": code, "LogLevel": "ERROR", "url": "https://example.com/voice/answer"},
        "webhook": {"type": "application/x-www-form-urlencoded",
            "request": {"method": "POST", "url": "https://example.com/voice/answer",
                "headers": {"User-Agent": "TwilioProxy/1.1", "X-Twilio-Signature": "unused"},
                "parameters": {"AccountSid": "AC00000000000000000000000000000001", "ApiVersion": "2010-04-01",
                    "CallSid": resource, "CallStatus": "ringing", "Called": "+15005550001",
                    "CalledCity": "SAN FRANCISCO", "CalledCountry": "US", "CalledState": "CA", "CalledZip": "94105",
                    "Caller": "+15005550006", "CallerCity": "BERKELEY", "CallerCountry": "US", "CallerState": "CA",
                    "CallerZip": "94612", "Direction": "inbound", "From": "+15005550006", "To": "+15005550001"}},
            "response": {"status_code": 502,
                "headers": {"Content-Type": "text/html", "Date": "Thu, 26 Nov 2026 10:00:00 GMT", "Server": "Apache"},
                "body": "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1><hr>Apache</body></html>"}}
    });
    vec![
        ("Sid".into(), sid.into()),
        (
            "AccountSid".into(),
            "AC00000000000000000000000000000001".into(),
        ),
        ("ParentAccountSid".into(), String::new()),
        ("Timestamp".into(), "2026-11-26T10:00:00.123Z".into()),
        ("Level".into(), "ERROR".into()),
        ("PayloadType".into(), "application/json".into()),
        ("Payload".into(), payload.to_string()),
    ]
}

/// `n` pre-signed events of one code; Sids are unique within the set (every target
/// gets a fresh store, so a set can be replayed against each).
pub fn signed(n: usize, code: &str, resource: impl Fn(usize) -> String) -> Arc<Vec<Signed>> {
    let run = fastrand::u64(..);
    Arc::new((0..n).map(|i| event(i, run, code, &resource(i))).collect())
}

pub struct Outcome {
    pub events: usize,
    pub secs: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: usize,
}

impl Outcome {
    pub fn rate(&self) -> f64 {
        self.events as f64 / self.secs.max(1e-9)
    }
}

/// Posts every event once over `connections` keep-alive connections. `per_sec`
/// paces the sends on a fixed schedule (0 = as fast as possible); latency is
/// measured from the send, so a late schedule does not hide queueing in the server.
pub fn load(port: u16, events: Arc<Vec<Signed>>, connections: usize, per_sec: u64) -> Outcome {
    load_spread(&[port], events, connections, per_sec)
}

/// As [`load`], the events round robin over several servers (event `i` to
/// `ports[i % n]`): the replicas behind a load balancer.
pub fn load_spread(
    ports: &[u16],
    events: Arc<Vec<Signed>>,
    connections: usize,
    per_sec: u64,
) -> Outcome {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(connections)
            .build()
            .expect("http client");
        let urls: Arc<Vec<String>> = Arc::new(
            ports
                .iter()
                .map(|port| format!("http://127.0.0.1:{port}/twilio/debugger"))
                .collect(),
        );
        let next = Arc::new(AtomicUsize::new(0));
        let errors = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let mut tasks = Vec::with_capacity(connections);
        for _ in 0..connections {
            let (http, urls, next, errors, events) = (
                http.clone(),
                urls.clone(),
                next.clone(),
                errors.clone(),
                events.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(events.len() / connections + 1);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((body, sig)) = events.get(i) else {
                        break;
                    };
                    if per_sec > 0 {
                        let due = start + Duration::from_secs_f64(i as f64 / per_sec as f64);
                        tokio::time::sleep_until(due.into()).await;
                    }
                    let t = Instant::now();
                    let ok = http
                        .post(urls[i % urls.len()].as_str())
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
        let mut all = Vec::with_capacity(events.len());
        for t in tasks {
            all.extend(t.await.unwrap_or_default());
        }
        let secs = start.elapsed().as_secs_f64();
        all.sort_by(|a, b| a.total_cmp(b));
        let pct = |p: f64| {
            let i = ((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1));
            all.get(i).copied().unwrap_or(0.0)
        };
        Outcome {
            events: all.len(),
            secs,
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
            errors: errors.load(Ordering::Relaxed),
        }
    })
}
