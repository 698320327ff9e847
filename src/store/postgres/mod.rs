//! The PostgreSQL store (SPEC 12): several replicas on one database, each with the
//! same outbox as the embedded SQLite store. Accepted means committed here. The
//! store owns the groups: every batch locks the groups it touches (advisory locks
//! on their keys) and reads them, so one first alert per group and counts that add
//! up hold whichever replica each event hit. Due notifications are claimed with a
//! lease (`FOR UPDATE SKIP LOCKED`); rate limits, `Retry-After` pauses and broken
//! marks are rows every replica's workers share; window ticks and pruning run
//! under a lease any replica takes over.
//!
//! Client: tokio-postgres (no pool crate): the engine thread and the read views
//! each own one connection driven by a small current-thread runtime of their own,
//! the delivery workers (async) one each. The engine's transactions are serial per
//! replica, so a pool would add nothing but another dependency.

mod batch;
mod queue;
mod rows;
mod schema;
mod views;

pub use queue::PgQueue;
pub use views::PgViews;

use crate::group::GroupState;
use crate::store::{Counters, Outbox, Result, StoreError};
use tokio_postgres::NoTls;

/// `store.url` for logs and errors: the password replaced.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("REDACTED"));
            }
            u.to_string()
        }
        Err(_) => "postgres://[unparsable store.url]".into(),
    }
}

pub(super) fn pg_err(e: tokio_postgres::Error) -> String {
    // The server's message (with its detail), never the connection string.
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        StoreError::Backend(pg_err(e))
    }
}

/// A connection used from synchronous code (the engine thread, the CLI, the
/// console's blocking reads): its own current-thread runtime drives it.
pub(super) struct Pg {
    rt: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
    /// Statements prepared on this connection, by their SQL: a statement costs
    /// one round trip, not a parse and a bind.
    prepared: std::cell::RefCell<std::collections::HashMap<String, tokio_postgres::Statement>>,
}

type Params<'a> = &'a [&'a (dyn tokio_postgres::types::ToSql + Sync)];

impl Pg {
    /// Connects (on a thread of its own: see [`off_runtime`]).
    pub(super) fn connect(url: &str) -> Result<Pg> {
        off_runtime(|| Pg::connect_here(url))
    }

    fn connect_here(url: &str) -> Result<Pg> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let client = rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(url, NoTls).await?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::error!(error = %pg_err(e), "PostgreSQL connection closed");
                }
            });
            Ok::<_, tokio_postgres::Error>(client)
        });
        let client = client.map_err(|e| StoreError::Open {
            path: redact_url(url),
            message: pg_err(e),
        })?;
        Ok(Pg {
            rt,
            client,
            prepared: Default::default(),
        })
    }

    async fn statement(
        &self,
        sql: &str,
    ) -> std::result::Result<tokio_postgres::Statement, tokio_postgres::Error> {
        if let Some(st) = self.prepared.borrow().get(sql) {
            return Ok(st.clone());
        }
        let st = self.client.prepare(sql).await?;
        self.prepared
            .borrow_mut()
            .insert(sql.to_string(), st.clone());
        Ok(st)
    }

    /// `sqls` prepared (from the cache or now), in order.
    pub(super) async fn statements(
        &self,
        sqls: &[&str],
    ) -> std::result::Result<Vec<tokio_postgres::Statement>, tokio_postgres::Error> {
        let mut out = Vec::with_capacity(sqls.len());
        for sql in sqls {
            out.push(self.statement(sql).await?);
        }
        Ok(out)
    }

    pub(super) async fn query(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> std::result::Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
        let st = self.statement(sql).await?;
        self.client.query(&st, params).await
    }

    pub(super) async fn query_opt(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> std::result::Result<Option<tokio_postgres::Row>, tokio_postgres::Error> {
        let st = self.statement(sql).await?;
        self.client.query_opt(&st, params).await
    }

    pub(super) async fn query_one(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> std::result::Result<tokio_postgres::Row, tokio_postgres::Error> {
        let st = self.statement(sql).await?;
        self.client.query_one(&st, params).await
    }

    pub(super) async fn execute(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> std::result::Result<u64, tokio_postgres::Error> {
        let st = self.statement(sql).await?;
        self.client.execute(&st, params).await
    }

    pub(super) fn run<T>(
        &self,
        f: impl std::future::Future<Output = std::result::Result<T, tokio_postgres::Error>>,
    ) -> Result<T> {
        Ok(self.rt.block_on(f)?)
    }
}

/// Runs `f` on a thread of its own: a [`Pg`] blocks on its runtime, which cannot
/// happen on a thread that drives async tasks (start-up runs in one).
fn off_runtime<T: Send>(f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| {
        s.spawn(f)
            .join()
            .unwrap_or_else(|_| Err(StoreError::Backend("connecting panicked".into())))
    })
}

/// This process among the replicas: host, pid and a random suffix.
pub fn replica_id() -> String {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "host".into());
        format!("{host}-{}-{:04x}", std::process::id(), fastrand::u16(..))
    })
    .clone()
}

