//! Template helpers. Value helpers (`truncate`, `time`, `coalesce`, `join`,
//! `code`, `upper`) return text that the registry's escape function then escapes;
//! `trusted` and `json` write their output themselves, escaped for the flavor.

use handlebars::{
    Context, Handlebars, Helper, HelperDef, HelperResult, Output, RenderContext, RenderError,
    ScopedJson,
};
use serde_json::Value;

use super::escape::{html_escape, Flavor};

/// Registers every helper on a registry whose escape function is `flavor`'s.
pub(crate) fn register(hb: &mut Handlebars<'static>, flavor: Flavor) {
    hb.register_helper("trusted", Box::new(Trusted(flavor)));
    hb.register_helper("json", Box::new(Json(flavor)));
    hb.register_helper("truncate", Box::new(ValueHelper(truncate)));
    hb.register_helper("time", Box::new(ValueHelper(time)));
    hb.register_helper("coalesce", Box::new(ValueHelper(coalesce)));
    hb.register_helper("join", Box::new(ValueHelper(join)));
    hb.register_helper("code", Box::new(ValueHelper(code)));
    hb.register_helper("upper", Box::new(ValueHelper(upper)));
}

/// A helper computed from its parameters alone.
struct ValueHelper(fn(&Helper<'_>) -> Value);

impl HelperDef for ValueHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        Ok(ScopedJson::Derived((self.0)(h)))
    }
}

fn param<'a>(h: &'a Helper<'_>, i: usize) -> &'a Value {
    h.param(i).map(|p| p.value()).unwrap_or(&Value::Null)
}

/// Text of a scalar; empty for null, JSON for arrays and objects.
pub(crate) fn text_of(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(_) | Value::Number(_) => v.to_string(),
        Value::Array(_) | Value::Object(_) => v.to_string(),
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::String(s) => !s.trim().is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Number(_) => true,
    }
}

/// At most `max` characters, with "…" when cut.
pub(crate) fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `{{truncate text 200}}`: at most 200 characters, "…" when cut.
fn truncate(h: &Helper<'_>) -> Value {
    let max = param(h, 1).as_u64().unwrap_or(200) as usize;
    Value::String(cut(&text_of(param(h, 0)), max))
}

/// `{{code text 500}}`: like `truncate`, for inside a ``` block: a run of three
/// backticks in the text cannot close the block.
fn code(h: &Helper<'_>) -> Value {
    let max = param(h, 1).as_u64().unwrap_or(500) as usize;
    let text = cut(text_of(param(h, 0)).trim_end(), max);
    Value::String(text.replace("```", "ˋˋˋ"))
}

/// `{{time t}}` → `2024-05-01 12:00:03 UTC`; `{{time t "iso"}}`, `"time"`,
/// `"date"`. `t` is RFC 3339 text or unix milliseconds; unreadable text is shown
/// as it came.
fn time(h: &Helper<'_>) -> Value {
    let format = param(h, 1).as_str().unwrap_or("human");
    let parsed = match param(h, 0) {
        Value::String(s) => humantime::parse_rfc3339_weak(s.trim()).ok(),
        Value::Number(n) => n
            .as_u64()
            .map(|ms| std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)),
        _ => None,
    };
    let Some(t) = parsed else {
        return Value::String(text_of(param(h, 0)));
    };
    Value::String(format_time(t, format))
}

/// `2024-05-01 12:00:03 UTC` (`"time"`: `12:00:03 UTC`, `"date"`, `"iso"`): the
/// `{{time}}` helper's forms, for built-in messages too.
pub(crate) fn format_time(t: std::time::SystemTime, format: &str) -> String {
    let iso = humantime::format_rfc3339_seconds(t).to_string(); // 2024-05-01T12:00:03Z
    let (date, clock) = iso
        .trim_end_matches('Z')
        .split_once('T')
        .unwrap_or((&iso, ""));
    match format {
        "iso" => iso.clone(),
        "time" => format!("{clock} UTC"),
        "date" => date.to_string(),
        _ => format!("{date} {clock} UTC"),
    }
}

/// `{{coalesce a b "—"}}`: the first non-empty value.
fn coalesce(h: &Helper<'_>) -> Value {
    h.params()
        .iter()
        .map(|p| p.value())
        .find(|v| truthy(v))
        .cloned()
        .unwrap_or(Value::Null)
}

