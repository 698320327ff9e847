//! Slack request signatures, checked against Slack's own Python SDK
//! (`slack_sdk.signature.SignatureVerifier`, PyPI slack-sdk; scripts/test-deps.sh
//! installs it): what the SDK signs twilert accepts, what twilert signs the SDK
//! accepts, and both refuse the same altered, stale and malformed requests.

use secrecy::SecretString;
use serde_json::{json, Value};
use twilert::ingest::slack_signature::{sign, verify, MAX_SKEW_SECS};

/// Runs tests/validators/slack_sign.py on `cases`: per case the SDK's signature
/// and whether the SDK accepts the case's `signature` (default: its own).
pub fn sdk(cases: &Value) -> Vec<(String, bool)> {
    use std::io::Write;
    let script = format!(
        "{}/tests/validators/slack_sign.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut child = std::process::Command::new(crate::python::python())
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("Slack's SDK signer: cannot start it (run scripts/test-deps.sh)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(cases.to_string().as_bytes())
        .expect("write cases");
    let out = child.wait_with_output().expect("signer runs");
    assert!(
        out.status.success(),
        "Slack's SDK signer failed (run scripts/test-deps.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<Value> = serde_json::from_slice(&out.stdout).expect("signer JSON");
    v.iter()
        .map(|c| {
            (
                c["signature"].as_str().unwrap_or_default().to_string(),
                c["valid"].as_bool().expect("valid is a boolean"),
            )
        })
        .collect()
}

const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const NOW: i64 = 1_764_590_000;

/// Bodies as Slack sends them: a form-encoded interaction payload, JSON with
/// non-ASCII text, an empty body.
fn bodies() -> Vec<String> {
    let payload = json!({"type": "block_actions", "actions": [{"action_id": "silence_1h", "value": "voice|error_code=11200"}],
        "user": {"id": "U123", "name": "Zoë 🚨"}, "text": "\"}]} <!channel> &amp;"});
    vec![
        serde_urlencoded::to_string([("payload", payload.to_string())]).expect("form"),
        payload.to_string(),
        String::new(),
    ]
}

#[test]
fn signatures_agree_with_slacks_sdk_both_ways() {
    let secret = SecretString::from(SECRET);
    let ts = NOW.to_string();
    let mut cases = vec![];
    for body in bodies() {
        cases.push(json!({"secret": SECRET, "timestamp": ts, "body": body, "now": NOW}));
        // Ours, given to the SDK.
        cases.push(
            json!({"secret": SECRET, "timestamp": ts, "body": body, "now": NOW,
            "signature": sign(SECRET, &ts, body.as_bytes())}),
        );
    }
    let got = sdk(&json!(cases));
    for (i, body) in bodies().iter().enumerate() {
        let (sdk_sig, sdk_own_valid) = &got[2 * i];
        assert!(*sdk_own_valid, "the SDK accepts its own signature");
        assert_eq!(
            sdk_sig,
            &sign(SECRET, &ts, body.as_bytes()),
            "the same signature"
        );
        // The SDK's signature passes our verifier ...
        assert_eq!(
            verify(&secret, Some(&ts), Some(sdk_sig), body.as_bytes(), NOW),
            Ok(())
        );
        // ... and ours passes the SDK's.
        assert!(got[2 * i + 1].1, "the SDK accepts ours for {body:?}");
    }
}

#[test]
fn both_refuse_the_same_altered_stale_and_malformed_requests() {
    let secret = SecretString::from(SECRET);
    let body = bodies().remove(0);
    let ts = NOW.to_string();
    let good = sign(SECRET, &ts, body.as_bytes());
    let other_body = sign(SECRET, &ts, format!("{body}&x=1").as_bytes());
    let other_secret = sign("another-signing-secret", &ts, body.as_bytes());
    // (timestamp, signature, now, accepted?)
    let edge = NOW + MAX_SKEW_SECS;
    let cases: Vec<(String, String, i64, bool)> = vec![
        (ts.clone(), good.clone(), NOW, true),
        (ts.clone(), good.clone(), edge, true),
        (ts.clone(), good.clone(), NOW - MAX_SKEW_SECS, true),
        (ts.clone(), good.clone(), edge + 1, false),
        (ts.clone(), good.clone(), NOW - MAX_SKEW_SECS - 1, false),
        (ts.clone(), other_body, NOW, false),
        (ts.clone(), other_secret, NOW, false),
        (ts.clone(), good.to_uppercase(), NOW, false),
        (ts.clone(), good.replace("v0=", "v1="), NOW, false),
        (ts.clone(), good[3..].to_string(), NOW, false),
        (ts.clone(), String::new(), NOW, false),
        ((NOW + 1).to_string(), good.clone(), NOW, false),
    ];
    let sdk_cases: Vec<Value> = cases
        .iter()
        .map(|(t, s, now, _)| json!({"secret": SECRET, "timestamp": t, "body": body, "now": now, "signature": s}))
        .collect();
    let got = sdk(&json!(sdk_cases));
    for ((t, s, now, want), (_, sdk_valid)) in cases.iter().zip(got) {
        let ours = verify(&secret, Some(t), Some(s), body.as_bytes(), *now);
        assert_eq!(
            ours.is_ok(),
            *want,
            "ours: ts {t} sig {s:?} now {now}: {ours:?}"
        );
        assert_eq!(sdk_valid, *want, "the SDK: ts {t} sig {s:?} now {now}");
    }
}
