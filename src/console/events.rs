//! `/ui/events` (newest first, filters, keyset pagination, the per-minute chart when
//! filtered by code) and `/ui/events/{sid}` (parsed fields, escaped raw payload,
//! routes matched and why, every notification).

use super::html::{error_page, esc, respond, time, url_enc, Nav};
use super::{api, chart, query, ReadPool, ViewError};
use crate::control::Control;
use actix_web::{web, HttpRequest, HttpResponse};
use std::fmt::Write;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ui/events", web::get().to(list))
        .route("/ui/events/{sid}", web::get().to(detail));
}

async fn list(
    req: HttpRequest,
    ctl: web::Data<Control>,
    views: web::Data<ReadPool>,
) -> HttpResponse {
    match list_body(req.query_string(), &ctl, &views).await {
        Ok(b) => respond("Events", Nav::Events, &b),
        Err(e) => error_page(&e),
    }
}

async fn list_body(qs: &str, ctl: &Control, views: &ReadPool) -> Result<String, ViewError> {
    let now = query::now_ms();
    let q = query::parse(qs, now)?;
    let code = q.filter.code;
    let (filter, limit) = (q.filter.clone(), q.limit);
    let from = now - 24 * 3_600_000;
    let (page, series) = views
        .read(move |r| {
            let series = match code {
                Some(c) => r.per_minute(from, 1, Some(c))?,
                None => vec![],
            };
            Ok((r.events(&filter, limit)?, series))
        })
        .await?;
    let rt = ctl.shared.get();
    let value = |name: &str| {
        q.given
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| esc(v))
            .unwrap_or_default()
    };
    let mut b = String::new();
    let _ = write!(
        b,
        "<form method=\"get\" action=\"/ui/events\" id=\"filters\">\
         <label>code <input name=\"code\" size=\"6\" value=\"{}\"></label> \
         <label>resource <input name=\"resource\" size=\"36\" value=\"{}\"></label> \
         <label>level <select name=\"level\"><option value=\"\">any</option>",
        value("code"),
        value("resource")
    );
    let level = q.filter.level.clone().unwrap_or_default();
    for l in ["error", "warning", "info", "debug"] {
        let sel = if l == level { " selected" } else { "" };
        let _ = write!(b, "<option{sel}>{l}</option>");
    }
    b.push_str(
        "</select></label> <label>route <select name=\"route\"><option value=\"\">any</option>",
    );
    let route = q.filter.route.clone().unwrap_or_default();
    for r in rt.router.routes().iter().chain(rt.router.fallback()) {
        let sel = if r.name == route { " selected" } else { "" };
        let _ = write!(b, "<option{sel}>{}</option>", esc(&r.name));
    }
    let _ = write!(
        b,
        "</select></label> <label>since <input name=\"since\" size=\"8\" placeholder=\"1h\" value=\"{}\"></label> \
         <button type=\"submit\">Filter</button> <a href=\"/ui/events\">clear</a></form>",
        value("since")
    );
    if let Some(c) = code {
        let _ = write!(b, "<h2>Code {c}: events per minute, last 24 hours</h2>");
        b.push_str(&chart::svg(&series, from / 60_000, now / 60_000));
    }
    b.push_str("<table id=\"events\"><tr><th>received</th><th>event</th><th>level</th><th>code</th><th>resource</th><th>route</th></tr>");
    for e in &page.events {
        let code = e
            .error_code
            .map(|c| c.to_string())
            .unwrap_or_else(|| "-".into());
        let title = e
            .error_code
            .and_then(|c| rt.catalog.get(crate::event::ErrorCode(c)))
            .map(|c| format!(" title=\"{}\"", esc(&c.message)))
            .unwrap_or_default();
        let _ = write!(
            b,
            "<tr><td>{}</td><td><a href=\"/ui/events/{}\"><code>{}</code></a></td><td>{}</td><td{title}>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            time(Some(e.received_at_ms)),
            url_enc(&e.sid),
            esc(&e.sid),
            esc(e.level.as_deref().unwrap_or("-")),
            code,
            esc(e.resource_sid.as_deref().unwrap_or("-")),
            esc(e.route.as_deref().unwrap_or("(unrouted)")),
        );
    }
    b.push_str("</table>");
    if page.events.is_empty() {
        if page.next.is_some() {
            let _ = write!(b, "<p class=\"muted\">No event of this resource among these {} events; older ones may match.</p>", crate::store::RESOURCE_SCAN);
        } else {
            b.push_str("<p class=\"muted\">No events match.</p>");
        }
    }
    if let Some(next) = page.next {
        let mut link: Vec<(String, String)> = q
            .given
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect();
        if q.limit != query::DEFAULT_LIMIT {
            link.push(("limit".into(), q.limit.to_string()));
        }
        link.push(("before".into(), next.to_string()));
        let qs = serde_urlencoded::to_string(&link).unwrap_or_default();
        let _ = write!(
            b,
            "<p><a id=\"next\" href=\"/ui/events?{}\">Older events</a></p>",
            esc(&qs)
        );
    }
    Ok(b)
}

