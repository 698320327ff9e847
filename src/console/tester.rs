//! `/ui/route-tester`: paste a Debugger body (form-encoded or JSON, as Twilio sends
//! it) or pick a stored event, and see the routes it matches and each channel's
//! rendered message — the same dry run as `twilert route`. Nothing is sent.

use super::html::{error_page, esc, respond, Nav};
use super::session::{forbidden, Sessions};
use super::{ReadPool, ViewError};
use crate::cli::route::{plan, Form, MatchPlan};
use crate::control::Control;
use crate::event::DebuggerEvent;
use crate::render::Payload;
use actix_web::{web, HttpRequest, HttpResponse};
use std::fmt::Write;

/// Largest pasted body (the webhook's own default limit is larger; this is a form).
const MAX_BODY: usize = 256 * 1024;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ui/route-tester", web::get().to(form_page))
        .route("/ui/route-tester", web::post().to(run));
}

#[derive(serde::Deserialize, Default)]
struct Pick {
    sid: Option<String>,
}

#[derive(serde::Deserialize)]
struct TesterForm {
    csrf: Option<String>,
    body: Option<String>,
    sid: Option<String>,
}

async fn form_page(
    req: HttpRequest,
    views: web::Data<ReadPool>,
    sessions: web::Data<Sessions>,
    pick: Option<web::Query<Pick>>,
) -> HttpResponse {
    let sid = pick.and_then(|p| p.into_inner().sid).unwrap_or_default();
    match form_html(&req, &views, &sessions, "", &sid).await {
        Ok(b) => respond("Route tester", Nav::RouteTester, &b),
        Err(e) => error_page(&e),
    }
}

async fn form_html(
    req: &HttpRequest,
    views: &ReadPool,
    sessions: &Sessions,
    body: &str,
    picked: &str,
) -> Result<String, ViewError> {
    let recent = views
        .read(|r| r.events(&Default::default(), 20))
        .await?
        .events;
    let mut b = String::new();
    let _ = write!(
        b,
        "<p>Which routes an event matches and the message each channel would get. Nothing is sent.</p>\
         <form method=\"post\" action=\"/ui/route-tester\" id=\"tester\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <fieldset><legend>Paste a Debugger body (form-encoded as Twilio posts it, or JSON)</legend>\
         <textarea name=\"body\" id=\"body\" rows=\"8\" cols=\"100\">{}</textarea></fieldset>\
         <fieldset><legend>…or pick a stored event</legend><select name=\"sid\" id=\"sid\"><option value=\"\">(use the pasted body)</option>",
        sessions.csrf(req.headers()),
        esc(body)
    );
    for e in &recent {
        let sel = if e.sid == picked { " selected" } else { "" };
        let _ = write!(
            b,
            "<option value=\"{}\"{sel}>{} {} {}</option>",
            esc(&e.sid),
            esc(&e.sid),
            e.error_code.map(|c| c.to_string()).unwrap_or_default(),
            esc(e.resource_sid.as_deref().unwrap_or(""))
        );
    }
    if !picked.is_empty() && !recent.iter().any(|e| e.sid == picked) {
        let _ = write!(
            b,
            "<option value=\"{0}\" selected>{0}</option>",
            esc(picked)
        );
    }
    b.push_str(
        "</select></fieldset><button type=\"submit\" id=\"test\">Test routes</button></form>",
    );
    Ok(b)
}

async fn run(
    req: HttpRequest,
    ctl: web::Data<Control>,
    views: web::Data<ReadPool>,
    sessions: web::Data<Sessions>,
    form: Result<web::Form<TesterForm>, actix_web::Error>,
) -> HttpResponse {
    let Ok(form) = form else {
        return forbidden();
    };
    if !sessions.csrf_ok(req.headers(), form.csrf.as_deref()) {
        return forbidden();
    }
    let body = form.body.clone().unwrap_or_default();
    let sid = form.sid.clone().unwrap_or_default();
    let result = async {
        let ev = event_of(&views, &body, &sid).await?;
        let plans = plan(&ctl.shared.get(), &ev, None, Form::Alert);
        let mut b = form_html(&req, &views, &sessions, &body, &sid).await?;
        b.push_str(&result_html(&ev, &plans));
        Ok::<_, ViewError>(b)
    }
    .await;
    match result {
        Ok(b) => respond("Route tester", Nav::RouteTester, &b),
        Err(e @ ViewError::Field { .. }) => {
            let mut b = form_html(&req, &views, &sessions, &body, &sid)
                .await
                .unwrap_or_default();
            let _ = write!(
                b,
                "<p class=\"error\" id=\"error\">{}</p>",
                esc(&e.to_string())
            );
            HttpResponse::BadRequest()
                .content_type("text/html; charset=utf-8")
                .insert_header(("Content-Security-Policy", super::html::csp()))
                .body(super::html::page("Route tester", Nav::RouteTester, &b))
        }
        Err(e) => error_page(&e),
    }
}

