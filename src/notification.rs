//! The plain type handed from grouping to rendering and delivery.

use crate::event::DebuggerEvent;
use serde::{Deserialize, Serialize};

/// What a digest says about a group's window: how many events were counted (not sent
/// on their own), when, on which resources, and a few sample Sids.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    /// Events counted into this digest (not sent on their own): what the SPEC 4
    /// accounting counts as digested.
    pub count: u64,
    /// Events the digest speaks for: `count` plus, in a group's first window, the
    /// first alert (so 16 events = 1 alert + 15 counted). Times and resources
    /// cover the same events. 0 in digests stored before this field: read
    /// [`Digest::total`].
    #[serde(default)]
    pub total: u64,
    /// Unix milliseconds.
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// Distinct resources seen (capped; see `resources_total`).
    pub resources: Vec<String>,
    /// How many distinct resources there were in all (may exceed `resources.len()`).
    pub resources_total: u64,
    pub sample_sids: Vec<String>,
    /// Events the group has seen since it opened, this digest's included (its
    /// first alert's too): a living alert's running total. 0 when unknown (a
    /// folded backlog, a digest stored before this field).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub group_total: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Digest {
    /// The events this digest speaks for (never less than `count`).
    pub fn total(&self) -> u64 {
        self.total.max(self.count)
    }
}

/// One message to send on one channel: a single event's alert, or a group's digest
/// (then `event` is the group's first event, for its code, title and links).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub channel: String,
    pub route: String,
    /// `route` + `group_by` values; PagerDuty's `dedup_key`, email threading.
    pub group_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mention: Option<String>,
    /// Shared, not copied: a storm's alerts and the event that made them are one.
    pub event: std::sync::Arc<DebuggerEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// Set on the alert a route's `threshold` let through: how many led to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<ThresholdNote>,
    /// Set on the notice that a group went quiet (`resolve_after`, SPEC 13).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<ResolvedNote>,
    /// Set on the summary sent when a silence ends (SPEC 14).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silence: Option<SilenceNote>,
    /// On a digest or resolved notice: the receipt of the group's first alert on
    /// this channel (a Slack `ts` to thread under, a Message-ID, a dedup_key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Receipt>,
}

/// A group resolved: quiet since its last event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedNote {
    pub quiet_since_ms: i64,
    /// Events the group saw before it went quiet (its last window's).
    pub events: u64,
    /// Events the group saw in all, first alert to last digest (0: unknown).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub group_total: u64,
}

/// A silence ended: what it matched, who set it and why, how long it ran and
/// how many events it held back on this notification's route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceNote {
    pub id: String,
    /// `error_codes=[11200] resource_sids=[CA*]`.
    pub matchers: String,
    pub author: String,
    pub comment: String,
    pub started_ms: i64,
    pub ended_ms: i64,
    /// Events held back on this route.
    pub held_back: u64,
    /// Who expired it early; `None`: it ran out (or went quiet).
    pub expired_by: Option<String>,
    /// `until_quiet` (ms), when it ended by going quiet.
    pub until_quiet_ms: Option<i64>,
}

/// How many events within how long crossed a route's threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThresholdNote {
    pub count: u64,
    pub within_ms: i64,
}

/// `route|error_code=N` (`-` for an unreadable payload): what folding a backlog and
/// the open-groups overflow group key by.
pub fn route_code_key(route: &str, ev: &DebuggerEvent) -> String {
    let code = ev
        .error_code()
        .map(|c| c.to_string())
        .unwrap_or_else(|| "-".into());
    format!("{route}|error_code={code}")
}

/// What folding a backlog needs of a notification, kept in columns beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoldSummary {
    /// Route + error code: waiting notifications with the same key fold together.
    pub fold_key: String,
    /// Events it stands for: 1 for an alert, the total for a digest.
    pub events: u64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub resources: u64,
}

/// What a notification adds to a fold, beside its key ([`Notification::fold_counts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoldCounts {
    pub events: u64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub resources: u64,
}

/// Where a group's notifications come from: its route and key, and the route's
/// template and mention.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub route: &'a str,
    pub group_key: &'a str,
    pub template: Option<&'a String>,
    pub mention: Option<&'a String>,
}

