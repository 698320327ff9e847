//! `POST {server.path}`: size and type checks, signature, decode, durable store,
//! answer (SPEC 2). Every input gets a 2xx/4xx/503 with a JSON body; never a 500.

use super::decode::{self, DecodeError};
use super::signature::{request_url, SignatureError, Verifier};
use crate::clock::SharedClock;
use crate::dispatch::{Accepted, Dispatcher};
use crate::telemetry::Metrics;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use futures_util::StreamExt;
use serde_json::json;
use std::sync::Arc;

/// What the handler needs, shared by all HTTP workers.
#[derive(Clone)]
pub struct IngestState {
    /// `None` when `verify_signature = false`.
    pub verifier: Option<Verifier>,
    pub public_url: Option<String>,
    pub max_body_bytes: usize,
    pub dispatcher: Dispatcher,
    pub clock: SharedClock,
    pub metrics: Arc<Metrics>,
    /// Registered once: the per-request one is on the hot path.
    pub latency: metrics::Histogram,
}

impl IngestState {
    pub fn new(
        verifier: Option<Verifier>,
        public_url: Option<String>,
        max_body_bytes: usize,
        dispatcher: Dispatcher,
        clock: SharedClock,
        metrics: Arc<Metrics>,
    ) -> IngestState {
        IngestState {
            latency: metrics.histogram("twilert_ingest_seconds", &[]),
            verifier,
            public_url,
            max_body_bytes,
            dispatcher,
            clock,
            metrics,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{0}")]
    BadRequest(DecodeError),
    #[error("{0}")]
    Signature(SignatureError),
    #[error("body is larger than server.max_body_bytes ({0} bytes)")]
    TooLarge(usize),
    #[error("unsupported Content-Type {0:?}; send application/x-www-form-urlencoded (as Twilio does) or application/json")]
    UnsupportedType(String),
    #[error("the event could not be stored; retry later")]
    Unavailable,
}

impl IngestError {
    /// Every [`IngestError::reason`], for `twilert_events_rejected_total{reason}`.
    pub const REASONS: [&'static str; 5] = [
        "bad_request",
        "bad_signature",
        "too_large",
        "unsupported_type",
        "store_unavailable",
    ];

    fn reason(&self) -> &'static str {
        match self {
            IngestError::BadRequest(_) => "bad_request",
            IngestError::Signature(_) => "bad_signature",
            IngestError::TooLarge(_) => "too_large",
            IngestError::UnsupportedType(_) => "unsupported_type",
            IngestError::Unavailable => "store_unavailable",
        }
    }
}

impl ResponseError for IngestError {
    fn status_code(&self) -> StatusCode {
        match self {
            IngestError::BadRequest(_) => StatusCode::BAD_REQUEST,
            IngestError::Signature(_) => StatusCode::FORBIDDEN,
            IngestError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::UnsupportedType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IngestError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({ "error": self.to_string() });
        match self {
            IngestError::BadRequest(e) => body["field"] = json!(e.field()),
            IngestError::Signature(_) => body["field"] = json!("X-Twilio-Signature"),
            IngestError::UnsupportedType(_) => body["field"] = json!("Content-Type"),
            _ => {}
        }
        let mut resp = HttpResponse::build(self.status_code());
        if matches!(self, IngestError::Unavailable) {
            resp.insert_header(("Retry-After", "5"));
        }
        resp.json(body)
    }
}

enum BodyKind {
    Form,
    Json,
}

pub async fn debugger(
    req: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<IngestState>,
) -> Result<HttpResponse, IngestError> {
    let started = std::time::Instant::now();
    let result = handle(&req, &mut payload, &state).await;
    match &result {
        Ok(_) => state.latency.record(started.elapsed().as_secs_f64()),
        Err(e) => {
            state.metrics.count_rejected(e.reason());
            tracing::warn!(status = e.status_code().as_u16(), reason = e.reason(), error = %e, "event rejected");
        }
    }
    result
}

async fn handle(
    req: &HttpRequest,
    payload: &mut web::Payload,
    state: &IngestState,
) -> Result<HttpResponse, IngestError> {
    let kind = body_kind(req)?;
    let body = read_body(req, payload, state.max_body_bytes).await?;
    let header = req
        .headers()
        .get("X-Twilio-Signature")
        .and_then(|v| v.to_str().ok());
    let url = signing_url(req, state);
    let now = state.clock.now_ms();
    let event = match kind {
        BodyKind::Form => match decode::decode_form(&body, now) {
            Ok((event, pairs)) => {
                if let Some(v) = &state.verifier {
                    v.verify_form(header, &url, &pairs)
                        .map_err(IngestError::Signature)?;
                }
                event
            }
            Err(e) => {
                // An unsigned request is refused as such, whatever its body holds.
                if let Some(v) = &state.verifier {
                    let pairs: Vec<(String, String)> =
                        serde_urlencoded::from_bytes(&body).unwrap_or_default();
                    v.verify_form(header, &url, &pairs)
                        .map_err(IngestError::Signature)?;
                }
                return Err(IngestError::BadRequest(e));
            }
        },
        BodyKind::Json => {
            if let Some(v) = &state.verifier {
                v.verify_json(header, &url, &body)
                    .map_err(IngestError::Signature)?;
            }
            decode::decode_json(&body, now).map_err(IngestError::BadRequest)?
        }
    };
    let sid = event.sid.clone();
    if let crate::event::PayloadState::Unreadable { reason, .. } = &event.payload {
        tracing::warn!(sid = %sid, reason = %reason, "payload unreadable; the alert goes out with the raw text");
    }
    match state.dispatcher.ingest(event).await {
        Ok(accepted) => Ok(ok_body(&sid, accepted)),
        Err(e) => {
            tracing::error!(sid = %sid, error = %e, "event not stored; answering 503 so Twilio retries");
            Err(IngestError::Unavailable)
        }
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

fn body_kind(req: &HttpRequest) -> Result<BodyKind, IngestError> {
    let ct = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => Ok(BodyKind::Form),
        "application/json" => Ok(BodyKind::Json),
        _ => Err(IngestError::UnsupportedType(ct.chars().take(100).collect())),
    }
}

async fn read_body(
    req: &HttpRequest,
    payload: &mut web::Payload,
    max: usize,
) -> Result<web::BytesMut, IngestError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(IngestError::TooLarge(max));
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(1024).min(max));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            IngestError::BadRequest(DecodeError::Body(
                "the request body could not be read".into(),
            ))
        })?;
        if body.len() + chunk.len() > max {
            return Err(IngestError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The URL Twilio signed: `twilio.public_url` with this request's query string, or,
/// when not configured, the URL as seen through proxies (`Forwarded`/`X-Forwarded-*`).
fn signing_url(req: &HttpRequest, state: &IngestState) -> String {
    match &state.public_url {
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
