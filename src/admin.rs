//! Operator endpoints: `/healthz`, `/readyz`, `/metrics`, `POST /-/reload`.

use crate::startup::{export_accounting, Control};
use actix_web::{web, HttpResponse};
use serde_json::json;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready when the store answers and the dispatch engine runs.
pub async fn readyz(ctl: web::Data<Control>) -> HttpResponse {
    let path = ctl.store_path.clone();
    let store_ok = tokio::task::spawn_blocking(move || {
        crate::store::Reader::open(&path)
            .map(|r| r.ping())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false);
    let engine_ok = ctl.dispatcher.snapshot().await.is_some();
    if store_ok && engine_ok {
        HttpResponse::Ok().json(json!({ "status": "ready" }))
    } else {
        HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "not ready", "store": store_ok, "engine": engine_ok }))
    }
}

pub async fn metrics(ctl: web::Data<Control>) -> HttpResponse {
    export_accounting(&ctl).await;
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(ctl.metrics.render())
}

pub async fn reload(ctl: web::Data<Control>) -> HttpResponse {
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

pub async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(json!({ "error": "not found" }))
}

/// Any other method on the webhook path: 405 with `Allow: POST`.
pub async fn post_only() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header(("Allow", "POST"))
        .json(json!({ "error": "method not allowed: Twilio POSTs events to this path" }))
}
