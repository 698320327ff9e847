use super::*;
use crate::event::*;
use crate::notification::{Digest, Notification};
use crate::store::{EventRow, OutboxTx, State};

/// An event row with a stand-in body.
fn row(sid: &str, received_at_ms: i64) -> EventRow<'_> {
    EventRow {
        sid,
        received_at_ms,
        body: "{}",
        ..Default::default()
    }
}

fn notification(sid_n: u32, channel: &str, digest: bool) -> Notification {
    Notification {
        channel: channel.into(),
        route: "r".into(),
        group_key: "r|k".into(),
        template: None,
        mention: None,
        event: std::sync::Arc::new(DebuggerEvent {
            sid: Sid::parse(&format!("NO{sid_n:032x}")).unwrap(),
            account_sid: Sid::parse(&format!("AC{:032x}", 1)).unwrap(),
            parent_account_sid: None,
            timestamp: None,
            level: Level::Error,
            payload: PayloadState::Unreadable {
                reason: "x".into(),
                resource_sid: None,
            },
            raw_payload: "x".into(),
            received_at_ms: 1,
            source: Default::default(),
        }),
        digest: digest.then(Digest::default),
        threshold: None,
        resolved: None,
        silence: None,
        parent: None,
    }
}

#[test]
fn silences_are_stored_counted_and_expired_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut store = Store::open(&path).unwrap();
    let s = serde_json::from_value::<crate::silence::SilenceRequest>(serde_json::json!({
        "error_codes": ["11200"], "resource_sids": ["CA*"], "for": "2h", "author": "ann", "comment": "deploy"
    }))
    .unwrap()
    .check(&[])
    .unwrap()
    .build("abc".into(), 1_000)
    .unwrap();
    store
        .batch(|b| {
            b.insert_silence(&s)?;
            b.add_suppressed("abc", 3, 5_000)?;
            b.add_suppressed("abc", 2, 4_000)?;
            b.add_silence_hits("abc", "voice", 3, "NO1")?;
            b.add_silence_hits("abc", "voice", 2, "NO9")?;
            b.add_silence_hits("abc", "sms", 1, "NO2")
        })
        .unwrap();
    let active = store.active_silences().unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(
        (active[0].suppressed, active[0].last_match_ms),
        (5, Some(5_000))
    );
    assert_eq!(active[0].lists, s.lists);
    let hits = store.batch(|b| b.silence_hits("abc")).unwrap();
    assert_eq!(
        hits.iter()
            .map(|h| (h.route.as_str(), h.events, h.sample_sid.as_str()))
            .collect::<Vec<_>>(),
        [("sms", 1, "NO2"), ("voice", 5, "NO1")]
    );
    let first = store
        .batch(|b| b.expire_silence("abc", 9_000, Some("bob")))
        .unwrap();
    let again = store
        .batch(|b| b.expire_silence("abc", 9_500, None))
        .unwrap();
    assert!(first && !again, "expired exactly once");
    assert!(store.active_silences().unwrap().is_empty());
    let reader = Reader::open(&path).unwrap();
    assert!(reader.silences(false).unwrap().is_empty());
    let all = reader.silences(true).unwrap();
    assert_eq!(all[0].expired_at_ms, Some(9_000));
    assert_eq!(all[0].expired_by.as_deref(), Some("bob"));
    assert!(store.batch(|b| b.silence("nope")).unwrap().is_none());
}

#[test]
fn events_dedupe_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    {
        let mut s = Store::open(&path).unwrap();
        let (a, b) = s
            .batch(|b| {
                Ok((
                    b.insert_indexed_event(&row("NO1", 1))?,
                    b.insert_indexed_event(&row("NO1", 2))?,
                ))
            })
            .unwrap();
        assert!(a && !b);
        s.batch(|b| {
            b.add_counters(&Counters {
                accepted: 1,
                duplicates: 1,
                ..Default::default()
            })
        })
        .unwrap();
    }
    let mut s = Store::open(&path).unwrap();
    assert!(!s.batch(|b| b.insert_indexed_event(&row("NO1", 3))).unwrap());
    assert_eq!(s.counters().unwrap().accepted, 1);
}

/// Queues `n` after storing its event (as the engine does: a notification row
/// refers to its event, it does not copy it).
fn queue(b: &Batch<'_>, n: &Notification, event_count: u64, now: i64) -> Result<i64> {
    let body = n.event.to_stored_json().unwrap();
    b.insert_indexed_event(&EventRow {
        sid: n.event.sid.as_str(),
        received_at_ms: n.event.received_at_ms,
        body: &body,
        ..Default::default()
    })?;
    b.insert_notification(n, event_count, now)
}

#[test]
fn a_queued_notification_keeps_no_copy_of_its_event_and_reads_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut s = Store::open(&path).unwrap();
    let r = Reader::open(&path).unwrap();
    let n = notification(1, "slack", true);
    let id = s.batch(|b| queue(b, &n, 3, 100)).unwrap();
    let conn = Connection::open(&path).unwrap();
    let body: String = conn
        .query_row("SELECT body FROM notifications WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(!body.contains(n.event.sid.as_str()), "{body}");
    let due = r.due("slack", 100, 10).unwrap();
    assert_eq!(due[0].notification, n, "read back with its event");
    // A row written before (the event inside its body) reads as it was.
    let old = serde_json::to_string(&notification(7, "slack", false)).unwrap();
    conn.execute(
        "INSERT INTO notifications (channel, route, group_key, event_sid, is_digest, body, state, attempts, next_at, created_at, updated_at, event_count)
         VALUES ('slack', 'r', 'r|k', 'NOgone', 0, ?1, 0, 0, 100, 100, 100, 1)",
        [old],
    )
    .unwrap();
    let due = r.due("slack", 100, 10).unwrap();
    assert_eq!(due[1].notification, notification(7, "slack", false));
}

