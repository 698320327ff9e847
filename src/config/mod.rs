//! Configuration: `config.toml` → [`Settings`] (SPEC 8).
//!
//! Layers: the TOML file, then `TWILERT__SECTION__KEY` environment overrides, then
//! `${VAR}` / `${VAR:-default}` expansion in every string, then a strict
//! deserialization (unknown keys are errors) whose messages carry the key path.

mod diagnose;
mod expand;
mod secrets;
mod settings;

pub use diagnose::*;
pub use settings::*;

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    Read { path: String, message: String },
    #[error("{key}: environment variable {var} is not set (use ${{{var}:-}} to make it optional)")]
    MissingVar { key: String, var: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

/// A configuration that loads but does not validate (bad patterns, unknown channels,
/// templates that fail): every problem, one line each.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct Invalid(pub Vec<String>);

/// Reads `path` plus `TWILERT__*` overrides from the process environment.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    load_with_env(path, |k| std::env::var(k).ok(), std::env::vars().collect())
}

/// As [`load`], with the environment injected (tests).
pub fn load_with_env(
    path: &Path,
    lookup: impl Fn(&str) -> Option<String>,
    env: std::collections::HashMap<String, String>,
) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    from_toml_str(&text, &path.display().to_string(), lookup, env)
}

/// Parses config text; `origin` names it in errors.
pub fn from_toml_str(
    text: &str,
    origin: &str,
    lookup: impl Fn(&str) -> Option<String>,
    env: std::collections::HashMap<String, String>,
) -> Result<Settings, ConfigError> {
    let mut tree = raw_tree(text, env).map_err(|message| ConfigError::Read {
        path: origin.to_string(),
        message,
    })?;
    expand::expand_tree(&mut tree, &lookup)?;
    let routes = tree.get("routes").cloned();
    let secrets = secrets::collect(&tree);
    serde_path_to_error::deserialize::<_, Settings>(tree).map_err(|e| {
        let key = expand::name_routes(&e.path().to_string(), routes.as_ref());
        ConfigError::Invalid {
            key: secrets::redact(&key, &secrets),
            message: secrets::redact(&e.into_inner().to_string(), &secrets),
        }
    })
}

/// The TOML text plus `TWILERT__*` overrides as one JSON tree, before `${VAR}`
/// expansion and strict deserialization. Overrides of secret keys are set as
/// strings, never parsed as numbers or booleans.
fn raw_tree(
    text: &str,
    env: std::collections::HashMap<String, String>,
) -> Result<serde_json::Value, String> {
    let (env, secret_env) = secrets::split_env(env);
    let mut tree = plain_tree(text, env).map_err(|e| secrets::without_source(&e))?;
    secrets::apply_env(&mut tree, secret_env)?;
    Ok(tree)
}

fn plain_tree(
    text: &str,
    env: std::collections::HashMap<String, String>,
) -> Result<serde_json::Value, String> {
    let overrides = config::Environment::with_prefix("TWILERT")
        .prefix_separator("__")
        .separator("__")
        .try_parsing(true)
        .list_separator(",")
        .with_list_parse_key("twilio.auth_tokens")
        .with_list_parse_key("defaults.channels")
        .source(Some(env.into_iter().collect()));
    config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .add_source(overrides)
        .build()
        .map_err(|e| e.to_string())?
        .try_deserialize()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
