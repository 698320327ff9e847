//! One engine transaction on PostgreSQL, two round trips however many events it
//! carries: `BEGIN`, the events' multi-row insert, the group locks and the group
//! reads go in one pipeline ([`OutboxTx::insert_and_lock`]); notifications, group
//! states, per-minute counts and counters are gathered and written with one
//! statement when the batch ends, pipelined with the commit ([`PgBatch::commit`]),
//! which releases the locks before waiting for the WAL flush
//! ([`COMMIT_RELEASING_EARLY`]).

use super::rows::{parse_groups, parse_queued};
use super::Pg;
use crate::group::GroupState;
use crate::notification::Notification;
use crate::store::{Counters, EventRow, FoldBucket, OutboxTx, Queued, Result, State, StoreError};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// Shared by every engine transaction: taken exclusively by a batch touching more
/// groups than [`MAX_KEY_LOCKS`], else shared before the per-group locks.
const ALL_GROUPS_LOCK: i64 = 0x7477_696c_6572_7402;
/// Per-group advisory locks one transaction takes at most (PostgreSQL's lock table
/// is bounded: `max_locks_per_transaction` × connections).
const MAX_KEY_LOCKS: usize = 256;

/// The advisory lock id of a group key (FNV-1a: stable across builds and hosts).
fn lock_id(key: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

fn json<T: serde::Serialize>(what: &str, v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt {
        what: what.into(),
        message: e.to_string(),
    })
}

/// A notification waiting for the batch's end.
struct NewNotification {
    channel: String,
    route: String,
    group_key: String,
    event_sid: String,
    is_digest: bool,
    body: String,
    event_count: i64,
    at: i64,
    fold_key: Option<String>,
    events: i64,
    first_seen: i64,
    last_seen: i64,
    resources: i64,
}

/// Queued notifications, column by column (one multi-row insert).
#[derive(Default)]
struct NotificationColumns {
    channel: Vec<String>,
    route: Vec<String>,
    group_key: Vec<String>,
    event_sid: Vec<String>,
    is_digest: Vec<bool>,
    body: Vec<String>,
    at: Vec<i64>,
    event_count: Vec<i64>,
    fold_key: Vec<Option<String>>,
    events: Vec<i64>,
    first_seen: Vec<i64>,
    last_seen: Vec<i64>,
    resources: Vec<i64>,
}

const INSERT_NOTIFICATIONS: &str = "INSERT INTO notifications (channel, route, group_key,
        event_sid, is_digest, body, state, attempts, next_at, created_at, updated_at, event_count,
        fold_key, events, first_seen, last_seen, resources)
    SELECT c, r, g, s, d, b, 0, 0, t, t, t, n, f, e, fs, ls, res FROM unnest(
        $1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::text[],
        $7::bigint[], $8::bigint[], $9::text[], $10::bigint[], $11::bigint[],
        $12::bigint[], $13::bigint[]) AS u(c, r, g, s, d, b, t, n, f, e, fs, ls, res)";

impl NotificationColumns {
    fn params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 13] {
        [
            &self.channel,
            &self.route,
            &self.group_key,
            &self.event_sid,
            &self.is_digest,
            &self.body,
            &self.at,
            &self.event_count,
            &self.fold_key,
            &self.events,
            &self.first_seen,
            &self.last_seen,
            &self.resources,
        ]
    }
}

