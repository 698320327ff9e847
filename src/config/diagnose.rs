//! Every problem in a config that does not load, in one run (for `twilert check`).
//!
//! [`super::load`] stops at the first error, which is right for `serve` but makes a
//! newcomer fix a config one line per run. [`diagnose`] goes on past each problem:
//!
//! 1. the TOML (plus `TWILERT__*` overrides) must parse — a syntax error stops here;
//! 2. every `${VAR}` is expanded, recording *each* missing variable by key (a missing
//!    one stands in as `""`, which turns a channel off rather than failing later);
//! 3. the strict deserialization is repeated, each time removing the key it stopped at
//!    (an unknown key, a bad duration, a wrong type) and recording the problem, so
//!    every typo is named;
//! 4. what is left is returned as [`Diagnosis::settings`], so the caller can compile
//!    routes and templates on it and report their problems too (bad patterns, unknown
//!    channels). [`Diagnosis::covers`] tells which of those only echo a key already
//!    reported.
//!
//! Messages have the same form as `load`'s (`key: what is wrong`), and values of
//! secret keys (`auth_tokens`, channel `url`, `smtp_url`, `routing_key`, `headers`)
//! never appear in them ([`Diagnosis::redact`]).

use super::expand::{expand_tree, name_routes};
use super::{ConfigError, Settings};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::Path;

/// Most keys a single run will remove before giving up (a safety net against loops).
const MAX_REPAIRS: usize = 100;

/// What [`diagnose`] found.
#[derive(Debug, Default)]
pub struct Diagnosis {
    /// One line per problem, `key: message`, in the order found.
    pub errors: Vec<String>,
    /// The settings left once every reported key was removed; `None` when the file
    /// cannot be read or parsed, or a problem could not be worked around.
    pub settings: Option<Settings>,
    /// Key paths already reported (`routes[0].error_code`, `channels.slack.url`).
    keys: Vec<String>,
    /// Secret values (after expansion), hidden from every message.
    secrets: Vec<String>,
}

impl Diagnosis {
    /// Whether `message` (`routes[1] ("sms").window: ...`) is about a key already
    /// reported, or one inside it: a consequence of that problem, not a new one.
    pub fn covers(&self, message: &str) -> bool {
        let m = strip_route_names(message);
        self.keys.iter().any(|k| {
            let k = strip_route_names(k);
            m.strip_prefix(k.as_str())
                .is_some_and(|rest| rest.starts_with([':', '.', '[']))
        })
    }

    /// `text` with every secret value replaced by `[REDACTED]`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            out = out.replace(s.as_str(), "[REDACTED]");
        }
        out
    }

    fn error(&mut self, key: String, message: String) {
        self.error_at(key.clone(), key, message);
    }

    /// Reports `message` at `shown`, covering `key` (which may be deeper).
    fn error_at(&mut self, shown: String, key: String, message: String) {
        let line = if shown.is_empty() {
            message
        } else {
            format!("{shown}: {message}")
        };
        let line = self.redact(&line);
        if !self.errors.contains(&line) {
            self.errors.push(line);
        }
        self.keys.push(key);
    }
}

/// Reads `path` with the process environment and reports every problem found.
pub fn diagnose(path: &Path) -> Diagnosis {
    diagnose_with_env(path, |k| std::env::var(k).ok(), std::env::vars().collect())
}

/// As [`diagnose`], with the environment injected (tests).
pub fn diagnose_with_env(
    path: &Path,
    lookup: impl Fn(&str) -> Option<String>,
    env: HashMap<String, String>,
) -> Diagnosis {
    match std::fs::read_to_string(path) {
        Ok(text) => diagnose_str(&text, &path.display().to_string(), lookup, env),
        Err(e) => {
            let mut d = Diagnosis::default();
            d.error(path.display().to_string(), e.to_string());
            d
        }
    }
}

/// As [`diagnose`], on config text; `origin` names it in errors.
pub fn diagnose_str(
    text: &str,
    origin: &str,
    lookup: impl Fn(&str) -> Option<String>,
    env: HashMap<String, String>,
) -> Diagnosis {
    let mut d = Diagnosis::default();
    let mut tree = match super::raw_tree(text, env) {
        Ok(t) => t,
        Err(message) => {
            d.error(origin.to_string(), message);
            return d;
        }
    };
    let routes = tree.get("routes").cloned();
    let mut expansion_errors = vec![];
    expand_each(&mut tree, String::new(), &lookup, &mut expansion_errors);
    collect_secrets(&tree, &mut d.secrets);
    for (path, message) in expansion_errors {
        d.error(name_routes(&path, routes.as_ref()), message);
    }
    d.settings = deserialize_repairing(tree, routes.as_ref(), &mut d);
    d
}

