//! An in-process mock Slack incoming webhook that answers 200 "ok" and adds up
//! what twilert reports: one per single alert, N per digest (`🔴 57× 11200 …`).
//! A digest of a group's first window speaks for its first alert too (its
//! headline says `57 events`, a later window's `57 more events`), so that one
//! event is counted once.

use actix_web::{web, App, HttpResponse, HttpServer};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Default)]
pub struct Counts {
    pub alerts: AtomicU64,
    pub digests: AtomicU64,
    /// Events reported inside digests (the sum of their counts).
    pub digested: AtomicU64,
    /// First-window digests: each also counts its group's first alert.
    pub first_windows: AtomicU64,
}

impl Counts {
    pub fn reset(&self) {
        for c in [
            &self.alerts,
            &self.digests,
            &self.digested,
            &self.first_windows,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
    /// Events the channel has been told about.
    pub fn events(&self) -> u64 {
        (Self::get(&self.alerts) + Self::get(&self.digested))
            .saturating_sub(Self::get(&self.first_windows))
    }
    pub fn messages(&self) -> u64 {
        Self::get(&self.alerts) + Self::get(&self.digests)
    }
}

/// The count of a digest message, read from its fallback text.
fn digest_count(text: &str) -> Option<u64> {
    let (head, _) = text.split_once('×')?;
    head.rsplit(' ').next()?.trim().parse().ok()
}

/// A later window's digest (or a folded backlog): `N more events` in its headline.
fn continued(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    text.contains(" more event") || text.contains(" more unreadable payload")
}

async fn post(body: web::Bytes, counts: web::Data<Counts>) -> HttpResponse {
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    match digest_count(v["text"].as_str().unwrap_or("")) {
        Some(n) => {
            counts.digests.fetch_add(1, Ordering::Relaxed);
            counts.digested.fetch_add(n, Ordering::Relaxed);
            if !continued(&body) {
                counts.first_windows.fetch_add(1, Ordering::Relaxed);
            }
        }
        None => {
            counts.alerts.fetch_add(1, Ordering::Relaxed);
        }
    }
    HttpResponse::Ok().body("ok")
}

pub struct MockSlack {
    pub port: u16,
    pub counts: Arc<Counts>,
}

impl MockSlack {
    pub fn start() -> MockSlack {
        MockSlack::start_on(crate::procs::free_port())
    }

    pub fn start_on(port: u16) -> MockSlack {
        let counts = web::Data::new(Counts::default());
        let shared = counts.clone().into_inner();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let _ = HttpServer::new(move || {
                    App::new()
                        .app_data(counts.clone())
                        .route(
                            "/healthz",
                            web::get().to(|| async { HttpResponse::Ok().finish() }),
                        )
                        .default_service(web::to(post))
                })
                .workers(1)
                .bind(("127.0.0.1", port))
                .expect("bind the mock Slack")
                .run()
                .await;
            });
        });
        assert!(
            crate::procs::wait_healthy(port, Duration::from_secs(5)),
            "mock Slack did not start"
        );
        MockSlack {
            port,
            counts: shared,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_digest_counts() {
        assert_eq!(super::digest_count("🔴 57× 11200 on default"), Some(57));
        assert_eq!(super::digest_count("🔴 11200 HTTP retrieval failure"), None);
        assert!(super::continued(
            b"{\"fallback\": \"57 more events on 1 resource\"}"
        ));
        assert!(!super::continued(
            b"{\"fallback\": \"57 events on 1 resource\"}"
        ));
    }
}