/// A batch's writes in one statement: its notifications (in order), the group
/// states (a group it opens counts into this replica's `open_groups` row, one it
/// closes out of it), the per-minute counts and this replica's counters.
const WRITE_BATCH: &str = "WITH notes AS (
        INSERT INTO notifications (channel, route, group_key, event_sid, is_digest, body,
            state, attempts, next_at, created_at, updated_at, event_count, fold_key, events,
            first_seen, last_seen, resources)
        SELECT c, r, g, s, d, b, 0, 0, t, t, t, n, f, e, fs, ls, res FROM unnest(
            $12::text[], $13::text[], $14::text[], $15::text[], $16::bool[], $17::text[],
            $18::bigint[], $19::bigint[], $20::text[], $21::bigint[], $22::bigint[],
            $23::bigint[], $24::bigint[]) AS u(c, r, g, s, d, b, t, n, f, e, fs, ls, res)
        RETURNING 1),
    up AS (
        INSERT INTO groups (key, body, due_at, accounted)
        SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])
        ON CONFLICT (key) DO UPDATE SET body = excluded.body, due_at = excluded.due_at,
            accounted = excluded.accounted
        RETURNING (xmax = 0) AS opened),
    gone AS (DELETE FROM groups WHERE key = ANY($5::text[]) RETURNING 1),
    minutes AS (
        INSERT INTO event_minutes AS e (minute, error_code, count)
        SELECT * FROM unnest($6::bigint[], $7::int[], $8::bigint[])
        ON CONFLICT (minute, error_code) DO UPDATE SET count = e.count + excluded.count
        RETURNING 1),
    delta (name, value) AS (
        SELECT * FROM unnest($9::text[], $10::bigint[])
        UNION ALL
        SELECT 'open_groups', (SELECT COUNT(*) FILTER (WHERE opened) FROM up)
            - (SELECT COUNT(*) FROM gone))
    INSERT INTO counters AS c (replica, name, value)
    SELECT $11, name, SUM(value)::BIGINT FROM delta GROUP BY name HAVING SUM(value) <> 0
    ON CONFLICT (replica, name) DO UPDATE SET value = c.value + excluded.value";

/// The commit that releases the batch's locks before its WAL is on disk, then waits
/// for that: the transaction commits without waiting for the flush (its locks go
/// at once, so another replica's batch on the same groups goes on meanwhile), then
/// a second one writes a WAL record and commits synchronously, which flushes the
/// WAL up to there, the first commit included. Nothing is answered before the
/// second commit returns, so "accepted means committed" holds as with a plain
/// COMMIT; what another transaction reads in between (the same rows a plain
/// COMMIT would show a moment later) is lost only with everything after it in
/// the WAL, its own commit included. The server's `synchronous_commit` setting
/// (and synchronous standbys) applies to the second commit, so to both.
pub(super) const COMMIT_RELEASING_EARLY: &str = "SET LOCAL synchronous_commit = off; COMMIT;
    BEGIN; SELECT pg_logical_emit_message(true, 'twilert', 'flush'); COMMIT";

const INSERT_EVENTS: &str = "INSERT INTO events (sid, received_at, body, error_code,
        resource_sid, level, route)
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::int[], $5::text[],
        $6::text[], $7::text[])
    ON CONFLICT (sid) DO NOTHING RETURNING sid, id";

/// Events to insert, column by column, in Sid order: two batches with Sids in
/// common wait on each other's in one order (never each on the other).
struct EventColumns<'r> {
    sids: Vec<&'r str>,
    at: Vec<i64>,
    bodies: Vec<&'r str>,
    codes: Vec<Option<i32>>,
    resources: Vec<Option<&'r str>>,
    levels: Vec<Option<&'r str>>,
    routes: Vec<Option<&'r str>>,
}

