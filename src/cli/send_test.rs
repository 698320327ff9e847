//! `twilert send-test CHANNEL [--event FILE]`: sends a sample alert (or the given
//! event) through one channel for real, exactly as a delivery worker would (same
//! sender, templates and timeout), and reports the provider's classified answer.
//! No store, no retries, no rate limit: one attempt. Exit 0 only on success.

use super::event_file;
use crate::config::ChannelSettings;
use crate::deliver::{Delivery, Sender};
use crate::event::DebuggerEvent;
use crate::notification::Notification;
use crate::render::sample_notifications;
use crate::route::{group_key, RouteInput};
use crate::runtime::Runtime;
use std::path::Path;
use std::process::ExitCode;

pub fn run(config: &Path, channel: &str, event: Option<&Path>) -> ExitCode {
    let Some(rt) = super::runtime(config) else {
        return ExitCode::from(1);
    };
    let Some(ch) = rt.settings.channels.get(channel) else {
        let names: Vec<String> = rt
            .settings
            .channels
            .keys()
            .map(|k| format!("{k:?}"))
            .collect();
        eprintln!(
            "error: no channel {channel:?}; defined channels: {}",
            if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            }
        );
        return ExitCode::from(1);
    };
    if !rt.enabled.contains(channel) {
        eprintln!(
            "error: channels.{channel} is disabled: its {} is empty (set the variable it references, then try again)",
            ch.inner().switch_key().unwrap_or("secret")
        );
        return ExitCode::from(1);
    }
    let n = match event {
        Some(path) => match event_file::read(path) {
            Ok(ev) => notification(&rt, channel, ev),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        },
        None => match sample_notifications().into_iter().next() {
            Some((_, sample)) => notification(&rt, channel, DebuggerEvent::clone(&sample.event)),
            None => {
                eprintln!("error: no sample event available");
                return ExitCode::from(1);
            }
        },
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    out!(
        "sending event {} (error code {}) through channels.{channel} ({}) as route {:?}",
        n.event.sid,
        n.event
            .error_code()
            .map_or_else(|| "-".to_string(), |c| c.to_string()),
        ch.kind(),
        n.route
    );
    let delivery = runtime.block_on(send(&rt, channel, ch, &n));
    report(channel, ch, delivery)
}

/// The notification a worker would send for `ev` on `channel`: with the template,
/// mention and group key of the first matching route that lists the channel, else
/// as route `send-test` with the default template.
fn notification(rt: &Runtime, channel: &str, ev: DebuggerEvent) -> Notification {
    let product = crate::product::of_event(&rt.catalog, &ev);
    let matches = rt.router.routes_for(&RouteInput::from_event(&ev, product));
    let route = matches
        .iter()
        .map(|m| &m.route)
        .find(|r| !r.mute && r.channels.iter().any(|c| c == channel));
    Notification {
        channel: channel.into(),
        route: route.map_or_else(|| "send-test".into(), |r| r.name.clone()),
        group_key: route.map_or_else(
            || format!("send-test|{}", ev.sid),
            |r| group_key(r, &ev, product),
        ),
        template: route.and_then(|r| r.template.clone()),
        mention: route.and_then(|r| r.mention.clone()),
        event: ev.into(),
        digest: None,
        threshold: None,
        resolved: None,
        silence: None,
        parent: None,
    }
}

/// One attempt through the channel's sender; its answer comes back scrubbed of
/// the channel's secrets (`Sender::send`).
async fn send(rt: &Runtime, name: &str, ch: &ChannelSettings, n: &Notification) -> Delivery {
    let timeout = rt.settings.delivery.timeout.0;
    let http = match reqwest::Client::builder()
        .user_agent(concat!("twilert/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .build()
    {
        Ok(h) => h,
        Err(e) => return Delivery::permanent(format!("building the HTTP client: {e}")),
    };
    let sender = match Sender::build(name, ch, &http) {
        Ok(s) => s,
        Err(reason) => return Delivery::permanent(reason),
    };
    let kind = sender.kind();
    let entry = n.event.error_code().and_then(|c| rt.catalog.get(c));
    let rendered = rt.renderer.render(kind, n, entry);
    if let Some(err) = &rendered.fallback {
        out!("template failed ({err}); sending the built-in plain message instead");
    }
    let plain = rt.renderer.plain_payload(kind, n, entry);
    match tokio::time::timeout(timeout, sender.send(n, &rendered, &plain, None, None)).await {
        Ok(delivery) => delivery,
        Err(_) => Delivery::retry(format!(
            "timed out after {}s (delivery.timeout)",
            timeout.as_secs_f32()
        )),
    }
}

fn report(channel: &str, ch: &ChannelSettings, delivery: Delivery) -> ExitCode {
    let permanent = |reason: &str| {
        eprintln!("channels.{channel}: rejected, permanent failure: {reason}");
    };
    match delivery {
        Delivery::Sent { .. } => {
            out!("channels.{channel}: accepted by the provider");
            ExitCode::SUCCESS
        }
        Delivery::Retry { reason, after } => {
            let after = after
                .map(|d| format!(" (Retry-After: {})", humantime::format_duration(d)))
                .unwrap_or_default();
            eprintln!(
                "channels.{channel}: not delivered, temporary failure (the service would retry): {reason}{after}"
            );
            ExitCode::from(1)
        }
        Delivery::Permanent { reason } => {
            permanent(&reason);
            ExitCode::from(1)
        }
        Delivery::Broken { reason } => {
            permanent(&reason);
            eprintln!(
                "channels.{channel}: the {} no longer works (revoked, or the channel is gone); replace it",
                ch.inner().switch_key().unwrap_or("channel")
            );
            ExitCode::from(1)
        }
    }
}
