//! Microsoft Teams through a Workflows (Power Automate) webhook: an Adaptive Card
//! 1.4 in a `message` attachment (SPEC 6). 200/202 success; 429, 5xx, network:
//! retry; other 4xx permanent (404/410: the workflow is gone, channel broken).

use super::channel::{check_url, json_of, Attempt, Channel, ChannelConfig, SendFuture};
use super::http::{classify, post_json, Answer};
use super::Delivery;
use crate::config::{TeamsChannel, Throttle};
use crate::kinds::KindInfo;
use crate::render::Kind;
use secrecy::{ExposeSecret, SecretString};

impl ChannelConfig for TeamsChannel {
    fn kind(&self) -> &'static KindInfo {
        KindInfo::of(Kind::Teams)
    }
    fn throttle(&self) -> Throttle {
        crate::throttle_of!(self)
    }
    fn secrets(&self) -> Vec<&SecretString> {
        vec![&self.url]
    }
    fn validate(&self, name: &str) -> Vec<String> {
        check_url(name, "url", self.url.expose_secret())
            .into_iter()
            .collect()
    }
    fn build(&self, _name: &str, http: &reqwest::Client) -> Result<Box<dyn Channel>, String> {
        Ok(Box::new(Teams {
            url: self.url.clone(),
            http: http.clone(),
        }))
    }
}

pub struct Teams {
    url: SecretString,
    http: reqwest::Client,
}

impl std::fmt::Debug for Teams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Teams { url: [hidden] }")
    }
}

impl Channel for Teams {
    fn send<'a>(&'a self, a: Attempt<'a>) -> SendFuture<'a> {
        Box::pin(self.post(a))
    }
}

impl Teams {
    /// Posts the rendered card (the built-in plain card if the rendered payload
    /// is not JSON, which only a renderer bug could cause).
    async fn post(&self, a: Attempt<'_>) -> Delivery {
        let Some(body) = json_of(&a.rendered.payload).or_else(|| json_of(a.plain)) else {
            return Delivery::permanent("no Teams card to send (renderer produced no JSON)");
        };
        match post_json(&self.http, self.url.expose_secret(), body, &[]).await {
            Ok(a) => classify_teams(&a),
            Err(d) => d,
        }
    }
}

/// The generic classification, plus the retired Office 365 connectors' habit of
/// answering 200 with the real error in the body ("Microsoft Teams endpoint
/// returned HTTP error 429"), still seen behind some proxies.
fn classify_teams(a: &Answer) -> Delivery {
    let failed_in_body = (200..300).contains(&a.status)
        && a.body
            .starts_with("Webhook message delivery failed with error");
    if !failed_in_body {
        return classify(a);
    }
    if a.body.contains("HTTP error 429") {
        Delivery::Retry {
            reason: format!("HTTP {} (rate limited): {}", a.status, a.body),
            after: a.retry_after,
        }
    } else {
        Delivery::permanent(format!("HTTP {}: {}", a.status, a.body))
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
        assert_eq!(classify_teams(&answer(200, "")), Delivery::sent());
        assert_eq!(classify_teams(&answer(202, "")), Delivery::sent());
        assert!(matches!(
            classify_teams(&answer(429, "")),
            Delivery::Retry { .. }
        ));
        assert!(matches!(
            classify_teams(&answer(502, "")),
            Delivery::Retry { .. }
        ));
        assert!(matches!(
            classify_teams(&answer(400, "bad card")),
            Delivery::Permanent { .. }
        ));
        assert!(matches!(
            classify_teams(&answer(404, "")),
            Delivery::Broken { .. }
        ));
    }

    #[test]
    fn legacy_error_in_a_200_body() {
        let throttled = "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0";
        assert!(matches!(
            classify_teams(&answer(200, throttled)),
            Delivery::Retry { .. }
        ));
        let bad = "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 400";
        assert!(matches!(
            classify_teams(&answer(200, bad)),
            Delivery::Permanent { .. }
        ));
    }
}
