//! The console channel: writes rendered alerts to stdout or appends them to a file.
//! On by default in the shipped config so a newcomer sees alerts with no accounts.

use super::Outcome;
use crate::config::ConsoleChannel;
use crate::notification::Notification;
use crate::render::{Kind, Payload, Rendered};
use tokio::io::AsyncWriteExt;

#[derive(Debug)]
pub struct Console {
    target: String,
    kind: Kind,
}

impl Console {
    pub fn new(c: &ConsoleChannel) -> Console {
        Console {
            target: c.target.clone(),
            kind: Kind::parse(&c.format).unwrap_or(Kind::Console),
        }
    }

    pub fn render_kind(&self) -> Kind {
        self.kind
    }

    pub async fn send(&self, _n: &Notification, rendered: &Rendered) -> Outcome {
        let mut text = match &rendered.payload {
            Payload::Text(t) => t.clone(),
            Payload::Json(v) => serde_json::to_string_pretty(v).unwrap_or_default(),
            Payload::Email { subject, text, .. } => format!("Subject: {subject}\n\n{text}"),
        };
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push('\n');
        let result = if self.target == "stdout" {
            let mut out = tokio::io::stdout();
            match out.write_all(text.as_bytes()).await {
                Ok(()) => out.flush().await,
                Err(e) => Err(e),
            }
        } else {
            match tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.target)
                .await
            {
                Ok(mut f) => f.write_all(text.as_bytes()).await,
                Err(e) => Err(e),
            }
        };
        match result {
            Ok(()) => Outcome::Success,
            Err(e) => Outcome::Retry {
                reason: format!("writing to {}: {e}", self.target),
                retry_after: None,
            },
        }
    }
}