/// `{{join list ", "}}`.
fn join(h: &Helper<'_>) -> Value {
    let sep = param(h, 1).as_str().unwrap_or(", ");
    match param(h, 0) {
        Value::Array(items) => {
            Value::String(items.iter().map(text_of).collect::<Vec<_>>().join(sep))
        }
        other => Value::String(text_of(other)),
    }
}

fn upper(h: &Helper<'_>) -> Value {
    Value::String(text_of(param(h, 0)).to_uppercase())
}

/// `{{trusted mention}}`: configuration text, valid in the target's syntax but
/// not entity-escaped (so Slack's `<!here>` still notifies).
struct Trusted(Flavor);

impl HelperDef for Trusted {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        out.write(&self.0.escape_trusted(&text_of(param(h, 0))))?;
        Ok(())
    }
}

/// `{{json value}}`: the value as raw JSON (`null` when absent), for JSON
/// payloads; `{{json value pretty=true}}` indents. In HTML it is escaped.
struct Json(Flavor);

impl HelperDef for Json {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let v = param(h, 0);
        let pretty = h.hash_get("pretty").is_some_and(|p| truthy(p.value()));
        let text = if pretty {
            serde_json::to_string_pretty(v)
        } else {
            serde_json::to_string(v)
        }
        .unwrap_or_else(|_| "null".into());
        let text = match self.0 {
            Flavor::Html => html_escape(&text),
            flavor if flavor.is_json() => text,
            flavor => flavor.escape(&text),
        };
        out.write(&text)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(flavor: Flavor, tpl: &str, data: Value) -> String {
        let mut hb = Handlebars::new();
        hb.register_escape_fn(move |s| flavor.escape(s));
        register(&mut hb, flavor);
        hb.render_template(tpl, &data).expect("renders")
    }

    #[test]
    fn truncate_and_code() {
        let d = json!({"s": "abcdef", "c": "x```y"});
        assert_eq!(render(Flavor::Text, "{{truncate s 4}}", d.clone()), "abc…");
        assert_eq!(
            render(Flavor::Text, "{{truncate s 6}}", d.clone()),
            "abcdef"
        );
        assert_eq!(render(Flavor::Text, "{{code c 100}}", d), "xˋˋˋy");
    }

    #[test]
    fn truncated_text_is_still_escaped() {
        let d = json!({"s": "<!channel> now"});
        assert_eq!(render(Flavor::Slack, "{{truncate s 5}}", d), "&lt;!ch…");
    }

    #[test]
    fn time_formats() {
        let d = json!({"t": "2024-05-01T12:00:03.512Z", "ms": 1_714_564_803_000u64, "bad": "soon"});
        assert_eq!(
            render(Flavor::Text, "{{time t}}", d.clone()),
            "2024-05-01 12:00:03 UTC"
        );
        assert_eq!(
            render(Flavor::Text, "{{time ms \"iso\"}}", d.clone()),
            "2024-05-01T12:00:03Z"
        );
        assert_eq!(
            render(Flavor::Text, "{{time t \"time\"}}", d.clone()),
            "12:00:03 UTC"
        );
        assert_eq!(render(Flavor::Text, "{{time bad}}", d), "soon");
    }

    #[test]
    fn json_and_trusted_bypass_entity_escaping() {
        let d = json!({"m": "<!here>", "o": {"a": "<\"x\">"}, "none": null});
        assert_eq!(render(Flavor::Slack, "{{trusted m}}", d.clone()), "<!here>");
        assert_eq!(render(Flavor::Slack, "{{m}}", d.clone()), "&lt;!here&gt;");
        assert_eq!(
            render(Flavor::Json, "{{json o}}", d.clone()),
            r#"{"a":"<\"x\">"}"#
        );
        assert_eq!(render(Flavor::Json, "{{json missing}}", d.clone()), "null");
        assert!(!render(Flavor::Html, "{{json o}}", d).contains('<'));
    }

    #[test]
    fn coalesce_and_join() {
        let d = json!({"a": "", "b": "B", "l": ["x", "y"]});
        assert_eq!(
            render(Flavor::Text, "{{coalesce a missing b \"z\"}}", d.clone()),
            "B"
        );
        assert_eq!(render(Flavor::Text, "{{coalesce a \"—\"}}", d.clone()), "—");
        assert_eq!(render(Flavor::Text, "{{join l \" · \"}}", d), "x · y");
    }
}
