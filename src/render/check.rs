//! `twilert check` for templates: every loaded template rendered against the
//! sample notifications; problems reported one line each, naming the file.

use std::collections::{BTreeMap, BTreeSet};

use super::samples::{hostile_catalog_entry, sample_notifications};
use super::templates::base_of;
use super::{context, Kind, Payload, Renderer};
use crate::catalog::Catalog;

pub(crate) fn check(r: &Renderer, catalog: &Catalog) -> Vec<String> {
    let bases: BTreeSet<String> = r
        .templates
        .names()
        .filter_map(base_of)
        .map(str::to_string)
        .collect();
    // problem → the samples that showed it
    let mut problems: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for base in &bases {
        for kind in Kind::ALL {
            let has_own = kind
                .parts()
                .iter()
                .any(|s| r.templates.names().any(|n| n == format!("{base}.{s}")));
            if !has_own {
                continue;
            }
            let file = kind
                .parts()
                .iter()
                .filter_map(|s| r.templates.resolve(Some(base), s))
                .map(|n| r.templates.file(&n))
                .collect::<Vec<_>>()
                .join(", ");
            for (sample, mut n) in sample_notifications() {
                n.template = Some(base.clone());
                let hostile = sample.starts_with("hostile");
                let entry = if hostile {
                    Some(hostile_catalog_entry())
                } else {
                    n.event.error_code().and_then(|c| catalog.get(c)).cloned()
                };
                let ctx = context::build(&n, entry.as_ref());
                let problem = match r.try_render(kind, Some(base), &ctx) {
                    Err(f) => Some(f.to_string()),
                    Ok(out) if out.truncated && !hostile => Some(format!(
                        "{file}: output exceeds {kind} limits and was truncated"
                    )),
                    Ok(out) => leak(kind, &out.payload).map(|m| format!("{file}: {m}")),
                };
                if let Some(p) = problem {
                    problems.entry(p).or_default().push(sample);
                }
            }
        }
    }
    problems
        .into_iter()
        .map(|(p, samples)| format!("{p} (samples: {})", samples.join(", ")))
        .collect()
}

/// Untrusted sample text that reached the output unescaped (a `{{{x}}}`,
/// `{{trusted x}}` or `{{json x}}` on event data in the wrong place).
fn leak(kind: Kind, p: &Payload) -> Option<&'static str> {
    match (kind, p) {
        (Kind::Slack, Payload::Json(v)) if v.to_string().contains("<!channel>") => {
            Some("event text can ping the channel (<!channel> survived); use {{x}}, not {{{x}}} or trusted")
        }
        (Kind::Discord, Payload::Json(v)) if v.to_string().contains("@everyone") => {
            Some("event text shows an unbroken @everyone; use {{x}}, not {{{x}}} or trusted")
        }
        (Kind::Email, Payload::Email { html, .. }) if html.contains("<script>") => {
            Some("event text reaches the HTML unescaped (<script> survived); use {{x}}, not {{{x}}}")
        }
        (Kind::Email, Payload::Email { text, html, .. }) if text.trim().is_empty() || html.trim().is_empty() => {
            Some("renders an empty email body")
        }
        (Kind::Console, Payload::Text(t)) if t.trim().is_empty() => Some("renders nothing"),
        _ => None,
    }
}
