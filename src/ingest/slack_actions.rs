//! `POST /slack/actions` (SPEC 14, on the public listener, only with `[slack]
//! signing_secret`): Slack's interactivity request when someone presses one of
//! an alert's buttons ([`crate::render::buttons`]). The raw body is verified
//! first, exactly as Slack documents ([`super::slack_signature::verify`], the
//! service's clock): a bad, stale or missing signature is 401; only then is
//! `payload=<JSON>` decoded (400 naming the field). The action — a silence of the
//! group, or its acknowledgement — goes through the engine, Slack is answered 200
//! at once (within its 3 s), and the message is edited afterwards to say who did
//! what. When nothing can be done (the channel or the group is gone), the presser
//! alone is told why through the interaction's `response_url`.

use super::slack_signature::{self, SlackSignatureError};
use crate::control::Control;
use crate::deliver::slack_buttons::{app_channel, edit, tell};
use crate::dispatch::DispatchError;
use crate::render::buttons::{self, Action, ButtonValue};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

/// How long the answer waits for the engine before answering anyway (Slack
/// gives up after 3 s; the action still completes and the message is edited).
const ANSWER_WITHIN: Duration = Duration::from_millis(2000);
/// The longest comment a button's silence gets.
const MAX_COMMENT: usize = 1000;

/// What the handler needs: the service and an HTTP client for Slack.
#[derive(Clone)]
pub struct SlackActions {
    pub ctl: Control,
    pub http: reqwest::Client,
}

/// The part of Slack's `block_actions` payload twilert reads.
#[derive(Debug, Deserialize)]
struct Interaction {
    #[serde(rename = "type")]
    kind: String,
    user: User,
    #[serde(default)]
    actions: Vec<PressedButton>,
    #[serde(default)]
    container: Container,
    /// The message as Slack holds it (`text`, `blocks`, `attachments`).
    #[serde(default)]
    message: Option<Value>,
    #[serde(default)]
    response_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct User {
    id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PressedButton {
    action_id: String,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Container {
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    message_ts: Option<String>,
}

/// A verified, decoded button press.
#[derive(Debug)]
struct Press {
    action: Action,
    value: ButtonValue,
    /// `@name (U123)`: the silence's author, the acknowledgement's `by`.
    author: String,
    /// `<@U123>`: how the edited message names them (Slack shows their name).
    mention: String,
    channel_id: Option<String>,
    message_ts: Option<String>,
    message: Option<Value>,
    response_url: Option<String>,
}

/// A malformed request: the field, and what is wrong with it.
#[derive(Debug)]
struct Malformed(String, String);

fn malformed(field: impl Into<String>, why: impl Into<String>) -> Malformed {
    Malformed(field.into(), why.into())
}

impl Press {
    fn parse(body: &[u8]) -> Result<Press, Malformed> {
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|_| malformed("payload", "the body is not form-encoded (payload=<JSON>)"))?;
        let raw = form
            .iter()
            .find(|(k, _)| k == "payload")
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| malformed("payload", "missing: Slack sends payload=<JSON>"))?;
        let de = &mut serde_json::Deserializer::from_str(raw);
        let i: Interaction = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let field = if matches!(path.as_str(), "." | "?" | "") {
                "payload".to_string()
            } else {
                format!("payload.{path}")
            };
            malformed(field, e.inner().to_string())
        })?;
        if i.kind != "block_actions" {
            return Err(malformed(
                "payload.type",
                format!("{:?}: only block_actions (a button) is handled", i.kind),
            ));
        }
        let id = i.user.id.trim();
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(malformed("payload.user.id", "not a Slack user id"));
        }
        let pressed = i
            .actions
            .first()
            .ok_or_else(|| malformed("payload.actions", "empty: no button was pressed"))?;
        let action = Action::parse(&pressed.action_id).ok_or_else(|| {
            malformed(
                "payload.actions[0].action_id",
                format!("{:?} is not a twilert button", pressed.action_id),
            )
        })?;
        let value: ButtonValue = pressed
            .value
            .as_deref()
            .ok_or_else(|| malformed("payload.actions[0].value", "missing"))
            .and_then(|v| {
                serde_json::from_str(v).map_err(|e| {
                    malformed(
                        "payload.actions[0].value",
                        format!("not a twilert button's value: {e}"),
                    )
                })
            })?;
        let name = i
            .user
            .username
            .as_deref()
            .or(i.user.name.as_deref())
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| {
                n.chars()
                    .filter(|c| !c.is_control())
                    .take(60)
                    .collect::<String>()
            });
        let author = match name {
            Some(n) => format!("@{n} ({id})"),
            None => id.to_string(),
        };
        Ok(Press {
            action,
            value,
            author,
            mention: format!("<@{id}>"),
            channel_id: i.container.channel_id,
            message_ts: i.container.message_ts,
            message: i.message,
            response_url: i.response_url,
        })
    }
}

