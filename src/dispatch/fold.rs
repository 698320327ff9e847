//! Folding a backlog (SPEC 4): when a channel's pending notifications pass its
//! `max_pending`, the waiting notifications of one route and error code are merged
//! into a single digest. Counts are conserved: the merged row accounts for every
//! event the folded rows did.
//!
//! The fold key is route + error code rather than the full group key: a storm over
//! 100,000 distinct resources is 100,000 groups of one event each, and folding per
//! group would leave all of them queued.

use super::BatchOutcome;
use crate::notification::{Digest, Notification};
use crate::runtime::Runtime;
use crate::store::{Batch, Queued, State, StoreError};
use std::collections::BTreeMap;

const MAX_RESOURCES: usize = 10;
const MAX_SAMPLES: usize = 5;

pub(super) fn fold_backlogs(
    b: &Batch<'_>,
    rt: &Runtime,
    now: i64,
    out: &mut BatchOutcome,
) -> Result<(), StoreError> {
    for (channel, limits) in &rt.limits {
        if !rt.enabled.contains(channel) {
            continue;
        }
        let pending = b.pending_count(channel)?;
        if pending <= limits.max_pending as u64 {
            continue;
        }
        let rows = b.pending_rows(channel)?;
        let mut buckets: BTreeMap<(String, Option<u32>), Vec<Queued>> = BTreeMap::new();
        for q in rows {
            // A row being retried has been tried already: leave it to its retry.
            if q.attempts > 0 {
                continue;
            }
            let key = (
                q.notification.route.clone(),
                q.notification.event.error_code().map(|c| c.0),
            );
            buckets.entry(key).or_default().push(q);
        }
        let mut folded = 0usize;
        for ((route, code), rows) in buckets {
            if rows.len() < 2 {
                continue;
            }
            let merged = merge(&rows, now);
            let accounted: u64 = rows.iter().map(|q| q.event_count).sum();
            for q in &rows {
                b.set_state(
                    q.id,
                    State::Folded,
                    q.attempts,
                    now,
                    Some("folded into a digest (channel backlog)"),
                )?;
            }
            b.insert_notification(&merged, accounted, now)?;
            folded += rows.len();
            tracing::warn!(channel = %channel, route = %route, code = ?code, folded = rows.len(),
                count = merged.digest.as_ref().map(|d| d.count).unwrap_or(0), "backlog over max_pending: folded into one digest");
        }
        if folded > 0 {
            out.woken.insert(channel.clone());
            out.metric_incs
                .add("twilert_notifications_folded_total", "channel", channel);
        }
    }
    Ok(())
}

/// One digest standing for all `rows` (oldest first).
fn merge(rows: &[Queued], now: i64) -> Notification {
    let first = &rows[0].notification;
    let mut d = Digest {
        first_seen_ms: i64::MAX,
        ..Default::default()
    };
    for q in rows {
        let n = &q.notification;
        match &n.digest {
            Some(g) => {
                d.count += g.count;
                d.total += g.total();
                d.first_seen_ms = d.first_seen_ms.min(g.first_seen_ms);
                d.last_seen_ms = d.last_seen_ms.max(g.last_seen_ms);
                d.resources_total += g.resources_total;
                for r in &g.resources {
                    push_unique(&mut d.resources, r, MAX_RESOURCES);
                }
                for s in &g.sample_sids {
                    push_unique(&mut d.sample_sids, s, MAX_SAMPLES);
                }
            }
            None => {
                d.count += 1;
                d.total += 1;
                let t = n.event.received_at_ms;
                d.first_seen_ms = d.first_seen_ms.min(t);
                d.last_seen_ms = d.last_seen_ms.max(t);
                if let Some(r) = n.event.resource_sid() {
                    d.resources_total += 1;
                    push_unique(&mut d.resources, r, MAX_RESOURCES);
                }
                push_unique(&mut d.sample_sids, n.event.sid.as_str(), MAX_SAMPLES);
            }
        }
    }
    if d.first_seen_ms == i64::MAX {
        d.first_seen_ms = now;
    }
    let code = first
        .event
        .error_code()
        .map(|c| c.to_string())
        .unwrap_or_else(|| "-".into());
    Notification {
        channel: first.channel.clone(),
        route: first.route.clone(),
        group_key: format!("{}|error_code={code}|folded", first.route),
        template: first.template.clone(),
        mention: first.mention.clone(),
        event: first.event.clone(),
        digest: Some(d),
    }
}

fn push_unique(v: &mut Vec<String>, s: &str, cap: usize) {
    if v.len() < cap && !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}
