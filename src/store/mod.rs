//! The durable outbox (SPEC 7): events, notifications to deliver, group windows and
//! the accounting counters, in one embedded SQLite file.
//!
//! SQLite (rusqlite, bundled) over redb: one file a user can inspect with the
//! `sqlite3` shell, SQL for the dead-letter listing, and WAL mode that lets delivery
//! workers read while the single writer commits. All writes go through one
//! connection owned by the dispatch thread, which batches many events per
//! transaction (group commit).
//!
//! The interface other stages use is [`Store`] (writes, one owner) and [`Reader`]
//! (reads, one per worker); a shared engine for multi-replica deployments would
//! implement the same operations.

mod batch;
mod identity;
pub mod outbox;
mod schema;
mod views;

pub use outbox::{Outbox, OutboxTx, Queue, Views};

/// A delivery worker's queue on the configured store.
pub fn open_queue(settings: &crate::config::StoreSettings) -> Result<Box<dyn Queue>> {
    Ok(Box::new(Reader::open(&settings.path)?))
}

/// Read views on the configured store, for the CLI, the API and the console.
pub fn open_views(settings: &crate::config::StoreSettings) -> Result<Box<dyn Views>> {
    Ok(Box::new(Reader::open(&settings.path)?))
}

pub use batch::Batch;
pub use identity::held_by_another;
pub use views::{
    Backlog, CodeSeries, EventFilter, EventPage, EventRow, EventSummary, NotificationView,
    RESOURCE_SCAN,
};

/// `twilert migrate`: creates or upgrades the configured store's schema (the same
/// steps every start runs) and returns its version. Safe beside a running service:
/// on an up-to-date store it changes nothing.
pub fn migrate(settings: &crate::config::StoreSettings) -> Result<i64> {
    identity::refuse_damaged(&settings.path)?;
    let conn = open_connection(&settings.path)?;
    schema::migrate(&conn)?;
    Ok(schema::VERSION)
}

use crate::group::GroupState;
use crate::notification::Notification;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};

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

impl From<schema::SchemaError> for StoreError {
    fn from(e: schema::SchemaError) -> Self {
        StoreError::Schema(e.to_string())
    }
}

/// SQLite's errors stay inside this backend: the interface speaks [`StoreError`].
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

/// Delivery state of a notification row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending = 0,
    Sent = 1,
    Dead = 2,
    /// Merged into a digest while waiting (folding at `max_pending`).
    Folded = 3,
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
    const NAMES: [&'static str; 9] = [
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

    fn get_mut(&mut self, name: &str) -> Option<&mut u64> {
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

    fn get(&self, name: &str) -> u64 {
        let mut c = *self;
        c.get_mut(name).map(|v| *v).unwrap_or(0)
    }
}

pub fn open_connection(path: &Path) -> Result<Connection> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    let conn = Connection::open(path).map_err(|e| StoreError::Open {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit is on disk before ingest answers 200, even across power loss.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "cache_size", -8192)?;
    Ok(conn)
}

/// The writer: owned by the dispatch thread. It holds an exclusive lock on the
/// store file for as long as it lives, so a second `twilert serve` on the same store
/// is refused, and it checks before every batch that the file at the path is still
/// the one it opened.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    identity: identity::Identity,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store> {
        identity::refuse_damaged(path)?;
        let conn = open_connection(path)?;
        schema::migrate(&conn)?;
        let mut identity = identity::Identity::lock(path)?;
        identity.check()?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            identity,
        })
    }

    /// Copies everything the open connection holds to `dest` (SQLite's backup API):
    /// what is left when the store file was deleted while twilert had it open.
    pub fn backup_to(&self, dest: &Path) -> Result<()> {
        let mut out = Connection::open(dest).map_err(|e| StoreError::Open {
            path: dest.display().to_string(),
            message: e.to_string(),
        })?;
        let backup = rusqlite::backup::Backup::new(&self.conn, &mut out)?;
        backup.run_to_completion(256, std::time::Duration::from_millis(0), None)?;
        Ok(())
    }
}