/// What came of a press.
#[derive(Debug, Clone)]
enum Outcome {
    /// Done; the line the message gets in place of its buttons.
    Done(String),
    /// Nothing done; what the presser is told.
    Refused(String),
}

pub async fn slack_actions(
    state: web::Data<SlackActions>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let ctl = &state.ctl;
    let rt = ctl.shared.get();
    let Some(secret) = rt.settings.slack.signing_secret() else {
        return crate::admin::not_found().await;
    };
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let now_secs = ctl.clock.now_ms().div_euclid(1000);
    if let Err(e) = slack_signature::verify(
        secret,
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        &body,
        now_secs,
    ) {
        count(ctl, "unauthorized");
        let why = match e {
            SlackSignatureError::Stale => "stale",
            SlackSignatureError::Mismatch => "mismatch",
            _ => "missing or malformed headers",
        };
        tracing::warn!(error = %e, why, "refused a /slack/actions request: not signed by Slack with slack.signing_secret");
        return HttpResponse::Unauthorized().json(json!({ "error": e.to_string() }));
    }
    let press = match Press::parse(&body) {
        Ok(p) => p,
        Err(Malformed(field, why)) => {
            count(ctl, "malformed");
            tracing::warn!(field = %field, error = %why, "refused a malformed /slack/actions request");
            return HttpResponse::BadRequest()
                .json(json!({ "error": format!("{field}: {why}"), "field": field }));
        }
    };
    // The action, then the message's edit, in a task of their own: Slack is
    // answered once the engine has done it, or after ANSWER_WITHIN regardless.
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let task_ctl = ctl.clone();
    let http = state.http.clone();
    tokio::spawn(async move {
        let outcome = act(&task_ctl, &press).await;
        count(
            &task_ctl,
            match outcome {
                Outcome::Done(_) => "done",
                Outcome::Refused(_) => "refused",
            },
        );
        let _ = done_tx.send(());
        follow_up(&task_ctl, &http, &press, &outcome).await;
    });
    if tokio::time::timeout(ANSWER_WITHIN, done_rx).await.is_err() {
        tracing::warn!("a Slack button's action is taking long; answered Slack first");
    }
    HttpResponse::Ok().finish()
}

fn count(ctl: &Control, result: &'static str) {
    ctl.metrics
        .counter("twilert_slack_actions_total", &[("result", result)])
        .increment(1);
}

/// Does what the button says, through the engine.
async fn act(ctl: &Control, p: &Press) -> Outcome {
    let rt = ctl.shared.get();
    let v = &p.value;
    if app_channel(&rt.settings, &v.channel).is_none() {
        return Outcome::Refused(format!(
            "twilert has no Slack app channel {:?} any more (its configuration changed), so this button does nothing now.",
            v.channel
        ));
    }
    match p.action {
        Action::Acknowledge => match ctl.dispatcher.acknowledge(&v.group, &p.author).await {
            Ok(true) => {
                tracing::info!(group = %v.group, by = %p.author, "group acknowledged from Slack");
                Outcome::Done(format!(
                    "👀 Acknowledged by {}: no more digests until it resolves",
                    p.mention
                ))
            }
            Ok(false) => Outcome::Refused(
                "This alert's group is no longer open (it resolved), so there is nothing to acknowledge; a new alert will come if it fires again.".into(),
            ),
            Err(e) => Outcome::Refused(format!("twilert could not acknowledge it: {e}")),
        },
        Action::SilenceFor | Action::SilenceUntilQuiet => {
            let mut req = v.silence.clone();
            req.starts_at = None;
            req.ends_at = None;
            req.summary = None;
            let (for_, until_quiet) = match p.action {
                Action::SilenceFor => (Some(buttons::SILENCE_FOR.to_string()), None),
                _ => (None, Some(buttons::UNTIL_QUIET.to_string())),
            };
            req.for_ = for_;
            req.until_quiet = until_quiet;
            req.author = Some(p.author.clone());
            let comment = format!(
                "\"{}\" pressed in Slack on the alert of group {}",
                p.action.label(),
                v.group
            );
            req.comment = Some(comment.chars().take(MAX_COMMENT).collect());
            let routes = ctl.route_names();
            let routes: Vec<&str> = routes.iter().map(String::as_str).collect();
            let spec = match req.check(&routes) {
                Ok(s) => s,
                Err(e) => {
                    return Outcome::Refused(format!(
                        "twilert could not silence this alert's group: {e}"
                    ))
                }
            };
            match ctl.dispatcher.add_silence(spec).await {
                Ok(s) => {
                    // The group's events counted before the press are quieted too:
                    // no digest of them edits the message back to its buttons.
                    if let Err(e) = ctl.dispatcher.acknowledge(&v.group, &p.author).await {
                        tracing::warn!(error = %e, group = %v.group, "acknowledging the silenced group failed");
                    }
                    tracing::info!(silence = %s.id, by = %p.author, group = %v.group, "silence added from Slack");
                    let how = match p.action {
                        Action::SilenceFor => format!("for {}", buttons::SILENCE_FOR),
                        _ => format!(
                            "until quiet (ends after {} without a matching event)",
                            buttons::UNTIL_QUIET
                        ),
                    };
                    Outcome::Done(format!(
                        "🔕 Silenced {how} by {} (silence `{}`)",
                        p.mention, s.id
                    ))
                }
                Err(DispatchError::Invalid(e)) => Outcome::Refused(format!(
                    "twilert could not silence this alert's group: {e}"
                )),
                Err(e) => Outcome::Refused(format!("twilert could not silence it: {e}")),
            }
        }
    }
}