async fn detail(
    path: web::Path<String>,
    ctl: web::Data<Control>,
    views: web::Data<ReadPool>,
) -> HttpResponse {
    let sid = path.into_inner();
    match api::event_detail(sid.clone(), &ctl, &views).await {
        Ok(d) => respond(&format!("Event {sid}"), Nav::Events, &detail_body(&ctl, &d)),
        Err(e) => error_page(&e),
    }
}

fn detail_body(ctl: &Control, d: &api::EventDetail) -> String {
    let rt = ctl.shared.get();
    let mut b = String::from("<h2>Fields</h2><table id=\"fields\">");
    let mut row = |name: &str, value: &str| {
        let _ = write!(
            b,
            "<tr><th>{name}</th><td id=\"f-{}\">{}</td></tr>",
            name.replace(' ', "-"),
            esc(value)
        );
    };
    let s = &d.summary;
    row("sid", &s.sid);
    row("received", &time(Some(s.received_at_ms)));
    if let Some(ev) = &d.event {
        // Which path it came by: the Debugger webhook or Event Streams.
        row("source", ev.source.as_str());
        row("account", ev.account_sid.as_str());
        row("timestamp", ev.timestamp.as_deref().unwrap_or("-"));
        row("level", ev.level.as_str());
        let code = ev.error_code();
        let title = code
            .and_then(|c| rt.catalog.get(c))
            .map(|e| format!("{} — {}", e.code, e.message))
            .or_else(|| code.map(|c| format!("{c} (not in the catalog)")));
        row("error code", title.as_deref().unwrap_or("-"));
        row("resource", ev.resource_sid().unwrap_or("-"));
        row("service", ev.service_sid().unwrap_or("-"));
        match &ev.payload {
            crate::event::PayloadState::Parsed(p) => {
                if let Some(m) = &p.more_info {
                    row(
                        "more info",
                        &serde_json::to_string_pretty(m).unwrap_or_default(),
                    );
                }
                if let Some(w) = &p.webhook {
                    row(
                        "webhook",
                        &serde_json::to_string_pretty(w).unwrap_or_default(),
                    );
                }
            }
            crate::event::PayloadState::Unreadable { reason, .. } => {
                row("payload", &format!("unreadable: {reason}"));
            }
        }
    }
    row("first route", s.route.as_deref().unwrap_or("(unrouted)"));
    b.push_str("</table>");
    let _ = write!(
        b,
        "<h2>Routes matched (running configuration)</h2><table id=\"routes\"><tr><th>route</th><th>why</th><th>group key</th><th>channels</th></tr>"
    );
    for m in &d.routes {
        let channels: Vec<String> = m.channels.iter().map(|c| esc(&c.name)).collect();
        let _ = write!(
            b,
            "<tr><td>{} <span class=\"muted\">{}</span>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            esc(&m.route),
            esc(&m.at),
            if m.mute { " (muted)" } else { "" },
            esc(&m.reasons.join("; ")),
            esc(&m.group_key),
            if m.mute { "-".into() } else { channels.join(", ") },
        );
    }
    b.push_str("</table>");
    if d.routes.is_empty() {
        b.push_str("<p class=\"muted\">No route matches: recorded as unrouted.</p>");
    }
    b.push_str("<h2>Notifications</h2><table id=\"notifications\"><tr><th>id</th><th>channel</th><th>route</th><th>kind</th><th>state</th><th class=\"num\">attempts</th><th>last error</th><th>created</th><th>updated</th><th>next attempt</th></tr>");
    for n in &d.notifications {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"state-{}\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            n.id,
            esc(&n.channel),
            esc(&n.route),
            if n.is_digest { "digest" } else { "alert" },
            n.state,
            n.state,
            n.attempts,
            esc(n.last_error.as_deref().unwrap_or("-")),
            time(Some(n.created_at_ms)),
            time(Some(n.updated_at_ms)),
            if n.state == "pending" { time(Some(n.next_at_ms)) } else { "-".into() },
        );
    }
    b.push_str("</table>");
    if d.notifications.is_empty() {
        b.push_str("<p class=\"muted\">No notification was made for this event itself (muted, unrouted, or counted into a group's digest).</p>");
    }
    let raw = serde_json::to_string_pretty(&d.stored).unwrap_or_default();
    let _ = write!(
        b,
        "<h2>Stored event (raw)</h2><pre id=\"raw\">{}</pre><p><a href=\"/ui/route-tester?sid={}\">Test this event's routes</a></p>",
        esc(&raw),
        url_enc(&s.sid)
    );
    b
}
