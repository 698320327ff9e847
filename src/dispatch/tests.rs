//! The engine on a real SQLite store: a batch under load commits its events
//! alone, what they change is written later, and after a crash it is planned
//! again from the stored events.

use super::*;
use crate::clock::ManualClock;
use crate::event::*;
use crate::store::Store;
use std::path::Path;

const CONFIG: &str = r#"
[twilio]
verify_signature = false
[store]
path = "unused"
[defaults]
window = "10s"
[channels.a]
kind = "console"
target = "/dev/null"
max_pending = 4
[[routes]]
name = "voice"
error_codes = ["112xx"]
channels = ["a"]
"#;

fn event(n: u32, resource: u32) -> DebuggerEvent {
    DebuggerEvent {
        sid: Sid::parse(&format!("NO{n:032x}")).unwrap(),
        account_sid: Sid::parse(&format!("AC{:032x}", 1)).unwrap(),
        parent_account_sid: None,
        timestamp: None,
        level: Level::Error,
        payload: PayloadState::Parsed(Payload {
            error_code: ErrorCode(11200),
            resource_sid: Some(format!("CA{resource:032x}")),
            service_sid: None,
            more_info: None,
            webhook: None,
        }),
        raw_payload: String::new(),
        received_at_ms: 1_000_000 + n as i64,
        source: Default::default(),
    }
}

fn engine(db: &Path) -> Engine<Store> {
    engine_at(db, ManualClock::new(1_000_000))
}

fn engine_at(db: &Path, clock: ManualClock) -> Engine<Store> {
    let cfg = CONFIG.replace("\"unused\"", &format!("{:?}", db.display().to_string()));
    let settings =
        crate::config::from_toml_str(&cfg, "test", |_| None, Default::default()).unwrap();
    let rt = Arc::new(Runtime::build(settings).unwrap());
    let mut e = Engine::new(
        Store::open(db).unwrap(),
        rt,
        Arc::new(clock),
        Wakers::default(),
        Arc::new(Metrics::new()),
    )
    .unwrap();
    e.reload_silences();
    e
}

type Answer = oneshot::Receiver<Result<(Accepted, Box<Incoming>), DispatchError>>;

/// One batch of ingest commands for events `ids` (resource = id: a new group each).
fn ingests(e: &Engine<Store>, ids: std::ops::Range<u32>) -> (Vec<Command>, Vec<Answer>) {
    ids.map(|n| {
        let (reply, rx) = oneshot::channel();
        let event = Box::new(Incoming::new(event(n, n), &e.runtime).unwrap());
        (Command::Ingest { event, reply }, rx)
    })
    .unzip()
}

fn answers(rxs: Vec<Answer>) -> Vec<Accepted> {
    rxs.into_iter()
        .map(|mut rx| rx.try_recv().expect("answered").expect("stored").0)
        .collect()
}

/// (events, groups (rows and seeds), notifications, accepted counter) as stored.
fn stored(db: &Path) -> (i64, i64, i64, i64) {
    let c = rusqlite::Connection::open(db).unwrap();
    let n = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    (
        n("SELECT COUNT(*) FROM events"),
        n("SELECT (SELECT COUNT(*) FROM groups)
            + (SELECT COALESCE(SUM(json_array_length(body, '$.groups')), 0) FROM group_seeds)"),
        n("SELECT COUNT(*) FROM notifications"),
        n("SELECT COALESCE((SELECT value FROM counters WHERE name = 'accepted'), 0)"),
    )
}

#[test]
fn a_batch_under_load_commits_its_events_first_and_their_state_soon_after() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let mut e = engine(&db);
    let (cmds, rxs) = ingests(&e, 0..12);
    e.apply(cmds);
    assert_eq!(answers(rxs), vec![Accepted::New; 12]);
    assert_eq!(stored(&db), (12, 0, 0, 0), "only the events are written");
    // The accounting holds in between: the deferred counts and alerts are in it.
    let snap = e.snapshot();
    assert_eq!(snap.counters.accepted, 12);
    assert_eq!(snap.accounted(), 12);

    // What the engine does when no command came for DEFER_FOR: write what waits.
    e.apply(Vec::new());
    assert!(e.deferred.is_none());
    assert_eq!(stored(&db), (12, 12, 12, 12));
    let snap = e.snapshot();
    assert_eq!((snap.counters.accepted, snap.accounted()), (12, 12));
}

#[test]
fn a_quiet_batch_writes_its_state_with_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let mut e = engine(&db);
    let (cmds, rxs) = ingests(&e, 0..(DEFER_MIN as u32 - 1));
    e.apply(cmds);
    assert_eq!(answers(rxs).len(), DEFER_MIN - 1);
    assert!(e.deferred.is_none());
    let n = DEFER_MIN as i64 - 1;
    assert_eq!(stored(&db), (n, n, n, n));
}

#[test]
fn events_committed_alone_before_a_crash_are_planned_again_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    {
        let mut e = engine(&db);
        let (cmds, rxs) = ingests(&e, 0..4);
        e.apply(cmds); // quiet: written in full
        answers(rxs);
        let (cmds, rxs) = ingests(&e, 4..20);
        e.apply(cmds); // under load: events only
        answers(rxs);
        // The process dies here: nothing more is written.
    }
    assert_eq!(stored(&db), (20, 4, 4, 4));

    let mut e = engine(&db);
    e.replay().unwrap();
    assert_eq!(
        stored(&db),
        (20, 20, 20, 20),
        "one group and one alert per event, counted once"
    );
    assert_eq!(e.groups.len(), 20);
    let snap = e.snapshot();
    assert_eq!((snap.counters.accepted, snap.accounted()), (20, 20));
    // The mark moved: a second start plans nothing again.
    drop(e);
    let mut e = engine(&db);
    e.replay().unwrap();
    assert_eq!(stored(&db), (20, 20, 20, 20));

    // A Twilio retry of an event from before the crash is a duplicate.
    let (cmds, rxs) = ingests(&e, 7..8);
    e.apply(cmds);
    assert_eq!(answers(rxs), vec![Accepted::Duplicate]);
}

