//! Rendered text → payload: JSON parsed and shape-checked, provider limits
//! applied, Discord mentions pinned down, email subject made one line.

use serde_json::{json, Value};

use super::context::Context;
use super::templates::Failure;
use super::untrusted::{inert, inert_json};
use super::{fallback, limits, Kind, Payload, Rendered};

/// Turns the rendered parts of `kind` (file, text) into its payload.
pub(crate) fn finish(
    kind: Kind,
    ctx: &Context,
    outputs: Vec<(String, String)>,
) -> Result<Rendered, Failure> {
    let mut parts = outputs.into_iter();
    let mut next = || {
        parts.next().ok_or_else(|| Failure {
            file: format!("{kind} templates"),
            message: "missing part".into(),
        })
    };
    let (payload, truncated) = match kind {
        Kind::Email => {
            let (subject_file, subject) = next()?;
            let (_, text) = next()?;
            let (_, html) = next()?;
            let (subject, cut) = subject_line(&subject);
            if subject.is_empty() {
                return Err(Failure {
                    file: subject_file,
                    message: "renders an empty subject".into(),
                });
            }
            (
                Payload::Email {
                    subject,
                    text,
                    html,
                },
                cut,
            )
        }
        Kind::Console => (Payload::Text(next()?.1), false),
        _ => {
            let (file, text) = next()?;
            let fail = |message: String| Failure {
                file: file.clone(),
                message,
            };
            let mut v: Value = serde_json::from_str(&text).map_err(|e| {
                // serde's position is in the output, not the template: leave it out.
                let e = e.to_string();
                let what = e.split(" at line ").next().unwrap_or(&e);
                fail(format!("output is not valid JSON ({what})"))
            })?;
            shape(kind, &v).map_err(|m| fail(m.into()))?;
            let cut = enforce(kind, &mut v, ctx);
            (Payload::Json(v), cut)
        }
    };
    Ok(Rendered {
        payload: inert_payload(payload),
        fallback: None,
        truncated,
    })
}

/// The last word on control and bidi characters (SPEC 5): whatever a template
/// or helper wrote, no string of the payload holds one.
fn inert_payload(p: Payload) -> Payload {
    match p {
        Payload::Json(mut v) => {
            inert_json(&mut v);
            Payload::Json(v)
        }
        Payload::Email {
            subject,
            text,
            html,
        } => Payload::Email {
            subject: inert(&subject).into_owned(),
            text: inert(&text).into_owned(),
            html: inert(&html).into_owned(),
        },
        Payload::Text(t) => Payload::Text(inert(&t).into_owned()),
    }
}

/// The built-in plain message for `kind`, within limits, `fallback` = `why`.
pub(crate) fn fallback(kind: Kind, ctx: &Context, why: String) -> Rendered {
    let mut truncated = false;
    let payload = match fallback::payload(kind, ctx) {
        Payload::Json(mut v) => {
            truncated = enforce(kind, &mut v, ctx);
            Payload::Json(v)
        }
        Payload::Email {
            subject,
            text,
            html,
        } => {
            let (subject, cut) = subject_line(&subject);
            truncated = cut;
            Payload::Email {
                subject,
                text,
                html,
            }
        }
        other => other,
    };
    Rendered {
        payload: inert_payload(payload),
        fallback: Some(why),
        truncated,
    }
}

/// Provider limits, plus Discord's mention whitelist.
fn enforce(kind: Kind, v: &mut Value, ctx: &Context) -> bool {
    match kind {
        Kind::Slack => {
            verbatim(v);
            limits::slack(v)
        }
        Kind::Teams => limits::teams(v),
        Kind::Discord => {
            allowed_mentions(v, ctx.mention.as_deref());
            limits::discord(v)
        }
        Kind::Pagerduty => limits::pagerduty(v),
        Kind::Webhook | Kind::Email | Kind::Console => false,
    }
}

/// Every Slack `mrkdwn` text object gets `"verbatim": true`: Slack then turns
/// no bare URL, channel name or mention in it into a link (SPEC 5: no link
/// from event text), whatever the template wrote.
fn verbatim(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if o.get("type").and_then(Value::as_str) == Some("mrkdwn") && o.contains_key("text") {
                o.insert("verbatim".into(), Value::Bool(true));
            }
            o.values_mut().for_each(verbatim);
        }
        Value::Array(a) => a.iter_mut().for_each(verbatim),
        _ => {}
    }
}

