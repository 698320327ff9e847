//! Slack's buttons on a living alert (SPEC 14; Slack app mode with
//! `[slack] signing_secret`): "Silence 1h", "Silence until quiet" and
//! "Acknowledge", one actions block (`block_id` [`BLOCK_ID`]) inside the alert's
//! attachment (beside its link buttons; at the end of the message's own blocks
//! when a template makes no attachment). Each button's `value` is a
//! [`ButtonValue`]: the twilert channel, the group key and the silence's matchers
//! (the group's route and `group_by` values: exactly the events of this group).
//! Once someone presses one, [`mark`] swaps the block for a line saying who did
//! what. Pure: the request handler is `ingest::slack_actions`.

use crate::notification::Notification;
use crate::silence::SilenceRequest;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The actions block's `block_id` (Slack: at most 255 characters).
pub const BLOCK_ID: &str = "twilert_actions";
/// What replaces it once a button was pressed.
pub const DONE_BLOCK_ID: &str = "twilert_actioned";
/// Slack's limit on a button's `value`.
pub const MAX_VALUE: usize = 2000;
/// Slack's limit on a message's blocks (and an attachment's).
const MAX_BLOCKS: usize = 50;
/// "Silence 1h".
pub const SILENCE_FOR: &str = "1h";
/// "Silence until quiet": ends once no matching event came for this long.
pub const UNTIL_QUIET: &str = "30m";

/// What a button does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A silence of the group for [`SILENCE_FOR`].
    SilenceFor,
    /// A silence of the group with `until_quiet` = [`UNTIL_QUIET`].
    SilenceUntilQuiet,
    /// The group is acknowledged: no more digests until it resolves.
    Acknowledge,
}

impl Action {
    pub const ALL: [Action; 3] = [
        Action::SilenceFor,
        Action::SilenceUntilQuiet,
        Action::Acknowledge,
    ];

    /// The button's `action_id`.
    pub fn id(self) -> &'static str {
        match self {
            Action::SilenceFor => "twilert_silence_1h",
            Action::SilenceUntilQuiet => "twilert_silence_until_quiet",
            Action::Acknowledge => "twilert_acknowledge",
        }
    }

    pub fn parse(action_id: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.id() == action_id)
    }

    pub fn label(self) -> &'static str {
        match self {
            Action::SilenceFor => "Silence 1h",
            Action::SilenceUntilQuiet => "Silence until quiet",
            Action::Acknowledge => "Acknowledge",
        }
    }
}

/// A button's `value` (JSON): where the alert came from and what to silence.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ButtonValue {
    /// The twilert channel (`[channels.<name>]`) that posted the alert: its bot
    /// token edits the message.
    pub channel: String,
    /// The group key (SPEC 4): what "Acknowledge" acknowledges.
    pub group: String,
    /// The silence's matchers: `routes` + the group's `group_by` values.
    pub silence: SilenceRequest,
}

impl ButtonValue {
    pub fn of(n: &Notification) -> ButtonValue {
        ButtonValue {
            channel: n.channel.clone(),
            group: n.group_key.clone(),
            silence: SilenceRequest::for_group(&n.group_key),
        }
    }
}

/// The actions block for `n`, or `None` when its value would pass Slack's limit.
pub fn block(n: &Notification) -> Option<Value> {
    let value = serde_json::to_string(&ButtonValue::of(n)).ok()?;
    if value.len() > MAX_VALUE {
        return None;
    }
    let button = |a: Action, style: Option<&str>| {
        let mut b = json!({
            "type": "button",
            "action_id": a.id(),
            "text": {"type": "plain_text", "text": a.label()},
            "value": value,
        });
        if let Some(s) = style {
            b["style"] = json!(s);
        }
        b
    };
    Some(json!({
        "type": "actions",
        "block_id": BLOCK_ID,
        "elements": [
            button(Action::SilenceFor, None),
            button(Action::SilenceUntilQuiet, None),
            button(Action::Acknowledge, Some("primary")),
        ],
    }))
}

/// Adds the buttons to a rendered Slack message (its first attachment's blocks,
/// else its own). False when they do not fit (value too long, 50 blocks).
pub fn add(msg: &mut Value, n: &Notification) -> bool {
    let Some(block) = block(n) else {
        return false;
    };
    let in_attachment = msg
        .get_mut("attachments")
        .and_then(Value::as_array_mut)
        .and_then(|a| a.first_mut())
        .and_then(|a| a.get_mut("blocks"))
        .and_then(Value::as_array_mut);
    let blocks = match in_attachment {
        Some(b) => b,
        None => match msg.as_object_mut() {
            Some(obj) => match obj
                .entry("blocks")
                .or_insert_with(|| json!([]))
                .as_array_mut()
            {
                Some(b) => b,
                None => return false,
            },
            None => return false,
        },
    };
    if blocks.len() >= MAX_BLOCKS {
        return false;
    }
    blocks.push(block);
    true
}