impl<'r> EventColumns<'r> {
    fn of(rows: &[EventRow<'r>]) -> EventColumns<'r> {
        let mut order: Vec<&EventRow<'r>> = rows.iter().collect();
        order.sort_by_key(|r| r.sid);
        EventColumns {
            sids: order.iter().map(|r| r.sid).collect(),
            at: order.iter().map(|r| r.received_at_ms).collect(),
            bodies: order.iter().map(|r| r.body).collect(),
            codes: order
                .iter()
                .map(|r| r.error_code.map(|c| c as i32))
                .collect(),
            resources: order.iter().map(|r| r.resource_sid).collect(),
            levels: order.iter().map(|r| r.level).collect(),
            routes: order.iter().map(|r| r.route).collect(),
        }
    }

    fn params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 7] {
        [
            &self.sids,
            &self.at,
            &self.bodies,
            &self.codes,
            &self.resources,
            &self.levels,
            &self.routes,
        ]
    }
}

pub struct PgBatch<'a> {
    pg: &'a Pg,
    replica: &'a str,
    /// Whether `BEGIN` was sent: it goes with the batch's first statements (no
    /// round trip of its own), and a batch that wrote nothing sends nothing.
    begun: Cell<bool>,
    /// Commit with [`COMMIT_RELEASING_EARLY`] (the role may run
    /// `pg_logical_emit_message`), else with a plain `COMMIT`.
    release_early: bool,
    notifications: RefCell<Vec<NewNotification>>,
    groups: RefCell<HashMap<String, Option<GroupState>>>,
    minutes: RefCell<HashMap<(i64, u32), i64>>,
    counters: RefCell<Counters>,
    /// Rows `fold_buckets` locked: the fold reads and folds exactly these (a worker
    /// cannot claim them meanwhile).
    fold_rows: RefCell<Vec<i64>>,
}

