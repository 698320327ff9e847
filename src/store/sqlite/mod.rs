//! The embedded SQLite store (the default): events, notifications to deliver, group
//! windows and the accounting counters, in one file.
//!
//! SQLite (rusqlite, bundled) over redb: one file a user can inspect with the
//! `sqlite3` shell, SQL for the dead-letter listing, and WAL mode that lets delivery
//! workers read while the single writer commits. All writes go through one
//! connection owned by the dispatch thread, which batches many events per
//! transaction (group commit).

mod batch;
mod identity;
mod schema;
mod views;

pub use batch::Batch;
pub use identity::held_by_another;

use super::{
    Counters, DeadLetter, EventFilter, EventPage, Outbox, Permit, Queue, Queued, Result,
    StoreError, Views,
};
use crate::group::GroupState;
use crate::notification::Notification;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};

/// `twilert migrate` on a SQLite store.
pub fn migrate(path: &Path) -> Result<i64> {
    identity::refuse_damaged(path)?;
    let conn = open_connection(path)?;
    schema::migrate(&conn)?;
    Ok(schema::VERSION)
}

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

/// One event's stored body by its Sid (the writer's transaction and the readers).
fn event_body(conn: &Connection, sid: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT body FROM events WHERE sid = ?1")?
        .query_row([sid], |r| r.get(0))
        .optional()?)
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

    /// One process at a time (the file lock): the engine's memory is the authority.
    fn shared(&self) -> bool {
        false
    }

    fn take_lease(&mut self, _name: &str, _now_ms: i64, _lease_ms: i64) -> Result<bool> {
        Ok(true)
    }

    /// One process per file: only this one.
    fn heartbeat(
        &mut self,
        config: &str,
        now_ms: i64,
        _within_ms: i64,
    ) -> Result<Vec<super::ReplicaSeen>> {
        static STARTED: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
        Ok(vec![super::ReplicaSeen {
            id: super::postgres::replica_id(),
            started_at_ms: *STARTED.get_or_init(|| now_ms),
            seen_at_ms: now_ms,
            config: config.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }])
    }

    fn open_group_totals(&self) -> Result<(usize, u64)> {
        let groups = self.load_groups()?;
        Ok((groups.len(), groups.iter().map(|(_, g)| g.accounted).sum()))
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
        let mut st = self.conn.prepare("SELECT id, key, body FROM groups")?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = vec![];
        for row in rows {
            let (id, key, body) = row?;
            match serde_json::from_str::<GroupState>(&body) {
                Ok(mut g) => {
                    g.row = Some(id);
                    out.push((key, g))
                }
                Err(e) => {
                    tracing::warn!(group = %key, error = %e, "skipping unreadable group state")
                }
            }
        }
        Ok(out)
    }

    fn load_seeds(&self) -> Result<Vec<crate::group::Seeds>> {
        let mut st = self
            .conn
            .prepare("SELECT id, body FROM group_seeds ORDER BY id")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = vec![];
        for row in rows {
            let (id, body) = row?;
            match views::parse_seeds(&body) {
                Ok(s) => out.push(s),
                Err(e) => {
                    tracing::warn!(row = id, error = %e, "skipping unreadable seeded groups")
                }
            }
        }
        Ok(out)
    }

    fn unapplied_events(&self) -> Result<Vec<(i64, String)>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT id, body FROM events WHERE id > ({APPLIED_THROUGH}) ORDER BY id"
        ))?;
        let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
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
        // Never past the engine's written state: the events after it are planned
        // again at start, and the newest row stays, so no id is handed out twice.
        let applied: i64 = tx.query_row(
            &format!("SELECT COALESCE(({APPLIED_THROUGH}), 0)"),
            [],
            |r| r.get(0),
        )?;
        let cut = views::first_id_since(&tx, before_ms)?.min(applied);
        n += tx.execute(
            "DELETE FROM events WHERE id < ?1 AND sid NOT IN (SELECT event_sid FROM notifications)
             AND sid NOT IN (SELECT sample_sid FROM silence_routes)",
            [cut],
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

/// A waiting notification's columns and its event's stored body (`events` joined on
/// `event_sid`: the notification row does not repeat the event).
pub(super) type QueuedRow = (i64, String, u32, i64, i64, Option<String>);

/// The columns [`read_queued`] reads, from `notifications n LEFT JOIN events e`.
/// The last event whose groups, alerts and counts the store holds (schema V8).
pub(super) const APPLIED_THROUGH: &str =
    "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'applied_through'";

pub(super) const QUEUED_COLUMNS: &str =
    "n.id, n.body, n.attempts, n.created_at, n.event_count, e.body";

pub(super) fn read_queued(r: &rusqlite::Row<'_>) -> rusqlite::Result<QueuedRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

pub(super) fn parse_queued(
    (id, body, attempts, created_at_ms, event_count, event): QueuedRow,
) -> Result<Queued> {
    let notification = Notification::from_stored(&body, event.as_deref()).map_err(|message| {
        StoreError::Corrupt {
            what: format!("notification {id}"),
            message,
        }
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

    /// One open group's state.
    pub fn group(&self, key: &str) -> Result<Option<GroupState>> {
        let body: Option<String> = self
            .conn
            .prepare_cached("SELECT body FROM groups WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?;
        Ok(body.and_then(|b| serde_json::from_str(&b).ok()))
    }
}

impl Reader {
    /// Pending notifications of `channel` due at `now_ms`, oldest first.
    pub fn due(&self, channel: &str, now_ms: i64, limit: usize) -> Result<Vec<Queued>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {QUEUED_COLUMNS} FROM notifications n LEFT JOIN events e ON e.sid = n.event_sid
             WHERE n.state = 0 AND n.channel = ?1 AND n.next_at <= ?2 ORDER BY n.next_at, n.id LIMIT ?3"
        ))?;
        let rows = st.query_map(params![channel, now_ms, limit as i64], read_queued)?;
        let mut out = vec![];
        for row in rows {
            out.push(parse_queued(row?)?);
        }
        Ok(out)
    }

    /// Whether a notification is still waiting (not folded, sent or dead meanwhile).
    pub fn is_pending(&self, id: i64) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM notifications WHERE id = ?1 AND state = 0")?
            .query_row([id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// The earliest `next_at` of a channel's pending work.
    pub fn next_due_at(&self, channel: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT MIN(next_at) FROM notifications WHERE state = 0 AND channel = ?1",
            )?
            .query_row([channel], |r| r.get::<_, Option<i64>>(0))?)
    }
}

/// A delivery worker's queue on the SQLite store: one process, so claims need no
/// lease and pacing stays in the worker.
pub struct SqliteQueue(std::sync::Mutex<Reader>);

impl SqliteQueue {
    pub fn open(path: &Path) -> Result<SqliteQueue> {
        Ok(SqliteQueue(std::sync::Mutex::new(Reader::open(path)?)))
    }

    fn reader(&self) -> std::sync::MutexGuard<'_, Reader> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl Queue for SqliteQueue {
    async fn claim(
        &self,
        channel: &str,
        now_ms: i64,
        limit: usize,
        _lease_ms: i64,
    ) -> Result<Vec<Queued>> {
        self.reader().due(channel, now_ms, limit)
    }

    async fn is_pending(&self, id: i64) -> Result<bool> {
        self.reader().is_pending(id)
    }

    async fn next_due_at(&self, channel: &str) -> Result<Option<i64>> {
        self.reader().next_due_at(channel)
    }

    async fn permit(&self, _: &str, _: i64, _: u32, _: i64) -> Result<Permit> {
        Ok(Permit::Local)
    }

    async fn receipt(
        &self,
        key: &str,
        channel: &str,
    ) -> Result<Option<crate::notification::Receipt>> {
        let group = self.reader().group(key)?;
        Ok(group.and_then(|g| g.receipts.get(channel).cloned()))
    }

    /// One process: the channel's own sender knows what it showed.
    async fn shown_total(&self, _: &str) -> Result<Option<u64>> {
        Ok(None)
    }

    async fn record_shown(&self, _: &str, _: u64, _: i64) -> Result<()> {
        Ok(())
    }

    /// The worker keeps its own pause and broken mark (one process).
    async fn pause(&self, _: &str, _: i64) -> Result<()> {
        Ok(())
    }

    async fn set_broken(&self, _: &str, _: Option<&str>) -> Result<()> {
        Ok(())
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
        Ok(self.dead_letter_page(None, usize::MAX)?.0)
    }

    fn dead_letter_page(&self, after: Option<i64>, limit: usize) -> Result<(Vec<DeadLetter>, u64)> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, channel, route, group_key, event_sid, is_digest, attempts, COALESCE(last_error, ''), created_at, updated_at
             FROM notifications WHERE state = 2 AND id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = st.query_map(params![after.unwrap_or(0), limit], |r| {
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
        let rows = rows.collect::<std::result::Result<_, _>>()?;
        let total: i64 = self
            .conn
            .prepare_cached("SELECT COUNT(*) FROM notifications WHERE state = 2")?
            .query_row([], |r| r.get(0))?;
        Ok((rows, total.max(0) as u64))
    }

    fn events(&self, filter: &EventFilter, limit: usize) -> Result<EventPage> {
        Reader::events(self, filter, limit)
    }

    fn event(&self, sid: &str) -> Result<Option<(super::EventSummary, String)>> {
        Reader::event(self, sid)
    }

    fn event_body(&self, sid: &str) -> Result<Option<String>> {
        event_body(&self.conn, sid)
    }

    fn notifications_of(&self, sid: &str) -> Result<Vec<super::NotificationView>> {
        Reader::notifications_of(self, sid)
    }

    fn open_groups(&self, after: Option<&str>, limit: usize) -> Result<Vec<(String, GroupState)>> {
        Reader::open_groups(self, after, limit)
    }

    fn scan_groups(&self, after: Option<&str>, limit: usize) -> Result<crate::store::GroupScan> {
        Reader::scan_groups(self, after, limit)
    }

    fn backlog(&self, channel: &str, now_ms: i64) -> Result<super::Backlog> {
        Reader::backlog(self, channel, now_ms)
    }

    fn last_dead_error(&self, channel: &str) -> Result<Option<String>> {
        Reader::last_dead_error(self, channel)
    }

    /// The file and its write-ahead log.
    fn size_bytes(&self) -> Result<u64> {
        let Some(path) = self.conn.path().filter(|p| !p.is_empty()) else {
            return Ok(0);
        };
        let wal = format!("{path}-wal");
        Ok([path, wal.as_str()]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum())
    }

    fn per_minute(
        &self,
        since_ms: i64,
        top: usize,
        only: Option<u32>,
    ) -> Result<Vec<super::CodeSeries>> {
        Reader::per_minute(self, since_ms, top, only)
    }

    fn silences(&self, all: bool) -> Result<Vec<crate::silence::Silence>> {
        Reader::silences(self, all)
    }
}

#[cfg(test)]
mod tests;
