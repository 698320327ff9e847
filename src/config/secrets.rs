//! Secret settings (auth tokens, and each channel kind's secret keys from the
//! kinds table) are strings, always: the environment never coerces them
//! (`TWILERT__CHANNELS__PD__ROUTING_KEY=12345` stays `"12345"`), a value of the
//! wrong type is refused without being shown, and every config error is cleaned
//! of their values.

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// The prefix of environment overrides, with its separator.
const PREFIX: &str = "twilert__";

/// Secret keys outside `[channels.*]`, as dotted paths.
const SECRET_PATHS: &[&str] = &[
    "twilio.auth_tokens",
    "twilio.shared_keys",
    "admin.tokens",
    "store.url",
    "slack.signing_secret",
];

/// Secret lists an environment override gives comma-separated.
const SECRET_LISTS: &[&str] = &["twilio.auth_tokens", "admin.tokens"];

/// Shorter values would redact ordinary words; they are not real secrets.
const MIN_SECRET: usize = 6;

/// `deserialize_with` for a secret string: anything else is refused by its type
/// alone ("expected a string, found an integer"), never by its value.
pub fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(SecretString::from(s)),
        other => Err(not_a_string(&other)),
    }
}

/// [`secret`] for a key that may be left out.
pub fn opt_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    secret(d).map(Some)
}

pub fn secret_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SecretString>, D::Error> {
    match Value::deserialize(d)? {
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(SecretString::from(s)),
                other => Err(not_a_string(&other)),
            })
            .collect(),
        other => Err(serde::de::Error::custom(format!(
            "expected a list of strings, found {} (value hidden: it is a secret)",
            type_name(&other)
        ))),
    }
}

pub fn secret_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, SecretString>, D::Error> {
    match Value::deserialize(d)? {
        Value::Object(m) => m
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, SecretString::from(s))),
                other => Err(serde::de::Error::custom(format!(
                    "{k}: expected a string, found {} (value hidden: it is a secret)",
                    type_name(&other)
                ))),
            })
            .collect(),
        other => Err(serde::de::Error::custom(format!(
            "expected a table of strings, found {} (value hidden: it is a secret)",
            type_name(&other)
        ))),
    }
}

fn not_a_string<E: serde::de::Error>(v: &Value) -> E {
    E::custom(format!(
        "expected a string, found {} (value hidden: it is a secret; quote it)",
        type_name(v)
    ))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a table",
    }
}

/// Whether the dotted, lowercase key `path` holds a secret: `twilio.auth_tokens`,
/// or `channels.<name>.<key>` (and anything inside it) for a key any kind lists
/// as secret.
fn is_secret_path(path: &[&str]) -> bool {
    let dotted = path.join(".");
    if SECRET_PATHS
        .iter()
        .any(|p| dotted == *p || dotted.starts_with(&format!("{p}.")))
    {
        return true;
    }
    match path {
        ["channels", _, key, ..] => crate::kinds::all_secret_keys().any(|k| k == *key),
        _ => false,
    }
}

/// Environment overrides of secret keys: the key path (lowercase) and the value.
pub(super) type SecretEnv = Vec<(Vec<String>, String)>;

/// The `TWILERT__*` overrides of secret keys, split from the rest: those go to
/// the `config` crate (which coerces numbers and booleans), these are set as
/// strings by [`apply_env`].
pub(super) fn split_env(env: HashMap<String, String>) -> (HashMap<String, String>, SecretEnv) {
    let mut plain = HashMap::new();
    let mut secret = vec![];
    for (k, v) in env {
        let lower = k.to_lowercase();
        let path: Option<Vec<String>> = lower
            .strip_prefix(PREFIX)
            .map(|rest| rest.split("__").map(str::to_string).collect());
        match path {
            Some(p) if is_secret_path(&p.iter().map(String::as_str).collect::<Vec<_>>()) => {
                secret.push((p, v))
            }
            _ => {
                plain.insert(k, v);
            }
        }
    }
    secret.sort();
    (plain, secret)
}

/// Sets each secret override in `tree`, as a string (`twilio.auth_tokens`: a
/// comma-separated list). Errors name the variable, never its value.
pub(super) fn apply_env(
    tree: &mut Value,
    secret: Vec<(Vec<String>, String)>,
) -> Result<(), String> {
    for (path, value) in secret {
        let value = if SECRET_LISTS.contains(&path.join(".").as_str()) {
            Value::Array(value.split(',').map(|s| Value::String(s.into())).collect())
        } else {
            Value::String(value)
        };
        let name = format!("TWILERT__{}", path.join("__").to_uppercase());
        let Some((last, parents)) = path.split_last() else {
            continue;
        };
        let mut at = &mut *tree;
        for p in parents {
            let Value::Object(m) = at else {
                return Err(format!("{name}: {} is not a table", parents.join(".")));
            };
            at = m
                .entry(p.clone())
                .or_insert_with(|| Value::Object(Default::default()));
        }
        match at {
            Value::Object(m) => {
                m.insert(last.clone(), value);
            }
            _ => return Err(format!("{name}: {} is not a table", parents.join("."))),
        }
    }
    Ok(())
}

