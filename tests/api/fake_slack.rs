//! A fake Slack Web API for the app-mode tests: it checks the bearer token and
//! the channel as Slack does, hands out `ts`, forgets deleted messages, can be
//! told what to answer first, and records every call with when it came.

use crate::helpers::eventually;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The token the fake accepts.
pub const BOT_TOKEN: &str = "xoxb-1234567890-TESTBOTTOKEN-s3cr3t";
/// The channel id the fake workspace gives `#alerts`.
pub const CHANNEL_ID: &str = "C0ALERTS01";

/// Where the fake takes an interaction's `response_url` posts.
pub const RESPONSE_PATH: &str = "/actions/T0TWILERT/";

/// One Web API call the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    pub at: Instant,
    pub method: String,
    pub body: Value,
    /// The `ts` a successful `chat.postMessage` was given (None otherwise).
    pub ts: Option<String>,
}

#[derive(Default)]
struct State {
    next_ts: u32,
    /// Deleted messages (their `ts`).
    gone: HashSet<String>,
    /// Answers to give first, per method, before behaving.
    scripted: HashMap<String, VecDeque<ResponseTemplate>>,
    calls: Vec<Call>,
}

/// A Slack Web API that behaves: `Authorization: Bearer <token>` or `not_authed` /
/// `invalid_auth`; `#alerts` or its id, else `channel_not_found`; `chat.update`
/// needs the id (as Slack's does); replies to or edits of a deleted message fail
/// with `thread_not_found` / `message_not_found`.
#[derive(Clone, Default)]
pub struct FakeSlack(Arc<Mutex<State>>);

pub fn ok_false(error: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": error}))
}

impl Respond for FakeSlack {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let method = req.url.path().trim_start_matches("/api/").to_string();
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let json_body = req
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let mut s = self.0.lock().expect("lock");
        s.calls.push(Call {
            at: Instant::now(),
            method: method.clone(),
            body: body.clone(),
            ts: None,
        });
        // An interaction's `response_url` (hooks.slack.com/actions/... at Slack):
        // no token, a JSON message, answered `{"ok": true}`.
        if req.url.path().starts_with(RESPONSE_PATH) {
            return ResponseTemplate::new(200).set_body_json(json!({"ok": true}));
        }
        if let Some(r) = s.scripted.get_mut(&method).and_then(VecDeque::pop_front) {
            return r;
        }
        if auth.is_empty() {
            return ok_false("not_authed");
        }
        if auth != format!("Bearer {BOT_TOKEN}") {
            return ok_false("invalid_auth");
        }
        if !json_body {
            return ok_false("invalid_arguments");
        }
        let channel = body["channel"].as_str().unwrap_or_default();
        match method.as_str() {
            "chat.postMessage" => {
                if channel != "#alerts" && channel != CHANNEL_ID {
                    return ok_false("channel_not_found");
                }
                if body["text"].as_str().is_none_or(str::is_empty) && body.get("blocks").is_none() {
                    return ok_false("no_text");
                }
                if let Some(t) = body["thread_ts"].as_str() {
                    if s.gone.contains(t) {
                        return ok_false("thread_not_found");
                    }
                }
                s.next_ts += 1;
                let ts = format!("1700000000.{:06}", s.next_ts * 100);
                if let Some(c) = s.calls.last_mut() {
                    c.ts = Some(ts.clone());
                }
                ResponseTemplate::new(200)
                    .set_body_json(json!({"ok": true, "channel": CHANNEL_ID, "ts": ts}))
            }
            "chat.update" => {
                if channel != CHANNEL_ID {
                    return ok_false("channel_not_found");
                }
                let ts = body["ts"].as_str().unwrap_or_default();
                if s.gone.contains(ts) || ts.is_empty() {
                    return ok_false("message_not_found");
                }
                ResponseTemplate::new(200).set_body_json(
                    json!({"ok": true, "channel": CHANNEL_ID, "ts": ts, "text": body["text"]}),
                )
            }
            _ => ok_false("unknown_method"),
        }
    }
}

impl FakeSlack {
    pub async fn start() -> (FakeSlack, MockServer) {
        let fake = FakeSlack::default();
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::method("POST"))
            .respond_with(fake.clone())
            .mount(&server)
            .await;
        (fake, server)
    }

    pub fn calls(&self) -> Vec<Call> {
        self.0.lock().expect("lock").calls.clone()
    }

    pub fn of(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// Top-level posts (no `thread_ts`).
    pub fn posts(&self) -> Vec<Call> {
        self.of("chat.postMessage")
            .into_iter()
            .filter(|c| c.body.get("thread_ts").is_none())
            .collect()
    }

    pub fn replies(&self) -> Vec<Call> {
        self.of("chat.postMessage")
            .into_iter()
            .filter(|c| c.body.get("thread_ts").is_some())
            .collect()
    }

    /// What was posted to interactions' `response_url`s.
    pub fn responses(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method.starts_with(RESPONSE_PATH))
            .collect()
    }

    pub fn script(&self, method: &str, answers: impl IntoIterator<Item = ResponseTemplate>) {
        self.0
            .lock()
            .expect("lock")
            .scripted
            .entry(method.into())
            .or_default()
            .extend(answers);
    }

    pub fn delete(&self, ts: &str) {
        self.0.lock().expect("lock").gone.insert(ts.into());
    }

    /// Waits until `method` was called `n` times.
    pub async fn wait(&self, method: &str, n: usize, within: Duration) -> Vec<Call> {
        eventually(within, || async { self.of(method).len() >= n }).await;
        self.of(method)
    }
}

/// Every message body Slack received passes Slack's own Block Kit models
/// (slack-sdk, tests/validators/slack_validate.py; scripts/test-deps.sh installs it).
pub fn assert_valid_block_kit(calls: &[Call]) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (i, c) in calls.iter().enumerate() {
        let path = dir
            .path()
            .join(format!("{i:02}-{}.json", c.method.replace('/', "_")));
        std::fs::write(path, c.body.to_string()).expect("write payload");
    }
    let script = format!(
        "{}/tests/validators/slack_validate.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = std::process::Command::new(crate::python::python())
        .arg(script)
        .arg(dir.path())
        .output()
        .expect("run the Slack validator (scripts/test-deps.sh installs it)");
    assert!(
        out.status.success(),
        "Slack's models refused a payload:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
