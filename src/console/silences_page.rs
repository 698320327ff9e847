//! The console's Silences page (`/ui/silences`: list, create with a live count of
//! what it would match, expire) and the Groups page's acknowledge form. Forms carry
//! the CSRF token; the page works without JavaScript (its Preview button), and with
//! it the count follows the form as it is typed.

use super::html::{error_page, esc, page, time, url_enc, Nav, SILENCE_SCRIPT};
use super::session::{forbidden, Sessions};
use super::silences::{
    acknowledge, by_of, check, engine_error, known_routes, matching, view_error,
};
use super::{ReadPool, ViewError};
use crate::control::Control;
use crate::silence::{Silence, SilenceEnd, SilenceRequest};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use std::fmt::Write;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ui/silences", web::get().to(page_list))
        .route("/ui/silences", web::post().to(page_create))
        .route("/ui/silences/preview", web::get().to(page_preview))
        .route("/ui/silences/expire", web::post().to(page_expire))
        .route("/ui/groups/acknowledge", web::post().to(page_acknowledge));
}

/// The create form's fields (lists comma- or space-separated).
#[derive(serde::Deserialize, Default, Clone)]
struct SilenceForm {
    csrf: Option<String>,
    error_codes: Option<String>,
    resource_sids: Option<String>,
    service_sids: Option<String>,
    account_sids: Option<String>,
    levels: Option<String>,
    products: Option<String>,
    routes: Option<String>,
    #[serde(rename = "for")]
    for_: Option<String>,
    until_quiet: Option<String>,
    ends_at: Option<String>,
    author: Option<String>,
    comment: Option<String>,
    summary: Option<String>,
    /// The page's own toggle: include expired silences.
    all: Option<String>,
    /// The id just created (after the redirect).
    created: Option<String>,
    /// The page's "preview" button (no JavaScript): show the count, create nothing.
    preview: Option<String>,
}

