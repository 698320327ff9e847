//! SPEC 2: what Twilio's request gets back, and what reaches Slack.

use crate::helpers::*;
use std::time::Duration;

#[tokio::test]
async fn signed_event_becomes_a_slack_block_kit_alert() {
    let app = spawn_app().await;
    app.send_event(1, "11200", &call_sid(7)).await;
    let msgs = app.slack_messages(1, Duration::from_secs(5)).await;
    assert_eq!(msgs.len(), 1, "one alert");
    let m = &msgs[0];
    let text = m["text"].as_str().expect("text fallback");
    assert!(
        text.contains("11200") && text.contains("HTTP retrieval failure"),
        "{text}"
    );
    let blocks = m["blocks"].as_array().expect("blocks");
    let all = m.to_string();
    assert!(blocks.len() >= 2);
    assert!(all.contains(&call_sid(7)), "resource shown");
    assert!(
        all.contains("https://example.com/voice") && all.contains("502"),
        "failing webhook and status shown"
    );
    assert!(
        all.contains("https://www.twilio.com/docs/api/errors/11200"),
        "docs link"
    );
    app.stop().await;
}
