//! `/api/v1/`: the console's data as JSON for scripts (docs/API.md). Errors are
//! `{"error": ..., "field": ...}`; bad parameters are 400.

use super::{health, query, ReadPool, ViewError};
use crate::control::Control;
use crate::group::GroupState;
use crate::store::DeadLetter;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/events", web::get().to(events))
        .route("/api/v1/events/{sid}", web::get().to(event))
        .route("/api/v1/groups", web::get().to(groups))
        .route("/api/v1/dead-letters", web::get().to(dead_letters))
        .route("/api/v1/channels", web::get().to(channels))
        .route("/api/v1/accounting", web::get().to(accounting));
}

fn answer(r: Result<Value, ViewError>) -> HttpResponse {
    match r {
        Ok(v) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(v),
        Err(e) => e.json(),
    }
}

async fn events(req: HttpRequest, views: web::Data<ReadPool>) -> HttpResponse {
    answer(
        async {
            let q = query::parse(req.query_string(), query::now_ms())?;
            let page = views.read(move |r| r.events(&q.filter, q.limit)).await?;
            Ok(json!(page))
        }
        .await,
    )
}

/// One event: its columns, the stored event, its notifications, and the routes it
/// matches under the running configuration (and why).
async fn event(
    path: web::Path<String>,
    ctl: web::Data<Control>,
    views: web::Data<ReadPool>,
) -> HttpResponse {
    answer(event_detail(path.into_inner(), &ctl, &views).await.map(|d| {
        let routes: Vec<Value> = d
            .routes
            .iter()
            .map(|m| json!({ "route": m.route, "at": m.at, "reasons": m.reasons, "muted": m.mute, "group_key": m.group_key, "channels": m.channels.iter().map(|c| &c.name).collect::<Vec<_>>() }))
            .collect();
        json!({
            "event": d.summary,
            "stored": d.stored,
            "notifications": d.notifications,
            "routes": routes,
        })
    }))
}

/// What the event page and `/api/v1/events/{sid}` show.
pub(super) struct EventDetail {
    pub summary: crate::store::EventSummary,
    /// The stored event as JSON.
    pub stored: Value,
    pub event: Option<crate::event::DebuggerEvent>,
    pub notifications: Vec<crate::store::NotificationView>,
    pub routes: Vec<crate::cli::route::MatchPlan>,
}

