//! Applying a batch's commands to the outbox: an event's plan (group state,
//! notifications), delivery outcomes, due windows and resolutions. The decisions
//! come from `plan.rs`; the SQL stays behind the outbox traits.

use super::{plan, Accepted, BatchOutcome, Settled};
use crate::event::DebuggerEvent;
use crate::group::Groups;
use crate::notification::Notification;
use crate::route::RouteInput;
use crate::runtime::Runtime;
use crate::store::{OutboxTx, State, StoreError};

/// An event routed before its batch touches the store: the store learns in one
/// statement which of the batch's events are new, and a shared store locks the
/// groups they touch first.
pub(super) struct Routed {
    matches: Vec<crate::route::RouteMatch>,
    product: Option<String>,
    /// The group keys the event may count into or open ([`plan::keys_of`]), made
    /// here on the HTTP worker rather than on the engine thread.
    keys: Vec<String>,
}

pub(super) fn route(rt: &Runtime, ev: &DebuggerEvent) -> Routed {
    let product = crate::product::of_event(&rt.catalog, ev);
    let matches = rt.router.routes_for(&RouteInput::from_event(ev, product));
    Routed {
        keys: plan::keys_of(ev, &matches, product),
        matches,
        product: product.map(str::to_string),
    }
}

impl Routed {
    /// The stored row of `ev` with the columns the console filters on.
    pub(super) fn row<'a>(
        &'a self,
        ev: &'a DebuggerEvent,
        body: &'a str,
    ) -> crate::store::EventRow<'a> {
        crate::store::EventRow {
            sid: ev.sid.as_str(),
            received_at_ms: ev.received_at_ms,
            body,
            error_code: ev.error_code().map(|c| c.0),
            resource_sid: ev.resource_sid(),
            level: Some(ev.level.as_str()),
            route: self.matches.first().map(|m| m.route.name.as_str()),
        }
    }

    /// Every group key this event may count into or open.
    pub(super) fn group_keys(&self) -> &[String] {
        &self.keys
    }
}

/// Plans and applies an event the store just took (`stored`: its id) or had seen
/// (`None`: a retry); its alerts wait in `out.queued` for [`super::fold::write_queued`].
#[allow(clippy::too_many_arguments)]
pub(super) fn ingest_one(
    groups: &mut Groups,
    silences: &mut [crate::silence::Silence],
    rt: &Runtime,
    ev: &DebuggerEvent,
    routed: &Routed,
    stored: Option<i64>,
    now: i64,
    out: &mut BatchOutcome,
) -> Accepted {
    let Some(id) = stored else {
        out.delta.duplicates += 1;
        tracing::info!(sid = %ev.sid, "duplicate Sid: already accepted, not notified again");
        return Accepted::Duplicate;
    };
    let input = plan::PlanInput {
        enabled: &rt.enabled,
        max_open_groups: rt.settings.defaults.max_open_groups,
        product: routed.product.as_deref(),
        silences,
    };
    let p = plan::plan_event(ev, &routed.matches, &routed.keys, &input, groups, now);
    out.delta.add(&p.delta);
    let mut named = Vec::new();
    for step in &p.steps {
        if let plan::Step::Silenced { route, silence } = step {
            let first = !named.contains(&silence);
            super::silences::tally(&mut out.tallies, silences, silence, route, ev, first, now);
            named.push(silence);
        }
    }
    if p.steps.is_empty() {
        tracing::info!(sid = %ev.sid, code = ?ev.error_code().map(|c| c.0), "no route matches: recorded as unrouted");
    }
    for mut step in p.steps {
        if let plan::Step::Opened { state, .. } = &mut step {
            // While it is this one event, the event is all of the group.
            state.seed = Some(id);
        }
        apply_step(groups, ev, now, step, out);
    }
    Accepted::New
}

