//! `twilert check`: validate config, env references and templates; print the route
//! table, the channels and the warnings. Exit 1 on any error. Secrets are never
//! printed.
//!
//! A config that does not load is not left at its first problem: the file is
//! diagnosed as a whole ([`crate::config::diagnose`]), then whatever could be read is
//! compiled too, so a typo, a bad pattern and a missing variable are all named in
//! one run.

use crate::config::{ConfigError, GroupField};
use crate::runtime::Runtime;
use std::path::Path;
use std::process::ExitCode;

pub fn run(config: &Path) -> ExitCode {
    let settings = match crate::config::load(config) {
        Ok(s) => s,
        Err(first) => return fail(config, &problems(config, first)),
    };
    let rt = match Runtime::build(settings) {
        Ok(rt) => rt,
        Err(errors) => return fail(config, &errors),
    };
    let errors = rt.renderer.check(&rt.catalog);
    let warnings = rt.warnings.clone();
    print_routes(&rt);
    out!();
    print_channels(&rt);
    out!();
    out!(
        "templates: {} loaded, each rendered for every channel kind against {} sample events",
        rt.renderer.template_names().len(),
        crate::render::sample_notifications().len()
    );
    if !warnings.is_empty() {
        out!();
    }
    for w in &warnings {
        out!("warning: {w}");
    }
    if errors.is_empty() {
        out!(
            "\n{}: OK ({} route(s), {} channel(s), {} warning(s))",
            config.display(),
            rt.router.routes().len(),
            rt.settings.channels.len(),
            warnings.len()
        );
        ExitCode::SUCCESS
    } else {
        fail(config, &errors)
    }
}

fn fail(config: &Path, errors: &[String]) -> ExitCode {
    for e in errors {
        eprintln!("error: {e}");
    }
    eprintln!("{}: {} error(s)", config.display(), errors.len());
    ExitCode::from(1)
}

/// The config does not load: every problem we can find, not just the first (also
/// what `serve`, `route` and `send-test` print before refusing to run).
pub(super) fn problems(config: &Path, first: ConfigError) -> Vec<String> {
    let d = crate::config::diagnose(config);
    let first = d.redact(&first.to_string());
    let mut errors = d.errors.clone();
    if !d.covers(&first) && !errors.contains(&first) {
        errors.insert(0, first);
    }
    if let Some(settings) = d.settings.clone() {
        let more = match Runtime::build(settings) {
            Ok(rt) => rt.renderer.check(&rt.catalog),
            Err(e) => e,
        };
        errors.extend(
            more.iter()
                .filter(|e| !d.covers(e))
                .map(|e| d.redact(e))
                .filter(|e| !errors.contains(e))
                .collect::<Vec<_>>(),
        );
    }
    errors
}

fn group_field(f: &GroupField) -> &'static str {
    match f {
        GroupField::ErrorCode => "error_code",
        GroupField::ResourceSid => "resource_sid",
        GroupField::ServiceSid => "service_sid",
        GroupField::AccountSid => "account_sid",
        GroupField::Level => "level",
        GroupField::Product => "product",
    }
}

fn print_routes(rt: &Runtime) {
    let mut rows = vec![[
        "ROUTE".to_string(),
        "MATCHERS".into(),
        "CHANNELS".into(),
        "WINDOW".into(),
        "GROUP BY".into(),
        "MUTE".into(),
        "NOTES".into(),
    ]];
    for r in rt.router.routes().iter().chain(rt.router.fallback()) {
        let channels: Vec<String> = r
            .channels
            .iter()
            .map(|c| {
                if rt.enabled.contains(c) {
                    c.clone()
                } else {
                    format!("{c}(off)")
                }
            })
            .collect();
        let mut notes = vec![];
        if r.index.is_none() {
            notes.push("from [defaults]: events no route matches".to_string());
        }
        if r.continue_ {
            notes.push("continue".into());
        }
        if let Some(t) = &r.template {
            notes.push(format!("template={t}"));
        }
        if r.mention.is_some() {
            notes.push("mention".into());
        }
        rows.push([
            r.name.clone(),
            r.describe_matchers(),
            if channels.is_empty() {
                "-".into()
            } else {
                channels.join(",")
            },
            humantime::format_duration(r.window).to_string(),
            r.group_by
                .iter()
                .map(group_field)
                .collect::<Vec<_>>()
                .join(","),
            if r.mute { "yes" } else { "no" }.into(),
            notes.join(" "),
        ]);
    }
    if rows.len() == 1 {
        out!("no routes and no [defaults].channels: every event is recorded as unrouted");
        return;
    }
    print_table(&rows);
}

fn print_channels(rt: &Runtime) {
    let mut rows = vec![[
        "CHANNEL".to_string(),
        "KIND".into(),
        "STATE".into(),
        "LIMITS".into(),
    ]];
    for (name, ch) in &rt.settings.channels {
        let limits = rt
            .limits
            .get(name)
            .map(|l| l.describe())
            .unwrap_or_default();
        let state = if rt.enabled.contains(name) {
            "enabled"
        } else {
            "disabled"
        };
        rows.push([name.clone(), ch.kind().name.into(), state.into(), limits]);
    }
    if rows.len() == 1 {
        out!("no channels");
        return;
    }
    print_table(&rows);
}

fn print_table<const N: usize>(rows: &[[String; N]]) {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(w - cell.chars().count() + 2));
            }
        }
        out!("{}", line.trim_end());
    }
}
