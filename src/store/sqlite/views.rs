//! What the console and `/api/v1/` read (SPEC 15), and the indexed columns of an
//! event they filter on. Every listing is an indexed query with keyset pagination
//! (`id < before`, newest first), never OFFSET, so a page costs the same at
//! 1,000,000 stored events as at 100.

use super::{Batch, Reader};
use crate::group::{GroupState, Seeds};
use crate::store::{
    Backlog, CodeSeries, EventFilter, EventPage, EventRow, EventSummary, NotificationView, Result,
    State, StoreError, RESOURCE_SCAN,
};
use rusqlite::{params, OptionalExtension};

impl Batch<'_> {
    /// Stores an event with its filter columns, and counts it into its minute for the
    /// overview chart; false when its Sid was seen before (a Twilio retry).
    pub fn insert_indexed_event(&self, e: &EventRow<'_>) -> Result<bool> {
        self.insert_indexed_events(std::slice::from_ref(e))
            .map(|new| new[0].is_some())
    }

    /// [`Batch::insert_indexed_event`] for each row, one statement looked up for all.
    pub fn insert_indexed_events(&self, rows: &[EventRow<'_>]) -> Result<Vec<Option<i64>>> {
        let mut st = self.tx.prepare_cached(
            "INSERT OR IGNORE INTO events (sid, received_at, body, error_code, resource_sid, level, route)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        rows.iter().map(|e| self.insert_with(&mut st, e)).collect()
    }

    /// One row through the statement `st`; its id, or `None` for a Sid seen before.
    fn insert_with(
        &self,
        st: &mut rusqlite::CachedStatement<'_>,
        e: &EventRow<'_>,
    ) -> Result<Option<i64>> {
        let new = st.execute(params![
            e.sid,
            e.received_at_ms,
            e.body,
            e.error_code,
            e.resource_sid,
            e.level,
            e.route
        ])? == 1;
        if new {
            *self
                .minutes
                .borrow_mut()
                .entry((
                    e.received_at_ms.div_euclid(60_000),
                    e.error_code.unwrap_or(0),
                ))
                .or_default() += 1;
        }
        Ok(new.then(|| self.tx.last_insert_rowid()))
    }
}

/// The lowest id of the events received at or after `ms` (every event with a lower
/// id was received before): a binary search over ids, a few point reads, since one
/// writer stamps and inserts events in order (`received_at` grows with `id`), so no
/// index on `received_at` costs an entry per event on the ingest path.
pub(super) fn first_id_since(conn: &rusqlite::Connection, ms: i64) -> Result<i64> {
    let (min, max): (Option<i64>, Option<i64>) = conn
        // One aggregate per subquery: SQLite reads MIN or MAX off the primary key
        // only when it is the query's only aggregate (both at once scan the table).
        .prepare_cached("SELECT (SELECT MIN(id) FROM events), (SELECT MAX(id) FROM events)")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let (Some(mut lo), Some(max)) = (min, max) else {
        return Ok(0);
    };
    let mut hi = max + 1;
    let mut probe = conn
        .prepare_cached("SELECT id, received_at FROM events WHERE id >= ?1 ORDER BY id LIMIT 1")?;
    // Ids below `lo` were received before `ms`; the answer is below `hi` or is the
    // first id at or after it.
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let row: Option<(i64, i64)> = probe
            .query_row([mid], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        match row {
            Some((id, at)) if at < ms => lo = id + 1,
            _ => hi = mid,
        }
    }
    Ok(lo)
}

/// `source`: which path the event came by, read from the stored JSON of the rows
/// returned only (events stored before the field existed came by the Debugger).
const SUMMARY: &str = "SELECT id, sid, received_at, error_code, resource_sid, level, route,
    COALESCE(json_extract(body, '$.source'), 'debugger') FROM events";

fn summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventSummary> {
    Ok(EventSummary {
        id: r.get(0)?,
        sid: r.get(1)?,
        received_at_ms: r.get(2)?,
        error_code: r.get(3)?,
        resource_sid: r.get(4)?,
        level: r.get(5)?,
        route: r.get(6)?,
        source: r.get(7)?,
    })
}

impl Reader {
    /// Events newest first. `since` becomes a lower id bound (ids grow with arrival:
    /// one writer stamps and inserts in order), so a page walks the primary key
    /// backwards and stops at `limit`, or with a filter at a bounded stretch.
    pub fn events(&self, f: &EventFilter, limit: usize) -> Result<EventPage> {
        let mut sql = format!("{SUMMARY} WHERE id < ?1");
        let mut args: Vec<rusqlite::types::Value> = vec![f.before.unwrap_or(i64::MAX).into()];
        let mut add = |clause: &str, v: rusqlite::types::Value| {
            args.push(v);
            sql.push_str(&format!(" AND {clause} ?{}", args.len()));
        };
        if let Some(c) = f.code {
            add("error_code =", i64::from(c).into());
        }
        if let Some(r) = &f.resource {
            add("resource_sid =", r.clone().into());
        }
        if let Some(l) = &f.level {
            add("level =", l.clone().into());
        }
        if let Some(r) = &f.route {
            add("route =", r.clone().into());
        }
        // No filter column is indexed: each index is an entry per event on the
        // ingest path (resource_sid's random keys the costliest; error_code's cost
        // 12 % of the engine's instructions per event), and level, route and code
        // have a few values each. With any filter a page looks at RESOURCE_SCAN
        // events at most and pages on from there; the per-minute counts say how
        // many of a code there are.
        let filtered =
            f.code.is_some() || f.resource.is_some() || f.level.is_some() || f.route.is_some();
        let floor = if filtered {
            let top = match f.before {
                Some(b) => b,
                None => self
                    .conn
                    .prepare_cached("SELECT COALESCE(MAX(id), 0) + 1 FROM events")?
                    .query_row([], |r| r.get::<_, i64>(0))?,
            };
            let floor = top - RESOURCE_SCAN;
            add("id >=", floor.into());
            Some(floor)
        } else {
            None
        };
        let since = match f.since_ms {
            Some(ms) => first_id_since(&self.conn, ms)?,
            None => 1,
        };
        if f.since_ms.is_some() {
            add("id >=", since.into());
        }
        args.push((limit as i64 + 1).into());
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ?{}", args.len()));
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut events: Vec<EventSummary> = st
            .query_map(rusqlite::params_from_iter(args), summary)?
            .collect::<std::result::Result<_, _>>()?;
        let next = if events.len() > limit {
            events.truncate(limit);
            events.last().map(|e| e.id)
        } else {
            // The scanned stretch is done; older events may match too.
            floor.filter(|f| *f > since.max(1))
        };
        Ok(EventPage { events, next })
    }

    /// One event: its summary and stored body (JSON).
    pub fn event(&self, sid: &str) -> Result<Option<(EventSummary, String)>> {
        let sql = format!("{SUMMARY} WHERE sid = ?1");
        let row = self
            .conn
            .prepare_cached(&sql)?
            .query_row([sid], summary)
            .optional()?;
        let Some(s) = row else { return Ok(None) };
        let body: String = self
            .conn
            .prepare_cached("SELECT body FROM events WHERE id = ?1")?
            .query_row([s.id], |r| r.get(0))?;
        Ok(Some((s, body)))
    }

    /// Every notification made for an event, oldest first.
    pub fn notifications_of(&self, sid: &str) -> Result<Vec<NotificationView>> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, channel, route, group_key, is_digest, state, attempts, last_error, created_at, updated_at, next_at
             FROM notifications WHERE event_sid = ?1 ORDER BY id",
        )?;
        let rows = st.query_map([sid], |r| {
            Ok(NotificationView {
                id: r.get(0)?,
                channel: r.get(1)?,
                route: r.get(2)?,
                group_key: r.get(3)?,
                is_digest: r.get(4)?,
                state: State::name(r.get(5)?),
                attempts: r.get(6)?,
                last_error: r.get(7)?,
                created_at_ms: r.get(8)?,
                updated_at_ms: r.get(9)?,
                next_at_ms: r.get(10)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Open groups by key, at most `limit` after the key `after` (keyset): rows and
    /// seeds. The groups table has no key index (v6): each page scans it for its
    /// first keys.
    pub fn open_groups(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, GroupState)>> {
        let after = after.unwrap_or("");
        let rows = self.groups_where(
            "SELECT id, key, body FROM groups WHERE key > ?1 ORDER BY key LIMIT ?2",
            params![after, limit as i64],
        )?;
        let mut out: Vec<(String, GroupState)> = rows.into_iter().map(|(_, k, g)| (k, g)).collect();
        let seeds = self.live_seeds()?;
        let mut seeded: Vec<&(String, usize, usize)> = seeds
            .live
            .iter()
            .filter(|(k, ..)| k.as_str() > after)
            .collect();
        if seeded.is_empty() {
            return Ok(out);
        }
        seeded.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        seeded.truncate(limit);
        out.extend(seeds.states(&self.conn, seeded.into_iter())?);
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out.truncate(limit);
        Ok(out)
    }

    /// Open groups in the order stored: rows by id (each page reads only its rows),
    /// then the seeded groups (cursor `s<n>`: from the n-th).
    pub fn scan_groups(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<crate::store::GroupScan> {
        if let Some(n) = after.and_then(|a| a.strip_prefix('s')) {
            let from: usize = n.parse().unwrap_or(0);
            let seeds = self.live_seeds()?;
            let page = seeds.live.iter().skip(from).take(limit);
            let groups = seeds.states(&self.conn, page)?;
            let next = (seeds.live.len() > from + limit).then(|| format!("s{}", from + limit));
            return Ok((groups, next));
        }
        let from: i64 = after.and_then(|a| a.parse().ok()).unwrap_or(0);
        let rows = self.groups_where(
            "SELECT id, key, body FROM groups WHERE id > ?1 ORDER BY id LIMIT ?2",
            params![from, limit as i64],
        )?;
        let next = if rows.len() == limit {
            rows.last().map(|(id, _, _)| id.to_string())
        } else {
            let any: bool = self
                .conn
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM group_seeds)")?
                .query_row([], |r| r.get(0))?;
            any.then(|| "s0".to_string())
        };
        Ok((rows.into_iter().map(|(_, k, g)| (k, g)).collect(), next))
    }

    /// The seeded groups the store holds that have no row of its own (a row is
    /// newer: the group was counted into since), the later seed of a key winning.
    fn live_seeds(&self) -> Result<LiveSeeds> {
        let mut st = self
            .conn
            .prepare_cached("SELECT body FROM group_seeds ORDER BY id")?;
        let bodies = st.query_map([], |r| r.get::<_, String>(0))?;
        let mut rows = Vec::new();
        for body in bodies {
            rows.push(parse_seeds(&body?)?);
        }
        let mut latest: std::collections::HashMap<&str, (usize, usize)> = Default::default();
        for (r, s) in rows.iter().enumerate() {
            for (i, (key, ..)) in s.groups.iter().enumerate() {
                latest.insert(key.as_str(), (r, i));
            }
        }
        let mut with_rows = std::collections::HashSet::new();
        if !latest.is_empty() {
            let mut st = self.conn.prepare_cached("SELECT key FROM groups")?;
            for k in st.query_map([], |r| r.get::<_, String>(0))? {
                with_rows.insert(k?);
            }
        }
        let mut live: Vec<(String, usize, usize)> = latest
            .into_iter()
            .filter(|(k, _)| !with_rows.contains(*k))
            .map(|(k, (r, i))| (k.to_string(), r, i))
            .collect();
        live.sort_unstable_by_key(|(_, r, i)| (*r, *i));
        Ok(LiveSeeds { rows, live })
    }

    fn groups_where(
        &self,
        sql: &str,
        p: impl rusqlite::Params,
    ) -> Result<Vec<(i64, String, GroupState)>> {
        let mut st = self.conn.prepare_cached(sql)?;
        let rows = st.query_map(p, |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = vec![];
        for row in rows {
            let (id, key, body) = row?;
            let g = serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
                what: format!("group {key}"),
                message: e.to_string(),
            })?;
            out.push((id, key, g));
        }
        Ok(out)
    }

    /// Waiting work of one channel (the `notifications_due` index).
    pub fn backlog(&self, channel: &str, now_ms: i64) -> Result<Backlog> {
        let (pending, retrying, next): (i64, i64, Option<i64>) = self
            .conn
            .prepare_cached(
                "SELECT COUNT(*), COALESCE(SUM(next_at > ?2), 0), MIN(next_at) FROM notifications
                 WHERE state = 0 AND channel = ?1",
            )?
            .query_row(params![channel, now_ms], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
        Ok(Backlog {
            pending: pending.max(0) as u64,
            retrying: retrying.max(0) as u64,
            next_due_ms: next,
        })
    }

    /// The error of a channel's latest dead letter: why it is broken, when it is.
    pub fn last_dead_error(&self, channel: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT last_error FROM notifications WHERE state = 2 AND channel = ?1 ORDER BY updated_at DESC LIMIT 1",
            )?
            .query_row([channel], |r| r.get::<_, Option<String>>(0))
            .optional()?
            .flatten())
    }

    /// Events per minute since `since_ms` for the `top` codes with the most events
    /// (all codes when `only` names one).
    pub fn per_minute(
        &self,
        since_ms: i64,
        top: usize,
        only: Option<u32>,
    ) -> Result<Vec<CodeSeries>> {
        let from = since_ms.div_euclid(60_000);
        let mut st = self.conn.prepare_cached(
            "SELECT error_code, minute, count FROM event_minutes WHERE minute >= ?1 ORDER BY error_code, minute",
        )?;
        let rows = st.query_map([from], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let minutes = rows
            .map(|row| {
                row.map(|(code, minute, count)| {
                    (
                        u32::try_from(code).unwrap_or(0),
                        minute,
                        count.max(0) as u64,
                    )
                })
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(crate::store::code_series(minutes, top, only))
    }
}

/// The columns a silence is read from, in [`silence_of`]'s order.
pub(super) const SILENCE_COLUMNS: &str =
    "id, definition, suppressed, last_match, expired_at, expired_by";

/// A silences row (see [`SILENCE_COLUMNS`]) as the definition's id, JSON and state.
pub(super) fn silence_row(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<(String, String, crate::silence::SilenceState)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        crate::silence::SilenceState {
            suppressed: r.get::<_, i64>(2)?.max(0) as u64,
            last_match_ms: r.get(3)?,
            expired_at_ms: r.get(4)?,
            expired_by: r.get(5)?,
        },
    ))
}

/// Rows of `SELECT {SILENCE_COLUMNS} ...` as silences (a row that no longer parses
/// is a corrupt row, named).
pub(super) fn silences_of(
    st: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
) -> Result<Vec<crate::silence::Silence>> {
    let rows = st.query_map(params, silence_row)?;
    let mut out = vec![];
    for row in rows {
        let (id, def, state) = row?;
        out.push(silence_of(&id, &def, state)?);
    }
    Ok(out)
}

pub(super) fn silence_of(
    id: &str,
    def: &str,
    state: crate::silence::SilenceState,
) -> Result<crate::silence::Silence> {
    crate::silence::Silence::from_stored(id, def, state).map_err(|e| StoreError::Corrupt {
        what: format!("silence {id}"),
        message: e,
    })
}

impl Reader {
    /// Silences, newest first: not expired ones, or (`all`) every one.
    pub fn silences(&self, all: bool) -> Result<Vec<crate::silence::Silence>> {
        let sql = if all {
            format!("SELECT {SILENCE_COLUMNS} FROM silences ORDER BY created_at DESC, id")
        } else {
            format!("SELECT {SILENCE_COLUMNS} FROM silences WHERE expired_at IS NULL ORDER BY created_at DESC, id")
        };
        let mut st = self.conn.prepare_cached(&sql)?;
        silences_of(&mut st, [])
    }
}

/// The seeds' rows a view read, and the groups in them still open: (key, row,
/// index in the row).
struct LiveSeeds {
    rows: Vec<Seeds>,
    live: Vec<(String, usize, usize)>,
}

impl LiveSeeds {
    /// The states of seeded groups `page`, from their events' Sids and resources.
    fn states<'a>(
        &self,
        conn: &rusqlite::Connection,
        page: impl Iterator<Item = &'a (String, usize, usize)>,
    ) -> Result<Vec<(String, GroupState)>> {
        let page: Vec<&(String, usize, usize)> = page.collect();
        let ids: Vec<i64> = page
            .iter()
            .map(|(_, r, i)| self.rows[*r].groups[*i].3)
            .collect();
        let facts: std::collections::HashMap<i64, (String, Option<String>)> =
            seed_events(conn, &ids)?
                .into_iter()
                .map(|(id, sid, resource)| (id, (sid, resource)))
                .collect();
        Ok(page
            .into_iter()
            .filter_map(|(key, r, i)| {
                let seeds = &self.rows[*r];
                let (sid, resource) = facts.get(&seeds.groups[*i].3)?;
                let g = seeds.state(*i, sid, resource.as_deref())?;
                Some((key.clone(), g))
            })
            .collect())
    }
}

pub(super) fn parse_seeds(body: &str) -> Result<Seeds> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt {
        what: "seeded groups".into(),
        message: e.to_string(),
    })
}

