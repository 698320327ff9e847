//! Shared HTTP plumbing for webhook-style channels: POST JSON, read the answer,
//! classify it. Error texts never carry the URL (it is a secret).

use super::Delivery;
use std::time::Duration;

/// What came back from a POST.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    /// The first bytes of the body, for error messages.
    pub body: String,
}

pub async fn post_json(
    http: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
    headers: &[(String, String)],
) -> Result<Answer, Delivery> {
    let mut req = http.post(url).json(body);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let resp = req.send().await.map_err(network_error)?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let text = resp.text().await.unwrap_or_default();
    Ok(Answer {
        status,
        retry_after,
        body: snippet(&text),
    })
}

/// A transport failure: always retryable, described without the URL.
pub fn network_error(e: reqwest::Error) -> Delivery {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "network error"
    };
    Delivery::retry(format!("{kind}: {}", e.without_url()))
}

/// `Retry-After` as seconds or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(86400.0 * 7.0)));
    }
    let when = httpdate_parse(v)?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

fn httpdate_parse(v: &str) -> Option<std::time::SystemTime> {
    humantime::parse_rfc3339_weak(v).ok().or_else(|| {
        // IMF-fixdate, e.g. "Wed, 21 Oct 2015 07:28:00 GMT".
        let parts: Vec<&str> = v.split_whitespace().collect();
        if parts.len() != 6 {
            return None;
        }
        let month = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ]
        .iter()
        .position(|m| *m == parts[2])?
            + 1;
        let s = format!("{}-{:02}-{:0>2}T{}Z", parts[3], month, parts[1], parts[4]);
        humantime::parse_rfc3339(&s).ok()
    })
}

/// The generic webhook classification (SPEC 6: teams, webhook, discord):
/// 2xx success; 429 and 5xx retry; 404/410 (the endpoint is gone) broken; other
/// 4xx permanent.
pub fn classify(a: &Answer) -> Delivery {
    match a.status {
        200..=299 => Delivery::sent(),
        429 => Delivery::Retry {
            reason: format!("HTTP 429 rate limited: {}", a.body),
            after: a.retry_after,
        },
        500..=599 => Delivery::Retry {
            reason: format!("HTTP {}: {}", a.status, a.body),
            after: a.retry_after,
        },
        s @ (404 | 410) => Delivery::Broken {
            reason: format!("HTTP {s}: {}", a.body),
        },
        s => Delivery::permanent(format!("HTTP {s}: {}", a.body)),
    }
}

/// At most 300 chars of a response body, on one line.
pub fn snippet(s: &str) -> String {
    let one_line: String = s
        .chars()
        .take(300)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    one_line.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-3"), None);
    }

    #[test]
    fn classification() {
        let a = |status| Answer {
            status,
            retry_after: None,
            body: String::new(),
        };
        assert_eq!(classify(&a(202)), Delivery::sent());
        assert!(matches!(classify(&a(429)), Delivery::Retry { .. }));
        assert!(matches!(classify(&a(503)), Delivery::Retry { .. }));
        assert!(matches!(classify(&a(404)), Delivery::Broken { .. }));
        assert!(matches!(classify(&a(410)), Delivery::Broken { .. }));
        assert!(matches!(classify(&a(400)), Delivery::Permanent { .. }));
    }
}
