//! Table layout, created on open.

use rusqlite::Connection;

pub(super) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "-- Rows append in rowid order; only the small sid index is random-access, so
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
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;",
    )
}
