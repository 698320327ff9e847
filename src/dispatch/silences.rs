//! Silences in the engine (SPEC 14): what events they held back, summed per batch
//! and written once at its end; their end at ticks (`ends_at` passed, or quiet for
//! `until_quiet`) or on request; and the one summary per affected route's
//! channels when they end. The matching itself is `silence.rs`, decided in the plan.

use super::BatchOutcome;
use crate::event::DebuggerEvent;
use crate::notification::{Notification, Origin, SilenceNote};
use crate::render::Kind;
use crate::runtime::Runtime;
use crate::silence::{Silence, SilenceEnd};
use crate::store::{OutboxTx, StoreError};
use std::collections::{BTreeMap, BTreeSet};

/// What one silence held back in a batch.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    events: u64,
    last_ms: i64,
    /// Route → (events, the first event's Sid).
    routes: BTreeMap<String, (u64, String)>,
}

/// Silences' tallies of a batch, by silence id.
pub(crate) type Tallies = BTreeMap<String, Tally>;

/// Records that `silence` held `ev` back on `route`; `first_on_event`: the first
/// time this silence is named for this event (an event counts once per silence).
pub(super) fn tally(
    tallies: &mut Tallies,
    silences: &mut [Silence],
    silence: &str,
    route: &str,
    ev: &DebuggerEvent,
    first_on_event: bool,
    now: i64,
) {
    let t = tallies.entry(silence.to_string()).or_default();
    if first_on_event {
        t.events += 1;
    }
    t.last_ms = t.last_ms.max(now);
    let r = t
        .routes
        .entry(route.to_string())
        .or_insert_with(|| (0, ev.sid.to_string()));
    r.0 += 1;
    // The engine's copy sees the match at once (`until_quiet` counts from it).
    if let Some(s) = silences.iter_mut().find(|s| s.id == silence) {
        if first_on_event {
            s.suppressed += 1;
        }
        s.last_match_ms = Some(s.last_match_ms.unwrap_or(now).max(now));
    }
}

/// Writes a batch's tallies (before its commit).
pub(super) fn flush(b: &impl OutboxTx, tallies: &Tallies) -> Result<(), StoreError> {
    for (id, t) in tallies {
        b.add_suppressed(id, t.events, t.last_ms)?;
        for (route, (n, sid)) in &t.routes {
            b.add_silence_hits(id, route, *n, sid)?;
        }
    }
    Ok(())
}

/// At a tick: silences that ran out are marked expired and their summaries queued;
/// they leave the engine's list.
pub(super) fn expire_due(
    b: &impl OutboxTx,
    rt: &Runtime,
    silences: &mut Vec<Silence>,
    now: i64,
    out: &mut BatchOutcome,
) -> Result<(), StoreError> {
    let mut ended = vec![];
    silences.retain(|s| {
        if s.ended(now) {
            ended.push(s.clone());
            false
        } else {
            true
        }
    });
    for s in ended {
        if !b.expire_silence(&s.id, now, None)? {
            // Another process or replica expired it first (and sent its summaries).
            continue;
        }
        let mut s = s;
        // The stored counts include other replicas' matches.
        if let Some(stored) = b.silence(&s.id)? {
            s = stored;
        }
        let end = s.ends_at_ms().min(now);
        tracing::info!(silence = %s.id, suppressed = s.suppressed, matchers = %s.describe(), "silence ended");
        out.metric_incs
            .add("twilert_silences_ended_total", "how", "ran_out");
        queue_summaries(b, rt, &s, end, now, &mut out.woken)?;
    }
    Ok(())
}

/// Expires silence `id` now, on request (`by`: who); queues its summaries and
/// returns it, or `None` when there is no such silence still in force. The CLI
/// uses it too, when no service holds the store.
pub fn expire(
    b: &impl OutboxTx,
    rt: &Runtime,
    id: &str,
    by: &str,
    now: i64,
    woken: &mut BTreeSet<String>,
) -> Result<Option<Silence>, StoreError> {
    let Some(mut s) = b.silence(id)? else {
        return Ok(None);
    };
    if s.expired_at_ms.is_some() || !b.expire_silence(id, now, Some(by))? {
        return Ok(None);
    }
    s.expired_at_ms = Some(now);
    s.expired_by = Some(by.to_string());
    tracing::info!(silence = %s.id, by = %by, suppressed = s.suppressed, matchers = %s.describe(), "silence expired");
    queue_summaries(b, rt, &s, now.min(s.ends_at_ms()), now, woken)?;
    Ok(Some(s))
}

/// One summary per route the silence held events back on, to that route's enabled
/// channels (not PagerDuty: a trigger would page for good news). Accounts for no
/// event: they were counted `silenced` when they arrived.
fn queue_summaries(
    b: &impl OutboxTx,
    rt: &Runtime,
    s: &Silence,
    ended_ms: i64,
    now: i64,
    woken: &mut BTreeSet<String>,
) -> Result<(), StoreError> {
    if !s.summary {
        return Ok(());
    }
    for hit in b.silence_hits(&s.id)? {
        let Some(route) = rt
            .router
            .routes()
            .iter()
            .chain(rt.router.fallback())
            .find(|r| r.name == hit.route)
        else {
            tracing::warn!(silence = %s.id, route = %hit.route, "silence ended, but its route is no longer configured: no summary");
            continue;
        };
        let event: Option<DebuggerEvent> = b
            .get_event(&hit.sample_sid)?
            .and_then(|body| serde_json::from_str(&body).ok());
        let Some(event) = event else {
            tracing::warn!(silence = %s.id, route = %hit.route, "silence ended, but the events it held back are gone (pruned?): no summary");
            continue;
        };
        let channels = route.channels.iter().filter(|c| {
            rt.enabled.contains(*c)
                && rt
                    .settings
                    .channels
                    .get(*c)
                    .is_some_and(|ch| ch.kind().render != Kind::Pagerduty)
        });
        let key = format!("silence:{}|{}", s.id, route.name);
        let note = SilenceNote {
            id: s.id.clone(),
            matchers: s.describe(),
            author: s.author.clone(),
            comment: s.comment.clone(),
            started_ms: s.starts_at_ms,
            ended_ms,
            held_back: hit.events,
            expired_by: s.expired_by.clone(),
            until_quiet_ms: match s.end {
                SilenceEnd::Quiet { after_ms } if s.expired_by.is_none() => Some(after_ms),
                _ => None,
            },
        };
        let origin = Origin {
            route: &route.name,
            group_key: &key,
            template: None,
            mention: None,
        };
        for (mut n, _) in Notification::fan_out(origin, channels, &event.into(), None, 0) {
            n.silence = Some(note.clone());
            b.insert_notification(&n, 0, now)?;
            woken.insert(n.channel.clone());
            tracing::info!(silence = %s.id, route = %route.name, channel = %n.channel, held_back = hit.events, "silence summary queued");
        }
    }
    Ok(())
}

/// How many of `groups` (open groups with their first event) the silence
/// matches on their route: what creating it shows.
pub fn matching_groups<'a>(
    s: &Silence,
    catalog: &crate::catalog::Catalog,
    groups: impl Iterator<Item = (&'a crate::group::GroupState, Option<DebuggerEvent>)>,
) -> usize {
    groups
        .filter(|(g, ev)| {
            ev.as_ref().is_some_and(|ev| {
                let product = crate::product::of_event(catalog, ev);
                s.covers(&crate::route::RouteInput::from_event(ev, product), &g.route)
            })
        })
        .count()
}
