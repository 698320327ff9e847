//! Console pages: overview, open groups, dead letters (with their retry forms).
//! Events and an event's page are in [`super::events`].

use super::html::{error_page, esc, respond, time, url_enc, Nav, REFRESH_SCRIPT};
use super::session::{forbidden, Sessions};
use super::{api, chart, health, query, ReadPool, ViewError};
use crate::control::Control;
use actix_web::{web, HttpRequest, HttpResponse};
use std::fmt::Write;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ui", web::get().to(to_overview))
        .route("/ui/", web::get().to(overview))
        .route("/ui/groups", web::get().to(groups))
        .route("/ui/dead-letters", web::get().to(dead_letters))
        .route("/ui/dead-letters/retry", web::post().to(retry));
    super::events::routes(cfg);
}

async fn to_overview() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", "/ui/"))
        .finish()
}

fn html(r: Result<(String, Nav, String), ViewError>) -> HttpResponse {
    match r {
        Ok((title, nav, body)) => respond(&title, nav, &body),
        Err(e) => error_page(&e),
    }
}

async fn overview(ctl: web::Data<Control>, views: web::Data<ReadPool>) -> HttpResponse {
    html(
        overview_body(&ctl, &views)
            .await
            .map(|b| ("Overview".into(), Nav::Overview, b)),
    )
}

async fn overview_body(ctl: &Control, views: &ReadPool) -> Result<String, ViewError> {
    let a = health::accounting(ctl).await?;
    let channels = health::channels(ctl, views).await?;
    let now = query::now_ms();
    let from = now - 24 * 3_600_000;
    let series = views.read(move |r| r.per_minute(from, 5, None)).await?;
    let size = views.read(|r| r.size_bytes()).await?;
    let mut b = String::new();
    // One line that adds up: accepted = notified + digested + ... + pending.
    b.push_str("<h2>Accepted events, accounted for</h2><table id=\"accounting\"><tr><th class=\"num\">accepted</th><th></th>");
    let terms = a.terms();
    for (i, (name, _)) in terms.iter().enumerate() {
        if i > 0 {
            b.push_str("<th></th>");
        }
        let _ = write!(b, "<th class=\"num\">{name}</th>");
    }
    let _ = write!(b, "<th></th><th class=\"num\">sum</th></tr><tr class=\"sum\"><td class=\"num\" id=\"acc-accepted\">{}</td><td>=</td>", a.accepted);
    for (i, (name, v)) in terms.iter().enumerate() {
        if i > 0 {
            b.push_str("<td>+</td>");
        }
        let _ = write!(b, "<td class=\"num\" id=\"acc-{name}\">{v}</td>");
    }
    let verdict = if a.balanced {
        "<span class=\"ok\">the terms add up to the accepted count: nothing lost</span>".to_string()
    } else {
        "<span class=\"bad\">the terms do not add up to the accepted count: check the logs</span>"
            .to_string()
    };
    let _ = write!(
        b,
        "<td>=</td><td class=\"num\" id=\"acc-sum\">{}</td></tr></table>\
         <p>{verdict}. <span class=\"muted\">Plus {} duplicate deliveries by Twilio (stored once, not notified again); {} open groups.</span></p>",
        a.accounted, a.duplicates, a.open_groups
    );
    b.push_str("<h2>Events per minute, last 24 hours (top codes)</h2>");
    b.push_str(&chart::svg(&series, from / 60_000, now / 60_000));
    b.push_str("<h2>Channels</h2><table id=\"channels\"><tr><th>channel</th><th>kind</th><th>health</th><th class=\"num\">backlog</th><th>next due</th></tr>");
    for c in &channels {
        let state = match c.state {
            "ok" => "<span class=\"ok\">ok</span>".to_string(),
            "paused" => format!(
                "<span class=\"warn\">paused until {}</span> ({})",
                time(c.paused_until_ms),
                if c.paused_by == Some("retry_after") {
                    "the provider asked to wait: Retry-After"
                } else {
                    "retry backoff"
                }
            ),
            "broken" => format!(
                "<span class=\"bad\">broken: {}</span>",
                esc(c.reason.as_deref().unwrap_or("see the logs"))
            ),
            _ => "<span class=\"muted\">disabled (secrets not set)</span>".to_string(),
        };
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{state}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            esc(&c.name),
            esc(&c.kind),
            c.backlog.pending,
            time(c.backlog.next_due_ms)
        );
    }
    b.push_str("</table>");
    let metrics = ctl.metrics.render();
    let reload_ok = health::gauge(&metrics, "twilert_config_reload_success").unwrap_or(0.0) > 0.0;
    let reload_at = health::gauge(&metrics, "twilert_config_reload_timestamp_seconds")
        .map(|s| (s * 1000.0) as i64);
    let _ = write!(
        b,
        "<h2>Service</h2><table><tr><td>store size</td><td id=\"store-size\">{}</td></tr>\
         <tr><td>replicas seen</td><td id=\"replicas\">{}</td></tr>\
         <tr><td>configuration</td><td>{}</td></tr></table>",
        store_size(size),
        replicas_seen(&ctl.replicas()),
        if reload_ok {
            format!("<span class=\"ok\">loaded</span> at {}", time(reload_at))
        } else {
            "<span class=\"bad\">the last reload was rejected; the previous configuration runs (see the logs)</span>".into()
        }
    );
    let _ = write!(b, "<script>{REFRESH_SCRIPT}</script>");
    Ok(b)
}

