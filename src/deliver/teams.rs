//! Microsoft Teams through a Workflows (Power Automate) webhook: an Adaptive Card
//! 1.4 in a `message` attachment (SPEC 6). 200/202 success; 429, 5xx, network:
//! retry; other 4xx permanent (404/410: the workflow is gone, channel broken).

use super::http::{classify, post_json, Answer};
use super::Outcome;
use crate::config::TeamsChannel;
use crate::render::{Payload, Rendered};
use secrecy::{ExposeSecret, SecretString};

pub struct Teams {
    url: SecretString,
    http: reqwest::Client,
}

impl std::fmt::Debug for Teams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Teams { url: [hidden] }")
    }
}

impl Teams {
    pub fn new(c: &TeamsChannel, http: reqwest::Client) -> Teams {
        Teams {
            url: c.url.clone(),
            http,
        }
    }

    /// Posts the rendered card (the built-in plain card if the rendered payload
    /// is not JSON, which only a renderer bug could cause).
    pub async fn send(&self, rendered: &Rendered, plain: &Payload) -> Outcome {
        let Some(body) = json_of(&rendered.payload).or_else(|| json_of(plain)) else {
            return Outcome::Permanent {
                reason: "no Teams card to send (renderer produced no JSON)".into(),
                broken: false,
            };
        };
        match post_json(&self.http, self.url.expose_secret(), body, &[]).await {
            Ok(a) => classify_teams(&a),
            Err(o) => o,
        }
    }
}

pub(super) fn json_of(p: &Payload) -> Option<&serde_json::Value> {
    match p {
        Payload::Json(v) => Some(v),
        _ => None,
    }
}

/// The generic classification, plus the retired Office 365 connectors' habit of
/// answering 200 with the real error in the body ("Microsoft Teams endpoint
/// returned HTTP error 429"), still seen behind some proxies.
fn classify_teams(a: &Answer) -> Outcome {
    let failed_in_body = (200..300).contains(&a.status)
        && a.body
            .starts_with("Webhook message delivery failed with error");
    if !failed_in_body {
        return classify(a);
    }
    if a.body.contains("HTTP error 429") {
        Outcome::Retry {
            reason: format!("HTTP {} (rate limited): {}", a.status, a.body),
            retry_after: a.retry_after,
        }
    } else {
        Outcome::Permanent {
            reason: format!("HTTP {}: {}", a.status, a.body),
            broken: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            retry_after: None,
            body: body.into(),
        }
    }

    #[test]
    fn success_and_failures() {
        assert_eq!(classify_teams(&answer(200, "")), Outcome::Success);
        assert_eq!(classify_teams(&answer(202, "")), Outcome::Success);
        assert!(matches!(
            classify_teams(&answer(429, "")),
            Outcome::Retry { .. }
        ));
        assert!(matches!(
            classify_teams(&answer(502, "")),
            Outcome::Retry { .. }
        ));
        assert!(matches!(
            classify_teams(&answer(400, "bad card")),
            Outcome::Permanent { broken: false, .. }
        ));
        assert!(matches!(
            classify_teams(&answer(404, "")),
            Outcome::Permanent { broken: true, .. }
        ));
    }

    #[test]
    fn legacy_error_in_a_200_body() {
        let throttled = "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0";
        assert!(matches!(
            classify_teams(&answer(200, throttled)),
            Outcome::Retry { .. }
        ));
        let bad = "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 400";
        assert!(matches!(
            classify_teams(&answer(200, bad)),
            Outcome::Permanent { .. }
        ));
    }
}
