//! Provider limits, enforced on the rendered JSON by walking it and truncating
//! with a visible marker. Each function returns whether anything was cut.

use serde_json::{json, Value};

/// Appended to every text cut to fit.
pub(crate) const MARKER: &str = "…[truncated]";

pub(crate) const SLACK_TEXT: usize = 12_000;
pub(crate) const SLACK_HEADER: usize = 150;
pub(crate) const SLACK_SECTION: usize = 3_000;
pub(crate) const SLACK_FIELD: usize = 2_000;
pub(crate) const SLACK_FIELDS: usize = 10;
pub(crate) const SLACK_CONTEXT_ELEMENTS: usize = 10;
pub(crate) const SLACK_BLOCKS: usize = 50;
/// Teams rejects cards over 28 KB; keep room for the envelope.
pub(crate) const TEAMS_BYTES: usize = 27 * 1024;
pub(crate) const DISCORD_CONTENT: usize = 2_000;
pub(crate) const DISCORD_EMBEDS: usize = 10;
pub(crate) const DISCORD_TITLE: usize = 256;
pub(crate) const DISCORD_DESCRIPTION: usize = 4_096;
pub(crate) const DISCORD_FIELDS: usize = 25;
pub(crate) const DISCORD_FIELD_NAME: usize = 256;
pub(crate) const DISCORD_FIELD_VALUE: usize = 1_024;
pub(crate) const DISCORD_FOOTER: usize = 2_048;
pub(crate) const DISCORD_TOTAL: usize = 6_000;
pub(crate) const PAGERDUTY_SUMMARY: usize = 1_024;
/// PagerDuty accepts events up to 512 KB.
pub(crate) const PAGERDUTY_BYTES: usize = 500 * 1024;
pub(crate) const EMAIL_SUBJECT: usize = 250;

/// Shrinking never cuts a text below this many characters.
const MIN_KEEP: usize = 40;

/// `s` cut to at most `max` characters, the marker included; `None` when it fits.
/// Never ends inside an `&…;` entity (Slack text is entity-escaped).
pub(crate) fn cut(s: &str, max: usize) -> Option<String> {
    if s.chars().count() <= max {
        return None;
    }
    let keep = max.saturating_sub(MARKER.chars().count());
    let mut head: String = s.chars().take(keep).collect();
    if let Some(amp) = head.rfind('&') {
        let tail = &head[amp..];
        if !tail.contains(';') && tail.len() < 8 {
            head.truncate(amp);
        }
    }
    Some(head + MARKER)
}

/// Cuts the string at `v` (if it is one) to `max` characters.
fn cut_at(v: Option<&mut Value>, max: usize) -> bool {
    match v {
        Some(Value::String(s)) => match cut(s, max) {
            Some(short) => {
                *s = short;
                true
            }
            None => false,
        },
        _ => false,
    }
}

/// Drops array items past `max`.
fn cap_items(v: Option<&mut Value>, max: usize) -> bool {
    match v {
        Some(Value::Array(a)) if a.len() > max => {
            a.truncate(max);
            true
        }
        _ => false,
    }
}

/// Slack Block Kit: top-level text, header, section text and fields, context
/// elements, block count.
pub(crate) fn slack(v: &mut Value) -> bool {
    let mut cut_any = cut_at(v.get_mut("text"), SLACK_TEXT);
    if let Some(Value::Array(blocks)) = v.get_mut("blocks") {
        cut_any |= slack_blocks(blocks);
    }
    // Blocks inside attachments (the level-coloured bar) have the same limits.
    if let Some(Value::Array(atts)) = v.get_mut("attachments") {
        for a in atts {
            cut_any |= cut_at(a.get_mut("fallback"), SLACK_SECTION);
            if let Some(Value::Array(blocks)) = a.get_mut("blocks") {
                cut_any |= slack_blocks(blocks);
            }
        }
    }
    cut_any
}

fn slack_blocks(blocks: &mut Vec<Value>) -> bool {
    let mut cut_any = false;
    if blocks.len() > SLACK_BLOCKS {
        let dropped = blocks.len() - (SLACK_BLOCKS - 1);
        blocks.truncate(SLACK_BLOCKS - 1);
        blocks.push(json!({"type": "context", "elements": [
            {"type": "mrkdwn", "text": format!("{MARKER} {dropped} more blocks")}
        ]}));
        cut_any = true;
    }
    for block in blocks.iter_mut() {
        match block.get("type").and_then(Value::as_str) {
            Some("header") => {
                cut_any |= cut_at(block.pointer_mut("/text/text"), SLACK_HEADER);
            }
            Some("section") => {
                cut_any |= cut_at(block.pointer_mut("/text/text"), SLACK_SECTION);
                cut_any |= cap_items(block.get_mut("fields"), SLACK_FIELDS);
                if let Some(Value::Array(fields)) = block.get_mut("fields") {
                    for f in fields {
                        cut_any |= cut_at(f.get_mut("text"), SLACK_FIELD);
                    }
                }
            }
            Some("context") => {
                cut_any |= cap_items(block.get_mut("elements"), SLACK_CONTEXT_ELEMENTS);
                if let Some(Value::Array(els)) = block.get_mut("elements") {
                    for e in els {
                        cut_any |= cut_at(e.get_mut("text"), SLACK_SECTION);
                    }
                }
            }
            _ => {}
        }
    }
    cut_any
}

