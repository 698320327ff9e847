//! The compact pieces the shipped templates are made of (SPEC 5 "the product's
//! face"): the one-line what/where, short Sids, useful `more_info` fields, the
//! top bullets of causes/solutions and a digest's headline. Pure functions of
//! the event, computed once per render so every channel says the same.

use serde::Serialize;
use serde_json::Value;

use super::helpers::cut;
use crate::event::Webhook;

/// Bullets of causes/solutions shown before "more in docs".
pub(crate) const TOP_BULLETS: usize = 3;
/// Characters of a bullet.
const BULLET_CHARS: usize = 160;
/// PagerDuty's summary limit is 1024; a pager screen shows about this much.
pub(crate) const ONE_LINE: usize = 120;

/// `CA…0002`: a Sid's prefix and last four characters; other text cut to 24.
pub(crate) fn short_sid(s: &str) -> String {
    let n = s.chars().count();
    let looks_like_sid = n == 34
        && s.chars().take(2).all(|c| c.is_ascii_uppercase())
        && s.chars().skip(2).all(|c| c.is_ascii_hexdigit());
    if looks_like_sid {
        format!("{}…{}", &s[..2], &s[30..])
    } else {
        cut(s, 24)
    }
}

/// "Programmable Voice" → "Voice", for the one-line summary.
pub(crate) fn short_product(p: &str) -> &str {
    p.strip_prefix("Programmable ").unwrap_or(p)
}

/// The failing request, for the what/where line.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Request {
    pub method: Option<String>,
    /// `voice.example.com/answer`: host and path, no scheme or query.
    pub target: Option<String>,
    pub status: Option<u16>,
}

impl Request {
    pub(crate) fn of(w: Option<&Webhook>) -> Option<Request> {
        let w = w?;
        let req = w.request.as_ref();
        let method = req
            .and_then(|r| r.method.as_deref())
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(|m| cut(m, 10));
        let target = req.and_then(|r| r.url.as_deref()).and_then(url_target);
        let status = w.response.as_ref().and_then(|r| r.status_code);
        (target.is_some() || status.is_some()).then_some(Request {
            method,
            target,
            status,
        })
    }

    /// `POST voice.example.com/answer → 404`.
    pub(crate) fn line(&self) -> String {
        let mut out = String::new();
        if let Some(m) = &self.method {
            out.push_str(m);
            out.push(' ');
        }
        out.push_str(self.target.as_deref().unwrap_or("(no URL)"));
        if let Some(s) = self.status {
            out.push_str(&format!(" → {s}"));
        }
        out
    }
}

/// Host and path of a URL, without scheme, credentials or query; cut to 80.
fn url_target(url: &str) -> Option<String> {
    let url = url.trim();
    if url.is_empty() {
        return None;
    }
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let rest = match rest.split_once('/') {
        Some((auth, path)) => format!("{}/{path}", auth.rsplit('@').next().unwrap_or(auth)),
        None => rest.rsplit('@').next().unwrap_or(rest).to_string(),
    };
    Some(cut(rest.trim_end_matches('/'), 80))
}

/// `POST voice.example.com/answer → 404 · CA…0002 · Voice`.
pub(crate) fn what_where(
    request: Option<&Request>,
    resource: Option<&str>,
    product: Option<&str>,
) -> String {
    let mut parts = Vec::new();
    if let Some(r) = request {
        parts.push(r.line());
    }
    if let Some(r) = resource {
        parts.push(short_sid(r));
    }
    if let Some(p) = product {
        parts.push(cut(short_product(p), 40));
    }
    parts.join(" · ")
}

/// Whether `msg` says no more than the title (`Msg` often repeats it).
pub(crate) fn repeats(msg: &str, title: &str) -> bool {
    let norm = |s: &str| {
        s.trim()
            .trim_end_matches('.')
            .to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (m, t) = (norm(msg), norm(title));
    !m.is_empty() && (t.ends_with(&m) || m == t)
}

/// Whether `msg` only says what the what/where line already shows: it names
/// the request's URL and its response status (Twilio's 11200 `Msg` does).
pub(crate) fn restates_request(msg: &str, webhook: Option<&Webhook>) -> bool {
    let Some(w) = webhook else { return false };
    let url = w
        .request
        .as_ref()
        .and_then(|r| r.url.as_deref())
        .unwrap_or("");
    let status = w.response.as_ref().and_then(|r| r.status_code);
    !url.is_empty()
        && msg.contains(url)
        && status.is_some_and(|s| msg.contains(&s.to_string()))
        && msg.chars().count() < url.chars().count() + 120
}

/// A `more_info` field worth a line.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Fact {
    pub name: String,
    pub value: String,
}