impl Notification {
    /// The one place a `Notification` is built: one per channel, in order, each
    /// with the accepted events it accounts for (SPEC 4) — `accounted` on the first
    /// channel, 0 on the copies.
    pub fn fan_out<'a>(
        origin: Origin<'_>,
        channels: impl Iterator<Item = &'a String>,
        event: &std::sync::Arc<DebuggerEvent>,
        digest: Option<&Digest>,
        accounted: u64,
    ) -> Vec<(Notification, u64)> {
        channels
            .enumerate()
            .map(|(j, ch)| {
                let n = Notification {
                    channel: ch.clone(),
                    route: origin.route.to_string(),
                    group_key: origin.group_key.to_string(),
                    template: origin.template.cloned(),
                    mention: origin.mention.cloned(),
                    event: event.clone(),
                    digest: digest.cloned(),
                    threshold: None,
                    resolved: None,
                    silence: None,
                    parent: None,
                };
                (n, if j == 0 { accounted } else { 0 })
            })
            .collect()
    }

    pub fn fold_summary(&self) -> FoldSummary {
        // A silence's summary is one of a kind (its group key names the silence and
        // route): never folded into a backlog's digest.
        let fold_key = if self.silence.is_some() {
            self.group_key.clone()
        } else {
            route_code_key(&self.route, &self.event)
        };
        let c = self.fold_counts();
        FoldSummary {
            fold_key,
            events: c.events,
            first_seen_ms: c.first_seen_ms,
            last_seen_ms: c.last_seen_ms,
            resources: c.resources,
        }
    }

    /// The events, time span and resources it stands for in a fold: 1 and its
    /// event's for an alert, the totals for a digest.
    pub fn fold_counts(&self) -> FoldCounts {
        match &self.digest {
            Some(d) => FoldCounts {
                events: d.total(),
                first_seen_ms: d.first_seen_ms,
                last_seen_ms: d.last_seen_ms,
                resources: d.resources_total,
            },
            None => FoldCounts {
                events: 1,
                first_seen_ms: self.event.received_at_ms,
                last_seen_ms: self.event.received_at_ms,
                resources: u64::from(self.event.resource_sid().is_some()),
            },
        }
    }
}

/// A notification as the store keeps it: everything but its event, which the store
/// already holds once (the `events` row of `event_sid`) and joins back when the
/// notification is read. Copying the ~2 KB event into every notification row was
/// most of what a new group cost on the engine's serial thread (SPEC 11).
#[derive(Serialize)]
struct StoredRef<'a> {
    channel: &'a str,
    route: &'a str,
    group_key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    template: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mention: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: &'a Option<Digest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    threshold: &'a Option<ThresholdNote>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resolved: &'a Option<ResolvedNote>,
    #[serde(skip_serializing_if = "Option::is_none")]
    silence: &'a Option<SilenceNote>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent: &'a Option<Receipt>,
}

/// [`StoredRef`] read back; `event` is present in rows written before the event
/// was left out (they still read as they were).
#[derive(Deserialize)]
struct StoredOwned {
    channel: String,
    route: String,
    group_key: String,
    #[serde(default)]
    template: Option<String>,
    #[serde(default)]
    mention: Option<String>,
    #[serde(default)]
    event: Option<DebuggerEvent>,
    #[serde(default)]
    digest: Option<Digest>,
    #[serde(default)]
    threshold: Option<ThresholdNote>,
    #[serde(default)]
    resolved: Option<ResolvedNote>,
    #[serde(default)]
    silence: Option<SilenceNote>,
    #[serde(default)]
    parent: Option<Receipt>,
}

impl Notification {
    /// The stored form: the notification without its event (see [`StoredRef`]).
    pub fn to_stored_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(&StoredRef {
            channel: &self.channel,
            route: &self.route,
            group_key: &self.group_key,
            template: &self.template,
            mention: &self.mention,
            digest: &self.digest,
            threshold: &self.threshold,
            resolved: &self.resolved,
            silence: &self.silence,
            parent: &self.parent,
        })
    }

    /// Reads a stored notification back with its event: `event_body` is the stored
    /// event of its `event_sid` (`None` when the store has no such event).
    pub fn from_stored(body: &str, event_body: Option<&str>) -> Result<Notification, String> {
        let s: StoredOwned = serde_json::from_str(body).map_err(|e| e.to_string())?;
        let event = match (s.event, event_body) {
            (Some(ev), _) => ev,
            (None, Some(b)) => serde_json::from_str(b).map_err(|e| format!("its event: {e}"))?,
            (None, None) => return Err("its event is not in the store".into()),
        };
        Ok(Notification {
            channel: s.channel,
            route: s.route,
            group_key: s.group_key,
            template: s.template,
            mention: s.mention,
            event: event.into(),
            digest: s.digest,
            threshold: s.threshold,
            resolved: s.resolved,
            silence: s.silence,
            parent: s.parent,
        })
    }
}

/// What a provider gives back for a sent message that later features need (to
/// edit it, thread under it, resolve it). Stored with the group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Receipt {
    /// A Slack Web API message: where it is and its `ts`.
    Slack { channel: String, ts: String },
    /// The email's `Message-ID` (with its angle brackets).
    Email { message_id: String },
    /// The PagerDuty incident's `dedup_key`.
    Pagerduty { dedup_key: String },
}