/// Teams: the whole message under [`TEAMS_BYTES`], shrinking the longest
/// TextBlock texts and FactSet values of the card's body first.
pub(crate) fn teams(v: &mut Value) -> bool {
    let mut paths = Vec::new();
    if let Some(Value::Array(atts)) = v.get("attachments") {
        for (i, att) in atts.iter().enumerate() {
            if let Some(body) = att.pointer("/content/body") {
                card_texts(body, &format!("/attachments/{i}/content/body"), &mut paths);
            }
        }
    }
    shrink(v, &paths, serialized_len, TEAMS_BYTES)
}

/// Paths of TextBlock texts and fact titles/values under `v`.
fn card_texts(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                card_texts(item, &format!("{path}/{i}"), out);
            }
        }
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("TextBlock") {
                out.push(format!("{path}/text"));
            }
            if let Some(Value::Array(facts)) = map.get("facts") {
                for i in 0..facts.len() {
                    out.push(format!("{path}/facts/{i}/value"));
                }
            }
            for (k, child) in map {
                if matches!(k.as_str(), "items" | "columns" | "body") {
                    card_texts(child, &format!("{path}/{}", pointer_key(k)), out);
                }
            }
        }
        _ => {}
    }
}

/// Discord: content, embed count and per-embed limits, then the 6000-character
/// total over all embeds (descriptions and field values shrink first).
pub(crate) fn discord(v: &mut Value) -> bool {
    let mut cut_any = cut_at(v.get_mut("content"), DISCORD_CONTENT);
    cut_any |= cap_items(v.get_mut("embeds"), DISCORD_EMBEDS);
    let mut paths = Vec::new();
    if let Some(Value::Array(embeds)) = v.get_mut("embeds") {
        for (i, e) in embeds.iter_mut().enumerate() {
            cut_any |= cut_at(e.get_mut("title"), DISCORD_TITLE);
            cut_any |= cut_at(e.get_mut("description"), DISCORD_DESCRIPTION);
            cut_any |= cut_at(e.pointer_mut("/footer/text"), DISCORD_FOOTER);
            cut_any |= cut_at(e.pointer_mut("/author/name"), DISCORD_FIELD_NAME);
            cut_any |= cap_items(e.get_mut("fields"), DISCORD_FIELDS);
            for p in ["title", "description", "footer/text", "author/name"] {
                paths.push(format!("/embeds/{i}/{p}"));
            }
            if let Some(Value::Array(fields)) = e.get_mut("fields") {
                for (j, f) in fields.iter_mut().enumerate() {
                    cut_any |= cut_at(f.get_mut("name"), DISCORD_FIELD_NAME);
                    cut_any |= cut_at(f.get_mut("value"), DISCORD_FIELD_VALUE);
                    paths.push(format!("/embeds/{i}/fields/{j}/value"));
                    paths.push(format!("/embeds/{i}/fields/{j}/name"));
                }
            }
        }
    }
    let total = |v: &Value| -> usize {
        paths
            .iter()
            .filter_map(|p| v.pointer(p).and_then(Value::as_str))
            .map(|s| s.chars().count())
            .sum()
    };
    cut_any | shrink(v, &paths, total, DISCORD_TOTAL)
}

/// PagerDuty Events v2: summary length and the event size (custom details shrink).
pub(crate) fn pagerduty(v: &mut Value) -> bool {
    let cut_any = cut_at(v.pointer_mut("/payload/summary"), PAGERDUTY_SUMMARY);
    let mut paths = Vec::new();
    if let Some(details) = v.pointer("/payload/custom_details") {
        string_paths(details, "/payload/custom_details", &mut paths);
    }
    cut_any | shrink(v, &paths, serialized_len, PAGERDUTY_BYTES)
}

/// Paths of every string under `v`.
fn string_paths(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::String(_) => out.push(path.to_string()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                string_paths(item, &format!("{path}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (k, child) in map {
                string_paths(child, &format!("{path}/{}", pointer_key(k)), out);
            }
        }
        _ => {}
    }
}

/// RFC 6901 escaping of one pointer segment.
fn pointer_key(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}

fn serialized_len(v: &Value) -> usize {
    serde_json::to_string(v)
        .map(|s| s.len())
        .unwrap_or(usize::MAX)
}

