//! Group windows and digests (SPEC 4): pure state + decisions, time passed in.
//!
//! The first event of a group is notified at once; later events in the window are
//! counted; at each window end a group with a count above zero yields one digest and
//! stays open for another window; a window with none closes it.

use crate::event::DebuggerEvent;
use crate::notification::Digest;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// The open groups' tables hash a key several times per event (a storm opens a
/// group per event): foldhash, seeded per process, not SipHash.
type Hasher = foldhash::fast::RandomState;
type KeyMap<V> = HashMap<Arc<str>, V, Hasher>;
type KeySet = std::collections::HashSet<Arc<str>, Hasher>;

/// Distinct resources remembered per group (the count past this is a lower bound).
const MAX_TRACKED_RESOURCES: usize = 1000;
/// Resources listed in a digest.
const DIGEST_RESOURCES: usize = 10;
const SAMPLE_SIDS: usize = 5;

/// What a group needs to produce its digest later. Small on purpose: a storm over
/// 100,000 resources is 100,000 of these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupState {
    pub route: String,
    pub channels: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mention: Option<String>,
    /// The group's first event, shown in digests for its code, title and links.
    pub first_sid: String,
    pub window_ms: i64,
    pub window_end_ms: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub count: u64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub resources: Vec<String>,
    pub resources_total: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sample_sids: Vec<String>,
    /// Of `count`, the events for which this group's route is the first match: the
    /// ones this group's digest accounts for in the SPEC 4 invariant.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub accounted: u64,
    /// A `threshold` route's group before it fired: (count, within ms), and the
    /// events in the sliding window as (received ms, primary). Empty once fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<(u32, i64)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<(i64, bool)>,
    /// The route's `resolve_after` (ms): a quiet group is resolved, not just closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_after_ms: Option<i64>,
    /// Events of the group's last window that had any (for the resolved notice).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub last_total: u64,
    /// What each channel's provider gave back for the group's first alert.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub receipts: std::collections::BTreeMap<String, crate::notification::Receipt>,
    /// Events of the current window that were alerted on their own (the group's
    /// first alert, in its first window): counted in the digest's `total`, its
    /// time span and resources, never in `count`.
    #[serde(default)]
    pub lead: u64,
    /// Events of the windows closed so far (each window's `count + lead`): the
    /// digests' `group_total`, a living alert's running total.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub events_total: u64,
    /// Acknowledged (SPEC 14): no more digests until the group closes or resolves;
    /// its events are counted as `silenced`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<Acknowledged>,
    /// Where the store keeps the group once saved (the embedded store's row id: its
    /// groups table is appended to, no key index on the hot path); `None` before the
    /// first save, and on a shared store, which finds groups by key.
    #[serde(skip)]
    pub row: Option<i64>,
    /// The stored id of the event that opened the group, when it opened on an
    /// embedded store: while the group is that one event, the event is all of it
    /// ([`GroupState::seedable`]).
    #[serde(skip)]
    pub seed: Option<i64>,
}

/// What a route opens its groups with, beside their first event: a seeded
/// group's state is this, its event's Sid and resource, and its window's end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedRoute {
    pub route: String,
    pub channels: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mention: Option<String>,
    pub window_ms: i64,
}

impl SeedRoute {
    fn of(g: &GroupState) -> SeedRoute {
        SeedRoute {
            route: g.route.clone(),
            channels: g.channels.clone(),
            template: g.template.clone(),
            mention: g.mention.clone(),
            window_ms: g.window_ms,
        }
    }

    fn same(&self, g: &GroupState) -> bool {
        self.route == g.route
            && self.channels == g.channels
            && self.template == g.template
            && self.mention == g.mention
            && self.window_ms == g.window_ms
    }
}

/// Groups of one event each that one state write saved together, as one row (a
/// storm of new resources opens a group per event; a row per group is a B-tree
/// insert per event on the engine's serial thread). Each is `(key, index into
/// routes, window end, the stored id of its event)`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Seeds {
    pub routes: Vec<SeedRoute>,
    pub groups: Vec<(String, u32, i64, i64)>,
}

impl Seeds {
    /// When the last of these groups' windows ends (the row is deleted then).
    pub fn max_end(&self) -> i64 {
        self.groups.iter().map(|g| g.2).max().unwrap_or(0)
    }

    /// The state of seeded group `i`, from its event's Sid and resource.
    pub fn state(&self, i: usize, sid: &str, resource: Option<&str>) -> Option<GroupState> {
        let (_, route, end, event) = self.groups.get(i)?;
        let r = self.routes.get(*route as usize)?;
        Some(GroupState::seeded(r, sid, resource, *end, *event))
    }
}

/// Zero fields are left out of a group's stored JSON (most of a new group's are):
/// a storm stores a group per event.
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Who acknowledged a group, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledged {
    pub by: String,
    pub at_ms: i64,
}

impl GroupState {
    pub fn open(
        route: &str,
        channels: Vec<String>,
        template: Option<String>,
        mention: Option<String>,
        window_ms: i64,
        ev: &DebuggerEvent,
        now: i64,
    ) -> Self {
        let window_ms = window_ms.max(1);
        let first = (ev.sid.as_str(), ev.resource_sid());
        GroupState::first(
            route.to_string(),
            channels,
            template,
            mention,
            window_ms,
            first,
            now,
        )
    }

