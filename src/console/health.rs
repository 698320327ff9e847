//! The accounting invariant and each channel's health, as the overview and
//! `/api/v1/{accounting,channels}` show them. No channel URL or token is read here:
//! only the channel's name, kind and whether it is enabled.

use super::{ReadPool, ViewError};
use crate::control::{export_accounting, Control};
use crate::store::Backlog;
use std::collections::{BTreeMap, BTreeSet};

/// SPEC 4: accepted = notified + digested + muted + unrouted + dead-lettered +
/// below threshold + silenced + pending.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Accounting {
    pub accepted: u64,
    pub duplicates: u64,
    pub notified: u64,
    pub digested: u64,
    pub muted: u64,
    pub unrouted: u64,
    pub dead_lettered: u64,
    pub below_threshold: u64,
    pub silenced: u64,
    pub pending: u64,
    /// The sum of the terms; equals `accepted` when nothing is lost.
    pub accounted: u64,
    pub balanced: bool,
    pub open_groups: usize,
}

impl Accounting {
    /// The terms that add up to `accepted`, named as `/metrics` names the outcomes.
    pub fn terms(&self) -> [(&'static str, u64); 8] {
        [
            ("notified", self.notified),
            ("digested", self.digested),
            ("muted", self.muted),
            ("unrouted", self.unrouted),
            ("dead-lettered", self.dead_lettered),
            ("below-threshold", self.below_threshold),
            ("silenced", self.silenced),
            ("pending", self.pending),
        ]
    }
}

/// The same snapshot `/metrics` exports (and it is exported too, so both agree).
pub async fn accounting(ctl: &Control) -> Result<Accounting, ViewError> {
    export_accounting(ctl).await;
    let s = ctl
        .dispatcher
        .snapshot()
        .await
        .ok_or_else(|| ViewError::Store("dispatch engine stopped".into()))?;
    let c = s.counters;
    Ok(Accounting {
        accepted: c.accepted,
        duplicates: c.duplicates,
        notified: c.notified,
        digested: c.digested,
        muted: c.muted,
        unrouted: c.unrouted,
        dead_lettered: c.dead_lettered,
        below_threshold: c.below_threshold,
        silenced: c.silenced,
        pending: s.pending,
        accounted: s.accounted(),
        balanced: s.accounted() == c.accepted,
        open_groups: s.open_groups,
    })
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ChannelHealth {
    pub name: String,
    pub kind: String,
    pub enabled: bool,
    /// `ok`, `paused` (the provider asked to wait, or everything waiting is on a
    /// retry backoff), `broken`, `disabled`.
    pub state: &'static str,
    pub paused_until_ms: Option<i64>,
    /// Why it is paused: `retry_after` (the provider asked) or `backoff`.
    pub paused_by: Option<&'static str>,
    /// Why it is broken: its latest dead letter's error (provider text is scrubbed
    /// before it is stored).
    pub reason: Option<String>,
    pub backlog: Backlog,
}

pub async fn channels(ctl: &Control, views: &ReadPool) -> Result<Vec<ChannelHealth>, ViewError> {
    let rt = ctl.shared.get();
    let metrics = ctl.metrics.render();
    let broken = broken_channels(&metrics);
    let retry_after = paused_channels(&metrics);
    let list: Vec<(String, String, bool)> = rt
        .settings
        .channels
        .iter()
        .map(|(name, ch)| {
            (
                name.clone(),
                ch.inner().render_kind().to_string(),
                rt.enabled.contains(name),
            )
        })
        .collect();
    let now = super::query::now_ms();
    views
        .read(move |r| {
            let mut out = vec![];
            for (name, kind, enabled) in list {
                let backlog = r.backlog(&name, now)?;
                let is_broken = broken.contains(&name);
                let reason = if is_broken {
                    r.last_dead_error(&name)?
                } else {
                    None
                };
                // A provider's Retry-After, or everything waiting on a retry backoff.
                let asked = retry_after.get(&name).copied().filter(|until| *until > now);
                let backing_off = backlog.pending > 0 && backlog.retrying == backlog.pending;
                let paused = asked.is_some() || backing_off;
                let state = match (enabled, is_broken, paused) {
                    (false, _, _) => "disabled",
                    (true, true, _) => "broken",
                    (true, false, true) => "paused",
                    _ => "ok",
                };
                out.push(ChannelHealth {
                    paused_by: (state == "paused").then_some(if asked.is_some() {
                        "retry_after"
                    } else {
                        "backoff"
                    }),
                    paused_until_ms: (state == "paused")
                        .then_some(asked.or(backlog.next_due_ms))
                        .flatten(),
                    name,
                    kind,
                    enabled,
                    state,
                    reason,
                    backlog,
                });
            }
            Ok(out)
        })
        .await
}

/// The value of an unlabelled series in Prometheus text (`name 1.5`).
pub fn gauge(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .find_map(|v| v.trim().parse().ok())
}

/// Channels whose `twilert_channel_broken` gauge is set (the worker's verdict).
fn broken_channels(metrics: &str) -> BTreeSet<String> {
    per_channel(metrics, "twilert_channel_broken")
        .filter(|(_, v)| *v > 0.0)
        .map(|(name, _)| name)
        .collect()
}

/// Until when (unix ms) each channel is paused by a provider's `Retry-After`.
fn paused_channels(metrics: &str) -> BTreeMap<String, i64> {
    per_channel(metrics, "twilert_channel_paused_until_seconds")
        .filter(|(_, v)| *v > 0.0)
        .map(|(name, v)| (name, (v * 1000.0) as i64))
        .collect()
}

/// `series{channel="name"} value` lines of one series.
fn per_channel<'a>(metrics: &'a str, series: &'a str) -> impl Iterator<Item = (String, f64)> + 'a {
    metrics.lines().filter_map(move |l| {
        let l = l.strip_prefix(series)?.strip_prefix('{')?;
        let (labels, value) = l.rsplit_once('}')?;
        let value: f64 = value.trim().parse().ok()?;
        let name = labels
            .split(',')
            .find_map(|kv| kv.strip_prefix("channel=\""))?
            .strip_suffix('"')?;
        Some((name.to_string(), value))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_broken_gauge() {
        let text = "# TYPE twilert_channel_broken gauge\ntwilert_channel_broken{channel=\"slack\"} 1\ntwilert_channel_broken{channel=\"teams\"} 0\n";
        let b = super::broken_channels(text);
        assert_eq!(b.into_iter().collect::<Vec<_>>(), vec!["slack".to_string()]);
        assert_eq!(super::gauge("a_b 2\na 1.5\n", "a"), Some(1.5));
    }
}
