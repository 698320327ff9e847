//! Reading PostgreSQL rows back into the store's records (shared by the writer,
//! the views and the workers' queue).

use crate::group::GroupState;
use crate::notification::Notification;
use crate::store::{Queued, Result, StoreError};

pub(super) fn parse_groups(rows: Vec<tokio_postgres::Row>) -> Vec<(String, GroupState)> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let key: String = r.get(0);
        match serde_json::from_str(r.get::<_, &str>(1)) {
            Ok(g) => out.push((key, g)),
            Err(e) => tracing::warn!(group = %key, error = %e, "skipping unreadable group state"),
        }
    }
    out
}

/// A waiting notification's row with its event's stored body as `event_body` (the
/// row does not repeat the event: it is the `events` row of `event_sid`).
pub(super) fn parse_queued(r: &tokio_postgres::Row) -> Result<Queued> {
    let id: i64 = r.get("id");
    let notification = Notification::from_stored(
        r.get::<_, &str>("body"),
        r.get::<_, Option<&str>>("event_body"),
    )
    .map_err(|message| StoreError::Corrupt {
        what: format!("notification {id}"),
        message,
    })?;
    Ok(Queued {
        id,
        notification,
        attempts: r.get::<_, i32>("attempts").max(0) as u32,
        created_at_ms: r.get("created_at"),
        event_count: r.get::<_, i64>("event_count").max(0) as u64,
    })
}

/// The columns a silence is read from, in [`silence_of`]'s order.
pub(super) const SILENCE_COLUMNS: &str =
    "id, definition, suppressed, last_match, expired_at, expired_by";

/// A `SELECT {SILENCE_COLUMNS}` row as a silence (a row that no longer parses is a
/// corrupt row, named).
pub(super) fn silence_of(r: &tokio_postgres::Row) -> Result<crate::silence::Silence> {
    let id: String = r.get(0);
    let state = crate::silence::SilenceState {
        suppressed: r.get::<_, i64>(2).max(0) as u64,
        last_match_ms: r.get(3),
        expired_at_ms: r.get(4),
        expired_by: r.get(5),
    };
    crate::silence::Silence::from_stored(&id, r.get(1), state).map_err(|e| {
        crate::store::StoreError::Corrupt {
            what: format!("silence {id}"),
            message: e,
        }
    })
}