    /// A group of one event (`sid`, on `resource`) opened with `route`, whose window
    /// ends at `window_end_ms`: what [`GroupState::open`] made of it.
    pub fn seeded(
        route: &SeedRoute,
        sid: &str,
        resource: Option<&str>,
        window_end_ms: i64,
        event: i64,
    ) -> Self {
        let mut g = GroupState::first(
            route.route.clone(),
            route.channels.clone(),
            route.template.clone(),
            route.mention.clone(),
            route.window_ms,
            (sid, resource),
            window_end_ms - route.window_ms,
        );
        g.seed = Some(event);
        g
    }

    /// A group whose first event (its Sid and resource) came at `now`.
    fn first(
        route: String,
        channels: Vec<String>,
        template: Option<String>,
        mention: Option<String>,
        window_ms: i64,
        (sid, resource): (&str, Option<&str>),
        now: i64,
    ) -> Self {
        GroupState {
            route,
            channels,
            template,
            mention,
            first_sid: sid.to_string(),
            window_ms,
            window_end_ms: now + window_ms,
            count: 0,
            first_seen_ms: now,
            last_seen_ms: now,
            resources: resource.map(str::to_string).into_iter().collect(),
            resources_total: u64::from(resource.is_some()),
            sample_sids: vec![],
            accounted: 0,
            lead: 1,
            threshold: None,
            held: vec![],
            resolve_after_ms: None,
            last_total: 0,
            receipts: Default::default(),
            events_total: 0,
            acknowledged: None,
            row: None,
            seed: None,
        }
    }

    /// Whether the group is still just its first event, opened on an embedded store
    /// and never saved: its state is [`GroupState::seeded`] from that event, so it
    /// is saved as a seed ([`Seeds`]), not a row of its own.
    pub fn seedable(&self) -> bool {
        self.seed.is_some()
            && self.row.is_none()
            && self.coolable()
            && self.lead == 1
            && self.events_total == 0
            && self.last_total == 0
            && self.receipts.is_empty()
            && self.sample_sids.is_empty()
            && self.resources.len() as u64 == self.resources_total
            && self.resources.len() <= 1
            && self.first_seen_ms == self.window_end_ms - self.window_ms
    }

    /// Whether memory may drop this group's state once it is stored, keeping only
    /// its key and window end: nothing counted in this window (its end closes the
    /// group, sending nothing), no threshold, acknowledgement or `resolve_after`.
    pub fn coolable(&self) -> bool {
        self.count == 0
            && self.accounted == 0
            && self.held.is_empty()
            && self.threshold.is_none()
            && self.acknowledged.is_none()
            && self.resolve_after_ms.is_none()
    }

    /// Whether the group is still below its route's threshold (nothing sent yet).
    pub fn armed(&self) -> bool {
        self.threshold.is_some() && !self.held.is_empty()
    }

    /// Drops held events older than the sliding window; returns how many of them
    /// were primary (they end as `below_threshold`).
    fn expire_held(&mut self, now: i64) -> u64 {
        let Some((_, within)) = self.threshold else {
            return 0;
        };
        let before = self.held.len();
        let expired_primary = self
            .held
            .iter()
            .filter(|(t, p)| *p && *t <= now - within)
            .count() as u64;
        self.held.retain(|(t, _)| *t > now - within);
        if self.held.len() != before {
            self.accounted = self.accounted.saturating_sub(expired_primary);
        }
        expired_primary
    }

    /// When the oldest held event leaves the sliding window.
    fn held_deadline(&self) -> Option<i64> {
        let (_, within) = self.threshold?;
        self.held.iter().map(|(t, _)| t + within).min()
    }

    /// Route, template and mention of this group's notifications under `key`.
    pub fn origin<'a>(&'a self, key: &'a str) -> crate::notification::Origin<'a> {
        crate::notification::Origin {
            route: &self.route,
            group_key: key,
            template: self.template.as_ref(),
            mention: self.mention.as_ref(),
        }
    }

    fn count_event(&mut self, ev: &DebuggerEvent, now: i64) {
        if self.count == 0 && self.lead == 0 {
            self.first_seen_ms = now;
            self.resources.clear();
            self.resources_total = 0;
            self.sample_sids.clear();
        }
        self.count += 1;
        self.last_seen_ms = now;
        if let Some(r) = ev.resource_sid() {
            if self.resources.len() < MAX_TRACKED_RESOURCES
                && !self.resources.iter().any(|x| x == r)
            {
                self.resources.push(r.to_string());
                self.resources_total += 1;
            } else if self.resources.len() >= MAX_TRACKED_RESOURCES
                && !self.resources.iter().any(|x| x == r)
            {
                // Past the cap we can no longer tell new from seen; count it as new.
                self.resources_total += 1;
            }
        }
        if self.sample_sids.len() < SAMPLE_SIDS {
            self.sample_sids.push(ev.sid.to_string());
        }
    }

