//! The console (`/ui/`) and the JSON API (`/api/v1/`) on the admin listener (SPEC 15):
//! read views over the store, plus the few actions an on-call engineer takes
//! (retry dead letters, test a route). Server-rendered HTML that works without
//! JavaScript; every piece of event text goes through [`html::esc`].

mod api;
mod chart;
mod events;
mod health;
mod html;
mod pages;
mod query;
pub mod session;
pub mod silences;
mod silences_page;
mod tester;

use crate::config::StoreSettings;
use crate::store::{StoreError, Views};
use actix_web::{web, HttpResponse};
use serde_json::json;
use std::sync::{Arc, Mutex};

pub use session::Sessions;

/// Read connections for the console and API, opened on demand and reused (WAL:
/// reads never block the writer).
#[derive(Clone)]
pub struct ReadPool {
    store: Arc<StoreSettings>,
    idle: Arc<Mutex<Vec<Box<dyn Views>>>>,
}

/// Readers kept open between requests.
const IDLE_READERS: usize = 4;

impl ReadPool {
    pub fn new(store: StoreSettings) -> ReadPool {
        ReadPool {
            store: Arc::new(store),
            idle: Arc::default(),
        }
    }

    /// Runs `f` on a read connection off the async runtime.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Views) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ViewError> {
        let views = self.clone();
        tokio::task::spawn_blocking(move || {
            let reader = match views.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
                Some(r) => r,
                None => crate::store::open_views(&views.store)?,
            };
            let out = f(&*reader);
            let mut idle = views.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < IDLE_READERS {
                idle.push(reader);
            }
            out
        })
        .await
        .map_err(|_| ViewError::Store("the read was interrupted".into()))?
        .map_err(|e| ViewError::Store(e.to_string()))
    }
}

/// Why a console or API request failed.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// A bad query parameter or form field (400, naming it; once, when the message
    /// starts with it, as `error_codes[1]: ...` does).
    #[error("{}", if message.starts_with(field) { message.clone() } else { format!("{field}: {message}") })]
    Field {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("store: {0}")]
    Store(String),
}

impl ViewError {
    pub fn field(field: &'static str, message: impl Into<String>) -> ViewError {
        ViewError::Field {
            field,
            message: message.into(),
        }
    }

    fn status(&self) -> actix_web::http::StatusCode {
        use actix_web::http::StatusCode;
        match self {
            ViewError::Field { .. } => StatusCode::BAD_REQUEST,
            ViewError::NotFound(_) => StatusCode::NOT_FOUND,
            ViewError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The API's answer: `{"error": ..., "field": ...}`.
    pub fn json(&self) -> HttpResponse {
        let field = match self {
            ViewError::Field { field, .. } => Some(*field),
            _ => None,
        };
        HttpResponse::build(self.status())
            .json(json!({ "error": self.to_string(), "field": field }))
    }
}

/// Registers `/api/v1/*` and `/ui/*` (the admin listener's token check wraps both).
pub fn routes(cfg: &mut web::ServiceConfig) {
    api::routes(cfg);
    pages::routes(cfg);
    silences::routes(cfg);
    tester::routes(cfg);
    session::routes(cfg);
}
