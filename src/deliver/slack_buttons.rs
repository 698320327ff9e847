//! What twilert tells Slack after a button was pressed (SPEC 14): the alert's
//! message edited with `chat.update` and the posting channel's bot token (its
//! buttons replaced by who did what), or a note only the presser sees through
//! the interaction's `response_url` when nothing could be done.

use super::slack::{AppSettings, SlackMode};
use super::slack_api::{call, Answer};
use super::Scrubber;
use crate::config::{ChannelSettings, Settings};
use serde_json::{json, Value};

/// The Slack app mode settings of twilert channel `name`, if it is one.
pub fn app_channel<'a>(settings: &'a Settings, name: &str) -> Option<AppSettings<'a>> {
    match settings.channels.get(name)? {
        ChannelSettings::Slack(c) => match c.mode(name) {
            Ok(SlackMode::App(app)) => Some(app),
            _ => None,
        },
        _ => None,
    }
}

/// Edits message `ts` in Slack channel `channel_id` to `body` (`text`, `blocks`,
/// `attachments`). `Err`: why not, cleaned of the token.
pub async fn edit(
    http: &reqwest::Client,
    app: &AppSettings<'_>,
    channel_id: &str,
    ts: &str,
    body: &Value,
) -> Result<(), String> {
    let mut body = body.clone();
    body["channel"] = json!(channel_id);
    body["ts"] = json!(ts);
    let scrub = Scrubber::new([app.token]);
    match call(http, &app.api_url, app.token, "chat.update", &body).await {
        Answer::Ok(_) => Ok(()),
        Answer::ParentGone(r) | Answer::BadPayload(r) => Err(scrub.clean(&r)),
        Answer::Failed(d) => Err(scrub.clean(d.reason().unwrap_or("failed"))),
    }
}

/// Tells the presser alone (`response_type: ephemeral`), through the interaction's
/// `response_url`.
pub async fn tell(http: &reqwest::Client, response_url: &str, text: &str) -> Result<(), String> {
    let url = url::Url::parse(response_url)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http"))
        .ok_or_else(|| "response_url is not an http(s) URL".to_string())?;
    let resp = http
        .post(url)
        .json(&json!({
            "response_type": "ephemeral",
            "replace_original": false,
            "text": text,
        }))
        .send()
        .await
        .map_err(|e| format!("response_url: {}", e.without_url()))?;
    match resp.status().as_u16() {
        200..=299 => Ok(()),
        s => Err(format!("response_url answered HTTP {s}")),
    }
}

/// Whether `settings` has a Slack app mode channel at all (for `check`).
pub fn any_app_channel(settings: &Settings) -> bool {
    settings
        .channels
        .iter()
        .any(|(name, c)| c.inner().enabled() && app_channel(settings, name).is_some())
}
