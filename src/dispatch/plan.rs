//! The engine's decisions for one accepted event, as a pure function (STYLE: "a pure
//! engine plan"): which routes mute it, which silence holds it back (SPEC 14),
//! which open group it counts into (an acknowledged one: silenced), which new
//! group it opens and the notifications that go out now, and the accounting terms.
//! No I/O and no clock: the engine applies the plan through the store.

use crate::event::DebuggerEvent;
use crate::group::GroupState;
use crate::notification::{Notification, ThresholdNote};
use crate::route::{group_key, CompiledRoute, RouteInput, RouteMatch};
use crate::silence::Silence;
use crate::store::Counters;
use std::collections::BTreeSet;

/// What the plan needs to know of the open groups (the store's, or memory's cache).
pub trait GroupView {
    fn get(&self, key: &str) -> Option<&GroupState>;
    fn open_count(&self) -> usize;
    fn is_open(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

/// What one matched route does with the event.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `mute = true`: recorded and counted, never sent.
    Muted { route: String },
    /// An active silence matches the event on this route: stored and counted
    /// `silenced`, never sent; no group opens or counts it.
    Silenced { route: String, silence: String },
    /// Counted into an acknowledged group: no digest will carry it (`silenced`).
    Acknowledged {
        route: String,
        key: String,
        primary: bool,
    },
    /// None of the route's channels is enabled: recorded as unrouted.
    NoChannel { route: String },
    /// Counted into an open group's next digest.
    Counted {
        route: String,
        key: String,
        primary: bool,
        overflow: bool,
    },
    /// Held below the route's threshold (nothing sent yet); `open`: the armed group
    /// this event starts.
    Held {
        route: String,
        key: String,
        primary: bool,
        open: Option<Box<GroupState>>,
    },
    /// The event takes an armed group to its threshold: the alert goes out now and
    /// accounts for every held event of the window. Like `Opened`'s, the
    /// notifications carry the event's [`DebuggerEvent::summary`]: they are for the
    /// queue, which joins the whole stored event back when a worker reads them.
    Fired {
        route: String,
        key: String,
        notifications: Vec<(Notification, u64)>,
    },
    /// Opens a group and notifies now: each notification with the events it accounts
    /// for (the primary route's first channel carries the event, the copies 0), and
    /// the event's [`DebuggerEvent::summary`] (see `Fired`).
    Opened {
        route: String,
        key: String,
        state: Box<GroupState>,
        notifications: Vec<(Notification, u64)>,
        overflow: bool,
    },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventPlan {
    /// Accounting terms this event adds (SPEC 4), `accepted` included.
    pub delta: Counters,
    pub steps: Vec<Step>,
}

/// Limits and switches the plan honours.
pub struct PlanInput<'a> {
    pub enabled: &'a BTreeSet<String>,
    pub max_open_groups: usize,
    pub product: Option<&'a str>,
    /// Silences not expired yet (the plan checks which are active at `now`).
    pub silences: &'a [Silence],
}

/// Every group key [`plan_event`] may count `ev` into or open: each grouping
/// route's own key and its overflow key (a shared store locks them first).
pub fn keys_of(ev: &DebuggerEvent, matches: &[RouteMatch], product: Option<&str>) -> Vec<String> {
    let mut keys = Vec::with_capacity(matches.len() * 2);
    for m in matches.iter().filter(|m| !m.route.mute) {
        keys.push(group_key(&m.route, ev, product));
        keys.push(overflow_key(&m.route, ev));
    }
    keys
}

/// Decides what an accepted (not duplicate) event does; `matches` in route order,
/// `keys` what [`keys_of`] made of them (on the HTTP worker that routed the event).
pub fn plan_event(
    ev: &DebuggerEvent,
    matches: &[RouteMatch],
    keys: &[String],
    input: &PlanInput<'_>,
    groups: &dyn GroupView,
    now: i64,
) -> EventPlan {
    let mut plan = EventPlan::default();
    plan.delta.accepted = 1;
    if matches.is_empty() {
        plan.delta.unrouted = 1;
        return plan;
    }
    // Groups this event opens count against the cap too.
    let mut opened = 0usize;
    let route_input = RouteInput::from_event(ev, input.product);
    // A group key and an overflow key for each route that is not muted.
    let mut keys = keys.chunks_exact(2);
    for (i, m) in matches.iter().enumerate() {
        let primary = i == 0;
        let route = &m.route;
        if route.mute {
            plan.delta.muted += u64::from(primary);
            plan.steps.push(Step::Muted {
                route: route.name.clone(),
            });
            continue;
        }
        let pair = keys.next().expect("keys_of: two keys per route not muted");
        let (group, overflow_of_route) = (&pair[0], &pair[1]);
        if let Some(s) = input
            .silences
            .iter()
            .find(|s| s.matches(&route_input, &route.name, now))
        {
            plan.delta.silenced += u64::from(primary);
            plan.steps.push(Step::Silenced {
                route: route.name.clone(),
                silence: s.id.clone(),
            });
            continue;
        }
        let channels: Vec<&String> = route
            .channels
            .iter()
            .filter(|c| input.enabled.contains(*c))
            .collect();
        if channels.is_empty() {
            plan.delta.unrouted += u64::from(primary);
            plan.steps.push(Step::NoChannel {
                route: route.name.clone(),
            });
            continue;
        }
        let mut key = group.clone();
        let mut overflow = false;
        if !groups.is_open(&key) && groups.open_count() + opened >= input.max_open_groups {
            // Bounded memory: past the cap, new groups share one per route and code.
            key = overflow_of_route.clone();
            overflow = true;
        }
        if let Some((count, within)) = route.threshold {
            if let Some(step) = threshold_step(
                ev,
                route,
                &key,
                primary,
                groups.get(&key),
                &channels,
                (count, within),
                now,
            ) {
                if matches!(&step, Step::Held { open: Some(_), .. }) {
                    opened += 1;
                }
                plan.steps.push(step);
                continue;
            }
        }
        if groups.get(&key).is_some_and(|g| g.acknowledged.is_some()) {
            plan.delta.silenced += u64::from(primary);
            plan.steps.push(Step::Acknowledged {
                route: route.name.clone(),
                key,
                primary,
            });
            continue;
        }
        if groups.is_open(&key) {
            plan.steps.push(Step::Counted {
                route: route.name.clone(),
                key,
                primary,
                overflow,
            });
            continue;
        }
        opened += 1;
        let mut state = GroupState::open(
            &route.name,
            channels.iter().map(|c| (*c).clone()).collect(),
            route.template.clone(),
            route.mention.clone(),
            route.window.as_millis() as i64,
            ev,
            now,
        );
        state.resolve_after_ms = route.resolve_after.map(|d| d.as_millis() as i64);
        let notifications = Notification::fan_out(
            state.origin(&key),
            channels.into_iter(),
            &ev.summary().into(),
            None,
            u64::from(primary),
        );
        plan.steps.push(Step::Opened {
            route: route.name.clone(),
            key,
            state: Box::new(state),
            notifications,
            overflow,
        });
    }
    plan
}

/// A `threshold` route's step while its group is armed (or not open yet); `None`
/// once the group has fired (it then counts like any group).
#[allow(clippy::too_many_arguments)]
fn threshold_step(
    ev: &DebuggerEvent,
    route: &CompiledRoute,
    key: &str,
    primary: bool,
    group: Option<&GroupState>,
    channels: &[&String],
    (count, within): (u32, std::time::Duration),
    now: i64,
) -> Option<Step> {
    let within_ms = within.as_millis() as i64;
    let held: Vec<(i64, bool)> = match group {
        None => vec![],
        Some(g) if g.armed() => g
            .held
            .iter()
            .copied()
            .filter(|(t, _)| *t > now - within_ms)
            .collect(),
        Some(_) => return None,
    };
    let live = held.len() as u64 + 1;
    if live < u64::from(count) {
        let open = group.is_none().then(|| {
            let mut g = GroupState::open(
                &route.name,
                channels.iter().map(|c| (*c).clone()).collect(),
                route.template.clone(),
                route.mention.clone(),
                route.window.as_millis() as i64,
                ev,
                now,
            );
            g.threshold = Some((count, within_ms));
            g.resolve_after_ms = route.resolve_after.map(|d| d.as_millis() as i64);
            g.held = vec![(now, primary)];
            g.accounted = u64::from(primary);
            g.window_end_ms = now + within_ms;
            Box::new(g)
        });
        return Some(Step::Held {
            route: route.name.clone(),
            key: key.to_string(),
            primary,
            open,
        });
    }
    let accounted = held.iter().filter(|(_, p)| *p).count() as u64 + u64::from(primary);
    let g = group?;
    let mut notifications = Notification::fan_out(
        g.origin(key),
        channels.iter().copied(),
        &ev.summary().into(),
        None,
        accounted,
    );
    for (n, _) in &mut notifications {
        n.threshold = Some(ThresholdNote {
            count: live,
            within_ms,
        });
    }
    Some(Step::Fired {
        route: route.name.clone(),
        key: key.to_string(),
        notifications,
    })
}

/// The group that takes a route's new groups of one error code past the cap.
fn overflow_key(route: &CompiledRoute, ev: &DebuggerEvent) -> String {
    format!(
        "{}|overflow",
        crate::notification::route_code_key(&route.name, ev)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::route::{RouteInput, Router};
    use std::collections::HashSet;

    /// Open groups by key (their state does not matter to these tests).
    struct Open(HashSet<String>, GroupState);
    impl Open {
        fn of(keys: impl IntoIterator<Item = String>) -> Open {
            let ev = event("CA00");
            let g = GroupState::open("voice", vec![], None, None, 60_000, &ev, 0);
            Open(keys.into_iter().collect(), g)
        }
    }
    impl GroupView for Open {
        fn get(&self, key: &str) -> Option<&GroupState> {
            self.0.contains(key).then_some(&self.1)
        }
        fn open_count(&self) -> usize {
            self.0.len()
        }
    }

    fn router(toml: &str) -> Router {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, toml).unwrap();
        let s: Settings = crate::config::load(&p).unwrap();
        Router::compile(&s).unwrap()
    }

    const ROUTES: &str = r#"
[twilio]
verify_signature = false
[channels.a]
kind = "console"
[channels.b]
kind = "console"
[[routes]]
name = "voice"
error_codes = ["112xx"]
channels = ["a", "b", "off"]
continue = true
[[routes]]
name = "quiet"
error_codes = ["11200"]
mute = true
[channels.off]
kind = "slack"
url = ""
"#;

    fn event_with(code: &str, resource: &str) -> DebuggerEvent {
        let mut ev =
            DebuggerEvent::clone(&crate::render::samples::sample("http-retrieval-failure").event);
        if let crate::event::PayloadState::Parsed(p) = &mut ev.payload {
            p.error_code = crate::event::ErrorCode::parse(code).unwrap();
            p.resource_sid = Some(resource.into());
        }
        ev
    }

    fn event(resource: &str) -> DebuggerEvent {
        event_with("11200", resource)
    }

    /// `plan_event` with the keys the routing HTTP worker would make.
    fn plan_with(
        ev: &DebuggerEvent,
        matches: &[RouteMatch],
        input: &PlanInput<'_>,
        groups: &dyn GroupView,
        now: i64,
    ) -> EventPlan {
        plan_event(
            ev,
            matches,
            &keys_of(ev, matches, input.product),
            input,
            groups,
            now,
        )
    }

    fn plan(groups: &Open, max: usize, resource: &str) -> EventPlan {
        let r = router(ROUTES);
        let ev = event(resource);
        let matches = r.routes_for(&RouteInput::from_event(&ev, None));
        let enabled: BTreeSet<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let input = PlanInput {
            enabled: &enabled,
            max_open_groups: max,
            product: None,
            silences: &[],
        };
        plan_with(&ev, &matches, &input, groups, 1_000)
    }

    #[test]
    fn a_new_group_notifies_each_enabled_channel_and_only_the_first_is_accounted() {
        let p = plan(&Open::of([]), 10, "CA01");
        assert_eq!(p.delta.accepted, 1);
        assert_eq!(p.delta.muted, 0, "muted only counts for the primary route");
        let Step::Opened {
            notifications, key, ..
        } = &p.steps[0]
        else {
            panic!("{:?}", p.steps)
        };
        let channels: Vec<(&str, u64)> = notifications
            .iter()
            .map(|(n, c)| (n.channel.as_str(), *c))
            .collect();
        assert_eq!(
            channels,
            [("a", 1), ("b", 0)],
            "the disabled channel is skipped"
        );
        assert!(notifications
            .iter()
            .all(|(n, _)| &n.group_key == key && n.digest.is_none()));
        assert_eq!(
            p.steps[1],
            Step::Muted {
                route: "quiet".into()
            }
        );
    }

    #[test]
    fn an_open_group_counts_the_event() {
        let first = plan(&Open::of([]), 10, "CA01");
        let Step::Opened { key, .. } = &first.steps[0] else {
            panic!()
        };
        let p = plan(&Open::of([key.clone()]), 10, "CA01");
        assert_eq!(
            p.steps[0],
            Step::Counted {
                route: "voice".into(),
                key: key.clone(),
                primary: true,
                overflow: false
            }
        );
    }

    #[test]
    fn past_the_cap_new_groups_go_to_the_overflow_group() {
        let full = Open::of(["x".to_string(), "y".to_string()]);
        let p = plan(&full, 2, "CA01");
        let Step::Opened { key, overflow, .. } = &p.steps[0] else {
            panic!("{:?}", p.steps)
        };
        assert!(*overflow && key.ends_with("|overflow"), "{key}");
        let mut with_overflow = full.0.clone();
        with_overflow.insert(key.clone());
        let p = plan(&Open::of(with_overflow), 2, "CA02");
        assert!(matches!(&p.steps[0], Step::Counted { overflow: true, .. }));
    }

    fn silence(v: serde_json::Value) -> Silence {
        serde_json::from_value::<crate::silence::SilenceRequest>(v)
            .unwrap()
            .check(&["voice", "quiet"])
            .unwrap()
            .build("s1".into(), 0)
            .unwrap()
    }

    #[test]
    fn an_active_silence_holds_the_event_back_on_its_routes_only() {
        let r = router(ROUTES);
        let ev = event("CA01");
        let matches = r.routes_for(&RouteInput::from_event(&ev, None));
        let enabled: BTreeSet<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let silences = [silence(
            serde_json::json!({"error_codes": ["11200"], "routes": ["voice"], "for": "1h", "author": "ann"}),
        )];
        let input = PlanInput {
            enabled: &enabled,
            max_open_groups: 10,
            product: None,
            silences: &silences,
        };
        let p = plan_with(&ev, &matches, &input, &Open::of([]), 1_000);
        assert_eq!(
            p.steps[0],
            Step::Silenced {
                route: "voice".into(),
                silence: "s1".into()
            }
        );
        assert_eq!((p.delta.silenced, p.delta.muted), (1, 0));
        assert!(
            matches!(p.steps[1], Step::Muted { .. }),
            "a muted route stays muted"
        );
        // Once it ended, the event opens a group as before.
        let p = plan_with(&ev, &matches, &input, &Open::of([]), 3_600_000);
        assert!(matches!(p.steps[0], Step::Opened { .. }), "{:?}", p.steps);
        assert_eq!(p.delta.silenced, 0);
    }

    #[test]
    fn an_acknowledged_group_counts_its_events_as_silenced() {
        let first = plan(&Open::of([]), 10, "CA01");
        let Step::Opened { key, .. } = &first.steps[0] else {
            panic!()
        };
        let mut open = Open::of([key.clone()]);
        open.1.acknowledged = Some(crate::group::Acknowledged {
            by: "ann".into(),
            at_ms: 0,
        });
        let p = plan(&open, 10, "CA01");
        assert_eq!(
            p.steps[0],
            Step::Acknowledged {
                route: "voice".into(),
                key: key.clone(),
                primary: true
            }
        );
        assert_eq!(p.delta.silenced, 1);
    }

    #[test]
    fn no_route_is_unrouted() {
        let r = router(ROUTES);
        let ev = event_with("30003", "SM01");
        let matches = r.routes_for(&RouteInput::from_event(&ev, None));
        let enabled = BTreeSet::new();
        let input = PlanInput {
            enabled: &enabled,
            max_open_groups: 10,
            product: None,
            silences: &[],
        };
        let p = plan_with(&ev, &matches, &input, &Open::of([]), 0);
        assert_eq!((p.delta.accepted, p.delta.unrouted), (1, 1));
        assert!(p.steps.is_empty());
    }
}