/// Says what came of it in Slack: the message edited, or the presser told.
async fn follow_up(ctl: &Control, http: &reqwest::Client, p: &Press, outcome: &Outcome) {
    let rt = ctl.shared.get();
    let note = match outcome {
        Outcome::Done(line) => {
            let app = app_channel(&rt.settings, &p.value.channel);
            let target = p.channel_id.as_deref().zip(p.message_ts.as_deref());
            let marked = p.message.as_ref().and_then(|m| buttons::mark(m, line));
            match (app, target, marked) {
                (Some(app), Some((channel_id, ts)), Some(body)) => {
                    match edit(http, &app, channel_id, ts, &body).await {
                        Ok(()) => return,
                        Err(why) => {
                            tracing::warn!(error = %why, channel = %p.value.channel,
                                "editing the alert's Slack message after a button failed");
                            line.clone()
                        }
                    }
                }
                _ => line.clone(),
            }
        }
        Outcome::Refused(why) => {
            tracing::info!(group = %p.value.group, channel = %p.value.channel, why = %why, "a Slack button did nothing");
            why.clone()
        }
    };
    if let Some(url) = &p.response_url {
        if let Err(e) = tell(http, url, &note).await {
            tracing::warn!(error = %e, "telling the Slack user what their button did failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(payload: &Value) -> Vec<u8> {
        serde_urlencoded::to_string([("payload", payload.to_string())])
            .expect("encodes")
            .into_bytes()
    }

    fn value() -> String {
        json!({"channel": "slack", "group": "voice|error_code=11200", "silence": {"routes": ["voice"], "error_codes": ["11200"]}}).to_string()
    }

    fn press(action_id: &str) -> Value {
        json!({
            "type": "block_actions",
            "user": {"id": "U0123ABC", "username": "jane", "name": "jane"},
            "actions": [{"action_id": action_id, "value": value()}],
            "container": {"type": "message", "channel_id": "C1", "message_ts": "1.2"},
            "message": {"text": "t", "blocks": []},
            "response_url": "https://hooks.slack.com/actions/T/1/x",
        })
    }

    #[test]
    fn a_press_is_read() {
        let p = Press::parse(&body(&press("twilert_silence_1h"))).expect("parses");
        assert_eq!(p.action, Action::SilenceFor);
        assert_eq!(p.author, "@jane (U0123ABC)");
        assert_eq!(p.mention, "<@U0123ABC>");
        assert_eq!(p.value.group, "voice|error_code=11200");
        assert_eq!(p.value.silence.error_codes, ["11200"]);
        assert_eq!(
            (p.channel_id.as_deref(), p.message_ts.as_deref()),
            (Some("C1"), Some("1.2"))
        );
    }

    #[test]
    fn malformed_requests_name_the_field() {
        let field = |b: &[u8]| Press::parse(b).expect_err("malformed").0;
        assert_eq!(field(b"nothing=here"), "payload");
        assert_eq!(field(b"payload=%7Bnot+json"), "payload");
        let mut p = press("twilert_acknowledge");
        p["type"] = json!("view_submission");
        assert_eq!(field(&body(&p)), "payload.type");
        let mut p = press("twilert_acknowledge");
        p["user"] = json!({"name": "x"});
        assert_eq!(field(&body(&p)), "payload.user");
        let mut p = press("twilert_acknowledge");
        p["user"]["id"] = json!("U1; DROP");
        assert_eq!(field(&body(&p)), "payload.user.id");
        let mut p = press("twilert_acknowledge");
        p["actions"] = json!([]);
        assert_eq!(field(&body(&p)), "payload.actions");
        assert_eq!(
            field(&body(&press("somebody_elses"))),
            "payload.actions[0].action_id"
        );
        let mut p = press("twilert_acknowledge");
        p["actions"][0]["value"] = json!("{\"channel\": 1}");
        assert_eq!(field(&body(&p)), "payload.actions[0].value");
        let mut p = press("twilert_acknowledge");
        p["actions"][0]["action_id"] = json!(7);
        assert!(field(&body(&p)).starts_with("payload.actions[0]"));
    }
}