    fn digest(&self) -> Digest {
        Digest {
            count: self.count,
            total: self.count + self.lead,
            first_seen_ms: self.first_seen_ms,
            last_seen_ms: self.last_seen_ms,
            resources: self
                .resources
                .iter()
                .take(DIGEST_RESOURCES)
                .cloned()
                .collect(),
            resources_total: self.resources_total,
            sample_sids: self.sample_sids.clone(),
            group_total: self.events_total,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// A new group: notify this event now.
    First,
    /// Counted into an open group's next digest.
    Counted,
}

/// A digest that is due: the group's state at window end.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDigest {
    pub key: String,
    pub state: GroupState,
    pub digest: Digest,
}

/// A cold group: its window's end and where the store keeps it.
#[derive(Debug, Clone, Copy)]
struct Cold {
    window_end_ms: i64,
    at: ColdAt,
}

#[derive(Debug, Clone, Copy)]
enum ColdAt {
    /// A row of its own (`None`: not known, found by key).
    Row(Option<i64>),
    /// A seed: its event's stored id, and what it opened with (an index into
    /// [`Groups::seed_routes`]).
    Seed { event: i64, route: u32 },
}

/// The cold groups a batch touches, to read before it plans: rows (with where
/// the store keeps them) and seeds (their events' stored ids).
#[derive(Debug, Default)]
pub struct ColdKeys {
    pub rows: Vec<(String, Option<i64>)>,
    pub seeds: Vec<(String, i64)>,
}

#[derive(Debug, Default)]
pub struct Groups {
    /// Keys are shared (`Arc<str>`) by the map, the deadlines and the dirty set: a
    /// storm over 100,000 resources holds 100,000 of them. States are boxed: the
    /// table's slots stay small, so growing it in a storm copies 24 bytes a group
    /// (not the whole state) and the old and new tables side by side are not what
    /// sets the peak memory.
    map: KeyMap<Box<GroupState>>,
    /// Open groups whose state only the store holds (see [`GroupState::coolable`]):
    /// their window's end. A storm of new resources is mostly these, a key and a
    /// time each, not a state each. A batch warms the ones it touches first
    /// ([`Groups::warm`]); a cold group's window ends with nothing to send, so it
    /// closes without being read.
    cold: KeyMap<Cold>,
    /// Groups closed since the last save, with their rows to delete.
    closed: KeyMap<Option<i64>>,
    /// (window_end_ms, key), to find due groups without scanning them all.
    deadlines: BTreeSet<(i64, Arc<str>)>,
    dirty: KeySet,
    /// Primary events that left armed groups' windows (see `take_below_threshold`).
    below_threshold: u64,
    /// Groups resolved by `due` (see `take_resolved`).
    resolved: Vec<(String, GroupState)>,
    /// On a shared store this holds only the groups a batch locked: how many are
    /// open in the store, and how many this batch opened since.
    store_open: Option<usize>,
    opened: usize,
    /// Fresh one-event groups are saved as seeds ([`Seeds`]): an embedded store's
    /// engine, whose memory is the authority.
    seeding: bool,
    /// What the seeded groups opened with, each once.
    seed_routes: Vec<SeedRoute>,
}

impl Groups {
    pub fn new() -> Self {
        Self::default()
    }

    /// An embedded store's groups: fresh one-event groups are saved as seeds.
    pub fn seeding() -> Self {
        Groups {
            seeding: true,
            ..Self::default()
        }
    }

    /// Restores groups read from the store, in memory (a shared store's locked
    /// groups, due windows).
    pub fn restore(&mut self, groups: impl IntoIterator<Item = (String, GroupState)>) {
        for (k, g) in groups {
            let k: Arc<str> = k.into();
            self.deadlines.insert((g.window_end_ms, k.clone()));
            self.map.insert(k, Box::new(g));
        }
    }

    /// Restores an embedded store's groups (at start, after a failed write): the
    /// ones that need no state until they are touched stay cold. Rows first, then
    /// [`Groups::load_seeds`].
    pub fn load(&mut self, groups: impl IntoIterator<Item = (String, GroupState)>) {
        for (k, g) in groups {
            let k: Arc<str> = k.into();
            self.deadlines.insert((g.window_end_ms, k.clone()));
            if g.coolable() {
                self.cold.insert(k, Cold::of(&g));
            } else {
                self.map.insert(k, Box::new(g));
            }
        }
    }

    /// Restores the seeded groups of an embedded store, oldest row first, after its
    /// rows: a key that has a row was counted into after it was seeded (the row is
    /// newer); of two seeds of a key, the later.
    pub fn load_seeds(&mut self, seeds: impl IntoIterator<Item = Seeds>) {
        for s in seeds {
            let routes: Vec<u32> = s
                .routes
                .into_iter()
                .map(|r| intern(&mut self.seed_routes, r))
                .collect();
            for (key, route, end, event) in s.groups {
                let Some(&route) = routes.get(route as usize) else {
                    continue;
                };
                if self.map.contains_key(key.as_str())
                    || self
                        .cold
                        .get(key.as_str())
                        .is_some_and(|c| matches!(c.at, ColdAt::Row(_)))
                {
                    continue;
                }
                let k: Arc<str> = key.into();
                self.deadlines.insert((end, k.clone()));
                self.cold.insert(
                    k,
                    Cold {
                        window_end_ms: end,
                        at: ColdAt::Seed { event, route },
                    },
                );
            }
        }
    }

    /// Open groups, cold ones included.
    pub fn len(&self) -> usize {
        self.map.len() + self.cold.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty() && self.cold.is_empty()
    }

    /// Whether any open group's state is only in the store.
    pub fn has_cold(&self) -> bool {
        !self.cold.is_empty()
    }

    pub fn is_cold(&self, key: &str) -> bool {
        self.cold.contains_key(key)
    }

