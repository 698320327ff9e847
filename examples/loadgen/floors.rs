//! The reference handlers twilert is measured against, each run as its own
//! process (`loadgen --floor http|durable|postgres --port N [--db PATH|URL]`):
//! - `http`: reads the body and answers 200. Reading matters: actix answers
//!   `Connection: close` when a handler replies without reading the body.
//! - `durable`: the least a durable Twilio webhook can do — the same form decode,
//!   X-Twilio-Signature check and Payload parse as twilert (its own functions),
//!   the same stored JSON, and a group-commit insert into SQLite with twilert's
//!   settings (WAL, `synchronous=FULL`, 8 MB page cache) from one writer thread
//!   fed by the same kind of channel; 200 only after the commit. With
//!   `--no-verify` it skips the signature check, as twilert with
//!   `verify_signature = false` does (the wrk cases).
//! - `postgres`: the same decode, signature check and parse, then a group commit
//!   into PostgreSQL (`--db` is a database URL): one writer connection gathers
//!   what concurrent requests sent since its last commit (up to 2,048), writes
//!   them with one multi-row `INSERT … SELECT FROM unnest(…) ON CONFLICT (sid)
//!   DO NOTHING` in one transaction, commits (the server's defaults:
//!   `synchronous_commit = on`), then answers them all 200.

use crate::load::{PUBLIC_URL, TOKEN};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use tokio::sync::{mpsc, oneshot};
use twilert::ingest::{decode, signature};

pub fn run(kind: &str, port: u16, db: &str, verify: bool) {
    match kind {
        "http" => http(port),
        "durable" => durable(port, db, verify),
        "postgres" => postgres(port, db, verify),
        other => {
            eprintln!("unknown floor {other:?}: use http, durable or postgres");
            std::process::exit(2);
        }
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().finish()
}

fn http(port: u16) {
    actix_web::rt::System::new().block_on(async move {
        let _ = HttpServer::new(|| {
            App::new().route("/healthz", web::get().to(healthz)).route(
                "/twilio/debugger",
                web::post().to(|body: web::Bytes| async move {
                    HttpResponse::Ok().body(body.len().to_string())
                }),
            )
        })
        .bind(("127.0.0.1", port))
        .expect("bind the http floor")
        .run()
        .await;
    });
}

/// `(sid, received_at_ms, stored JSON, reply after commit)`.
type Job = (String, i64, String, oneshot::Sender<bool>);
const MAX_BATCH: usize = 2048; // as twilert's dispatch engine

fn writer(db: &str, mut rx: mpsc::UnboundedReceiver<Job>) {
    let mut conn = rusqlite::Connection::open(db).expect("open the floor db");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("journal_mode");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("synchronous");
    conn.pragma_update(None, "cache_size", -8192)
        .expect("cache_size");
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, sid TEXT NOT NULL UNIQUE, \
         received_at INTEGER NOT NULL, body TEXT NOT NULL)",
    )
    .expect("schema");
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let Ok(tx) = conn.transaction() else {
            continue; // dropping the replies answers 503
        };
        let mut replies = Vec::with_capacity(jobs.len());
        if let Ok(mut st) = tx.prepare_cached(
            "INSERT OR IGNORE INTO events (sid, received_at, body) VALUES (?1, ?2, ?3)",
        ) {
            for (sid, at, body, reply) in jobs {
                let ok = st.execute(rusqlite::params![sid, at, body]).is_ok();
                replies.push((reply, ok));
            }
        }
        let committed = tx.commit().is_ok();
        for (reply, ok) in replies {
            let _ = reply.send(ok && committed);
        }
    }
}

struct Durable {
    jobs: mpsc::UnboundedSender<Job>,
    /// `None` with `--no-verify`.
    verifier: Option<signature::Verifier>,
}