fn list(raw: &Option<String>) -> Vec<String> {
    raw.as_deref()
        .unwrap_or("")
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn some(raw: &Option<String>) -> Option<String> {
    raw.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl SilenceForm {
    fn request(&self, with_summary_box: bool) -> SilenceRequest {
        SilenceRequest {
            error_codes: list(&self.error_codes),
            resource_sids: list(&self.resource_sids),
            service_sids: list(&self.service_sids),
            account_sids: list(&self.account_sids),
            levels: list(&self.levels),
            products: list(&self.products),
            routes: list(&self.routes),
            for_: some(&self.for_),
            until_quiet: some(&self.until_quiet),
            ends_at: some(&self.ends_at),
            author: some(&self.author),
            comment: some(&self.comment),
            // An unticked checkbox is absent from a submitted form.
            summary: with_summary_box.then(|| self.summary.is_some()),
            ..Default::default()
        }
    }

    fn is_empty(&self) -> bool {
        [
            &self.error_codes,
            &self.resource_sids,
            &self.service_sids,
            &self.account_sids,
            &self.levels,
            &self.products,
            &self.routes,
        ]
        .iter()
        .all(|v| some(v).is_none())
    }
}

/// A silence as a spec that only counts (no id, never stored).
fn preview_silence(ctl: &Control, form: &SilenceForm) -> Result<Silence, ViewError> {
    let mut req = form.request(false);
    // Only the matchers count for the preview; an end is not needed yet.
    req.for_ = Some("1h".into());
    req.until_quiet = None;
    req.ends_at = None;
    req.author = Some("preview".into());
    let spec = check(ctl, req)?;
    spec.build("preview".into(), ctl.clock.now_ms())
        .map_err(view_error)
}

/// `GET /ui/silences/preview?...`: the live count, as JSON (the page's script).
async fn page_preview(
    ctl: web::Data<Control>,
    views: web::Data<ReadPool>,
    form: web::Query<SilenceForm>,
) -> HttpResponse {
    let form = form.into_inner();
    if form.is_empty() {
        return HttpResponse::Ok()
            .json(json!({ "text": "give a matcher to see what it would match" }));
    }
    let r = async {
        let s = preview_silence(&ctl, &form)?;
        matching(&views, &ctl, s).await
    }
    .await;
    match r {
        Ok(m) => HttpResponse::Ok().json(json!({ "matching_groups": m.groups, "recent_events": m.recent_events, "text": format!("This silence {}.", m.text()) })),
        Err(e) => HttpResponse::Ok().json(json!({ "text": e.to_string(), "error": true })),
    }
}

fn html_page(status: actix_web::http::StatusCode, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Content-Security-Policy", super::html::csp()))
        .body(page("Silences", Nav::Silences, body))
}

async fn page_list(
    req: HttpRequest,
    ctl: web::Data<Control>,
    views: web::Data<ReadPool>,
    sessions: web::Data<Sessions>,
    form: Option<web::Query<SilenceForm>>,
) -> HttpResponse {
    let form = form.map(|f| f.into_inner()).unwrap_or_default();
    let mut note = String::new();
    if let Some(id) = &form.created {
        let _ = write!(
            note,
            "<p class=\"ok\" id=\"created\">Silence <code>{}</code> created.</p>",
            esc(id)
        );
    }
    if form.preview.is_some() {
        match preview_silence(&ctl, &form) {
            Ok(s) => match matching(&views, &ctl, s).await {
                Ok(m) => {
                    let _ = write!(
                        note,
                        "<p id=\"preview\">This silence {}.</p>",
                        esc(&m.text())
                    );
                }
                Err(e) => return error_page(&e),
            },
            Err(e) => {
                let _ = write!(
                    note,
                    "<p class=\"error\" id=\"form-error\">{}</p>",
                    esc(&e.to_string())
                );
            }
        }
    }
    match body(&req, &ctl, &views, &sessions, &form, &note).await {
        Ok(b) => html_page(actix_web::http::StatusCode::OK, &b),
        Err(e) => error_page(&e),
    }
}

async fn body(
    req: &HttpRequest,
    ctl: &Control,
    views: &ReadPool,
    sessions: &Sessions,
    form: &SilenceForm,
    note: &str,
) -> Result<String, ViewError> {
    let all = form.all.as_deref() == Some("true");
    let rows = views.read(move |r| r.silences(all)).await?;
    let csrf = sessions.csrf(req.headers());
    let now = ctl.clock.now_ms();
    let mut b = String::from(
        "<p>A silence holds back matching events: they are stored and counted as <em>silenced</em>, never sent. \
         When it ends, each route it held events back on gets one summary.</p>",
    );
    b.push_str(note);
    let _ = write!(
        b,
        "<h2>{}</h2><p><a id=\"toggle-all\" href=\"/ui/silences{}\">{}</a></p>",
        if all {
            "All silences"
        } else {
            "Silences in force"
        },
        if all { "" } else { "?all=true" },
        if all {
            "Show only those in force"
        } else {
            "Show expired ones too"
        }
    );
    if rows.is_empty() {
        b.push_str("<p class=\"muted\" id=\"no-silences\">No silences.</p>");
    } else {
        b.push_str("<table id=\"silences\"><tr><th>id</th><th>matches</th><th>state</th><th>from</th><th>until</th><th>by</th><th>comment</th><th class=\"num\">held back</th><th></th></tr>");
        for s in &rows {
            let until = match s.end {
                SilenceEnd::Until { at_ms } => time(Some(at_ms)),
                SilenceEnd::Quiet { after_ms } => format!(
                    "quiet for {} (now {})",
                    crate::silence::duration_text(after_ms),
                    time(Some(s.ends_at_ms()))
                ),
            };
            let state = match (s.state(now), &s.expired_by) {
                ("expired", Some(by)) => format!("expired by {}", esc(by)),
                (st, _) => st.to_string(),
            };
            let action = if s.expired_at_ms.is_none() {
                format!(
                    "<form class=\"inline\" method=\"post\" action=\"/ui/silences/expire\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                     <input type=\"hidden\" name=\"id\" value=\"{id}\"><input name=\"by\" id=\"by-{id}\" placeholder=\"your name\" required size=\"10\">\
                     <button type=\"submit\" id=\"expire-{id}\">Expire</button></form>",
                    id = esc(&s.id)
                )
            } else {
                String::new()
            };
            let _ = write!(
                b,
                "<tr id=\"silence-{id}\"><td><code>{id}</code></td><td><code>{}</code></td><td>{state}</td><td>{}</td><td>{until}</td><td>{}</td><td>{}</td><td class=\"num\" id=\"suppressed-{id}\">{}</td><td>{action}</td></tr>",
                esc(&s.describe()),
                time(Some(s.starts_at_ms)),
                esc(&s.author),
                esc(&s.comment),
                s.suppressed,
                id = esc(&s.id),
            );
        }
        b.push_str("</table>");
    }
    let v = |f: &Option<String>| esc(f.as_deref().unwrap_or(""));
    let routes = known_routes(ctl).join(", ");
    let _ = write!(
        b,
        "<h2>New silence</h2><form method=\"post\" action=\"/ui/silences\" id=\"new-silence\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <fieldset><legend>What it matches (the route matcher keys; lists comma-separated; fields combine with AND)</legend>\
         <p><label>error codes <input name=\"error_codes\" id=\"error_codes\" value=\"{}\" placeholder=\"11200, 112xx, 30001-30010\"></label> \
         <label>resource Sids <input name=\"resource_sids\" id=\"resource_sids\" value=\"{}\" placeholder=\"CA*\"></label></p>\
         <p><label>service Sids <input name=\"service_sids\" value=\"{}\"></label> <label>account Sids <input name=\"account_sids\" value=\"{}\"></label></p>\
         <p><label>levels <input name=\"levels\" value=\"{}\" placeholder=\"error\"></label> <label>products <input name=\"products\" value=\"{}\"></label> \
         <label>routes <input name=\"routes\" id=\"routes\" value=\"{}\" placeholder=\"{}\"></label></p></fieldset>\
         <fieldset><legend>How long (one of)</legend><p><label>for <input name=\"for\" id=\"for\" value=\"{}\" placeholder=\"2h\" size=\"6\"></label> \
         <label>until quiet for <input name=\"until_quiet\" id=\"until_quiet\" value=\"{}\" placeholder=\"30m\" size=\"6\"></label> \
         <label>until <input name=\"ends_at\" value=\"{}\" placeholder=\"2026-12-01T12:00:00Z\"></label></p></fieldset>\
         <fieldset><legend>Who and why</legend><p><label>author <input name=\"author\" id=\"author\" value=\"{}\" required></label> \
         <label>comment <input name=\"comment\" id=\"comment\" value=\"{}\" size=\"40\"></label> \
         <label><input type=\"checkbox\" name=\"summary\" value=\"true\" checked> send a summary when it ends</label></p></fieldset>\
         <p id=\"live-count\" class=\"muted\" aria-live=\"polite\">Preview shows what it would match.</p>\
         <button type=\"submit\" name=\"preview\" value=\"1\" formmethod=\"get\" formaction=\"/ui/silences\" formnovalidate id=\"preview-button\">Preview</button> \
         <button type=\"submit\" id=\"create\">Create silence</button></form><script>{SILENCE_SCRIPT}</script>",
        v(&form.error_codes),
        v(&form.resource_sids),
        v(&form.service_sids),
        v(&form.account_sids),
        v(&form.levels),
        v(&form.products),
        v(&form.routes),
        esc(&routes),
        v(&form.for_),
        v(&form.until_quiet),
        v(&form.ends_at),
        v(&form.author),
        v(&form.comment),
    );
    Ok(b)
}

async fn page_create(
    req: HttpRequest,
    ctl: web::Data<Control>,
    views: web::Data<ReadPool>,
    sessions: web::Data<Sessions>,
    form: Result<web::Form<SilenceForm>, actix_web::Error>,
) -> HttpResponse {
    let Ok(form) = form else {
        return forbidden();
    };
    let form = form.into_inner();
    if !sessions.csrf_ok(req.headers(), form.csrf.as_deref()) {
        return forbidden();
    }
    let created = async {
        let spec = check(&ctl, form.request(true))?;
        ctl.dispatcher.add_silence(spec).await.map_err(engine_error)
    }
    .await;
    match created {
        Ok(s) => {
            tracing::info!(silence = %s.id, author = %s.author, "silence created from the console");
            HttpResponse::SeeOther()
                .insert_header((
                    "Location",
                    format!("/ui/silences?created={}", url_enc(&s.id)),
                ))
                .finish()
        }
        Err(ViewError::Field { field, message }) => {
            let note = format!(
                "<p class=\"error\" id=\"form-error\">{}</p>",
                esc(&format!("{field}: {message}"))
            );
            match body(&req, &ctl, &views, &sessions, &form, &note).await {
                Ok(b) => html_page(actix_web::http::StatusCode::BAD_REQUEST, &b),
                Err(e) => error_page(&e),
            }
        }
        Err(e) => error_page(&e),
    }
}

#[derive(serde::Deserialize)]
struct ExpireForm {
    csrf: Option<String>,
    id: Option<String>,
    by: Option<String>,
}

async fn page_expire(
    req: HttpRequest,
    ctl: web::Data<Control>,
    sessions: web::Data<Sessions>,
    form: Result<web::Form<ExpireForm>, actix_web::Error>,
) -> HttpResponse {
    let Ok(form) = form else {
        return forbidden();
    };
    if !sessions.csrf_ok(req.headers(), form.csrf.as_deref()) {
        return forbidden();
    }
    let r = async {
        let id = form
            .id
            .as_deref()
            .filter(|i| !i.is_empty())
            .ok_or_else(|| ViewError::field("id", "which silence to expire"))?;
        let by = by_of(form.by.as_deref(), "console")?;
        match ctl
            .dispatcher
            .expire_silence(id, &by)
            .await
            .map_err(engine_error)?
        {
            Some(_) => Ok(()),
            None => Err(ViewError::NotFound(format!("no silence {id} in force"))),
        }
    }
    .await;
    match r {
        Ok(()) => HttpResponse::SeeOther()
            .insert_header(("Location", "/ui/silences?all=true"))
            .finish(),
        Err(e) => error_page(&e),
    }
}

#[derive(serde::Deserialize)]
struct AckForm {
    csrf: Option<String>,
    key: Option<String>,
    author: Option<String>,
}

async fn page_acknowledge(
    req: HttpRequest,
    ctl: web::Data<Control>,
    sessions: web::Data<Sessions>,
    form: Result<web::Form<AckForm>, actix_web::Error>,
) -> HttpResponse {
    let Ok(form) = form else {
        return forbidden();
    };
    if !sessions.csrf_ok(req.headers(), form.csrf.as_deref()) {
        return forbidden();
    }
    let r = async {
        let key = form
            .key
            .as_deref()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| ViewError::field("key", "which group to acknowledge"))?;
        let by = by_of(form.author.as_deref(), "console")?;
        acknowledge(&ctl, key, &by).await
    }
    .await;
    match r {
        Ok(_) => HttpResponse::SeeOther()
            .insert_header(("Location", "/ui/groups"))
            .finish(),
        Err(e) => error_page(&e),
    }
}