/// The values of every secret key in `tree` (after `${VAR}` expansion), longest
/// first, for [`redact`]. Channels of an unknown kind count every kind's keys.
pub(super) fn collect(tree: &Value) -> Vec<String> {
    let mut out = vec![];
    for path in SECRET_PATHS {
        let pointer = format!("/{}", path.replace('.', "/"));
        if let Some(v) = tree.pointer(&pointer) {
            push_all(v, &mut out);
        }
    }
    if let Some(Value::Object(channels)) = tree.get("channels") {
        for ch in channels.values() {
            let kind = ch
                .get("kind")
                .and_then(Value::as_str)
                .and_then(crate::kinds::KindInfo::named);
            let keys: Vec<&str> = match kind {
                Some(k) => k.secret_keys.to_vec(),
                None => crate::kinds::all_secret_keys().collect(),
            };
            for key in keys {
                if let Some(v) = ch.get(key) {
                    push_all(v, &mut out);
                }
            }
        }
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

/// Every scalar in `v` (strings, and numbers or booleans a secret was mistyped as).
fn push_all(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| push_all(i, out)),
        Value::Object(m) => m.values().for_each(|i| push_all(i, out)),
        Value::String(s) => push(s, out),
        Value::Number(n) => push(&n.to_string(), out),
        Value::Bool(_) | Value::Null => {}
    }
}

fn push(s: &str, out: &mut Vec<String>) {
    let s = s.trim();
    if s.len() >= MIN_SECRET && !out.iter().any(|o| o == s) {
        out.push(s.to_string());
    }
}

/// A TOML syntax error without the source lines it quotes (`3 | url = "..."`):
/// the line may hold a secret, and the line and column still say where it is.
pub(super) fn without_source(message: &str) -> String {
    let is_source = |l: &str| {
        let t = l.trim_start();
        let digits = t.trim_start_matches(|c: char| c.is_ascii_digit());
        digits.trim_start().starts_with('|')
    };
    let kept: Vec<&str> = message
        .lines()
        .filter(|l| !is_source(l) && !l.trim().is_empty())
        .collect();
    kept.join(": ")
}

/// `text` with every secret value replaced by `[REDACTED]`.
pub(super) fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        out = out.replace(s.as_str(), "[REDACTED]");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn secret_overrides_are_split_from_the_rest() {
        let (plain, secret) = split_env(env(&[
            ("TWILERT__SERVER__MAX_BODY_BYTES", "1000"),
            ("TWILERT__CHANNELS__PD__ROUTING_KEY", "012345"),
            ("TWILERT__CHANNELS__HOOK__HEADERS__X-TOKEN", "42"),
            ("TWILERT__TWILIO__AUTH_TOKENS", "1,2"),
            ("TWILERT__CHANNELS__PD__BURST", "5"),
            ("HOME", "/root"),
        ]));
        assert_eq!(plain.len(), 3, "{plain:?}");
        assert!(plain.contains_key("TWILERT__CHANNELS__PD__BURST"));
        let paths: Vec<String> = secret.iter().map(|(p, _)| p.join(".")).collect();
        assert_eq!(
            paths,
            [
                "channels.hook.headers.x-token",
                "channels.pd.routing_key",
                "twilio.auth_tokens"
            ]
        );
        let mut tree = serde_json::json!({"channels": {"pd": {"kind": "pagerduty"}}});
        apply_env(&mut tree, secret).expect("applies");
        assert_eq!(tree["channels"]["pd"]["routing_key"], "012345");
        assert_eq!(tree["channels"]["hook"]["headers"]["x-token"], "42");
        assert_eq!(tree["twilio"]["auth_tokens"], serde_json::json!(["1", "2"]));
    }

    #[test]
    fn a_non_table_parent_is_named_not_shown() {
        let (_, secret) = split_env(env(&[("TWILERT__CHANNELS__PD__URL", "https://x/sekrit")]));
        let mut tree = serde_json::json!({"channels": {"pd": "oops"}});
        let e = apply_env(&mut tree, secret).expect_err("refused");
        assert!(
            e.contains("TWILERT__CHANNELS__PD__URL") && !e.contains("sekrit"),
            "{e}"
        );
    }

    #[test]
    fn collects_by_the_kinds_secret_keys() {
        let tree = serde_json::json!({
            "twilio": {"auth_tokens": ["tok-123456"]},
            "channels": {
                "pd": {"kind": "pagerduty", "routing_key": 1234567, "url": "https://events.example.com/x"},
                "hook": {"kind": "webhook", "url": "https://h.example.com/p", "headers": {"a": "Bearer abcdef"}},
                "odd": {"kind": "nope", "smtp_url": "smtp://u:pw123456@h"}
            }
        });
        let got = collect(&tree);
        for s in [
            "tok-123456",
            "1234567",
            "https://h.example.com/p",
            "Bearer abcdef",
            "smtp://u:pw123456@h",
        ] {
            assert!(got.iter().any(|g| g == s), "{s} in {got:?}");
        }
        assert!(
            !got.iter().any(|g| g.contains("events.example.com")),
            "PagerDuty's url is not a secret: {got:?}"
        );
        assert_eq!(redact("key 1234567!", &got), "key [REDACTED]!");
    }
}
