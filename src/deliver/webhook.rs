//! Generic webhook: a JSON POST of the event, route and digest (the `webhook`
//! template, or the route's own) to `url`, with optional `headers` (SPEC 6).
//! 2xx success; 429, 5xx, network: retry; other 4xx permanent.

use super::channel::{check_url, json_of, Attempt, Channel, ChannelConfig, SendFuture};
use super::http::{classify, post_json};
use super::Delivery;
use crate::config::{Throttle, WebhookChannel};
use crate::kinds::KindInfo;
use crate::render::Kind;
use secrecy::{ExposeSecret, SecretString};

impl ChannelConfig for WebhookChannel {
    fn kind(&self) -> &'static KindInfo {
        KindInfo::of(Kind::Webhook)
    }
    fn throttle(&self) -> Throttle {
        crate::throttle_of!(self)
    }
    /// The URL first (it switches the channel), then the header values (tokens).
    fn secrets(&self) -> Vec<&SecretString> {
        std::iter::once(&self.url)
            .chain(self.headers.values())
            .collect()
    }
    fn validate(&self, name: &str) -> Vec<String> {
        check_url(name, "url", self.url.expose_secret())
            .into_iter()
            .chain(check_headers(name, self))
            .collect()
    }
    /// Fails when a header name or value is not valid HTTP (names the header, hides the value).
    fn build(&self, name: &str, http: &reqwest::Client) -> Result<Box<dyn Channel>, String> {
        let errors = check_headers(name, self);
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        Ok(Box::new(Webhook {
            url: self.url.clone(),
            headers: self
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            http: http.clone(),
        }))
    }
}

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

impl Channel for Webhook {
    fn send<'a>(&'a self, a: Attempt<'a>) -> SendFuture<'a> {
        Box::pin(self.post(a))
    }
}

impl Webhook {
    /// A receiver may echo the request (headers included) in its error body; the
    /// answer is scrubbed of them by `Sender::send`.
    async fn post(&self, a: Attempt<'_>) -> Delivery {
        let Some(body) = json_of(&a.rendered.payload).or_else(|| json_of(a.plain)) else {
            return Delivery::permanent("no JSON to send (renderer produced none)");
        };
        let headers: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.expose_secret().to_string()))
            .collect();
        match post_json(&self.http, self.url.expose_secret(), body, &headers).await {
            Ok(a) => classify(&a),
            Err(d) => d,
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deliver::http::Answer;

    #[test]
    fn classification() {
        let a = |status| Answer {
            status,
            retry_after: None,
            body: "echo".into(),
        };
        assert_eq!(classify(&a(204)), Delivery::sent());
        assert!(matches!(classify(&a(429)), Delivery::Retry { .. }));
        assert!(matches!(classify(&a(502)), Delivery::Retry { .. }));
        assert!(matches!(classify(&a(404)), Delivery::Broken { .. }));
        assert_eq!(classify(&a(401)), Delivery::permanent("HTTP 401: echo"));
    }

    #[test]
    fn header_checks_hide_values() {
        let c = channel(&[("Bad Name", "ok"), ("X-Token", "line1\nline2")]);
        let errors = check_headers("hook", &c);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors.iter().all(|e| !e.contains("line1")), "{errors:?}");
        assert_eq!(c.validate("hook").len(), 2);
        let good = channel(&[("Authorization", "Bearer abc")]);
        assert!(check_headers("hook", &good).is_empty());
        let w = good.build("hook", &reqwest::Client::new()).expect("builds");
        let dbg = format!("{w:?}");
        assert!(
            !dbg.contains("abc") && !dbg.contains("example.com"),
            "{dbg}"
        );
        assert!(c.build("hook", &reqwest::Client::new()).is_err());
        assert_eq!(good.secrets().len(), 2, "the URL and the header value");
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
            notify_resolved: None,
        }
    }
}
