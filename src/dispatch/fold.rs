//! Folding a backlog (SPEC 4): when a channel's pending notifications pass its
//! `max_pending`, the waiting notifications of one route and error code are merged
//! into a single digest. Counts are conserved: the merged row accounts for every
//! event the folded rows did.
//!
//! The fold key is route + error code rather than the full group key: a storm over
//! 100,000 distinct resources is 100,000 groups of one event each, and folding per
//! group would leave all of them queued.

use super::BatchOutcome;
use crate::event::ErrorCode;
use crate::notification::{route_code_key, Digest, Notification, Origin};
use crate::runtime::Runtime;
use crate::store::{FoldBucket, OutboxTx, StoreError};
use std::collections::{BTreeMap, HashMap};

const MAX_RESOURCES: usize = 10;
const MAX_SAMPLES: usize = 5;
/// Rows whose bodies are read for a merged digest's resources and sample Sids.
const SAMPLE_ROWS: usize = 20;

/// Counting and merging happen in SQL over a partial index of never-tried waiting
/// rows: a long outage with thousands of notifications on retry costs one index
/// count per channel per tick, and no body is loaded unless a fold happens.
///
/// The channels over their `max_pending`, each with whether a batch wrote new
/// alerts of it already folded ([`write_queued`]) since the last tick. While that
/// goes on (a storm of new groups) the channel stays backlogged though the fold
/// brought it under its `max_pending`: else every other tick interval would let
/// its alerts in one row each, for the next tick to fold.
pub(super) type Backlogged = BTreeMap<String, bool>;

/// `backlogged` becomes the channels found over their `max_pending`, and those
/// still in a storm: until the next tick, a batch writes their new alerts already
/// folded ([`write_queued`]).
pub(super) fn fold_backlogs(
    b: &impl OutboxTx,
    rt: &Runtime,
    now: i64,
    backlogged: &mut Backlogged,
    out: &mut BatchOutcome,
) -> Result<(), StoreError> {
    let previous = std::mem::take(backlogged);
    for (channel, limits) in &rt.limits {
        if !rt.enabled.contains(channel) {
            continue;
        }
        let over = b.pending_count(channel)? > limits.max_pending as u64;
        if !over && previous.get(channel) != Some(&true) {
            continue;
        }
        backlogged.insert(channel.clone(), false);
        if !over {
            continue;
        }
        let mut folded = 0u64;
        for bucket in b.fold_buckets(channel)? {
            let samples = b.fold_samples(channel, &bucket, SAMPLE_ROWS)?;
            let Some(merged) = merge(&bucket, samples.iter().map(|q| &q.notification), now) else {
                continue;
            };
            let rows = b.mark_folded(channel, &bucket, now)?;
            b.insert_notification(&merged, bucket.event_count, now)?;
            folded += rows as u64;
            tracing::warn!(channel = %channel, fold_key = %bucket.fold_key, folded = rows,
                count = bucket.events, "backlog over max_pending: folded into one digest");
        }
        if folded > 0 {
            out.woken.insert(channel.clone());
            out.metric_incs
                .add("twilert_notifications_folded_total", "channel", channel);
        }
    }
    Ok(())
}

