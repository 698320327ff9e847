//! `twilert dead-letters list|retry`: `list` reads the store file directly (SQLite WAL
//! readers never block the writer); `retry` writes, so while a service holds the
//! store it goes through that service's admin listener, else it takes the lock.

use crate::clock::{rfc3339, Clock, SystemClock};
use crate::store::{postgres::PgStore, Outbox, OutboxTx, Store};
use std::path::Path;
use std::process::ExitCode;

pub fn list(config: &Path) -> ExitCode {
    let Some(s) = super::load(config) else {
        return ExitCode::from(1);
    };
    let reader = match crate::store::open_views(&s.store) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    match reader.dead_letters() {
        Ok(rows) if rows.is_empty() => {
            out!("no dead letters");
            ExitCode::SUCCESS
        }
        Ok(rows) => {
            out!(
                "{:<6} {:<20} {:<12} {:<20} {:<34} {:<8} {:>8}  LAST ERROR",
                "ID",
                "DEAD SINCE",
                "CHANNEL",
                "ROUTE",
                "EVENT SID",
                "WHAT",
                "ATTEMPTS"
            );
            for d in &rows {
                out!(
                    "{:<6} {:<20} {:<12} {:<20} {:<34} {:<8} {:>8}  {}",
                    d.id,
                    rfc3339(d.updated_at_ms),
                    d.channel,
                    d.route,
                    d.event_sid,
                    if d.is_digest { "digest" } else { "alert" },
                    d.attempts,
                    d.last_error
                );
            }
            out!(
                "\n{} dead letter(s); `twilert dead-letters retry ID` or `--all` to send again",
                rows.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

pub fn retry(config: &Path, id: Option<i64>, all: bool) -> ExitCode {
    if id.is_none() && !all {
        eprintln!("error: give a dead letter ID (see `twilert dead-letters list`) or --all");
        return ExitCode::from(2);
    }
    let Some(s) = super::load(config) else {
        return ExitCode::from(1);
    };
    // SQLite has one writer: while a service holds the file, ask it to do the write.
    // PostgreSQL takes the write from anyone; the replicas' workers see it at once.
    let now = SystemClock.now_ms();
    let requeued = match &s.store.url {
        Some(url) => {
            use secrecy::ExposeSecret;
            PgStore::open(url.expose_secret())
                .and_then(|mut store| store.batch(|b| b.requeue_dead(id, now)))
                .map_err(|e| e.to_string())
        }
        None if crate::store::held_by_another(&s.store.path) => via_admin(&s, id),
        None => Store::open(&s.store.path)
            .and_then(|mut store| store.batch(|b| b.requeue_dead(id, now)))
            .map_err(|e| e.to_string()),
    };
    match requeued {
        // Nothing to do is success for `--all` (cron); a given id that is not a dead
        // letter is a mistake.
        Ok(0) => match id {
            Some(i) => {
                eprintln!("error: no dead letter with id {i} (see `twilert dead-letters list`)");
                ExitCode::from(1)
            }
            None => {
                out!("no dead letters to retry");
                ExitCode::SUCCESS
            }
        },
        Ok(n) => {
            out!("{n} dead letter(s) queued again; a running twilert sends them within a second");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Asks the running service, through its admin listener, to requeue dead letters.
fn via_admin(s: &crate::config::Settings, id: Option<i64>) -> Result<usize, String> {
    let body = match id {
        Some(id) => serde_json::json!({ "id": id }),
        None => serde_json::json!({ "all": true }),
    };
    let (status, v) = super::admin_client::request(
        s,
        reqwest::Method::POST,
        "/api/v1/dead-letters/retry",
        Some(body),
    )?;
    if (200..300).contains(&status) {
        Ok(v["requeued"].as_u64().unwrap_or(0) as usize)
    } else {
        Err(format!(
            "the running twilert refused ({status}): {}",
            v["error"].as_str().unwrap_or("no reason given")
        ))
    }
}
