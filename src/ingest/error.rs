//! Every way a request is refused, mapped to its status in one place (SPEC 2).

use super::decode::DecodeError;
use super::signature::SignatureError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{0}")]
    BadRequest(DecodeError),
    #[error("{0}")]
    Signature(SignatureError),
    #[error("body is larger than server.max_body_bytes ({0} bytes)")]
    TooLarge(usize),
    #[error("the body did not arrive within server.body_timeout ({}ms)", .0.as_millis())]
    BodyTimeout(Duration),
    #[error("unsupported Content-Type {0:?}; send application/x-www-form-urlencoded (as Twilio does) or application/json")]
    UnsupportedType(String),
    #[error("the event could not be stored; retry later")]
    Unavailable,
}

impl IngestError {
    /// Every [`IngestError::reason`], for `twilert_events_rejected_total{reason}`.
    pub const REASONS: [&'static str; 6] = [
        "bad_request",
        "bad_signature",
        "too_large",
        "body_timeout",
        "unsupported_type",
        "store_unavailable",
    ];

    pub(super) fn reason(&self) -> &'static str {
        match self {
            IngestError::BadRequest(_) => "bad_request",
            IngestError::Signature(_) => "bad_signature",
            IngestError::TooLarge(_) => "too_large",
            IngestError::BodyTimeout(_) => "body_timeout",
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
            IngestError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            IngestError::UnsupportedType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IngestError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({ "error": self.to_string() });
        match self {
            IngestError::BadRequest(e) => body["field"] = json!(e.field()),
            IngestError::Signature(e) => body["field"] = json!(e.field()),
            IngestError::UnsupportedType(_) => body["field"] = json!("Content-Type"),
            _ => {}
        }
        let mut resp = HttpResponse::build(self.status_code());
        match self {
            IngestError::Unavailable => {
                resp.insert_header(("Retry-After", "5"));
            }
            // The rest of the body may never come: do not wait for it on this connection.
            IngestError::BodyTimeout(_) | IngestError::TooLarge(_) => {
                resp.force_close();
            }
            _ => {}
        }
        resp.json(body)
    }
}
