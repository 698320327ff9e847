//! `POST {server.path}` (Debugger webhook, SPEC 2) and `POST
//! {server.event_streams_path}` (Event Streams, SPEC 16): type and size checks,
//! body within its deadline, signature ([`Unverified`] → [`Verified`]), decode,
//! durable store, answer. Every input gets a 2xx/4xx/503 with a JSON body.

use super::body::{body_kind, read_body};
use super::cloudevents::{self, Item};
pub use super::error::IngestError;
use super::signature::{request_url, Verifier, SETTINGS_HEADER};
use super::verify::{BodyKind, Unverified, Verified};
use super::{decode, ignored::IgnoredTypes};
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::dispatch::{Accepted, Dispatcher};
use crate::event::DebuggerEvent;
use crate::telemetry::Metrics;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// What the handlers need, shared by all HTTP workers.
#[derive(Clone)]
pub struct IngestState {
    /// `None` when `verify_signature = false`.
    pub verifier: Option<Verifier>,
    /// `twilio.public_url`, and the same with the Event Streams path.
    pub public_url: Option<String>,
    pub events_public_url: Option<String>,
    pub max_body_bytes: usize,
    pub body_timeout: Duration,
    pub dispatcher: Dispatcher,
    pub clock: SharedClock,
    pub metrics: Arc<Metrics>,
    ignored: Arc<IgnoredTypes>,
    /// Registered once: the per-request one is on the hot path.
    pub latency: metrics::Histogram,
}

impl IngestState {
    pub fn new(
        s: &Settings,
        dispatcher: Dispatcher,
        clock: SharedClock,
        metrics: Arc<Metrics>,
    ) -> IngestState {
        let t = &s.twilio;
        IngestState {
            latency: metrics.histogram("twilert_ingest_seconds", &[]),
            verifier: t.verify_signature.then(|| {
                Verifier::new(t.auth_tokens.clone()).with_shared_keys(t.shared_keys.clone())
            }),
            public_url: t.public_url.clone(),
            events_public_url: t
                .public_url
                .as_deref()
                .map(|u| events_url(u, &s.server.path, &s.server.event_streams_path)),
            max_body_bytes: s.server.max_body_bytes,
            body_timeout: s.server.body_timeout.0,
            dispatcher,
            clock,
            metrics,
            ignored: Arc::new(IgnoredTypes::default()),
        }
    }

    /// Counts, logs and passes on the result of one request.
    fn finish(
        &self,
        started: std::time::Instant,
        result: Result<HttpResponse, IngestError>,
    ) -> Result<HttpResponse, IngestError> {
        match &result {
            Ok(_) => self.latency.record(started.elapsed().as_secs_f64()),
            Err(e) => {
                self.metrics.count_rejected(e.reason());
                tracing::warn!(status = e.status_code().as_u16(), reason = e.reason(), error = %e, "event rejected");
            }
        }
        result
    }
}

/// The Event Streams signing URL: `public_url` with its path changed — when the
/// path ends with `server.path`, that ending becomes `server.event_streams_path`
/// (a proxy prefix such as `/alerts` stays); otherwise the whole path becomes it.
/// Scheme, host, port and query are kept byte for byte.
pub fn events_url(public_url: &str, path: &str, events_path: &str) -> String {
    let Some(scheme_end) = public_url.find("://") else {
        return public_url.to_string();
    };
    let auth_start = scheme_end + 3;
    let path_start = public_url[auth_start..]
        .find(['/', '?', '#'])
        .map_or(public_url.len(), |i| auth_start + i);
    let path_end = public_url[path_start..]
        .find(['?', '#'])
        .map_or(public_url.len(), |i| path_start + i);
    let old = &public_url[path_start..path_end];
    let new = match old.strip_suffix(path) {
        Some(prefix) if !path.is_empty() => format!("{prefix}{events_path}"),
        _ => events_path.to_string(),
    };
    format!(
        "{}{new}{}",
        &public_url[..path_start],
        &public_url[path_end..]
    )
}

pub async fn debugger(
    req: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<IngestState>,
) -> Result<HttpResponse, IngestError> {
    let started = std::time::Instant::now();
    let result = handle_debugger(&req, &mut payload, &state).await;
    state.finish(started, result)
}

pub async fn event_streams(
    req: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<IngestState>,
) -> Result<HttpResponse, IngestError> {
    let started = std::time::Instant::now();
    let result = handle_events(&req, &mut payload, &state).await;
    state.finish(started, result)
}

/// Reads the body and checks its signature: nothing is decoded before this.
async fn receive(
    req: &HttpRequest,
    payload: &mut web::Payload,
    state: &IngestState,
    kind: BodyKind,
    public_url: Option<&str>,
) -> Result<Verified, IngestError> {
    let body = read_body(req, payload, state.max_body_bytes, state.body_timeout).await?;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let unverified = Unverified {
        body,
        kind,
        url: signing_url(req, public_url),
        signature: header("X-Twilio-Signature"),
        settings: header(SETTINGS_HEADER),
    };
    match &state.verifier {
        Some(v) => unverified.verify(v).map_err(IngestError::Signature),
        None => Ok(unverified.unchecked()),
    }
}

