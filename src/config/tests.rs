use super::*;
use secrecy::ExposeSecret;
use std::collections::HashMap;

const BASE: &str = r#"
[server]
listen = "127.0.0.1:0"

[twilio]
public_url = "https://alerts.example.com/twilio/debugger"
auth_tokens = ["${TWILIO_AUTH_TOKEN}"]

[channels.oncall]
kind = "slack"
url = "${SLACK_WEBHOOK_URL:-}"
rate_limit = "1/s"

[channels.Console]
kind = "console"

[[routes]]
name = "voice-webhooks"
error_codes = ["112xx"]
channels = ["oncall"]
window = "2m"
"#;

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn parse(text: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let m = vars(env);
    let lookup = m.clone();
    from_toml_str(text, "config.toml", move |k| lookup.get(k).cloned(), m)
}

#[test]
fn parses_and_expands() {
    let s = parse(
        BASE,
        &[
            ("TWILIO_AUTH_TOKEN", "tok"),
            ("SLACK_WEBHOOK_URL", "https://hooks.slack.com/x"),
        ],
    )
    .unwrap();
    assert_eq!(s.twilio.auth_tokens[0].expose_secret(), "tok");
    assert_eq!(
        s.routes[0].window,
        Some(HumanDuration(std::time::Duration::from_secs(120)))
    );
    assert!(
        s.channels.contains_key("Console"),
        "channel names keep their case: {:?}",
        s.channels.keys()
    );
    match &s.channels["oncall"] {
        ChannelSettings::Slack(c) => assert_eq!(
            c.url
                .as_ref()
                .map(|u| u.expose_secret())
                .unwrap_or_default(),
            "https://hooks.slack.com/x"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.store.retention.0,
        std::time::Duration::from_secs(7 * 86400)
    );
}

#[test]
fn optional_var_disables_channel() {
    let s = parse(BASE, &[("TWILIO_AUTH_TOKEN", "tok")]).unwrap();
    assert!(!s.channels["oncall"].enabled());
}

#[test]
fn missing_var_names_key() {
    let e = parse(BASE, &[]).unwrap_err().to_string();
    assert!(
        e.contains("twilio.auth_tokens[0]") && e.contains("TWILIO_AUTH_TOKEN"),
        "{e}"
    );
}

#[test]
fn env_overrides() {
    let s = parse(
        BASE,
        &[
            ("TWILIO_AUTH_TOKEN", "tok"),
            ("TWILERT__SERVER__LISTEN", "0.0.0.0:9999"),
            ("TWILERT__TWILIO__AUTH_TOKENS", "a,b"),
            ("TWILERT__TWILIO__VERIFY_SIGNATURE", "false"),
            ("TWILERT__SERVER__MAX_BODY_BYTES", "1000"),
        ],
    )
    .unwrap();
    assert_eq!(s.server.listen, "0.0.0.0:9999");
    assert_eq!(s.twilio.auth_tokens.len(), 2);
    assert!(!s.twilio.verify_signature);
    assert_eq!(s.server.max_body_bytes, 1000);
}

#[test]
fn unknown_keys_are_errors_with_route_name() {
    let text = BASE.replace("error_codes = [\"112xx\"]", "eror_codes = [\"112xx\"]");
    let e = parse(&text, &[("TWILIO_AUTH_TOKEN", "t")])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("routes[0] (\"voice-webhooks\")") && e.contains("eror_codes"),
        "{e}"
    );

    let text = BASE.replace("[server]", "[server]\nlisen = \"x\"");
    let e = parse(&text, &[("TWILIO_AUTH_TOKEN", "t")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("server") && e.contains("lisen"), "{e}");

    let text = BASE.replace("rate_limit = \"1/s\"", "rate_limt = \"1/s\"");
    let e = parse(&text, &[("TWILIO_AUTH_TOKEN", "t")])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("channels.oncall") && e.contains("rate_limt"),
        "{e}"
    );
}

#[test]
fn bad_duration_and_kind() {
    let text = BASE.replace("window = \"2m\"", "window = \"2 fortnights\"");
    let e = parse(&text, &[("TWILIO_AUTH_TOKEN", "t")])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("routes[0]") && e.contains("window") && e.contains("duration"),
        "{e}"
    );
    let text = BASE.replace("kind = \"console\"", "kind = \"pager\"");
    let e = parse(&text, &[("TWILIO_AUTH_TOKEN", "t")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("channels.Console") && e.contains("pager"), "{e}");
}