/// Cuts the longest of the strings at `paths` until `measure(v) <= max` or
/// nothing long enough is left. Cutting `k` characters lowers a character count
/// and a byte size by at least `k`, so each round removes the whole excess when
/// the longest text can spare it.
fn shrink(v: &mut Value, paths: &[String], measure: impl Fn(&Value) -> usize, max: usize) -> bool {
    let marker = MARKER.chars().count();
    let mut cut_any = false;
    for _ in 0..paths.len() * 2 + 8 {
        let size = measure(v);
        if size <= max {
            break;
        }
        let longest = paths
            .iter()
            .filter_map(|p| {
                let n = v.pointer(p).and_then(Value::as_str)?.chars().count();
                Some((n, p))
            })
            .max_by_key(|(n, _)| *n);
        let Some((len, path)) = longest else { break };
        if len <= MIN_KEEP + marker {
            break;
        }
        let target = len
            .saturating_sub(size - max + marker)
            .max(MIN_KEEP + marker);
        cut_any |= cut_at(v.pointer_mut(path), target);
    }
    cut_any
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_adds_marker_and_respects_entities() {
        assert_eq!(cut("short", 10), None);
        let s = cut(&"a".repeat(200), 150).expect("cut");
        assert_eq!(s.chars().count(), 150);
        assert!(s.ends_with(MARKER));
        let long = format!("{}&amp;{}", "x".repeat(136), "y".repeat(50));
        let s = cut(&long, 150).expect("cut");
        assert!(!s.contains("&am") || s.contains("&amp;"), "{s}");
    }

    #[test]
    fn slack_limits() {
        let mut blocks = vec![
            json!({"type": "header", "text": {"type": "plain_text", "text": "h".repeat(400)}}),
        ];
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": "s".repeat(5000)},
            "fields": (0..12).map(|_| json!({"type": "mrkdwn", "text": "f".repeat(2500)})).collect::<Vec<_>>()}));
        for _ in 0..60 {
            blocks.push(json!({"type": "divider"}));
        }
        let mut v = json!({"text": "t".repeat(20_000), "blocks": blocks});
        assert!(slack(&mut v));
        let b = v["blocks"].as_array().expect("blocks");
        assert_eq!(b.len(), SLACK_BLOCKS);
        assert_eq!(
            b[0]["text"]["text"].as_str().map(|s| s.chars().count()),
            Some(SLACK_HEADER)
        );
        assert_eq!(b[1]["fields"].as_array().map(Vec::len), Some(SLACK_FIELDS));
        assert!(b[1]["text"]["text"]
            .as_str()
            .is_some_and(|s| s.ends_with(MARKER)));
        assert!(v["text"]
            .as_str()
            .is_some_and(|s| s.chars().count() == SLACK_TEXT));
        let mut small = json!({"text": "ok", "blocks": [{"type": "divider"}]});
        assert!(!slack(&mut small));
    }

    #[test]
    fn teams_shrinks_longest_text_under_limit() {
        let mut v = json!({"type": "message", "attachments": [{"content": {"type": "AdaptiveCard", "body": [
            {"type": "TextBlock", "text": "small"},
            {"type": "TextBlock", "text": "\"".repeat(40_000)},
            {"type": "Container", "items": [{"type": "FactSet", "facts": [{"title": "a", "value": "v".repeat(10_000)}]}]}
        ]}}]});
        assert!(teams(&mut v));
        assert!(serialized_len(&v) <= TEAMS_BYTES);
        assert_eq!(
            v.pointer("/attachments/0/content/body/0/text"),
            Some(&json!("small"))
        );
    }

    #[test]
    fn discord_total() {
        let fields: Vec<Value> = (0..30)
            .map(|i| json!({"name": format!("n{i}"), "value": "v".repeat(2000)}))
            .collect();
        let mut v = json!({"content": "c".repeat(3000), "embeds": [{"title": "t".repeat(300),
            "description": "d".repeat(5000), "fields": fields, "footer": {"text": "f"}}]});
        assert!(discord(&mut v));
        let e = &v["embeds"][0];
        let total: usize = ["title", "description"]
            .iter()
            .map(|k| e[k].as_str().map_or(0, |s| s.chars().count()))
            .sum::<usize>()
            + e["fields"].as_array().map_or(0, |f| {
                f.iter()
                    .map(|f| {
                        f["name"].as_str().map_or(0, |s| s.chars().count())
                            + f["value"].as_str().map_or(0, |s| s.chars().count())
                    })
                    .sum()
            })
            + 1;
        assert!(total <= DISCORD_TOTAL, "{total}");
        assert_eq!(e["fields"].as_array().map(Vec::len), Some(DISCORD_FIELDS));
        assert_eq!(
            v["content"].as_str().map(|s| s.chars().count()),
            Some(DISCORD_CONTENT)
        );
    }

    #[test]
    fn pagerduty_summary() {
        let mut v = json!({"payload": {"summary": "s".repeat(2000), "custom_details": {"a/b": "x".repeat(600_000)}}});
        assert!(pagerduty(&mut v));
        assert_eq!(
            v["payload"]["summary"].as_str().map(|s| s.chars().count()),
            Some(PAGERDUTY_SUMMARY)
        );
        assert!(serialized_len(&v) <= PAGERDUTY_BYTES);
    }
}