    /// The cold groups among `keys`, each once, with where the store keeps it:
    /// what a batch reads ([`Groups::warm`]) before it plans.
    pub fn cold_among<'k>(&self, keys: impl IntoIterator<Item = &'k str>) -> ColdKeys {
        let mut keys: Vec<&str> = keys.into_iter().filter(|k| self.is_cold(k)).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut out = ColdKeys::default();
        for k in keys {
            match self.cold.get(k).map(|c| c.at) {
                Some(ColdAt::Row(row)) => out.rows.push((k.to_string(), row)),
                Some(ColdAt::Seed { event, .. }) => out.seeds.push((k.to_string(), event)),
                None => {}
            }
        }
        out
    }

    /// The state of the seeded cold group `key`, from its event's Sid and resource
    /// (read from the store); `None` when `key` is not a seed.
    pub fn seed_state(&self, key: &str, sid: &str, resource: Option<&str>) -> Option<GroupState> {
        let c = self.cold.get(key)?;
        let ColdAt::Seed { event, route } = c.at else {
            return None;
        };
        let r = self.seed_routes.get(route as usize)?;
        Some(GroupState::seeded(r, sid, resource, c.window_end_ms, event))
    }

    /// Whether group `key` is open, in memory or cold.
    pub fn is_open(&self, key: &str) -> bool {
        self.map.contains_key(key) || self.cold.contains_key(key)
    }

    /// Brings the cold group `key` back into memory with its stored `state`,
    /// before a batch counts into it; `None`: the store has no such group (it
    /// closes here too).
    pub fn warm(&mut self, key: &str, state: Option<GroupState>) {
        let Some((k, cold)) = self.cold.remove_entry(key) else {
            return;
        };
        match state {
            Some(mut g) => {
                g.row = cold.row();
                self.deadlines.insert((g.window_end_ms, k.clone()));
                self.map.insert(k, Box::new(g));
            }
            None => {
                // Missing or unreadable: the group closes, and a row that is there
                // but could not be read is deleted (or reused if the key opens
                // again in this batch) rather than left behind.
                tracing::warn!(group = %key, "an open group's state was not in the store; it closes");
                self.closed.insert(k.clone(), cold.row());
                self.dirty.insert(k);
            }
        }
    }

    /// Events counted in open groups, not yet in any digest.
    pub fn pending_count(&self) -> u64 {
        self.map.values().map(|g| g.accounted).sum()
    }

    pub fn get(&self, key: &str) -> Option<&GroupState> {
        self.map.get(key).map(|g| &**g)
    }

    /// Records `ev` in group `key`; `open` builds the state of a new group.
    /// `primary`: this route is the event's first match (see [`GroupState::accounted`]).
    pub fn observe(
        &mut self,
        key: &str,
        ev: &DebuggerEvent,
        now: i64,
        primary: bool,
        open: impl FnOnce() -> GroupState,
    ) -> Observed {
        if self.count(key, ev, now, primary) {
            return Observed::Counted;
        }
        self.open_group(key, open());
        Observed::First
    }

    /// Counts `ev` into the open group `key`; false when no such group is open.
    pub fn count(&mut self, key: &str, ev: &DebuggerEvent, now: i64, primary: bool) -> bool {
        debug_assert!(
            !self.is_cold(key),
            "group {key} counted into before it was warmed"
        );
        match touch(&mut self.map, &mut self.dirty, key) {
            Some((_, g)) => {
                g.count_event(ev, now);
                g.accounted += u64::from(primary);
                true
            }
            None => false,
        }
    }

    /// Holds `ev` in the armed group `key` (below its threshold); returns how many
    /// primary events left the sliding window (`below_threshold`).
    pub fn hold(&mut self, key: &str, ev: &DebuggerEvent, now: i64, primary: bool) -> u64 {
        let Some((k, g)) = touch(&mut self.map, &mut self.dirty, key) else {
            return 0;
        };
        let expired = g.expire_held(now);
        g.held.push((now, primary));
        g.accounted += u64::from(primary);
        g.last_seen_ms = now;
        if let Some(r) = ev.resource_sid() {
            if !g.resources.iter().any(|x| x == r) && g.resources.len() < MAX_TRACKED_RESOURCES {
                g.resources.push(r.to_string());
                g.resources_total += 1;
            }
        }
        if let Some(end) = g.held_deadline() {
            g.window_end_ms = end;
            self.deadlines.insert((end, k));
        }
        expired
    }

    /// The armed group `key` crossed its threshold with `ev`: it now behaves like a
    /// group whose first alert was just sent (the held events are in that alert).
    /// Returns how many primary events had left the sliding window first.
    pub fn fire(&mut self, key: &str, now: i64) -> u64 {
        let Some((k, g)) = touch(&mut self.map, &mut self.dirty, key) else {
            return 0;
        };
        let expired = g.expire_held(now);
        g.lead = g.held.len() as u64 + 1;
        g.held.clear();
        g.threshold = None;
        g.accounted = 0;
        g.count = 0;
        g.last_seen_ms = now;
        g.window_end_ms = now + g.window_ms;
        self.deadlines.insert((g.window_end_ms, k));
        expired
    }

    /// Keeps a channel's receipt for the first alert of group `key` (if still open);
    /// `replace`: the message it named is gone and this one stands in for it.
    pub fn set_receipt(
        &mut self,
        key: &str,
        channel: &str,
        receipt: crate::notification::Receipt,
        replace: bool,
    ) {
        if let Some((_, g)) = touch(&mut self.map, &mut self.dirty, key) {
            if replace {
                g.receipts.insert(channel.to_string(), receipt);
            } else {
                g.receipts.entry(channel.to_string()).or_insert(receipt);
            }
        }
    }