#[test]
fn secrets_stay_out_of_debug() {
    let s = parse(
        BASE,
        &[
            ("TWILIO_AUTH_TOKEN", "tok-very-secret"),
            ("SLACK_WEBHOOK_URL", "https://hooks.slack.com/T/B/XYZ"),
        ],
    )
    .unwrap();
    let dbg = format!("{s:?}");
    assert!(
        !dbg.contains("tok-very-secret") && !dbg.contains("XYZ"),
        "{dbg}"
    );
}

#[test]
fn secret_overrides_stay_strings() {
    let text = format!("{BASE}\n[channels.pd]\nkind = \"pagerduty\"\nrouting_key = \"\"\n");
    let s = parse(
        &text,
        &[
            ("TWILIO_AUTH_TOKEN", "tok"),
            ("TWILERT__CHANNELS__PD__ROUTING_KEY", "0123456789"),
            ("TWILERT__CHANNELS__ONCALL__URL", "12345"),
            ("TWILERT__TWILIO__AUTH_TOKENS", "123456789"),
        ],
    )
    .unwrap();
    match &s.channels["pd"] {
        ChannelSettings::Pagerduty(c) => assert_eq!(c.routing_key.expose_secret(), "0123456789"),
        other => panic!("{other:?}"),
    }
    match &s.channels["oncall"] {
        ChannelSettings::Slack(c) => assert_eq!(
            c.url
                .as_ref()
                .map(|u| u.expose_secret())
                .unwrap_or_default(),
            "12345"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.twilio.auth_tokens.len(), 1);
    assert_eq!(s.twilio.auth_tokens[0].expose_secret(), "123456789");
}

#[test]
fn a_mistyped_secret_is_named_not_shown() {
    let text = format!("{BASE}\n[channels.pd]\nkind = \"pagerduty\"\nrouting_key = 98765432\n");
    let e = parse(&text, &[("TWILIO_AUTH_TOKEN", "tok")])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("channels.pd") && e.contains("expected a string"),
        "{e}"
    );
    assert!(!e.contains("98765432"), "{e}");
    // A secret value in a key of the wrong type is hidden too.
    let text = BASE.replace("rate_limit = \"1/s\"", "burst = \"${SLACK_WEBHOOK_URL}\"");
    let e = parse(
        &text,
        &[
            ("TWILIO_AUTH_TOKEN", "tok"),
            ("SLACK_WEBHOOK_URL", "https://hooks.slack.com/T/B/sekrit"),
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("channels.oncall") && e.contains("[REDACTED]"),
        "{e}"
    );
    assert!(!e.contains("sekrit"), "{e}");
}

#[test]
fn a_syntax_error_does_not_quote_a_secret() {
    let text =
        "[channels.s]\nkind = \"slack\"\nurl = \"https://hooks.slack.com/services/T/B/sekrit\n";
    let e = parse(text, &[]).unwrap_err().to_string();
    assert!(e.contains("line 3"), "{e}");
    assert!(!e.contains("sekrit"), "{e}");
}

const ENV: &[(&str, &str)] = &[("TWILIO_AUTH_TOKEN", "tok-123456")];

#[test]
fn the_slack_signing_secret_is_a_secret() {
    let text = format!("{BASE}\n[slack]\nsigning_secret = \"${{SLACK_SIGNING_SECRET}}\"\n");
    let s = parse(
        &text,
        &[
            ("SLACK_SIGNING_SECRET", "sign-very-secret-42"),
            ("TWILIO_AUTH_TOKEN", "tok-123456"),
        ],
    )
    .unwrap();
    use secrecy::ExposeSecret;
    assert_eq!(
        s.slack
            .signing_secret()
            .map(|x| x.expose_secret().to_string()),
        Some("sign-very-secret-42".into())
    );
    assert!(!format!("{s:?}").contains("sign-very-secret-42"));
    // A number is refused without being shown; empty is none.
    let e = parse(
        &format!("{BASE}\n[slack]\nsigning_secret = 123456789\n"),
        ENV,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("slack.signing_secret") && !e.contains("123456789"),
        "{e}"
    );
    let s = parse(&format!("{BASE}\n[slack]\nsigning_secret = \"\"\n"), ENV).unwrap();
    assert!(s.slack.signing_secret().is_none());
    let e = parse(&format!("{BASE}\n[slack]\nsigning_secrt = \"x\"\n"), ENV)
        .unwrap_err()
        .to_string();
    assert!(e.contains("signing_secrt"), "{e}");
}
