//! What the read views return and what an event row carries, for every backend.

/// An event as stored, with the columns the filters use.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventRow<'a> {
    pub sid: &'a str,
    pub received_at_ms: i64,
    pub body: &'a str,
    pub error_code: Option<u32>,
    pub resource_sid: Option<&'a str>,
    pub level: Option<&'a str>,
    /// The first matching route's name (None: unrouted).
    pub route: Option<&'a str>,
}

/// Filters of the events listing; all optional, combined with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    pub code: Option<u32>,
    pub resource: Option<String>,
    pub level: Option<String>,
    pub route: Option<String>,
    /// Received at or after (unix ms).
    pub since_ms: Option<i64>,
    /// Keyset cursor: only ids below this one.
    pub before: Option<i64>,
}

/// One line of the events listing.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EventSummary {
    pub id: i64,
    pub sid: String,
    pub received_at_ms: i64,
    pub error_code: Option<u32>,
    pub resource_sid: Option<String>,
    pub level: Option<String>,
    pub route: Option<String>,
    /// `debugger` or `event_streams`.
    pub source: String,
}

/// A page of events, newest first; `next` is the cursor of the following page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EventPage {
    pub events: Vec<EventSummary>,
    pub next: Option<i64>,
}

/// One notification of an event, as the event page shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NotificationView {
    pub id: i64,
    pub channel: String,
    pub route: String,
    pub group_key: String,
    pub is_digest: bool,
    pub state: &'static str,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub next_at_ms: i64,
}

/// A channel's waiting work.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Backlog {
    pub pending: u64,
    /// Of `pending`, rows waiting on a retry backoff.
    pub retrying: u64,
    pub next_due_ms: Option<i64>,
}

/// Events per minute of one error code (0: no code) since a time.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CodeSeries {
    pub error_code: u32,
    pub total: u64,
    /// (minute = unix ms / 60000, count), ascending.
    pub minutes: Vec<(i64, u64)>,
}

/// Events a page filtered by resource looks at, at most (newest first from `before`).
pub const RESOURCE_SCAN: i64 = 20_000;

/// The `top` codes with the most events from (code, minute, count) rows ordered by
/// code then minute (all codes' series when `only` names one, just that one).
pub(crate) fn code_series(
    rows: impl IntoIterator<Item = (u32, i64, u64)>,
    top: usize,
    only: Option<u32>,
) -> Vec<CodeSeries> {
    let mut series: Vec<CodeSeries> = vec![];
    for (code, minute, count) in rows {
        if only.is_some_and(|o| o != code) {
            continue;
        }
        match series.last_mut() {
            Some(s) if s.error_code == code => {
                s.total += count;
                s.minutes.push((minute, count));
            }
            _ => series.push(CodeSeries {
                error_code: code,
                total: count,
                minutes: vec![(minute, count)],
            }),
        }
    }
    series.sort_by(|a, b| b.total.cmp(&a.total).then(a.error_code.cmp(&b.error_code)));
    series.truncate(top);
    series
}

/// A replica on the store, as its last heartbeat left it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReplicaSeen {
    pub id: String,
    pub started_at_ms: i64,
    pub seen_at_ms: i64,
    /// Its routes and channels, hashed ([`crate::runtime::Runtime::config_digest`]).
    pub config: String,
    pub version: String,
}
