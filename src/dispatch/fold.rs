//! Folding a backlog (SPEC 4): when a channel's pending notifications pass its
//! `max_pending`, the waiting notifications of one route and error code are merged
//! into a single digest. Counts are conserved: the merged row accounts for every
//! event the folded rows did.
//!
//! The fold key is route + error code rather than the full group key: a storm over
//! 100,000 distinct resources is 100,000 groups of one event each, and folding per
//! group would leave all of them queued.

use super::BatchOutcome;
use crate::notification::{Digest, Notification, Origin};
use crate::runtime::Runtime;
use crate::store::{FoldBucket, OutboxTx, Queued, StoreError};

const MAX_RESOURCES: usize = 10;
const MAX_SAMPLES: usize = 5;
/// Rows whose bodies are read for a merged digest's resources and sample Sids.
const SAMPLE_ROWS: usize = 20;

/// Counting and merging happen in SQL over a partial index of never-tried waiting
/// rows: a long outage with thousands of notifications on retry costs one index
/// count per channel per tick, and no body is loaded unless a fold happens.
pub(super) fn fold_backlogs(
    b: &impl OutboxTx,
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
        let mut folded = 0u64;
        for bucket in b.fold_buckets(channel)? {
            let samples = b.fold_samples(channel, &bucket, SAMPLE_ROWS)?;
            let Some(merged) = merge(&bucket, &samples, now) else {
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

/// One digest standing for every row of `bucket`: totals from SQL, the first event,
/// resources and sample Sids from the oldest rows.
fn merge(bucket: &FoldBucket, samples: &[Queued], now: i64) -> Option<Notification> {
    let first = &samples.first()?.notification;
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
    for q in samples {
        let n = &q.notification;
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