/// `twilert migrate` on PostgreSQL.
pub fn migrate(url: &str) -> Result<i64> {
    off_runtime(|| schema::migrate(&Pg::connect_here(url)?))
}

/// The writer of one replica (owned by its dispatch thread).
pub struct PgStore {
    pg: Pg,
    url: String,
    shown: String,
    replica: String,
    /// Whether batches commit with `batch::COMMIT_RELEASING_EARLY` (checked at
    /// each connect).
    release_early: bool,
}

/// Whether this connection's role may run `pg_logical_emit_message` (the WAL
/// record that makes the second commit of `batch::COMMIT_RELEASING_EARLY` flush);
/// without it (a server that lacks it, a role it was revoked from) batches commit
/// with a plain COMMIT.
fn may_release_early(pg: &Pg) -> Result<bool> {
    let r = pg.run(pg.client.query_one(
        "SELECT COALESCE(has_function_privilege(
             to_regprocedure('pg_logical_emit_message(boolean, text, text)'), 'EXECUTE'), false)",
        &[],
    ))?;
    Ok(r.get(0))
}

impl PgStore {
    /// Connects and migrates (under the migration lock).
    pub fn open(url: &str) -> Result<PgStore> {
        let (pg, release_early) = off_runtime(|| {
            let pg = Pg::connect_here(url)?;
            schema::migrate(&pg)?;
            let early = may_release_early(&pg)?;
            Ok((pg, early))
        })?;
        Ok(PgStore {
            pg,
            url: url.to_string(),
            shown: redact_url(url),
            replica: replica_id(),
            release_early,
        })
    }

    /// A connection lost (server restarted, network) is opened again.
    fn reconnect_if_closed(&mut self) -> Result<()> {
        if self.pg.client.is_closed() {
            tracing::warn!(store = %self.shown, "PostgreSQL connection lost; reconnecting");
            self.pg = Pg::connect(&self.url)?;
            self.release_early = may_release_early(&self.pg)?;
        }
        Ok(())
    }
}

impl Outbox for PgStore {
    type Tx<'t> = batch::PgBatch<'t>;

