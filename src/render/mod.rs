//! Rendering: Handlebars templates → provider payloads, escaped and within limits.
//!
//! `templates/<name>.<kind>.hbs` (email: `.email.subject`, `.email.text`,
//! `.email.html`) with `default.<kind>.hbs` as fallback; the shipped defaults are
//! built in, a directory's files replace them. Every `{{x}}` is escaped for its
//! target ([`escape`]); JSON output is parsed, shape-checked and cut to provider
//! limits ([`limits`]). A template that fails never loses the alert: the
//! built-in plain message ([`fallback`]) is sent and `Rendered::fallback` says why.

pub mod buttons;
mod check;
mod context;
mod escape;
mod fallback;
mod finish;
mod helpers;
mod layout;
mod limits;
mod living;
mod notice;
mod resolved;
pub(crate) mod samples;
mod silenced;
mod summary;
mod templates;
mod untrusted;

use std::path::{Path, PathBuf};

use crate::catalog::{Catalog, CatalogEntry};
use crate::notification::Notification;

pub use samples::{hostile_catalog_entry, sample_notifications, HOSTILE_TEXT};

pub use escape::Flavor;

use templates::{Failure, Templates};

/// A channel kind: which payload to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Slack,
    Teams,
    Discord,
    Webhook,
    Pagerduty,
    Email,
    Console,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Slack,
        Kind::Teams,
        Kind::Discord,
        Kind::Webhook,
        Kind::Pagerduty,
        Kind::Email,
        Kind::Console,
    ];

    /// `"slack"`, `"teams"`, ... (as in `[channels.x] kind`).
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s.trim())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Slack => "slack",
            Kind::Teams => "teams",
            Kind::Discord => "discord",
            Kind::Webhook => "webhook",
            Kind::Pagerduty => "pagerduty",
            Kind::Email => "email",
            Kind::Console => "console",
        }
    }

    /// Template suffixes this kind renders (`email` has three).
    pub fn parts(self) -> &'static [&'static str] {
        match self {
            Kind::Slack => &["slack"],
            Kind::Teams => &["teams"],
            Kind::Discord => &["discord"],
            Kind::Webhook => &["webhook"],
            Kind::Pagerduty => &["pagerduty"],
            Kind::Email => &["email.subject", "email.text", "email.html"],
            Kind::Console => &["console"],
        }
    }
}

impl Kind {
    /// How each of [`Kind::parts`] is escaped (for the channel kinds table).
    pub fn escaping(self) -> Vec<Flavor> {
        self.parts()
            .iter()
            .filter_map(|p| templates::flavor_of(&format!("default.{p}")))
            .collect()
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to send.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// Slack, Teams, Discord, webhook, PagerDuty: the JSON body to POST.
    /// (PagerDuty: the sender adds `routing_key` and `dedup_key`.)
    Json(serde_json::Value),
    Email {
        subject: String,
        text: String,
        html: String,
    },
    /// Console.
    Text(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub payload: Payload,
    /// The template error, when the built-in plain message was used instead.
    pub fallback: Option<String>,
    /// Whether a provider limit cut some text (marked "…[truncated]").
    pub truncated: bool,
}

/// Why templates could not be loaded; names the file.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("templates: cannot read {path:?}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Syntax { file: String, message: String },
    #[error(
        "{file}: not a template name; expected <name>.<kind>.hbs with kind one of slack, \
         teams, discord, webhook, pagerduty, email.subject, email.text, email.html, console"
    )]
    UnknownKind { file: String },
}

/// The loaded templates. Send + Sync; share it in an `Arc` and swap on reload.
pub struct Renderer {
    templates: Templates,
}

impl Renderer {
    /// The shipped templates only.
    pub fn builtin() -> Result<Renderer, RenderError> {
        Ok(Renderer {
            templates: Templates::builtin()?,
        })
    }

    /// The shipped templates, then every `*.hbs` under `dir` (replacing
    /// same-named ones). A syntax error names the file, line and column.
    pub fn load(dir: &Path) -> Result<Renderer, RenderError> {
        let mut templates = Templates::builtin()?;
        templates.load_dir(dir)?;
        Ok(Renderer { templates })
    }

