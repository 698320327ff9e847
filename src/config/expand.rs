//! `${VAR}` expansion over the raw config tree, with key paths for errors.

use super::ConfigError;
use serde_json::Value;

/// Replaces `${VAR}` and `${VAR:-default}` in every string; `$$` is a literal `$`.
pub(super) fn expand_tree(
    v: &mut Value,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    walk(v, String::new(), lookup)
}

fn walk(
    v: &mut Value,
    path: String,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    match v {
        Value::String(s) if s.contains('$') => {
            *s = expand_str(s, &path, lookup)?;
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, format!("{path}[{i}]"), lookup)?;
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(item, p, lookup)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn expand_str(
    s: &str,
    key: &str,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').ok_or_else(|| ConfigError::Invalid {
                key: key.to_string(),
                message: "unclosed ${ in value".into(),
            })?;
            let expr = &body[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (expr, None),
            };
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(ConfigError::Invalid {
                    key: key.to_string(),
                    message: format!("${{{expr}}} is not a valid variable reference"),
                });
            }
            match (lookup(name), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(ConfigError::MissingVar {
                        key: key.to_string(),
                        var: name.to_string(),
                    })
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Turns `routes[2].error_codes[1]` into `routes[2] ("name").error_codes[1]`.
pub(super) fn name_routes(path: &str, routes: Option<&Value>) -> String {
    let Some(rest) = path.strip_prefix("routes[") else {
        return path.to_string();
    };
    let Some(close) = rest.find(']') else {
        return path.to_string();
    };
    let Ok(idx) = rest[..close].parse::<usize>() else {
        return path.to_string();
    };
    match routes
        .and_then(|r| r.get(idx))
        .and_then(|r| r.get("name"))
        .and_then(Value::as_str)
    {
        Some(name) => format!("routes[{idx}] ({name:?}){}", &rest[close + 1..]),
        None => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        (k == "TOKEN").then(|| "s3cret".to_string())
    }

    #[test]
    fn expands_and_defaults() {
        assert_eq!(expand_str("a${TOKEN}b", "k", &env).unwrap(), "as3cretb");
        assert_eq!(expand_str("${NOPE:-}", "k", &env).unwrap(), "");
        assert_eq!(expand_str("${NOPE:-x}", "k", &env).unwrap(), "x");
        assert_eq!(expand_str("cost $$5 $x", "k", &env).unwrap(), "cost $5 $x");
    }

    #[test]
    fn missing_names_key() {
        let e = expand_str("${NOPE}", "channels.slack.url", &env)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("channels.slack.url") && e.contains("NOPE"),
            "{e}"
        );
        let e = expand_str("${NOPE", "k", &env).unwrap_err().to_string();
        assert!(e.contains("unclosed"), "{e}");
    }
}