/// Carries out one step of an event's plan: group state, notifications, metrics, logs.
fn apply_step(
    groups: &mut Groups,
    ev: &DebuggerEvent,
    now: i64,
    step: plan::Step,
    out: &mut BatchOutcome,
) {
    let route = match &step {
        plan::Step::Muted { route }
        | plan::Step::Silenced { route, .. }
        | plan::Step::Acknowledged { route, .. }
        | plan::Step::NoChannel { route }
        | plan::Step::Counted { route, .. }
        | plan::Step::Held { route, .. }
        | plan::Step::Fired { route, .. }
        | plan::Step::Opened { route, .. } => route.clone(),
    };
    out.metric_incs
        .add("twilert_events_routed_total", "route", &route);
    match step {
        plan::Step::Muted { .. } => {
            out.metric_incs
                .add("twilert_events_muted_total", "route", &route);
            tracing::debug!(sid = %ev.sid, route = %route, "muted");
        }
        plan::Step::Silenced { silence, .. } => {
            out.metric_incs
                .add("twilert_events_silenced_total", "route", &route);
            tracing::info!(sid = %ev.sid, route = %route, silence = %silence, "held back by a silence");
        }
        plan::Step::Acknowledged { key, .. } => {
            // Counted (the group stays open while events come), never digested.
            groups.count(&key, ev, now, false);
            out.metric_incs
                .add("twilert_events_silenced_total", "route", &route);
            tracing::debug!(sid = %ev.sid, route = %route, group = %key, "counted into an acknowledged group: silenced");
        }
        plan::Step::NoChannel { .. } => {
            tracing::warn!(sid = %ev.sid, route = %route, "route has no enabled channel: recorded as unrouted");
        }
        plan::Step::Counted {
            key,
            primary,
            overflow,
            ..
        } => {
            note_overflow(overflow, ev, &route, &key, out);
            groups.count(&key, ev, now, primary);
            out.metric_incs
                .add("twilert_events_suppressed_total", "route", &route);
            tracing::debug!(sid = %ev.sid, route = %route, group = %key, "counted into group digest");
        }
        plan::Step::Held {
            key, primary, open, ..
        } => {
            match open {
                Some(state) => groups.open_group(&key, *state),
                None => out.delta.below_threshold += groups.hold(&key, ev, now, primary),
            }
            tracing::debug!(sid = %ev.sid, route = %route, group = %key, "held below the route's threshold");
        }
        plan::Step::Fired {
            key, notifications, ..
        } => {
            out.delta.below_threshold += groups.fire(&key, now);
            out.queued.extend(notifications);
        }
        plan::Step::Opened {
            key,
            state,
            notifications,
            overflow,
            ..
        } => {
            note_overflow(overflow, ev, &route, &key, out);
            groups.open_group(&key, *state);
            out.queued.extend(notifications);
        }
    }
}

fn note_overflow(
    overflow: bool,
    ev: &DebuggerEvent,
    route: &str,
    key: &str,
    out: &mut BatchOutcome,
) {
    if overflow {
        out.metric_incs
            .add("twilert_groups_overflow_total", "route", route);
        tracing::info!(sid = %ev.sid, route = %route, group = %key, "defaults.max_open_groups reached: counted into the route's overflow group");
    }
}

impl plan::GroupView for Groups {
    fn get(&self, key: &str) -> Option<&crate::group::GroupState> {
        Groups::get(self, key)
    }
    fn open_count(&self) -> usize {
        Groups::open_count(self)
    }
    fn is_open(&self, key: &str) -> bool {
        Groups::is_open(self, key)
    }
}

