//! `twilert route EVENT_FILE [--channel NAME]`: the dry run. Decodes the event as the
//! service does, shows which routes match and why, the group key, and each channel's
//! rendered payload. Nothing is sent and the store is not touched.

use super::event_file;
use crate::event::{DebuggerEvent, PayloadState};
use crate::notification::Notification;
use crate::render::{Payload, Rendered};
use crate::route::{group_key, RouteInput, RouteMatch};
use crate::runtime::Runtime;
use std::path::Path;
use std::process::ExitCode;

/// Which form of the notification to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// The first alert of a group.
    Alert,
    /// The group's digest after this many events.
    Digest(u64),
    /// The notice that the group resolved.
    Resolved,
}

pub fn run(config: &Path, event_file: &Path, only: Option<&str>, form: Form) -> ExitCode {
    let Some(rt) = super::runtime(config) else {
        return ExitCode::from(1);
    };
    if let Some(name) = only {
        if !rt.settings.channels.contains_key(name) {
            eprintln!(
                "error: --channel {name:?}: no such channel; defined channels: {}",
                channel_names(&rt)
            );
            return ExitCode::from(1);
        }
    }
    let ev = match event_file::read(event_file) {
        Ok(ev) => ev,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let product = crate::product::of_event(&rt.catalog, &ev);
    describe_event(&rt, &ev, product);
    let plans = plan(&rt, &ev, only, form);
    if plans.is_empty() {
        out!("\nno route matches and [defaults].channels is empty: the event would be recorded as unrouted (twilert_events_outcome{{outcome=\"unrouted\"}})");
    }
    let mut shown = false;
    for m in &plans {
        shown |= describe_match(m, only);
    }
    if let Some(name) = only.filter(|_| !shown) {
        out!("\nchannel {name:?} is on no matched route: nothing would be sent to it. Preview:");
        let first = rt.router.explain(&RouteInput::from_event(&ev, product));
        let n = notification(&ev, name, first.first(), product, form);
        show_payload(&rt, name, &n);
    }
    out!("\ndry run: nothing was sent");
    ExitCode::SUCCESS
}

fn channel_names(rt: &Runtime) -> String {
    if rt.settings.channels.is_empty() {
        return "none".into();
    }
    let names: Vec<String> = rt
        .settings
        .channels
        .keys()
        .map(|k| format!("{k:?}"))
        .collect();
    names.join(", ")
}

fn describe_event(rt: &Runtime, ev: &DebuggerEvent, product: Option<&str>) {
    out!("event {}", ev.sid);
    out!("  account      {}", ev.account_sid);
    out!("  source       {}", ev.source.as_str());
    out!("  level        {}", ev.level.as_str());
    match ev.error_code() {
        Some(code) => {
            let title = rt
                .catalog
                .get(code)
                .map(|e| format!(" {}", e.message))
                .unwrap_or_else(|| " (not in the catalog)".into());
            out!("  error code   {code}{title}");
        }
        None => out!("  error code   -"),
    }
    out!("  product      {}", product.unwrap_or("-"));
    out!("  resource     {}", ev.resource_sid().unwrap_or("-"));
    out!("  service      {}", ev.service_sid().unwrap_or("-"));
    if let PayloadState::Unreadable { reason, .. } = &ev.payload {
        out!("  payload      unreadable: {reason} (the alert still goes out)");
    }
}

/// What a dry run finds for one matched route: shared by `twilert route` and the
/// console's route tester, so both say the same.
#[derive(Debug, Clone)]
pub struct MatchPlan {
    pub route: String,
    /// `routes[i]` or `[defaults]`.
    pub at: String,
    pub reasons: Vec<String>,
    pub continue_: bool,
    pub mute: bool,
    pub group_key: String,
    pub window: std::time::Duration,
    /// `threshold`: (count, within).
    pub threshold: Option<(u32, std::time::Duration)>,
    pub template: Option<String>,
    pub channels: Vec<ChannelPlan>,
}

/// One channel of a matched route and the message it would get.
#[derive(Debug, Clone)]
pub struct ChannelPlan {
    pub name: String,
    pub kind: String,
    pub enabled: bool,
    pub rendered: Option<Rendered>,
}

/// Every route `ev` matches, why, and (for channels passing `only`) the rendered
/// payloads. Nothing is sent.
pub fn plan(rt: &Runtime, ev: &DebuggerEvent, only: Option<&str>, form: Form) -> Vec<MatchPlan> {
    let product = crate::product::of_event(&rt.catalog, ev);
    rt.router
        .explain(&RouteInput::from_event(ev, product))
        .iter()
        .map(|m| plan_match(rt, ev, product, m, only, form))
        .collect()
}

fn plan_match(
    rt: &Runtime,
    ev: &DebuggerEvent,
    product: Option<&str>,
    m: &RouteMatch,
    only: Option<&str>,
    form: Form,
) -> MatchPlan {
    let route = &m.route;
    let channels = if route.mute {
        vec![]
    } else {
        route
            .channels
            .iter()
            .map(|ch| {
                let wanted = only.is_none_or(|o| o == ch.as_str());
                let n = notification(ev, ch, Some(m), product, form);
                ChannelPlan {
                    name: ch.clone(),
                    kind: rt
                        .settings
                        .channels
                        .get(ch)
                        .map(|c| c.inner().render_kind().to_string())
                        .unwrap_or_default(),
                    enabled: rt.enabled.contains(ch),
                    rendered: wanted.then(|| render(rt, ch, &n)).flatten(),
                }
            })
            .collect()
    };
    MatchPlan {
        route: route.name.clone(),
        at: match route.index {
            Some(i) => format!("routes[{i}]"),
            None => "[defaults]".into(),
        },
        reasons: m.reasons.clone(),
        continue_: route.continue_,
        mute: route.mute,
        group_key: group_key(route, ev, product),
        window: route.window,
        threshold: route.threshold,
        template: route.template.clone(),
        channels,
    }
}

/// Prints one matched route and its channels' payloads; true if `only` was among them.
fn describe_match(m: &MatchPlan, only: Option<&str>) -> bool {
    out!("\nroute {:?} ({})", m.route, m.at);
    out!("  matched      {}", m.reasons.join("; "));
    if m.continue_ {
        out!("  continue     yes: later routes are evaluated too");
    }
    if m.mute {
        out!("  muted        recorded and counted (twilert_events_muted_total), never sent");
        return false;
    }
    out!("  group key    {}", m.group_key);
    out!(
        "  window       {}: the first event of a group is sent at once; more in the window are counted into one digest",
        humantime::format_duration(m.window)
    );
    if let Some((count, within)) = m.threshold {
        out!(
            "  threshold    {count} events within {}: nothing is sent until a group has that many",
            humantime::format_duration(within)
        );
    }
    if let Some(t) = &m.template {
        out!("  template     {t}");
    }
    let channels: Vec<String> = m
        .channels
        .iter()
        .map(|c| {
            if c.enabled {
                c.name.clone()
            } else {
                format!("{} (disabled: nothing sent there)", c.name)
            }
        })
        .collect();
    out!("  channels     {}", channels.join(", "));
    if !m.channels.iter().any(|c| c.enabled) {
        out!("  (no enabled channel: the event would be recorded as unrouted)");
    }
    let mut shown = false;
    for ch in m
        .channels
        .iter()
        .filter(|c| only.is_none_or(|o| o == c.name.as_str()))
    {
        shown = true;
        if let Some(r) = &ch.rendered {
            print_payload(&m.route, ch, r);
        }
    }
    shown
}

fn notification(
    ev: &DebuggerEvent,
    channel: &str,
    m: Option<&RouteMatch>,
    product: Option<&str>,
    form: Form,
) -> Notification {
    let route = m.map(|m| &m.route);
    let t = ev.received_at_ms;
    Notification {
        channel: channel.into(),
        route: route.map_or_else(|| "(none)".into(), |r| r.name.clone()),
        group_key: route.map_or_else(String::new, |r| group_key(r, ev, product)),
        template: route.and_then(|r| r.template.clone()),
        mention: route.and_then(|r| r.mention.clone()),
        event: ev.clone().into(),
        digest: match form {
            Form::Digest(n) => Some(crate::notification::Digest {
                count: n,
                total: n,
                first_seen_ms: t,
                last_seen_ms: t,
                resources: ev.resource_sid().map(str::to_string).into_iter().collect(),
                resources_total: u64::from(ev.resource_sid().is_some()),
                sample_sids: vec![ev.sid.to_string()],
                group_total: n,
            }),
            _ => None,
        },
        threshold: None,
        resolved: (form == Form::Resolved).then_some(crate::notification::ResolvedNote {
            quiet_since_ms: t,
            events: 1,
            group_total: 0,
        }),
        silence: None,
        parent: None,
    }
}

fn show_payload(rt: &Runtime, channel: &str, n: &Notification) {
    let Some(r) = render(rt, channel, n) else {
        return;
    };
    let ch = ChannelPlan {
        name: channel.into(),
        kind: rt
            .settings
            .channels
            .get(channel)
            .map(|c| c.inner().render_kind().to_string())
            .unwrap_or_default(),
        enabled: rt.enabled.contains(channel),
        rendered: None,
    };
    print_payload(&n.route, &ch, &r);
}

fn print_payload(route: &str, ch: &ChannelPlan, r: &Rendered) {
    let state = if ch.enabled { "" } else { ", disabled" };
    out!("\n--- {route} → {} ({}{state}) ---", ch.name, ch.kind);
    print_rendered(r);
}

/// A channel's rendered payload for `n` (None: no such channel).
fn render(rt: &Runtime, channel: &str, n: &Notification) -> Option<Rendered> {
    let ch = rt.settings.channels.get(channel)?;
    let kind = ch.inner().render_kind();
    let entry = n.event.error_code().and_then(|c| rt.catalog.get(c));
    Some(rt.renderer.render(kind, n, entry))
}

/// A rendered payload as it would be sent (JSON pretty-printed), with notes on
/// template failures and truncation.
pub(super) fn print_rendered(r: &Rendered) {
    if let Some(err) = &r.fallback {
        out!("(template failed: {err}; the built-in plain message below is what would be sent)");
    }
    if r.truncated {
        out!("(some text was cut to fit the provider's limits)");
    }
    match &r.payload {
        Payload::Json(v) => {
            out!("{}", serde_json::to_string_pretty(v).unwrap_or_default())
        }
        Payload::Email {
            subject,
            text,
            html,
        } => {
            out!("Subject: {subject}\n\n--- text/plain ---\n{text}\n--- text/html ---\n{html}");
        }
        Payload::Text(t) => out!("{}", t.trim_end()),
    }
}
