//! SPEC 6, email: a real SMTP conversation with a sink started by the test
//! (`tests/smtp/sink.rs`); each message is parsed by Python's `email` package
//! (`tests/smtp/parse_mail.py`) and checked as a mail client would see it.

#[path = "../smtp/sink.rs"]
pub(crate) mod sink;

use crate::channels::hostile_event;
use crate::helpers::*;
use serde_json::Value;
use sink::{Received, Sink, Stage};
use std::time::Duration;
use twilert::clock::ManualClock;
use wiremock::MockServer;

const PASSWORD: &str = "SMTP-PASS-123";

pub(crate) fn config(port: u16, window: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
workers = 1

[twilio]
public_url = "https://alerts.example.com/twilio/debugger"
auth_tokens = ["test-auth-token"]

[store]
path = "{{dir}}/twilert.db"

[delivery]
initial_backoff = "50ms"
max_backoff = "200ms"
max_attempts = 4
shutdown_grace = "2s"
timeout = "5s"

[defaults]
window = "{window}"

[channels.mail]
kind = "email"
smtp_url = "smtp://alerts%40example.com:{PASSWORD}@127.0.0.1:{port}?tls=none"
from = "Twilert <alerts@example.com>"
to = ["oncall@example.com", "Voice Team <voice@example.com>"]
cc = ["lead@example.com"]
rate_limit = "1000/s"
burst = 1000

[[routes]]
name = "voice"
error_codes = ["112xx"]
channels = ["mail"]
"#
    )
}

async fn spawn(sink: &Sink, window: &str, clock: Option<ManualClock>) -> TestApp {
    // No HTTP channel here; the helper still wants a mock for `{slack}`.
    spawn_with(&config(sink.port, window), MockServer::start().await, clock).await
}

/// A received message as Python's `email` package parses it.
pub(crate) struct Parsed {
    pub(crate) v: Value,
}

impl Parsed {
    pub(crate) fn of(r: &Received) -> Parsed {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp/parse_mail.py");
        let mut child = Command::new(crate::python::python())
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("python3 is needed to parse the mail the sink received ({e}); install it (see scripts/test-deps.sh)")
            });
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&r.data)
            .expect("write message");
        let out = child.wait_with_output().expect("parse_mail.py");
        assert!(
            out.status.success(),
            "parse_mail.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Parsed {
            v: serde_json::from_slice(&out.stdout).expect("parse_mail.py JSON"),
        }
    }

    /// Every value of header `name` (case-insensitive).
    fn all(&self, name: &str) -> Vec<String> {
        self.v["headers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|h| h[0].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
            .filter_map(|h| h[1].as_str().map(str::to_string))
            .collect()
    }

    fn header(&self, name: &str) -> String {
        let all = self.all(name);
        assert_eq!(
            all.len(),
            1,
            "exactly one {name} header in {}",
            self.v["headers"]
        );
        all[0].clone()
    }

    fn part(&self, i: usize) -> (&str, &str) {
        let p = &self.v["parts"][i];
        (
            p["content_type"].as_str().unwrap_or(""),
            p["content"].as_str().unwrap_or(""),
        )
    }
}

/// `<NO….{12 hex}@example.com>` for the event `sid`.
fn is_alert_id(id: &str, sid: &str) -> bool {
    let Some(rest) = id.strip_prefix(&format!("<{sid}.")) else {
        return false;
    };
    let Some(hash) = rest.strip_suffix("@example.com>") else {
        return false;
    };
    hash.len() == 12 && hash.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test]
