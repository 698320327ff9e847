//! The SQLite store's write transaction: everything the engine writes inside one
//! batch (the [`OutboxTx`] operations).

use super::{parse_queued, read_queued, QUEUED_COLUMNS};
use crate::group::{GroupState, Seeds};
use crate::notification::Notification;
use crate::store::{Counters, EventRow, FoldBucket, OutboxTx, Queued, Result, State, StoreError};
use rusqlite::{params, OptionalExtension};

/// Operations inside one write transaction.
pub struct Batch<'a> {
    pub(super) tx: &'a rusqlite::Transaction<'a>,
    /// Events per (minute, error code) counted in this batch, written once at its
    /// end (`flush`) instead of one upsert per event.
    pub(super) minutes: std::cell::RefCell<std::collections::HashMap<(i64, u32), i64>>,
    /// A storm of new resources saves a new group per event: its insert statement
    /// is looked up once per batch, and each group's JSON is written into one buffer.
    group_insert: std::cell::RefCell<Option<rusqlite::CachedStatement<'a>>>,
    group_json: std::cell::RefCell<Vec<u8>>,
}

impl<'a> Batch<'a> {
    pub(super) fn new(tx: &'a rusqlite::Transaction<'a>) -> Batch<'a> {
        Batch {
            tx,
            minutes: Default::default(),
            group_insert: Default::default(),
            group_json: Default::default(),
        }
    }

    /// Writes what the batch accumulated; called before the commit.
    pub(super) fn flush(&self) -> Result<()> {
        let minutes = std::mem::take(&mut *self.minutes.borrow_mut());
        if minutes.is_empty() {
            return Ok(());
        }
        let mut st = self.tx.prepare_cached(
            "INSERT INTO event_minutes (minute, error_code, count) VALUES (?1, ?2, ?3)
             ON CONFLICT(minute, error_code) DO UPDATE SET count = count + excluded.count",
        )?;
        for ((minute, code), n) in minutes {
            st.execute(params![minute, code, n])?;
        }
        Ok(())
    }
}