pub(super) async fn event_detail(
    sid: String,
    ctl: &Control,
    views: &ReadPool,
) -> Result<EventDetail, ViewError> {
    if sid.len() > 64 {
        return Err(ViewError::field("sid", "longer than a Sid"));
    }
    let s = sid.clone();
    let (found, notifications) = views
        .read(move |r| Ok((r.event(&s)?, r.notifications_of(&s)?)))
        .await?;
    let Some((summary, body)) = found else {
        return Err(ViewError::NotFound(format!(
            "no stored event with Sid {sid}"
        )));
    };
    let stored: Value = serde_json::from_str(&body).unwrap_or(Value::String(body.clone()));
    let event: Option<crate::event::DebuggerEvent> = serde_json::from_str(&body).ok();
    let routes = match &event {
        // Routes and reasons only: no channel is named "", so nothing is rendered.
        Some(ev) => crate::cli::route::plan(
            &ctl.shared.get(),
            ev,
            Some(""),
            crate::cli::route::Form::Alert,
        ),
        None => vec![],
    };
    Ok(EventDetail {
        summary,
        stored,
        event,
        notifications,
        routes,
    })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GroupQuery {
    pub after: Option<String>,
    pub limit: Option<usize>,
}

/// A group as the API and the Groups page show it.
pub(super) fn group_json(key: &str, g: &GroupState) -> Value {
    json!({
        "key": key,
        "route": g.route,
        "channels": g.channels,
        "count": g.count,
        "first_seen_ms": (g.count > 0).then_some(g.first_seen_ms),
        "last_seen_ms": (g.count > 0).then_some(g.last_seen_ms),
        "next_digest_ms": g.window_end_ms,
        "resources_total": g.resources_total,
        "first_sid": g.first_sid,
        "acknowledged": g.acknowledged.as_ref().map(|a| json!({ "by": a.by, "at_ms": a.at_ms })),
    })
}

pub(super) async fn read_groups(
    views: &ReadPool,
    q: GroupQuery,
) -> Result<(Vec<(String, GroupState)>, Option<String>), ViewError> {
    let limit = q.limit.unwrap_or(query::DEFAULT_LIMIT);
    if !(1..=query::MAX_LIMIT).contains(&limit) {
        return Err(ViewError::field(
            "limit",
            format!("must be a number from 1 to {}", query::MAX_LIMIT),
        ));
    }
    let after = q.after.filter(|a| !a.is_empty());
    let mut rows = views
        .read(move |r| r.open_groups(after.as_deref(), limit + 1))
        .await?;
    let next = (rows.len() > limit).then(|| {
        rows.truncate(limit);
        rows.last().map(|(k, _)| k.clone())
    });
    Ok((rows, next.flatten()))
}

async fn groups(
    views: web::Data<ReadPool>,
    q: Result<web::Query<GroupQuery>, actix_web::Error>,
) -> HttpResponse {
    answer(
        async {
            let q = q
                .map_err(|e| ViewError::field("query", e.to_string()))?
                .into_inner();
            let (rows, next) = read_groups(&views, q).await?;
            let groups: Vec<Value> = rows.iter().map(|(k, g)| group_json(k, g)).collect();
            Ok(json!({ "groups": groups, "next": next }))
        }
        .await,
    )
}

pub(super) fn dead_json(d: &DeadLetter) -> Value {
    json!({
        "id": d.id,
        "channel": d.channel,
        "route": d.route,
        "group_key": d.group_key,
        "event_sid": d.event_sid,
        "digest": d.is_digest,
        "attempts": d.attempts,
        "last_error": d.last_error,
        "created_at_ms": d.created_at_ms,
        "updated_at_ms": d.updated_at_ms,
    })
}

#[derive(serde::Deserialize)]
pub(super) struct DeadQuery {
    pub after: Option<i64>,
    pub limit: Option<usize>,
}

/// A page of dead letters (oldest first, after the cursor `after`), the cursor of
/// the next page, and how many there are in all.
pub(super) async fn read_dead_letters(
    views: &ReadPool,
    q: Result<web::Query<DeadQuery>, actix_web::Error>,
) -> Result<(Vec<DeadLetter>, Option<i64>, u64), ViewError> {
    let q = q
        .map_err(|e| ViewError::field("query", e.to_string()))?
        .into_inner();
    let limit = q.limit.unwrap_or(query::DEFAULT_LIMIT);
    if !(1..=query::MAX_LIMIT).contains(&limit) {
        return Err(ViewError::field(
            "limit",
            format!("must be a number from 1 to {}", query::MAX_LIMIT),
        ));
    }
    let (mut rows, total) = views
        .read(move |r| r.dead_letter_page(q.after, limit + 1))
        .await?;
    let next = (rows.len() > limit).then(|| {
        rows.truncate(limit);
        rows.last().map(|d| d.id)
    });
    Ok((rows, next.flatten(), total))
}

async fn dead_letters(
    views: web::Data<ReadPool>,
    q: Result<web::Query<DeadQuery>, actix_web::Error>,
) -> HttpResponse {
    answer(
        async {
            let (rows, next, total) = read_dead_letters(&views, q).await?;
            let list: Vec<Value> = rows.iter().map(dead_json).collect();
            Ok(json!({ "dead_letters": list, "next": next, "total": total }))
        }
        .await,
    )
}

async fn channels(ctl: web::Data<Control>, views: web::Data<ReadPool>) -> HttpResponse {
    answer(
        health::channels(&ctl, &views)
            .await
            .map(|c| json!({ "channels": c })),
    )
}

async fn accounting(ctl: web::Data<Control>) -> HttpResponse {
    answer(health::accounting(&ctl).await.map(|a| {
        let terms: serde_json::Map<String, Value> = a
            .terms()
            .iter()
            .map(|(k, v)| (k.replace('-', "_"), json!(v)))
            .collect();
        json!({
            "accepted": a.accepted,
            "terms": terms,
            "sum": a.accounted,
            "balanced": a.balanced,
            "duplicates": a.duplicates,
            "open_groups": a.open_groups,
        })
    }))
}