async fn alert_is_multipart_text_then_html_with_headers_and_escaped_html() {
    let sink = Sink::start().await;
    let app = spawn(&sink, "1h", None).await;
    let r = app.post_signed(&hostile_event(1, &call_sid(1))).await;
    assert_eq!(r.status().as_u16(), 200);
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1, "one message");
    let m = &got[0];

    // The SMTP conversation: authenticated with the URL's credentials, envelope to To + Cc.
    assert_eq!(
        sink.logins(),
        vec![format!("alerts@example.com:{PASSWORD}")]
    );
    assert_eq!(m.mail_from, "<alerts@example.com>");
    let mut rcpt = m.rcpt_to.clone();
    rcpt.sort();
    assert_eq!(
        rcpt,
        [
            "<lead@example.com>",
            "<oncall@example.com>",
            "<voice@example.com>"
        ]
    );
    assert!(
        m.data.is_ascii(),
        "7-bit clean (the sink offers no 8BITMIME)"
    );

    let p = Parsed::of(m);
    assert_eq!(p.v["defects"], serde_json::json!([]), "no MIME defects");
    assert_eq!(p.v["content_type"], "multipart/alternative");
    assert_eq!(p.v["parts"].as_array().map(Vec::len), Some(2));
    let (text_type, text) = p.part(0);
    let (html_type, html) = p.part(1);
    assert_eq!(
        (text_type, html_type),
        ("text/plain", "text/html"),
        "text, then HTML"
    );

    assert_eq!(p.header("From"), "Twilert <alerts@example.com>");
    assert_eq!(
        p.header("To"),
        "oncall@example.com, Voice Team <voice@example.com>"
    );
    assert_eq!(p.header("Cc"), "lead@example.com");
    assert_eq!(p.header("Auto-Submitted"), "auto-generated");
    assert!(p.all("Date").len() == 1);
    let id = p.header("Message-ID");
    assert!(is_alert_id(&id, &sid(1)), "{id}");
    assert!(p.all("In-Reply-To").is_empty() && p.all("References").is_empty());
    let subject = p.header("Subject");
    assert!(subject.starts_with("[twilert]"), "{subject}");
    assert!(
        subject.contains("11200") || subject.contains("HTTP"),
        "{subject}"
    );
    assert!(subject.contains("CA…0001"), "{subject}");

    // Plain text carries the event text as is; HTML shows it, escaped, as text.
    assert!(text.contains("<script>alert('x')</script>"), "{text}");
    assert!(text.contains(&call_sid(1)) && text.contains(&sid(1)));
    assert!(html.contains("&lt;script&gt;"), "{html}");
    assert!(!html.contains("<script>"), "{html}");
    assert!(!html.contains("</div><script>"));
    assert!(html.contains("&lt;/div&gt;"));
    assert!(html.contains("🚨"), "non-ASCII survives the encoding");
    assert!(html.contains(&call_sid(1)));
    app.stop().await;
}

#[tokio::test]
async fn digest_replies_to_the_groups_first_alert_over_one_pooled_connection() {
    let sink = Sink::start().await;
    let clock = ManualClock::new(1_700_000_000_000);
    let app = spawn(&sink, "1m", Some(clock.clone())).await;
    let res = call_sid(5);
    app.send_event(1, "11200", &res).await;
    assert_eq!(sink.wait_for(1, Duration::from_secs(5)).await.len(), 1);
    for i in 2..=4 {
        clock.advance_ms(1_000);
        app.send_event(i, "11200", &res).await;
    }
    clock.advance_ms(60_000);
    let got = sink.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 2, "the alert, then the window's digest");
    let (first, digest) = (Parsed::of(&got[0]), Parsed::of(&got[1]));

    let root = first.header("Message-ID");
    assert!(is_alert_id(&root, &sid(1)), "{root}");
    let id = digest.header("Message-ID");
    assert_ne!(id, root);
    assert!(id.ends_with("@example.com>"), "{id}");
    assert_eq!(digest.header("In-Reply-To"), root);
    assert!(digest.header("References").contains(&root));
    assert_eq!(digest.header("Auto-Submitted"), "auto-generated");
    let (_, text) = digest.part(0);
    assert!(text.contains("4 events on 1 resource, "), "{text}");
    assert_eq!(
        sink.connections(),
        1,
        "both messages went over one pooled connection"
    );
    app.stop().await;
}