#[test]
fn notification_lifecycle_and_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut s = Store::open(&path).unwrap();
    let r = Reader::open(&path).unwrap();
    let (id1, id2) = s
        .batch(|b| {
            Ok((
                queue(b, &notification(1, "slack", false), 1, 100)?,
                queue(b, &notification(2, "slack", true), 7, 100)?,
            ))
        })
        .unwrap();
    assert_eq!(r.due("slack", 99, 10).unwrap().len(), 0);
    let due = r.due("slack", 100, 10).unwrap();
    assert_eq!(due.iter().map(|q| q.id).collect::<Vec<_>>(), vec![id1, id2]);
    assert_eq!(due[1].event_count, 7);
    assert_eq!(s.pending_notification_events().unwrap(), 8);
    s.batch(|b| b.reschedule(id1, 1, 500, 100, "HTTP 500"))
        .unwrap();
    assert_eq!(r.due("slack", 200, 10).unwrap().len(), 1);
    assert_eq!(r.next_due_at("slack").unwrap(), Some(100));
    s.batch(|b| b.set_state(id2, State::Sent, 1, 200, None))
        .unwrap();
    s.batch(|b| b.set_state(id1, State::Dead, 3, 600, Some("HTTP 404: no_service")))
        .unwrap();
    let dead = r.dead_letters().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error, "HTTP 404: no_service");
    assert_eq!(dead[0].attempts, 3);
    assert_eq!(s.batch(|b| b.requeue_dead(None, 700)).unwrap(), 1);
    assert_eq!(r.due("slack", 700, 10).unwrap()[0].attempts, 0);
    assert!(r.dead_letters().unwrap().is_empty());
}

#[test]
fn prune_keeps_pending() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("s.db")).unwrap();
    let n = notification(1, "slack", false);
    s.batch(|b| {
        b.insert_indexed_event(&row(n.event.sid.as_str(), 1))?;
        b.insert_indexed_event(&row("NOold", 1))?;
        b.insert_indexed_event(&row("NOnew", 20))?;
        b.insert_notification(&n, 1, 1)?;
        b.mark_applied()
    })
    .unwrap();
    assert_eq!(
        s.prune(10).unwrap(),
        1,
        "only the event without notifications goes"
    );
}

#[test]
fn prune_leaves_the_events_after_the_written_state_and_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("s.db")).unwrap();
    s.batch(|b| {
        b.insert_indexed_event(&row("NOa", 1))?;
        b.insert_indexed_event(&row("NOb", 1))
    })
    .unwrap();
    // Committed alone (the engine under load): planned again at start, so kept.
    assert_eq!(s.unapplied_events().unwrap().len(), 2);
    assert_eq!(s.prune(10).unwrap(), 0);
    s.batch(|b| b.mark_applied()).unwrap();
    assert!(s.unapplied_events().unwrap().is_empty());
    // The newest row stays, so its id is never handed out again.
    assert_eq!(s.prune(10).unwrap(), 1);
    s.batch(|b| b.insert_indexed_event(&row("NOc", 30)))
        .unwrap();
    // A reused id would be at or before the mark, and never planned again.
    assert_eq!(s.unapplied_events().unwrap().len(), 1);
}

#[test]
fn a_store_newer_than_this_binary_is_refused_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    drop(Store::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
        [],
    )
    .unwrap();
    drop(conn);
    let err = Store::open(&path).err().expect("refused").to_string();
    assert!(
        err.contains("version 99") && err.contains("upgrade twilert"),
        "{err}"
    );
    let conn = Connection::open(&path).unwrap();
    let v: String = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(v, "99", "never altered");
}

#[test]
fn a_first_release_store_is_migrated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let conn = Connection::open(&path).unwrap();
    // The first release's notifications table, with one waiting row.
    conn.execute_batch(
        "CREATE TABLE notifications (id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, route TEXT NOT NULL,
         group_key TEXT NOT NULL, event_sid TEXT NOT NULL, is_digest INTEGER NOT NULL, body TEXT NOT NULL, state INTEGER NOT NULL,
         attempts INTEGER NOT NULL, next_at INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
         last_error TEXT, event_count INTEGER NOT NULL);",
    )
    .unwrap();
    drop(conn);
    let mut s = Store::open(&path).unwrap();
    s.batch(|b| queue(b, &notification(1, "slack", false), 1, 5).map(|_| ()))
        .unwrap();
    let conn = Connection::open(&path).unwrap();
    let v: String = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(v, schema::VERSION.to_string());
}

#[test]
fn prune_ages_out_the_charts_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut s = Store::open(&path).unwrap();
    s.batch(|b| b.insert_indexed_event(&row("NOa", 1_000)).map(|_| ()))
        .unwrap();
    s.batch(|b| b.insert_indexed_event(&row("NOb", 3_600_000)).map(|_| ()))
        .unwrap();
    s.prune(3_000_000).unwrap();
    let conn = Connection::open(&path).unwrap();
    let minutes: Vec<i64> = conn
        .prepare("SELECT minute FROM event_minutes ORDER BY minute")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(minutes, [60], "the minute of the pruned event is gone");
}