async fn ingest(req: HttpRequest, body: web::Bytes, s: web::Data<Durable>) -> HttpResponse {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let Ok((event, pairs)) = decode::decode_form(&body, now) else {
        return HttpResponse::BadRequest().finish();
    };
    let header = req
        .headers()
        .get("X-Twilio-Signature")
        .and_then(|h| h.to_str().ok());
    let verified = s
        .verifier
        .as_ref()
        .is_none_or(|v| v.verify_form(header, PUBLIC_URL, &pairs).is_ok());
    if !verified {
        return HttpResponse::Forbidden().finish();
    }
    let Ok(json) = event.to_stored_json() else {
        return HttpResponse::BadRequest().finish();
    };
    let (reply, committed) = oneshot::channel();
    if s.jobs
        .send((event.sid.to_string(), now, json, reply))
        .is_err()
    {
        return HttpResponse::ServiceUnavailable().finish();
    }
    match committed.await {
        Ok(true) => HttpResponse::Ok().body("ok"),
        _ => HttpResponse::ServiceUnavailable().finish(),
    }
}

fn durable(port: u16, db: &str, verify: bool) {
    let (tx, rx) = mpsc::unbounded_channel::<Job>();
    let db = db.to_string();
    std::thread::Builder::new()
        .name("floor-writer".into())
        .spawn(move || writer(&db, rx))
        .expect("spawn the floor's writer");
    serve(port, tx, verify);
}

/// The PostgreSQL floor's writer: its own thread, runtime and connection.
fn pg_writer(url: &str, mut rx: mpsc::UnboundedReceiver<Job>, ready: std::sync::mpsc::Sender<()>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let (mut client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("the postgres floor cannot connect: {e}"));
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS events (id BIGSERIAL PRIMARY KEY, sid TEXT NOT NULL UNIQUE, \
                 received_at BIGINT NOT NULL, body TEXT NOT NULL)",
            )
            .await
            .expect("schema");
        let insert = client
            .prepare(
                "INSERT INTO events (sid, received_at, body) \
                 SELECT * FROM unnest($1::text[], $2::int8[], $3::text[]) ON CONFLICT (sid) DO NOTHING",
            )
            .await
            .expect("prepare the insert");
        let _ = ready.send(());
        let mut sids = Vec::with_capacity(MAX_BATCH);
        let mut ats = Vec::with_capacity(MAX_BATCH);
        let mut bodies = Vec::with_capacity(MAX_BATCH);
        let mut replies = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = rx.recv().await {
            let mut next = Some(first);
            while let Some((sid, at, body, reply)) = next {
                sids.push(sid);
                ats.push(at);
                bodies.push(body);
                replies.push(reply);
                next = if replies.len() < MAX_BATCH {
                    rx.try_recv().ok()
                } else {
                    None
                };
            }
            let committed = async {
                let tx = client.transaction().await?;
                tx.execute(&insert, &[&sids, &ats, &bodies]).await?;
                tx.commit().await
            }
            .await
            .is_ok();
            for reply in replies.drain(..) {
                let _ = reply.send(committed);
            }
            sids.clear();
            ats.clear();
            bodies.clear();
        }
    });
}

fn postgres(port: u16, url: &str, verify: bool) {
    let (tx, rx) = mpsc::unbounded_channel::<Job>();
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let url = url.to_string();
    std::thread::spawn(move || pg_writer(&url, rx, ready_tx));
    // /healthz answers only once the table exists and the insert is prepared.
    ready.recv().expect("the postgres floor's writer started");
    serve(port, tx, verify);
}

fn serve(port: u16, tx: mpsc::UnboundedSender<Job>, verify: bool) {
    let state = web::Data::new(Durable {
        jobs: tx,
        verifier: verify.then(|| signature::Verifier::new(vec![TOKEN.to_string().into()])),
    });
    actix_web::rt::System::new().block_on(async move {
        let _ = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .route("/healthz", web::get().to(healthz))
                .route("/twilio/debugger", web::post().to(ingest))
        })
        .bind(("127.0.0.1", port))
        .expect("bind the floor")
        .run()
        .await;
    });
}
