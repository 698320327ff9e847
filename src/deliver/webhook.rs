//! Generic webhook: a JSON POST of the event, route and digest (the `webhook`
//! template, or the route's own) to `url`, with optional `headers` (SPEC 6).
//! 2xx success; 429, 5xx, network: retry; other 4xx permanent.

use super::http::{classify, post_json};
use super::teams::json_of;
use super::Outcome;
use crate::config::WebhookChannel;
use crate::render::{Payload, Rendered};
use secrecy::{ExposeSecret, SecretString};

pub struct Webhook {
    url: SecretString,
    /// Names as configured; values are secrets (tokens, API keys).
    headers: Vec<(String, SecretString)>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        write!(
            f,
            "Webhook {{ url: [hidden], headers: {names:?} (values hidden) }}"
        )
    }
}

impl Webhook {
    /// Fails when a header name or value is not valid HTTP (names the header, hides the value).
    pub fn new(name: &str, c: &WebhookChannel, http: reqwest::Client) -> Result<Webhook, String> {
        let errors = check_headers(name, c);
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        Ok(Webhook {
            url: c.url.clone(),
            headers: c
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            http,
        })
    }

    pub async fn send(&self, rendered: &Rendered, plain: &Payload) -> Outcome {
        let Some(body) = json_of(&rendered.payload).or_else(|| json_of(plain)) else {
            return Outcome::Permanent {
                reason: "no JSON to send (renderer produced none)".into(),
                broken: false,
            };
        };
        let headers: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.expose_secret().to_string()))
            .collect();
        let outcome = match post_json(&self.http, self.url.expose_secret(), body, &headers).await {
            Ok(a) => classify(&a),
            Err(o) => o,
        };
        // A receiver may echo the request (headers included) in its error body.
        let secrets: Vec<&str> = self
            .headers
            .iter()
            .map(|(_, v)| v.expose_secret())
            .collect();
        redact_outcome(outcome, &secrets)
    }
}

/// `headers` names and values are valid HTTP; errors name the key, never the value.
pub fn check_headers(name: &str, c: &WebhookChannel) -> Vec<String> {
    let mut errors = vec![];
    for (k, v) in &c.headers {
        if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
            errors.push(format!(
                "channels.{name}.headers: {k:?} is not a valid HTTP header name"
            ));
        }
        if reqwest::header::HeaderValue::from_str(v.expose_secret()).is_err() {
            errors.push(format!(
                "channels.{name}.headers.{k}: not a valid HTTP header value (control characters or non-ASCII; value hidden)"
            ));
        }
    }
    errors
}

/// Replaces every occurrence of a (non-trivial) secret in `text` with `[hidden]`.
pub(super) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        let s = s.trim();
        if s.len() >= 4 {
            out = out.replace(s, "[hidden]");
        }
    }
    out
}

pub(super) fn redact_outcome(o: Outcome, secrets: &[&str]) -> Outcome {
    match o {
        Outcome::Success => Outcome::Success,
        Outcome::Retry {
            reason,
            retry_after,
        } => Outcome::Retry {
            reason: redact(&reason, secrets),
            retry_after,
        },
        Outcome::Permanent { reason, broken } => Outcome::Permanent {
            reason: redact(&reason, secrets),
            broken,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_secrets_in_reasons() {
        let o = Outcome::Permanent {
            reason: "HTTP 401: bad token Bearer s3cr3t-token".into(),
            broken: false,
        };
        assert_eq!(
            redact_outcome(o, &["s3cr3t-token", ""]),
            Outcome::Permanent {
                reason: "HTTP 401: bad token Bearer [hidden]".into(),
                broken: false
            }
        );
    }

    #[test]
    fn header_checks_hide_values() {
        let c = channel(&[("Bad Name", "ok"), ("X-Token", "line1\nline2")]);
        let errors = check_headers("hook", &c);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors.iter().all(|e| !e.contains("line1")), "{errors:?}");
        let good = channel(&[("Authorization", "Bearer abc")]);
        assert!(check_headers("hook", &good).is_empty());
        let w = Webhook::new("hook", &good, reqwest::Client::new()).expect("builds");
        let dbg = format!("{w:?}");
        assert!(
            !dbg.contains("abc") && !dbg.contains("example.com"),
            "{dbg}"
        );
        assert!(Webhook::new("hook", &c, reqwest::Client::new()).is_err());
    }

    fn channel(headers: &[(&str, &str)]) -> WebhookChannel {
        WebhookChannel {
            url: SecretString::from("https://example.com/hook"),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), SecretString::from(*v)))
                .collect(),
            rate_limit: None,
            burst: None,
            max_pending: None,
        }
    }
}
