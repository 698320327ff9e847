//! Bounded HTTP (issue 10): a body that never arrives is cut off at
//! `server.body_timeout`, so stalled senders cannot hold every connection slot
//! (`server.max_connections`); SID-like fields have a length cap.

use crate::helpers::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn config(max_connections: usize) -> String {
    BASE_CONFIG.replace(
        "workers = 1",
        &format!("workers = 1\nbody_timeout = \"500ms\"\nmax_connections = {max_connections}"),
    )
}

/// Declares 65536 bytes, sends 6, then goes silent.
async fn slow_body(port: u16) -> std::io::Result<TcpStream> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(
        b"POST /twilio/debugger HTTP/1.1\r\nHost: localhost\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 65536\r\n\r\nSid=NO",
    )
    .await?;
    Ok(s)
}

/// Everything the server sends until it closes the connection (or `within` passes).
async fn read_until_closed(s: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), false),
        }
    }
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_at_body_timeout_and_closed() {
    let app = spawn_with(&config(10_000), slack_answering(&[]).await, None).await;
    let started = Instant::now();
    let mut s = slow_body(app.port).await.unwrap();
    let mut first = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut first))
        .await
        .expect("an answer within 5s")
        .unwrap();
    let took = started.elapsed();
    assert_eq!(&first, b"HTTP/1.1 408");
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(1500),
        "answered after {took:?}, body_timeout is 500ms"
    );
    let (answer, closed) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(answer.contains("server.body_timeout"), "{answer}");
    assert!(closed, "the connection is closed after the 408");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "closed after {:?}",
        started.elapsed()
    );
    let m = app.metrics().await;
    assert!(
        m.contains("twilert_events_rejected_total{reason=\"body_timeout\"} 1"),
        "{m}"
    );
    app.stop().await;
}

#[tokio::test]
async fn stalled_connections_do_not_stop_a_signed_event() {
    // 100 connection slots, 300 stalled senders holding or queueing for them: the
    // deadline frees the slots, so Twilio's next event is still answered promptly.
    let app = spawn_with(&config(100), slack_answering(&[]).await, None).await;
    let took = signed_event_beside_stalled(&app, 300).await;
    // Queued behind 300 stalled senders for 100 slots freed every 500 ms: ~1.5 s of
    // churn, more on a loaded machine; without the deadline it never comes.
    assert!(took < Duration::from_secs(10), "answered after {took:?}");
    assert_eq!(app.slack_messages(1, Duration::from_secs(5)).await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn eleven_hundred_stalled_connections_leave_room_for_twilio() {
    // The shipped limits (max_connections 10000, body_timeout 10s): 1,100 senders
    // that never finish their body hold descriptors, not the service.
    let app = spawn_app().await;
    let took = signed_event_beside_stalled(&app, 1100).await;
    assert!(took < Duration::from_secs(4), "answered after {took:?}");
    app.stop().await;
}

/// Opens `n` connections that stall mid-body, then posts a signed event: how long
/// its 200 took (the stalled ones stay open until the answer).
async fn signed_event_beside_stalled(app: &TestApp, n: usize) -> Duration {
    let mut stalled = Vec::new();
    for _ in 0..n {
        stalled.push(slow_body(app.port).await.expect("connect"));
    }
    let started = Instant::now();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let r = post_signed_to(
        &client,
        &app.ingest_url(),
        &event_params(1, "11200", &call_sid(1)),
    )
    .await;
    let took = started.elapsed();
    eprintln!("signed event answered after {took:?} beside {n} stalled connections");
    assert_eq!(r.status().as_u16(), 200);
    drop(stalled);
    took
}

#[tokio::test]
async fn over_long_sid_fields_are_400_naming_the_field_on_both_paths() {
    let app = spawn_app().await;
    let long = format!("CA{}", "a".repeat(30_000));
    let r = app.post_signed(&event_params(1, "11200", &long)).await;
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (status, v["field"].as_str()),
        (400, Some("resource_sid")),
        "{v}"
    );
    assert!(
        v["error"].as_str().unwrap().contains("longer than 64"),
        "{v}"
    );

    let mut p = event_params(2, "11200", &call_sid(2));
    p[6].1 =
        json!({"error_code": "11200", "resource_sid": call_sid(2), "service_sid": "ZS".repeat(40)})
            .to_string();
    let v: Value = app.post_signed(&p).await.json().await.unwrap();
    assert_eq!(v["field"], "service_sid", "{v}");

    let body = json!([{
        "specversion": "1.0", "type": "com.twilio.error-logs.error.logged", "id": sid(3),
        "data": {"sid": sid(3), "account_sid": ACCOUNT, "error_code": "11200", "resource_sid": long}
    }])
    .to_string();
    let (url, sig) = twilert::ingest::signature::sign_json_url(
        TOKEN,
        "https://alerts.example.com/twilio/events",
        body.as_bytes(),
    );
    let r = app
        .http
        .post(format!(
            "{}/twilio/events?{}",
            app.address,
            url.split_once('?').unwrap().1
        ))
        .header("Content-Type", "application/json")
        .header("X-Twilio-Signature", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["field"], "[0].data.resource_sid", "{v}");
    assert!(app
        .slack_messages(1, Duration::from_millis(300))
        .await
        .is_empty());
    app.stop().await;
}