    fn batch<T>(&mut self, f: impl FnOnce(&Self::Tx<'_>) -> Result<T>) -> Result<T> {
        self.reconnect_if_closed()?;
        // `BEGIN` goes with the batch's first statements.
        let b = batch::PgBatch::new(&self.pg, &self.replica, self.release_early);
        let out = f(&b).and_then(|out| b.commit().map(|()| out));
        let begun = b.begun();
        drop(b);
        if out.is_err() && begun {
            // After a failed statement the transaction is aborted (or the COMMIT
            // never ran): end it either way.
            let _ = self.pg.run(self.pg.client.batch_execute("ROLLBACK"));
        }
        out
    }

    fn check(&mut self) -> Result<()> {
        self.reconnect_if_closed()?;
        self.pg.run(self.pg.query_one("SELECT 1", &[]))?;
        Ok(())
    }

    fn probe_write(&mut self, now_ms: i64) -> Result<()> {
        self.reconnect_if_closed()?;
        self.pg.run(self.pg.execute(
            "INSERT INTO meta (key, value) VALUES ('probe', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&now_ms.to_string()],
        ))?;
        Ok(())
    }

    /// Nothing to rescue: the database keeps what it committed.
    fn rescue(&mut self, _now_ms: i64) -> Option<Result<String>> {
        None
    }

    fn describe(&self) -> String {
        self.shown.clone()
    }

    fn shared(&self) -> bool {
        true
    }

    fn take_lease(&mut self, name: &str, now_ms: i64, lease_ms: i64) -> Result<bool> {
        self.reconnect_if_closed()?;
        let row = self.pg.run(self.pg.query_opt(
            "INSERT INTO leases AS l (name, holder, until_ms) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
             WHERE l.holder = excluded.holder OR l.until_ms < $4
             RETURNING holder",
            &[&name, &self.replica, &(now_ms + lease_ms), &now_ms],
        ))?;
        Ok(row.is_some())
    }

    fn heartbeat(
        &mut self,
        config: &str,
        now_ms: i64,
        within_ms: i64,
    ) -> Result<Vec<crate::store::ReplicaSeen>> {
        self.reconnect_if_closed()?;
        let version = env!("CARGO_PKG_VERSION");
        self.pg.run(self.pg.execute(
            "INSERT INTO replicas (id, started_at, seen_at, config, version) VALUES ($1, $2, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at, config = excluded.config",
            &[&self.replica, &now_ms, &config, &version],
        ))?;
        // Replicas silent for a day are gone (restarts leave their rows behind).
        self.pg.run(self.pg.execute(
            "DELETE FROM replicas WHERE seen_at < $1",
            &[&(now_ms - 86_400_000)],
        ))?;
        let rows = self.pg.run(self.pg.query(
            "SELECT id, started_at, seen_at, config, version FROM replicas WHERE seen_at >= $1 ORDER BY id",
            &[&(now_ms - within_ms)],
        ))?;
        Ok(rows
            .iter()
            .map(|r| crate::store::ReplicaSeen {
                id: r.get(0),
                started_at_ms: r.get(1),
                seen_at_ms: r.get(2),
                config: r.get(3),
                version: r.get(4),
            })
            .collect())
    }

    fn open_group_totals(&self) -> Result<(usize, u64)> {
        let r = self.pg.run(self.pg.query_one(
            "SELECT COUNT(*), COALESCE(SUM(accounted), 0)::BIGINT FROM groups",
            &[],
        ))?;
        Ok((
            r.get::<_, i64>(0).max(0) as usize,
            r.get::<_, i64>(1).max(0) as u64,
        ))
    }

    /// Every replica's rows, summed: the same figures on every replica.
    fn counters(&self) -> Result<Counters> {
        read_counters(&self.pg)
    }

    fn pending_notification_events(&self) -> Result<u64> {
        let r = self.pg.run(self.pg.query_one(
            "SELECT COALESCE(SUM(event_count), 0)::BIGINT FROM notifications WHERE state = 0",
            &[],
        ))?;
        Ok(r.get::<_, i64>(0).max(0) as u64)
    }

    fn active_silences(&self) -> Result<Vec<crate::silence::Silence>> {
        let sql = format!(
            "SELECT {} FROM silences WHERE expired_at IS NULL ORDER BY created_at, id",
            rows::SILENCE_COLUMNS
        );
        let rows = self.pg.run(self.pg.query(&sql, &[]))?;
        rows.iter().map(rows::silence_of).collect()
    }

    /// Every batch writes its state with its events.
    fn unapplied_events(&self) -> Result<Vec<(i64, String)>> {
        Ok(vec![])
    }

    fn load_groups(&self) -> Result<Vec<(String, GroupState)>> {
        let rows = self
            .pg
            .run(self.pg.query("SELECT key, body FROM groups", &[]))?;
        Ok(rows::parse_groups(rows))
    }

    fn prune(&mut self, before_ms: i64) -> Result<usize> {
        self.reconnect_if_closed()?;
        let mut n = self.pg.run(self.pg.execute(
            "DELETE FROM notifications WHERE state IN (1, 3) AND updated_at < $1",
            &[&before_ms],
        ))?;
        // Silences expired before the cut go with their per-route counts; the events
        // a silence in force will name in its summary stay.
        n += self.pg.run(self.pg.execute(
            "DELETE FROM silence_routes WHERE silence_id IN (SELECT id FROM silences WHERE expired_at < $1)",
            &[&before_ms],
        ))?;
        n += self.pg.run(
            self.pg
                .execute("DELETE FROM silences WHERE expired_at < $1", &[&before_ms]),
        )?;
        n += self.pg.run(self.pg.execute(
            "DELETE FROM events e WHERE received_at < $1
             AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.event_sid = e.sid)
             AND NOT EXISTS (SELECT 1 FROM silence_routes s WHERE s.sample_sid = e.sid)",
            &[&before_ms],
        ))?;
        // Living Slack messages not edited since the cut: their edit turns
        // (`<channel>|edit|…`, see deliver/slack_app.rs) and shown totals.
        n += self.pg.run(self.pg.execute(
            "DELETE FROM channel_pacing WHERE channel LIKE '%|edit|%' AND tat_ms < $1",
            &[&before_ms],
        ))?;
        n += self.pg.run(
            self.pg
                .execute("DELETE FROM shown_totals WHERE at_ms < $1", &[&before_ms]),
        )?;
        n += self.pg.run(self.pg.execute(
            "DELETE FROM event_minutes WHERE minute < $1",
            &[&before_ms.div_euclid(60_000)],
        ))?;
        Ok(n as usize)
    }

    fn size_bytes(&self) -> u64 {
        self.pg
            .run(
                self.pg
                    .query_one("SELECT pg_database_size(current_database())", &[]),
            )
            .map(|r| r.get::<_, i64>(0).max(0) as u64)
            .unwrap_or(0)
    }
}

pub(super) fn read_counters(pg: &Pg) -> Result<Counters> {
    let rows = pg.run(pg.client.query(
        "SELECT name, SUM(value)::BIGINT FROM counters GROUP BY name",
        &[],
    ))?;
    let mut c = Counters::default();
    for r in rows {
        let name: String = r.get(0);
        if let Some(slot) = c.get_mut(&name) {
            *slot = r.get::<_, i64>(1) as u64;
        }
    }
    Ok(c)
}