/// Expands `${VAR}` in every string on its own, so one missing variable does not hide
/// the next. A string that cannot be expanded becomes `""`.
fn expand_each(
    v: &mut Value,
    path: String,
    lookup: &impl Fn(&str) -> Option<String>,
    errors: &mut Vec<(String, String)>,
) {
    match v {
        Value::String(s) if s.contains('$') => {
            let mut leaf = Value::String(std::mem::take(s));
            match expand_tree(&mut leaf, lookup) {
                Ok(()) => *v = leaf,
                Err(e) => {
                    let message = match e {
                        ConfigError::MissingVar { var, .. } => format!(
                            "environment variable {var} is not set (use ${{{var}:-}} to make it optional)"
                        ),
                        ConfigError::Invalid { message, .. } => message,
                        ConfigError::Read { message, .. } => message,
                    };
                    errors.push((path, message));
                    *v = Value::String(String::new());
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                expand_each(item, format!("{path}[{i}]"), lookup, errors);
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                expand_each(item, p, lookup, errors);
            }
        }
        _ => {}
    }
}

/// Values of the keys that hold secrets, as expanded.
fn collect_secrets(tree: &Value, out: &mut Vec<String>) {
    let mut push = |v: &Value| {
        if let Some(s) = v.as_str().map(str::trim) {
            // Very short values would redact ordinary words; they are not real secrets.
            if s.len() >= 6 && !out.iter().any(|o| o == s) {
                out.push(s.to_string());
            }
        }
    };
    if let Some(tokens) = tree.pointer("/twilio/auth_tokens") {
        match tokens {
            Value::Array(items) => items.iter().for_each(&mut push),
            other => push(other),
        }
    }
    if let Some(Value::Object(keys)) = tree.pointer("/twilio/shared_keys") {
        keys.values().for_each(&mut push);
    }
    if let Some(Value::Object(channels)) = tree.get("channels") {
        for ch in channels.values() {
            for key in ["url", "smtp_url", "routing_key"] {
                if let Some(v) = ch.get(key) {
                    push(v);
                }
            }
            if let Some(Value::Object(headers)) = ch.get("headers") {
                headers.values().for_each(&mut push);
            }
        }
    }
    // Longest first, so a secret containing another is hidden whole.
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn display(segs: &[Seg]) -> String {
    let mut out = String::new();
    for s in segs {
        match s {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The path of a deserialization error, or `None` when serde lost track of it.
fn segments(path: &serde_path_to_error::Path) -> Option<Vec<Seg>> {
    use serde_path_to_error::Segment;
    path.iter()
        .map(|s| match s {
            Segment::Map { key } => Some(Seg::Key(key.clone())),
            Segment::Seq { index } => Some(Seg::Index(*index)),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect()
}

/// `` unknown field `urll`, expected ... `` → `urll`.
fn quoted_field<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    let rest = message.strip_prefix(prefix)?;
    let end = rest.find('`')?;
    Some(&rest[..end])
}

/// For `` unknown field `windw`, expected one of `window`, ... ``: the expected name
/// closest to the typo, if it is close (a few edits).
fn closest<'m>(typo: &str, message: &'m str) -> Option<&'m str> {
    let (_, expected) = message.split_once("expected")?;
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|c| (edit_distance(typo, c), c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// What to do with the tree at a key the deserializer stopped at.
enum Fix {
    Remove(Vec<Seg>),
    Set(Vec<Seg>, Value),
}

/// Deserializes `tree` strictly; on each error records it and fixes the tree (removes
/// the offending key; a broken channel becomes a console placeholder so routes naming
/// it still resolve), then tries again.
fn deserialize_repairing(
    mut tree: Value,
    routes: Option<&Value>,
    d: &mut Diagnosis,
) -> Option<Settings> {
    let mut seen: Vec<(String, String)> = vec![];
    for _ in 0..MAX_REPAIRS {
        let err = match serde_path_to_error::deserialize::<_, Settings>(tree.clone()) {
            Ok(s) => return Some(s),
            Err(e) => e,
        };
        let message = err.inner().to_string();
        let shown = name_routes(&err.path().to_string(), routes);
        let Some(segs) = segments(err.path()) else {
            d.error(shown, message);
            return None;
        };
        let mut shown = shown;
        let (key, fix) = if let Some(field) = quoted_field(&message, "unknown field `") {
            let mut target = segs.clone();
            if target.last() != Some(&Seg::Key(field.to_string())) {
                target.push(Seg::Key(field.to_string()));
            }
            (display(&target), Fix::Remove(target))
        } else if let Some(field) = quoted_field(&message, "missing field `") {
            let mut target = segs.clone();
            target.push(Seg::Key(field.to_string()));
            (
                display(&target),
                Fix::Set(target, Value::String(String::new())),
            )
        } else {
            // Cut back to the nearest key (a bad list item removes the whole list).
            let mut target = segs.clone();
            while matches!(target.last(), Some(Seg::Index(_))) {
                target.pop();
            }
            (display(&target), Fix::Remove(target))
        };
        let key = name_routes(&key, routes);
        if seen.contains(&(key.clone(), message.clone())) {
            // The fix did not take; stop rather than loop.
            return None;
        }
        seen.push((key.clone(), message.clone()));
        if !message.starts_with("missing field `") {
            shown = key.clone();
        }
        let message =
            match quoted_field(&message, "unknown field `").and_then(|f| closest(f, &message)) {
                Some(hint) => format!("{message}; did you mean `{hint}`?"),
                None => message,
            };
        d.error_at(shown, key, message);
        let (Fix::Remove(target) | Fix::Set(target, _)) = &fix;
        let fixed = match (channel_kind(target), &fix) {
            (Some(channel), _) => set(&mut tree, channel, placeholder_channel()),
            (None, Fix::Remove(target)) => remove(&mut tree, target),
            (None, Fix::Set(target, value)) => set(&mut tree, target, value.clone()),
        };
        if !fixed {
            return None;
        }
    }
    None
}

/// For `channels.<name>` or `channels.<name>.kind` (a whole channel, or its kind),
/// the channel's path: such a channel is replaced by a placeholder rather than
/// removed, so routes naming it do not report it as unknown.
fn channel_kind(target: &[Seg]) -> Option<&[Seg]> {
    match target {
        [Seg::Key(c), Seg::Key(_)] if c == "channels" => Some(target),
        [Seg::Key(c), Seg::Key(_), Seg::Key(k)] if c == "channels" && k == "kind" => {
            Some(&target[..2])
        }
        _ => None,
    }
}

fn placeholder_channel() -> Value {
    Value::Object(Map::from_iter([("kind".into(), "console".into())]))
}

fn at_mut<'v>(tree: &'v mut Value, segs: &[Seg]) -> Option<&'v mut Value> {
    segs.iter().try_fold(tree, |v, s| match s {
        Seg::Key(k) => v.get_mut(k.as_str()),
        Seg::Index(i) => v.get_mut(*i),
    })
}

fn remove(tree: &mut Value, target: &[Seg]) -> bool {
    let Some((Seg::Key(last), parent)) = target.split_last() else {
        return false;
    };
    at_mut(tree, parent)
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove(last))
        .is_some()
}

fn set(tree: &mut Value, target: &[Seg], value: Value) -> bool {
    let Some((Seg::Key(last), parent)) = target.split_last() else {
        return false;
    };
    match at_mut(tree, parent).and_then(Value::as_object_mut) {
        Some(m) => {
            m.insert(last.clone(), value);
            true
        }
        None => false,
    }
}

/// `routes[1] ("sms").window` → `routes[1].window`.
fn strip_route_names(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("] (\"") {
        out.push_str(&rest[..=i]);
        let after = &rest[i + 4..];
        // The name is Debug-quoted; find its closing `")`, skipping escaped quotes.
        let mut end = None;
        let bytes = after.as_bytes();
        let mut j = 0;
        while j < bytes.len() {
            match bytes[j] {
                b'\\' => j += 2,
                b'"' if bytes.get(j + 1) == Some(&b')') => {
                    end = Some(j);
                    break;
                }
                _ => j += 1,
            }
        }
        match end {
            Some(e) => rest = &after[e + 2..],
            None => {
                out.push_str(&rest[i + 1..]);
                return out;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, env: &[(&str, &str)]) -> Diagnosis {
        let m: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = m.clone();
        diagnose_str(text, "config.toml", move |k| lookup.get(k).cloned(), m)
    }

    const THREE_PROBLEMS: &str = r#"
[twilio]
auth_tokens = ["${TWILIO_AUTH_TOKEN}"]

[channels.slack]
kind = "slack"
url = "${SLACK_WEBHOOK_URL}"

[[routes]]
name = "voice"
error_code = ["11200"]
channels = ["slack"]

[[routes]]
name = "sms"
error_codes = ["300o1"]
windw = "5m"
channels = ["slack"]
"#;

    #[test]
    fn names_every_missing_variable_and_unknown_key() {
        let d = run(THREE_PROBLEMS, &[]);
        let all = d.errors.join("\n");
        assert!(
            all.contains(
                "twilio.auth_tokens[0]: environment variable TWILIO_AUTH_TOKEN is not set"
            ),
            "{all}"
        );
        assert!(
            all.contains("channels.slack.url: environment variable SLACK_WEBHOOK_URL is not set"),
            "{all}"
        );
        assert!(
            all.contains("routes[0] (\"voice\").error_code: unknown field `error_code`"),
            "{all}"
        );
        assert!(
            all.contains("routes[1] (\"sms\").windw: unknown field `windw`"),
            "{all}"
        );
        assert!(all.contains("did you mean `window`?"), "{all}");
        assert!(all.contains("did you mean `error_codes`?"), "{all}");
        assert_eq!(d.errors.len(), 4, "{all}");
        let s = d.settings.expect("repaired settings");
        assert_eq!(s.routes.len(), 2);
        assert_eq!(
            s.routes[1].error_codes,
            vec!["300o1".to_string()],
            "patterns are left for the router"
        );
    }

    #[test]
    fn unknown_channel_keys_and_kinds_are_named_and_the_channel_kept() {
        let d = run(
            r#"
[channels.slack]
kind = "slack"
urll = "https://hooks.slack.com/services/T/B/abcdefsecret"
[channels.pager]
kind = "pagerdooty"
[defaults]
window = "5 parsecs"
[[routes]]
name = "x"
channels = ["slack", "pager"]
"#,
            &[],
        );
        let all = d.errors.join("\n");
        eprintln!("{all}");
        assert!(all.contains("channels.slack"), "{all}");
        assert!(all.contains("urll"), "{all}");
        assert!(all.contains("channels.pager"), "{all}");
        assert!(all.contains("pagerdooty"), "{all}");
        assert!(all.contains("defaults.window"), "{all}");
        let s = d.settings.expect("repaired settings");
        assert!(s.channels.contains_key("slack") && s.channels.contains_key("pager"));
    }

    #[test]
    fn secrets_never_appear() {
        let d = run(
            r#"
[twilio]
auth_tokens = ["${TOKEN}"]
[channels.slack]
kind = "slack"
url = "https://hooks.slack.com/services/T/B/literalsecret"
burst = "https://hooks.slack.com/services/T/B/literalsecret"
[server]
max_body_bytes = "${TOKEN}"
"#,
            &[("TOKEN", "tok-very-secret")],
        );
        let all = d.errors.join("\n");
        assert!(!d.errors.is_empty());
        assert!(!all.contains("literalsecret"), "{all}");
        assert!(!all.contains("tok-very-secret"), "{all}");
    }

    #[test]
    fn syntax_error_stops_with_one_message() {
        let d = run("[server\nlisten = 1", &[]);
        assert_eq!(d.errors.len(), 1, "{:?}", d.errors);
        assert!(d.settings.is_none());
    }

    #[test]
    fn missing_route_name_is_reported_once() {
        let d = run("[[routes]]\nchannels = []\nmute = true\n", &[]);
        assert!(
            d.errors[0].contains("missing field `name`"),
            "{:?}",
            d.errors
        );
        assert!(d.covers("routes[0] (\"\").name: is empty; every route needs a unique name"));
        assert!(!d.covers("routes[1] (\"x\").name: is empty"));
    }

    #[test]
    fn covers_matches_keys_not_prefixes_of_names() {
        let d = run(
            "[[routes]]\nname = \"a\"\nwindw = \"5m\"\nchannels = []\nmute = true\n",
            &[],
        );
        assert!(d.covers("routes[0] (\"a\").windw: x"));
        assert!(!d.covers("routes[0] (\"a\").window: x"));
        assert!(!d.covers("routes[0] (\"a\").windwx: x"));
        assert_eq!(
            strip_route_names("routes[2] (\"a\\\")b\").x[1]: y"),
            "routes[2].x[1]: y"
        );
    }

    #[test]
    fn a_good_config_has_no_errors() {
        let d = run(
            "[channels.c]\nkind = \"console\"\n[[routes]]\nname = \"a\"\nchannels = [\"c\"]\n",
            &[],
        );
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        assert!(d.settings.is_some());
    }
}
