//! A delivery worker's side of the PostgreSQL store: claims with a lease, and the
//! channel's shared pacing (one rate budget, one pause, one broken mark for every
//! replica).

use super::rows::parse_queued;
use super::{pg_err, redact_url, replica_id};
use crate::store::{Permit, Queue, Queued, Result, StoreError};
use std::collections::HashMap;
use tokio::sync::Mutex;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row, Statement};

pub struct PgQueue {
    url: String,
    replica: String,
    /// Connected on first use and again after the connection is lost.
    client: Mutex<Option<Conn>>,
}

/// A worker's connection and the statements prepared on it.
struct Conn {
    client: Client,
    prepared: HashMap<&'static str, Statement>,
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl Conn {
    async fn statement(
        &mut self,
        sql: &'static str,
    ) -> std::result::Result<Statement, tokio_postgres::Error> {
        if let Some(st) = self.prepared.get(sql) {
            return Ok(st.clone());
        }
        let st = self.client.prepare(sql).await?;
        self.prepared.insert(sql, st.clone());
        Ok(st)
    }

    async fn query(&mut self, sql: &'static str, params: Params<'_>) -> Result<Vec<Row>> {
        let st = self.statement(sql).await?;
        Ok(self.client.query(&st, params).await?)
    }

    async fn query_opt(&mut self, sql: &'static str, params: Params<'_>) -> Result<Option<Row>> {
        let st = self.statement(sql).await?;
        Ok(self.client.query_opt(&st, params).await?)
    }

    async fn query_one(&mut self, sql: &'static str, params: Params<'_>) -> Result<Row> {
        let st = self.statement(sql).await?;
        Ok(self.client.query_one(&st, params).await?)
    }

    async fn execute(&mut self, sql: &'static str, params: Params<'_>) -> Result<u64> {
        let st = self.statement(sql).await?;
        Ok(self.client.execute(&st, params).await?)
    }
}

impl PgQueue {
    pub fn new(url: &str) -> PgQueue {
        PgQueue {
            url: url.to_string(),
            replica: replica_id(),
            client: Mutex::new(None),
        }
    }

    async fn client(&self) -> Result<tokio::sync::MappedMutexGuard<'_, Conn>> {
        let mut guard = self.client.lock().await;
        if guard.as_ref().map(|c| c.client.is_closed()).unwrap_or(true) {
            let (client, conn) = tokio_postgres::connect(&self.url, NoTls)
                .await
                .map_err(|e| StoreError::Open {
                    path: redact_url(&self.url),
                    message: pg_err(e),
                })?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::error!(error = %pg_err(e), "PostgreSQL connection closed");
                }
            });
            *guard = Some(Conn {
                client,
                prepared: HashMap::new(),
            });
        }
        Ok(tokio::sync::MutexGuard::map(guard, |c| {
            c.as_mut().expect("connected above")
        }))
    }
}

