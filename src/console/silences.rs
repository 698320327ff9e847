//! Silences and acknowledgement on the admin listener (SPEC 14, 15): the API
//! (`GET/POST /api/v1/silences`, `DELETE /api/v1/silences/{id}`,
//! `POST /api/v1/groups/{key}/acknowledge`) and the console's Silences page (list,
//! create with a live count of what it would match, expire) and the Groups page's
//! acknowledge form. Creating and expiring go through the engine (one writer).

use super::html::{error_page, esc, page, time, url_enc, Nav, SILENCE_SCRIPT};
use super::session::{forbidden, Sessions};
use super::{ReadPool, ViewError};
use crate::catalog::Catalog;
use crate::control::Control;
use crate::dispatch::DispatchError;
use crate::event::DebuggerEvent;
use crate::silence::{Silence, SilenceEnd, SilenceRequest};
use crate::store::{EventFilter, StoreError, Views};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use std::fmt::Write;
use std::sync::Arc;

/// Open groups read to count what a silence matches (past it: "at least").
const GROUP_SCAN: usize = 10_000;
/// Recent events (the last hour's, newest first) read for the live count.
const EVENT_SCAN: usize = 500;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/silences", web::get().to(api_list))
        .route("/api/v1/silences", web::post().to(api_create))
        .route("/api/v1/silences/{id}", web::delete().to(api_expire))
        .route(
            "/api/v1/groups/{key}/acknowledge",
            web::post().to(api_acknowledge),
        )
        .route("/ui/silences", web::get().to(page_list))
        .route("/ui/silences", web::post().to(page_create))
        .route("/ui/silences/preview", web::get().to(page_preview))
        .route("/ui/silences/expire", web::post().to(page_expire))
        .route("/ui/groups/acknowledge", web::post().to(page_acknowledge));
}

/// What a silence would match now: open groups (on their route, by their first
/// event) and the last hour's stored events (on the route they took).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Matching {
    pub groups: usize,
    /// More open groups than [`GROUP_SCAN`]: `groups` is a lower bound.
    pub groups_capped: bool,
    pub recent_events: usize,
}

impl Matching {
    pub fn text(&self) -> String {
        format!(
            "matches {}{} open group(s) now, and {} of the last hour's events{}",
            if self.groups_capped { "at least " } else { "" },
            self.groups,
            self.recent_events,
            if self.recent_events >= EVENT_SCAN {
                format!(" (of the newest {EVENT_SCAN} read)")
            } else {
                String::new()
            }
        )
    }
}

fn stored_event(r: &dyn Views, sid: &str) -> Result<Option<DebuggerEvent>, StoreError> {
    Ok(r.event(sid)?
        .and_then(|(_, body)| serde_json::from_str(&body).ok()))
}

/// Counts what `s` matches in the store `r` reads (blocking; the CLI calls it too).
pub fn would_match(
    r: &dyn Views,
    s: &Silence,
    catalog: &Catalog,
    now: i64,
) -> Result<Matching, StoreError> {
    let mut m = Matching::default();
    let mut after: Option<String> = None;
    let mut scanned = 0usize;
    loop {
        let page = r.open_groups(after.as_deref(), 500)?;
        let n = page.len();
        let mut with_events = Vec::with_capacity(n);
        for (_, g) in &page {
            with_events.push((g, stored_event(r, &g.first_sid)?));
        }
        m.groups += crate::dispatch::silences::matching_groups(s, catalog, with_events.into_iter());
        scanned += n;
        after = page.last().map(|(k, _)| k.clone());
        if n < 500 {
            break;
        }
        if scanned >= GROUP_SCAN {
            m.groups_capped = true;
            break;
        }
    }
    let filter = EventFilter {
        since_ms: Some(now - 3_600_000),
        ..Default::default()
    };
    for e in r.events(&filter, EVENT_SCAN)?.events {
        let Some(route) = e.route.as_deref() else {
            continue;
        };
        if let Some(ev) = stored_event(r, &e.sid)? {
            let product = crate::product::of_event(catalog, &ev);
            if s.covers(&crate::route::RouteInput::from_event(&ev, product), route) {
                m.recent_events += 1;
            }
        }
    }
    Ok(m)
}

async fn matching(views: &ReadPool, ctl: &Control, s: Silence) -> Result<Matching, ViewError> {
    let catalog = Arc::clone(&ctl.shared.get().catalog);
    let now = ctl.clock.now_ms();
    views.read(move |r| would_match(r, &s, &catalog, now)).await
}

fn known_routes(ctl: &Control) -> Vec<String> {
    ctl.route_names()
}

/// Checks a request against the running configuration's routes.
fn check(ctl: &Control, req: SilenceRequest) -> Result<crate::silence::SilenceSpec, ViewError> {
    let names = known_routes(ctl);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    req.check(&names).map_err(view_error)
}

fn view_error(e: crate::silence::SilenceError) -> ViewError {
    ViewError::field(e.field, e.message)
}