#[tokio::test]
async fn smtp_451_is_retried_then_delivered() {
    let sink = Sink::start().await;
    sink.fail_next(
        Stage::DataEnd,
        "451 4.3.0 Mail server temporarily rejected message",
    );
    let app = spawn(&sink, "1h", None).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1, "delivered on the second attempt");
    assert_eq!(sink.refused(), 1);
    assert!(
        eventually(Duration::from_secs(3), || async {
            app.snapshot().await.counters.notified == 1
        })
        .await
    );
    let m = app.metrics().await;
    assert!(
        m.contains("twilert_notifications_failed_total{channel=\"mail\",reason=\"retry\"} 1"),
        "{m}"
    );
    app.stop().await;
}

#[tokio::test]
async fn smtp_550_is_permanent_and_dead_lettered() {
    let sink = Sink::start().await;
    sink.fail_next(
        Stage::Rcpt,
        "550 5.1.1 <oncall@example.com>: Recipient address rejected",
    );
    let app = spawn(&sink, "1h", None).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            app.snapshot().await.counters.dead_lettered == 1
        })
        .await,
        "dead-lettered"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(sink.accepted().is_empty());
    assert_eq!(sink.connections(), 1, "no second attempt");
    let dead = app.read(|v| v.dead_letters().expect("dead letters")).await;
    let err = &dead[0].last_error;
    assert!(err.contains("550"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
    let m = app.metrics().await;
    assert!(!m.contains(PASSWORD));
    assert!(
        m.contains(
            "twilert_notifications_dead_lettered_total{channel=\"mail\",reason=\"permanent\"} 1"
        ),
        "{m}"
    );
    app.stop().await;
}

#[tokio::test]
async fn tls_is_required_by_default_so_the_password_never_travels_in_clear() {
    // The sink offers no STARTTLS; `smtp://` without `?tls=` means `tls=required`.
    let sink = Sink::start().await;
    let text = config(sink.port, "1h").replace("?tls=none", "");
    let app = spawn_with(&text, MockServer::start().await, None).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    assert!(
        eventually(Duration::from_secs(8), || async {
            app.snapshot().await.counters.dead_lettered == 1
        })
        .await,
        "retried, then dead-lettered"
    );
    assert!(sink.logins().is_empty(), "no AUTH without TLS");
    assert!(sink.accepted().is_empty());
    let dead = app.read(|v| v.dead_letters().expect("dead letters")).await;
    let err = &dead[0].last_error;
    assert!(err.to_lowercase().contains("tls"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
    app.stop().await;
}

#[tokio::test]
async fn a_send_cut_off_by_the_timeout_leaves_no_half_spoken_connection() {
    // The server takes 800 ms to accept the message; delivery.timeout is 300 ms.
    let sink = Sink::start().await;
    sink.delay_next(Stage::Rcpt, Duration::from_millis(800));
    let text = config(sink.port, "1h").replace("timeout = \"5s\"", "timeout = \"300ms\"");
    let app = spawn_with(&text, MockServer::start().await, None).await;
    app.send_event(1, "11200", &call_sid(1)).await;
    assert!(
        eventually(Duration::from_secs(8), || async {
            let s = app.snapshot().await;
            s.counters.notified == 1 && s.pending == 0
        })
        .await,
        "delivered after the timeout, not dead-lettered"
    );
    // Exactly one failure (the timeout): the retry found no half-spoken connection
    // in the pool (a desynchronised one would fail again on shifted replies).
    let m = app.metrics().await;
    assert!(
        m.contains("twilert_notifications_failed_total{channel=\"mail\",reason=\"retry\"} 1"),
        "{m}"
    );
    // The cut-off conversation still finished on its own: at-least-once, and both
    // copies carry the same Message-ID, which mail clients fold into one.
    let got = sink.wait_for(2, Duration::from_secs(2)).await;
    assert_eq!(got.len(), 2);
    let ids: Vec<String> = got
        .iter()
        .map(|m| Parsed::of(m).header("Message-ID"))
        .collect();
    assert!(ids.iter().all(|id| is_alert_id(id, &sid(1))), "{ids:?}");
    assert_eq!(ids[0], ids[1]);
    assert_eq!(app.snapshot().await.counters.dead_lettered, 0);
    app.stop().await;
}
