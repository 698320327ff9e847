//! Operator endpoints. The public listener serves only `/healthz` and `/readyz`
//! beside the webhook paths; the admin listener (`[admin] listen`, SPEC 9) serves
//! `/metrics`, `POST /-/reload`, `/healthz` and `/readyz`, behind bearer tokens when
//! `admin.tokens` is set.

use crate::control::{export_accounting, Control};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use secrecy::ExposeSecret;
use serde_json::json;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready when the store is the file we opened, its last write succeeded, and the
/// dispatch engine answers.
pub async fn readyz(ctl: web::Data<Control>) -> HttpResponse {
    let health = ctl.dispatcher.health().await;
    let replicas = ctl.replicas();
    match health {
        Some(Ok(())) if replicas.mismatched.is_empty() => {
            HttpResponse::Ok().json(json!({ "status": "ready", "replicas": replicas.seen.len() }))
        }
        // Still ready (a rolling deploy passes through this), but said.
        Some(Ok(())) => HttpResponse::Ok().json(json!({
            "status": "ready",
            "replicas": replicas.seen.len(),
            "config_mismatch": true,
            "detail": format!("replicas {} run different routes or channels than this one ({})",
                replicas.mismatched.join(", "), replicas.me),
        })),
        Some(Err(cause)) => HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "not ready", "store": false, "engine": true, "cause": cause })),
        None => HttpResponse::ServiceUnavailable().json(
            json!({ "status": "not ready", "store": false, "engine": false, "cause": "dispatch engine stopped" }),
        ),
    }
}

pub async fn metrics(ctl: web::Data<Control>) -> HttpResponse {
    export_accounting(&ctl).await;
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(ctl.metrics.render())
}

/// `POST /-/reload`, at most once per `admin.reload_interval` (a flood of reloads
/// must not be a way around anything).
pub async fn reload(ctl: web::Data<Control>) -> HttpResponse {
    if let Err(wait) = ctl.reload_gate() {
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        return HttpResponse::TooManyRequests()
            .insert_header(("Retry-After", secs.to_string()))
            .json(json!({ "error": format!("a reload ran less than admin.reload_interval ago; retry in {secs}s") }));
    }
    let c = ctl.clone();
    match tokio::task::spawn_blocking(move || c.reload()).await {
        Ok(Ok(warnings)) => {
            HttpResponse::Ok().json(json!({ "status": "reloaded", "warnings": warnings }))
        }
        Ok(Err(errors)) => HttpResponse::BadRequest().json(
            json!({ "error": "configuration rejected; the running one stays", "errors": errors }),
        ),
        Err(_) => {
            HttpResponse::ServiceUnavailable().json(json!({ "error": "reload did not complete" }))
        }
    }
}

/// `POST /api/v1/dead-letters/retry` with `{"id": N}` or `{"all": true}`: what
/// `twilert dead-letters retry` uses while a service holds the store.
pub async fn retry_dead_letters(
    ctl: web::Data<Control>,
    body: web::Json<RetryRequest>,
) -> HttpResponse {
    let id = match (body.id, body.all) {
        (Some(id), false) => Some(id),
        (None, true) => None,
        _ => {
            return HttpResponse::BadRequest()
                .json(json!({ "error": "give either \"id\" or \"all\": true", "field": "id" }))
        }
    };
    match ctl.dispatcher.retry_dead(id).await {
        Ok(n) => HttpResponse::Ok().json(json!({ "requeued": n })),
        Err(e) => HttpResponse::ServiceUnavailable().json(json!({ "error": e.to_string() })),
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryRequest {
    pub id: Option<i64>,
    #[serde(default)]
    pub all: bool,
}

pub async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(json!({ "error": "not found" }))
}

/// Any other method on the webhook path: 405 with `Allow: POST`.
pub async fn post_only() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header(("Allow", "POST"))
        .json(json!({ "error": "method not allowed: Twilio POSTs events to this path" }))
}

/// Bearer-token check for every admin request when `admin.tokens` is set; a wrong
/// or missing token is 401 and counted in `twilert_admin_unauthorized_total`.
pub async fn require_token(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(ctl) = req.app_data::<web::Data<Control>>().cloned() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let rt = ctl.shared.get();
    let tokens: Vec<&str> = rt
        .settings
        .admin
        .tokens
        .iter()
        .map(|t| t.expose_secret())
        .filter(|t| !t.is_empty())
        .collect();
    if tokens.is_empty() {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let presented = req
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    if tokens
        .iter()
        .any(|t| crate::console::session::token_matches(t, presented))
    {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    // The console: its login page, and pages with a session cookie (SPEC 9).
    if let Some(sessions) = req.app_data::<web::Data<crate::console::Sessions>>() {
        use crate::console::session::Gate;
        match sessions.gate(req.path(), req.headers()) {
            Gate::Pass => return Ok(next.call(req).await?.map_into_left_body()),
            Gate::Login => {
                let resp = HttpResponse::SeeOther()
                    .insert_header(("Location", "/ui/login"))
                    .finish();
                return Ok(req.into_response(resp).map_into_right_body());
            }
            Gate::Refuse => {}
        }
    }
    ctl.metrics
        .counter("twilert_admin_unauthorized_total", &[])
        .increment(1);
    tracing::warn!(path = %req.path(), peer = ?req.peer_addr(), "admin request without a valid token: 401");
    let resp = HttpResponse::Unauthorized()
        .insert_header(("WWW-Authenticate", "Bearer realm=\"twilert admin\""))
        .json(json!({ "error": "missing or wrong admin token (Authorization: Bearer <token>)" }));
    Ok(req.into_response(resp).map_into_right_body())
}
