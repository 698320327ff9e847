//! `twilert check`: validate config, env references and templates; print the route
//! table and warnings. Exit 1 on any error. Secrets are never printed.

use crate::runtime::Runtime;
use std::path::Path;
use std::process::ExitCode;

pub fn run(config: &Path) -> ExitCode {
    let Some(settings) = super::load(config) else {
        return ExitCode::from(1);
    };
    let rt = match Runtime::build(settings) {
        Ok(rt) => rt,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            eprintln!("{}: {} error(s)", config.display(), errors.len());
            return ExitCode::from(1);
        }
    };
    let template_errors = rt.renderer.check(&rt.catalog);
    println!(
        "{:<24} {:<44} {:<24} {:<8} MUTE",
        "ROUTE", "MATCHERS", "CHANNELS", "WINDOW"
    );
    for r in rt.router.routes().iter().chain(rt.router.fallback()) {
        println!(
            "{:<24} {:<44} {:<24} {:<8} {}{}",
            r.name,
            r.describe_matchers(),
            r.channels.join(","),
            humantime::format_duration(r.window).to_string(),
            if r.mute { "yes" } else { "no" },
            if r.continue_ { "  (continue)" } else { "" }
        );
    }
    println!();
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
        println!("channel {name:<20} {:<10} {state:<9} {limits}", ch.kind());
    }
    for w in &rt.warnings {
        println!("warning: {w}");
    }
    for e in &template_errors {
        eprintln!("error: {e}");
    }
    if template_errors.is_empty() {
        println!("{}: OK", config.display());
        ExitCode::SUCCESS
    } else {
        eprintln!("{}: {} error(s)", config.display(), template_errors.len());
        ExitCode::from(1)
    }
}