/// A group went quiet for its `resolve_after`: each channel that wants it is told
/// (PagerDuty resolves the incident, email replies in the thread, ...). Accounts
/// for no event: they were accounted when the group alerted and digested.
fn queue_resolved(
    b: &impl OutboxTx,
    rt: &Runtime,
    key: &str,
    g: &crate::group::GroupState,
    now: i64,
    out: &mut BatchOutcome,
) -> Result<(), StoreError> {
    let event: Option<DebuggerEvent> = b
        .get_event(&g.first_sid)?
        .and_then(|body| serde_json::from_str(&body).ok());
    let Some(event) = event else {
        tracing::warn!(group = %key, "group resolved, but its first event is gone (pruned?): no resolved notice");
        return Ok(());
    };
    let event = std::sync::Arc::new(event);
    let channels = g
        .channels
        .iter()
        .filter(|c| rt.enabled.contains(*c) && !rt.quiet_on_resolve.contains(*c));
    let note = crate::notification::ResolvedNote {
        quiet_since_ms: g.last_seen_ms,
        events: g.last_total.max(g.lead),
        group_total: g.events_total.max(g.lead),
    };
    for (mut n, _) in Notification::fan_out(g.origin(key), channels, &event, None, 0) {
        n.resolved = Some(note);
        n.parent = g.receipts.get(&n.channel).cloned();
        b.insert_notification(&n, 0, now)?;
        out.woken.insert(n.channel.clone());
    }
    out.metric_incs
        .add("twilert_groups_resolved_total", "route", &g.route);
    tracing::info!(sid = %event.sid, route = %g.route, group = %key, "group quiet for resolve_after: resolved");
    Ok(())
}

pub(super) fn settle_one(
    b: &impl OutboxTx,
    groups: &mut Groups,
    id: i64,
    channel: &str,
    result: Settled,
    now: i64,
    out: &mut BatchOutcome,
) -> Result<(), StoreError> {
    match result {
        Settled::Sent {
            group_key,
            receipt,
            replaces,
        } => {
            if let Some(r) = receipt {
                groups.set_receipt(&group_key, channel, r, replaces);
            }
            let (count, is_digest) = b.accounting(id)?;
            if b.hurry_retries(channel, now)? > 0 {
                out.woken.insert(channel.to_string());
            }
            if b.set_state(id, State::Sent, 0, now, None)? {
                // Digest rows carry their group's accounted count; single alerts 1 (or 0).
                if is_digest {
                    out.delta.digested += count;
                } else {
                    out.delta.notified += count;
                }
            }
        }
        Settled::Retry {
            attempts,
            next_at_ms,
            error,
        } => {
            b.reschedule(id, attempts, next_at_ms, now, &error)?;
            out.woken.insert(channel.to_string());
        }
        Settled::Dead { attempts, error } => {
            let (count, _) = b.accounting(id)?;
            if b.set_state(id, State::Dead, attempts, now, Some(&error))? {
                out.delta.dead_lettered = out.delta.dead_lettered.wrapping_add(count);
            }
        }
    }
    Ok(())
}

pub(super) fn emit_digests(
    b: &impl OutboxTx,
    groups: &mut Groups,
    rt: &Runtime,
    now: i64,
    out: &mut BatchOutcome,
) -> Result<(), StoreError> {
    let due = groups.due(now);
    out.delta.below_threshold += groups.take_below_threshold();
    for (key, g) in groups.take_resolved() {
        queue_resolved(b, rt, &key, &g, now, out)?;
    }
    for due in due {
        let event: Option<DebuggerEvent> = b
            .get_event(&due.state.first_sid)?
            .and_then(|body| serde_json::from_str(&body).ok());
        let channels: Vec<&String> = due
            .state
            .channels
            .iter()
            .filter(|c| rt.enabled.contains(*c))
            .collect();
        let Some(event) = event.filter(|_| !channels.is_empty()) else {
            out.delta.dead_lettered = out.delta.dead_lettered.wrapping_add(due.state.accounted);
            tracing::error!(group = %due.key, count = due.digest.count, "digest cannot be sent (first event missing or no enabled channel)");
            continue;
        };
        let event = std::sync::Arc::new(event);
        for (mut n, accounted) in Notification::fan_out(
            due.state.origin(&due.key),
            channels.into_iter(),
            &event,
            Some(&due.digest),
            due.state.accounted,
        ) {
            n.parent = due.state.receipts.get(&n.channel).cloned();
            b.insert_notification(&n, accounted, now)?;
            out.woken.insert(n.channel.clone());
        }
        tracing::info!(sid = %event.sid, route = %due.state.route, group = %due.key, count = due.digest.count, "digest queued");
    }
    Ok(())
}