fn pending_rows(db: &Path) -> i64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row(
        "SELECT COUNT(*) FROM notifications WHERE state = 0",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

fn tick(e: &mut Engine<Store>) {
    e.apply(vec![Command::Tick { reply: None }]);
}

#[test]
fn a_channel_stays_backlogged_while_a_storm_of_new_groups_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let mut e = engine(&db);
    for n in 0..5 {
        let (cmds, _rxs) = ingests(&e, n..n + 1);
        e.apply(cmds);
    }
    assert_eq!(pending_rows(&db), 5);
    tick(&mut e); // over max_pending (4): folded into one digest
    assert_eq!(pending_rows(&db), 1);
    let storm = |e: &mut Engine<Store>, from: u32| {
        let (cmds, _rxs) = ingests(e, from..from + 12);
        e.apply(cmds);
        e.apply(Vec::new());
    };
    storm(&mut e, 100); // written as one digest
    assert_eq!(pending_rows(&db), 2);
    // Under max_pending now, but new alerts came folded since the last tick: the
    // storm goes on, so the next ones are folded too, not a row each.
    tick(&mut e);
    storm(&mut e, 200);
    assert_eq!(pending_rows(&db), 3);
    tick(&mut e);
    tick(&mut e); // a tick interval without new alerts: the storm is over
    storm(&mut e, 300);
    assert_eq!(pending_rows(&db), 3 + 12);
    let snap = e.snapshot();
    assert_eq!(snap.accounted(), snap.counters.accepted);
}

/// (group rows, seeds' rows) as stored.
fn group_rows(db: &Path) -> (i64, i64) {
    let c = rusqlite::Connection::open(db).unwrap();
    let n = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    (
        n("SELECT COUNT(*) FROM groups"),
        n("SELECT COUNT(*) FROM group_seeds"),
    )
}

#[test]
fn a_new_groups_first_event_is_all_of_it_until_a_second_comes_even_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    {
        let mut e = engine(&db);
        let (cmds, rxs) = ingests(&e, 0..3); // three new groups, quiet: written in full
        e.apply(cmds);
        answers(rxs);
        assert_eq!(
            group_rows(&db),
            (0, 1),
            "three one-event groups are one row of seeds, not a row each"
        );
        assert_eq!(e.groups.len(), 3);
    }
    // What the console and the API read: the seeded groups, as opened.
    let r = crate::store::Reader::open(&db).unwrap();
    let open = r.open_groups(None, 10).unwrap();
    assert_eq!(open.len(), 3);
    let (key, g) = &open[0];
    assert!(key.starts_with("voice|"), "{key}");
    assert_eq!(g.route, "voice");
    assert_eq!(g.channels, vec!["a".to_string()]);
    assert_eq!(g.first_sid, event(0, 0).sid.to_string());
    assert_eq!(g.resources, vec![format!("CA{:032x}", 0)]);
    assert_eq!((g.count, g.lead, g.first_seen_ms), (0, 1, 1_000_000));
    assert_eq!(g.window_end_ms, 1_000_000 + 10_000);
    let (page, next) = r.scan_groups(None, 2).unwrap();
    assert!(page.is_empty(), "no group rows");
    let mut scanned = 0;
    let mut next = next;
    while let Some(after) = next {
        let (page, n) = r.scan_groups(Some(&after), 2).unwrap();
        scanned += page.len();
        next = n;
    }
    assert_eq!(scanned, 3);
    drop(r);

    // After a restart a second event on resource 1 counts into its group: no
    // second first alert; the group has a row of its own from then on.
    let clock = ManualClock::new(1_000_000);
    let mut e = engine_at(&db, clock.clone());
    assert_eq!(e.groups.len(), 3);
    clock.advance_ms(5_000);
    let (reply, rx) = oneshot::channel();
    let second = Box::new(Incoming::new(event(50, 1), &e.runtime).unwrap());
    let key = second.routed.group_keys()[0].clone();
    e.apply(vec![Command::Ingest {
        event: second,
        reply,
    }]);
    answers(vec![rx]);
    assert_eq!(
        stored(&db),
        (4, 4, 3, 4),
        "counted, not a new alert (3 stay)"
    );
    assert_eq!(group_rows(&db), (1, 1));
    let g = e.groups.get(&key).expect("warm, counted into");
    assert_eq!(
        (g.count, g.lead, g.first_sid.clone()),
        (1, 1, event(1, 1).sid.to_string())
    );

    // The window ends: the counted group sends its digest, the two others close
    // unread, and the seeds' row goes once every window in it ended.
    clock.advance_ms(5_000);
    tick(&mut e);
    assert_eq!(e.groups.len(), 1, "the digested group stays open a window");
    assert_eq!(group_rows(&db), (1, 0));
    let c = rusqlite::Connection::open(&db).unwrap();
    let digests: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM notifications WHERE is_digest = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(digests, 1);
    let snap = e.snapshot();
    assert_eq!((snap.counters.accepted, snap.accounted()), (4, 4));
}