    /// Renders `n` for `kind`. Never fails: if the template errors or its output
    /// is not a valid payload, the built-in plain message is returned with
    /// `fallback` set to the error (the delivery worker logs and counts it).
    pub fn render(&self, kind: Kind, n: &Notification, entry: Option<&CatalogEntry>) -> Rendered {
        let ctx = context::build(n, entry);
        if let Some(r) = &n.resolved {
            return Rendered {
                payload: resolved::payload(kind, &ctx, r),
                fallback: None,
                truncated: false,
            };
        }
        if let Some(s) = &n.silence {
            return Rendered {
                payload: silenced::payload(kind, &ctx, s),
                fallback: None,
                truncated: false,
            };
        }
        match self.try_render(kind, n.template.as_deref(), &ctx) {
            Ok(r) => r,
            Err(failure) => finish::fallback(kind, &ctx, failure.to_string()),
        }
    }

    /// For a channel that edits its alerts (Slack app mode), on a digest or a
    /// resolved notice: the group's first alert as its message should now read —
    /// rendered again from its template, with a status block (running total, last
    /// seen, distinct resources; or "resolved, quiet since ..."). `None` for other
    /// notifications and kinds.
    pub fn render_parent(
        &self,
        kind: Kind,
        n: &Notification,
        entry: Option<&CatalogEntry>,
    ) -> Option<Rendered> {
        if kind != Kind::Slack || (n.digest.is_none() && n.resolved.is_none()) {
            return None;
        }
        let mut first = n.clone();
        first.digest = None;
        first.resolved = None;
        first.parent = None;
        living::parent(self.render(kind, &first, entry), n)
    }

    /// A short plain message (no escaping): title, resource, Msg, webhook,
    /// digest counts, links.
    pub fn plain_text(&self, n: &Notification, entry: Option<&CatalogEntry>) -> String {
        fallback::plain_text(&context::build(n, entry))
    }

    /// The plain message as a ready payload for `kind`, escaped for it (Slack:
    /// `{"text": …}` with `<`, `>`, `&` as entities and the route's mention kept).
    /// Use this, not `plain_text`, for Slack's retry-as-plain-text.
    pub fn plain_payload(
        &self,
        kind: Kind,
        n: &Notification,
        entry: Option<&CatalogEntry>,
    ) -> Payload {
        let ctx = context::build(n, entry);
        if let Some(r) = &n.resolved {
            return resolved::payload(kind, &ctx, r);
        }
        if let Some(s) = &n.silence {
            return silenced::payload(kind, &ctx, s);
        }
        let mut r = finish::fallback(kind, &ctx, String::new());
        r.fallback = None;
        r.payload
    }

    /// Renders every loaded template against [`sample_notifications`] and returns
    /// one line per problem (render errors, invalid output, text that escapes its
    /// target, realistic samples over provider limits), each naming the file.
    pub fn check(&self, catalog: &Catalog) -> Vec<String> {
        check::check(self, catalog)
    }

    /// Loaded template names, e.g. `default.slack`, `team-a/ops.email.html`.
    pub fn template_names(&self) -> Vec<String> {
        self.templates.names().map(str::to_string).collect()
    }

    fn try_render(
        &self,
        kind: Kind,
        base: Option<&str>,
        ctx: &context::Context,
    ) -> Result<Rendered, Failure> {
        let data = serde_json::to_value(ctx).map_err(|e| Failure {
            file: "(context)".into(),
            message: e.to_string(),
        })?;
        let mut outputs = Vec::new();
        for suffix in kind.parts() {
            let name = self
                .templates
                .resolve(base, suffix)
                .ok_or_else(|| Failure {
                    file: format!("default.{suffix}.hbs"),
                    message: "no such template".into(),
                })?;
            let text = self.templates.render(&name, &data)?;
            outputs.push((self.templates.file(&name), text));
        }
        finish::finish(kind, ctx, outputs)
    }
}

#[cfg(test)]
mod tests;