    /// Acknowledges the open group `key`: it sends no more digests until it closes
    /// or resolves. Returns the events its next digest would have accounted for
    /// (they are `silenced` now, as are its later events), or `None` when no such
    /// group is open. Acknowledging twice moves nothing.
    pub fn acknowledge(&mut self, key: &str, by: &str, now: i64) -> Option<u64> {
        let (_, g) = touch(&mut self.map, &mut self.dirty, key)?;
        if g.acknowledged.is_some() {
            return Some(0);
        }
        let moved = g.accounted;
        g.accounted = 0;
        // An armed group will not fire: its held events are silenced too.
        g.held.clear();
        g.threshold = None;
        g.acknowledged = Some(Acknowledged {
            by: by.to_string(),
            at_ms: now,
        });
        Some(moved)
    }

    /// Primary events that left an armed group's window since the last call.
    pub fn take_below_threshold(&mut self) -> u64 {
        std::mem::take(&mut self.below_threshold)
    }

    /// Groups that went quiet for their `resolve_after` since the last call.
    pub fn take_resolved(&mut self) -> Vec<(String, GroupState)> {
        std::mem::take(&mut self.resolved)
    }

    /// Opens group `key` with `state` (its first event already notified, or held
    /// below a threshold).
    pub fn open_group(&mut self, key: &str, mut state: GroupState) {
        // A group closed earlier in this batch and opened again keeps its row.
        if let Some(row) = self.closed.remove(key) {
            state.row = state.row.or(row);
        }
        if let Some(c) = self.cold.remove(key) {
            state.row = state.row.or(c.row());
        }
        let k: Arc<str> = key.into();
        self.deadlines.insert((state.window_end_ms, k.clone()));
        self.dirty.insert(k.clone());
        if self.map.insert(k, Box::new(state)).is_none() {
            self.opened += 1;
        }
    }

    /// A shared store's groups, as one batch locked them, and how many groups are
    /// open in the store in all (for `defaults.max_open_groups`).
    pub fn locked(groups: Vec<(String, GroupState)>, store_open: usize) -> Groups {
        let mut g = Groups::new();
        g.restore(groups);
        g.store_open = Some(store_open);
        g
    }

    /// Open groups: all of them, or on a shared store the store's count plus the
    /// ones this batch opened.
    pub fn open_count(&self) -> usize {
        match self.store_open {
            Some(n) => n + self.opened,
            None => self.len(),
        }
    }

    /// Closes every window that ended at or before `now`: digests for groups with a
    /// count, removal of groups whose window had none.
    pub fn due(&mut self, now: i64) -> Vec<DueDigest> {
        let mut out = vec![];
        while let Some((end, key)) = self.deadlines.first().cloned() {
            if end > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(c) = self.cold.get(&key).filter(|c| c.window_end_ms == end) {
                // Nothing was counted since it went cold: the group closes.
                self.closed.insert(key.clone(), c.row());
                self.cold.remove(&key);
                self.dirty.insert(key);
                continue;
            }
            let Some(g) = self.map.get_mut(&key) else {
                continue;
            };
            if g.window_end_ms != end {
                continue;
            }
            self.dirty.insert(key.clone());
            if g.armed() {
                self.below_threshold += g.expire_held(now);
                match g.held_deadline() {
                    Some(next) => {
                        g.window_end_ms = next;
                        self.deadlines.insert((next, key));
                    }
                    None => {
                        if let Some(g) = self.map.remove(&key) {
                            self.closed.insert(key, g.row);
                        }
                    }
                }
                continue;
            }
            if g.count == 0 {
                // A quiet window: the group closes, or with `resolve_after` waits
                // until it has been quiet that long and is then resolved.
                if let Some(after) = g.resolve_after_ms {
                    let at = g.last_seen_ms + after;
                    if at > now {
                        g.window_end_ms = at;
                        self.deadlines.insert((at, key));
                        continue;
                    }
                    if let Some(g) = self.map.remove(&key) {
                        self.closed.insert(key.clone(), g.row);
                        self.resolved.push((key.to_string(), *g));
                    }
                    continue;
                }
                if let Some(g) = self.map.remove(&key) {
                    self.closed.insert(key, g.row);
                }
                continue;
            }
            g.last_total = g.count + g.lead;
            g.events_total += g.last_total;
            if g.acknowledged.is_some() {
                // Acknowledged: the window's events were counted as silenced, no digest.
                g.count = 0;
                g.lead = 0;
                g.resources.clear();
                g.resources_total = 0;
                g.sample_sids.clear();
                g.window_end_ms = (g.window_end_ms + g.window_ms).max(now + 1);
                self.deadlines.insert((g.window_end_ms, key));
                continue;
            }
            out.push(DueDigest {
                key: key.to_string(),
                state: (**g).clone(),
                digest: g.digest(),
            });
            g.count = 0;
            g.accounted = 0;
            g.lead = 0;
            g.resources.clear();
            g.resources_total = 0;
            g.sample_sids.clear();
            // Fixed cadence; when we are late (after downtime) the next window starts now.
            g.window_end_ms = (g.window_end_ms + g.window_ms).max(now + 1);
            self.deadlines.insert((g.window_end_ms, key));
        }
        out
    }

