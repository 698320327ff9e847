//! `twilert events [--code C] [--resource R] [--since 1h] [--limit N] [--output
//! text|json]`: recent events, newest first, with the path each came by. Reads the
//! store directly (beside a running service too).

use crate::clock::{rfc3339, Clock, SystemClock};
use crate::store::EventFilter;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

pub struct Query {
    pub code: Option<u32>,
    pub resource: Option<String>,
    pub since: Option<Duration>,
    pub limit: usize,
    pub json: bool,
}

pub fn run(config: &Path, q: Query) -> ExitCode {
    let Some(s) = super::load(config) else {
        return ExitCode::from(1);
    };
    let views = match crate::store::open_views(&s.store) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let filter = EventFilter {
        code: q.code,
        resource: q.resource,
        since_ms: q.since.map(|d| SystemClock.now_ms() - d.as_millis() as i64),
        ..Default::default()
    };
    let page = match views.events(&filter, q.limit.clamp(1, 1000)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    if q.json {
        out!(
            "{}",
            serde_json::to_string_pretty(&page).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    if page.events.is_empty() {
        out!("no events");
        return ExitCode::SUCCESS;
    }
    out!(
        "{:<20} {:<34} {:<7} {:<6} {:<34} {:<20} SOURCE",
        "RECEIVED",
        "SID",
        "LEVEL",
        "CODE",
        "RESOURCE",
        "ROUTE"
    );
    for e in &page.events {
        out!(
            "{:<20} {:<34} {:<7} {:<6} {:<34} {:<20} {}",
            rfc3339(e.received_at_ms),
            e.sid,
            e.level.as_deref().unwrap_or("-"),
            e.error_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into()),
            e.resource_sid.as_deref().unwrap_or("-"),
            e.route.as_deref().unwrap_or("(unrouted)"),
            e.source
        );
    }
    if page.next.is_some() {
        out!("\n(more: raise --limit, or narrow with --code/--resource/--since)");
    }
    ExitCode::SUCCESS
}
