//! Table layout, versioned (SPEC 7). Every open brings an older store up to date
//! step by step inside one `BEGIN IMMEDIATE` transaction (so two processes opening
//! at once migrate once), and refuses a store newer than this binary knows.

use rusqlite::{Connection, OptionalExtension};

/// The schema version this binary writes.
pub(super) const VERSION: i64 = 9;

/// Version 1: the first release's tables (created if missing; a first-release store
/// has them and no `meta` table, and is taken as version 1).
const V1: &str = "-- Rows append in rowid order; only the small sid index is random-access, so
    -- a growing table stays cheap to insert into (a WITHOUT ROWID table keyed by
    -- the random Sid spread whole rows over the file and cost a read per insert).
    CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY,
        sid TEXT NOT NULL UNIQUE,
        received_at INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS events_received ON events (received_at);
    CREATE TABLE IF NOT EXISTS notifications (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        channel TEXT NOT NULL,
        route TEXT NOT NULL,
        group_key TEXT NOT NULL,
        event_sid TEXT NOT NULL,
        is_digest INTEGER NOT NULL,
        body TEXT NOT NULL,
        state INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        next_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        last_error TEXT,
        event_count INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS notifications_due ON notifications (state, channel, next_at);
    CREATE INDEX IF NOT EXISTS notifications_event ON notifications (event_sid);
    CREATE TABLE IF NOT EXISTS groups (key TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;";

/// Version 2: what folding a backlog needs, in columns, so it is counted and merged
/// in SQL without loading bodies. The partial index holds only waiting rows that were
/// never tried (the ones folding may merge): rows being retried cost it nothing.
const V2: &str = "ALTER TABLE notifications ADD COLUMN fold_key TEXT;
    ALTER TABLE notifications ADD COLUMN events INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE notifications ADD COLUMN first_seen INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE notifications ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE notifications ADD COLUMN resources INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX notifications_fold ON notifications
        (channel, fold_key, event_count, events, first_seen, last_seen, resources)
        WHERE state = 0 AND attempts = 0;";

/// Version 3: what the console and `/api/v1/events` filter on, in columns with
/// `(column, id)` indexes (keyset pagination newest first), and events per minute and
/// code for the overview chart (one small row per minute and code, not a scan).
/// Every index appends near its key's end (ids grow); resource_sid has none (its
/// random keys would cost a page write per event; the filter scans a bounded stretch). Events
/// stored before are filled in from their bodies (the route they matched is unknown).
const V3: &str = "ALTER TABLE events ADD COLUMN error_code INTEGER;
    ALTER TABLE events ADD COLUMN resource_sid TEXT;
    ALTER TABLE events ADD COLUMN level TEXT;
    ALTER TABLE events ADD COLUMN route TEXT;
    UPDATE events SET error_code = CAST(json_extract(body, '$.payload.error_code') AS INTEGER),
        resource_sid = json_extract(body, '$.payload.resource_sid'),
        level = json_extract(body, '$.level');
    CREATE INDEX events_code ON events (error_code, id);
    CREATE INDEX events_route ON events (route, id);
    CREATE INDEX events_level ON events (level, id);
    CREATE TABLE IF NOT EXISTS event_minutes (
        minute INTEGER NOT NULL,
        error_code INTEGER NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (minute, error_code)
    ) WITHOUT ROWID;
    INSERT INTO event_minutes (minute, error_code, count)
        SELECT received_at / 60000, COALESCE(error_code, 0), COUNT(*) FROM events GROUP BY 1, 2;";

/// Version 4: silences (SPEC 14). The definition is JSON (what it matches, who,
/// when, how it ends); what changes is in columns: the events held back, the
/// last match (`until_quiet`), when and by whom it was expired. `silence_routes`:
/// what it held back per route (count and a first event), for the end-of-silence
/// summaries.
const V4: &str = "CREATE TABLE IF NOT EXISTS silences (
        id TEXT PRIMARY KEY,
        definition TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        suppressed INTEGER NOT NULL DEFAULT 0,
        last_match INTEGER,
        expired_at INTEGER,
        expired_by TEXT
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS silences_active ON silences (expired_at, created_at);
    CREATE TABLE IF NOT EXISTS silence_routes (
        silence_id TEXT NOT NULL,
        route TEXT NOT NULL,
        events INTEGER NOT NULL,
        sample_sid TEXT NOT NULL,
        PRIMARY KEY (silence_id, route)
    ) WITHOUT ROWID;";

/// Version 5: fewer index entries per stored event (SPEC 11): the error code's is
/// the one kept beside the Sid's. `received_at` grows with `id` (one writer stamps
/// and inserts in order), so `since` and pruning find their first id by a binary
/// search; a level or route filter scans a bounded stretch like a resource filter.
const V5: &str = "DROP INDEX IF EXISTS events_received;
    DROP INDEX IF EXISTS events_level;
    DROP INDEX IF EXISTS events_route;";

/// Version 6: groups in a rowid table without a key index. A new group is appended
/// (a storm of new resources fills one page after another instead of a random page
/// per group); the engine keeps each group's row (it is the only writer) and the
/// console's lookups by key scan the open groups. And no `events_code` index: the
/// console's code filter scans a bounded stretch like its other filters.
const V6: &str =
    "CREATE TABLE groups_v6 (id INTEGER PRIMARY KEY, key TEXT NOT NULL, body TEXT NOT NULL);
    INSERT INTO groups_v6 (key, body) SELECT key, body FROM groups;
    DROP TABLE groups;
    ALTER TABLE groups_v6 RENAME TO groups;
    DROP INDEX IF EXISTS events_code;";

/// Version 7: drops `events_received` again. Up to version 6 every open ran V1's
/// `CREATE ... IF NOT EXISTS` statements, which rebuilt the index V5 dropped (over
/// every stored event, at each start), so a store written by those versions kept
/// paying an index entry per event. V1 now runs only on a new or first-release store.
const V7: &str = "DROP INDEX IF EXISTS events_received;";

/// Version 8: where the engine's written state stands (`applied_through`: the last
/// event whose groups, alerts and counts are in the store). Under load the engine
/// commits a batch's events alone and writes what they changed with a later batch;
/// the events after this mark are planned again at start. Every store written
/// before this version wrote its state with each batch: all its events count.
const V8: &str = "INSERT OR IGNORE INTO meta (key, value)
    SELECT 'applied_through', COALESCE(MAX(id), 0) FROM events;";

/// Version 9: fresh one-event groups saved together, a row per state write (a
/// storm of new resources opens a group per event): their keys, windows' ends and
/// first events' ids, with what each route opened them with. A row is deleted once
/// every window in it ended.
const V9: &str = "CREATE TABLE IF NOT EXISTS group_seeds (
        id INTEGER PRIMARY KEY,
        max_end INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS group_seeds_end ON group_seeds (max_end);";

const STEPS: [(i64, &str); 8] = [
    (2, V2),
    (3, V3),
    (4, V4),
    (5, V5),
    (6, V6),
    (7, V7),
    (8, V8),
    (9, V9),
];

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("{0}")]
    Sql(#[from] rusqlite::Error),
    #[error("the store's schema is version {found}, newer than this twilert knows ({VERSION}); upgrade twilert (the store was not changed)")]
    TooNew { found: i64 },
}

pub(super) fn migrate(conn: &Connection) -> Result<(), SchemaError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = migrate_in_tx(conn);
    match &result {
        Ok(()) => conn.execute_batch("COMMIT")?,
        Err(_) => {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
    result
}

fn migrate_in_tx(conn: &Connection) -> Result<(), SchemaError> {
    let has_meta = conn
        .query_row(
            "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'meta'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    let recorded: Option<i64> = if has_meta {
        conn.query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get::<_, String>(0),
        )
        .optional()?
        .and_then(|v| v.parse().ok())
    } else {
        None
    };
    // No version recorded: a new store or a first release's (version 1). V1 is
    // only for those: run on a later version it would bring back what a later
    // step dropped.
    let found = recorded.unwrap_or(1);
    if recorded.is_none() {
        conn.execute_batch(V1)?;
    }
    if found > VERSION {
        return Err(SchemaError::TooNew { found });
    }
    for (version, sql) in STEPS {
        if found < version {
            conn.execute_batch(sql)?;
        }
    }
    if found < VERSION {
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [VERSION.to_string()],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_3_fills_the_filter_columns_of_older_events() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(V1).unwrap();
        conn.execute_batch(V2).unwrap();
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', '2')",
            [],
        )
        .unwrap();
        let body = r#"{"sid":"NO1","level":"warning","payload":{"state":"parsed","error_code":11200,"resource_sid":"CA1"}}"#;
        conn.execute(
            "INSERT INTO events (sid, received_at, body) VALUES ('NO1', 120000, ?1)",
            [body],
        )
        .unwrap();
        migrate(&conn).unwrap();
        let row: (i64, String, String) = conn
            .query_row(
                "SELECT error_code, resource_sid, level FROM events",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(row, (11200, "CA1".into(), "warning".into()));
        let minute: (i64, i64, i64) = conn
            .query_row(
                "SELECT minute, error_code, count FROM event_minutes",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(minute, (2, 11200, 1));
    }

    fn indexes(conn: &Connection) -> Vec<String> {
        let mut st = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn reopening_a_current_store_brings_back_no_dropped_index() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        let fresh = indexes(&conn);
        assert!(!fresh.iter().any(|i| i == "events_received"), "{fresh:?}");
        migrate(&conn).unwrap();
        assert_eq!(indexes(&conn), fresh, "a second open changes nothing");
    }

    #[test]
    fn version_7_drops_the_index_earlier_opens_rebuilt() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        // What every open of a version-6 store did: V1's statements again.
        conn.execute_batch(V1).unwrap();
        conn.execute(
            "UPDATE meta SET value = '6' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
        assert!(indexes(&conn).iter().any(|i| i == "events_received"));
        migrate(&conn).unwrap();
        assert!(!indexes(&conn).iter().any(|i| i == "events_received"));
        let v: String = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(v, VERSION.to_string());
    }
}
