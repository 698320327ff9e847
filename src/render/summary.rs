//! A digest's numbers and the one-line summary, computed once per render so
//! every channel says the same (SPEC 5: one total everywhere).

use serde::Serialize;

use super::layout::{self, Request};
use super::untrusted;
use crate::clock::rfc3339 as rfc3339_ms;
use crate::notification::Digest;

/// Resources a digest lists before "+N more".
pub(crate) const DIGEST_RESOURCES: usize = 3;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct DigestCtx {
    /// Events counted into the digest (SPEC 4 accounting).
    pub count: u64,
    /// Events the digest speaks for (the first alert included in a group's
    /// first window): the one number every line of a digest shows.
    pub total: u64,
    /// A later window of a group whose first alert went out earlier.
    pub continued: bool,
    /// `16 events on 6 resources, 06:47:50–06:47:53 UTC`.
    pub headline: String,
    /// `06:47:50–06:47:53 UTC`.
    pub span: String,
    /// Up to three resources as `CA…0002`, then `more_resources`.
    pub resources_short: Vec<String>,
    pub first_seen: String,
    pub last_seen: String,
    pub resources: Vec<String>,
    pub resources_total: u64,
    /// `resources_total` minus the ones in `resources_short`.
    pub more_resources: u64,
    pub sample_sids: Vec<String>,
}

/// The template view of a digest; `unreadable`: its events' payloads could not be read.
pub(crate) fn digest(d: &Digest, unreadable: bool) -> DigestCtx {
    let (first_seen, last_seen) = (rfc3339_ms(d.first_seen_ms), rfc3339_ms(d.last_seen_ms));
    let resources_total = d.resources_total.max(d.resources.len() as u64);
    let resources_short: Vec<String> = d
        .resources
        .iter()
        .take(DIGEST_RESOURCES)
        .map(|r| layout::short_sid(r))
        .collect();
    let span = span(&first_seen, &last_seen, false);
    let continued = d.total() == d.count && d.total > 0;
    DigestCtx {
        count: d.count,
        total: d.total(),
        continued,
        headline: headline(d.total(), resources_total, continued, unreadable, &span),
        span,
        more_resources: resources_total.saturating_sub(resources_short.len() as u64),
        resources_short,
        first_seen,
        last_seen,
        resources: d.resources.clone(),
        resources_total,
        sample_sids: d.sample_sids.clone(),
    }
}

/// `11200 HTTP retrieval failure: POST voice.example.com/answer → 404 (CA…0002)`,
/// `16× …` for a digest; at most [`layout::ONE_LINE`] characters.
pub(crate) fn one_line(
    title: &str,
    request: Option<&Request>,
    resource: Option<&str>,
    digest: Option<&DigestCtx>,
    detail: Option<&str>,
) -> String {
    let mut s = String::new();
    if let Some(d) = digest {
        s.push_str(&format!("{}× ", d.total));
    }
    s.push_str(title);
    match (request, detail) {
        (Some(r), _) => s.push_str(&format!(": {}", r.line())),
        (None, Some(m)) => s.push_str(&format!(": {m}")),
        (None, None) => {}
    }
    if let Some(r) = resource {
        s.push_str(&format!(" ({r})"));
    }
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    untrusted::shorten(&s, layout::ONE_LINE).into_owned()
}

/// `06:47:50–06:47:53 UTC`, with the date when the span crosses midnight or
/// `with_date`.
pub(crate) fn span(first_iso: &str, last_iso: &str, with_date: bool) -> String {
    let split = |iso: &str| {
        let iso = iso.trim_end_matches('Z');
        iso.split_once('T')
            .map(|(d, t)| (d.to_string(), t.to_string()))
            .unwrap_or((iso.to_string(), String::new()))
    };
    let ((d1, t1), (d2, t2)) = (split(first_iso), split(last_iso));
    match (d1 == d2, with_date) {
        (true, false) if t1 == t2 => format!("{t1} UTC"),
        (true, false) => format!("{t1}–{t2} UTC"),
        (true, true) if t1 == t2 => format!("{d1} {t1} UTC"),
        (true, true) => format!("{d1} {t1}–{t2} UTC"),
        (false, _) => format!("{d1} {t1} – {d2} {t2} UTC"),
    }
}

/// `1 event`, `16 events`.
pub(crate) fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A digest's headline: `16 events on 6 resources, 06:47:50–06:47:53 UTC`;
/// `3 more events …` for a later window; `16 unreadable payloads, …` when
/// the payloads could not be read (they name no resource).
pub(crate) fn headline(
    total: u64,
    resources_total: u64,
    continued: bool,
    unreadable: bool,
    span: &str,
) -> String {
    let events = match (unreadable, continued) {
        (true, false) => plural(total, "unreadable payload", "unreadable payloads"),
        (true, true) => plural(total, "more unreadable payload", "more unreadable payloads"),
        (false, false) => plural(total, "event", "events"),
        (false, true) => plural(total, "more event", "more events"),
    };
    match resources_total {
        0 => format!("{events}, {span}"),
        n => format!("{events} on {}, {span}", plural(n, "resource", "resources")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headlines() {
        let s = span("2024-05-01T06:47:50Z", "2024-05-01T06:47:53Z", false);
        assert_eq!(s, "06:47:50–06:47:53 UTC");
        assert_eq!(
            headline(16, 6, false, false, &s),
            "16 events on 6 resources, 06:47:50–06:47:53 UTC"
        );
        assert_eq!(
            headline(1, 1, true, false, "x"),
            "1 more event on 1 resource, x"
        );
        assert_eq!(headline(4, 0, false, true, "x"), "4 unreadable payloads, x");
        assert_eq!(
            span("2024-05-01T23:59:50Z", "2024-05-02T00:00:03Z", false),
            "2024-05-01 23:59:50 – 2024-05-02 00:00:03 UTC"
        );
    }
}