    /// Every open group (for counting the ones a new silence matches).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &GroupState)> {
        self.map.iter().map(|(k, g)| (k.as_ref(), &**g))
    }

    /// The earliest window end, for the ticker.
    pub fn next_deadline(&self) -> Option<i64> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    /// Hands each group changed since the last call to `save`: `Some(state)` to
    /// save, `None` to delete. Borrowed, not cloned (a new group per event is a
    /// state to save per event, on the engine's serial thread). A saved group that
    /// needs no state until it is touched again goes cold: the store holds it.
    /// Fresh one-event groups go to `seed` instead, all in one [`Seeds`], and cold.
    pub fn drain_dirty<E>(
        &mut self,
        mut save: impl FnMut(&str, Option<i64>, Option<&GroupState>) -> Result<Option<i64>, E>,
        seed: impl FnOnce(&Seeds) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut seeds = Seeds::default();
        // Interned route index → its index in `seeds.routes`.
        let mut local: Vec<Option<u32>> = Vec::new();
        for k in std::mem::take(&mut self.dirty) {
            if self.cold.contains_key(&k) {
                // Cold since it was marked: its row stands.
                continue;
            }
            match self.map.get_mut(&k) {
                Some(g) if self.seeding && g.seedable() => {
                    let route = intern_of(&mut self.seed_routes, g);
                    if local.len() <= route as usize {
                        local.resize(route as usize + 1, None);
                    }
                    let at = *local[route as usize].get_or_insert_with(|| {
                        seeds.routes.push(self.seed_routes[route as usize].clone());
                        seeds.routes.len() as u32 - 1
                    });
                    let event = g.seed.unwrap_or_default();
                    seeds
                        .groups
                        .push((k.to_string(), at, g.window_end_ms, event));
                    let cold = Cold {
                        window_end_ms: g.window_end_ms,
                        at: ColdAt::Seed { event, route },
                    };
                    if let Some((k, _)) = self.map.remove_entry(&k) {
                        self.cold.insert(k, cold);
                    }
                }
                Some(g) => {
                    g.row = save(&k, g.row, Some(g))?;
                    if g.coolable() {
                        let cold = Cold::of(g);
                        if let Some((k, _)) = self.map.remove_entry(&k) {
                            self.cold.insert(k, cold);
                        }
                    }
                }
                None => {
                    let row = self.closed.remove(&k).flatten();
                    save(&k, row, None)?;
                }
            }
        }
        self.closed.clear();
        if seeds.groups.is_empty() {
            return Ok(());
        }
        seed(&seeds)
    }
}

/// `r`'s index in `routes`, added if new (a handful: one per route and reload).
fn intern(routes: &mut Vec<SeedRoute>, r: SeedRoute) -> u32 {
    match routes.iter().position(|x| *x == r) {
        Some(i) => i as u32,
        None => {
            routes.push(r);
            routes.len() as u32 - 1
        }
    }
}

/// [`intern`] for what group `g` opened with, cloned only when new.
fn intern_of(routes: &mut Vec<SeedRoute>, g: &GroupState) -> u32 {
    match routes.iter().rposition(|x| x.same(g)) {
        Some(i) => i as u32,
        None => intern(routes, SeedRoute::of(g)),
    }
}

impl Cold {
    fn of(g: &GroupState) -> Cold {
        Cold {
            window_end_ms: g.window_end_ms,
            at: ColdAt::Row(g.row),
        }
    }

    /// The row to delete when it closes (a seed has none: its row is deleted once
    /// every window in it ended).
    fn row(&self) -> Option<i64> {
        match self.at {
            ColdAt::Row(r) => r,
            ColdAt::Seed { .. } => None,
        }
    }
}