#[async_trait::async_trait]
impl Queue for PgQueue {
    /// `FOR UPDATE SKIP LOCKED`: replicas claiming at once take different rows; a
    /// claim whose replica died expires after `lease_ms` and is taken again.
    async fn claim(
        &self,
        channel: &str,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<Queued>> {
        let mut c = self.client().await?;
        let rows = c
            .query(
                "UPDATE notifications SET lease_until = $3, lease_holder = $4
                 WHERE id IN (
                     SELECT id FROM notifications
                     WHERE state = 0 AND channel = $1 AND next_at <= $2
                         AND (lease_until <= $2 OR lease_holder = $4)
                     ORDER BY next_at, id LIMIT $5
                     FOR UPDATE SKIP LOCKED)
                 RETURNING id, body, attempts, created_at, event_count, next_at,
                     (SELECT e.body FROM events e WHERE e.sid = notifications.event_sid) AS event_body",
                &[
                    &channel,
                    &now_ms,
                    &(now_ms + lease_ms),
                    &self.replica,
                    &(limit as i64),
                ],
            )
            .await?;
        let mut out: Vec<(i64, Queued)> = rows
            .iter()
            .map(|r| parse_queued(r).map(|q| (r.get::<_, i64>("next_at"), q)))
            .collect::<Result<_>>()?;
        out.sort_by_key(|(at, q)| (*at, q.id));
        Ok(out.into_iter().map(|(_, q)| q).collect())
    }

    /// Still waiting and still claimed by this replica (not folded, not taken over).
    async fn is_pending(&self, id: i64) -> Result<bool> {
        let mut c = self.client().await?;
        Ok(c.query_opt(
            "SELECT 1 FROM notifications WHERE id = $1 AND state = 0 AND lease_holder = $2",
            &[&id, &self.replica],
        )
        .await?
        .is_some())
    }

    async fn next_due_at(&self, channel: &str) -> Result<Option<i64>> {
        let mut c = self.client().await?;
        Ok(c.query_one(
            "SELECT MIN(GREATEST(next_at, lease_until)) FROM notifications WHERE state = 0 AND channel = $1",
            &[&channel],
        )
        .await?
        .get(0))
    }

    /// GCRA on one row per channel: the send is allowed when the channel's
    /// theoretical arrival time minus the burst tolerance is not in the future and
    /// no `Retry-After` pause runs; allowing it moves that time on by one interval.
    async fn permit(
        &self,
        channel: &str,
        interval_ms: i64,
        burst: u32,
        now_ms: i64,
    ) -> Result<Permit> {
        let tolerance = interval_ms * i64::from(burst.max(1) - 1);
        let mut c = self.client().await?;
        let granted = c
            .query_opt(
                "INSERT INTO channel_pacing AS p (channel, tat_ms) VALUES ($1, $2::bigint + $3::bigint)
                 ON CONFLICT (channel) DO UPDATE SET tat_ms = GREATEST(p.tat_ms, $2::bigint) + $3::bigint
                 WHERE GREATEST(p.tat_ms, $2::bigint) - $4::bigint <= $2::bigint
                     AND p.paused_until_ms <= $2::bigint
                 RETURNING p.broken",
                &[&channel, &now_ms, &interval_ms, &tolerance],
            )
            .await?;
        if let Some(row) = granted {
            return Ok(Permit::Now { broken: row.get(0) });
        }
        let row = c
            .query_one(
                "SELECT tat_ms - $2::bigint, paused_until_ms FROM channel_pacing WHERE channel = $1",
                &[&channel, &tolerance],
            )
            .await?;
        let (next, paused): (i64, i64) = (row.get(0), row.get(1));
        Ok(if paused > now_ms {
            Permit::Paused(paused)
        } else {
            Permit::WaitUntil(next.max(now_ms + 1))
        })
    }

    async fn receipt(
        &self,
        key: &str,
        channel: &str,
    ) -> Result<Option<crate::notification::Receipt>> {
        let mut c = self.client().await?;
        let row = c
            .query_opt("SELECT body FROM groups WHERE key = $1", &[&key])
            .await?;
        Ok(row
            .and_then(|r| serde_json::from_str::<crate::group::GroupState>(r.get(0)).ok())
            .and_then(|g| g.receipts.get(channel).cloned()))
    }

    async fn shown_total(&self, key: &str) -> Result<Option<u64>> {
        let mut c = self.client().await?;
        Ok(
            c.query_opt("SELECT total FROM shown_totals WHERE key = $1", &[&key])
                .await?
                .map(|r| r.get::<_, i64>(0).max(0) as u64),
        )
    }

    async fn record_shown(&self, key: &str, total: u64, now_ms: i64) -> Result<()> {
        let mut c = self.client().await?;
        let total = i64::try_from(total).unwrap_or(i64::MAX);
        c.execute(
            "INSERT INTO shown_totals AS s (key, total, at_ms) VALUES ($1, $2, $3)
             ON CONFLICT (key) DO UPDATE SET total = GREATEST(s.total, excluded.total),
                 at_ms = excluded.at_ms",
            &[&key, &total, &now_ms],
        )
        .await?;
        Ok(())
    }

    async fn pause(&self, channel: &str, until_ms: i64) -> Result<()> {
        let mut c = self.client().await?;
        c.execute(
            "INSERT INTO channel_pacing AS p (channel, paused_until_ms) VALUES ($1, $2)
             ON CONFLICT (channel) DO UPDATE SET paused_until_ms = GREATEST(p.paused_until_ms, $2)",
            &[&channel, &until_ms],
        )
        .await?;
        Ok(())
    }

    async fn set_broken(&self, channel: &str, reason: Option<&str>) -> Result<()> {
        let mut c = self.client().await?;
        c.execute(
            "INSERT INTO channel_pacing AS p (channel, broken) VALUES ($1, $2)
             ON CONFLICT (channel) DO UPDATE SET broken = $2",
            &[&channel, &reason],
        )
        .await?;
        Ok(())
    }
}