impl OutboxTx for Batch<'_> {
    /// Stores events; `None` for each whose Sid was seen before (a Twilio retry).
    fn insert_events(&self, rows: &[EventRow<'_>]) -> Result<Vec<Option<i64>>> {
        self.insert_indexed_events(rows)
    }

    /// One writer (the file lock): reading is locking enough.
    fn lock_groups(&self, keys: &[String]) -> Result<(Vec<(String, GroupState)>, usize)> {
        let keys: Vec<(String, Option<i64>)> = keys.iter().map(|k| (k.clone(), None)).collect();
        let out = self.read_groups(&keys)?;
        let open: i64 = self
            .tx
            .prepare_cached("SELECT COUNT(*) FROM groups")?
            .query_row([], |r| r.get(0))?;
        Ok((out, open.max(0) as usize))
    }

    /// By row (the hot path); by key (a scan: the groups table has no key index)
    /// only for a group whose row is not known.
    fn read_groups(&self, keys: &[(String, Option<i64>)]) -> Result<Vec<(String, GroupState)>> {
        let mut by_row = self
            .tx
            .prepare_cached("SELECT id, body FROM groups WHERE id = ?1 AND key = ?2")?;
        let mut by_key = self
            .tx
            .prepare_cached("SELECT id, body FROM groups WHERE key = ?1")?;
        let mut out = vec![];
        for (key, row) in keys {
            let found: Option<(i64, String)> = match row {
                Some(id) => by_row.query_row(params![id, key], |r| Ok((r.get(0)?, r.get(1)?))),
                None => by_key.query_row([key], |r| Ok((r.get(0)?, r.get(1)?))),
            }
            .optional()?;
            if let Some((id, body)) = found {
                if let Ok(mut g) = serde_json::from_str::<GroupState>(&body) {
                    g.row = Some(id);
                    out.push((key.clone(), g));
                }
            }
        }
        Ok(out)
    }

    fn lock_due_groups(&self, now_ms: i64, limit: usize) -> Result<Vec<(String, GroupState)>> {
        let mut st = self.tx.prepare_cached("SELECT key, body FROM groups")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = vec![];
        for row in rows {
            let (key, body) = row?;
            if let Ok(g) = serde_json::from_str::<GroupState>(&body) {
                if g.window_end_ms <= now_ms && out.len() < limit {
                    out.push((key, g));
                }
            }
        }
        Ok(out)
    }

    fn insert_notification(&self, n: &Notification, event_count: u64, now_ms: i64) -> Result<()> {
        Batch::insert_notification(self, n, event_count, now_ms).map(drop)
    }

    fn save_seeds(&self, seeds: &Seeds) -> Result<()> {
        let body = serde_json::to_string(seeds).map_err(|e| StoreError::Corrupt {
            what: "seeded groups".into(),
            message: e.to_string(),
        })?;
        self.tx
            .prepare_cached("INSERT INTO group_seeds (max_end, body) VALUES (?1, ?2)")?
            .execute(params![seeds.max_end(), body])?;
        Ok(())
    }

    fn drop_seeds(&self, now_ms: i64) -> Result<()> {
        self.tx
            .prepare_cached("DELETE FROM group_seeds WHERE max_end <= ?1")?
            .execute([now_ms])?;
        Ok(())
    }

    fn seed_events(&self, ids: &[i64]) -> Result<Vec<(i64, String, Option<String>)>> {
        super::views::seed_events(self.tx, ids)
    }

    /// A new group is appended (one page for many, where a key index would take a
    /// random page each); later saves and the delete find it by its row.
    fn save_group(
        &self,
        key: &str,
        row: Option<i64>,
        g: Option<&GroupState>,
    ) -> Result<Option<i64>> {
        let Some(g) = g else {
            // Without a row it was never saved: nothing to delete.
            if let Some(id) = row {
                self.tx
                    .prepare_cached("DELETE FROM groups WHERE id = ?1")?
                    .execute([id])?;
            }
            return Ok(None);
        };
        let mut json = self.group_json.borrow_mut();
        json.clear();
        let corrupt = |message: String| StoreError::Corrupt {
            what: "group".into(),
            message,
        };
        serde_json::to_writer(&mut *json, g).map_err(|e| corrupt(e.to_string()))?;
        let body = std::str::from_utf8(&json).map_err(|e| corrupt(e.to_string()))?;
        if let Some(id) = row {
            let n = self
                .tx
                .prepare_cached("UPDATE groups SET body = ?2 WHERE id = ?1")?
                .execute(params![id, body])?;
            if n == 1 {
                return Ok(Some(id));
            }
        }
        let mut insert = self.group_insert.borrow_mut();
        let st = match insert.as_mut() {
            Some(st) => st,
            None => insert.insert(
                self.tx
                    .prepare_cached("INSERT INTO groups (key, body) VALUES (?1, ?2)")?,
            ),
        };
        st.execute(params![key, body])?;
        Ok(Some(self.tx.last_insert_rowid()))
    }

    fn add_counters(&self, delta: &Counters) -> Result<()> {
        let mut st = self.tx.prepare_cached(
            "INSERT INTO counters (name, value) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
        )?;
        for name in Counters::NAMES {
            // Deltas may be negative (dead letters moved back to pending): two's complement.
            let v = delta.get(name) as i64;
            if v != 0 {
                st.execute(params![name, v])?;
            }
        }
        Ok(())
    }

    fn get_event(&self, sid: &str) -> Result<Option<String>> {
        super::event_body(self.tx, sid)
    }

    fn mark_applied(&self) -> Result<()> {
        self.tx
            .prepare_cached(
                "UPDATE meta SET value = (SELECT COALESCE(MAX(id), 0) FROM events) WHERE key = 'applied_through'",
            )?
            .execute([])?;
        Ok(())
    }

    /// Moves a pending notification to `state`; false if it was no longer pending
    /// (folded into a digest meanwhile), so the caller does not count it twice.
    fn set_state(
        &self,
        id: i64,
        state: State,
        attempts: u32,
        now_ms: i64,
        error: Option<&str>,
    ) -> Result<bool> {
        let n = self
            .tx
            .prepare_cached("UPDATE notifications SET state = ?2, attempts = ?3, updated_at = ?4, last_error = COALESCE(?5, last_error) WHERE id = ?1 AND state = 0")?
            .execute(params![id, state as i64, attempts, now_ms, error])?;
        Ok(n == 1)
    }

    /// A notification's accounted event count and whether it is a digest.
    fn accounting(&self, id: i64) -> Result<(u64, bool)> {
        let v: Option<(i64, bool)> = self
            .tx
            .prepare_cached("SELECT event_count, is_digest FROM notifications WHERE id = ?1")?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(v.map(|(n, d)| (n.max(0) as u64, d)).unwrap_or((0, false)))
    }

    fn pending_count(&self, channel: &str) -> Result<u64> {
        let v: i64 = self
            .tx
            .prepare_cached("SELECT COUNT(*) FROM notifications WHERE state = 0 AND channel = ?1")?
            .query_row([channel], |r| r.get(0))?;
        Ok(v.max(0) as u64)
    }

    /// Waiting, never-tried notifications of a channel that share a fold key (route +
    /// error code), counted in SQL from the fold index: no body is read.
    fn fold_buckets(&self, channel: &str) -> Result<Vec<FoldBucket>> {
        let mut st = self.tx.prepare_cached(
            "SELECT fold_key, COUNT(*), SUM(event_count), SUM(events), MIN(first_seen), MAX(last_seen), SUM(resources), MAX(id)
             FROM notifications INDEXED BY notifications_fold
             WHERE state = 0 AND attempts = 0 AND channel = ?1 AND fold_key IS NOT NULL
             GROUP BY fold_key HAVING COUNT(*) >= 2",
        )?;
        let rows = st.query_map([channel], |r| {
            Ok(FoldBucket {
                fold_key: r.get(0)?,
                rows: r.get::<_, i64>(1)?.max(0) as u64,
                event_count: r.get::<_, i64>(2)?.max(0) as u64,
                events: r.get::<_, i64>(3)?.max(0) as u64,
                first_seen_ms: r.get(4)?,
                last_seen_ms: r.get(5)?,
                resources: r.get::<_, i64>(6)?.max(0) as u64,
                max_id: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// The oldest `limit` rows of a bucket, with bodies: the merged digest's first
    /// event, resources and sample Sids.
    fn fold_samples(&self, channel: &str, b: &FoldBucket, limit: usize) -> Result<Vec<Queued>> {
        let mut st = self.tx.prepare_cached(&format!(
            "SELECT {QUEUED_COLUMNS} FROM notifications n LEFT JOIN events e ON e.sid = n.event_sid
             WHERE n.state = 0 AND n.attempts = 0 AND n.channel = ?1 AND n.fold_key = ?2 AND n.id <= ?3
             ORDER BY n.id LIMIT ?4"
        ))?;
        let rows = st.query_map(
            params![channel, b.fold_key, b.max_id, limit as i64],
            read_queued,
        )?;
        let mut out = vec![];
        for row in rows {
            out.push(parse_queued(row?)?);
        }
        Ok(out)
    }

    /// Marks every row of a bucket folded; returns how many.
    fn mark_folded(&self, channel: &str, b: &FoldBucket, now_ms: i64) -> Result<usize> {
        Ok(self
            .tx
            .prepare_cached(
                "UPDATE notifications SET state = 3, updated_at = ?4, last_error = 'folded into a digest (channel backlog)'
                 WHERE state = 0 AND attempts = 0 AND channel = ?1 AND fold_key = ?2 AND id <= ?3",
            )?
            .execute(params![channel, b.fold_key, b.max_id, now_ms])?)
    }

    /// A delivery succeeded: the channel works again, so what waits on a retry
    /// backoff is due now (oldest first, within the rate limit) instead of later.
    fn hurry_retries(&self, channel: &str, now_ms: i64) -> Result<usize> {
        Ok(self
            .tx
            .prepare_cached(
                "UPDATE notifications SET next_at = ?2 WHERE state = 0 AND channel = ?1 AND next_at > ?2 AND attempts > 0",
            )?
            .execute(params![channel, now_ms])?)
    }

    fn reschedule(
        &self,
        id: i64,
        attempts: u32,
        next_at_ms: i64,
        now_ms: i64,
        error: &str,
    ) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE notifications SET attempts = ?2, next_at = ?3, updated_at = ?4, last_error = ?5 WHERE id = ?1 AND state = 0")?
            .execute(params![id, attempts, next_at_ms, now_ms, error])?;
        Ok(())
    }

    /// Puts dead letters back in the queue (`id` = None: all) and moves the events
    /// they account for from dead-lettered back to pending; returns the rows requeued.
    fn requeue_dead(&self, id: Option<i64>, now_ms: i64) -> Result<usize> {
        let events = self.dead_event_count(id)?;
        let rows = self.retry_dead(id, now_ms)?;
        self.add_counters(&Counters {
            dead_lettered: 0u64.wrapping_sub(events),
            ..Default::default()
        })?;
        Ok(rows)
    }

    fn insert_silence(&self, s: &crate::silence::Silence) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO silences (id, definition, created_at, suppressed, last_match, expired_at, expired_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                s.id,
                s.definition_json(),
                s.created_at_ms,
                s.suppressed as i64,
                s.last_match_ms,
                s.expired_at_ms,
                s.expired_by
            ])?;
        Ok(())
    }

    fn silence(&self, id: &str) -> Result<Option<crate::silence::Silence>> {
        let row = self
            .tx
            .prepare_cached(&format!(
                "SELECT {} FROM silences WHERE id = ?1",
                super::views::SILENCE_COLUMNS
            ))?
            .query_row([id], super::views::silence_row)
            .optional()?;
        row.map(|(id, def, state)| super::views::silence_of(&id, &def, state))
            .transpose()
    }

    fn expire_silence(&self, id: &str, now_ms: i64, by: Option<&str>) -> Result<bool> {
        let n = self
            .tx
            .prepare_cached(
                "UPDATE silences SET expired_at = ?2, expired_by = ?3 WHERE id = ?1 AND expired_at IS NULL",
            )?
            .execute(params![id, now_ms, by])?;
        Ok(n == 1)
    }

    fn add_suppressed(&self, id: &str, events: u64, last_match_ms: i64) -> Result<()> {
        self.tx
            .prepare_cached(
                "UPDATE silences SET suppressed = suppressed + ?2,
                 last_match = MAX(COALESCE(last_match, ?3), ?3) WHERE id = ?1",
            )?
            .execute(params![id, events as i64, last_match_ms])?;
        Ok(())
    }

    fn add_silence_hits(&self, id: &str, route: &str, events: u64, sample_sid: &str) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO silence_routes (silence_id, route, events, sample_sid) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(silence_id, route) DO UPDATE SET events = events + excluded.events",
            )?
            .execute(params![id, route, events as i64, sample_sid])?;
        Ok(())
    }

    fn silence_hits(&self, id: &str) -> Result<Vec<crate::silence::SilenceHit>> {
        let mut st = self.tx.prepare_cached(
            "SELECT route, events, sample_sid FROM silence_routes WHERE silence_id = ?1 ORDER BY route",
        )?;
        let rows = st.query_map([id], |r| {
            Ok(crate::silence::SilenceHit {
                route: r.get(0)?,
                events: r.get::<_, i64>(1)?.max(0) as u64,
                sample_sid: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }
}

impl Batch<'_> {
    /// Queues a notification; returns its row id.
    pub fn insert_notification(
        &self,
        n: &Notification,
        event_count: u64,
        now_ms: i64,
    ) -> Result<i64> {
        // Without the event: it is the `events` row of `event_sid`, joined back on read.
        let body = n.to_stored_json().map_err(|e| StoreError::Corrupt {
            what: "notification".into(),
            message: e.to_string(),
        })?;
        let mut st = self.tx.prepare_cached(
            "INSERT INTO notifications (channel, route, group_key, event_sid, is_digest, body, state, attempts, next_at, created_at, updated_at, event_count,
                                        fold_key, events, first_seen, last_seen, resources)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 0, ?7, ?7, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )?;
        let f = n.fold_summary();
        st.execute(params![
            n.channel,
            n.route,
            n.group_key,
            n.event.sid.as_str(),
            n.digest.is_some(),
            body,
            now_ms,
            event_count as i64,
            f.fold_key,
            f.events as i64,
            f.first_seen_ms,
            f.last_seen_ms,
            f.resources as i64,
        ])?;
        Ok(self.tx.last_insert_rowid())
    }

    fn retry_dead(&self, id: Option<i64>, now_ms: i64) -> Result<usize> {
        let n = match id {
            Some(id) => self.tx.execute(
                "UPDATE notifications SET state = 0, attempts = 0, next_at = ?2, updated_at = ?2, created_at = ?2 WHERE id = ?1 AND state = 2",
                params![id, now_ms],
            )?,
            None => self.tx.execute(
                "UPDATE notifications SET state = 0, attempts = 0, next_at = ?1, updated_at = ?1, created_at = ?1 WHERE state = 2",
                params![now_ms],
            )?,
        };
        Ok(n)
    }

    fn dead_event_count(&self, id: Option<i64>) -> Result<u64> {
        let v: i64 = match id {
            Some(id) => self.tx.query_row("SELECT COALESCE(SUM(event_count),0) FROM notifications WHERE id = ?1 AND state = 2", [id], |r| r.get(0))?,
            None => self.tx.query_row("SELECT COALESCE(SUM(event_count),0) FROM notifications WHERE state = 2", [], |r| r.get(0))?,
        };
        Ok(v.max(0) as u64)
    }
}