/// Each replica on the store with when it was last heard from; this one and any
/// running different routes or channels marked.
fn replicas_seen(r: &crate::control::Replicas) -> String {
    if r.seen.is_empty() {
        return "this one".into();
    }
    let mut out = format!("{}: ", r.seen.len());
    for (i, seen) in r.seen.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(
            out,
            "{} (v{}, seen {})",
            esc(&seen.id),
            esc(&seen.version),
            time(Some(seen.seen_at_ms))
        );
        if seen.id == r.me {
            out.push_str(" <b>this one</b>");
        }
        if r.mismatched.contains(&seen.id) {
            out.push_str(" <span class=\"bad\">runs different routes/channels</span>");
        }
    }
    out
}

fn store_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b => format!("{:.1} KiB", b as f64 / 1024.0),
    }
}

async fn groups(
    req: HttpRequest,
    views: web::Data<ReadPool>,
    sessions: web::Data<Sessions>,
    q: Result<web::Query<api::GroupQuery>, actix_web::Error>,
) -> HttpResponse {
    let csrf = sessions.csrf(req.headers());
    let body = async {
        let q = q.map_err(|e| ViewError::field("query", e.to_string()))?.into_inner();
        let (rows, next) = api::read_groups(&views, q).await?;
        let mut b = String::from("<p>Groups with a window open: their first event was sent; more in the window are counted into the next digest. \
            Silence one (its events are held back and counted as silenced) or acknowledge it (no more digests until it closes or resolves).</p>\
            <table id=\"groups\"><tr><th>route</th><th>key</th><th class=\"num\">count</th><th>first seen</th><th>last seen</th><th>next digest</th><th></th></tr>");
        for (i, (key, g)) in rows.iter().enumerate() {
            let seen = |ms: i64| if g.count > 0 { time(Some(ms)) } else { "-".into() };
            let act = match &g.acknowledged {
                Some(a) => format!("<span class=\"muted\">acknowledged by {} at {}</span>", esc(&a.by), time(Some(a.at_ms))),
                None => format!(
                    "<form class=\"inline\" method=\"post\" action=\"/ui/groups/acknowledge\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                     <input type=\"hidden\" name=\"key\" value=\"{}\"><input name=\"author\" id=\"ack-author-{i}\" placeholder=\"your name\" required size=\"10\">\
                     <button type=\"submit\" id=\"ack-{i}\">Acknowledge</button></form>",
                    esc(key)
                ),
            };
            let _ = write!(
                b,
                "<tr><td>{}</td><td><code>{}</code></td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td><a id=\"silence-{i}\" href=\"{}\">Silence</a> {act}</td></tr>",
                esc(&g.route),
                esc(key),
                g.count,
                seen(g.first_seen_ms),
                seen(g.last_seen_ms),
                time(Some(g.window_end_ms)),
                esc(&super::silences::silence_link(key)),
            );
        }
        b.push_str("</table>");
        if rows.is_empty() {
            b.push_str("<p class=\"muted\">No open groups.</p>");
        }
        if let Some(n) = next {
            let _ = write!(b, "<p><a id=\"next\" href=\"/ui/groups?after={}\">Next page</a></p>", url_enc(&n));
        }
        Ok(b)
    }
    .await;
    html(body.map(|b| ("Open groups".into(), Nav::Groups, b)))
}

