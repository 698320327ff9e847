//! Start-up checks of the ingest settings (`[server]` paths and bounds,
//! `twilio.shared_keys`); each message names the key. Found by `check` and at start.

use crate::config::Settings;
use secrecy::ExposeSecret;

pub fn settings(s: &Settings) -> Vec<String> {
    let mut errors = Vec::new();
    let server = &s.server;
    let path = &server.event_streams_path;
    if !path.starts_with('/') || path.contains(['?', '#']) {
        errors.push(format!(
            "server.event_streams_path: {path:?} must be a path starting with '/' (no query)"
        ));
    } else if *path == server.path {
        errors.push(format!(
            "server.event_streams_path: {path:?} is also server.path; give Event Streams its own path"
        ));
    }
    if server.body_timeout.0.is_zero() {
        errors.push("server.body_timeout: must be more than 0s".into());
    }
    if server.max_connections == 0 {
        errors.push("server.max_connections: must be at least 1".into());
    }
    for (id, secret) in &s.twilio.shared_keys {
        let odd = id.trim().is_empty()
            || id.len() > 100
            || id
                .chars()
                .any(|c| c == ',' || c == '=' || c.is_whitespace() || c.is_control());
        if odd {
            errors.push(format!(
                "twilio.shared_keys: {id:?} is not a key id (the `key=` value Twilio sends, e.g. \"KS…\"; no commas, '=' or spaces)"
            ));
        }
        if secret.expose_secret().trim().is_empty() {
            errors.push(format!("twilio.shared_keys.{id}: the secret is empty"));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(extra: &str) -> Settings {
        let text = format!("[server]\n{extra}\n");
        crate::config::from_toml_str(&text, "test", |_| None, Default::default()).expect("parses")
    }

    #[test]
    fn paths_bounds_and_key_ids_are_checked() {
        assert!(settings(&load("")).is_empty());
        let e = settings(&load("event_streams_path = \"/twilio/debugger\""));
        assert!(e[0].starts_with("server.event_streams_path"), "{e:?}");
        let e = settings(&load("event_streams_path = \"events\""));
        assert!(e[0].contains("starting with '/'"), "{e:?}");
        let e = settings(&load("body_timeout = \"0s\"\nmax_connections = 0"));
        assert_eq!(e.len(), 2, "{e:?}");
        let text = "[twilio]\nshared_keys = { \"KS1\" = \"s3cret-value\", \"a,b\" = \"x\", \"KS2\" = \" \" }\n";
        let e = settings(
            &crate::config::from_toml_str(text, "test", |_| None, Default::default())
                .expect("parses"),
        );
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e.iter().all(|m| !m.contains("s3cret")), "{e:?}");
    }
}