/// The least a payload must be for its provider to accept it.
fn shape(kind: Kind, v: &Value) -> Result<(), &'static str> {
    let nonempty_str = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.trim().is_empty())
    };
    let nonempty_arr = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    };
    match kind {
        Kind::Slack if !v.is_object() => Err("output must be a JSON object"),
        Kind::Slack if !nonempty_str("/text") => {
            Err("Slack payload needs a non-empty \"text\" (the notification fallback)")
        }
        Kind::Slack if v.get("blocks").is_some_and(|b| !b.is_array()) => {
            Err("\"blocks\" must be an array")
        }
        Kind::Teams
            if v.pointer("/attachments/0/content/type")
                .and_then(Value::as_str)
                != Some("AdaptiveCard") =>
        {
            Err("Teams payload needs attachments[0].content to be an AdaptiveCard")
        }
        Kind::Discord if !nonempty_str("/content") && !nonempty_arr("/embeds") => {
            Err("Discord payload needs \"content\" or \"embeds\"")
        }
        Kind::Pagerduty
            if !nonempty_str("/payload/summary") || !nonempty_str("/payload/source") =>
        {
            Err("PagerDuty payload needs payload.summary and payload.source")
        }
        Kind::Pagerduty
            if !matches!(
                v.pointer("/payload/severity").and_then(Value::as_str),
                Some("critical" | "error" | "warning" | "info")
            ) =>
        {
            Err("PagerDuty payload.severity must be critical, error, warning or info")
        }
        _ => Ok(()),
    }
}

/// Discord pings nobody from event text: `allowed_mentions.parse` is always
/// empty. Users and roles named in the route's (trusted) mention — `<@123>`,
/// `<@!123>`, `<@&456>` — are allowed explicitly.
fn allowed_mentions(v: &mut Value, mention: Option<&str>) {
    let (mut users, mut roles) = (Vec::new(), Vec::new());
    let mut rest = mention.unwrap_or("");
    while let Some(start) = rest.find("<@") {
        rest = &rest[start + 2..];
        let (is_role, body) = match rest.strip_prefix('&') {
            Some(b) => (true, b),
            None => (false, rest.strip_prefix('!').unwrap_or(rest)),
        };
        let id: String = body.chars().take_while(char::is_ascii_digit).collect();
        if !id.is_empty() && body[id.len()..].starts_with('>') {
            if is_role {
                roles.push(id)
            } else {
                users.push(id)
            }
        }
    }
    let mut allowed = json!({ "parse": [] });
    if !users.is_empty() {
        allowed["users"] = json!(users);
    }
    if !roles.is_empty() {
        allowed["roles"] = json!(roles);
    }
    if let Some(obj) = v.as_object_mut() {
        obj.insert("allowed_mentions".into(), allowed);
    }
}

/// One line, whitespace collapsed, at most [`limits::EMAIL_SUBJECT`] characters.
fn subject_line(s: &str) -> (String, bool) {
    let one = s.split_whitespace().collect::<Vec<_>>().join(" ");
    match limits::cut(&one, limits::EMAIL_SUBJECT) {
        Some(short) => (short, true),
        None => (one, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discord_mentions_whitelist_only_configured_ids() {
        let mut v = json!({"content": "x", "allowed_mentions": {"parse": ["everyone"]}});
        allowed_mentions(&mut v, Some("<@&123> <@!45> <@6> @everyone <@x>"));
        assert_eq!(
            v["allowed_mentions"],
            json!({"parse": [], "users": ["45", "6"], "roles": ["123"]})
        );
        allowed_mentions(&mut v, None);
        assert_eq!(v["allowed_mentions"], json!({"parse": []}));
    }

    #[test]
    fn subject_is_one_line() {
        assert_eq!(
            subject_line("  a\n b\r\n\tc "),
            ("a b c".to_string(), false)
        );
        let (s, cut) = subject_line(&"x".repeat(400));
        assert!(cut && s.chars().count() == limits::EMAIL_SUBJECT);
    }

    #[test]
    fn shapes() {
        assert!(shape(Kind::Slack, &json!([])).is_err());
        assert!(shape(Kind::Slack, &json!({"blocks": []})).is_err());
        assert!(shape(Kind::Slack, &json!({"text": "x"})).is_ok());
        assert!(shape(
            Kind::Pagerduty,
            &json!({"payload": {"summary": "s", "source": "x", "severity": "bad"}})
        )
        .is_err());
        assert!(shape(Kind::Webhook, &json!(1)).is_ok());
    }
}
