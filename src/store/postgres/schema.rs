//! The PostgreSQL schema, versioned like the SQLite one (SPEC 7, 12): the first
//! replica to start migrates, the others wait on an advisory lock and find it done;
//! a schema newer than this binary knows is refused unchanged.

use super::{pg_err, Pg};
use crate::store::{Result, StoreError};

/// The schema version this binary writes.
pub(super) const VERSION: i64 = 3;

/// Session advisory lock held while migrating ("twilert" in ASCII, roughly).
const MIGRATE_LOCK: i64 = 0x7477_696c_6572_7401;

/// Version 1. Times are unix milliseconds (BIGINT) as in the SQLite store.
/// `groups.due_at` is the group's window end, so the replica holding the ticker
/// lease finds due groups by index; `counters` has one row per replica and term
/// (no row every replica updates); `leases` names the ticker; `channel_pacing` is
/// each channel's shared rate budget (GCRA theoretical arrival time), Retry-After
/// pause and broken mark; `replicas` is who runs which configuration.
const V1: &str = "
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE events (
        id BIGSERIAL PRIMARY KEY,
        sid TEXT NOT NULL UNIQUE,
        received_at BIGINT NOT NULL,
        body TEXT NOT NULL,
        error_code INTEGER,
        resource_sid TEXT,
        level TEXT,
        route TEXT
    );
    CREATE INDEX events_received ON events (received_at);
    CREATE INDEX events_code ON events (error_code, id);
    CREATE INDEX events_route ON events (route, id);
    CREATE INDEX events_level ON events (level, id);
    CREATE TABLE event_minutes (
        minute BIGINT NOT NULL,
        error_code INTEGER NOT NULL,
        count BIGINT NOT NULL,
        PRIMARY KEY (minute, error_code)
    );
    CREATE TABLE notifications (
        id BIGSERIAL PRIMARY KEY,
        channel TEXT NOT NULL,
        route TEXT NOT NULL,
        group_key TEXT NOT NULL,
        event_sid TEXT NOT NULL,
        is_digest BOOLEAN NOT NULL,
        body TEXT NOT NULL,
        state SMALLINT NOT NULL,
        attempts INTEGER NOT NULL,
        next_at BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        last_error TEXT,
        event_count BIGINT NOT NULL,
        fold_key TEXT,
        events BIGINT NOT NULL DEFAULT 1,
        first_seen BIGINT NOT NULL DEFAULT 0,
        last_seen BIGINT NOT NULL DEFAULT 0,
        resources BIGINT NOT NULL DEFAULT 0,
        lease_until BIGINT NOT NULL DEFAULT 0,
        lease_holder TEXT
    );
    CREATE INDEX notifications_due ON notifications (channel, next_at, id) WHERE state = 0;
    CREATE INDEX notifications_state ON notifications (state, updated_at);
    CREATE INDEX notifications_event ON notifications (event_sid);
    CREATE INDEX notifications_fold ON notifications (channel, fold_key) WHERE state = 0 AND attempts = 0;
    CREATE TABLE groups (
        key TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        due_at BIGINT NOT NULL,
        accounted BIGINT NOT NULL
    );
    CREATE INDEX groups_due ON groups (due_at);
    CREATE TABLE counters (
        replica TEXT NOT NULL,
        name TEXT NOT NULL,
        value BIGINT NOT NULL,
        PRIMARY KEY (replica, name)
    );
    CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, until_ms BIGINT NOT NULL);
    CREATE TABLE channel_pacing (
        channel TEXT PRIMARY KEY,
        tat_ms BIGINT NOT NULL DEFAULT 0,
        paused_until_ms BIGINT NOT NULL DEFAULT 0,
        broken TEXT
    );
    CREATE TABLE replicas (
        id TEXT PRIMARY KEY,
        started_at BIGINT NOT NULL,
        seen_at BIGINT NOT NULL,
        config TEXT NOT NULL,
        version TEXT NOT NULL
    );";

/// Version 2: silences (SPEC 14), shared by every replica. As in the SQLite store:
/// the definition is JSON, what changes is in columns (events held back, the last
/// match, the expiry); `silence_routes` is what each held back per route.
const V2: &str = "
    CREATE TABLE silences (
        id TEXT PRIMARY KEY,
        definition TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        suppressed BIGINT NOT NULL DEFAULT 0,
        last_match BIGINT,
        expired_at BIGINT,
        expired_by TEXT
    );
    CREATE INDEX silences_active ON silences (created_at) WHERE expired_at IS NULL;
    CREATE TABLE silence_routes (
        silence_id TEXT NOT NULL,
        route TEXT NOT NULL,
        events BIGINT NOT NULL,
        sample_sid TEXT NOT NULL,
        PRIMARY KEY (silence_id, route)
    );";

/// Version 3: the newest running total shown in each living Slack message, so a
/// replica never edits an older total over a newer one (pruned with retention).
const V3: &str = "
    CREATE TABLE shown_totals (
        key TEXT PRIMARY KEY,
        total BIGINT NOT NULL,
        at_ms BIGINT NOT NULL
    );";

const STEPS: [(i64, &str); 3] = [(1, V1), (2, V2), (3, V3)];

/// Brings the database up to [`VERSION`] under the migration lock; returns it.
pub(super) fn migrate(pg: &Pg) -> Result<i64> {
    pg.run(
        pg.client
            .query("SELECT pg_advisory_lock($1)", &[&MIGRATE_LOCK]),
    )?;
    let result = migrate_locked(pg);
    let _ = pg.run(
        pg.client
            .query("SELECT pg_advisory_unlock($1)", &[&MIGRATE_LOCK]),
    );
    result
}

fn migrate_locked(pg: &Pg) -> Result<i64> {
    pg.run(pg.client.batch_execute(
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ))?;
    let found: i64 = pg
        .run(
            pg.client
                .query_opt("SELECT value FROM meta WHERE key = 'schema_version'", &[]),
        )?
        .and_then(|r| r.get::<_, String>(0).parse().ok())
        .unwrap_or(0);
    if found > VERSION {
        return Err(StoreError::Schema(format!(
            "the store's schema is version {found}, newer than this twilert knows ({VERSION}); upgrade twilert (the store was not changed)"
        )));
    }
    for (version, sql) in STEPS {
        if found < version {
            let step = format!(
                "BEGIN; {sql}; INSERT INTO meta (key, value) VALUES ('schema_version', '{version}')
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value; COMMIT;"
            );
            if let Err(e) = pg.rt.block_on(pg.client.batch_execute(&step)) {
                let _ = pg.rt.block_on(pg.client.batch_execute("ROLLBACK"));
                return Err(StoreError::Schema(format!(
                    "migrating to version {version}: {}",
                    pg_err(e)
                )));
            }
            tracing::info!(version, "PostgreSQL schema migrated");
        }
    }
    Ok(VERSION)
}