fn engine_error(e: DispatchError) -> ViewError {
    match e {
        DispatchError::Invalid(e) => view_error(e),
        other => ViewError::Store(other.to_string()),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    all: Option<bool>,
}

async fn api_list(
    ctl: web::Data<Control>,
    views: web::Data<ReadPool>,
    q: Result<web::Query<ListQuery>, actix_web::Error>,
) -> HttpResponse {
    let r = async {
        let q = q.map_err(|e| ViewError::field("all", e.to_string()))?;
        let all = q.all.unwrap_or(false);
        let rows = views.read(move |r| r.silences(all)).await?;
        let now = ctl.clock.now_ms();
        let list: Vec<Value> = rows.iter().map(|s| s.to_json(now)).collect();
        Ok::<_, ViewError>(json!({ "silences": list }))
    }
    .await;
    match r {
        Ok(v) => HttpResponse::Ok().json(v),
        Err(e) => e.json(),
    }
}

/// `POST /api/v1/silences`: 201 with the silence and `matching_groups`.
async fn api_create(
    ctl: web::Data<Control>,
    views: web::Data<ReadPool>,
    body: web::Bytes,
) -> HttpResponse {
    let r = async {
        let de = &mut serde_json::Deserializer::from_slice(&body);
        let req: SilenceRequest = serde_path_to_error::deserialize(de).map_err(|e| {
            let field =
                crate::silence::request_field(&e.path().to_string(), &e.inner().to_string());
            ViewError::field(field, e.inner().to_string())
        })?;
        let spec = check(&ctl, req)?;
        let s = ctl
            .dispatcher
            .add_silence(spec)
            .await
            .map_err(engine_error)?;
        let now = ctl.clock.now_ms();
        let mut v = s.to_json(now);
        let m = matching(&views, &ctl, s).await?;
        v["matching_groups"] = json!(m.groups);
        v["matching_recent_events"] = json!(m.recent_events);
        Ok::<_, ViewError>(v)
    }
    .await;
    match r {
        Ok(v) => HttpResponse::Created().json(v),
        Err(e) => e.json(),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ByQuery {
    by: Option<String>,
}

fn by_of(by: Option<&str>, default: &str) -> Result<String, ViewError> {
    let by = by
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .unwrap_or(default);
    if by.chars().count() > 100 || by.chars().any(char::is_control) {
        return Err(ViewError::field(
            "by",
            "at most 100 characters, no control characters",
        ));
    }
    Ok(by.to_string())
}

/// `DELETE /api/v1/silences/{id}[?by=NAME]`: expires it now (its summaries go out).
async fn api_expire(
    ctl: web::Data<Control>,
    path: web::Path<String>,
    q: Result<web::Query<ByQuery>, actix_web::Error>,
) -> HttpResponse {
    let r = async {
        let q = q.map_err(|e| ViewError::field("by", e.to_string()))?;
        let by = by_of(q.by.as_deref(), "api")?;
        let id = path.into_inner();
        match ctl
            .dispatcher
            .expire_silence(&id, &by)
            .await
            .map_err(engine_error)?
        {
            Some(s) => Ok(s.to_json(ctl.clock.now_ms())),
            None => Err(ViewError::NotFound(format!(
                "no silence {id} in force (see GET /api/v1/silences)"
            ))),
        }
    }
    .await;
    match r {
        Ok(v) => HttpResponse::Ok().json(v),
        Err(e) => e.json(),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AckBody {
    author: Option<String>,
}

/// `POST /api/v1/groups/{key}/acknowledge` with `{"author": ...}`: the group sends
/// no more digests until it closes or resolves; its events count as silenced.
async fn api_acknowledge(
    ctl: web::Data<Control>,
    path: web::Path<String>,
    body: Result<web::Json<AckBody>, actix_web::Error>,
) -> HttpResponse {
    let r = async {
        let body = body.map_err(|e| ViewError::field("author", e.to_string()))?;
        let author = body.author.as_deref().map(str::trim).unwrap_or("");
        if author.is_empty() {
            return Err(ViewError::field("author", "is empty; say who acknowledges"));
        }
        let author = by_of(Some(author), "api").map_err(|_| {
            ViewError::field("author", "at most 100 characters, no control characters")
        })?;
        acknowledge(&ctl, &path.into_inner(), &author).await
    }
    .await;
    match r {
        Ok(v) => HttpResponse::Ok().json(v),
        Err(e) => e.json(),
    }
}

async fn acknowledge(ctl: &Control, key: &str, by: &str) -> Result<Value, ViewError> {
    if ctl
        .dispatcher
        .acknowledge(key, by)
        .await
        .map_err(engine_error)?
    {
        Ok(json!({ "acknowledged": key, "by": by }))
    } else {
        Err(ViewError::NotFound(format!("no open group {key}")))
    }
}

// ---- the console page ----

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

/// The Silences page's form prefilled from a group's key (route, then its
/// `group_by` values): the Groups page's "Silence" link.
pub(super) fn silence_link(key: &str) -> String {
    let r = SilenceRequest::for_group(key);
    let mut q = format!(
        "routes={}",
        url_enc(r.routes.first().map_or("", String::as_str))
    );
    for (param, values) in [
        ("error_codes", &r.error_codes),
        ("resource_sids", &r.resource_sids),
        ("service_sids", &r.service_sids),
        ("account_sids", &r.account_sids),
        ("levels", &r.levels),
        ("products", &r.products),
    ] {
        for v in values {
            let _ = write!(q, "&{param}={}", url_enc(v));
        }
    }
    format!("/ui/silences?{q}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_groups_key_prefills_the_form() {
        assert_eq!(
            silence_link("voice|error_code=11200|resource_sid=CA01|service_sid=-"),
            "/ui/silences?routes=voice&error_codes=11200&resource_sids=CA01"
        );
    }
}