/// Writes the alerts the batch's events queued (`out.queued`), in order. On a
/// channel that was over its `max_pending` at the last tick, the new alerts that
/// share a fold key are written as the one digest the next tick's fold would have
/// made of them, where the first of them stood: a storm of new groups costs a row
/// per batch and fold key, not a row per event plus its folding. Either way they
/// are written in the batch that stores their events.
pub(super) fn write_queued(
    b: &impl OutboxTx,
    backlogged: &mut Backlogged,
    now: i64,
    out: &mut BatchOutcome,
) -> Result<(), StoreError> {
    let queued = std::mem::take(&mut out.queued);
    // (channel, route, error code) → the positions of the alerts that fold together:
    // a plain alert's fold key ([`route_code_key`]), borrowed rather than built for
    // each alert of a storm.
    let mut buckets: HashMap<(&str, &str, Option<ErrorCode>), Vec<usize>> = HashMap::new();
    for (i, (n, _)) in queued.iter().enumerate() {
        if backlogged.contains_key(&n.channel) && is_plain_alert(n) {
            buckets
                .entry((n.channel.as_str(), n.route.as_str(), n.event.error_code()))
                .or_default()
                .push(i);
        }
    }
    let mut merged: HashMap<usize, (Notification, u64)> = HashMap::new();
    let mut folded = vec![false; queued.len()];
    for ((channel, route, _), members) in buckets {
        if members.len() < 2 {
            continue;
        }
        let mut bucket = FoldBucket {
            fold_key: route_code_key(route, &queued[members[0]].0.event),
            rows: members.len() as u64,
            event_count: 0,
            events: 0,
            first_seen_ms: i64::MAX,
            last_seen_ms: 0,
            resources: 0,
            max_id: 0,
        };
        for &i in &members {
            let (n, accounted) = &queued[i];
            let c = n.fold_counts();
            bucket.event_count += accounted;
            bucket.events += c.events;
            bucket.first_seen_ms = bucket.first_seen_ms.min(c.first_seen_ms);
            bucket.last_seen_ms = bucket.last_seen_ms.max(c.last_seen_ms);
            bucket.resources += c.resources;
        }
        let Some(digest) = merge(&bucket, members.iter().map(|&i| &queued[i].0), now) else {
            continue;
        };
        // Debug: a storm does this for every batch; the tick's fold says it at warn.
        tracing::debug!(channel = %channel, fold_key = %bucket.fold_key, folded = members.len(),
            "backlog over max_pending: new alerts written as one digest");
        out.metric_incs
            .add("twilert_notifications_folded_total", "channel", channel);
        if let Some(storm) = backlogged.get_mut(channel) {
            *storm = true;
        }
        for &i in &members {
            folded[i] = true;
        }
        merged.insert(members[0], (digest, bucket.event_count));
    }
    for (i, (n, accounted)) in queued.iter().enumerate() {
        let (n, accounted) = match merged.get(&i) {
            Some((d, count)) => (d, *count),
            None if folded[i] => continue,
            None => {
                // One line per alert and channel (`channel` a plain field in JSON
                // logs); the folded ones got one line for all, above.
                match n.threshold {
                    Some(t) => {
                        tracing::info!(sid = %n.event.sid, route = %n.route, channel = %n.channel,
                        count = t.count, "threshold reached: alert queued")
                    }
                    None => {
                        tracing::info!(sid = %n.event.sid, route = %n.route, channel = %n.channel, "alert queued")
                    }
                }
                (n, *accounted)
            }
        };
        b.insert_notification(n, accounted, now)?;
        out.woken.insert(n.channel.clone());
    }
    Ok(())
}

/// A group's first alert (not a digest, threshold alert or notice): what a backlog
/// folds when it is new.
fn is_plain_alert(n: &Notification) -> bool {
    n.digest.is_none() && n.threshold.is_none() && n.resolved.is_none() && n.silence.is_none()
}

/// One digest standing for every notification of `bucket`: its totals, the first
/// event, resources and sample Sids from the oldest members.
fn merge<'a>(
    bucket: &FoldBucket,
    members: impl Iterator<Item = &'a Notification>,
    now: i64,
) -> Option<Notification> {
    let mut members = members.take(SAMPLE_ROWS);
    let first = members.next()?;
    let mut d = Digest {
        count: bucket.events,
        total: bucket.events,
        first_seen_ms: if bucket.first_seen_ms > 0 {
            bucket.first_seen_ms
        } else {
            now
        },
        last_seen_ms: bucket.last_seen_ms.max(bucket.first_seen_ms),
        resources_total: bucket.resources,
        ..Default::default()
    };
    for n in std::iter::once(first).chain(members) {
        match &n.digest {
            Some(g) => {
                for r in &g.resources {
                    push_unique(&mut d.resources, r, MAX_RESOURCES);
                }
                for s in &g.sample_sids {
                    push_unique(&mut d.sample_sids, s, MAX_SAMPLES);
                }
            }
            None => {
                if let Some(r) = n.event.resource_sid() {
                    push_unique(&mut d.resources, r, MAX_RESOURCES);
                }
                push_unique(&mut d.sample_sids, n.event.sid.as_str(), MAX_SAMPLES);
            }
        }
    }
    let key = format!("{}|folded", bucket.fold_key);
    let origin = Origin {
        route: &first.route,
        group_key: &key,
        template: first.template.as_ref(),
        mention: first.mention.as_ref(),
    };
    Notification::fan_out(
        origin,
        std::iter::once(&first.channel),
        &first.event,
        Some(&d),
        0,
    )
    .pop()
    .map(|(n, _)| n)
}

fn push_unique(v: &mut Vec<String>, s: &str, cap: usize) {
    if v.len() < cap && !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}