impl<'a> PgBatch<'a> {
    pub(super) fn new(pg: &'a Pg, replica: &'a str, release_early: bool) -> PgBatch<'a> {
        PgBatch {
            pg,
            replica,
            begun: Cell::new(false),
            release_early,
            notifications: RefCell::default(),
            groups: RefCell::default(),
            minutes: RefCell::default(),
            counters: RefCell::default(),
            fold_rows: RefCell::default(),
        }
    }

    /// Whether the transaction was opened (else there is nothing to roll back).
    pub(super) fn begun(&self) -> bool {
        self.begun.get()
    }

    /// `BEGIN` ahead of the batch's first statements (in the same pipeline).
    async fn begin_if_needed(&self) -> std::result::Result<(), tokio_postgres::Error> {
        if self.begun.replace(true) {
            return Ok(());
        }
        self.pg.client.batch_execute("BEGIN").await
    }

    /// One statement in the batch's transaction (opened first if it is not yet).
    fn run<T>(
        &self,
        f: impl std::future::Future<Output = std::result::Result<T, tokio_postgres::Error>>,
    ) -> Result<T> {
        self.pg.run(async {
            // Sent before `f` is first polled (which sends it): BEGIN comes first.
            let (_, out) = futures_util::future::try_join(self.begin_if_needed(), f).await?;
            Ok(out)
        })
    }

    /// Per row, its id when the insert stored it (`inserted`: the Sids and ids it
    /// returned); the new ones count into their minute.
    fn fresh(&self, rows: &[EventRow<'_>], inserted: Vec<tokio_postgres::Row>) -> Vec<Option<i64>> {
        let mut new: std::collections::HashMap<String, i64> = inserted
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
            .collect();
        let mut minutes = self.minutes.borrow_mut();
        rows.iter()
            .map(|r| {
                // The first of a Sid in `rows` is the new one; a repeat is a retry.
                let fresh = new.remove(r.sid);
                if fresh.is_some() {
                    *minutes
                        .entry((
                            r.received_at_ms.div_euclid(60_000),
                            r.error_code.unwrap_or(0),
                        ))
                        .or_default() += 1;
                }
                fresh
            })
            .collect()
    }

    /// Writes what the batch gathered and commits, pipelined: every statement is
    /// sent before the first answer is awaited (one round trip). A failed statement
    /// aborts the transaction (the COMMIT then rolls back) and is the error. A
    /// batch that sent nothing and has nothing to write sends nothing.
    pub(super) fn commit(&self) -> Result<()> {
        let notes = self.notification_columns();
        let groups = std::mem::take(&mut *self.groups.borrow_mut());
        let (mut keys, mut bodies, mut due, mut accounted) = (vec![], vec![], vec![], vec![]);
        let mut gone = vec![];
        for (key, g) in groups {
            match g {
                Some(g) => {
                    bodies.push(json("group", &g)?);
                    due.push(g.window_end_ms);
                    accounted.push(g.accounted as i64);
                    keys.push(key);
                }
                None => gone.push(key),
            }
        }
        let (mut m, mut c, mut n) = (vec![], vec![], vec![]);
        // In order: two replicas' batches lock their common minutes' rows in one
        // order (never each waiting on the other).
        let mut minutes: Vec<_> = std::mem::take(&mut *self.minutes.borrow_mut())
            .into_iter()
            .collect();
        minutes.sort_unstable();
        for ((minute, code), count) in minutes {
            m.push(minute);
            c.push(code as i32);
            n.push(count);
        }
        let delta = std::mem::take(&mut *self.counters.borrow_mut());
        let (mut names, mut values) = (vec![], vec![]);
        for name in Counters::NAMES {
            // Deltas may be negative (dead letters moved back): two's complement.
            let v = delta.get(name) as i64;
            if v != 0 {
                names.push(name.to_string());
                values.push(v);
            }
        }
        type P<'p> = &'p (dyn tokio_postgres::types::ToSql + Sync);
        let write_params: [P; 11] = [
            &keys,
            &bodies,
            &due,
            &accounted,
            &gone,
            &m,
            &c,
            &n,
            &names,
            &values,
            &self.replica,
        ];
        let nothing = notes.is_none()
            && keys.is_empty()
            && gone.is_empty()
            && m.is_empty()
            && names.is_empty();
        if nothing && !self.begun.get() {
            // Nothing read or written: no transaction was opened.
            return Ok(());
        }
        let notes = notes.unwrap_or_default();
        let mut params: Vec<P> = write_params.to_vec();
        params.extend(notes.params());
        // Prepared first: a pipeline of prepared statements runs in the order sent,
        // and the COMMIT after them.
        let st = self.pg.run(self.pg.statements(&[WRITE_BATCH]))?;
        let client = &self.pg.client;
        let begin = async { self.begin_if_needed().await.map(|()| 0) };
        let write = async {
            if nothing {
                return Ok(0);
            }
            client.execute(&st[0], &params).await
        };
        let commit = if self.release_early {
            COMMIT_RELEASING_EARLY
        } else {
            "COMMIT"
        };
        self.pg
            .run(futures_util::future::try_join3(
                begin,
                write,
                client.batch_execute(commit),
            ))
            .map(drop)
    }

    /// The notifications queued so far, as the insert's columns.
    fn notification_columns(&self) -> Option<NotificationColumns> {
        let rows = std::mem::take(&mut *self.notifications.borrow_mut());
        if rows.is_empty() {
            return None;
        }
        macro_rules! col {
            ($f:ident) => {
                rows.iter().map(|r| r.$f.clone()).collect::<Vec<_>>()
            };
        }
        Some(NotificationColumns {
            channel: col!(channel),
            route: col!(route),
            group_key: col!(group_key),
            event_sid: col!(event_sid),
            is_digest: col!(is_digest),
            body: col!(body),
            at: col!(at),
            event_count: col!(event_count),
            fold_key: col!(fold_key),
            events: col!(events),
            first_seen: col!(first_seen),
            last_seen: col!(last_seen),
            resources: col!(resources),
        })
    }

    /// Writes the notifications queued so far (before anything reads the queue).
    fn flush_notifications(&self) -> Result<()> {
        match self.notification_columns() {
            Some(notes) => self
                .pg
                .run(self.pg.execute(INSERT_NOTIFICATIONS, &notes.params()))
                .map(drop),
            None => Ok(()),
        }
    }

    fn count(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64> {
        self.flush_notifications()?;
        self.run(self.pg.execute(sql, params))
    }
}

impl OutboxTx for PgBatch<'_> {
    fn insert_events(&self, rows: &[EventRow<'_>]) -> Result<Vec<Option<i64>>> {
        if rows.is_empty() {
            return Ok(vec![]);
        }
        let cols = EventColumns::of(rows);
        let st = self.pg.run(self.pg.statements(&[INSERT_EVENTS]))?;
        let inserted = self.run(self.pg.client.query(&st[0], &cols.params()))?;
        Ok(self.fresh(rows, inserted))
    }

    fn lock_groups(&self, keys: &[String]) -> Result<(Vec<(String, GroupState)>, usize)> {
        let (_, groups, open) = self.insert_and_lock(&[], keys)?;
        Ok((groups, open))
    }

    /// One pipeline (one round trip): `BEGIN` if not sent yet, the events' insert,
    /// then the locks, then the groups' reads and the open-groups count. The insert
    /// comes before the locks, so a batch waiting on another's group locks has
    /// already written its events (the wait ends with the reads). No deadlock from
    /// that order: a transaction waits on another's new Sid only in its insert,
    /// holding no group lock yet, and one holding group locks waits on no Sid.
    fn insert_and_lock(
        &self,
        rows: &[EventRow<'_>],
        keys: &[String],
    ) -> Result<(Vec<Option<i64>>, Vec<(String, GroupState)>, usize)> {
        let mut ids: Vec<i64> = keys.iter().map(|k| lock_id(k)).collect();
        ids.sort_unstable();
        ids.dedup();
        // One statement, in order: the shared lock, then each group's in ascending
        // order (no two batches wait on each other); more groups than
        // MAX_KEY_LOCKS: the exclusive one alone.
        let exclusive = ids.len() > MAX_KEY_LOCKS;
        let mut locks = Vec::with_capacity(ids.len() + 1);
        locks.push(ALL_GROUPS_LOCK);
        if !exclusive {
            locks.extend(ids);
        }
        let lock = if exclusive {
            "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k"
        } else {
            "SELECT CASE WHEN o = 1 THEN pg_advisory_xact_lock_shared(k)
                 ELSE pg_advisory_xact_lock(k) END
             FROM unnest($1::bigint[]) WITH ORDINALITY AS u(k, o)"
        };
        // After the locks (a statement of its own: it reads what the batches that
        // held them committed): the groups, with every replica's row of the
        // open-groups count summed (one row even without groups).
        const READ: &str = "SELECT o.n, g.key, g.body FROM
                (SELECT COALESCE(SUM(value), 0)::BIGINT AS n FROM counters
                 WHERE name = 'open_groups') o
            LEFT JOIN groups g ON g.key = ANY($1::text[])";
        // Prepared first: a pipeline of prepared statements runs in the order sent.
        let st = self
            .pg
            .run(self.pg.statements(&[INSERT_EVENTS, lock, READ]))?;
        let cols = EventColumns::of(rows);
        let params = cols.params();
        let client = &self.pg.client;
        // Each future sends its statement when first polled; `try_join4` polls in
        // argument order.
        let (_, inserted, _, read) = self.pg.run(futures_util::future::try_join4(
            self.begin_if_needed(),
            async {
                if rows.is_empty() {
                    return Ok(vec![]);
                }
                client.query(&st[0], &params).await
            },
            client.execute(&st[1], &[&locks]),
            client.query(&st[2], &[&keys]),
        ))?;
        let open = read
            .first()
            .map_or(0, |r| r.get::<_, i64>(0).max(0) as usize);
        let mut groups = Vec::with_capacity(read.len());
        for r in &read {
            let Some(key) = r.get::<_, Option<String>>(1) else {
                continue;
            };
            match serde_json::from_str(r.get::<_, &str>(2)) {
                Ok(g) => groups.push((key, g)),
                Err(e) => {
                    tracing::warn!(group = %key, error = %e, "skipping unreadable group state")
                }
            }
        }
        Ok((self.fresh(rows, inserted), groups, open))
    }

    fn lock_due_groups(&self, now_ms: i64, limit: usize) -> Result<Vec<(String, GroupState)>> {
        self.run(self.pg.execute(
            "SELECT pg_advisory_xact_lock_shared($1)",
            &[&ALL_GROUPS_LOCK],
        ))?;
        // Try-locks only: a group another batch holds is closed at the next tick,
        // and this transaction never waits while holding locks of its own.
        let due = self.run(self.pg.query(
            "SELECT key FROM groups WHERE due_at <= $1 ORDER BY due_at LIMIT $2",
            &[&now_ms, &(limit as i64)],
        ))?;
        let keys: Vec<String> = due.iter().map(|r| r.get(0)).collect();
        let ids: Vec<i64> = keys.iter().map(|k| lock_id(k)).collect();
        let got = self.run(self.pg.query(
            "SELECT k, pg_try_advisory_xact_lock(i) FROM unnest($1::text[], $2::bigint[]) AS u(k, i)",
            &[&keys, &ids],
        ))?;
        let locked: Vec<String> = got
            .iter()
            .filter(|r| r.get::<_, bool>(1))
            .map(|r| r.get(0))
            .collect();
        if locked.is_empty() {
            return Ok(vec![]);
        }
        let rows = self.run(self.pg.query(
            "SELECT key, body FROM groups WHERE key = ANY($1) AND due_at <= $2",
            &[&locked, &now_ms],
        ))?;
        Ok(parse_groups(rows))
    }

    /// Every batch writes its state: nothing to mark.
    fn mark_applied(&self) -> Result<()> {
        Ok(())
    }

    fn get_event(&self, sid: &str) -> Result<Option<String>> {
        Ok(self
            .run(
                self.pg
                    .query_opt("SELECT body FROM events WHERE sid = $1", &[&sid]),
            )?
            .map(|r| r.get(0)))
    }

    /// By key (other replicas find it so): no row.
    fn save_group(
        &self,
        key: &str,
        _row: Option<i64>,
        g: Option<&GroupState>,
    ) -> Result<Option<i64>> {
        self.groups.borrow_mut().insert(key.to_string(), g.cloned());
        Ok(None)
    }

    fn add_counters(&self, delta: &Counters) -> Result<()> {
        self.counters.borrow_mut().add(delta);
        Ok(())
    }

    fn insert_notification(&self, n: &Notification, event_count: u64, now_ms: i64) -> Result<()> {
        let f = n.fold_summary();
        self.notifications.borrow_mut().push(NewNotification {
            channel: n.channel.clone(),
            route: n.route.clone(),
            group_key: n.group_key.clone(),
            event_sid: n.event.sid.to_string(),
            is_digest: n.digest.is_some(),
            // Without the event: it is the `events` row of `event_sid`, joined back on read.
            body: n.to_stored_json().map_err(|e| StoreError::Corrupt {
                what: "notification".into(),
                message: e.to_string(),
            })?,
            event_count: event_count as i64,
            at: now_ms,
            fold_key: Some(f.fold_key),
            events: f.events as i64,
            first_seen: f.first_seen_ms,
            last_seen: f.last_seen_ms,
            resources: f.resources as i64,
        });
        Ok(())
    }

    fn set_state(
        &self,
        id: i64,
        state: State,
        attempts: u32,
        now_ms: i64,
        error: Option<&str>,
    ) -> Result<bool> {
        let n = self.count(
            "UPDATE notifications SET state = $2, attempts = $3, updated_at = $4,
                 last_error = COALESCE($5, last_error), lease_until = 0
             WHERE id = $1 AND state = 0",
            &[&id, &(state as i16), &(attempts as i32), &now_ms, &error],
        )?;
        Ok(n == 1)
    }

    fn reschedule(
        &self,
        id: i64,
        attempts: u32,
        next_at_ms: i64,
        now_ms: i64,
        error: &str,
    ) -> Result<()> {
        self.count(
            "UPDATE notifications SET attempts = $2, next_at = $3, updated_at = $4, last_error = $5,
                 lease_until = 0
             WHERE id = $1 AND state = 0",
            &[&id, &(attempts as i32), &next_at_ms, &now_ms, &error],
        )?;
        Ok(())
    }

    fn accounting(&self, id: i64) -> Result<(u64, bool)> {
        Ok(self
            .run(self.pg.query_opt(
                "SELECT event_count, is_digest FROM notifications WHERE id = $1",
                &[&id],
            ))?
            .map(|r| (r.get::<_, i64>(0).max(0) as u64, r.get::<_, bool>(1)))
            .unwrap_or((0, false)))
    }

    fn hurry_retries(&self, channel: &str, now_ms: i64) -> Result<usize> {
        Ok(self.count(
            "UPDATE notifications SET next_at = $2
             WHERE state = 0 AND channel = $1 AND next_at > $2 AND attempts > 0",
            &[&channel, &now_ms],
        )? as usize)
    }

    fn requeue_dead(&self, id: Option<i64>, now_ms: i64) -> Result<usize> {
        self.flush_notifications()?;
        let rows = self.run(self.pg.query(
            "UPDATE notifications SET state = 0, attempts = 0, next_at = $2, updated_at = $2,
                 created_at = $2, lease_until = 0
             WHERE state = 2 AND ($1::bigint IS NULL OR id = $1)
             RETURNING event_count",
            &[&id, &now_ms],
        ))?;
        let events: i64 = rows.iter().map(|r| r.get::<_, i64>(0)).sum();
        self.add_counters(&Counters {
            dead_lettered: 0u64.wrapping_sub(events.max(0) as u64),
            ..Default::default()
        })?;
        Ok(rows.len())
    }

    fn pending_count(&self, channel: &str) -> Result<u64> {
        self.flush_notifications()?;
        let r = self.run(self.pg.query_one(
            "SELECT COUNT(*) FROM notifications WHERE state = 0 AND channel = $1",
            &[&channel],
        ))?;
        Ok(r.get::<_, i64>(0).max(0) as u64)
    }

    fn fold_buckets(&self, channel: &str) -> Result<Vec<FoldBucket>> {
        self.flush_notifications()?;
        // Never-tried rows no worker has claimed, locked: claims skip them now.
        let locked: Vec<i64> = self
            .pg
            .run(self.pg.query(
                "SELECT id FROM notifications
                 WHERE state = 0 AND attempts = 0 AND channel = $1 AND fold_key IS NOT NULL
                     AND lease_until = 0
                 FOR UPDATE SKIP LOCKED",
                &[&channel],
            ))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let rows = self.run(self.pg.query(
            "SELECT fold_key, COUNT(*), SUM(event_count)::BIGINT, SUM(events)::BIGINT, MIN(first_seen),
                 MAX(last_seen), SUM(resources)::BIGINT, MAX(id)
             FROM notifications WHERE id = ANY($1)
             GROUP BY fold_key HAVING COUNT(*) >= 2",
            &[&locked],
        ))?;
        *self.fold_rows.borrow_mut() = locked;
        Ok(rows
            .iter()
            .map(|r| FoldBucket {
                fold_key: r.get(0),
                rows: r.get::<_, i64>(1).max(0) as u64,
                event_count: r.get::<_, i64>(2).max(0) as u64,
                events: r.get::<_, i64>(3).max(0) as u64,
                first_seen_ms: r.get(4),
                last_seen_ms: r.get(5),
                resources: r.get::<_, i64>(6).max(0) as u64,
                max_id: r.get(7),
            })
            .collect())
    }

    fn fold_samples(&self, channel: &str, b: &FoldBucket, limit: usize) -> Result<Vec<Queued>> {
        let rows = self.run(self.pg.query(
            "SELECT n.id, n.body, n.attempts, n.created_at, n.event_count, e.body AS event_body
             FROM notifications n LEFT JOIN events e ON e.sid = n.event_sid
             WHERE n.channel = $1 AND n.fold_key = $2 AND n.id <= $3 AND n.id = ANY($5)
             ORDER BY n.id LIMIT $4",
            &[
                &channel,
                &b.fold_key,
                &b.max_id,
                &(limit as i64),
                &*self.fold_rows.borrow(),
            ],
        ))?;
        rows.iter().map(parse_queued).collect()
    }

    fn insert_silence(&self, s: &crate::silence::Silence) -> Result<()> {
        self.run(self.pg.execute(
            "INSERT INTO silences (id, definition, created_at, suppressed, last_match, expired_at, expired_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &s.id,
                &s.definition_json(),
                &s.created_at_ms,
                &(s.suppressed as i64),
                &s.last_match_ms,
                &s.expired_at_ms,
                &s.expired_by,
            ],
        ))?;
        Ok(())
    }

    fn silence(&self, id: &str) -> Result<Option<crate::silence::Silence>> {
        let sql = format!(
            "SELECT {} FROM silences WHERE id = $1",
            super::rows::SILENCE_COLUMNS
        );
        self.run(self.pg.query_opt(&sql, &[&id]))?
            .as_ref()
            .map(super::rows::silence_of)
            .transpose()
    }

    /// One replica wins: the row changes once, and only its batch sends the summaries.
    fn expire_silence(&self, id: &str, now_ms: i64, by: Option<&str>) -> Result<bool> {
        Ok(self.run(self.pg.execute(
            "UPDATE silences SET expired_at = $2, expired_by = $3 WHERE id = $1 AND expired_at IS NULL",
            &[&id, &now_ms, &by],
        ))? == 1)
    }

    fn add_suppressed(&self, id: &str, events: u64, last_match_ms: i64) -> Result<()> {
        self.run(self.pg.execute(
            "UPDATE silences SET suppressed = suppressed + $2,
                 last_match = GREATEST(COALESCE(last_match, $3), $3) WHERE id = $1",
            &[&id, &(events as i64), &last_match_ms],
        ))?;
        Ok(())
    }

    fn add_silence_hits(&self, id: &str, route: &str, events: u64, sample_sid: &str) -> Result<()> {
        self.run(self.pg.execute(
            "INSERT INTO silence_routes AS s (silence_id, route, events, sample_sid) VALUES ($1, $2, $3, $4)
             ON CONFLICT (silence_id, route) DO UPDATE SET events = s.events + excluded.events",
            &[&id, &route, &(events as i64), &sample_sid],
        ))?;
        Ok(())
    }

    fn silence_hits(&self, id: &str) -> Result<Vec<crate::silence::SilenceHit>> {
        let rows = self.run(self.pg.query(
            "SELECT route, events, sample_sid FROM silence_routes WHERE silence_id = $1 ORDER BY route",
            &[&id],
        ))?;
        Ok(rows
            .iter()
            .map(|r| crate::silence::SilenceHit {
                route: r.get(0),
                events: r.get::<_, i64>(1).max(0) as u64,
                sample_sid: r.get(2),
            })
            .collect())
    }

    /// Only the rows `fold_buckets` locked (a worker may be sending a claimed one).
    fn mark_folded(&self, channel: &str, b: &FoldBucket, now_ms: i64) -> Result<usize> {
        let rows = self.fold_rows.borrow().clone();
        Ok(self.count(
            "UPDATE notifications SET state = 3, updated_at = $4,
                 last_error = 'folded into a digest (channel backlog)'
             WHERE state = 0 AND channel = $1 AND fold_key = $2 AND id <= $3 AND id = ANY($5)",
            &[&channel, &b.fold_key, &b.max_id, &now_ms, &rows],
        )? as usize)
    }
}
