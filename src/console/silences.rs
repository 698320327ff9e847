//! Silences and acknowledgement on the admin listener (SPEC 14, 15): the API
//! (`GET/POST /api/v1/silences`, `DELETE /api/v1/silences/{id}`,
//! `POST /api/v1/groups/{key}/acknowledge`) and what the console's pages share
//! with it (checks, the live count); the pages (`silences_page.rs`) use them.
//! Creating and expiring go through the engine (one writer).

use super::html::url_enc;
use super::{ReadPool, ViewError};
use crate::catalog::Catalog;
use crate::control::Control;
use crate::dispatch::DispatchError;
use crate::event::DebuggerEvent;
use crate::silence::{Silence, SilenceRequest};
use crate::store::{EventFilter, StoreError, Views};
use actix_web::{web, HttpResponse};
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
        );
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
    Ok(r.event_body(sid)?
        .and_then(|body| serde_json::from_str(&body).ok()))
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
        let (page, next) = r.scan_groups(after.as_deref(), 500)?;
        let n = page.len();
        let mut with_events = Vec::with_capacity(n);
        for (_, g) in &page {
            with_events.push((g, stored_event(r, &g.first_sid)?));
        }
        m.groups += crate::dispatch::silences::matching_groups(s, catalog, with_events.into_iter());
        scanned += n;
        after = next;
        if after.is_none() {
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

pub(super) async fn matching(
    views: &ReadPool,
    ctl: &Control,
    s: Silence,
) -> Result<Matching, ViewError> {
    let catalog = Arc::clone(&ctl.shared.get().catalog);
    let now = ctl.clock.now_ms();
    views.read(move |r| would_match(r, &s, &catalog, now)).await
}

pub(super) fn known_routes(ctl: &Control) -> Vec<String> {
    ctl.route_names()
}

/// Checks a request against the running configuration's routes.
pub(super) fn check(
    ctl: &Control,
    req: SilenceRequest,
) -> Result<crate::silence::SilenceSpec, ViewError> {
    let names = known_routes(ctl);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    req.check(&names).map_err(view_error)
}

pub(super) fn view_error(e: crate::silence::SilenceError) -> ViewError {
    ViewError::field(e.field, e.message)
}

pub(super) fn engine_error(e: DispatchError) -> ViewError {
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
        // Created either way: a count that cannot be read is `null`, not an error.
        let m = matching(&views, &ctl, s).await.ok();
        v["matching_groups"] = json!(m.map(|m| m.groups));
        v["matching_recent_events"] = json!(m.map(|m| m.recent_events));
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

pub(super) fn by_of(by: Option<&str>, default: &str) -> Result<String, ViewError> {
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

pub(super) async fn acknowledge(ctl: &Control, key: &str, by: &str) -> Result<Value, ViewError> {
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