async fn handle_debugger(
    req: &HttpRequest,
    payload: &mut web::Payload,
    state: &IngestState,
) -> Result<HttpResponse, IngestError> {
    let kind = body_kind(req)?;
    let verified = receive(req, payload, state, kind, state.public_url.as_deref()).await?;
    let now = state.clock.now_ms();
    let event = match kind {
        BodyKind::Form => verified
            .form_pairs()
            .and_then(|pairs| decode::decode_pairs(&pairs, now)),
        BodyKind::Json => decode::decode_json(verified.body(), now),
    }
    .map_err(IngestError::BadRequest)?;
    let sid = event.sid.clone();
    warn_unreadable(&event);
    match state.dispatcher.ingest(event).await {
        Ok(accepted) => Ok(ok_body(&sid, accepted)),
        Err(e) => {
            tracing::error!(sid = %sid, error = %e, "event not stored; answering 503 so Twilio retries");
            Err(IngestError::Unavailable)
        }
    }
}

async fn handle_events(
    req: &HttpRequest,
    payload: &mut web::Payload,
    state: &IngestState,
) -> Result<HttpResponse, IngestError> {
    let kind = body_kind(req)?;
    if kind != BodyKind::Json {
        return Err(IngestError::UnsupportedType(
            "Event Streams sends application/json".into(),
        ));
    }
    let public_url = state.events_public_url.as_deref();
    let verified = receive(req, payload, state, kind, public_url).await?;
    let items = cloudevents::decode_events(verified.body(), state.clock.now_ms())
        .map_err(IngestError::BadRequest)?;
    let mut events = Vec::new();
    let mut ignored = 0usize;
    for item in items {
        match item {
            Item::Error(ev) => events.push(*ev),
            Item::Ignored(kind) => {
                ignored += 1;
                let label = state.ignored.label(&kind);
                state
                    .metrics
                    .counter("twilert_events_ignored_total", &[("type", &label)])
                    .increment(1);
            }
        }
    }
    events.iter().for_each(warn_unreadable);
    let sids: Vec<String> = events.iter().map(|e| e.sid.to_string()).collect();
    // All or nothing: the whole array commits in one transaction, or it is a 503.
    let accepted = match state.dispatcher.ingest_batch(events).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(sids = ?sids, error = %e, "Event Streams batch not stored; answering 503 so Twilio retries");
            return Err(IngestError::Unavailable);
        }
    };
    let new = accepted.iter().filter(|a| **a == Accepted::New).count();
    Ok(HttpResponse::Ok().json(json!({
        "status": "ok",
        "accepted": new,
        "duplicate": accepted.len() - new,
        "ignored": ignored,
    })))
}

fn warn_unreadable(event: &DebuggerEvent) {
    if let crate::event::PayloadState::Unreadable { reason, .. } = &event.payload {
        tracing::warn!(sid = %event.sid, reason = %reason, "payload unreadable; the alert goes out with the raw text");
    }
}

/// `{"status":"accepted"|"duplicate","sid":…}`, written directly: a Sid is two
/// letters and hex digits, nothing to escape, and this is the hot path.
fn ok_body(sid: &crate::event::Sid, accepted: Accepted) -> HttpResponse {
    let status = match accepted {
        Accepted::New => "accepted",
        Accepted::Duplicate => "duplicate",
    };
    HttpResponse::Ok()
        .content_type("application/json")
        .body(format!(r#"{{"status":"{status}","sid":"{sid}"}}"#))
}

/// The URL Twilio signed: `public_url` (for this path) with this request's query
/// string, or, when not configured, the URL as seen through proxies
/// (`Forwarded`/`X-Forwarded-*`).
fn signing_url(req: &HttpRequest, public_url: Option<&str>) -> String {
    match public_url {
        Some(u) => request_url(u, req.query_string()).into_owned(),
        None => {
            let info = req.connection_info();
            format!(
                "{}://{}{}",
                info.scheme(),
                info.host(),
                req.uri()
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::events_url;

    #[test]
    fn the_event_streams_url_replaces_the_path() {
        let e = |u: &str| events_url(u, "/twilio/debugger", "/twilio/events");
        assert_eq!(
            e("https://alerts.example.com/twilio/debugger"),
            "https://alerts.example.com/twilio/events"
        );
        assert_eq!(
            e("https://h.example:8443/alerts/twilio/debugger?team=a"),
            "https://h.example:8443/alerts/twilio/events?team=a"
        );
        assert_eq!(
            e("https://h.example/hook"),
            "https://h.example/twilio/events"
        );
        assert_eq!(e("https://h.example"), "https://h.example/twilio/events");
        assert_eq!(
            e("https://h.example?x=1"),
            "https://h.example/twilio/events?x=1"
        );
        assert_eq!(e("not a url"), "not a url");
    }
}