async fn event_of(views: &ReadPool, body: &str, sid: &str) -> Result<DebuggerEvent, ViewError> {
    let sid = sid.trim();
    if !sid.is_empty() {
        let s = sid.to_string();
        let found = views.read(move |r| r.event(&s)).await?;
        let (_, stored) = found
            .ok_or_else(|| ViewError::field("sid", format!("no stored event with Sid {sid}")))?;
        return serde_json::from_str(&stored)
            .map_err(|e| ViewError::field("sid", format!("the stored event cannot be read: {e}")));
    }
    if body.len() > MAX_BODY {
        return Err(ViewError::field(
            "body",
            format!("longer than {MAX_BODY} bytes"),
        ));
    }
    crate::cli::event_file::parse(body.as_bytes(), super::query::now_ms())
        .map_err(|e| ViewError::field("body", e))
}

fn result_html(ev: &DebuggerEvent, plans: &[MatchPlan]) -> String {
    let mut b = format!(
        "<h2>Result for <code>{}</code> (code {}, resource {})</h2>",
        esc(ev.sid.as_str()),
        ev.error_code()
            .map(|c| c.to_string())
            .unwrap_or_else(|| "-".into()),
        esc(ev.resource_sid().unwrap_or("-"))
    );
    if plans.is_empty() {
        b.push_str("<p id=\"unrouted\">No route matches and <code>[defaults].channels</code> is empty: the event would be recorded as unrouted.</p>");
    }
    b.push_str("<div id=\"result\">");
    for m in plans {
        let _ =
            write!(
            b,
            "<h3 class=\"route\">route {} <span class=\"muted\">{}</span></h3><p>matched: {}{}</p>",
            esc(&m.route),
            esc(&m.at),
            esc(&m.reasons.join("; ")),
            if m.continue_ { " · continue: later routes are evaluated too" } else { "" }
        );
        if m.mute {
            b.push_str("<p>muted: recorded and counted, never sent.</p>");
            continue;
        }
        let _ = write!(
            b,
            "<p>group key <code>{}</code>, window {}</p>",
            esc(&m.group_key),
            humantime::format_duration(m.window)
        );
        for c in &m.channels {
            let _ = write!(
                b,
                "<h4>→ {} ({}{})</h4>",
                esc(&c.name),
                esc(&c.kind),
                if c.enabled {
                    ""
                } else {
                    ", disabled: nothing would be sent"
                }
            );
            let Some(r) = &c.rendered else { continue };
            if let Some(err) = &r.fallback {
                let _ = write!(b, "<p class=\"warn\">template failed: {}; the built-in plain message below is what would be sent</p>", esc(err));
            }
            if r.truncated {
                b.push_str("<p class=\"muted\">some text was cut to fit the provider's limits</p>");
            }
            let text = match &r.payload {
                Payload::Json(v) => serde_json::to_string_pretty(v).unwrap_or_default(),
                Payload::Email {
                    subject,
                    text,
                    html,
                } => {
                    format!("Subject: {subject}\n\n--- text/plain ---\n{text}\n--- text/html ---\n{html}")
                }
                Payload::Text(t) => t.clone(),
            };
            let _ = write!(
                b,
                "<pre class=\"payload\" data-channel=\"{}\">{}</pre>",
                esc(&c.name),
                esc(&text)
            );
        }
    }
    b.push_str("</div><p class=\"muted\">Dry run: nothing was sent.</p>");
    b
}