/// The message as Slack holds it (`message` of an interaction: `text`, `blocks`,
/// `attachments`) with the buttons replaced by `line` (mrkdwn). `None` when it
/// has no buttons of ours (pressed already, or another message).
pub fn mark(message: &Value, line: &str) -> Option<Value> {
    let done = json!({
        "type": "context",
        "block_id": DONE_BLOCK_ID,
        "elements": [{"type": "mrkdwn", "text": line}],
    });
    let mut out = serde_json::Map::new();
    let mut found = false;
    let mut swap = |blocks: &Value| -> Value {
        match blocks.as_array() {
            Some(list) => Value::Array(
                list.iter()
                    .map(|b| {
                        if b["block_id"] == BLOCK_ID {
                            found = true;
                            done.clone()
                        } else {
                            b.clone()
                        }
                    })
                    .collect(),
            ),
            None => blocks.clone(),
        }
    };
    if let Some(blocks) = message.get("blocks") {
        out.insert("blocks".into(), swap(blocks));
    }
    if let Some(atts) = message.get("attachments").and_then(Value::as_array) {
        let atts: Vec<Value> = atts
            .iter()
            .map(|a| {
                let mut a = a.clone();
                if let Some(blocks) = a.get("blocks").cloned() {
                    a["blocks"] = swap(&blocks);
                }
                a
            })
            .collect();
        out.insert("attachments".into(), Value::Array(atts));
    }
    if let Some(text) = message.get("text") {
        out.insert("text".into(), text.clone());
    }
    found.then_some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{sample_notifications, Kind, Payload, Renderer};

    fn first_alert() -> Notification {
        let (_, mut n) = sample_notifications()
            .into_iter()
            .find(|(_, n)| n.digest.is_none())
            .expect("a sample alert");
        n.channel = "slack-app".into();
        n.group_key =
            "voice|error_code=11200|resource_sid=CA0123456789abcdef0123456789abcdef|service_sid=-"
                .into();
        n
    }

    #[test]
    fn the_value_names_the_channel_the_group_and_matchers_covering_it() {
        let n = first_alert();
        let b = block(&n).expect("fits");
        assert_eq!(b["block_id"], BLOCK_ID);
        let ids: Vec<&str> = b["elements"]
            .as_array()
            .expect("buttons")
            .iter()
            .map(|e| e["action_id"].as_str().expect("id"))
            .collect();
        assert_eq!(
            ids,
            [
                "twilert_silence_1h",
                "twilert_silence_until_quiet",
                "twilert_acknowledge"
            ]
        );
        let v: ButtonValue =
            serde_json::from_str(b["elements"][0]["value"].as_str().expect("value"))
                .expect("parses");
        assert_eq!(v.channel, "slack-app");
        assert_eq!(v.group, n.group_key);
        assert_eq!(v.silence.routes, ["voice"]);
        assert_eq!(v.silence.error_codes, ["11200"]);
        assert_eq!(
            v.silence.resource_sids,
            ["CA0123456789abcdef0123456789abcdef"]
        );
        assert!(
            v.silence.service_sids.is_empty(),
            "a missing value is no matcher"
        );
        assert!(v.silence.for_.is_none() && v.silence.author.is_none());
    }

    #[test]
    fn too_long_a_value_gives_no_buttons() {
        let mut n = first_alert();
        n.group_key = format!("voice|resource_sid={}", "x".repeat(MAX_VALUE));
        assert!(block(&n).is_none());
        let mut msg = json!({"text": "t", "blocks": []});
        assert!(!add(&mut msg, &n));
        assert_eq!(msg["blocks"], json!([]));
    }

    #[test]
    fn added_to_the_attachment_then_marked_in_place() {
        let n = first_alert();
        let r = Renderer::builtin().expect("templates");
        let Payload::Json(mut msg) = r.render(Kind::Slack, &n, None).payload else {
            panic!("json")
        };
        let before = msg["attachments"][0]["blocks"]
            .as_array()
            .expect("blocks")
            .len();
        assert!(add(&mut msg, &n));
        let blocks = msg["attachments"][0]["blocks"].as_array().expect("blocks");
        assert_eq!(blocks.len(), before + 1);
        assert_eq!(blocks[before]["block_id"], BLOCK_ID);

        let marked = mark(&msg, "🔕 Silenced for 1h by <@U1>").expect("has buttons");
        let blocks = marked["attachments"][0]["blocks"]
            .as_array()
            .expect("blocks");
        assert_eq!(blocks.len(), before + 1, "the other blocks kept");
        assert_eq!(blocks[before]["block_id"], DONE_BLOCK_ID);
        assert_eq!(
            blocks[before]["elements"][0]["text"],
            "🔕 Silenced for 1h by <@U1>"
        );
        assert_eq!(marked["text"], msg["text"]);
        assert_eq!(marked["blocks"], msg["blocks"]);
        assert!(mark(&marked, "again").is_none(), "pressed already");
    }

    #[test]
    fn a_message_without_attachments_gets_them_in_its_blocks() {
        let n = first_alert();
        let mut msg = json!({"text": "t"});
        assert!(add(&mut msg, &n));
        assert_eq!(msg["blocks"][0]["block_id"], BLOCK_ID);
        let mut full = json!({"blocks": vec![json!({"type": "divider"}); MAX_BLOCKS]});
        assert!(!add(&mut full, &n), "50 blocks is Slack's limit");
    }
}
