//! The loaded templates: one Handlebars registry per escaping [`Flavor`], the
//! shipped defaults built in, a directory's `*.hbs` files layered over them.

use std::collections::BTreeMap;
use std::path::Path;

use handlebars::Handlebars;
use serde_json::Value;

use super::escape::Flavor;
use super::{helpers, RenderError};

/// Template suffixes (`<name>.<suffix>.hbs`) and how their output is escaped.
pub(crate) const PARTS: [(&str, Flavor); 9] = [
    ("slack", Flavor::Slack),
    ("teams", Flavor::Teams),
    ("discord", Flavor::Discord),
    ("webhook", Flavor::Json),
    ("pagerduty", Flavor::Json),
    ("email.subject", Flavor::Subject),
    ("email.text", Flavor::Text),
    ("email.html", Flavor::Html),
    ("console", Flavor::Console),
];

/// The shipped templates, so twilert renders well with an empty directory.
const BUILTIN: [(&str, &str); 9] = [
    (
        "default.slack",
        include_str!("../../templates/default.slack.hbs"),
    ),
    (
        "default.teams",
        include_str!("../../templates/default.teams.hbs"),
    ),
    (
        "default.discord",
        include_str!("../../templates/default.discord.hbs"),
    ),
    (
        "default.webhook",
        include_str!("../../templates/default.webhook.hbs"),
    ),
    (
        "default.pagerduty",
        include_str!("../../templates/default.pagerduty.hbs"),
    ),
    (
        "default.email.subject",
        include_str!("../../templates/default.email.subject.hbs"),
    ),
    (
        "default.email.text",
        include_str!("../../templates/default.email.text.hbs"),
    ),
    (
        "default.email.html",
        include_str!("../../templates/default.email.html.hbs"),
    ),
    (
        "default.console",
        include_str!("../../templates/default.console.hbs"),
    ),
];

/// Why one template could not produce output; names the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub file: String,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

pub(crate) struct Templates {
    registries: BTreeMap<Flavor, Handlebars<'static>>,
    /// Template name (`default.slack`) → where it came from, for messages.
    files: BTreeMap<String, String>,
}

impl Templates {
    pub(crate) fn builtin() -> Result<Templates, RenderError> {
        let mut registries = BTreeMap::new();
        for flavor in Flavor::ALL {
            let mut hb = Handlebars::new();
            hb.set_strict_mode(false);
            hb.register_escape_fn(move |s| flavor.escape(s));
            helpers::register(&mut hb, flavor);
            registries.insert(flavor, hb);
        }
        let mut t = Templates {
            registries,
            files: BTreeMap::new(),
        };
        for (name, source) in BUILTIN {
            t.add(name, source, format!("{name}.hbs (built in)"))?;
        }
        Ok(t)
    }

    /// Adds every `*.hbs` under `dir` (subfolders give names like `team-a/ops`),
    /// replacing built-in templates of the same name.
    pub(crate) fn load_dir(&mut self, dir: &Path) -> Result<(), RenderError> {
        let mut files = Vec::new();
        collect(dir, dir, &mut files)?;
        files.sort();
        for (rel, path) in files {
            let source = std::fs::read_to_string(&path).map_err(|source| RenderError::Read {
                path: path.clone(),
                source,
            })?;
            let name = rel.trim_end_matches(".hbs");
            self.add(name, &source, path.display().to_string())?;
        }
        Ok(())
    }

    fn add(&mut self, name: &str, source: &str, file: String) -> Result<(), RenderError> {
        let Some(flavor) = flavor_of(name) else {
            return Err(RenderError::UnknownKind { file });
        };
        let hb = self
            .registries
            .get_mut(&flavor)
            .ok_or_else(|| RenderError::UnknownKind { file: file.clone() })?;
        hb.register_template_string(name, source)
            .map_err(|e| RenderError::Syntax {
                message: match e.pos() {
                    Some((line, col)) => format!("line {line}, column {col}: {}", e.reason()),
                    None => e.reason().to_string(),
                },
                file: file.clone(),
            })?;
        self.files.insert(name.to_string(), file);
        Ok(())
    }

    /// `<base>.<suffix>` if loaded, else `default.<suffix>`.
    pub(crate) fn resolve(&self, base: Option<&str>, suffix: &str) -> Option<String> {
        base.map(|b| format!("{b}.{suffix}"))
            .filter(|n| self.files.contains_key(n))
            .or_else(|| Some(format!("default.{suffix}")).filter(|n| self.files.contains_key(n)))
    }

    pub(crate) fn file(&self, name: &str) -> String {
        self.files
            .get(name)
            .cloned()
            .unwrap_or_else(|| format!("{name}.hbs"))
    }

    /// Template names (`default.slack`, `team-a/ops.email.html`, ...).
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// Renders template `name` of `suffix`'s flavor.
    pub(crate) fn render(&self, name: &str, data: &Value) -> Result<String, Failure> {
        let fail = |message: String| Failure {
            file: self.file(name),
            message,
        };
        let flavor = flavor_of(name).ok_or_else(|| fail("not a template name".into()))?;
        let hb = self
            .registries
            .get(&flavor)
            .ok_or_else(|| fail("no registry".into()))?;
        hb.render(name, data).map_err(|e| {
            fail(match (e.line_no, e.column_no) {
                (Some(l), Some(c)) => format!("line {l}, column {c}: {}", e.reason()),
                _ => e.reason().to_string(),
            })
        })
    }
}

/// The flavor of `<base>.<suffix>`; `None` when the suffix is unknown or the
/// base is empty.
pub(crate) fn flavor_of(name: &str) -> Option<Flavor> {
    PARTS.iter().find_map(|(suffix, flavor)| {
        let base = name.strip_suffix(suffix)?.strip_suffix('.')?;
        (!base.is_empty()).then_some(*flavor)
    })
}

/// The base of a template name (`team-a/ops` of `team-a/ops.email.html`).
pub(crate) fn base_of(name: &str) -> Option<&str> {
    PARTS.iter().find_map(|(suffix, _)| {
        name.strip_suffix(suffix)?
            .strip_suffix('.')
            .filter(|b| !b.is_empty())
    })
}

fn collect(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, std::path::PathBuf)>,
) -> Result<(), RenderError> {
    let read_err = |source| RenderError::Read {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let path = entry.map_err(read_err)?.path();
        if path.is_dir() {
            collect(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "hbs") {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.push((rel, path));
        }
    }
    Ok(())
}