/// The Sid and resource of stored events `ids` (seeded groups' first events).
pub(super) fn seed_events(
    conn: &rusqlite::Connection,
    ids: &[i64],
) -> Result<Vec<(i64, String, Option<String>)>> {
    let mut st = conn.prepare_cached("SELECT sid, resource_sid FROM events WHERE id = ?1")?;
    let mut out = Vec::with_capacity(ids.len());
    for &id in ids {
        if let Some((sid, resource)) = st
            .query_row([id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
            })
            .optional()?
        {
            out.push((id, sid, resource));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Outbox, OutboxTx, Store};

    fn store_with(n: i64) -> (tempfile::TempDir, Reader) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut s = Store::open(&path).unwrap();
        s.batch(|b| {
            for i in 1..=n {
                let sid = format!("NO{i:032x}");
                let res = format!("CA{}", i % 3);
                b.insert_indexed_event(&EventRow {
                    sid: &sid,
                    received_at_ms: i * 60_000,
                    body: "{}",
                    error_code: Some(if i % 2 == 0 { 11200 } else { 30003 }),
                    resource_sid: Some(&res),
                    level: Some("error"),
                    route: (i % 5 != 0).then_some("voice"),
                })?;
            }
            Ok(())
        })
        .unwrap();
        (dir, Reader::open(&path).unwrap())
    }

    /// The silence preview's scan pages by row and reaches every group once,
    /// across the gaps deleted groups leave.
    #[test]
    fn scan_groups_pages_by_row_through_every_group() {
        let (dir, _) = store_with(1);
        let mut s = Store::open(&dir.path().join("s.db")).unwrap();
        let ev: crate::event::DebuggerEvent = serde_json::from_value(serde_json::json!({
            "sid": format!("NO{:032x}", 1), "account_sid": format!("AC{:032x}", 1),
            "level": "error", "payload": {"state": "parsed", "error_code": 11200, "resource_sid": "CA1"},
            "received_at_ms": 0
        }))
        .unwrap();
        let g = crate::group::GroupState::open("r", vec!["c".into()], None, None, 1000, &ev, 0);
        let rows: Vec<Option<i64>> = s
            .batch(|b| {
                (0..1203)
                    .map(|i| b.save_group(&format!("k{i}"), None, Some(&g)))
                    .collect()
            })
            .unwrap();
        s.batch(|b| {
            for row in rows.iter().step_by(7) {
                b.save_group("", *row, None)?;
            }
            Ok(())
        })
        .unwrap();
        let r = Reader::open(&dir.path().join("s.db")).unwrap();
        let (mut seen, mut after, mut pages) = (vec![], None::<String>, 0);
        loop {
            let (page, next) = r.scan_groups(after.as_deref(), 500).unwrap();
            pages += 1;
            seen.extend(page.into_iter().map(|(k, _)| k));
            after = next;
            if after.is_none() {
                break;
            }
        }
        let want: Vec<String> = (0..1203)
            .filter(|i| i % 7 != 0)
            .map(|i| format!("k{i}"))
            .collect();
        assert_eq!(seen, want, "every group once, in stored order");
        assert_eq!(pages, 3);
    }

    /// `since` and pruning find their first id by binary search, also across the
    /// gaps pruning leaves.
    #[test]
    fn first_id_since_searches_ids_by_received_at() {
        let (_d, r) = store_with(40);
        // Event i was received at minute i.
        assert_eq!(first_id_since(&r.conn, 0).unwrap(), 1);
        assert_eq!(first_id_since(&r.conn, 17 * 60_000).unwrap(), 17);
        assert_eq!(first_id_since(&r.conn, 17 * 60_000 + 1).unwrap(), 18);
        assert_eq!(first_id_since(&r.conn, 41 * 60_000).unwrap(), 41);
        let w = Store::open(&_d.path().join("s.db")).unwrap();
        w.conn
            .execute(
                "DELETE FROM events WHERE id BETWEEN 10 AND 30 OR id < 4",
                [],
            )
            .unwrap();
        drop(w);
        for (ms, id) in [
            (0, 4),
            (5 * 60_000, 5),
            (12 * 60_000, 31),
            (31 * 60_000, 31),
            (35 * 60_000, 35),
        ] {
            let found = first_id_since(&r.conn, ms).unwrap();
            let n: i64 = r
                .conn
                .query_row("SELECT COUNT(*) FROM events WHERE id >= ?1", [found], |x| {
                    x.get(0)
                })
                .unwrap();
            let want: i64 = r
                .conn
                .query_row(
                    "SELECT COUNT(*) FROM events WHERE received_at >= ?1",
                    [ms],
                    |x| x.get(0),
                )
                .unwrap();
            assert_eq!(n, want, "since {ms}");
            assert!(found <= id, "since {ms}: {found}");
        }
        let f = EventFilter {
            since_ms: Some(33 * 60_000),
            ..Default::default()
        };
        let ids: Vec<i64> = r
            .events(&f, 50)
            .unwrap()
            .events
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, (33..=40).rev().collect::<Vec<_>>());
    }

    #[test]
    fn pages_newest_first_by_keyset_with_filters() {
        let (_d, r) = store_with(25);
        let f = EventFilter {
            code: Some(11200),
            ..Default::default()
        };
        let p1 = r.events(&f, 5).unwrap();
        let ids: Vec<i64> = p1.events.iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![24, 22, 20, 18, 16]);
        let p2 = r
            .events(
                &EventFilter {
                    before: p1.next,
                    ..f.clone()
                },
                5,
            )
            .unwrap();
        assert_eq!(p2.events.first().map(|e| e.id), Some(14));
        let last = r
            .events(
                &EventFilter {
                    before: Some(3),
                    ..f
                },
                5,
            )
            .unwrap();
        assert_eq!((last.events.len(), last.next), (1, None));
        let since = EventFilter {
            since_ms: Some(20 * 60_000),
            resource: Some("CA2".into()),
            ..Default::default()
        };
        let ids: Vec<i64> = r
            .events(&since, 50)
            .unwrap()
            .events
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, vec![23, 20]);
        let unrouted = EventFilter {
            route: Some("voice".into()),
            ..Default::default()
        };
        assert_eq!(r.events(&unrouted, 50).unwrap().events.len(), 20);
        let level = EventFilter {
            level: Some("warning".into()),
            ..Default::default()
        };
        assert!(r.events(&level, 50).unwrap().events.is_empty());
    }

    #[test]
    fn counts_events_per_minute_by_code() {
        let (_d, r) = store_with(10);
        let s = r.per_minute(0, 5, None).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s.iter().map(|c| c.total).sum::<u64>(), 10);
        let only = r.per_minute(5 * 60_000, 5, Some(11200)).unwrap();
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].minutes, vec![(6, 1), (8, 1), (10, 1)]);
        let (ev, _) = r.event(&format!("NO{:032x}", 4)).unwrap().unwrap();
        assert_eq!(
            (ev.error_code, ev.route.as_deref()),
            (Some(11200), Some("voice"))
        );
    }

    /// The ingest cost of the filter columns, indexes and per-minute counts, against
    /// the same store without them (what V2 wrote). A measurement, not a check:
    /// `cargo test --release --lib insert_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn insert_cost() {
        let body = "x".repeat(900);
        let run = |indexed: bool, n: i64| {
            let dir = tempfile::tempdir().unwrap();
            let mut s = Store::open(&dir.path().join("s.db")).unwrap();
            let t = std::time::Instant::now();
            for chunk in 0..n / 500 {
                s.batch(|b| {
                    for i in chunk * 500..(chunk + 1) * 500 {
                        let sid = format!("NO{:032x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15_u64 as i64));
                        let res = format!("CA{:032x}", (i % 5000).wrapping_mul(0x2545_f491_4f6c_dd1d));
                        if indexed {
                            b.insert_indexed_event(&EventRow {
                                sid: &sid,
                                received_at_ms: i * 10,
                                body: &body,
                                error_code: Some(11200 + (i % 8) as u32),
                                resource_sid: Some(&res),
                                level: Some("error"),
                                route: Some("voice"),
                            })?;
                        } else {
                            b.tx.prepare_cached("INSERT OR IGNORE INTO events (sid, received_at, body) VALUES (?1, ?2, ?3)")?
                                .execute(params![sid, i * 10, body])?;
                        }
                    }
                    Ok(())
                })
                .unwrap();
            }
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        };
        for n in [20_000, 200_000] {
            let (plain, indexed) = (run(false, n), run(true, n));
            println!("{n} events: {plain:.1} µs/event without, {indexed:.1} µs/event with the console's columns (+{:.1} µs)", indexed - plain);
        }
    }
}
