//! `twilert dead-letters list|retry`: works on the store file directly, so it runs
//! beside a live service (SQLite WAL); the service's workers pick retried rows up.

use crate::clock::{rfc3339, Clock, SystemClock};
use crate::store::{Reader, Store};
use std::path::Path;
use std::process::ExitCode;

pub fn list(config: &Path) -> ExitCode {
    let Some(s) = super::load(config) else {
        return ExitCode::from(1);
    };
    let reader = match Reader::open(&s.store.path) {
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
    let mut store = match Store::open(&s.store.path) {
        Ok(st) => st,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let now = SystemClock.now_ms();
    match store.batch(|b| b.requeue_dead(id, now)) {
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
