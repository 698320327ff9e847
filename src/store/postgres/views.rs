//! Read views on PostgreSQL for the CLI, the API and the console: the same
//! listings as the SQLite store's, indexed and keyset-paginated.

use super::rows::{parse_groups, silence_of, SILENCE_COLUMNS};
use super::Pg;
use crate::group::GroupState;
use crate::store::{
    Backlog, CodeSeries, DeadLetter, EventFilter, EventPage, EventSummary, NotificationView,
    Result, State, Views,
};
use tokio_postgres::types::ToSql;

pub struct PgViews {
    pg: Pg,
}

impl PgViews {
    pub fn open(url: &str) -> Result<PgViews> {
        Ok(PgViews {
            pg: Pg::connect(url)?,
        })
    }
}

const SUMMARY: &str = "SELECT id, sid, received_at, error_code, resource_sid, level, route,
    COALESCE(body::jsonb ->> 'source', 'debugger') FROM events";

fn summary(r: &tokio_postgres::Row) -> EventSummary {
    EventSummary {
        id: r.get(0),
        sid: r.get(1),
        received_at_ms: r.get(2),
        error_code: r.get::<_, Option<i32>>(3).map(|c| c.max(0) as u32),
        resource_sid: r.get(4),
        level: r.get(5),
        route: r.get(6),
        source: r.get(7),
    }
}

impl Views for PgViews {
    fn silences(&self, all: bool) -> Result<Vec<crate::silence::Silence>> {
        let sql = format!(
            "SELECT {SILENCE_COLUMNS} FROM silences {} ORDER BY created_at DESC, id",
            if all { "" } else { "WHERE expired_at IS NULL" }
        );
        let rows = self.pg.run(self.pg.query(&sql, &[]))?;
        rows.iter().map(silence_of).collect()
    }

    fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        Ok(self.dead_letter_page(None, usize::MAX)?.0)
    }

    fn dead_letter_page(&self, after: Option<i64>, limit: usize) -> Result<(Vec<DeadLetter>, u64)> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.pg.run(self.pg.query(
            "SELECT id, channel, route, group_key, event_sid, is_digest, attempts,
                 COALESCE(last_error, ''), created_at, updated_at
             FROM notifications WHERE state = 2 AND id > $1 ORDER BY id LIMIT $2",
            &[&after.unwrap_or(0), &limit],
        ))?;
        let total = self.pg.run(
            self.pg
                .query_one("SELECT COUNT(*) FROM notifications WHERE state = 2", &[]),
        )?;
        Ok((
            rows.iter()
                .map(|r| DeadLetter {
                    id: r.get(0),
                    channel: r.get(1),
                    route: r.get(2),
                    group_key: r.get(3),
                    event_sid: r.get(4),
                    is_digest: r.get(5),
                    attempts: r.get::<_, i32>(6).max(0) as u32,
                    last_error: r.get(7),
                    created_at_ms: r.get(8),
                    updated_at_ms: r.get(9),
                })
                .collect(),
            total.get::<_, i64>(0).max(0) as u64,
        ))
    }

    fn pending_count(&self, channel: &str) -> Result<u64> {
        let r = self.pg.run(self.pg.query_one(
            "SELECT COUNT(*) FROM notifications WHERE state = 0 AND channel = $1",
            &[&channel],
        ))?;
        Ok(r.get::<_, i64>(0).max(0) as u64)
    }

    /// Every filter walks a `(column, id)` index backwards from the cursor.
    fn events(&self, f: &EventFilter, limit: usize) -> Result<EventPage> {
        let mut args: Vec<Box<dyn ToSql + Sync>> = vec![Box::new(f.before.unwrap_or(i64::MAX))];
        let mut sql = format!("{SUMMARY} WHERE id < $1");
        let mut add = |clause: &str, v: Box<dyn ToSql + Sync>| {
            args.push(v);
            sql.push_str(&format!(" AND {clause} ${}", args.len()));
        };
        if let Some(c) = f.code {
            add("error_code =", Box::new(c as i32));
        }
        if let Some(r) = &f.resource {
            add("resource_sid =", Box::new(r.clone()));
        }
        if let Some(l) = &f.level {
            add("level =", Box::new(l.clone()));
        }
        if let Some(r) = &f.route {
            add("route =", Box::new(r.clone()));
        }
        if let Some(since) = f.since_ms {
            add("received_at >=", Box::new(since));
        }
        args.push(Box::new(limit as i64 + 1));
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", args.len()));
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|b| &**b).collect();
        let rows = self.pg.run(self.pg.query(&sql, &params))?;
        let mut events: Vec<EventSummary> = rows.iter().map(summary).collect();
        let next = if events.len() > limit {
            events.truncate(limit);
            events.last().map(|e| e.id)
        } else {
            None
        };
        Ok(EventPage { events, next })
    }

    fn event(&self, sid: &str) -> Result<Option<(EventSummary, String)>> {
        let sql = format!(
            "SELECT s.*, e.body FROM ({SUMMARY} WHERE sid = $1) s JOIN events e ON e.id = s.id"
        );
        Ok(self
            .pg
            .run(self.pg.query_opt(&sql, &[&sid]))?
            .map(|r| (summary(&r), r.get::<_, String>(8))))
    }

    fn event_body(&self, sid: &str) -> Result<Option<String>> {
        Ok(self
            .pg
            .run(
                self.pg
                    .query_opt("SELECT body FROM events WHERE sid = $1", &[&sid]),
            )?
            .map(|r| r.get::<_, String>(0)))
    }

    fn notifications_of(&self, sid: &str) -> Result<Vec<NotificationView>> {
        let rows = self.pg.run(self.pg.query(
            "SELECT id, channel, route, group_key, is_digest, state, attempts, last_error,
                 created_at, updated_at, next_at
             FROM notifications WHERE event_sid = $1 ORDER BY id",
            &[&sid],
        ))?;
        Ok(rows
            .iter()
            .map(|r| NotificationView {
                id: r.get(0),
                channel: r.get(1),
                route: r.get(2),
                group_key: r.get(3),
                is_digest: r.get(4),
                state: State::name(i64::from(r.get::<_, i16>(5))),
                attempts: r.get::<_, i32>(6).max(0) as u32,
                last_error: r.get(7),
                created_at_ms: r.get(8),
                updated_at_ms: r.get(9),
                next_at_ms: r.get(10),
            })
            .collect())
    }

    fn open_groups(&self, after: Option<&str>, limit: usize) -> Result<Vec<(String, GroupState)>> {
        let rows = self.pg.run(self.pg.query(
            "SELECT key, body FROM groups WHERE key > $1 ORDER BY key LIMIT $2",
            &[&after.unwrap_or(""), &(limit as i64)],
        ))?;
        Ok(parse_groups(rows))
    }

    /// By key: PostgreSQL's groups are indexed by it.
    fn scan_groups(&self, after: Option<&str>, limit: usize) -> Result<crate::store::GroupScan> {
        let rows = self.open_groups(after, limit)?;
        let next = (rows.len() == limit)
            .then(|| rows.last().map(|(k, _)| k.clone()))
            .flatten();
        Ok((rows, next))
    }

    fn backlog(&self, channel: &str, now_ms: i64) -> Result<Backlog> {
        let r = self.pg.run(self.pg.query_one(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE next_at > $2), MIN(next_at)
             FROM notifications WHERE state = 0 AND channel = $1",
            &[&channel, &now_ms],
        ))?;
        Ok(Backlog {
            pending: r.get::<_, i64>(0).max(0) as u64,
            retrying: r.get::<_, i64>(1).max(0) as u64,
            next_due_ms: r.get(2),
        })
    }

    fn last_dead_error(&self, channel: &str) -> Result<Option<String>> {
        Ok(self
            .pg
            .run(self.pg.query_opt(
                "SELECT last_error FROM notifications WHERE state = 2 AND channel = $1
                 ORDER BY updated_at DESC LIMIT 1",
                &[&channel],
            ))?
            .and_then(|r| r.get(0)))
    }

    fn size_bytes(&self) -> Result<u64> {
        let r = self.pg.run(
            self.pg
                .query_one("SELECT pg_database_size(current_database())", &[]),
        )?;
        Ok(r.get::<_, i64>(0).max(0) as u64)
    }

    fn per_minute(&self, since_ms: i64, top: usize, only: Option<u32>) -> Result<Vec<CodeSeries>> {
        let rows = self.pg.run(self.pg.query(
            "SELECT error_code, minute, count FROM event_minutes WHERE minute >= $1
             ORDER BY error_code, minute",
            &[&since_ms.div_euclid(60_000)],
        ))?;
        let minutes = rows.iter().map(|r| {
            (
                u32::try_from(r.get::<_, i32>(0)).unwrap_or(0),
                r.get::<_, i64>(1),
                r.get::<_, i64>(2).max(0) as u64,
            )
        });
        Ok(crate::store::code_series(minutes, top, only))
    }
}