async fn dead_letters(
    req: HttpRequest,
    views: web::Data<ReadPool>,
    sessions: web::Data<Sessions>,
    q: Result<web::Query<api::DeadQuery>, actix_web::Error>,
) -> HttpResponse {
    let csrf = sessions.csrf(req.headers());
    let body = async {
        let (rows, next, total) = api::read_dead_letters(&views, q).await?;
        let mut b = String::from("<p>Notifications that could not be delivered. Fix the channel (and reload), then retry.</p>");
        if rows.is_empty() {
            b.push_str("<p class=\"muted\" id=\"none\">No dead letters.</p>");
            return Ok(b);
        }
        let _ = write!(
            b,
            "<form method=\"post\" action=\"/ui/dead-letters/retry\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <input type=\"hidden\" name=\"all\" value=\"true\"><button type=\"submit\" id=\"retry-all\">Retry all {}</button></form>\
             <table id=\"dead-letters\"><tr><th>id</th><th>channel</th><th>route</th><th>event</th><th class=\"num\">attempts</th><th>reason</th><th>since</th><th></th></tr>",
            total
        );
        for d in &rows {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><a href=\"/ui/events/{}\"><code>{}</code></a>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td>\
                 <td><form class=\"inline\" method=\"post\" action=\"/ui/dead-letters/retry\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <input type=\"hidden\" name=\"id\" value=\"{}\"><button type=\"submit\" id=\"retry-{}\">Retry</button></form></td></tr>",
                d.id,
                esc(&d.channel),
                esc(&d.route),
                url_enc(&d.event_sid),
                esc(&d.event_sid),
                if d.is_digest { " (digest)" } else { "" },
                d.attempts,
                esc(&d.last_error),
                time(Some(d.updated_at_ms)),
                d.id,
                d.id
            );
        }
        b.push_str("</table>");
        if let Some(after) = next {
            let _ = write!(
                b,
                "<p><a id=\"next\" href=\"/ui/dead-letters?after={after}\">Next page</a></p>"
            );
        }
        Ok(b)
    }
    .await;
    html(body.map(|b| ("Dead letters".into(), Nav::DeadLetters, b)))
}

#[derive(serde::Deserialize)]
struct RetryForm {
    csrf: Option<String>,
    id: Option<i64>,
    all: Option<String>,
}

/// Retry one (`id`) or all (`all=true`) dead letters, then back to the list.
async fn retry(
    req: HttpRequest,
    ctl: web::Data<Control>,
    sessions: web::Data<Sessions>,
    form: Result<web::Form<RetryForm>, actix_web::Error>,
) -> HttpResponse {
    let Ok(form) = form else {
        return forbidden();
    };
    if !sessions.csrf_ok(req.headers(), form.csrf.as_deref()) {
        return forbidden();
    }
    let id = match (form.id, form.all.as_deref()) {
        (Some(id), None) => Some(id),
        (None, Some("true")) => None,
        _ => {
            return error_page(&ViewError::field(
                "id",
                "give either a dead letter id or all=true",
            ))
        }
    };
    match ctl.dispatcher.retry_dead(id).await {
        Ok(n) => {
            tracing::info!(requeued = n, "dead letters retried from the console");
            HttpResponse::SeeOther()
                .insert_header(("Location", "/ui/dead-letters"))
                .finish()
        }
        Err(e) => error_page(&ViewError::Store(e.to_string())),
    }
}