/// The open group `key`, marked dirty (to be saved with the batch), with its shared
/// key; `None` when no such group is open.
fn touch<'a>(
    map: &'a mut KeyMap<Box<GroupState>>,
    dirty: &mut KeySet,
    key: &str,
) -> Option<(Arc<str>, &'a mut GroupState)> {
    let k = map.get_key_value(key)?.0.clone();
    dirty.insert(k.clone());
    map.get_mut(key).map(|g| (k, &mut **g))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::*;

    fn ev(n: u32, resource: &str) -> DebuggerEvent {
        DebuggerEvent {
            sid: Sid::parse(&format!("NO{n:032x}")).unwrap(),
            account_sid: Sid::parse(&format!("AC{:032x}", 1)).unwrap(),
            parent_account_sid: None,
            timestamp: None,
            level: Level::Error,
            payload: PayloadState::Parsed(Payload {
                error_code: ErrorCode(11200),
                resource_sid: Some(resource.to_string()),
                service_sid: None,
                more_info: None,
                webhook: None,
            }),
            raw_payload: String::new(),
            received_at_ms: 0,
            source: Default::default(),
        }
    }

    fn observe(g: &mut Groups, e: &DebuggerEvent, now: i64) -> Observed {
        g.observe("r|k", e, now, true, || {
            GroupState::open("r", vec!["c".into()], None, None, 1000, e, now)
        })
    }

    #[test]
    fn first_immediate_then_counted_then_digest_then_close() {
        let mut g = Groups::new();
        assert_eq!(observe(&mut g, &ev(1, "CA1"), 0), Observed::First);
        for i in 2..=10 {
            assert_eq!(
                observe(
                    &mut g,
                    &ev(i, if i % 2 == 0 { "CA1" } else { "CA2" }),
                    100 + i as i64
                ),
                Observed::Counted
            );
        }
        assert!(g.due(999).is_empty());
        let d = g.due(1000);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].digest.count, 9);
        // The first window's digest covers the first alert too: 10 events in all.
        assert_eq!(d[0].digest.total, 10);
        assert_eq!(d[0].digest.first_seen_ms, 0);
        assert_eq!(d[0].digest.last_seen_ms, 110);
        assert_eq!(d[0].digest.resources_total, 2);
        assert_eq!(d[0].digest.sample_sids.len(), 5);
        assert_eq!(g.pending_count(), 0);
        // Still open: an event in the second window is counted, digest at 2000.
        assert_eq!(observe(&mut g, &ev(11, "CA1"), 1500), Observed::Counted);
        let d = g.due(2000);
        assert_eq!((d[0].digest.count, d[0].digest.total), (1, 1));
        assert_eq!(d[0].digest.first_seen_ms, 1500);
        // A quiet window closes it; the next event opens a new group.
        assert!(g.due(3000).is_empty());
        assert!(g.is_empty());
        assert_eq!(observe(&mut g, &ev(12, "CA1"), 3001), Observed::First);
    }

    #[test]
    fn an_acknowledged_group_sends_no_digest_until_it_closes() {
        let mut g = Groups::new();
        observe(&mut g, &ev(1, "CA1"), 0);
        observe(&mut g, &ev(2, "CA1"), 10);
        assert_eq!(
            g.acknowledge("r|k", "ann", 20),
            Some(1),
            "the counted event moves"
        );
        assert_eq!(g.acknowledge("r|k", "ann", 21), Some(0));
        assert_eq!(g.acknowledge("nope", "ann", 21), None);
        // Later events are counted (primary = false: the caller accounts them silenced).
        assert!(g.count("r|k", &ev(3, "CA1"), 30, false));
        assert_eq!(g.pending_count(), 0);
        assert!(g.due(1000).is_empty(), "no digest");
        assert_eq!(g.len(), 1, "still open after a window with events");
        assert!(g.due(2000).is_empty());
        assert!(g.is_empty(), "a quiet window closes it");
    }

    #[test]
    fn late_tick_starts_next_window_now() {
        let mut g = Groups::new();
        observe(&mut g, &ev(1, "CA1"), 0);
        observe(&mut g, &ev(2, "CA1"), 10);
        assert_eq!(g.due(50_000).len(), 1);
        assert_eq!(g.next_deadline(), Some(50_001));
    }

    #[test]
    fn bounded_resources_and_dirty_tracking() {
        let mut g = Groups::new();
        observe(&mut g, &ev(0, "CA0"), 0);
        for i in 1..5000u32 {
            observe(&mut g, &ev(i, &format!("CA{i}")), 1);
        }
        let st = g.get("r|k").unwrap();
        assert_eq!(st.resources.len(), MAX_TRACKED_RESOURCES);
        assert_eq!(
            st.resources_total, 5000,
            "the first event's CA0 and 4999 more"
        );
        let dirty = |g: &mut Groups| {
            let mut keys = vec![];
            g.drain_dirty(
                |k, _, _| {
                    keys.push(k.to_string());
                    Ok::<_, ()>(None)
                },
                |_| Ok(()),
            )
            .unwrap();
            keys
        };
        assert_eq!(dirty(&mut g).len(), 1);
        assert!(dirty(&mut g).is_empty());
        let d = g.due(1000);
        assert_eq!(d[0].digest.resources.len(), DIGEST_RESOURCES);
    }

    /// A stored group that needs no state goes cold (a key and a time); touching it
    /// takes its stored state back, and a cold window's end closes it (its row is
    /// deleted) without reading it.
    #[test]
    fn a_stored_group_goes_cold_warms_when_touched_and_closes_unread() {
        let mut g = Groups::new();
        let mut store: HashMap<String, GroupState> = HashMap::new();
        let save = |g: &mut Groups, store: &mut HashMap<String, GroupState>| {
            g.drain_dirty(
                |k, _, st| {
                    match st {
                        Some(st) => store.insert(k.to_string(), st.clone()),
                        None => store.remove(k),
                    };
                    Ok::<_, ()>(None)
                },
                |_| Ok(()),
            )
            .unwrap();
        };
        observe(&mut g, &ev(1, "CA1"), 0);
        save(&mut g, &mut store);
        assert!(g.is_cold("r|k") && g.get("r|k").is_none());
        assert!(g.is_open("r|k") && g.len() == 1 && store.contains_key("r|k"));
        // A second event: warmed first (as a batch does), then counted.
        g.warm("r|k", store.get("r|k").cloned());
        assert_eq!(observe(&mut g, &ev(2, "CA2"), 10), Observed::Counted);
        save(&mut g, &mut store);
        assert!(!g.is_cold("r|k"), "a group with a count keeps its state");
        let d = g.due(1000);
        assert_eq!((d[0].digest.count, d[0].digest.total), (1, 2));
        save(&mut g, &mut store);
        assert!(g.is_cold("r|k"), "a digest sent, nothing counted since");
        assert!(g.due(1999).is_empty() && g.is_open("r|k"));
        assert!(g.due(2000).is_empty());
        save(&mut g, &mut store);
        assert!(g.is_empty() && store.is_empty(), "closed: its row deleted");

        // A threshold group never goes cold (its held events are its state).
        let mut t = GroupState::open("r", vec!["c".into()], None, None, 1000, &ev(3, "CA1"), 0);
        t.threshold = Some((5, 1000));
        t.held = vec![(0, true)];
        g.open_group("r|t", t);
        save(&mut g, &mut store);
        assert!(!g.is_cold("r|t") && g.get("r|t").is_some());
        // Restored from the store at start: the plain ones are cold at once.
        let mut restored = Groups::new();
        observe(&mut g, &ev(4, "CA1"), 3000);
        save(&mut g, &mut store);
        restored.load(store.clone());
        assert!(restored.is_cold("r|k") && !restored.is_cold("r|t"));
        assert_eq!(restored.len(), 2);
    }

    /// A cold group whose stored state cannot be read closes when touched, and
    /// its row is deleted with the batch, not left behind.
    #[test]
    fn a_cold_group_without_readable_state_closes_and_its_row_goes() {
        let mut g = Groups::new();
        observe(&mut g, &ev(1, "CA1"), 0);
        g.drain_dirty(|_, _, _| Ok::<_, ()>(Some(7)), |_| Ok(()))
            .unwrap();
        assert!(g.is_cold("r|k"));
        g.warm("r|k", None);
        assert!(!g.is_open("r|k"));
        let mut saved = vec![];
        g.drain_dirty(
            |k, row, st| {
                saved.push((k.to_string(), row, st.is_some()));
                Ok::<_, ()>(None)
            },
            |_| Ok(()),
        )
        .unwrap();
        assert_eq!(
            saved,
            vec![("r|k".to_string(), Some(7), false)],
            "row 7 deleted"
        );
    }

    /// A fresh one-event group is saved as a seed (no row of its own), and made
    /// again from it equal to the state it was opened with.
    #[test]
    fn a_fresh_group_is_seeded_and_made_again_from_its_event() {
        let mut g = Groups::seeding();
        let e = ev(1, "CA1");
        let mut opened = GroupState::open(
            "r",
            vec!["c".into()],
            None,
            Some("@here".into()),
            1000,
            &e,
            5,
        );
        opened.seed = Some(41);
        g.open_group("r|k", opened.clone());
        let mut rows = vec![];
        let mut seeded = vec![];
        g.drain_dirty(
            |k, _, _| {
                rows.push(k.to_string());
                Ok::<_, ()>(Some(1))
            },
            |s| {
                seeded.push(s.clone());
                Ok(())
            },
        )
        .unwrap();
        assert!(rows.is_empty(), "no row of its own");
        assert_eq!(seeded.len(), 1);
        let seeds = &seeded[0];
        assert_eq!(seeds.groups, vec![("r|k".to_string(), 0, 1005, 41)]);
        assert_eq!(seeds.max_end(), 1005);
        assert!(g.is_cold("r|k"));
        let again = g
            .seed_state("r|k", &e.sid.to_string(), e.resource_sid())
            .unwrap();
        assert_eq!(again, opened, "the same state");
        assert_eq!(
            seeds.state(0, &e.sid.to_string(), e.resource_sid()),
            Some(opened)
        );
        let cold = g.cold_among(["r|k"]);
        assert_eq!(
            (cold.rows.len(), cold.seeds),
            (0, vec![("r|k".to_string(), 41)])
        );

        // Restored at start: a seed stays cold; a key with a row keeps the row's state.
        let mut restored = Groups::seeding();
        let mut counted =
            GroupState::open("r", vec!["c".into()], None, None, 1000, &ev(2, "CA2"), 0);
        counted.count = 1;
        counted.row = Some(9);
        let two = Seeds {
            routes: seeds.routes.clone(),
            groups: vec![("r|k".into(), 0, 1005, 41), ("r|j".into(), 0, 1005, 42)],
        };
        restored.load(vec![("r|j".to_string(), counted.clone())]);
        restored.load_seeds(vec![two]);
        assert_eq!(restored.len(), 2);
        assert!(restored.is_cold("r|k"));
        assert_eq!(restored.get("r|j"), Some(&counted));
        // Its window ends with nothing counted: it closes unread, no row to delete.
        assert!(restored.due(1005).iter().all(|d| d.key != "r|k"));
        let mut deleted = vec![];
        restored
            .drain_dirty(
                |k, row, st| {
                    deleted.push((k.to_string(), row, st.is_some()));
                    Ok::<_, ()>(row)
                },
                |_| Ok(()),
            )
            .unwrap();
        assert!(
            deleted.contains(&("r|k".to_string(), None, false)),
            "{deleted:?}"
        );
        assert!(!restored.is_open("r|k"));
    }

    /// A group with more than its first event is never a seed.
    #[test]
    fn only_a_groups_first_event_alone_is_a_seed() {
        let e = ev(1, "CA1");
        let mut g = GroupState::open("r", vec![], None, None, 1000, &e, 0);
        assert!(!g.seedable(), "no stored event id");
        g.seed = Some(1);
        assert!(g.seedable());
        let mut counted = g.clone();
        counted.count_event(&ev(2, "CA2"), 1);
        assert!(!counted.seedable());
        let mut saved = g.clone();
        saved.row = Some(3);
        assert!(!saved.seedable(), "a row of its own stays a row");
        let mut later = g.clone();
        later.events_total = 2;
        assert!(!later.seedable(), "a later window");
        let mut resolving = g;
        resolving.resolve_after_ms = Some(10);
        assert!(!resolving.seedable());
    }
}
