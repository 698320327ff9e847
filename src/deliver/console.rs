//! The console channel: writes rendered alerts to stdout or appends them to a file.
//! On by default in the shipped config so a newcomer sees alerts with no accounts.

use super::channel::{Attempt, Channel, ChannelConfig, SendFuture};
use super::Delivery;
use crate::config::{ConsoleChannel, Throttle};
use crate::kinds::KindInfo;
use crate::render::{Kind, Payload};
use secrecy::SecretString;
use tokio::io::AsyncWriteExt;

impl ChannelConfig for ConsoleChannel {
    fn kind(&self) -> &'static KindInfo {
        KindInfo::of(Kind::Console)
    }
    fn throttle(&self) -> Throttle {
        crate::throttle_of!(self)
    }
    fn secrets(&self) -> Vec<&SecretString> {
        vec![]
    }
    fn validate(&self, name: &str) -> Vec<String> {
        match Kind::parse(&self.format) {
            Some(_) => vec![],
            None => vec![format!(
                "channels.{name}.format: {:?} is not a template kind (console, slack, teams, ...)",
                self.format
            )],
        }
    }
    fn build(&self, _name: &str, _http: &reqwest::Client) -> Result<Box<dyn Channel>, String> {
        Ok(Box::new(Console {
            target: self.target.clone(),
        }))
    }
    /// `format` previews any kind's payload.
    fn render_kind(&self) -> Kind {
        Kind::parse(&self.format).unwrap_or(Kind::Console)
    }
}

#[derive(Debug)]
pub struct Console {
    target: String,
}

impl Channel for Console {
    fn send<'a>(&'a self, a: Attempt<'a>) -> SendFuture<'a> {
        Box::pin(self.write(a))
    }
}

impl Console {
    async fn write(&self, a: Attempt<'_>) -> Delivery {
        let mut text = match &a.rendered.payload {
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
                // Flushed, so `Sent` means the text reached the file.
                Ok(mut f) => match f.write_all(text.as_bytes()).await {
                    Ok(()) => f.flush().await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            }
        };
        match result {
            Ok(()) => Delivery::sent(),
            Err(e) => Delivery::retry(format!("writing to {}: {e}", self.target)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deliver::scrub::Scrubber;
    use crate::render::sample_notifications;

    #[tokio::test]
    async fn a_write_error_is_retried_and_a_write_is_sent() {
        let (_, n) = sample_notifications().into_iter().next().expect("a sample");
        let rendered = crate::render::Rendered {
            payload: Payload::Text("hello".into()),
            fallback: None,
            truncated: false,
        };
        let scrub = Scrubber::default();
        let attempt = Attempt {
            notification: &n,
            rendered: &rendered,
            plain: &rendered.payload,
            parent_view: None,
            scrub: &scrub,
            pacer: None,
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("out.log");
        let ok = Console {
            target: file.display().to_string(),
        };
        assert_eq!(ok.send(attempt).await, Delivery::sent());
        assert_eq!(
            std::fs::read_to_string(&file).ok().as_deref(),
            Some("hello\n\n")
        );
        let bad = Console {
            target: dir.path().join("missing/dir/x.log").display().to_string(),
        };
        assert!(matches!(bad.send(attempt).await, Delivery::Retry { .. }));
    }
}
