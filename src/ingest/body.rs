//! Reading a request body within bounds: its type, its size (`server.max_body_bytes`,
//! checked against the declared length and against what arrives) and its deadline
//! (`server.body_timeout`). Memory follows what has arrived, never the declared length.

use super::decode::DecodeError;
use super::error::IngestError;
use super::verify::BodyKind;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use std::time::Duration;

pub fn body_kind(req: &HttpRequest) -> Result<BodyKind, IngestError> {
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

/// The whole body, or `TooLarge`, or `BodyTimeout` when it has not all arrived
/// within `timeout` of the handler starting (a slow or stalled sender).
pub async fn read_body(
    req: &HttpRequest,
    payload: &mut web::Payload,
    max: usize,
    timeout: Duration,
) -> Result<web::Bytes, IngestError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(IngestError::TooLarge(max));
    }
    tokio::time::timeout(timeout, collect(payload, max))
        .await
        .unwrap_or(Err(IngestError::BodyTimeout(timeout)))
}

async fn collect(payload: &mut web::Payload, max: usize) -> Result<web::Bytes, IngestError> {
    let mut body = web::BytesMut::new();
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
    Ok(body.freeze())
}