/// `more_info` keys a responder acts on (case-insensitive), with their labels:
/// the recipient of a 21610, the sender, the Messaging Service, the cause.
const USEFUL: [(&str, &str); 9] = [
    ("to", "To"),
    ("from", "From"),
    ("messagingservicesid", "Messaging Service"),
    ("phonenumber", "Phone number"),
    ("callsid", "Call"),
    ("reason", "Reason"),
    ("cause", "Cause"),
    ("status", "Status"),
    ("parsermessage", "Parser"),
];

/// The useful `more_info` fields, at most four, each value cut to 80.
pub(crate) fn facts(more_info: Option<&Value>) -> Vec<Fact> {
    let Some(obj) = more_info.and_then(Value::as_object) else {
        return vec![];
    };
    let mut out = Vec::new();
    for (key, label) in USEFUL {
        let value = obj
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| match v {
                Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
        if let Some(v) = value {
            out.push(Fact {
                name: label.into(),
                value: cut(&v, 80),
            });
        }
        if out.len() == 4 {
            break;
        }
    }
    out
}

/// The first [`TOP_BULLETS`] items of a catalog text (bullets, or paragraphs
/// when it has none), each cut to [`BULLET_CHARS`], and whether there were more.
pub(crate) fn top_bullets(text: Option<&str>) -> (Vec<String>, bool) {
    let Some(text) = text else {
        return (vec![], false);
    };
    let items: Vec<String> = text
        .lines()
        .map(|l| l.trim().trim_start_matches("- ").trim())
        .filter(|l| !l.is_empty() && *l != "-")
        .map(|l| cut(l, BULLET_CHARS))
        .collect();
    let more = items.len() > TOP_BULLETS;
    (items.into_iter().take(TOP_BULLETS).collect(), more)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{WebhookRequest, WebhookResponse};
    use serde_json::json;

    #[test]
    fn what_where_line() {
        let w = Webhook {
            kind: None,
            request: Some(WebhookRequest {
                method: Some("POST".into()),
                url: Some("https://user:pw@voice.example.com/answer?x=1".into()),
                headers: None,
                parameters: None,
            }),
            response: Some(WebhookResponse {
                status_code: Some(404),
                headers: None,
                body: None,
            }),
        };
        let r = Request::of(Some(&w));
        assert_eq!(
            what_where(
                r.as_ref(),
                Some("CA00000000000000000000000000000002"),
                Some("Programmable Voice")
            ),
            "POST voice.example.com/answer → 404 · CA…0002 · Voice"
        );
        assert_eq!(what_where(None, Some("CA<x>"), None), "CA<x>");
        assert_eq!(
            url_target("voice.example.com"),
            Some("voice.example.com".into())
        );
    }

    #[test]
    fn msg_repeating_the_title() {
        assert!(repeats(
            "HTTP retrieval failure.",
            "11200 HTTP retrieval failure"
        ));
        assert!(!repeats(
            "Unable to connect",
            "11200 HTTP retrieval failure"
        ));
        assert!(!repeats("", "x"));
        let w = Webhook {
            kind: None,
            request: Some(crate::event::WebhookRequest {
                url: Some("https://x.example/a".into()),
                ..Default::default()
            }),
            response: Some(crate::event::WebhookResponse {
                status_code: Some(502),
                ..Default::default()
            }),
        };
        let twilio = "An attempt to retrieve content from https://x.example/a returned the HTTP status code 502";
        assert!(restates_request(twilio, Some(&w)));
        assert!(!restates_request("Unable to connect: timed out", Some(&w)));
    }

    #[test]
    fn facts_and_bullets() {
        let f = facts(Some(
            &json!({"Msg": "x", "To": "+15551230000", "sourceComponent": "1"}),
        ));
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].name.as_str(), f[0].value.as_str()),
            ("To", "+15551230000")
        );
        let (b, more) = top_bullets(Some("- a\n- b\n- c\n- d"));
        assert_eq!((b, more), (vec!["a".into(), "b".into(), "c".into()], true));
        let (b, more) = top_bullets(Some("One paragraph."));
        assert_eq!((b, more), (vec!["One paragraph.".to_string()], false));
    }
}
