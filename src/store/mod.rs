//! The durable outbox (SPEC 7): events, notifications to deliver, group windows and
//! the accounting counters. The interface every stage uses is in [`outbox`]; the
//! embedded SQLite store ([`sqlite`], the default) implements it.

pub mod outbox;
pub mod postgres;
mod records;
pub mod sqlite;

pub use outbox::{GroupScan, Outbox, OutboxTx, Permit, Queue, Views};
pub(crate) use records::code_series;
pub use records::{
    Backlog, CodeSeries, EventFilter, EventPage, EventRow, EventSummary, NotificationView,
    ReplicaSeen, RESOURCE_SCAN,
};
pub use sqlite::{held_by_another, Batch, Reader, Store};

use secrecy::ExposeSecret;

/// A delivery worker's queue on the configured store.
pub fn open_queue(settings: &crate::config::StoreSettings) -> Result<Box<dyn Queue>> {
    Ok(match &settings.url {
        Some(url) => Box::new(postgres::PgQueue::new(url.expose_secret())),
        None => Box::new(sqlite::SqliteQueue::open(&settings.path)?),
    })
}

/// Read views on the configured store, for the CLI, the API and the console.
pub fn open_views(settings: &crate::config::StoreSettings) -> Result<Box<dyn Views>> {
    Ok(match &settings.url {
        Some(url) => Box::new(postgres::PgViews::open(url.expose_secret())?),
        None => Box::new(Reader::open(&settings.path)?),
    })
}

/// `twilert migrate`: creates or upgrades the configured store's schema (the same
/// steps every start runs) and returns its version. Safe beside a running service:
/// on an up-to-date store it changes nothing.
pub fn migrate(settings: &crate::config::StoreSettings) -> Result<i64> {
    match &settings.url {
        Some(url) => postgres::migrate(url.expose_secret()),
        None => sqlite::migrate(&settings.path),
    }
}

use crate::notification::Notification;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {path}: {message}")]
    Open { path: String, message: String },
    /// The backend refused an operation (its own message).
    #[error("store: {0}")]
    Backend(String),
    /// The schema cannot be brought up to date (or is newer than this binary).
    #[error("store: {0}")]
    Schema(String),
    #[error("store: corrupt row {what}: {message}")]
    Corrupt { what: String, message: String },
    /// The store cannot take writes right now (file gone or replaced, not a store,
    /// another process holding it); the message names the cause.
    #[error("store {path}: {cause}")]
    Unavailable { path: String, cause: String },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Delivery state of a notification row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending = 0,
    Sent = 1,
    Dead = 2,
    /// Merged into a digest while waiting (folding at `max_pending`).
    Folded = 3,
}

impl State {
    /// The name of a stored state value, as the console shows it.
    pub fn name(v: i64) -> &'static str {
        match v {
            0 => "pending",
            1 => "sent",
            2 => "dead",
            3 => "folded",
            _ => "unknown",
        }
    }
}

/// A notification waiting for delivery, as read by a worker.
#[derive(Debug, Clone)]
pub struct Queued {
    pub id: i64,
    pub notification: Notification,
    pub attempts: u32,
    pub created_at_ms: i64,
    /// Accepted events this notification accounts for (0 for copies on other channels).
    pub event_count: u64,
}

/// Waiting notifications of one channel and fold key, summed (see `fold_buckets`).
#[derive(Debug, Clone)]
pub struct FoldBucket {
    pub fold_key: String,
    pub rows: u64,
    /// Accepted events the rows account for (SPEC 4).
    pub event_count: u64,
    /// Events the rows stand for (a digest row stands for its count).
    pub events: u64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub resources: u64,
    pub max_id: i64,
}

/// A dead-lettered notification, for `twilert dead-letters list`.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub id: i64,
    pub channel: String,
    pub route: String,
    pub group_key: String,
    pub event_sid: String,
    pub is_digest: bool,
    pub attempts: u32,
    pub last_error: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Accounting counters (SPEC 4 invariant), persisted so they survive restarts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub accepted: u64,
    pub duplicates: u64,
    pub notified: u64,
    pub digested: u64,
    pub muted: u64,
    pub unrouted: u64,
    pub dead_lettered: u64,
    /// Events of a `threshold` route whose window passed below the threshold.
    pub below_threshold: u64,
    /// Events held back by a silence or an acknowledged group (SPEC 14).
    pub silenced: u64,
}

impl Counters {
    pub(crate) const NAMES: [&'static str; 9] = [
        "accepted",
        "duplicates",
        "notified",
        "digested",
        "muted",
        "unrouted",
        "dead_lettered",
        "below_threshold",
        "silenced",
    ];

    pub(crate) fn get_mut(&mut self, name: &str) -> Option<&mut u64> {
        Some(match name {
            "accepted" => &mut self.accepted,
            "duplicates" => &mut self.duplicates,
            "notified" => &mut self.notified,
            "digested" => &mut self.digested,
            "muted" => &mut self.muted,
            "unrouted" => &mut self.unrouted,
            "dead_lettered" => &mut self.dead_lettered,
            "below_threshold" => &mut self.below_threshold,
            "silenced" => &mut self.silenced,
            _ => return None,
        })
    }

    /// Adds `other` term by term (wrapping: dead-letter deltas may be negative).
    pub fn add(&mut self, other: &Counters) {
        for name in Self::NAMES {
            let v = other.get(name);
            if let Some(slot) = self.get_mut(name) {
                *slot = slot.wrapping_add(v);
            }
        }
    }

    pub(crate) fn get(&self, name: &str) -> u64 {
        let mut c = *self;
        c.get_mut(name).map(|v| *v).unwrap_or(0)
    }
}