impl Outbox for Store {
    type Tx<'t> = Batch<'t>;

    /// Whether the file at the path is still the store this writer opened: same
    /// inode, a SQLite header. The error names the cause.
    fn check(&mut self) -> Result<()> {
        self.identity.check()
    }

    /// A tiny write transaction: proves the store takes writes again (disk space
    /// back, file restored) after a failure.
    fn probe_write(&mut self, now_ms: i64) -> Result<()> {
        self.check()?;
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('probe', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [now_ms.to_string()],
        )?;
        Ok(())
    }

    /// Runs `f` in one transaction (group commit), after checking that the file at
    /// the path is still this store (never acknowledge a write to a deleted file).
    fn batch<T>(&mut self, f: impl FnOnce(&Batch<'_>) -> Result<T>) -> Result<T> {
        self.identity.check()?;
        let tx = self.conn.transaction()?;
        let b = Batch::new(&tx);
        let out = f(&b)?;
        b.flush()?;
        drop(b);
        tx.commit()?;
        Ok(out)
    }

    fn counters(&self) -> Result<Counters> {
        let mut c = Counters::default();
        let mut st = self.conn.prepare("SELECT name, value FROM counters")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (name, value) = row?;
            if let Some(slot) = c.get_mut(&name) {
                *slot = value.max(0) as u64;
            }
        }
        Ok(c)
    }

    fn load_groups(&self) -> Result<Vec<(String, GroupState)>> {
        let mut st = self.conn.prepare("SELECT key, body FROM groups")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = vec![];
        for row in rows {
            let (key, body) = row?;
            match serde_json::from_str(&body) {
                Ok(g) => out.push((key, g)),
                Err(e) => {
                    tracing::warn!(group = %key, error = %e, "skipping unreadable group state")
                }
            }
        }
        Ok(out)
    }

    /// Events counted in pending notifications (primary copies), for the invariant.
    fn pending_notification_events(&self) -> Result<u64> {
        let v: i64 = self.conn.query_row(
            "SELECT COALESCE(SUM(event_count), 0) FROM notifications WHERE state = 0",
            [],
            |r| r.get(0),
        )?;
        Ok(v.max(0) as u64)
    }

    /// Deletes delivered rows and events older than `before_ms`; returns rows removed.
    fn prune(&mut self, before_ms: i64) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let mut n = tx.execute(
            "DELETE FROM notifications WHERE state IN (1, 3) AND updated_at < ?1",
            [before_ms],
        )?;
        // Silences expired before the cut go with their per-route counts; the events
        // a silence in force will name in its summary stay.
        n += tx.execute(
            "DELETE FROM silence_routes WHERE silence_id IN (SELECT id FROM silences WHERE expired_at < ?1)",
            [before_ms],
        )?;
        n += tx.execute("DELETE FROM silences WHERE expired_at < ?1", [before_ms])?;
        n += tx.execute(
            "DELETE FROM events WHERE received_at < ?1 AND sid NOT IN (SELECT event_sid FROM notifications)
             AND sid NOT IN (SELECT sample_sid FROM silence_routes)",
            [before_ms],
        )?;
        // The overview chart's per-minute counts age out with the events.
        n += tx.execute(
            "DELETE FROM event_minutes WHERE minute < ?1",
            [before_ms.div_euclid(60_000)],
        )?;
        tx.commit()?;
        Ok(n)
    }

    fn size_bytes(&self) -> u64 {
        let wal = PathBuf::from(format!("{}-wal", self.path.display()));
        [self.path.as_path(), wal.as_path()]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    fn rescue(&mut self, now_ms: i64) -> Option<Result<String>> {
        if self.path.exists() {
            return None;
        }
        let dest = PathBuf::from(format!("{}.recovered-{now_ms}", self.path.display()));
        Some(self.backup_to(&dest).map(|()| dest.display().to_string()))
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn active_silences(&self) -> Result<Vec<crate::silence::Silence>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {} FROM silences WHERE expired_at IS NULL ORDER BY created_at, id",
            views::SILENCE_COLUMNS
        ))?;
        views::silences_of(&mut st, [])
    }
}

