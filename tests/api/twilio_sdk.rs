//! Requests signed by Twilio's own SDK (twilio-python's RequestValidator) are
//! accepted; the same requests altered are refused. Needs `pip install twilio`
//! (scripts/test-deps.sh).

use crate::helpers::*;
use serde_json::{json, Value};
use std::time::Duration;

fn sdk_sign(cases: &Value) -> Vec<(String, String)> {
    sdk_signatures(
        crate::python::python(),
        "twilio_sign.py",
        cases,
        "Twilio's Python SDK signer (PyPI `twilio`)",
    )
}

#[test]
fn our_signer_agrees_with_twilios_sdk() {
    let params: Vec<(String, String)> = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    let hostile = event_params(1, "11200", "CA\"}]} <!channel> ü 🚨");
    let signed = sdk_sign(&json!([
        {"token": "12345", "url": url, "params": params},
        {"token": TOKEN, "url": PUBLIC_URL, "params": hostile},
    ]));
    assert_eq!(signed[0].1, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    assert_eq!(
        signed[0].1,
        twilert::ingest::signature::compute("12345", url, &params)
    );
    assert_eq!(
        signed[1].1,
        twilert::ingest::signature::compute(TOKEN, PUBLIC_URL, &hostile)
    );
}

#[tokio::test]
async fn events_signed_by_the_sdk_are_accepted_and_altered_ones_refused() {
    let app = spawn_app().await;
    let form = event_params(11, "11200", &call_sid(11));
    let body = json!({"Sid": sid(12), "AccountSid": ACCOUNT, "Level": "ERROR", "Payload": {"error_code": "11205", "resource_sid": call_sid(12)}})
        .to_string();
    let signed = sdk_sign(&json!([
        {"token": TOKEN, "url": PUBLIC_URL, "params": form},
        {"token": TOKEN, "url": PUBLIC_URL, "body": body},
    ]));

    let r = app.post_form(&form, Some(&signed[0].1)).await;
    assert_eq!(r.status().as_u16(), 200);
    let mut altered = form.clone();
    altered[0].1 = sid(99);
    assert_eq!(
        app.post_form(&altered, Some(&signed[0].1))
            .await
            .status()
            .as_u16(),
        403
    );

    let query = signed[1].0.split_once('?').unwrap().1.to_string();
    let post_json = |b: String| {
        app.http
            .post(format!("{}?{}", app.ingest_url(), query))
            .header("Content-Type", "application/json")
            .header("X-Twilio-Signature", signed[1].1.clone())
            .body(b)
            .send()
    };
    assert_eq!(
        post_json(body.clone()).await.unwrap().status().as_u16(),
        200
    );
    assert_eq!(
        post_json(body.replace("11205", "11206"))
            .await
            .unwrap()
            .status()
            .as_u16(),
        403
    );
    let msgs = app.slack_messages(2, Duration::from_secs(5)).await;
    assert_eq!(msgs.len(), 2);
    app.stop().await;
}