pub(super) type QueuedRow = (i64, String, u32, i64, i64);

pub(super) fn read_queued(r: &rusqlite::Row<'_>) -> rusqlite::Result<QueuedRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

pub(super) fn parse_queued(
    (id, body, attempts, created_at_ms, event_count): QueuedRow,
) -> Result<Queued> {
    let notification = serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
        what: format!("notification {id}"),
        message: e.to_string(),
    })?;
    Ok(Queued {
        id,
        notification,
        attempts,
        created_at_ms,
        event_count: event_count.max(0) as u64,
    })
}

/// A read-only handle for a delivery worker or the CLI (WAL: reads never block the writer).
pub struct Reader {
    conn: Connection,
}

impl Reader {
    pub fn open(path: &Path) -> Result<Reader> {
        let conn = open_connection(path)?;
        schema::migrate(&conn)?;
        Ok(Reader { conn })
    }

    /// Whether the store answers (for `/readyz`).
    pub fn ping(&self) -> bool {
        self.conn
            .query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
            .is_ok()
    }
}

impl Queue for Reader {
    /// Pending notifications of `channel` due at `now_ms`, oldest first.
    fn due(&self, channel: &str, now_ms: i64, limit: usize) -> Result<Vec<Queued>> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, body, attempts, created_at, event_count FROM notifications
             WHERE state = 0 AND channel = ?1 AND next_at <= ?2 ORDER BY next_at, id LIMIT ?3",
        )?;
        let rows = st.query_map(params![channel, now_ms, limit as i64], read_queued)?;
        let mut out = vec![];
        for row in rows {
            out.push(parse_queued(row?)?);
        }
        Ok(out)
    }

    /// Whether a notification is still waiting (not folded, sent or dead meanwhile).
    fn is_pending(&self, id: i64) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM notifications WHERE id = ?1 AND state = 0")?
            .query_row([id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// The earliest `next_at` of a channel's pending work.
    fn next_due_at(&self, channel: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT MIN(next_at) FROM notifications WHERE state = 0 AND channel = ?1",
            )?
            .query_row([channel], |r| r.get::<_, Option<i64>>(0))?)
    }
}

impl Views for Reader {
    fn pending_count(&self, channel: &str) -> Result<u64> {
        let v: i64 = self
            .conn
            .prepare_cached("SELECT COUNT(*) FROM notifications WHERE state = 0 AND channel = ?1")?
            .query_row([channel], |r| r.get(0))?;
        Ok(v.max(0) as u64)
    }

    fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        let mut st = self.conn.prepare(
            "SELECT id, channel, route, group_key, event_sid, is_digest, attempts, COALESCE(last_error, ''), created_at, updated_at
             FROM notifications WHERE state = 2 ORDER BY id",
        )?;
        let rows = st.query_map([], |r| {
            Ok(DeadLetter {
                id: r.get(0)?,
                channel: r.get(1)?,
                route: r.get(2)?,
                group_key: r.get(3)?,
                event_sid: r.get(4)?,
                is_digest: r.get(5)?,
                attempts: r.get(6)?,
                last_error: r.get(7)?,
                created_at_ms: r.get(8)?,
                updated_at_ms: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    fn events(&self, filter: &EventFilter, limit: usize) -> Result<EventPage> {
        Reader::events(self, filter, limit)
    }

    fn silences(&self, all: bool) -> Result<Vec<crate::silence::Silence>> {
        Reader::silences(self, all)
    }
}

#[cfg(test)]
mod tests;
